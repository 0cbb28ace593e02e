"""The one search function: it serves the web page, the JSON API and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.errors import QueryError
from core.lexical import identifier_share, query_terms
from core.models import Embedder
from core.settings import SEARCH_MODES, Settings
from core.urls import retitle
from index_format import ChunkRow, Index

from .answer import Answer, find_answer, top_lead
from .filters import Facet, Filters, check_sort, namespace_facets
from .floor import IDENTIFIER_MATCH, Floor, Verdict, reads_as_identifiers
from .hits import PageHit, page_hit
from .legs import Ask, legs, page_cosines
from .operators import Narrowing, narrowing
from .ranking import Leg, Ranking, fuse, prefer_lexical
from .spelling import did_you_mean
from .syntax import parse_query
from .tables import Tables, normalise_title, tables, wiki_title

MAX_OFFSET = 1000
#: Closest titles offered when a query has no good match.
SUGGESTIONS = 3
_DEFAULTS = Settings()
NO_FILTERS = Filters()


@dataclass(frozen=True)
class Suggestion:
    """A title offered when nothing is a good match: a place to look, not a result."""

    title: str
    url: str


@dataclass(frozen=True)
class SearchResponse:
    query: str
    results: list[PageHit]
    offset: int
    limit: int
    has_more: bool
    facets: list[Facet] = field(default_factory=list)
    answer: Answer | None = None
    total: int = 0  # results that passed the floor (under the filters)
    total_exact: bool = False  # False: at least ``total`` (no floor, or more passages than were read)
    good_match: bool = True  # False: nothing reached the floor; ``suggestions`` may say where to look
    suggestions: list[Suggestion] = field(default_factory=list)
    exact: Suggestion | None = None  # the page (or redirect) whose title the query is, as the wiki says so
    notices: list[str] = field(default_factory=list)  # operators that could not be applied, and why
    did_you_mean: str | None = None  # the query with its unknown words respelled
    respelled: bool = False  # True: these are the results of ``did_you_mean``, not of the query
    text: str = ""  # what was searched as words (the query without its operators)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "answer": asdict(self.answer) if self.answer else None,
            "offset": self.offset,
            "limit": self.limit,
            "total": self.total,
            "total_exact": self.total_exact,
            "has_more": self.has_more,
            "good_match": self.good_match,
            "suggestions": [asdict(s) for s in self.suggestions],
            "exact": asdict(self.exact) if self.exact else None,
            "notices": self.notices,
            "did_you_mean": self.did_you_mean,
            "respelled": self.respelled,
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
    respell: bool = True,
) -> SearchResponse:
    """Search one index: dense, lexical or both fused; results grouped by page,
    those above the model's relevance floor (``query.floor``). ``settings``
    bound the request; ``ranking`` defaults to theirs. ``filters`` narrow it;
    facets count the results under the other filters (a facet's count is what
    a click gives). ``answer``: look for the answer line (first page, by relevance).
    A query with unknown words gets a close spelling (``did_you_mean``); with
    ``respell``, its results instead when the query found nothing above the floor or
    the spelling's best page is closer to it (measured: bench/spelling.py)."""
    query = validate(query, limit, offset, settings)
    ranking = ranking or Ranking.from_settings(settings)
    if ranking.mode not in SEARCH_MODES:
        raise QueryError(f"mode must be one of {', '.join(SEARCH_MODES)}", "bad_mode")
    check_sort(sort)
    asked = _Request(limit, offset, ranking, settings, filters, sort, answer)
    response = _searched(index, embedder, query, asked)
    spelled = did_you_mean(index, query, response.text) if response.text else None
    if spelled is None:
        return response
    if respell:
        instead = _searched(index, embedder, spelled, asked)
        if instead.results and (not response.results or _closest(instead) > _closest(response)):
            return replace(instead, query=query, did_you_mean=spelled, respelled=True)
    return replace(response, did_you_mean=spelled)


def _closest(response: SearchResponse) -> float:
    """How close the best page is to its query, on the model's scale (0 in lexical mode)."""
    return max((hit.relevance or 0.0 for hit in response.results), default=0.0)


@dataclass(frozen=True)
class _Request:
    limit: int
    offset: int
    ranking: Ranking
    settings: Settings
    filters: Filters
    sort: str
    answer: bool


