"""How the dense and lexical legs are combined into one order of pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import Settings

_DEFAULTS = Settings()
#: Candidates per leg that fix the score normalisation, so that page 2 of the
#: results continues page 1 whatever depth each request needs.
NORM_DEPTH = 200


@dataclass(frozen=True)
class Ranking:
    """How the two legs are combined; measured with ``wikisearch eval``. The
    values users tune are ``Settings``' (``from_settings``); the rest are swept
    by ``bench/eval.py``."""

    mode: str = _DEFAULTS.search_mode
    dense_weight: float = _DEFAULTS.dense_weight  # blend: share of the dense leg for a query in words
    identifier_dense_weight: float = 0.2  # ... and for a query of identifiers (Q146, $wgSitename)
    title_boost: bool = True  # an exact title or alias match goes first
    floor: bool = True  # only pages above the model's relevance floor (query.floor); off to measure it

    @classmethod
    def from_settings(cls, settings: Settings, mode: str | None = None) -> Ranking:
        """The ranking these settings ask for (``mode`` overrides the default)."""
        return cls(mode=mode or settings.search_mode, dense_weight=settings.dense_weight)


@dataclass
class Leg:
    """One leg's pages: score and chunk ids (best first), in rank order."""

    scores: dict[str, float] = field(default_factory=dict)
    chunks: dict[str, list[int]] = field(default_factory=dict)
    floor: float = 0.0  # the score at NORM_DEPTH: the same for every page of results
    complete: bool = True  # every passage above the relevance floor was read
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


def fuse(dense: Leg, lexical: Leg, ranking: Ranking, identifiers: float = 0.0) -> list[tuple[str, float]]:
    """Pages by fused score, a blend: dense cosine min-max scaled over the
    candidates, BM25 divided by the best BM25 (the scales differ), then
    weighted — the dense share moving from ``dense_weight`` towards
    ``identifier_dense_weight`` with the share of identifiers in the query.
    A missing leg (one mode, or no match) weighs nothing: scores are 0–1 in
    every mode. (Reciprocal rank fusion measured worse on both judgement sets:
    docs/experiments.)"""
    titles = set(dense.scores) | set(lexical.scores)
    fused: dict[str, float] = {}
    dense_top, dense_floor = max(dense.scores.values(), default=0.0), dense.floor
    lexical_top = max(lexical.scores.values(), default=0.0) or 1.0
    spread = dense_top - dense_floor
    if not lexical.scores or not dense.scores:
        w = 1.0 if dense.scores else 0.0
    else:
        w = ranking.dense_weight + (ranking.identifier_dense_weight - ranking.dense_weight) * identifiers
    for title in titles:
        d = dense.scores.get(title, dense_floor)
        d_norm = max(0.0, (d - dense_floor) / spread) if spread > 0 else 1.0
        fused[title] = w * d_norm + (1 - w) * lexical.scores.get(title, 0.0) / lexical_top
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def prefer_lexical(title: str, dense: Leg, lexical: Leg) -> bool:
    """Whether a page's lexical hits show before its dense ones (it ranks better there)."""
    if title not in lexical.scores:
        return False
    if title not in dense.scores:
        return True
    return lexical.ranks()[title] < dense.ranks()[title]
