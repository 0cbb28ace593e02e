"""The one search function: it serves the web page, the JSON API and the CLI."""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import QueryError
from .index_format import ChunkRow, Index
from .lexical import fts_query, identifier_share, query_terms
from .models import Embedder
from .settings import SEARCH_MODES
from .urls import with_anchor

MAX_OFFSET = 1000
SNIPPET_CHARS = 280
MORE_SECTIONS = 2
_WORD = re.compile(r"\w+", re.UNICODE)


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
    action_url: str = ""  # "Try it" / "Open in Quarry"

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "offset": self.offset,
            "limit": self.limit,
            "has_more": self.has_more,
            "results": [r.as_dict() for r in self.results],
        }


def validate(query: str, limit: int, offset: int, max_query_chars: int = 300, max_limit: int = 50) -> str:
    """Normalise a query and check the paging; raise QueryError with the reason."""
    if not isinstance(query, str):
        raise QueryError("query must be text")
    cleaned = " ".join(query.split())
    cleaned = "".join(ch for ch in cleaned if ch.isprintable())
    if not cleaned:
        raise QueryError("query is empty")
    if len(cleaned) > max_query_chars:
        raise QueryError(f"query is too long: {len(cleaned)} characters, at most {max_query_chars}")
    if not 1 <= limit <= max_limit:
        raise QueryError(f"limit must be between 1 and {max_limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise QueryError(f"offset must be between 0 and {MAX_OFFSET}")
    return cleaned


MODES = SEARCH_MODES
#: Candidates per leg that fix the score normalisation, so that page 2 of the
#: results continues page 1 whatever depth each request needs.
NORM_DEPTH = 200


@dataclass(frozen=True)
class Ranking:
    """How the two legs are combined; measured with ``wikisearch eval``."""

    mode: str = "hybrid"
    fusion: str = "blend"
    dense_weight: float = 0.7  # blend: share of the dense leg for a query in words
    identifier_dense_weight: float = 0.2  # ... and for a query of identifiers (Q146, $wgSitename)
    rrf_k: int = 60  # rrf: rank offset
    title_boost: bool = True  # an exact title or alias match goes first


@dataclass
class _Leg:
    """One leg's pages: score and chunk ids (best first), in rank order."""

    scores: dict[str, float] = field(default_factory=dict)
    chunks: dict[str, list[int]] = field(default_factory=dict)
    floor: float = 0.0  # the score at NORM_DEPTH: the same for every page of results
    _ranks: dict[str, int] | None = None

    def add(self, title: str, chunk_id: int, score: float) -> None:
        if title not in self.scores:
            self.scores[title] = score
            self.chunks[title] = []
        self.chunks[title].append(chunk_id)

    def ranks(self) -> dict[str, int]:
        if self._ranks is None or len(self._ranks) != len(self.scores):
            order = sorted(self.scores, key=lambda t: -self.scores[t])
            self._ranks = {t: r for r, t in enumerate(order, start=1)}
        return self._ranks


def search(
    index: Index,
    embedder: Embedder,
    query: str,
    limit: int = 10,
    offset: int = 0,
    max_query_chars: int = 300,
    max_limit: int = 50,
    ranking: Ranking = Ranking(),
) -> SearchResponse:
    """Search one index: dense, lexical or both fused; results grouped by page."""
    query = validate(query, limit, offset, max_query_chars, max_limit)
    if ranking.mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(MODES)}")
    wanted = offset + limit + 1  # one more page tells whether there is a next page
    depth = max(NORM_DEPTH, wanted * 10)
    dense = _dense(index, embedder, query, depth, wanted) if ranking.mode != "lexical" else _Leg()
    lexical = _lexical(index, query, depth) if ranking.mode != "dense" else _Leg()
    order = _fuse(dense, lexical, ranking, identifier_share(query))
    if ranking.title_boost:
        order = _lift_exact_titles(index, query, order)
    page_slice = order[offset : offset + limit]
    groups = [_sections(title, dense, lexical, index) for title, _ in page_slice]
    rows = index.chunks([cid for group in groups for cid in group])
    terms = query_terms(query)
    results = [
        _page_hit([(cid, score) for cid in group if cid in rows], rows, terms)
        for group, (_, score) in zip(groups, page_slice, strict=True)
        if any(cid in rows for cid in group)
    ]
    return SearchResponse(query, results, offset, limit, has_more=len(order) > offset + limit)


def _dense(index: Index, embedder: Embedder, query: str, depth: int, wanted: int) -> _Leg:
    vector = embedder.encode([query])[0]
    k = depth
    while True:
        hits = index.search(vector, k)
        leg = _Leg(floor=hits[min(NORM_DEPTH, len(hits)) - 1][1] if hits else 0.0)
        titles = index.chunk_titles([cid for cid, _ in hits])
        for cid, score in hits:
            if cid in titles:
                leg.add(titles[cid], cid, score)
        if len(leg.scores) >= wanted or k >= index.vectors.ntotal:
            openings = index.opening_scores(vector, list(leg.scores))
            for title, best in leg.scores.items():
                leg.scores[title] = (best + openings.get(title, best)) / 2
            return leg
        k *= 4


def _lexical(index: Index, query: str, depth: int) -> _Leg:
    leg = _Leg()
    expression = fts_query(query)
    if not expression:
        return leg
    hits = index.lexical(expression, depth)
    titles = index.chunk_titles([cid for cid, _ in hits])
    for cid, score in hits:
        if cid in titles:
            leg.add(titles[cid], cid, score)
    for target, score in index.lexical_aliases(expression, 20):
        if target in leg.scores:
            leg.scores[target] = max(leg.scores[target], score)
        else:
            first = index.first_chunk(target)
            if first is not None:
                leg.add(target, first, score)
    return leg


