"""Adapting the embedding model to one wiki, from its own pages, on a CPU.

The pairs ``indexer.pairs`` mines train the base model with in-batch
negatives (sentence-transformers' MultipleNegativesRankingLoss) in a plain,
seeded torch loop: no two pairs of one page share a batch (they would be
each other's false negatives), and batches are cut from pairs sorted by
length so that little is padded. Pages held back from training score the
model before and after; the caller keeps the adapted model only if it scored
better there.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.models import MAX_SEQ_LENGTH, ResolvedModel, file_sha256
from core.settings import Settings
from index_format import AdaptRecipe

from .pairs import Pair

logger = logging.getLogger(__name__)

#: Share of the steps the learning rate warms up over.
WARMUP_SHARE = 0.1
#: The held-back score: the rank of each query's own passage among all held-back passages.
HELD_BACK_METRIC = "MRR@10"


def recipe_from(settings: Settings) -> AdaptRecipe:
    """The recipe the settings ask for (``WIKISEARCH_ADAPT_*``)."""
    return AdaptRecipe(
        pair_kinds=settings.adapt_pair_kinds.split(","),
        max_pairs=settings.adapt_max_pairs,
        epochs=settings.adapt_epochs,
        learning_rate=settings.adapt_learning_rate,
        batch_size=settings.adapt_batch_size,
        seed=settings.adapt_seed,
        warmup_share=WARMUP_SHARE,
        max_seq_length=MAX_SEQ_LENGTH,
        loss="MultipleNegativesRankingLoss (in-batch negatives, scale 20, cosine)",
    )


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


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _sentence_transformer(path: Path, max_seq_length: int) -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def _loss(model: Any) -> Any:
    import importlib

    try:
        losses = importlib.import_module("sentence_transformers.sentence_transformer.losses")
    except ImportError:  # sentence-transformers 5
        losses = importlib.import_module("sentence_transformers.losses")
    return losses.MultipleNegativesRankingLoss(model)


@dataclass(frozen=True)
class Trained:
    directory: Path
    steps: int
    seconds: float
    weights_sha256: str
    pairs: dict[str, int]


def train(
    base: ResolvedModel,
    pairs: Sequence[Pair],
    recipe: AdaptRecipe,
    out: Path,
    on_step: Callable[[int, int, float], None] | None = None,
    max_steps: int | None = None,
) -> Trained:
    """Fine-tune ``base`` on ``pairs`` and save it (sentence-transformers layout) in ``out``.

    ``on_step(step, steps, loss)`` reports progress; ``max_steps`` stops early (tests)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    started = time.monotonic()
    _seed_everything(recipe.seed)
    model = _sentence_transformer(base.path, recipe.max_seq_length)
    loss = _loss(model)
    plan = [b for epoch in range(recipe.epochs) for b in batches(pairs, recipe.batch_size, recipe.seed + epoch)]
    if max_steps is not None:
        plan = plan[:max_steps]
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, int(len(plan) * recipe.warmup_share), max(len(plan), 1))
    model.train()
    for step, batch in enumerate(plan, 1):
        features = [model.tokenize([p.query for p in batch]), model.tokenize([p.passage for p in batch])]
        value = loss(features, None)
        value.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if on_step is not None:
            on_step(step, len(plan), float(value))
    model.eval()
    if out.exists():
        shutil.rmtree(out)
    model.save(str(out), create_model_card=False)
    weights = out / "model.safetensors"
    return Trained(
        out, len(plan), round(time.monotonic() - started, 1), file_sha256(weights), dict(Counter(p.kind for p in pairs))
    )


def held_back_score(model_path: Path, pairs: Sequence[Pair], max_seq_length: int = MAX_SEQ_LENGTH) -> float:
    """MRR@10 of each held-back query's own passage among all held-back passages."""
    if not pairs:
        return 0.0
    model = _sentence_transformer(model_path, max_seq_length)
    passages = list(dict.fromkeys(p.passage for p in pairs))
    where = {text: n for n, text in enumerate(passages)}
    encode = dict(batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    queries = model.encode([p.query for p in pairs], **encode)
    docs = model.encode(passages, **encode)
    scores = queries @ docs.T
    total = 0.0
    for row, pair in enumerate(pairs):
        own = scores[row, where[pair.passage]]
        rank = int((scores[row] > own).sum()) + 1
        total += 1.0 / rank if rank <= 10 else 0.0
    return round(total / len(pairs), 4)
