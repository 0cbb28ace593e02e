"""The one search function: it serves the web page, the JSON API and the CLI."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import QueryError
from .index_format import ChunkRow, Index
from .models import Embedder
from .urls import with_anchor

MAX_OFFSET = 1000
SNIPPET_CHARS = 280
MORE_SECTIONS = 2
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "the",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
        "me",
        "we",
        "this",
        "that",
    }
)


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


def search(
    index: Index,
    embedder: Embedder,
    query: str,
    limit: int = 10,
    offset: int = 0,
    max_query_chars: int = 300,
    max_limit: int = 50,
) -> SearchResponse:
    """Dense search: nearest chunks, grouped by page, best section first."""
    query = validate(query, limit, offset, max_query_chars, max_limit)
    vector = embedder.encode([query])[0]
    wanted = offset + limit + 1  # one more page tells whether there is a next page
    k = max(64, wanted * 8)
    while True:
        hits = index.search(vector, k)
        groups = _group(hits, index)
        if len(groups) >= wanted or k >= index.vectors.ntotal:
            break
        k *= 4
    terms = query_terms(query)
    page_slice = groups[offset : offset + limit]
    rows = index.chunks([cid for group in page_slice for cid, _ in group])
    results = [_page_hit(group, rows, terms) for group in page_slice]
    return SearchResponse(query, results, offset, limit, has_more=len(groups) > offset + limit)


def _group(hits: list[tuple[int, float]], index: Index) -> list[list[tuple[int, float]]]:
    """Chunk hits → pages in order of their best chunk; distinct sections only."""
    rows = index.chunks([cid for cid, _ in hits])
    order: dict[str, list[tuple[int, float]]] = {}
    anchors: dict[str, set[str]] = {}
    for cid, score in hits:
        row = rows.get(cid)
        if row is None:
            continue
        group = order.setdefault(row.title, [])
        seen = anchors.setdefault(row.title, set())
        if row.anchor in seen or len(group) > MORE_SECTIONS:
            continue
        seen.add(row.anchor)
        group.append((cid, score))
    return list(order.values())


def _page_hit(group: list[tuple[int, float]], rows: dict[int, ChunkRow], terms: list[str]) -> PageHit:
    best_id, best_score = group[0]
    best = rows[best_id]
    snippet, marks = make_snippet(best.text, terms)
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
    )


def query_terms(query: str) -> list[str]:
    """Words worth highlighting: no stopwords, no single letters."""
    words = [w.lower() for w in _WORD.findall(query)]
    return [w for w in dict.fromkeys(words) if len(w) > 1 and w not in _STOPWORDS]


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
    found = []
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if any(word == t or (len(t) >= 4 and word.startswith(t) and len(word) - len(t) <= 3) for t in terms):
            found.append(match.span())
    return found
