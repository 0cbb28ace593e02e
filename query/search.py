"""The one search function: it serves the web page, the JSON API and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.errors import QueryError
from core.lexical import fts_expression, identifier_share, query_terms
from core.models import Embedder
from core.prose import Fact, card_text
from core.settings import SEARCH_MODES, Settings
from core.urls import with_anchor
from index_format import ChunkRow, Index

from .answer import Answer, find_answer
from .filters import MATCH_POOL, Facet, Filters, check_sort, namespace_facets
from .ranking import NORM_DEPTH, Leg, Ranking, fuse, prefer_lexical
from .snippets import SNIPPET_CHARS, make_snippet
from .tables import Tables, normalise_title, tables

MAX_OFFSET = 1000
MORE_SECTIONS = 2
_DEFAULTS = Settings()
NO_FILTERS = Filters()


@dataclass(frozen=True)
class SectionHit:
    section: str
    anchor: str
    url: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)


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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["highlights"] = [list(h) for h in self.highlights]
        for m in data["more"]:
            m["highlights"] = [list(h) for h in m["highlights"]]
        return data


@dataclass(frozen=True)
class SearchResponse:
    query: str
    results: list[PageHit]
    offset: int
    limit: int
    has_more: bool
    facets: list[Facet] = field(default_factory=list)
    answer: Answer | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "answer": asdict(self.answer) if self.answer else None,
            "offset": self.offset,
            "limit": self.limit,
            "has_more": self.has_more,
            "results": [r.as_dict() for r in self.results],
            "facets": {"namespaces": [asdict(f) for f in self.facets]},
        }


def validate(query: str, limit: int = 10, offset: int = 0, settings: Settings = _DEFAULTS) -> str:
    """Normalise a query and check the paging; raise QueryError with the reason."""
    if not isinstance(query, str):
        raise QueryError("query must be text", "not_text")
    cleaned = " ".join(query.split())
    cleaned = "".join(ch for ch in cleaned if ch.isprintable())
    if not cleaned:
        raise QueryError("query is empty", "empty_query")
    if len(cleaned) > settings.max_query_chars:
        raise QueryError(
            f"query is too long: {len(cleaned)} characters, at most {settings.max_query_chars}", "query_too_long"
        )
    if not 1 <= limit <= settings.max_limit:
        raise QueryError(f"limit must be between 1 and {settings.max_limit}", "bad_limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise QueryError(f"offset must be between 0 and {MAX_OFFSET}", "bad_offset")
    return cleaned


def search(
    index: Index,
    embedder: Embedder,
    query: str,
    *,
    limit: int = 10,
    offset: int = 0,
    ranking: Ranking | None = None,
    settings: Settings = _DEFAULTS,
    filters: Filters = NO_FILTERS,
    sort: str = "relevance",
    answer: bool = True,
) -> SearchResponse:
    """Search one index: dense, lexical or both fused; results grouped by page.
    ``settings`` bound the request (query length, limit); ``ranking`` defaults
    to theirs. ``filters`` narrow it to namespaces or a title prefix; facets
    count the best matches by namespace, before the filters. ``sort=recent``
    orders the best matches by their last edit. ``answer``: look for the
    answer line (in the top result, on the first page of results by relevance)."""
    query = validate(query, limit, offset, settings)
    ranking = ranking or Ranking.from_settings(settings)
    if ranking.mode not in SEARCH_MODES:
        raise QueryError(f"mode must be one of {', '.join(SEARCH_MODES)}", "bad_mode")
    check_sort(sort)
    table = tables(index)
    wanted = offset + limit + 1  # one more page tells whether there is a next page
    vector = embedder.encode([query])[0] if ranking.mode != "lexical" else None
    dense, lexical = _legs(index, table, vector, query, ranking, wanted, None)
    order = _fused(dense, lexical, table, query, ranking, None)
    facets = namespace_facets([t for t, _ in order[:MATCH_POOL]], table)
    allowed = filters.predicate(table)
    if allowed is not None:
        dense, lexical = _legs(index, table, vector, query, ranking, wanted, allowed)
        order = _fused(dense, lexical, table, query, ranking, allowed)
    if sort == "recent":
        pool = order[:MATCH_POOL]
        order = sorted(pool, key=lambda ts: table.timestamps.get(ts[0], ""), reverse=True)
    page_slice = order[offset : offset + limit]
    groups = [_sections(title, dense, lexical, table) for title, _ in page_slice]
    rows = index.chunks([cid for group in groups for cid in group])
    terms = query_terms(query)
    results = [
        _page_hit([(cid, score) for cid in group if cid in rows], rows, terms)
        for group, (_, score) in zip(groups, page_slice, strict=True)
        if any(cid in rows for cid in group)
    ]
    line = None
    if answer and vector is not None and offset == 0 and sort == "relevance":
        passages = [rows[cid] for cid in groups[0] if cid in rows] if groups else []
        line = find_answer(index, query, vector, passages, settings.answer_min_score)
    return SearchResponse(query, results, offset, limit, len(order) > offset + limit, facets, line)


def _legs(
    index: Index,
    table: Tables,
    vector: np.ndarray | None,
    query: str,
    ranking: Ranking,
    wanted: int,
    allowed: Callable[[str], bool] | None,
) -> tuple[Leg, Leg]:
    depth = max(NORM_DEPTH, wanted * 10)
    dense = _dense(index, table, vector, depth, wanted, allowed) if vector is not None else Leg()
    lexical = _lexical(index, table, query, depth, allowed) if ranking.mode != "dense" else Leg()
    return dense, lexical


def _fused(
    dense: Leg, lexical: Leg, table: Tables, query: str, ranking: Ranking, allowed: Callable[[str], bool] | None
) -> list[tuple[str, float]]:
    order = fuse(dense, lexical, ranking, identifier_share(query))
    if ranking.title_boost:
        order = _lift_exact_titles(table, query, order, allowed)
    return order


def _dense(
    index: Index, table: Tables, vector: np.ndarray, depth: int, wanted: int, allowed: Callable[[str], bool] | None
) -> Leg:
    k = depth
    while True:
        hits = index.search(vector, k)
        leg = Leg(floor=hits[min(NORM_DEPTH, len(hits)) - 1][1] if hits else 0.0)
        titles = table.chunk_titles([cid for cid, _ in hits])
        for cid, score in hits:
            if cid in titles and (allowed is None or allowed(titles[cid])):
                leg.add(titles[cid], cid, score)
        if len(leg.scores) >= wanted or k >= index.vectors.ntotal:
            openings = _opening_scores(index, table, vector, list(leg.scores))
            for title, best in leg.scores.items():
                leg.scores[title] = (best + openings.get(title, best)) / 2
            return leg
        k *= 4


def _opening_scores(index: Index, table: Tables, vector: np.ndarray, titles: list[str]) -> dict[str, float]:
    """Cosine of each page's first chunk — its opening: the lead of an article,
    the whole of a short page — with ``vector``. A page scores by the mean of
    its best chunk and its opening, so one stray passage does not outrank the
    page whose lead answers."""
    known = [t for t in titles if t in table.openings]
    if not known:
        return {}
    scores = index.vectors_of([table.openings[t] for t in known]) @ np.asarray(vector, dtype=np.float32)
    return dict(zip(known, (float(s) for s in scores), strict=True))


def _lexical(index: Index, table: Tables, query: str, depth: int, allowed: Callable[[str], bool] | None) -> Leg:
    leg = Leg()
    terms = query_terms(query)
    if not terms:
        return leg
    hits = index.lexical(terms, depth)
    titles = table.chunk_titles([cid for cid, _ in hits])
    for cid, score in hits:
        if cid in titles and (allowed is None or allowed(titles[cid])):
            leg.add(titles[cid], cid, score)
    for target, score in index.lexical_aliases(fts_expression(terms), 20):
        if allowed is not None and not allowed(target):
            continue
        if target in leg.scores:
            leg.scores[target] = max(leg.scores[target], score)
        else:
            first = table.openings.get(target)
            if first is not None:
                leg.add(target, first, score)
    return leg


def _lift_exact_titles(
    table: Tables, query: str, order: list[tuple[str, float]], allowed: Callable[[str], bool] | None
) -> list[tuple[str, float]]:
    """A query that names a page (its title or a redirect to it) gets that page first."""
    matches = [t for t in table.titles_named(normalise_title(query)) if allowed is None or allowed(t)]
    if not matches:
        return order
    top = order[0][1] if order else 1.0
    lifted = [(t, top + 1.0) for t in matches]
    return lifted + [(t, s) for t, s in order if t not in matches]


def _sections(title: str, dense: Leg, lexical: Leg, table: Tables) -> list[int]:
    """A page's chunks to show: the better leg's best first."""
    first, second = (lexical, dense) if prefer_lexical(title, dense, lexical) else (dense, lexical)
    ids = list(dict.fromkeys(first.chunks.get(title, []) + second.chunks.get(title, [])))
    if not ids:  # lifted by its title alone
        chunk = table.openings.get(title)
        ids = [chunk] if chunk is not None else []
    return ids


def _page_hit(group: list[tuple[int, float]], rows: dict[int, ChunkRow], terms: list[str]) -> PageHit:
    """The best section of a page, and up to two more with other anchors."""
    best_id, best_score = group[0]
    best = rows[best_id]
    anchors = {best.anchor}
    extra: list[tuple[int, float]] = []
    for cid, score in group[1:]:
        if rows[cid].anchor not in anchors and len(extra) < MORE_SECTIONS:
            anchors.add(rows[cid].anchor)
            extra.append((cid, score))
    prose, facts = card_text(best.text, best.title)
    snippet, marks = make_snippet(prose, terms) if prose else ("", [])
    more = []
    for cid, score in extra:
        row = rows[cid]
        s, m = make_snippet(card_text(row.text, row.title)[0], terms, SNIPPET_CHARS // 2)
        more.append(SectionHit(row.section, row.anchor, with_anchor(row.url, row.anchor), round(score, 4), s, m))
    return PageHit(
        title=best.title,
        section=best.section,
        url=with_anchor(best.url, best.anchor),
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
    )
