"""Adapting only the side that reads queries: the chunks keep the vectors they have.

Adapting the whole model means embedding every chunk again, a cost that grows
with the wiki. With ``adapt_side`` query, a copy of the base model learns to
put the wiki's own queries near the stock vectors the index already holds for
their chunks (each pair's chunk as the index embedded it, header included,
encoded once by the base model); serving then reads queries with the copy's
ONNX export, and nothing is re-embedded, so the cost is bounded by the sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.documents import Page
from index_format import StoredChunk

from .pairs import Pair, Wiki
from .reembed import restored

#: Similarity scale (1 / temperature) of the loss (as MultipleNegativesRankingLoss's).
SCALE = 20.0
#: The loss, as the manifest names it.
LOSS = (
    "cross-entropy of the query read by the adapted model against the base model's fixed vectors of every "
    f"training chunk (scale {SCALE:g}); negatives the base model ranks above the positive, and the query's "
    "own page's, masked"
)


def as_indexed(wiki: Wiki) -> Callable[[Pair], str]:
    """Each pair's chunk as the index embedded it (its header included): what its vector holds."""
    pages: dict[str, tuple[Page, Sequence[StoredChunk]]] = {page.title: (page, chunks) for page, chunks in wiki.pages}

    def text(pair: Pair) -> str:
        page, chunks = pages[pair.page]
        return restored(page, chunks[pair.chunk]).embed_text

    return text


@dataclass(frozen=True)
class FixedPassages:
    """The training chunks' stock vectors, which every step scores each query against."""

    vectors: Any  # torch tensor, one row per distinct chunk
    pages: np.ndarray  # the page of each row
    row_of: dict[Pair, int]
    guide: dict[str, np.ndarray]  # each query as the base model reads it

    @classmethod
    def encode(cls, stock: Any, pairs: Sequence[Pair], texts: Sequence[str]) -> FixedPassages:
        """``texts``: each pair's chunk as indexed; ``stock``: the loaded base model."""
        import torch

        distinct = sorted(set(texts))
        where = {text: n for n, text in enumerate(distinct)}
        encode: dict[str, Any] = dict(batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        vectors = torch.tensor(stock.encode(distinct, **encode))
        row_of = {pair: where[text] for pair, text in zip(pairs, texts, strict=True)}
        pages = np.array([""] * len(distinct), dtype=object)
        for pair, row in row_of.items():
            pages[row] = pair.page
        queries = [p.query for p in pairs]
        return cls(vectors, pages, row_of, dict(zip(queries, stock.encode(queries, **encode), strict=True)))

    def loss(self, read: Any, batch: Sequence[Pair]) -> Any:
        """The batch's loss, ``read`` its queries as the model being trained reads them.
        A chunk the base model finds closer to the query than its own (GISTEmbed's rule)
        is no negative, nor is a chunk of the query's own page."""
        import torch

        target = torch.tensor([self.row_of[p] for p in batch])
        rows = torch.arange(len(batch))
        guided = torch.tensor(np.stack([self.guide[p.query] for p in batch])) @ self.vectors.T
        excluded = guided > guided[rows, target].unsqueeze(1)
        excluded |= torch.tensor(self.pages[None, :] == np.array([p.page for p in batch], dtype=object)[:, None])
        excluded[rows, target] = False
        read = torch.nn.functional.normalize(read)
        logits = (SCALE * read @ self.vectors.T).masked_fill(excluded, -1e4)
        return torch.nn.functional.cross_entropy(logits, target)
