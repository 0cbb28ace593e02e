"""Adapting the embedding model to one wiki, from its own pages, on a CPU.

The pairs ``indexer.pairs`` mines train the base model with in-batch
negatives (sentence-transformers' GISTEmbedLoss, or MultipleNegativesRankingLoss)
in a plain, seeded torch loop: no two pairs of one page share a batch (they
would be each other's false negatives), and batches are cut from pairs sorted
by length so that little is padded. Pages held back from training score the
model before and after; the adapted model is kept only if it is surely better
there (over resamples of those pages, by a stated margin), and the index is
then re-embedded from what it stores — or, when only the side that reads
queries learnt (``indexer.query_side``), nothing is re-embedded.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.models import MAX_SEQ_LENGTH, ResolvedModel, file_sha256, offline_and_quiet
from core.onnx_encoder import cache_beside, embedder_for
from core.settings import Settings
from index_format import (
    MODEL,
    Adaptation,
    AdaptRecipe,
    BuildReport,
    Manifest,
    publish_version,
    read_manifest,
    relabel_version,
    rewrite_manifest,
)

from . import query_side
from .adapted import AdaptError, adapted_model, adapted_name, base_of, manifest_of, reading_queries, serving
from .build import crash_point
from .chunk import approximate_tokens
from .gate import (
    DISTRACTORS,
    HELD_BACK_METRIC,
    MAX_HELD_BACK,
    by_kind,
    candidate_vectors,
    gain_lower_bound,
    held_back_ranks,
    most_improved,
    mrr_at_10,
)
from .pairs import Pair, held_back, mine, read_wiki, split, within
from .query_side import FixedPassages
from .reembed import reembed_index, restored

logger = logging.getLogger(__name__)

#: Share of the steps the learning rate warms up over.
WARMUP_SHARE = 0.1
#: The vector lengths gist-matryoshka trains: the model's own first.
MATRYOSHKA_DIMS = (384, 256, 128, 64)
#: The losses ``adapt`` can train with (``core.settings.ADAPT_LOSSES``), as the manifest names them.
LOSSES = {
    "mnrl": "MultipleNegativesRankingLoss (in-batch negatives, scale 20, cosine)",
    "gist": "GISTEmbedLoss (in-batch negatives the base model ranks above the positive masked; temperature 0.01)",
    "gist-matryoshka": f"MatryoshkaLoss (dimensions {', '.join(map(str, MATRYOSHKA_DIMS))}) over GISTEmbedLoss "
    "(temperature 0.01)",
}


def side_for(settings: Settings, manifest: Manifest) -> str:
    """What learns: as the settings say, or with auto the whole model while the index
    has at most ``adapt_model_max_chunks`` chunks (re-embedding them stays within the
    time bound) or its whole model is adapted already, the side that reads queries above."""
    if settings.adapt_side != "auto":
        return settings.adapt_side
    small = manifest.counts.chunks <= settings.adapt_model_max_chunks
    return "model" if manifest.chunks_adapted or small else "query"


def recipe_from(settings: Settings, side: str = "model") -> AdaptRecipe:
    """The recipe the settings ask for (``WIKISEARCH_ADAPT_*``), for ``side`` (``side_for``)."""
    queries = side == "query"
    return AdaptRecipe(
        pair_kinds=settings.pair_kinds,
        max_pairs=settings.adapt_max_pairs,
        epochs=settings.adapt_query_epochs if queries else settings.adapt_epochs,
        learning_rate=settings.adapt_query_learning_rate if queries else settings.adapt_learning_rate,
        batch_size=settings.adapt_batch_size,
        seed=settings.adapt_seed,
        warmup_share=WARMUP_SHARE,
        max_seq_length=MAX_SEQ_LENGTH,
        loss=query_side.LOSS if queries else LOSSES[settings.adapt_loss],
        freeze_embeddings=settings.adapt_freeze_embeddings,
        max_tokens=settings.adapt_max_tokens,
        max_pages=settings.adapt_max_pages,
        side=side,
        precision=settings.adapt_precision,
    )


def for_this_cpu(recipe: AdaptRecipe) -> AdaptRecipe:
    """The recipe with precision ``auto`` resolved to what trains here: what ``train`` takes and
    the manifest records. Apart from ``recipe_from`` because it loads torch (1.5 s, ~180 MiB),
    which reading a recipe's bounds does not need."""
    return replace(recipe, precision=_cpu_precision()) if recipe.precision == "auto" else recipe


