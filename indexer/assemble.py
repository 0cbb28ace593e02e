"""Assemble: published shards (``indexer.shards``) → the standard index.

The shards hold every chunk and sentence with its vector, in input order;
this writes them through the same ``IndexWriter`` as the serial build (the
vector index type chosen by size at commit), with the same promise: the
previous index stays served until the new one is complete.
"""

from __future__ import annotations

import logging
import time
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from core.documents import Page
from core.errors import IndexFormatError
from core.onnx_encoder import ExportedEncoder
from core.settings import Settings
from index_format import BuildReport, Index, IndexWriter, Manifest, StoredChunk, existing_manifest

from . import shards
from .build import commit_version, count_change, new_manifest, removed_on_failure
from .index_model import QueryReader, kept_reader

logger = logging.getLogger(__name__)


def assemble_index(
    root: Path, target: Path, settings: Settings, encoder: ExportedEncoder | None = None, replace: bool = False
) -> BuildReport:
    """Write the index at ``target`` from the shards version published under ``root``;
    an index of another model there is replaced only with ``replace``."""
    started = time.monotonic()
    version = shards.current(root)
    if version is None:
        raise IndexFormatError(f"{root}: no published shards here (a build writes them with --shards-out)", "no_shards")
    made = shards.read_manifest(version)
    report = made.build
    previous = existing_manifest(target)
    old_pages = _old_pages(target, previous, made.model.sha256, replace)
    reader = QueryReader(encoder) if replace else kept_reader(target, previous, made.model.sha256, encoder)
    dims = made.model.dimensions or 0
    writer = IndexWriter(target, dims)
    seen: set[str] = set()
    with removed_on_failure(writer, target):
        said = groupby(shards.rows(version, shards.SENTENCES), key=lambda r: r["seq"])
        pending = next(said, None)
        for seq, group in groupby(shards.rows(version, shards.CHUNKS), key=lambda r: r["seq"]):
            rows = list(group)
            while pending is not None and pending[0] < seq:
                pending = next(said, None)
            sentences = list(pending[1]) if pending is not None and pending[0] == seq else []
            page = _page(rows[0])
            if page.title in seen:
                report.skipped["duplicate title"] = report.skipped.get("duplicate title", 0) + 1
                continue
            seen.add(page.title)
            chunks = [
                StoredChunk(page.title, r["ordinal"], r["section"], r["anchor"], r["text"], r["key"]) for r in rows
            ]
            count_change(report, page, chunks, old_pages)
            vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32)
            first = writer.add_page(page, chunks, vectors, rows[0]["source_hash"])
            for ordinal, group_said in groupby(sentences, key=lambda r: r["ordinal"]):
                listed = list(group_said)
                position = next(i for i, c in enumerate(chunks) if c.ordinal == ordinal)
                texts = [r["text"] for r in listed]
                writer.add_sentences(first + position, texts, np.asarray([r["vector"] for r in listed], np.float32))
        for alias in shards.rows(version, shards.ALIASES):
            if alias["title"] not in seen:
                writer.add_alias(alias["title"], alias["target"])
        report.pages_removed = len(set(old_pages) - seen)
        report.pages, report.chunks, report.aliases = writer.pages, writer.chunk_count, writer.aliases
        report.sentences = writer.sentences
        report.duration_s = round(report.duration_s + time.monotonic() - started, 3)  # the Spark run's, and ours
        manifest = new_manifest(made.source, made.model, made.embedded_with, made.chunking, report)
        report.version = commit_version(writer, manifest, settings, reader)
    return report


def _page(row: dict[str, Any]) -> Page:
    return Page(
        row["title"],
        row["namespace"],
        row["page_id"],
        row["rev_id"],
        row["timestamp"],
        "",
        row["url"],
        code=row["code"],
        code_language=row["code_language"],
        action_url=row["action_url"],
    )


def _old_pages(
    target: Path, manifest: Manifest | None, model_sha256: str, replace: bool
) -> dict[str, tuple[int, tuple[str, ...]]]:
    """The index being replaced (``manifest``: its own), page by page: to report what changed."""
    if manifest is None:
        return {}
    if manifest.model.sha256 != model_sha256:
        if replace:
            return {}
        raise IndexFormatError(
            f"{target}: index was built with model {manifest.model.name}, not the shards' model; "
            "pass --replace to replace it",
            "other_model",
        )
    index = Index.open(target)
    try:
        return index.page_chunk_hashes()
    finally:
        index.close()


def previous_vectors(target: Path, out: Path, model_sha256: str) -> tuple[str | None, str | None]:
    """The vectors of the index at ``target`` (same model, fp32) as Parquet tables of
    (key, vector) under ``out``, for a Spark run to reuse; (None, None) if there are none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = existing_manifest(target)
    if manifest is None or manifest.model.sha256 != model_sha256:
        return None, None
    if manifest.embedded_with is not None and manifest.embedded_with.precision != "fp32":
        return None, None
    index = Index.open(target)
    try:
        out.mkdir(parents=True, exist_ok=True)
        chunk_rows = index.db().execute("SELECT id, hash FROM chunks ORDER BY id").fetchall()
        tables = {"chunks": (_table(pa, [h for _, h in chunk_rows], index.vectors_of([i for i, _ in chunk_rows])))}
        if index.sentence_vectors is not None:
            rows = index.db().execute("SELECT id, hash FROM sentences ORDER BY id").fetchall()
            tables["sentences"] = _table(pa, [h for _, h in rows], np.asarray(index.sentence_vectors, np.float32))
        for name, table in tables.items():
            pq.write_table(table, out / f"{name}.parquet")
    finally:
        index.close()
    return str(out / "chunks.parquet"), (str(out / "sentences.parquet") if "sentences" in tables else None)


def _table(pa: Any, keys: list[str], vectors: np.ndarray) -> Any:
    values = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.table(
        {"key": keys, "vector": pa.ListArray.from_arrays(_offsets(pa, len(keys), vectors.shape[1]), values)}
    )


def _offsets(pa: Any, rows: int, width: int) -> Any:
    return pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32))