def _searched(index: Index, embedder: Embedder, query: str, asked: _Request) -> SearchResponse:
    """One search of ``query`` as it is written."""
    limit, offset, ranking, settings = asked.limit, asked.offset, asked.ranking, asked.settings
    filters, sort, answer = asked.filters, asked.sort, asked.answer
    table = tables(index)
    parsed = parse_query(query)
    narrow = narrowing(index, table, parsed) if parsed.clauses else Narrowing()
    if not parsed.text.strip():
        return _listing(index, table, query, narrow, filters, limit, offset, sort)
    text = parsed.text
    wanted = offset + limit + 1  # one more page tells whether there is a next page
    vector = embedder.encode([text])[0] if ranking.mode != "lexical" else None
    floor = Floor.of_index(index) if vector is not None and ranking.floor else None
    identifiers = reads_as_identifiers(text)
    ask = Ask(index, table, vector, text, ranking, wanted, floor, identifiers, narrow.required, narrow.matched)
    narrowed = narrow.predicate()
    dense, lexical, order, verdict = _ranked(ask, narrowed)
    good = verdict.good_match([t for t, _ in order])
    passing = [ts for ts in order if verdict.passes(ts[0])] if good else []
    facets = _facets([t for t, _ in passing], filters, table)
    suggestions = [] if good else _suggestions(index, table, order, verdict)
    allowed = filters.predicate(table)
    if allowed is not None and good:
        dense, lexical, order, verdict = _ranked(ask, _both(allowed, narrowed))
        passing = [ts for ts in order if verdict.passes(ts[0])]
    if sort == "recent":
        passing = sorted(passing, key=lambda ts: table.timestamps.get(ts[0], ""), reverse=True)
    page = passing[offset : offset + limit]
    results, passages = _results(index, table, page, dense, lexical, text, verdict, ranking.title_boost)
    line = None
    if answer and vector is not None and offset == 0 and sort == "relevance" and results:
        line = find_answer(index, text, vector, passages, settings.answer_min_score, top_lead(table, text, passing))
    return SearchResponse(
        query,
        results,
        offset,
        limit,
        len(passing) > offset + limit,
        facets,
        line,
        total=len(passing),
        total_exact=floor is not None and dense.complete,
        good_match=good,
        suggestions=suggestions,
        exact=None if parsed.clauses else _exact_page(index, table, query),
        notices=list(narrow.notices),
        text=text,
    )


def _both(one: Callable[[str], bool], other: Callable[[str], bool] | None) -> Callable[[str], bool]:
    return one if other is None else (lambda title: one(title) and other(title))


def _listing(
    index: Index, table: Tables, query: str, narrow: Narrowing, filters: Filters, limit: int, offset: int, sort: str
) -> SearchResponse:
    """A query of operators alone (``incategory:X``, ``prefix:Manual:``): every page they
    allow is a result, in the wiki's title order (or the most recent first); there is no
    meaning to rank by, so no floor and no answer line."""
    listed = narrow.listing(table)
    facets = _facets(listed, filters, table)
    allowed = filters.predicate(table)
    listed = [t for t in listed if allowed is None or allowed(t)]
    if sort == "recent":
        listed = sorted(listed, key=lambda t: table.timestamps.get(t, ""), reverse=True)
    page = [(t, 1.0) for t in listed[offset : offset + limit]]
    results, _ = _results(index, table, page, Leg(), Leg(), "", Verdict(None, {}, frozenset()), False)
    return SearchResponse(
        query,
        results,
        offset,
        limit,
        len(listed) > offset + limit,
        facets,
        total=len(listed),
        total_exact=True,
        notices=list(narrow.notices),
    )


def _facets(titles: list[str], filters: Filters, table: Tables) -> list[Facet]:
    """The namespaces of these results under the filters other than the namespace's:
    a facet's count is what a click on it gives."""
    others = Filters(prefix=filters.prefix).predicate(table)
    return namespace_facets([t for t in titles if others is None or others(t)], table)


def _ranked(ask: Ask, allowed: Callable[[str], bool] | None) -> tuple[Leg, Leg, list[tuple[str, float]], Verdict]:
    """Both legs, their fused order of pages, and which pages pass the floor."""
    dense, lexical = legs(ask, allowed)
    order, verdict = _judged(ask, dense, lexical, allowed)
    return dense, lexical, order, verdict


