"""``adapt`` and ``adapt --undo``: what learns, whether it is kept, and the switch.

Pairs mined from the index's own pages train a copy of the base model that
reads queries (``train``); pages held back from training score it before and
after (``gate``). The copy is kept only if it is surely better there, and
then the index is relabelled: the same store and vectors (hard links), its
queries read by the copy's ONNX export. Only the index is read, never its source.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from core.errors import IndexFormatError, WikisearchError
from core.models import MAX_SEQ_LENGTH, ResolvedModel, file_sha256, resolve_model
from core.onnx_encoder import cache_beside, encoder_cache, query_encoder
from core.settings import Settings
from index_format import (
    MODEL,
    Adaptation,
    AdaptRecipe,
    Manifest,
    existing_manifest,
    publish_version,
    read_manifest,
    relabel_version,
    rewrite_manifest,
)
from indexer.chunk import approximate_tokens
from indexer.crash import crash_point
from indexer.index_model import verify_weights

from . import gate
from .pairs import PAIR_KINDS, Pair, as_indexed, held_back, mine, read_wiki, restored, split, within
from .train import LOSS, FixedPassages, cpu_precision, sentence_transformer, train

logger = logging.getLogger(__name__)

#: The recipe's constants (the manifest records them with each adaptation; docs/reference/adapt.md).
MAX_PAGES, MAX_TOKENS, BATCH_SIZE, WARMUP_SHARE = 20_000, 210_000, 32, 0.1
#: What ``adapt`` says of the data it learnt from, in the manifest and on /about.
ADAPTATION_DATA = (
    "pairs mined by wikisearch from this wiki's own pages (the text stored in the index), under the wiki's licence"
)
#: What an adapted model's provenance adds to its base's (``model info``, ``/about``).
ADAPTED_OSAID = (
    "; adapted to this wiki by wikisearch adapt: open adaptation code (wikisearch, GPL-3.0-or-later) "
    "and open adaptation data (the wiki's own pages)"
)


class AdaptError(WikisearchError):
    """The index cannot be adapted (too few pairs, no encoder, chunks of an adapted
    model) or undone (nothing adapted)."""


@dataclass(frozen=True)
class Outcome:
    """What ``adapt_index`` did: whether the index now reads queries with the adapted model, and why."""

    kept: bool
    reason: str
    adaptation: Adaptation
    #: Held-back queries whose own passage rose most: (query, rank before, rank after).
    learnt: list[tuple[str, int, int]] = field(default_factory=list)


def recipe_from(settings: Settings) -> AdaptRecipe:
    """The recipe the settings ask for, its arithmetic what this CPU multiplies fastest."""
    return AdaptRecipe(
        pair_kinds=list(PAIR_KINDS),
        max_pairs=settings.adapt_max_pairs,
        epochs=settings.adapt_epochs,
        learning_rate=settings.adapt_learning_rate,
        batch_size=BATCH_SIZE,
        seed=settings.adapt_seed,
        warmup_share=WARMUP_SHARE,
        max_seq_length=MAX_SEQ_LENGTH,
        loss=LOSS,
        max_tokens=MAX_TOKENS,
        max_pages=MAX_PAGES,
        side="query",
        precision=cpu_precision(),
    )


@dataclass(frozen=True)
class Sample:
    """The pairs that train and those held back, with the chunks the held-back queries rank."""

    training: list[Pair]
    held_back: list[Pair]
    own: list[str]  # each held-back pair's chunk, as indexed
    candidates: list[str]  # the held-back chunks and distractors, as indexed
    indexed: Callable[[Pair], str]


def sample_of(index_dir: Path, base: ResolvedModel, recipe: AdaptRecipe) -> Sample:
    """What trains (a sample, cut to the token budget) and what is held back (a seeded
    sample of at most ``MAX_HELD_BACK`` pairs of pages that never train)."""
    started = time.monotonic()
    wiki = read_wiki(index_dir, recipe.max_pages, recipe.seed)
    pairs = mine(wiki, recipe.pair_kinds)
    training, kept_back = split(pairs, recipe.max_pairs, recipe.seed)
    kept_back = random.Random(recipe.seed).sample(kept_back, min(len(kept_back), gate.MAX_HELD_BACK))
    training = within(training, _token_counts(base, training, recipe.max_seq_length), recipe.max_tokens)
    logger.info(
        "mined %d pairs from %d pages in %.1f s: %d to train on, %d held back",
        *(len(pairs), len(wiki.pages), time.monotonic() - started, len(training), len(kept_back)),
    )
    if len(training) < 2 * recipe.batch_size or not kept_back:
        raise AdaptError(
            f"{index_dir}: {len(training)} training pairs and {len(kept_back)} held back: too few to adapt on",
            "too_few_pairs",
        )
    trained_on = [(page, c) for page, chunks in wiki.pages if not held_back(page.title) for c in chunks]
    distractors = random.Random(recipe.seed).sample(trained_on, min(len(trained_on), gate.DISTRACTORS))
    indexed = as_indexed(wiki)
    own = [indexed(p) for p in kept_back]
    candidates = list(dict.fromkeys([*own, *(restored(page, c).embed_text for page, c in distractors)]))
    return Sample(training, kept_back, own, candidates, indexed)


def _token_counts(base: ResolvedModel, pairs: list[Pair], max_seq_length: int) -> list[int]:
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


def manifest_of(index_dir: Path) -> Manifest:
    manifest = existing_manifest(index_dir)
    if manifest is None:
        raise IndexFormatError(f"{index_dir}: no index here to adapt (build one first)", "no_index")
    if manifest.chunks_adapted:
        raise AdaptError(
            f"{index_dir}: its chunks were embedded by a whole adapted model, which this wikisearch no longer "
            "adapts or undoes; rebuild it with the stock model (build --replace, or sync --full)",
            "adapted_chunks",
        )
    return manifest


def base_of(manifest: Manifest, settings: Settings) -> ResolvedModel:
    """The registry model an index's model is, or was adapted from: adapting starts from it again."""
    name = manifest.adaptation.base.name if manifest.adaptation else manifest.model.name
    return resolve_model(name, settings.allow_unvetted_model)


