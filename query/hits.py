"""A result card: a page's best section, its facts, and up to two more sections."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.prose import Fact, card_text
from core.urls import retitle, with_anchor
from index_format import ChunkRow

from .snippets import SNIPPET_CHARS, make_snippet

MORE_SECTIONS = 2


@dataclass(frozen=True)
class SectionHit:
    section: str
    anchor: str
    url: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Category:
    """A category of a result's page, linked to the category's page on the wiki."""

    name: str
    url: str


@dataclass(frozen=True)
class PageHit:
    """One page in the results: its best section, and up to two more beneath it."""

    title: str
    section: str
    url: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]]
    page_id: int
    rev_id: int
    more: list[SectionHit]
    code: str = ""  # for query collections: the query itself
    code_language: str = ""
    action_url: str = ""  # where the query runs (the index's source names the action)
    timestamp: str = ""  # when the page was last edited (ISO 8601; "" if the source does not say)
    facts: list[Fact] = field(default_factory=list)  # template fields shown apart ("Default: false")
    relevance: float | None = None  # cosine of query and page, the floor's scale (None: lexical search)
    redirect_from: str = ""  # the redirect the query named this page by
    categories: list[Category] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["highlights"] = [list(h) for h in self.highlights]
        for m in data["more"]:
            m["highlights"] = [list(h) for h in m["highlights"]]
        return data


def page_hit(
    group: list[tuple[int, float]],
    rows: dict[int, ChunkRow],
    terms: list[str],
    relevance: float | None,
    redirect: tuple[str, str] | None = None,
) -> PageHit:
    """The best section of a page, and up to two more with other anchors. A
    section that is only facts (a setting's summary above its details) lends
    them to the card instead of showing as a section with no text. ``redirect``:
    the redirect (title, section anchor) the query named the page by."""
    best_id, best_score = group[0]
    best = rows[best_id]
    prose, facts = card_text(best.text, best.title)
    snippet, marks = make_snippet(prose, terms) if prose else ("", [])
    anchors = {best.anchor}
    more: list[SectionHit] = []
    for cid, score in group[1:]:
        row = rows[cid]
        if row.anchor in anchors or len(more) >= MORE_SECTIONS:
            continue
        anchors.add(row.anchor)
        text, its_facts = card_text(row.text, row.title)
        if not text:
            facts = facts + [f for f in its_facts if f.label not in {known.label for known in facts}]
            continue
        s, m = make_snippet(text, terms, SNIPPET_CHARS // 2)
        more.append(SectionHit(row.section, row.anchor, with_anchor(row.url, row.anchor), round(score, 4), s, m))
    return PageHit(
        title=best.title,
        section=best.section,
        url=with_anchor(best.url, redirect[1] if redirect and redirect[1] else best.anchor),
        score=round(best_score, 4),
        snippet=snippet,
        highlights=marks,
        page_id=best.page_id,
        rev_id=best.rev_id,
        more=more,
        code=best.code,
        code_language=best.code_language,
        action_url=best.action_url,
        timestamp=best.timestamp,
        facts=facts,
        relevance=None if relevance is None else round(relevance, 4),
        redirect_from=redirect[0] if redirect else "",
        categories=[Category(name, retitle(best.url, best.title, f"Category:{name}")) for name in best.categories],
    )
