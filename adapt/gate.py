"""The held-back score and the gate an adapted model passes.

Queries of pages that never trained are read by the stock model and by the
adapted one, against the chunks' stock vectors. The adapted model is kept only
if its gain, resampled over those pages, is surely larger than
``Settings.adapt_min_gain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .pairs import Pair

#: The held-back score: the rank of each query's own passage among all held-back passages
#: and up to ``DISTRACTORS`` chunks of the training pages.
HELD_BACK_METRIC = "MRR@10"
#: Chunks of training pages the held-back queries also rank: in the index they are there,
#: and a model that pulls what it trained on towards every query has to show it here.
DISTRACTORS = 1000
#: Most held-back pairs scored (a seeded sample): scoring them twice bounds the time as the pairs do.
MAX_HELD_BACK = 600
#: Resamples of the held-back pages for the gain's confidence bound.
BOOTSTRAP = 2000


#: How the held-back scoring and the training's fixed vectors encode: normalised, 32 a batch, quietly.
ENCODE: dict[str, Any] = dict(batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def held_back_ranks(
    reader: Any, pairs: Sequence[Pair], own: Sequence[str], candidates: Sequence[str], vectors: Any
) -> list[int]:
    """The rank of each held-back query's ``own`` chunk among the ``candidates`` (every
    held-back chunk and the distractors), whose stock ``vectors`` the index holds; the
    queries read by ``reader``, a loaded sentence-transformers model."""
    where = {text: n for n, text in enumerate(candidates)}
    scores = reader.encode([p.query for p in pairs], **ENCODE) @ vectors.T
    return [int((scores[row] > scores[row, where[text]]).sum()) + 1 for row, text in enumerate(own)]


def _reciprocal_rank_at_10(rank: int) -> float:
    return 1.0 / rank if rank <= 10 else 0.0


def mrr_at_10(ranks: Sequence[int]) -> float:
    return round(sum(map(_reciprocal_rank_at_10, ranks)) / len(ranks), 4) if ranks else 0.0


def by_kind(pairs: Sequence[Pair], before: Sequence[int], after: Sequence[int]) -> dict[str, list[float]]:
    """The held-back score of each pair kind, before and after."""
    kinds = sorted({p.kind for p in pairs})
    pick = {k: [n for n, p in enumerate(pairs) if p.kind == k] for k in kinds}
    return {k: [mrr_at_10([before[n] for n in pick[k]]), mrr_at_10([after[n] for n in pick[k]])] for k in kinds}


def gain_lower_bound(pairs: Sequence[Pair], before: Sequence[int], after: Sequence[int], seed: int) -> float:
    """The 5th percentile of the held-back MRR@10 gain, resampling held-back pages (a
    bootstrap): pairs of one page rise and fall together, so the page is what is
    sampled. A gain from a few pages is not told from noise, however many pairs they have."""
    gains: dict[str, list[float]] = {}
    for pair, old, new in zip(pairs, before, after, strict=True):
        gains.setdefault(pair.page, []).append(_reciprocal_rank_at_10(new) - _reciprocal_rank_at_10(old))
    sums = np.array([sum(g) for g in gains.values()])
    counts = np.array([len(g) for g in gains.values()])
    picks = np.random.default_rng(seed).integers(0, len(sums), size=(BOOTSTRAP, len(sums)))
    return round(float(np.percentile(sums[picks].sum(axis=1) / counts[picks].sum(axis=1), 5)), 4)


def most_improved(
    pairs: Sequence[Pair], before: Sequence[int], after: Sequence[int], n: int = 3
) -> list[tuple[str, int, int]]:
    """What the model learnt, shown by example: the held-back queries whose own passage rose most."""
    moves = sorted(zip(pairs, before, after, strict=True), key=lambda m: (m[2] - m[1], m[2]))
    return [(pair.query, old, new) for pair, old, new in moves[:n] if new < old]