def _results(
    index: Index,
    table: Tables,
    page_slice: list[tuple[str, float]],
    dense: Leg,
    lexical: Leg,
    query: str,
    verdict: Verdict,
    lift: bool,
) -> tuple[list[PageHit], list[ChunkRow]]:
    """One page of results, and the top result's passages (best first) for the
    answer line. A page the query names through a redirect (with ``lift``)
    says so, and a redirect to a section shows that section first."""
    via = table.redirected(normalise_title(query)) if lift else {}
    groups = [_sections(title, dense, lexical, table) for title, _ in page_slice]
    for group, (title, _) in zip(groups, page_slice, strict=True):
        landing = index.chunk_at(title, via[title][1]) if via.get(title, ("", ""))[1] else None
        if landing is not None:
            group[:] = [landing] + [cid for cid in group if cid != landing]
    rows = index.chunks([cid for group in groups for cid in group])
    terms = query_terms(query)
    results = [
        page_hit(
            [(cid, score) for cid in group if cid in rows], rows, terms, verdict.relevance.get(title), via.get(title)
        )
        for group, (title, score) in zip(groups, page_slice, strict=True)
        if any(cid in rows for cid in group)
    ]
    passages = [rows[cid] for cid in groups[0] if cid in rows] if groups else []
    return results, passages


def _judged(
    ask: Ask, dense: Leg, lexical: Leg, allowed: Callable[[str], bool] | None
) -> tuple[list[tuple[str, float]], Verdict]:
    """The fused order of candidates, and which of them pass the floor."""
    index, table, vector, query, ranking = ask.index, ask.table, ask.vector, ask.query, ask.ranking
    order = fuse(dense, lexical, ranking, identifier_share(query))
    lifted = _exact_titles(table, query, allowed) if ranking.title_boost else []
    if lifted:
        order = [(t, 1.0) for t in lifted] + [(t, s) for t, s in order if t not in lifted]
    named = set(lifted) | ask.matched
    relevance = dict(dense.scores)
    if vector is not None:
        unscored = {t: lexical.chunks[t][0] for t in lexical.scores if t not in relevance and lexical.chunks.get(t)}
        relevance.update(page_cosines(index, table, vector, unscored))
    if ask.identifiers and lexical.scores:
        best = max(lexical.scores.values())
        named |= {t for t, s in lexical.scores.items() if s >= IDENTIFIER_MATCH * best}
    return order, Verdict(ask.floor, relevance, named)


def _exact_page(index: Index, table: Tables, query: str) -> Suggestion | None:
    """The page or redirect titled exactly what was searched, as MediaWiki reads a title
    ("There is a page named … on this wiki")."""
    title = wiki_title(query, table)
    target = title if title in table.namespaces else index.alias_target(title)
    url = _page_urls(index, table, [target]).get(target) if target else None
    if target is None or url is None:
        return None
    return Suggestion(title, url if target == title else retitle(url, target, title))


def _suggestions(index: Index, table: Tables, order: list[tuple[str, float]], verdict: Verdict) -> list[Suggestion]:
    """The closest titles of a query without a good match, when they are at
    least as close as a result may be: offered as places to look, not as results."""
    near = [t for t, _ in order if verdict.passes(t)][:SUGGESTIONS]
    urls = _page_urls(index, table, near)
    return [Suggestion(t, urls[t]) for t in near if t in urls]


def _page_urls(index: Index, table: Tables, titles: list[str]) -> dict[str, str]:
    """The URL of each page (read with its opening chunk, the one stored row it surely has)."""
    rows = index.chunks([table.openings[t] for t in titles if t in table.openings])
    return {row.title: row.url for row in rows.values()}


def _exact_titles(table: Tables, query: str, allowed: Callable[[str], bool] | None) -> list[str]:
    """Pages the query names (by title or a redirect): they go first, with score 1."""
    return [t for t in table.titles_named(normalise_title(query)) if allowed is None or allowed(t)]


def _sections(title: str, dense: Leg, lexical: Leg, table: Tables) -> list[int]:
    """A page's chunks to show: the better leg's best first."""
    first, second = (lexical, dense) if prefer_lexical(title, dense, lexical) else (dense, lexical)
    ids = list(dict.fromkeys(first.chunks.get(title, []) + second.chunks.get(title, [])))
    if not ids:  # lifted by its title alone
        chunk = table.openings.get(title)
        ids = [chunk] if chunk is not None else []
    return ids
