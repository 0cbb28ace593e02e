"""Shards: what a distributed build writes, and ``assemble`` turns into an index.

A shards directory holds versions and names the published one last::

    SHARDS/CURRENT               the published version's name (replaced atomically, last)
    SHARDS/v-<time>-<id>/
        shards.json              ``ShardManifest``: model, runtime, chunking, source, report
        chunks/*.parquet         one row a chunk, its page's fields and its vector, in page order
        sentences/*.parquet      the answer line's sentences of each chunk, with their vectors
        aliases/*.parquet        redirects: title → target

Rows are keyed by the sha256 of the text the model read (``key``, in both
tables), so a later run reuses their vectors. A run killed before it names its version in
``CURRENT`` publishes nothing: readers never see a half-written version.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import IndexFormatError
from core.models import ModelInfo, Runtime
from index_format import BuildReport, Chunking, SourceInfo, as_dict, from_dict

CURRENT = "CURRENT"
SHARDS_MANIFEST = "shards.json"
CHUNKS, SENTENCES, ALIASES = "chunks", "sentences", "aliases"
#: A page's place in the input: file number and position in it, as one sortable number.
SEQ_FILE_SHIFT = 40


def schema(table: str) -> Any:
    """The pyarrow schema of one shards table, declared once: the Spark job writes it,
    ``assemble`` checks and reads it, the bench writes it. (pyarrow: the spark extra.)"""
    import pyarrow as pa

    text, vector = pa.string(), pa.list_(pa.float32())
    page = [
        ("seq", pa.int64()),  # the page's place in the input (``seq_of``)
        *[("page_id", pa.int64()), ("title", text), ("namespace", pa.int32()), ("rev_id", pa.int64())],
        *[("timestamp", text), ("url", text), ("code", text), ("code_language", text), ("action_url", text)],
        ("source_hash", text),
        ("categories", pa.list_(text)),
    ]
    columns = {
        CHUNKS: [*page, ("ordinal", pa.int32()), ("section", text), ("anchor", text), ("text", text), ("key", text)],
        SENTENCES: [("seq", pa.int64()), ("ordinal", pa.int32()), ("position", pa.int32()), ("text", text)],
        ALIASES: [("title", text), ("target", text)],
    }[table]
    if table != ALIASES:
        columns += [("key", text), ("vector", vector)] if table == SENTENCES else [("vector", vector)]
    return pa.schema(columns)


def seq_of(file_number: int, position: int) -> int:
    return (file_number << SEQ_FILE_SHIFT) + position


@dataclass(frozen=True)
class ShardManifest:
    """What a shards version is: enough for ``assemble`` to write the index's manifest."""

    model: ModelInfo
    embedded_with: Runtime
    chunking: Chunking
    source: SourceInfo
    build: BuildReport
    inputs: list[str] = field(default_factory=list)
    engine: str = "spark"
    master: str = ""


def new_version(root: Path) -> Path:
    """A fresh, unpublished version directory under ``root``."""
    name = "v-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    path = root / name
    path.mkdir(parents=True)
    return path


def publish(version: Path, manifest: ShardManifest) -> None:
    """Write the version's manifest, then name it in CURRENT: the last step of a
    run. Versions older than the one it replaces are removed."""
    replaced = current(version.parent)
    (version / SHARDS_MANIFEST).write_text(json.dumps(as_dict(manifest), indent=2), "utf-8")
    pointer = version.parent / f".{CURRENT}.{os.getpid()}"
    pointer.write_text(version.name + "\n", "utf-8")
    with open(pointer, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer, version.parent / CURRENT)
    for old in version.parent.glob("v-*"):
        if old not in (version, replaced):
            shutil.rmtree(old, ignore_errors=True)


def clean_unpublished(root: Path) -> None:
    """Remove what killed runs left: versions newer than the published one
    that were never named in CURRENT (one run at a time per shards directory)."""
    published = current(root)
    for version in root.glob("v-*"):
        if published is None or version.name > published.name:
            shutil.rmtree(version, ignore_errors=True)


def current(root: Path) -> Path | None:
    """The published version under ``root``, None if nothing was published."""
    try:
        name = (root / CURRENT).read_text("utf-8").strip()
    except OSError:
        return None
    version = root / name
    return version if (version / SHARDS_MANIFEST).is_file() else None


def read_manifest(version: Path) -> ShardManifest:
    try:
        return from_dict(ShardManifest, json.loads((version / SHARDS_MANIFEST).read_text("utf-8")))
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{version}: not a shards version ({exc})", "bad_shards") from None


def rows(version: Path, table: str, batch_rows: int = 4096) -> Iterator[dict[str, Any]]:
    """The rows of one table in the order the run wrote them (part files by name); a part
    without the declared columns (``schema``) is one clear error."""
    import pyarrow.parquet as pq

    wanted = schema(table)
    for part in sorted((version / table).glob("*.parquet")):
        found = pq.ParquetFile(part)
        missing = [f.name for f in wanted if f.name not in found.schema_arrow.names]
        if missing:
            raise IndexFormatError(f"{part}: not a shards {table} table (no {', '.join(missing)})", "bad_shards")
        for batch in found.iter_batches(batch_size=batch_rows, columns=wanted.names):
            yield from batch.to_pylist()