def adapt_index(
    index_dir: Path, settings: Settings, *, judge: Callable[[Path], float] | None = None, force: bool = False
) -> Outcome:
    """Adapt what reads the queries of the index at ``index_dir`` to its pages, and switch
    to it if it is surely better on held-back pages, by ``adapt_min_gain`` — and, with
    ``judge``, no worse on judged queries (``judge(index dir)``: their nDCG@10). ``force``
    switches whatever the held-back pages say (``judge`` still decides). The index is
    relabelled atomically, or not at all."""
    manifest = manifest_of(index_dir)
    base = base_of(manifest, settings)
    recipe = recipe_from(settings)
    sample = sample_of(index_dir, base, recipe)
    cache = cache_beside(index_dir)
    _remove_stale(cache, f"adapt-{index_dir.name}-")
    scratch = cache / f"adapt-{index_dir.name}-{os.getpid()}"
    try:
        adaptation, learnt, directory = _learn(base, sample, recipe, scratch, settings.quiet)
        before, after, low = adaptation.held_back_before, adaptation.held_back_after, adaptation.held_back_gain_low
        said = (
            f"held-back {gate.HELD_BACK_METRIC} {before:.4f} → {after:.4f} "
            f"(gain ≥ {low:+.4f} on 95 % of {adaptation.held_back_pages} pages)"
        )
        if (low or 0.0) <= settings.adapt_min_gain and not force:
            return Outcome(False, f"{said}: not surely better by {settings.adapt_min_gain}", adaptation, learnt)
        adapted = adapted_model(base, directory, adaptation.weights_sha256, _adapted_name(base, manifest, index_dir))
        reads = query_encoder(adapted, encoder_cache(index_dir, settings.encoder_cache), settings.build_runtime)
        if reads is None:
            raise AdaptError(f"{adapted.name}: no ONNX encoder could be exported to serve it", "no_encoder")
        version = relabel_version(index_dir, manifest.replace(adaptation=adaptation), reads, directory, judge is None)
        if judge is None:
            return Outcome(True, said, adaptation, learnt)
        return _judged(index_dir, version, adaptation, judge, said, learnt)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _learn(
    base: ResolvedModel, sample: Sample, recipe: AdaptRecipe, scratch: Path, quiet: bool
) -> tuple[Adaptation, list[tuple[str, int, int]], Path]:
    """Score the stock model on the held-back pairs, train, score the adapted one: the record."""
    progress = tqdm(desc="adapting", unit=" steps", disable=quiet, dynamic_ncols=True, leave=False)

    def step(done: int, total: int, loss: float) -> None:
        progress.total = total
        progress.update(1)
        progress.set_postfix(loss=f"{loss:.3f}", refresh=False)

    kept_back = sample.held_back
    try:
        stock = sentence_transformer(base.path, recipe.max_seq_length)
        vectors = stock.encode(sample.candidates, **gate.ENCODE)  # as the index holds them: once, for both
        ranks_before = gate.held_back_ranks(stock, kept_back, sample.own, sample.candidates, vectors)
        fixed = FixedPassages.encode(stock, sample.training, [sample.indexed(p) for p in sample.training])
        del stock
        trained = train(base.path, sample.training, recipe, scratch / MODEL, fixed, step, lambda: crash_point("adapt"))
    finally:
        progress.close()
    reader = sentence_transformer(trained.directory, recipe.max_seq_length)
    ranks_after = gate.held_back_ranks(reader, kept_back, sample.own, sample.candidates, vectors)
    adaptation = Adaptation(
        base=base.info(),
        weights_sha256=file_sha256(trained.directory / "model.safetensors"),
        recipe=recipe,
        pairs=trained.pairs,
        held_back_pairs=len(kept_back),
        held_back_before=gate.mrr_at_10(ranks_before),
        held_back_after=gate.mrr_at_10(ranks_after),
        held_back_by_kind=gate.by_kind(kept_back, ranks_before, ranks_after),
        held_back_pages=len({p.page for p in kept_back}),
        held_back_gain_low=gate.gain_lower_bound(kept_back, ranks_before, ranks_after, recipe.seed),
        metric=gate.HELD_BACK_METRIC,
        steps=trained.steps,
        training_s=trained.seconds,
        adapted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        data=ADAPTATION_DATA,
    )
    logger.info(
        "held-back %s: %.4f stock, %.4f adapted",
        gate.HELD_BACK_METRIC,
        *map(gate.mrr_at_10, (ranks_before, ranks_after)),
    )
    return adaptation, gate.most_improved(kept_back, ranks_before, ranks_after), trained.directory


