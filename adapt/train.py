"""Training what reads queries: the chunks keep the vectors they have.

A copy of the base model learns to put the wiki's own queries near the stock
vectors the index already holds for their chunks (each pair's chunk as the
index embedded it, header included, encoded once by the base model), in a
plain, seeded torch loop: no two pairs of one page share a batch (they would
be each other's false negatives), and batches are cut from pairs sorted by
length so that little is padded. Serving then reads queries with the copy's
ONNX export; nothing is re-embedded, so the cost is bounded by the sample.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.models import offline_and_quiet
from core.torch_encoder import native_bf16
from index_format import AdaptRecipe

from .gate import ENCODE
from .pairs import Pair

#: Similarity scale (1 / temperature) of the loss (as MultipleNegativesRankingLoss's).
SCALE = 20.0
#: The loss, as the manifest names it.
LOSS = (
    "cross-entropy of the query read by the adapted model against the base model's fixed vectors of every "
    f"training chunk (scale {SCALE:g}); negatives the base model ranks above the positive, and the query's "
    "own page's, masked"
)


def cpu_precision() -> str:
    """bf16 where this CPU multiplies bfloat16 natively (elsewhere torch emulates it, slowly)."""
    return "bf16" if native_bf16() else "fp32"


def batches(pairs: Sequence[Pair], size: int, seed: int) -> list[list[Pair]]:
    """Length-sorted batches, none holding two pairs of one page, in a seeded order.
    A pair goes to the oldest batch being filled that has none of its page."""
    rng = random.Random(seed)
    ordered = sorted(pairs, key=lambda p: (len(p.passage) + len(p.query), rng.random()))
    full: list[list[Pair]] = []
    filling: list[list[Pair]] = []
    for pair in ordered:
        home = next((b for b in filling if all(p.page != pair.page for p in b)), None)
        if home is None:
            home = []
            filling.append(home)
        home.append(pair)
        if len(home) == size:
            filling.remove(home)
            full.append(home)
    full += [b for b in filling if len(b) > 1]  # a lone pair has no negatives
    rng.shuffle(full)
    return full


def sentence_transformer(path: Path, max_seq_length: int) -> Any:
    """A model as training and scoring load it: offline, on the CPU, cut at ``max_seq_length`` tokens."""
    offline_and_quiet()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


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
        vectors = torch.tensor(stock.encode(distinct, **ENCODE))
        row_of = {pair: where[text] for pair, text in zip(pairs, texts, strict=True)}
        pages = np.array([""] * len(distinct), dtype=object)
        for pair, row in row_of.items():
            pages[row] = pair.page
        queries = [p.query for p in pairs]
        return cls(vectors, pages, row_of, dict(zip(queries, stock.encode(queries, **ENCODE), strict=True)))

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


@dataclass(frozen=True)
class Trained:
    directory: Path
    steps: int
    seconds: float
    pairs: dict[str, int]


def train(
    base: Path,
    pairs: Sequence[Pair],
    recipe: AdaptRecipe,
    out: Path,
    fixed: FixedPassages,
    on_step: Callable[[int, int, float], None],
    checkpoint: Callable[[], None],
) -> Trained:
    """Fine-tune the model at ``base`` so that it reads each pair's query near its chunk's
    ``fixed`` vector, and save it (sentence-transformers layout) in ``out``;
    ``on_step(step, steps, loss)`` reports progress, ``checkpoint()`` runs after each step."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    started = time.monotonic()
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    model = sentence_transformer(base, recipe.max_seq_length)
    features_of = getattr(model, "preprocess", None) or model.tokenize  # tokenize: sentence-transformers 5
    plan = [b for epoch in range(recipe.epochs) for b in batches(pairs, recipe.batch_size, recipe.seed + epoch)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, int(len(plan) * recipe.warmup_share), max(len(plan), 1))
    bf16 = recipe.precision == "bf16"
    model.train()
    for step, batch in enumerate(plan, 1):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = fixed.loss(model(features_of([p.query for p in batch]))["sentence_embedding"], batch)
        value.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        on_step(step, len(plan), float(value.detach()))
        checkpoint()
    model.eval()
    if out.exists():
        shutil.rmtree(out)
    model.save(str(out), create_model_card=False)
    return Trained(out, len(plan), round(time.monotonic() - started, 1), dict(Counter(p.kind for p in pairs)))
