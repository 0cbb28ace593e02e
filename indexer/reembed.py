"""Re-embed stage: a new version of an index from what it stores, with another model.

``adapt`` needs every chunk embedded again by the adapted model, and the index
already holds every chunk: reading the source again would need it to be there
(a synced index has none to read). Each stored chunk is rebuilt as the chunker
cut it, what the model reads included, and its content hash proves it.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from core.documents import Chunk, Page
from core.errors import IndexFormatError
from core.models import Embedder, ModelInfo, Runtime
from core.onnx_encoder import ExportedEncoder
from core.settings import Settings
from index_format import Adaptation, BuildReport, Index, IndexWriter, StoredChunk

from .build import EmbedRounds, chunking_of, commit_version, count_written, new_manifest, removed_on_failure
from .chunk import ChunkSettings, code_page_text, header_of
from .sources.query_code import code_comments


def read_after_header(page: Page, text: str) -> str:
    """What the model reads of a chunk of ``page`` after its header: its text, and on
    a query page the query's own comments too (``chunk_code_page``)."""
    return code_page_text(text, code_comments(page.code, page.code_language)) if page.code else text


def restored(page: Page, stored: StoredChunk) -> Chunk:
    """A stored chunk as the chunker made it, what the model reads included, so
    that it can be embedded again without its source. Its key proves it: a
    chunk cut by another chunker version would not come back the same."""
    embed_text = header_of(stored.section, page.title) + read_after_header(page, stored.text)
    chunk = Chunk(page.title, stored.ordinal, stored.section, stored.anchor, stored.text, embed_text)
    if chunk.key != stored.key:
        raise IndexFormatError(
            f"page {page.title!r}: its stored chunks were cut by another wikisearch; rebuild the index with --replace",
            "stale_chunks",
        )
    return chunk


def reembed_index(
    target: Path,
    embedder: Embedder,
    model: ModelInfo,
    settings: Settings,
    *,
    encoder: ExportedEncoder | None = None,
    adapted: tuple[Path, Adaptation] | None = None,
    publish: bool = True,
) -> BuildReport:
    """A new version of the index at ``target``: the same pages, chunks and redirects,
    every chunk and sentence embedded again by ``embedder`` (another model). It reads
    the index, not its source: any index can be re-embedded, wherever it came from."""
    started = time.monotonic()
    previous = Index.open(target)
    report = BuildReport(skipped=dict(previous.manifest.counts.skipped))  # what the build skipped stays skipped
    writer = IndexWriter(target, embedder.dimensions)
    progress = tqdm(desc="re-embedding", unit=" pages", disable=settings.quiet, dynamic_ncols=True, leave=False)
    rounds = EmbedRounds(writer, embedder, None, settings, report, progress)
    try:
        with removed_on_failure(writer, target):
            for page, source_hash, stored in previous.stored_pages():
                report.pages_unchanged += 1
                rounds.add(page, [restored(page, chunk) for chunk in stored], source_hash)
            for title, alias_target in previous.alias_rows():
                writer.add_alias(title, alias_target)
            rounds.flush()
            count_written(report, writer, started)
            old = previous.manifest
            runtime = getattr(embedder, "runtime", None) or Runtime(type(embedder).__name__)
            manifest = new_manifest(
                old.source, model, runtime, old.chunking or chunking_of(ChunkSettings()), report, old.sync
            )
            report.version = commit_version(writer, manifest, settings, encoder, adapted, publish)
    finally:
        progress.close()
        previous.close()
    return report