def _judged(
    index_dir: Path,
    version: Path,
    adaptation: Adaptation,
    judge: Callable[[Path], float],
    said: str,
    learnt: list[tuple[str, int, int]],
) -> Outcome:
    """Publish the relabelled ``version`` only if the judged queries score at least as well on it."""
    judged = replace(adaptation, eval_before=judge(index_dir), eval_after=judge(version))
    verdict = f"judged nDCG@10 {judged.eval_before:.4f} → {judged.eval_after:.4f}"
    if (judged.eval_after or 0.0) < (judged.eval_before or 0.0):
        shutil.rmtree(version, ignore_errors=True)
        return Outcome(False, f"{verdict}: worse", judged, learnt)
    rewrite_manifest(version, read_manifest(version).replace(adaptation=judged))
    publish_version(index_dir, version)
    return Outcome(True, f"{said}, {verdict}", judged, learnt)


def _adapted_name(base: ResolvedModel, manifest: Manifest, index_dir: Path) -> str:
    site = manifest.source.siteinfo.dbname or manifest.source.siteinfo.sitename or index_dir.name
    return f"{base.name} adapted to {site}"


def adapted_model(base: ResolvedModel, directory: Path, sha256: str, name: str) -> ResolvedModel:
    verify_weights(directory, sha256)
    card = base.card
    if card is not None:
        card = replace(card, name=name, sha256=sha256, osaid_reason=card.osaid_reason + ADAPTED_OSAID)
    return ResolvedModel(name, directory, sha256, True, base.vetted, card)


def unadapt_index(index_dir: Path, settings: Settings) -> str:
    """Back to the model an adapted index was adapted from: its queries read by it again,
    the adapted model dropped; nothing is re-embedded. Atomic. Returns the model's name."""
    manifest = manifest_of(index_dir)
    if manifest.adaptation is None:
        raise AdaptError(
            f"{index_dir}: its model, {manifest.model.name}, is not adapted: nothing to undo", "not_adapted"
        )
    base = base_of(manifest, settings)
    stock = query_encoder(base, encoder_cache(index_dir, settings.encoder_cache), settings.build_runtime)
    relabel_version(index_dir, manifest.replace(adaptation=None), stock, None)
    return base.name
