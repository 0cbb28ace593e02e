"""The two legs of a search: pages by the cosine of their passages (dense), and by
BM25 of their words (lexical)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.lexical import fts_expression, query_terms
from index_format import Index

from .floor import Floor
from .operators import EXACT_CHUNKS
from .ranking import NORM_DEPTH, Leg, Ranking
from .tables import Tables

#: Passages the dense leg reads at most while looking for where the floor cuts.
FLOOR_DEPTH = 4096


@dataclass(frozen=True)
class Ask:
    """One search request as the legs and the floor read it."""

    index: Index
    table: Tables
    vector: np.ndarray | None
    query: str  # the text searched: the query without its operators
    ranking: Ranking
    wanted: int  # pages the caller needs, one more than a page tells whether another follows
    floor: Floor | None
    identifiers: bool  # a query mostly of identifiers (query.floor.reads_as_identifiers)
    required: frozenset[str] | None = None  # the only pages the query's operators allow (None: any)
    matched: frozenset[str] = frozenset()  # pages an operator asked for by their words: they pass the floor


def legs(ask: Ask, allowed: Callable[[str], bool] | None) -> tuple[Leg, Leg]:
    """The dense and lexical legs of a request, under ``allowed``. Pages a query's operators
    require, when they are few, are scored exactly rather than looked for among the nearest."""
    index, table, vector, wanted = ask.index, ask.table, ask.vector, ask.wanted
    depth = max(NORM_DEPTH, wanted * 10)
    dense = Leg()
    if vector is not None:
        among = ask.required
        exact = _dense_among(index, table, vector, among, allowed) if among is not None else None
        dense = exact or _dense(index, table, vector, depth, wanted, allowed, ask.floor)
    lexical = _lexical(index, table, ask.query, depth, allowed) if ask.ranking.mode != "dense" else Leg()
    return dense, lexical


def _dense_among(
    index: Index, table: Tables, vector: np.ndarray, titles: frozenset[str], allowed: Callable[[str], bool] | None
) -> Leg | None:
    """Every passage of these pages by cosine (None when they are too many to score one by one);
    normalised on the whole index's passages, as an unnarrowed search is."""
    rows = [int(table.chunk_pages[table.openings[t]]) for t in titles if t in table.openings]
    ids = np.flatnonzero(np.isin(table.chunk_pages, np.asarray(rows, dtype=np.int64)))
    if len(ids) > EXACT_CHUNKS:
        return None
    nearest = index.search(vector, NORM_DEPTH)
    scored = sorted(zip(ids.tolist(), _cosines(index, ids.tolist(), vector), strict=True), key=lambda cs: -cs[1])
    leg = _leg_of(table, scored, allowed, nearest[-1][1] if nearest else 0.0, complete=True)
    return _with_page_cosines(index, table, vector, leg)


def _dense(
    index: Index,
    table: Tables,
    vector: np.ndarray,
    depth: int,
    wanted: int,
    allowed: Callable[[str], bool] | None,
    floor: Floor | None,
) -> Leg:
    """Pages by cosine, read deep enough for ``wanted`` pages and, with a floor,
    until the passages fall below it (so the count of results is exact), up
    to ``FLOOR_DEPTH`` passages."""
    k = depth
    while True:
        hits = index.search(vector, k)
        everything = k >= index.vectors.ntotal
        below = floor is None or not hits or hits[-1][1] < floor.page
        norm = hits[min(NORM_DEPTH, len(hits)) - 1][1] if hits else 0.0
        leg = _leg_of(table, hits, allowed, norm, complete=everything or below)
        if everything or (len(leg.scores) >= wanted and (below or k >= FLOOR_DEPTH)):
            return _with_page_cosines(index, table, vector, leg)
        k *= 4


def _leg_of(
    table: Tables, hits: list[tuple[int, float]], allowed: Callable[[str], bool] | None, norm: float, complete: bool
) -> Leg:
    """The pages of these passages (best first) that ``allowed`` lets through; ``norm``:
    the cosine the leg's scores are normalised from."""
    leg = Leg(floor=norm, complete=complete)
    titles = table.chunk_titles([cid for cid, _ in hits])
    for cid, score in hits:
        if cid in titles and (allowed is None or allowed(titles[cid])):
            leg.add(titles[cid], cid, score)
    return leg


def _with_page_cosines(index: Index, table: Tables, vector: np.ndarray, leg: Leg) -> Leg:
    """``leg`` with each page scored by ``page_cosines`` (its best passage and its opening)."""
    best = {title: chunks[0] for title, chunks in leg.chunks.items()}
    leg.scores.update(page_cosines(index, table, vector, best, dict(leg.scores)))
    return leg


def page_cosines(
    index: Index, table: Tables, vector: np.ndarray, best: dict[str, int], known: dict[str, float] | None = None
) -> dict[str, float]:
    """A page's cosine with ``vector``: the mean of its best chunk's (``best``;
    looked up unless ``known``) and its opening's — the lead of an article, the
    whole of a short page — so one stray passage does not outrank the page
    whose lead answers."""
    if not best:
        return {}
    titles = list(best)
    if known is None:
        known = dict(zip(titles, _cosines(index, [best[t] for t in titles], vector), strict=True))
    opening = [t for t in titles if t in table.openings]
    openings = dict(zip(opening, _cosines(index, [table.openings[t] for t in opening], vector), strict=True))
    return {t: (known[t] + openings.get(t, known[t])) / 2 for t in titles}


def _lexical(index: Index, table: Tables, query: str, depth: int, allowed: Callable[[str], bool] | None) -> Leg:
    terms = query_terms(query)
    if not terms:
        return Leg()
    leg = _leg_of(table, index.lexical(terms, depth), allowed, 0.0, complete=True)
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


def _cosines(index: Index, ids: list[int], vector: np.ndarray) -> list[float]:
    """The cosine of each stored chunk vector with ``vector`` (unit vectors: a dot product)."""
    if not ids:
        return []
    return [float(s) for s in index.vectors_of(ids) @ np.asarray(vector, dtype=np.float32)]
