"""The build: source → parse → chunk → embed → store, streaming.

Pages flow through in batches so that the model always sees full batches
while memory stays bounded by one batch, whatever the dump's size. Chunks
whose text (and model) an earlier build already embedded are not embedded
again: their vectors are copied from the previous index.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.documents import Chunk, Page, Section, SiteInfo, Source, SourceDescription
from core.errors import DumpError, IndexFormatError, WikisearchError, write_failed
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
from .index_model import QueryReader
from .parse import parse_sections

logger = logging.getLogger(__name__)

# Chunks gathered before a round of embedding; several model batches.
# Large enough that length-sorted batches pad little; memory stays small.
_ROUND_CHUNKS = 1024
# Sentences are short: larger batches than chunks' still pad little.
_SENTENCE_BATCH = 32


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
    """Build (or rebuild) the index at ``target`` from ``source``.

    The previous index stays complete and served until the new one is
    committed; on any error or interrupt it is left exactly as it was.
    ``keep_previous``: an incremental update — the previous version's pages
    and aliases whose title it accepts, and the source does not yield, are
    kept as they are. ``sync``: where following a live wiki left off,
    committed with the version. ``reader``: what reads the version's queries,
    stored with it (``index_model``). ``publish`` False: the version is finished
    but not swapped in (``report.version`` names it; the caller decides).
    """
    target = Path(target)
    started = time.monotonic()
    previous = _previous_index(target, model, replace)
    runtime = getattr(embedder, "runtime", None) or Runtime(type(embedder).__name__)
    old_runtime = previous.manifest.embedded_with if previous else None
    if previous is not None and _precision(old_runtime) != runtime.precision:
        logger.warning(
            "%s: vectors were computed in %s, this build computes %s: every chunk is embedded again",
            target,
            _precision(old_runtime),
            runtime.precision,
        )
        previous.close()
        previous = None
    old_pages = previous.page_chunk_hashes() if previous else {}
    chunk_settings = ChunkSettings.from_settings(settings)
    chunking = chunking_of(chunk_settings)
    # Unchanged pages keep their chunks only if they would be cut the same way.
    reuse_chunks = previous is not None and previous.manifest.chunking == chunking
    if keep_previous is not None and not (previous is not None and reuse_chunks):
        if previous is not None:
            previous.close()
        raise IndexFormatError(  # before the source is read: the caller reads every page instead
            f"{target}: its pages cannot be carried over (another model, precision or chunking); "
            "every page must be read again",
            "needs_full_pass",
        )
    report = BuildReport()
    writer = IndexWriter(target, embedder.dimensions)
    progress = tqdm(
        desc="indexing",
        unit=" pages",
        disable=settings.quiet,
        dynamic_ncols=True,
        mininterval=0.5,
        leave=False,
    )
    rounds = EmbedRounds(writer, embedder, previous, settings, report, progress)
    seen: set[str] = set()
    aliased: set[str] = set()
    try:
        with removed_on_failure(writer, target):
            for page in source:
                if page.redirect is not None:
                    writer.add_alias(page.title, page.redirect)
                    aliased.add(page.title)
                    continue
                if page.title in seen:
                    report.skipped["duplicate title"] = report.skipped.get("duplicate title", 0) + 1
                    logger.warning("skipped page %r: duplicate title", page.title)
                    continue
                seen.add(page.title)
                stored = previous.stored_chunks(page.title, page.source_hash) if reuse_chunks and previous else None
                chunks = stored if stored is not None else page_chunks(page, chunk_settings, embedder)
                crash_point("parse")
                if not chunks:
                    report.skipped["no text after parsing"] = report.skipped.get("no text after parsing", 0) + 1
                    logger.warning("skipped page %r: no text after parsing", page.title)
                    continue
                count_change(report, page, chunks, old_pages)
                rounds.add(page, chunks, page.source_hash)
            if keep_previous is not None and previous is not None:
                for page, source_hash, chunks in previous.stored_pages():
                    if page.title not in seen and page.title not in aliased and keep_previous(page.title):
                        seen.add(page.title)
                        report.pages_unchanged += 1
                        rounds.add(page, chunks, source_hash)
                for title, alias_target in previous.alias_rows():
                    if title not in seen and title not in aliased and keep_previous(title):
                        writer.add_alias(title, alias_target)
            rounds.flush()
            for reason, count in source.skip_reasons.items():
                report.skipped[reason] = report.skipped.get(reason, 0) + count
            described = source.describe()
            if writer.pages == 0:
                namespaces = sorted(described.namespaces)
                where = f" in namespaces {','.join(map(str, namespaces))}" if namespaces else ""
                raise DumpError(f"{described.path}: no pages to index{where}", "no_pages")
            report.pages_removed = len(set(old_pages) - seen)
            count_written(report, writer, started)
            manifest = new_manifest(source_info(described, source.site), model, runtime, chunking, report, sync)
            report.version = commit_version(writer, manifest, settings, reader, publish)
    finally:
        progress.close()
        if previous is not None:
            previous.close()
    return report


def count_written(report: BuildReport, writer: IndexWriter, started: float) -> None:
    report.pages, report.chunks, report.aliases = writer.pages, writer.chunk_count, writer.aliases
    report.sentences, report.duration_s = writer.sentences, round(time.monotonic() - started, 3)


@contextmanager
def removed_on_failure(writer: IndexWriter, target: Path) -> Iterator[None]:
    """The version being written is removed if anything fails; a write error (disk
    full, read-only, I/O) becomes one clear error."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        writer.abort()
        raise write_failed(target, exc) from None
    except BaseException:
        writer.abort()
        raise


def commit_version(
    writer: IndexWriter,
    manifest: Manifest,
    settings: Settings,
    reader: QueryReader | None,
    publish: bool = True,
) -> str:
    """Store what reads queries with the version, commit it; its name."""
    crash_point("write")
    if reader is not None:
        reader.store(writer)
    return writer.commit(manifest, settings, publish=publish).name


def chunking_of(settings: ChunkSettings) -> Chunking:
    """How pages are cut, as the manifest records it."""
    return Chunking(settings.chunk_tokens, settings.overlap, settings.min_tokens, CHUNKER_VERSION)


def source_info(described: SourceDescription, site: SiteInfo) -> SourceInfo:
    """The manifest's ``source``, from what the source says of itself."""
    return SourceInfo(
        type=described.type,
        path=str(described.path),
        file=described.path.name,
        bytes=described.path.stat().st_size if described.path.is_file() else 0,
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


def _precision(runtime: Runtime | None) -> str:
    """fp32 or int8: vectors of different precision are not mixed in one index."""
    return runtime.precision if runtime else "fp32"


def crash_point(stage: str) -> None:
    """For the crash-safety tests: with WIKISEARCH_TEST_CRASH_POINT=stage the build
    announces that it reached ``stage`` (a file beside the marker) and waits there
    to be killed, so a test can SIGKILL it at an exact point."""
    marker = os.environ.get("WIKISEARCH_TEST_CRASH_POINT")
    if marker and marker.split(":", 1)[0] == stage:
        Path(marker.split(":", 1)[1]).write_text(stage)
        time.sleep(300)


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


def count_change(
    report: BuildReport,
    page: Page,
    chunks: Sequence[Chunk | StoredChunk],
    old_pages: dict[str, tuple[int, tuple[str, ...]]],
) -> None:
    old = old_pages.get(page.title)
    if old is None:
        report.pages_added += 1
    elif old[1] == tuple(c.key for c in chunks):
        report.pages_unchanged += 1
    else:
        report.pages_changed += 1


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
