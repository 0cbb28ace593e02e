"""The build: source → parse → chunk → embed → store, streaming.

Pages flow through in batches so that the model always sees full batches
while memory stays bounded by one batch, whatever the dump's size. Chunks
whose text (and model) an earlier build already embedded are not embedded
again: their vectors are copied from the previous index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.documents import Chunk, Page, Section, SiteInfo, Source, SourceDescription
from core.errors import IndexFormatError, WikisearchError
from core.hashing import text_hash
from core.models import Embedder, ModelInfo, Runtime
from core.prose import sentences
from core.settings import Settings
from index_format import (
    BuildReport,
    Chunking,
    Counts,
    Index,
    IndexWriter,
    Manifest,
    NotAnIndex,
    SiteMeta,
    SourceInfo,
    StoredChunk,
    SyncState,
    existing_manifest,
)

from .chunk import CHUNKER_VERSION, ChunkSettings, chunk_code_page, chunk_page
from .crash import crash_point
from .index_model import QueryReader, build_models, precision_of
from .parse import parse_sections
from .publish import Publisher
from .sources import open_source

logger = logging.getLogger(__name__)

# Chunks gathered before a round of embedding; several model batches.
# Large enough that length-sorted batches pad little; memory stays small.
_ROUND_CHUNKS = 1024
# Sentences are short: larger batches than chunks' still pad little.
_SENTENCE_BATCH = 32


def build_from(
    path: Path, kind: str, options: dict[str, Any], index_dir: Path, settings: Settings, replace: bool = False
) -> BuildReport:
    """A build of ``index_dir`` from the source of type ``kind`` at ``path`` (``options``: the
    source's, ``open_source``), with the models ``index_model`` decides."""
    source = open_source(kind, path, **options)
    if not replace:
        existing_manifest(index_dir)  # refuse a non-index directory before loading the model
    models = build_models(index_dir, settings, replace)
    return build_index(
        source, index_dir, models.embedder, models.model, settings, replace=replace, reader=models.reader
    )


def build_index(
    source: Source,
    target: str | Path,
    embedder: Embedder,
    model: ModelInfo,
    settings: Settings,
    *,
    replace: bool = False,
    reader: QueryReader | None = None,
    keep_previous: Callable[[str], bool] | None = None,
    sync: SyncState | None = None,
    publish: bool = True,
) -> BuildReport:
    """Build (or rebuild) the index at ``target`` from ``source``; the previous index stays
    complete and served until the new one is committed (``Publisher``). ``keep_previous``:
    an incremental update — the previous version's pages and aliases whose title it accepts,
    and the source does not yield, are kept. ``sync``: where following a live wiki left off.
    ``reader``: what reads the version's queries (``index_model``). ``publish`` False: the
    version is finished but not swapped in (``report.version`` names it; the caller decides)."""
    target = Path(target)
    runtime = runtime_of(embedder)
    previous = _reusable(target, model, runtime, replace)
    chunk_settings = ChunkSettings.from_settings(settings)
    chunking = chunking_of(chunk_settings)
    reuse = previous if previous is not None and carries_over(previous.manifest, model, runtime, chunking) else None
    if keep_previous is not None and reuse is None:
        if previous is not None:
            previous.close()
        raise IndexFormatError(  # before the source is read: the caller reads every page instead
            f"{target}: its pages cannot be carried over (another model, precision or chunking); "
            "every page must be read again",
            "needs_full_pass",
        )
    progress = tqdm(
        desc="indexing", unit=" pages", disable=settings.quiet, dynamic_ncols=True, mininterval=0.5, leave=False
    )
    try:
        old_pages = previous.page_chunk_hashes() if previous else {}
        with Publisher(target, embedder.dimensions, BuildReport(), old_pages) as out:
            rounds = EmbedRounds(out.writer, embedder, previous, settings, out.report, progress)
            _read_source(source, out, rounds, reuse, lambda page: page_chunks(page, chunk_settings, embedder))
            if keep_previous is not None and reuse is not None:
                _carry_over(reuse, out, rounds, keep_previous)
            rounds.flush()
            out.skip_all(source.skip_reasons)
            described = source.describe()
            info = source_info(described, source.site)
            return _finished(
                out,
                lambda report: new_manifest(info, model, runtime, chunking, report, sync),
                settings,
                reader,
                publish,
                described,
            )
    finally:
        progress.close()
        if previous is not None:
            previous.close()


def _read_source(
    source: Source,
    out: Publisher,
    rounds: EmbedRounds,
    reuse: Index | None,
    cut: Callable[[Page], list[Chunk]],
) -> None:
    """Every page of ``source`` into the version: a redirect as an alias, a page's chunks
    as the previous version stored them when its text is unchanged, else ``cut`` anew."""
    for page in source:
        if page.redirect is not None:
            out.alias(page.title, page.redirect)
            continue
        if not out.claims(page.title):
            continue
        stored = reuse.stored_chunks(page.title, page.source_hash) if reuse is not None else None
        chunks = stored if stored is not None else cut(page)
        crash_point("parse")
        if not chunks:
            out.skip("no text after parsing", page.title)
            continue
        out.changed(page, chunks)
        rounds.add(page, chunks, page.source_hash)


def _carry_over(previous: Index, out: Publisher, rounds: EmbedRounds, keep: Callable[[str], bool]) -> None:
    """The previous version's pages and aliases the source did not yield, where ``keep`` accepts them."""
    for page, source_hash, chunks in previous.stored_pages():
        if page.title not in out.pages and page.title not in out.aliased and keep(page.title):
            out.pages.add(page.title)
            out.report.pages_unchanged += 1
            rounds.add(page, chunks, source_hash)
    for title, alias_target in previous.alias_rows():
        if keep(title):
            out.alias(title, alias_target)


def _finished(
    out: Publisher,
    manifest: Callable[[BuildReport], Manifest],
    settings: Settings,
    reader: QueryReader | None,
    publish: bool,
    described: SourceDescription,
) -> BuildReport:
    namespaces = sorted(described.namespaces)
    where = f" in namespaces {','.join(map(str, namespaces))}" if namespaces else ""
    out.finish(manifest, settings, reader, publish, empty=f"{described.path}: no pages to index{where}")
    return out.report


def runtime_of(embedder: Embedder) -> Runtime:
    """How ``embedder`` computes vectors (its runtime and precision), as a manifest records it."""
    return getattr(embedder, "runtime", None) or Runtime(type(embedder).__name__)


def carries_over(manifest: Manifest, model: ModelInfo, runtime: Runtime, chunking: Chunking) -> bool:
    """Whether the pages of the index ``manifest`` describes can be kept as they are by a build
    with this model, runtime and chunking: the same model, in the same precision, cut the same way."""
    same_model = (manifest.model.name, manifest.model.sha256) == (model.name, model.sha256)
    same_precision = precision_of(manifest.embedded_with) == runtime.precision
    return same_model and same_precision and manifest.chunking == chunking


def chunking_of(settings: ChunkSettings) -> Chunking:
    """How pages are cut, as the manifest records it."""
    return Chunking(settings.chunk_tokens, settings.overlap, settings.min_tokens, CHUNKER_VERSION)


def source_info(described: SourceDescription, site: SiteInfo) -> SourceInfo:
    """The manifest's ``source``, from what the source says of itself."""
    read = described.path if isinstance(described.path, Path) else None
    return SourceInfo(
        type=described.type,
        path=str(described.path),
        file=read.name if read else "",
        bytes=read.stat().st_size if read and read.is_file() else 0,
        schema=described.schema,
        siteinfo=SiteMeta(site.sitename, site.dbname, site.base, site.generator),
        namespaces=sorted(described.namespaces),
        preset=described.preset,
        max_pages=described.max_pages,
        action=described.action,
    )


def new_manifest(
    source: SourceInfo,
    model: ModelInfo,
    runtime: Runtime,
    chunking: Chunking,
    report: BuildReport,
    sync: SyncState | None = None,
) -> Manifest:
    """The manifest of a finished build; the writer adds its counts at commit."""
    return Manifest(
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        model=model,
        embedded_with=runtime,
        source=source,
        chunking=chunking,
        counts=Counts(skipped=dict(report.skipped)),
        build=report,
        sync=sync,
    )


def _reusable(target: Path, model: ModelInfo, runtime: Runtime, replace: bool) -> Index | None:
    """The index being rebuilt, if its vectors can be reused: of this model, in this precision."""
    previous = _previous_index(target, model, replace)
    old = precision_of(previous.manifest.embedded_with) if previous is not None else runtime.precision
    if previous is not None and old != runtime.precision:
        logger.warning(
            "%s: vectors were computed in %s, this build computes %s: every chunk is embedded again",
            *(target, old, runtime.precision),
        )
        previous.close()
        return None
    return previous


def _previous_index(target: Path, model: ModelInfo, replace: bool) -> Index | None:
    """The index being rebuilt, if its embeddings can be reused."""
    try:
        manifest = existing_manifest(target)
    except NotAnIndex:
        raise
    except IndexFormatError:
        if replace:
            return None
        raise
    if manifest is None:
        return None
    old = manifest.model
    if (old.name, old.sha256) != (model.name, model.sha256):
        if replace:
            return None
        raise IndexFormatError(
            f"{target}: index was built with model {old.name} (sha256 {old.sha256[:12]}…), not {model.name}; "
            "pass --replace to rebuild it from scratch",
            "other_model",
        )
    try:
        return Index.open(target)
    except IndexFormatError as exc:
        if replace:
            return None
        raise IndexFormatError(f"{exc}; pass --replace to rebuild it from scratch") from None


def page_chunks(page: Page, settings: ChunkSettings, embedder: Embedder) -> list[Chunk]:
    """A page cut into chunks: the parse and chunk stages of every engine."""
    if page.code:
        return chunk_code_page(page.title, page.text, page.code_notes)
    if page.markup == "plain":
        return chunk_page(page.title, [Section((), "", page.text)], settings, embedder.count_tokens)
    try:
        sections = parse_sections(page.text)
    except (RecursionError, ValueError) as exc:  # the parser gave up on this page
        logger.warning("page %r: wikitext could not be parsed (%s); indexing it as plain text", page.title, exc)
        sections = [Section((), "", page.text)]
    return chunk_page(page.title, sections, settings, embedder.count_tokens)


class EmbedRounds:
    """Pages gathered until a round is full; then what is new in them is embedded,
    the rest reuses the previous version's vectors, and all are written."""

    def __init__(
        self,
        writer: IndexWriter,
        embedder: Embedder,
        previous: Index | None,
        settings: Settings,
        report: BuildReport,
        progress: Any,
    ):
        self.writer, self.embedder, self.previous = writer, embedder, previous
        self.settings, self.report, self.progress = settings, report, progress
        self.pending: list[tuple[Page, Sequence[Chunk | StoredChunk], str]] = []
        self.chunks = 0

    def add(self, page: Page, chunks: Sequence[Chunk | StoredChunk], source_hash: str) -> None:
        self.pending.append((page, chunks, source_hash))
        self.chunks += len(chunks)
        if self.chunks >= _ROUND_CHUNKS:
            self.flush()

    def flush(self) -> None:
        pending, self.pending, self.chunks = self.pending, [], 0
        if not pending:
            return
        crash_point("embed")
        report = self.report
        keys = list(dict.fromkeys(c.key for _, chunks, _ in pending for c in chunks))
        texts = {c.key: c.embed_text for _, chunks, _ in pending for c in chunks if isinstance(c, Chunk)}
        vectors: dict[str, np.ndarray] = self.previous.vectors_for(keys) if self.previous is not None else {}
        missing = [k for k in keys if k not in vectors]  # never a stored chunk: its vector is in `previous`
        report.chunks_reused += sum(1 for _, chunks, _ in pending for c in chunks if c.key in vectors)
        self._embed(missing, texts, vectors, self.settings.batch_size)
        report.chunks_embedded += len(missing)  # distinct texts sent to the model
        keep_sentences = self.settings.answer_sentences
        split = [
            [sentences(c.text, page.title) if keep_sentences else [] for c in chunks] for page, chunks, _ in pending
        ]
        sentence_vectors = self._sentence_vectors(split) if keep_sentences else {}
        dims = self.writer.dimensions
        for (page, chunks, source_hash), page_sentences in zip(pending, split, strict=True):
            matrix = np.stack([vectors[c.key] for c in chunks]) if chunks else np.zeros((0, dims))
            first = self.writer.add_page(page, chunks, matrix, source_hash)
            for i, chunk_sentences in enumerate(page_sentences):
                if chunk_sentences:
                    rows = np.stack([sentence_vectors[text_hash(t)] for t in chunk_sentences])
                    self.writer.add_sentences(first + i, chunk_sentences, rows)
        self.progress.update(len(pending))
        self.progress.set_postfix(chunks=self.writer.chunk_count, refresh=False)

    def _sentence_vectors(self, split: list[list[list[str]]]) -> dict[str, np.ndarray]:
        """Vectors of the answer line's sentences, by text hash: the previous
        version's where it has them, the rest embedded now."""
        texts = {text_hash(t): t for page in split for chunk in page for t in chunk}
        vectors = self.previous.sentence_vectors_for(texts) if self.previous is not None else {}
        missing = [key for key in texts if key not in vectors]
        self._embed(missing, texts, vectors, _SENTENCE_BATCH)
        self.report.sentences_embedded += len(missing)
        self.report.sentences_reused += len(texts) - len(missing)
        return vectors

    def _embed(self, keys: list[str], texts: dict[str, str], vectors: dict[str, np.ndarray], batch: int) -> None:
        """Encode the texts of ``keys`` into ``vectors`` (by key)."""
        if not keys:
            return
        try:
            encoded = self.embedder.encode([texts[k] for k in keys], batch_size=batch)
        except (RuntimeError, ValueError) as exc:
            raise WikisearchError(f"embedding failed: {exc}") from exc
        vectors.update(zip(keys, encoded, strict=True))
