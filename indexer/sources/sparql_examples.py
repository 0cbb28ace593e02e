"""Source: the examples of a wiki page written as ``{{SPARQL|query=…}}`` templates.

Every template becomes one document: its title is the heading above it, its
description the prose between that heading and the template, its code the
query (``{{!}}`` turned back into ``|``), its URL the page's URL with the
heading's anchor, and its action link runs the query on the Wikidata Query
Service.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mwparserfromhell.nodes import Heading, Template

from core.documents import Page, SiteInfo, SourceDescription
from core.errors import MalformedXML
from core.urls import with_anchor
from core.wikitext import clean_text, parse, render, unique_anchor

from .dump import DumpSource, open_dump
from .query_code import WDQS, code_comments, try_it_url

logger = logging.getLogger(__name__)

# ``{{!}}`` is how a template parameter writes "|"; some copies have ``{{!} }``.
_PIPE = re.compile(r"\{\{\s*!\s*\}\s*\}")
#: Wikitext comments in a query: MediaWiki strips them before the template shows the query.
_COMMENT = re.compile(r"<!--.*?-->\s?", re.DOTALL)
SPARQL_TEMPLATES = frozenset({"sparql", "sparql2", "sparql5", "wdqs"})
DEFAULT_PAGE_URL = "https://www.wikidata.org/wiki/Wikidata:SPARQL_query_service/queries/examples"


@dataclass(frozen=True)
class Example:
    title: str
    description: str
    query: str
    anchor: str


def _template_query(template: Template) -> str | None:
    for name in ("query", "1"):
        if template.has(name):
            raw = str(template.get(name).value)
            return _PIPE.sub("|", _COMMENT.sub("", raw)).strip()
    return None


def examples_from_wikitext(wikitext: str, page_title: str = "") -> list[Example]:
    """All SPARQL templates of a page, each with its heading and the prose before it
    (an example whose query is empty is returned too: the caller counts it)."""
    code = parse(wikitext)
    examples: list[Example] = []
    heading = page_title
    anchor = ""
    seen_anchors: dict[str, int] = {}
    prose: list[str] = []
    for node in code.nodes:
        if isinstance(node, Heading):
            heading = clean_text(render(node.title)).replace("\n", " ") or page_title
            anchor = unique_anchor(heading, seen_anchors)
            prose = []
            continue
        templates = [node] if isinstance(node, Template) else []
        if not templates and not isinstance(node, Template):
            templates = [t for t in parse(str(node)).filter_templates() if _is_sparql(t)]
            if not templates:
                prose.append(str(node))
                continue
        for template in templates:
            if not _is_sparql(template):
                prose.append(str(template))
                continue
            query = _template_query(template) or ""
            description = clean_text(render("".join(prose)))
            examples.append(Example(heading, description, query, anchor))
            prose = []
    return examples


def _is_sparql(template: Template) -> bool:
    return str(template.name).strip().lower() in SPARQL_TEMPLATES


class SparqlExamplesSource:
    """SPARQL examples from a dump (any page that has them) or a file of raw wikitext."""

    def __init__(self, path: str | Path, page_url: str | None = None, base_url: str | None = None):
        self.path = Path(path)
        self.skip_reasons: Counter[str] = Counter()
        self.page_url = page_url
        self._dump: DumpSource | None = None
        try:
            self._dump = DumpSource(self.path, namespaces=None, base_url=base_url)
            self._dump.namespaces = set(self._dump.site.namespaces) or {0}
            self.site = self._dump.site
            self.schema = self._dump.schema
        except MalformedXML:  # not an export: a file of raw wikitext
            self.site = SiteInfo(base=page_url or DEFAULT_PAGE_URL)
            self.schema = "wikitext"

    def describe(self) -> SourceDescription:
        return SourceDescription("sparql-examples", self.path, self.schema, action=WDQS)

    def _pages(self) -> Iterator[tuple[str, int, int, str, str, str]]:
        if self._dump is not None:
            for page in self._dump:
                if page.redirect is None:
                    yield page.title, page.page_id, page.rev_id, page.timestamp, page.url, page.text
            return
        with open_dump(self.path) as stream:
            text = stream.read().decode("utf-8", errors="replace")
        url = self.page_url or DEFAULT_PAGE_URL
        yield url.rsplit("/wiki/", 1)[-1].replace("_", " "), 0, 0, "", url, text

    def __iter__(self) -> Iterator[Page]:
        self.skip_reasons.clear()
        titles: Counter[str] = Counter()
        for page_title, page_id, rev_id, timestamp, url, text in self._pages():
            examples = examples_from_wikitext(text, page_title)
            if not examples:
                self.skip_reasons["no SPARQL examples"] += 1
                logger.info("page %r has no SPARQL examples", page_title)
                continue
            for example in examples:
                if not example.query:
                    self.skip_reasons["empty query"] += 1
                    logger.warning("skipped example %r: its query is empty", example.title)
                    continue
                titles[example.title] += 1
                n = titles[example.title]
                title = example.title if n == 1 else f"{example.title} ({n})"
                yield Page(
                    title=title,
                    namespace=0,
                    page_id=page_id,
                    rev_id=rev_id,
                    timestamp=timestamp,
                    text=example.description,
                    url=with_anchor(url, example.anchor),
                    markup="plain",
                    code=example.query,
                    code_language="sparql",
                    code_notes=code_comments(example.query, "sparql"),
                    action_url=try_it_url(example.query),
                )