@functools.cache
def _cpu_precision() -> str:
    """bf16 where this CPU multiplies bfloat16 natively (elsewhere torch emulates it, slowly)."""
    import torch

    native = (
        getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )
    return "bf16" if any(native) else "fp32"


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


def sentence_transformer(path: Path, max_seq_length: int) -> Any:
    """A model as training and scoring load it: offline, on the CPU, cut at ``max_seq_length`` tokens."""
    offline_and_quiet()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def _loss(model: Any, recipe: AdaptRecipe, guide: Any) -> Any:
    import importlib

    try:
        losses = importlib.import_module("sentence_transformers.sentence_transformer.losses")
    except ImportError:  # sentence-transformers 5
        losses = importlib.import_module("sentence_transformers.losses")
    if recipe.loss == LOSSES["gist"]:
        return losses.GISTEmbedLoss(model, guide.eval())
    if recipe.loss == LOSSES["gist-matryoshka"]:
        return losses.MatryoshkaLoss(model, losses.GISTEmbedLoss(model, guide.eval()), list(MATRYOSHKA_DIMS))
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
    guide: Any,
    on_step: Callable[[int, int, float], None] | None = None,
    fixed: FixedPassages | None = None,
) -> Trained:
    """Fine-tune ``base`` on ``pairs`` and save it (sentence-transformers layout) in ``out``;
    ``guide`` is the loaded base model (GISTEmbed's guide: it is not trained);
    ``on_step(step, steps, loss)`` reports progress. With ``fixed`` (the query side),
    the queries learn to find those vectors, and the passages are not read."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    started = time.monotonic()
    _seed_everything(recipe.seed)
    model = sentence_transformer(base.path, recipe.max_seq_length)
    features_of = getattr(model, "preprocess", None) or model.tokenize  # tokenize: sentence-transformers 5
    batch_loss: Callable[[list[Pair]], Any]
    if fixed is None:
        loss = _loss(model, recipe, guide)

        def batch_loss(batch: list[Pair]) -> Any:
            return loss([features_of([p.query for p in batch]), features_of([p.passage for p in batch])], None)
    else:
        reads = fixed  # the query side

        def batch_loss(batch: list[Pair]) -> Any:
            return reads.loss(model(features_of([p.query for p in batch]))["sentence_embedding"], batch)

    if recipe.freeze_embeddings:
        for parameter in model[0].auto_model.embeddings.parameters():
            parameter.requires_grad = False
    plan = [b for epoch in range(recipe.epochs) for b in batches(pairs, recipe.batch_size, recipe.seed + epoch)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, int(len(plan) * recipe.warmup_share), max(len(plan), 1))
    bf16 = for_this_cpu(recipe).precision == "bf16"  # callers pass it resolved; auto must not mean fp32
    model.train()
    for step, batch in enumerate(plan, 1):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = batch_loss(batch)
        value.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if on_step is not None:
            on_step(step, len(plan), float(value.detach()))
        crash_point("adapt")
    model.eval()
    if out.exists():
        shutil.rmtree(out)
    model.save(str(out), create_model_card=False)
    weights = out / "model.safetensors"
    return Trained(
        out, len(plan), round(time.monotonic() - started, 1), file_sha256(weights), dict(Counter(p.kind for p in pairs))
    )


#: What ``adapt`` says of the data it learnt from, in the manifest and on /about.
ADAPTATION_DATA = (
    "pairs mined by wikisearch from this wiki's own pages (the text stored in the index), under the wiki's licence"
)


@dataclass(frozen=True)
class Outcome:
    """What ``adapt_index`` did: whether the index now uses the adapted model, and why."""

    kept: bool
    reason: str
    adaptation: Adaptation
    report: BuildReport | None = None
    #: Held-back queries whose own passage rose most: (query, rank before, rank after).
    learnt: list[tuple[str, int, int]] = field(default_factory=list)


def _token_counts(base: ResolvedModel, pairs: Sequence[Pair], max_seq_length: int) -> list[int]:
    """Tokens of each pair as the model reads it (query and passage, each cut at ``max_seq_length``)."""
    from tokenizers import Tokenizer

    path = base.path / "tokenizer.json"
    if not path.is_file():  # a model without a fast tokenizer file: the chunker's estimate
        return [sum(approximate_tokens([p.query, p.passage])) for p in pairs]
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_seq_length)
    tokenizer.no_padding()
    queries = tokenizer.encode_batch([p.query for p in pairs])
    passages = tokenizer.encode_batch([p.passage for p in pairs])
    return [len(q.ids) + len(d.ids) for q, d in zip(queries, passages, strict=True)]


def training_and_held_back(
    base: ResolvedModel, pairs: Sequence[Pair], recipe: AdaptRecipe
) -> tuple[list[Pair], list[Pair]]:
    """The pairs that train (a sample, cut to the token budget) and those held back to score
    (a seeded sample of at most ``MAX_HELD_BACK``, of pages that never train)."""
    training, kept_back = split(pairs, recipe.max_pairs, recipe.seed)
    kept_back = random.Random(recipe.seed).sample(kept_back, min(len(kept_back), MAX_HELD_BACK))
    return within(training, _token_counts(base, training, recipe.max_seq_length), recipe.max_tokens), kept_back


def _remove_stale(cache: Path, prefix: str) -> None:
    """What a killed ``adapt`` left behind (its process is gone)."""
    for leftover in cache.glob(prefix + "*") if cache.is_dir() else []:
        pid = leftover.name.rsplit("-", 1)[-1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(leftover, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


def adapt_index(
    index_dir: Path,
    settings: Settings,
    *,
    judge: Callable[[Path], float] | None = None,
    force: bool = False,
) -> Outcome:
    """Adapt the model of the index at ``index_dir`` to its pages, and switch to it if it
    is surely better on held-back pages, by ``adapt_min_gain`` (``adapt_query_min_gain``
    for the query side) — and, with ``judge``, no worse on judged queries:
    ``judge(index dir)`` is their nDCG@10. The whole model re-embeds the index; the
    query side only changes what reads queries. ``force`` switches whatever the
    held-back pages say (``judge`` still decides). The index is replaced atomically,
    or not at all. Only the index is read, not its source."""
    manifest = manifest_of(index_dir)
    base = base_of(manifest, settings)
    recipe = for_this_cpu(recipe_from(settings, side_for(settings, manifest)))
    queries_only = recipe.side == "query"
    if settings.adapt_side == "auto":
        logger.info(
            "side auto (%d chunks; the whole model up to %d): %s",
            manifest.counts.chunks,
            settings.adapt_model_max_chunks,
            "only what reads queries learns" if queries_only else "the whole model learns",
        )
    if queries_only and manifest.chunks_adapted:
        raise AdaptError(
            f"{index_dir}: its chunks are embedded by an adapted model, and the query side learns towards the "
            "stock model's vectors: go back first (wikisearch adapt --undo)",
            "adapted_chunks",
        )
    started = time.monotonic()
    wiki = read_wiki(index_dir, recipe.max_pages, recipe.seed)
    pairs = mine(wiki, recipe.pair_kinds)
    training, kept_back = training_and_held_back(base, pairs, recipe)
    trained_on = [(page, c) for page, chunks in wiki.pages if not held_back(page.title) for c in chunks]
    sampled = random.Random(recipe.seed).sample(trained_on, min(len(trained_on), DISTRACTORS))
    logger.info(
        "mined %d pairs from %d pages in %.1f s: %d to train on, %d held back",
        len(pairs),
        len(wiki.pages),
        time.monotonic() - started,
        len(training),
        len(kept_back),
    )
    if len(training) < 2 * recipe.batch_size or not kept_back:
        raise AdaptError(
            f"{index_dir}: {len(training)} training pairs and {len(kept_back)} held back: too few to adapt on",
            "too_few_pairs",
        )
    # The query side scores against the chunks as the index embedded them; the whole model as it reads them.
    indexed = query_side.as_indexed(wiki)
    own = [indexed(p) for p in kept_back] if queries_only else []
    distractors = [restored(page, c).embed_text if queries_only else c.text for page, c in sampled]
    cache = cache_beside(index_dir)
    _remove_stale(cache, f"adapt-{index_dir.name}-")
    scratch = cache / f"adapt-{index_dir.name}-{os.getpid()}"
    progress = tqdm(desc="adapting", unit=" steps", disable=settings.quiet, dynamic_ncols=True, leave=False)

    def step(done: int, total: int, loss: float) -> None:
        progress.total = total
        progress.update(1)
        progress.set_postfix(loss=f"{loss:.3f}", refresh=False)

    try:
        stock = sentence_transformer(base.path, recipe.max_seq_length)
        scoring = time.monotonic()
        # The query side reads the stock vectors the index holds: encoded once, for before and after.
        vectors = candidate_vectors(stock, kept_back, distractors, own) if queries_only else None
        ranks_before = held_back_ranks(stock, kept_back, distractors, own, vectors)
        logger.info("scored the held-back pairs with %s in %.1f s", base.name, time.monotonic() - scoring)
        fixed = None
        if queries_only:
            scoring = time.monotonic()
            fixed = FixedPassages.encode(stock, training, [indexed(p) for p in training])
            logger.info("encoded the training chunks as indexed in %.1f s", time.monotonic() - scoring)
        trained = train(base, training, recipe, scratch / MODEL, stock, on_step=step, fixed=fixed)
        del stock, fixed
        progress.close()
        reader = sentence_transformer(trained.directory, recipe.max_seq_length)
        scoring = time.monotonic()
        ranks_after = held_back_ranks(reader, kept_back, distractors, own, vectors)
        logger.info("scored them with the adapted model in %.1f s", time.monotonic() - scoring)
        del reader, vectors
        before, after = mrr_at_10(ranks_before), mrr_at_10(ranks_after)
        low = gain_lower_bound(kept_back, ranks_before, ranks_after, recipe.seed)
        pages = len({p.page for p in kept_back})
        said = f"held-back {HELD_BACK_METRIC} {before:.4f} → {after:.4f} (gain ≥ {low:+.4f} on 95 % of {pages} pages)"
        learnt = most_improved(kept_back, ranks_before, ranks_after)
        adaptation = Adaptation(
            base=base.info(),
            weights_sha256=trained.weights_sha256,
            recipe=recipe,
            pairs=trained.pairs,
            held_back_pairs=len(kept_back),
            held_back_before=before,
            held_back_after=after,
            held_back_by_kind=by_kind(kept_back, ranks_before, ranks_after),
            held_back_pages=pages,
            held_back_gain_low=low,
            metric=HELD_BACK_METRIC,
            steps=trained.steps,
            training_s=trained.seconds,
            adapted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            data=ADAPTATION_DATA,
        )
        logger.info("held-back %s: %.4f with %s, %.4f adapted", HELD_BACK_METRIC, before, base.name, after)
        needed = settings.adapt_query_min_gain if queries_only else settings.adapt_min_gain
        if low <= needed and not force:
            return Outcome(False, f"{said}: not surely better by {needed}", adaptation, None, learnt)
        adapted = adapted_model(
            base, trained.directory, trained.weights_sha256, adapted_name(base, manifest, index_dir)
        )
        report = None
        if queries_only:
            reads = reading_queries(adapted, index_dir, settings)
            relabelled = manifest.replace(adaptation=adaptation)
            version = relabel_version(index_dir, relabelled, reads, trained.directory, judge is None)
        else:
            embedder, encoder = embedder_for(adapted, index_dir, settings)
            report = reembed_index(
                index_dir,
                embedder,
                adapted.info(),
                settings,
                encoder=serving(adapted, encoder),
                adapted=(trained.directory, adaptation),
                publish=judge is None,
            )
            version = index_dir.absolute().parent / report.version
        if judge is None:
            return Outcome(True, said, adaptation, report, learnt)
        judged = replace(adaptation, eval_before=judge(index_dir), eval_after=judge(version))
        verdict = f"judged nDCG@10 {judged.eval_before:.4f} → {judged.eval_after:.4f}"
        if (judged.eval_after or 0.0) < (judged.eval_before or 0.0):
            shutil.rmtree(version, ignore_errors=True)
            return Outcome(False, f"{verdict}: worse", judged, None, learnt)
        new = read_manifest(version)
        rewrite_manifest(version, new.replace(adaptation=judged))
        publish_version(index_dir, version)
        return Outcome(True, f"{said}, {verdict}", judged, report, learnt)
    finally:
        progress.close()
        shutil.rmtree(scratch, ignore_errors=True)
