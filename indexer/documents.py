"""The small frozen values passed between pipeline stages, and the source interface."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .hashing import text_hash


@dataclass(frozen=True)
class SiteInfo:
    """What a source says about where its documents live."""

    sitename: str = ""
    dbname: str = ""
    base: str = ""  # the wiki's main page URL, as in <siteinfo><base>
    generator: str = ""
    schema: str = ""
    namespaces: dict[int, str] = field(default_factory=dict)

    @property
    def article_path(self) -> str:
        """URL prefix of page titles: ``https://www.mediawiki.org/wiki/``."""
        base = self.base
        if "/wiki/" in base:
            return base[: base.index("/wiki/") + len("/wiki/")]
        if "?title=" in base:
            return base[: base.index("?title=") + len("?title=")]
        return base.rsplit("/", 1)[0] + "/" if base else ""


@dataclass(frozen=True)
class Page:
    """One document from a source: the latest revision of a wiki page."""

    title: str
    namespace: int
    page_id: int
    rev_id: int
    timestamp: str
    text: str
    url: str
    redirect: str | None = None  # target title ("Target" or "Target#Section")
    markup: str = "wikitext"  # "wikitext" is parsed into sections; "plain" is used as it is
    code: str = ""  # a query or code sample shown as code (SPARQL, SQL)
    code_language: str = ""  # "sparql", "sql"
    action_url: str = ""  # where the code runs ("Try it")


@dataclass(frozen=True)
class Section:
    """One section of a parsed page: plain text, with where it sits."""

    path: tuple[str, ...]  # heading texts from the top: ("Details", "Example")
    anchor: str  # MediaWiki's id for the heading ("" for the lead)
    text: str


@dataclass(frozen=True)
class Chunk:
    """The unit that is embedded and searched."""

    page_title: str
    ordinal: int
    section: str  # "Page > Section > Subsection"
    anchor: str
    text: str  # what a reader sees (snippet source)
    embed_text: str  # what the model sees: heading context + text

    @property
    def key(self) -> str:
        return text_hash(self.embed_text)


class Source(Protocol):
    """Anything that yields documents: a dump, SPARQL examples, a records file."""

    @property
    def site(self) -> SiteInfo: ...

    @property
    def skipped(self) -> int: ...

    def __iter__(self) -> Iterator[Page]: ...
