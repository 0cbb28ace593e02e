"""The small frozen values passed between pipeline stages, and the source contract."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .hashing import text_hash

#: The modules that turn a page's text into chunks and answer sentences.
TEXT_RULES_FILES = ("indexer/parse.py", "indexer/chunk.py", "core/wikitext.py", "core/prose.py")
#: sha256 of those files (``text_rules_fingerprint``), part of every page's source hash:
#: a rebuild after they change parses every page again, and still embeds only new text.
#: tests/test_build.py fails until it is updated.
TEXT_RULES = "9e622d7ae6f3c978"


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

    @property
    def category_names(self) -> frozenset[str]:
        """The category namespace's names, case-folded: its canonical name and the wiki's own."""
        return frozenset({"category", self.namespaces.get(14, "category").casefold()})


@dataclass(frozen=True)
class Action:
    """Where a query collection's code runs: the link under each of its results."""

    label: str  # "Try it", "Open in Quarry"
    where: str = ""  # "on the Wikidata Query Service"


@dataclass(frozen=True)
class Page:
    """One document from a source: the latest revision of a wiki page, or one
    query of a collection (its description in ``text``, the query in ``code``)."""

    title: str
    namespace: int
    page_id: int
    rev_id: int
    timestamp: str
    text: str  # wikitext, or plain prose (for a query: its description)
    url: str
    redirect: str | None = None  # target title ("Target" or "Target#Section")
    markup: str = "wikitext"  # "wikitext" is parsed into sections; "plain" is used as it is
    code: str = ""  # a query shown as code (SPARQL, SQL); the lexical leg indexes it
    code_language: str = ""  # "sparql", "sql"
    code_notes: str = ""  # the query's own comments, one a line: the model reads them, not the code
    action_url: str = ""  # where the code runs (the source's ``Action``)
    categories: tuple[str, ...] = ()  # names without the namespace: ("Configuration settings",)

    @property
    def source_hash(self) -> str:
        """What a rebuild compares to reuse a page's chunks without parsing it:
        its text, and the rules that cut text into chunks and sentences
        (``TEXT_RULES``), so new rules reach every page."""
        return text_hash(f"{TEXT_RULES}\0{self.text}" if not self.code else f"{TEXT_RULES}\0{self.text}\0{self.code}")


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


@dataclass(frozen=True)
class SourceDescription:
    """What a source says about itself for the index's manifest."""

    type: str  # "mediawiki-dump", "sparql-examples", "records", "mediawiki-api"
    path: Path | str  # the file read, or the api.php URL of a live wiki (a URL is no path)
    schema: str = ""  # export schema version, "wikitext" or "records"
    namespaces: frozenset[int] = frozenset()  # the namespaces indexed, where the source has them
    preset: str | None = None
    max_pages: int | None = None
    action: Action | None = None


class Source(Protocol):
    """Anything that yields documents: a dump, SPARQL examples, a records file.

    ``skip_reasons`` counts what the last iteration passed over, by reason.
    """

    @property
    def site(self) -> SiteInfo: ...

    @property
    def skip_reasons(self) -> Mapping[str, int]: ...

    def describe(self) -> SourceDescription: ...

    def __iter__(self) -> Iterator[Page]: ...