def _fuse(dense: _Leg, lexical: _Leg, ranking: Ranking, identifiers: float = 0.0) -> list[tuple[str, float]]:
    """Pages by fused score. Blend: dense cosine min-max scaled over the
    candidates, BM25 divided by the best BM25 (the scales differ), then
    weighted — the dense share moving from ``dense_weight`` towards
    ``identifier_dense_weight`` with the share of identifiers in the query;
    RRF: by ranks alone."""
    if not lexical.scores:
        return sorted(dense.scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if not dense.scores:
        return sorted(lexical.scores.items(), key=lambda kv: (-kv[1], kv[0]))
    titles = set(dense.scores) | set(lexical.scores)
    fused: dict[str, float] = {}
    if ranking.fusion == "rrf":
        dense_ranks, lexical_ranks = dense.ranks(), lexical.ranks()
        for title in titles:
            fused[title] = sum(
                1.0 / (ranking.rrf_k + ranks[title]) for ranks in (dense_ranks, lexical_ranks) if title in ranks
            )
    else:
        dense_top, dense_floor = max(dense.scores.values()), dense.floor
        lexical_top = max(lexical.scores.values()) or 1.0
        spread = dense_top - dense_floor
        w = ranking.dense_weight + (ranking.identifier_dense_weight - ranking.dense_weight) * identifiers
        for title in titles:
            d = dense.scores.get(title, dense_floor)
            d_norm = max(0.0, (d - dense_floor) / spread) if spread > 0 else 1.0
            fused[title] = w * d_norm + (1 - w) * lexical.scores.get(title, 0.0) / lexical_top
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def normalise_title(title: str) -> str:
    """Titles as a user types them: no case, underscores, namespace or ``$wg``."""
    text = " ".join(title.replace("_", " ").split()).lower()
    if ":" in text:
        text = text.split(":", 1)[1].strip()
    text = text.lstrip("$")
    return text[2:] if text.startswith("wg") and len(text) > 2 else text


def _lift_exact_titles(index: Index, query: str, order: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """A query that names a page (its title or a redirect to it) gets that page first."""
    matches = index.titles_named(normalise_title(query), normalise_title)
    if not matches:
        return order
    top = order[0][1] if order else 1.0
    lifted = [(t, top + 1.0) for t in matches]
    return lifted + [(t, s) for t, s in order if t not in matches]


def _sections(title: str, dense: _Leg, lexical: _Leg, index: Index) -> list[int]:
    """A page's chunks to show: the better leg's best first."""
    first, second = (lexical, dense) if _prefer_lexical(title, dense, lexical) else (dense, lexical)
    ids = list(dict.fromkeys(first.chunks.get(title, []) + second.chunks.get(title, [])))
    if not ids:  # lifted by its title alone
        chunk = index.first_chunk(title)
        ids = [chunk] if chunk is not None else []
    return ids


def _prefer_lexical(title: str, dense: _Leg, lexical: _Leg) -> bool:
    if title not in lexical.scores:
        return False
    if title not in dense.scores:
        return True
    return lexical.ranks()[title] < dense.ranks()[title]


def _page_hit(group: list[tuple[int, float]], rows: dict[int, ChunkRow], terms: list[str]) -> PageHit:
    """The best section of a page, and up to two more with other anchors."""
    best_id, best_score = group[0]
    best = rows[best_id]
    prose = _prose(best)
    anchors = {best.anchor}
    extra: list[tuple[int, float]] = []
    for cid, score in group[1:]:
        if rows[cid].anchor not in anchors and len(extra) < MORE_SECTIONS:
            anchors.add(rows[cid].anchor)
            extra.append((cid, score))
    group = [group[0], *extra]
    snippet, marks = make_snippet(prose, terms) if prose else ("", [])
    more = []
    for cid, score in group[1:]:
        row = rows[cid]
        s, m = make_snippet(row.text, terms, SNIPPET_CHARS // 2)
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
    )


def _prose(row: ChunkRow) -> str:
    """The text to quote: for a query collection, its description, not the code shown beside it."""
    if not row.code:
        return row.text
    head = row.code.strip().splitlines()[0] if row.code.strip() else ""
    cut = row.text.find(head) if head else -1
    return row.text[:cut].strip() if cut >= 0 else ""


def make_snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> tuple[str, list[tuple[int, int]]]:
    """The window of ``text`` with the most query words, and where they are in it.

    Highlights are (start, end) character offsets into the returned snippet, so
    a caller can escape the text and mark the words without parsing HTML.
    """
    flat = " ".join(text.split())
    matches = _matches(flat, terms)
    start = 0
    if len(flat) > width and matches:
        best = max(
            range(len(matches)),
            key=lambda i: sum(1 for s, _ in matches if matches[i][0] <= s < matches[i][0] + width),
        )
        start = max(0, matches[best][0] - width // 4)
        if start:
            space = flat.find(" ", start)
            start = space + 1 if 0 <= space < matches[best][0] else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    snippet = prefix + flat[start:end] + suffix
    shift = len(prefix) - start
    marks = [(s + shift, e + shift) for s, e in matches if s >= start and e <= end]
    return snippet, marks


def _matches(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Whole words of ``text`` that are a query term or a short inflection of
    one (upload → uploads, uploaded; but wiki ↛ WikiEditor)."""
    if not terms:
        return []
    return [m.span() for m in _terms_pattern(tuple(terms)).finditer(text)]


@functools.lru_cache(maxsize=256)
def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [re.escape(t) + (r"\w{0,3}" if len(t) >= 4 else "") for t in sorted(terms, key=len, reverse=True)]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)
