"""Adapting the embedding model to one wiki, from its own pages, on a CPU.

The pairs ``indexer.pairs`` mines train the base model with in-batch
negatives (sentence-transformers' GISTEmbedLoss, or MultipleNegativesRankingLoss)
in a plain, seeded torch loop: no two pairs of one page share a batch (they
would be each other's false negatives), and batches are cut from pairs sorted
by length so that little is padded. Pages held back from training score the
model before and after; the adapted model is kept only if it is surely better
there (over resamples of those pages, by a stated margin), and the index is
then re-embedded from what it stores.
"""

from __future__ import annotations

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

from core.errors import IndexFormatError, ModelError, WikisearchError
from core.models import MAX_SEQ_LENGTH, ResolvedModel, file_sha256, offline_and_quiet, resolve_model
from core.onnx_encoder import cache_beside, embedder_for
from core.settings import Settings
from index_format import (
    MODEL,
    Adaptation,
    AdaptRecipe,
    BuildReport,
    Manifest,
    existing_manifest,
    publish_version,
    read_manifest,
    rewrite_manifest,
)

from .build import crash_point
from .chunk import approximate_tokens
from .gate import (
    DISTRACTORS,
    HELD_BACK_METRIC,
    MAX_HELD_BACK,
    by_kind,
    gain_lower_bound,
    held_back_ranks,
    most_improved,
    mrr_at_10,
)
from .pairs import Pair, held_back, mine, read_wiki, split, within
from .reembed import reembed_index

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
        loss=LOSSES[settings.adapt_loss],
        freeze_embeddings=settings.adapt_freeze_embeddings,
        max_tokens=settings.adapt_max_tokens,
        max_pages=settings.adapt_max_pages,
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
) -> Trained:
    """Fine-tune ``base`` on ``pairs`` and save it (sentence-transformers layout) in ``out``;
    ``guide`` is the loaded base model (GISTEmbed's guide: it is not trained);
    ``on_step(step, steps, loss)`` reports progress."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    started = time.monotonic()
    _seed_everything(recipe.seed)
    model = _sentence_transformer(base.path, recipe.max_seq_length)
    loss = _loss(model, recipe, guide)
    if recipe.freeze_embeddings:
        for parameter in model[0].auto_model.embeddings.parameters():
            parameter.requires_grad = False
    plan = [b for epoch in range(recipe.epochs) for b in batches(pairs, recipe.batch_size, recipe.seed + epoch)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, int(len(plan) * recipe.warmup_share), max(len(plan), 1))
    features_of = getattr(model, "preprocess", None) or model.tokenize  # tokenize: sentence-transformers 5
    model.train()
    for step, batch in enumerate(plan, 1):
        features = [features_of([p.query for p in batch]), features_of([p.passage for p in batch])]
        value = loss(features, None)
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


class AdaptError(WikisearchError):
    """The index cannot be adapted (too few pairs, no encoder for the result)."""


#: What ``adapt`` says of the data it learnt from, in the manifest and on /about.
ADAPTATION_DATA = (
    "pairs mined by wikisearch from this wiki's own pages (the text stored in the index), under the wiki's licence"
)
#: And of the provenance of the result.
ADAPTED_OSAID = (
    "; adapted to this wiki by wikisearch adapt: open adaptation code (wikisearch, GPL-3.0-or-later) "
    "and open adaptation data (the wiki's own pages)"
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


def model_for(index_dir: Path, settings: Settings, replace: bool = False) -> tuple[ResolvedModel, Adaptation | None]:
    """The model a build of ``index_dir`` embeds with: the index's adapted model when it
    was adapted from the configured one (weights verified), else the configured model.
    ``replace`` rebuilds from scratch, with the configured model."""
    base = resolve_model(settings.model, settings.allow_unvetted_model)
    manifest = None if replace else existing_manifest(index_dir)
    adaptation = manifest.adaptation if manifest is not None else None
    if manifest is None or adaptation is None or adaptation.base.sha256 != base.sha256:
        return base, None
    return _adapted(base, index_dir / MODEL, adaptation.weights_sha256, manifest.model.name), adaptation


def _adapted(base: ResolvedModel, directory: Path, sha256: str, name: str) -> ResolvedModel:
    weights = directory / "model.safetensors"
    actual = file_sha256(weights) if weights.is_file() else "missing"
    if actual != sha256:
        raise ModelError(
            f"{directory}: the adapted weights do not verify (sha256 {actual[:16]}…, expected {sha256[:16]}…)"
        )
    card = base.card
    if card is not None:
        card = replace(card, name=name, sha256=sha256, osaid_reason=card.osaid_reason + ADAPTED_OSAID)
    return ResolvedModel(name, directory, sha256, True, base.vetted, card)


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


def _base_of(manifest: Manifest, settings: Settings) -> ResolvedModel:
    """The registry model an index's model is, or was adapted from: adapting starts from it again."""
    name = manifest.adaptation.base.name if manifest.adaptation else manifest.model.name
    return resolve_model(name, settings.allow_unvetted_model)


