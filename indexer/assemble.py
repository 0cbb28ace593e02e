"""Assemble: published shards (``indexer.shards``) → the standard index.

The shards hold every chunk and sentence with its vector, in input order;
this writes them through the same ``IndexWriter`` as the serial build (the
vector index type chosen by size at commit), with the same promise: the
previous index stays served until the new one is complete.
"""

from __future__ import annotations

import logging
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from core.documents import Page
from core.errors import IndexFormatError
from core.onnx_encoder import ExportedEncoder
from core.settings import Settings
from index_format import BuildReport, Index, Manifest, StoredChunk, existing_manifest

from . import shards
from .build import new_manifest
from .index_model import kept_reader
from .publish import Publisher

logger = logging.getLogger(__name__)


def assemble_index(
    root: Path, target: Path, settings: Settings, encoder: ExportedEncoder | None = None, replace: bool = False
) -> BuildReport:
    """Write the index at ``target`` from the shards version published under ``root``;
    an index of another model there is replaced only with ``replace``."""
    version = shards.current(root)
    if version is None:
        raise IndexFormatError(f"{root}: no published shards here (a build writes them with --shards-out)", "no_shards")
    made = shards.read_manifest(version)
    previous = existing_manifest(target)
    old_pages = _old_pages(target, previous, made.model.sha256, replace)
    reader = kept_reader(target, None if replace else previous, made.model.sha256, encoder)  # as build_models
    with Publisher(target, made.model.dimensions or 0, made.build, old_pages) as out:
        said = groupby(shards.rows(version, shards.SENTENCES), key=lambda r: r["seq"])
        pending = next(said, None)
        for seq, group in groupby(shards.rows(version, shards.CHUNKS), key=lambda r: r["seq"]):
            rows = list(group)
            while pending is not None and pending[0] < seq:
                pending = next(said, None)
            if out.claims(rows[0]["title"]):
                _write_page(out, rows, list(pending[1]) if pending is not None and pending[0] == seq else [])
        for alias in shards.rows(version, shards.ALIASES):
            out.alias(alias["title"], alias["target"])
        manifest = lambda report: new_manifest(made.source, made.model, made.embedded_with, made.chunking, report)  # noqa: E731
        out.finish(manifest, settings, reader, empty=f"{root}: the shards hold no pages to index")
    return out.report


def _write_page(out: Publisher, rows: list[dict[str, Any]], sentences: list[dict[str, Any]]) -> None:
    """One page's chunk rows, and its chunks' sentence rows, into the version."""
    page = _page(rows[0])
    chunks = [StoredChunk(page.title, r["ordinal"], r["section"], r["anchor"], r["text"], r["key"]) for r in rows]
    out.changed(page, chunks)
    first = out.writer.add_page(
        page, chunks, np.asarray([r["vector"] for r in rows], np.float32), rows[0]["source_hash"]
    )
    for ordinal, group in groupby(sentences, key=lambda r: r["ordinal"]):
        listed = list(group)
        position = next(i for i, c in enumerate(chunks) if c.ordinal == ordinal)
        said = np.asarray([r["vector"] for r in listed], np.float32)
        out.writer.add_sentences(first + position, [r["text"] for r in listed], said)


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
        categories=tuple(row["categories"] or ()),
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