def _manifest_of(index_dir: Path) -> Manifest:
    manifest = existing_manifest(index_dir)
    if manifest is None:
        raise IndexFormatError(f"{index_dir}: no index here to adapt (build one first)", "no_index")
    return manifest


def unadapt_index(index_dir: Path, settings: Settings) -> tuple[str, BuildReport]:
    """Back to the model an adapted index was adapted from: the index re-embedded
    with it, its adapted model dropped. Atomic, and it reads only the index, as
    ``adapt_index`` does. Returns the model's name and the re-embedding's report."""
    manifest = _manifest_of(index_dir)
    if manifest.adaptation is None:
        raise AdaptError(
            f"{index_dir}: its model, {manifest.model.name}, is not adapted: nothing to undo", "not_adapted"
        )
    base = _base_of(manifest, settings)
    embedder, encoder = embedder_for(base, index_dir, settings)
    return base.name, reembed_index(index_dir, embedder, base.info(), settings, encoder=encoder)


def adapt_index(
    index_dir: Path,
    settings: Settings,
    *,
    judge: Callable[[Path], float] | None = None,
    force: bool = False,
) -> Outcome:
    """Adapt the model of the index at ``index_dir`` to its pages, and re-embed the
    index with the adapted model if it is surely better on held-back pages, by
    ``adapt_min_gain`` (and, with ``judge``, no worse on judged queries:
    ``judge(index dir)`` is their nDCG@10). ``force`` switches whatever
    the held-back pages say (``judge`` still decides). The index is replaced
    atomically, or not at all. Only the index is read, not its source."""
    manifest = _manifest_of(index_dir)
    base = _base_of(manifest, settings)
    recipe = recipe_from(settings)
    started = time.monotonic()
    wiki = read_wiki(index_dir, recipe.max_pages, recipe.seed)
    pairs = mine(wiki, recipe.pair_kinds)
    training, kept_back = split(pairs, recipe.max_pairs, recipe.seed)
    kept_back = random.Random(recipe.seed).sample(kept_back, min(len(kept_back), MAX_HELD_BACK))
    trained_on = [c.text for page, chunks in wiki.pages if not held_back(page.title) for c in chunks]
    distractors = random.Random(recipe.seed).sample(trained_on, min(len(trained_on), DISTRACTORS))
    training = within(training, _token_counts(base, training, recipe.max_seq_length), recipe.max_tokens)
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
    cache = cache_beside(index_dir)
    _remove_stale(cache, f"adapt-{index_dir.name}-")
    scratch = cache / f"adapt-{index_dir.name}-{os.getpid()}"
    progress = tqdm(desc="adapting", unit=" steps", disable=settings.quiet, dynamic_ncols=True, leave=False)

    def step(done: int, total: int, loss: float) -> None:
        progress.total = total
        progress.update(1)
        progress.set_postfix(loss=f"{loss:.3f}", refresh=False)

    try:
        stock = _sentence_transformer(base.path, recipe.max_seq_length)
        scoring = time.monotonic()
        ranks_before = held_back_ranks(stock, kept_back, distractors)
        logger.info("scored the held-back pairs with %s in %.1f s", base.name, time.monotonic() - scoring)
        trained = train(base, training, recipe, scratch / MODEL, stock, on_step=step)
        del stock
        progress.close()
        adapted_model = _sentence_transformer(trained.directory, recipe.max_seq_length)
        scoring = time.monotonic()
        ranks_after = held_back_ranks(adapted_model, kept_back, distractors)
        logger.info("scored them with the adapted model in %.1f s", time.monotonic() - scoring)
        del adapted_model
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
        if low <= settings.adapt_min_gain and not force:
            return Outcome(False, f"{said}: not surely better by {settings.adapt_min_gain}", adaptation, None, learnt)
        site = manifest.source.siteinfo.dbname or manifest.source.siteinfo.sitename or index_dir.name
        adapted = _adapted(base, trained.directory, trained.weights_sha256, f"{base.name} adapted to {site}")
        embedder, encoder = embedder_for(adapted, index_dir, settings)
        if encoder is None:
            raise AdaptError(f"{adapted.name}: no ONNX encoder could be exported to serve it", "no_encoder")
        report = reembed_index(
            index_dir,
            embedder,
            adapted.info(),
            settings,
            encoder=encoder,
            adapted=(trained.directory, adaptation),
            publish=judge is None,
        )
        if judge is None:
            return Outcome(True, said, adaptation, report, learnt)
        version = index_dir.absolute().parent / report.version
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
