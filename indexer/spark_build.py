"""The build on Apache Spark: the serial build's stages, run by Spark's tasks.

Each input file is read by one task (``open_source``, as the serial build
reads it), a multistream dump by several (ranges of its streams, found by
its index file: ``indexer.sources.multistream``); pages are spread over the cluster and cut into chunks
(``page_chunks``) and sentences (``core.prose``); the texts no earlier run
embedded (an anti-join on content hash with the previous vectors) are
embedded with the index's ONNX encoder, one session per executor process,
length-sorted within each Arrow batch; everything is written as shards
(``indexer.shards``) that ``assemble`` turns into the standard index.

Needs the ``spark`` extra (``pip install 'wikisearch[spark]'``) and Java;
nothing else of wikisearch imports this module.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import replace as replace_field
from pathlib import Path
from typing import Any

from core.documents import Page
from core.errors import DumpError, ModelError, WikisearchError
from core.hashing import text_hash
from core.models import ModelInfo, Runtime
from core.onnx_encoder import ExportedEncoder, OnnxEncoder, cache_beside, encoder_cache, prepare_encoder
from core.prose import sentences
from core.settings import Settings
from index_format import BuildReport, existing_manifest

from . import shards
from .build import chunking_of, page_chunks, source_info
from .chunk import ChunkSettings
from .crash import crash_point
from .index_model import configured_model
from .sources import multistream, open_source
from .sources.content_table import table_files
from .sources.multistream import StreamRange

logger = logging.getLogger(__name__)

VECTOR_COLUMNS = "key string, vector array<float>"
#: The sources a Spark run reads, one task per file (or per range of a multistream dump).
SPARK_SOURCES = ("dump", "content-table", "records", "sparql-examples")


class SparkUnavailable(WikisearchError):
    """pyspark or Java is missing."""


@dataclass(frozen=True)
class EncoderSpec:
    """What an executor needs to open the encoder (picklable)."""

    encoder: ExportedEncoder
    max_seq_length: int
    dimensions: int


_ENCODERS: dict[str, OnnxEncoder] = {}


def _encoder(spec: EncoderSpec) -> OnnxEncoder:
    """One ONNX session per executor process; its sha256 is checked once, when it opens."""
    found = _ENCODERS.get(spec.encoder.info.onnx_sha256)
    if found is None:
        found = OnnxEncoder(spec.encoder.directory, spec.encoder.info, spec.max_seq_length, spec.dimensions, 1)
        _ENCODERS[spec.encoder.info.onnx_sha256] = found
    return found


def session(master: str) -> Any:
    """A Spark session; on a local master everything stays on loopback."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            "--engine spark needs pyspark: pip install 'wikisearch[spark]'", "spark_missing"
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable("--engine spark needs Java (a JDK 17 or 21)", "java_missing")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("wikisearch build")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2048")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if "spark.sql.shuffle.partitions" not in dict(spark.sparkContext.getConf().getAll()):
        # Spark's 200 would cut a small build into slivers: length sorting needs full batches.
        spark.conf.set("spark.sql.shuffle.partitions", str(spark.sparkContext.defaultParallelism * 2))
    return spark


def _read_input(item: tuple[int, str, StreamRange | None], kind: str, options: dict[str, Any]) -> Iterator[tuple]:
    """One task reads one input file, or one range of a multistream dump, as the serial build would."""
    number, path, part = item
    source = open_source(kind, Path(path), part=part, **options)
    for position, page in enumerate(source):
        if page.redirect is not None:
            yield ("alias", 0, None, page.title, page.redirect)
        else:
            yield ("page", shards.seq_of(number, position), page, "", "")
    for reason, count in source.skip_reasons.items():
        yield ("skip", count, None, reason, "")


def _chunking_schema() -> Any:
    """A chunk row as the tasks cut it: the shards' chunk columns (``shards.schema``) without
    the vector (joined on by key), with what the model reads and the chunk's sentences."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    declared = shards.schema(shards.CHUNKS)
    cut = declared.remove(declared.get_field_index("vector")).append(pa.field("embed_text", pa.string()))
    sentences = pa.list_(pa.struct([("text", pa.string()), ("hash", pa.string())]))
    return from_arrow_schema(cut.append(pa.field("sentences", sentences)))


def _chunk_rows(pages: Iterable[tuple], settings: ChunkSettings, spec: EncoderSpec, keep_sentences: bool):
    """Parse and chunk a partition of pages; a page with no text left is one row with ordinal -1."""
    encoder = _encoder(spec)
    for _, seq, page, _, _ in pages:
        assert isinstance(page, Page)
        head: tuple[Any, ...] = (seq, page.page_id, page.title, page.namespace, page.rev_id, page.timestamp)
        head += (page.url, page.code, page.code_language, page.action_url, page.source_hash, list(page.categories))
        chunks = page_chunks(page, settings, encoder)
        if not chunks:
            yield (*head, -1, "", "", "", "", "", [])
        for c in chunks:
            said = [(t, text_hash(t)) for t in sentences(c.text, page.title)] if keep_sentences else []
            yield (*head, c.ordinal, c.section, c.anchor, c.text, c.key, c.embed_text, said)


def _embedding(spec: EncoderSpec, batch_size: int):
    """mapInPandas: (key, text) frames in, (key, vector) frames out."""

    def embed(frames: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        encoder = _encoder(spec)
        for frame in frames:
            vectors = encoder.encode(frame["text"].tolist(), batch_size=batch_size)
            yield pd.DataFrame({"key": frame["key"], "vector": list(vectors)})

    return embed


@dataclass(frozen=True)
class Previous:
    """Vectors an earlier run or index computed: Parquet tables of (key, vector)."""

    chunks: str | None = None
    sentences: str | None = None


def spark_index(
    inputs: list[Path],
    kind: str,
    options: dict[str, Any],
    index_dir: Path | None,
    shards_out: Path | None,
    settings: Settings,
    replace: bool = False,
) -> BuildReport | None:
    """The build on Spark with the model a serial build of ``index_dir`` embeds with, then
    ``assemble``d into it. With ``shards_out`` the shards stay there (and a later run of the
    same model reuses their vectors, else the index's); without, they go to a scratch
    directory beside the index, removed once assembled. No report without an index."""
    from .assemble import assemble_index, previous_vectors

    if index_dir is None and shards_out is None:
        raise WikisearchError("give --index, --shards-out or both", "bad_parameter")
    if settings.build_runtime not in ("auto", "onnx"):
        raise WikisearchError("the spark engine encodes with ONNX Runtime (fp32): --runtime onnx", "bad_parameter")
    if index_dir is not None and not replace:
        existing_manifest(index_dir)  # a non-index directory is refused before Spark starts
    resolved = configured_model(settings)
    encoder = prepare_encoder(
        resolved, encoder_cache((index_dir or shards_out or Path(".")).absolute(), settings.encoder_cache)
    )
    if encoder is None:
        raise ModelError(f"{resolved.name}: no ONNX encoder could be exported; the spark engine needs one")
    model = replace_field(resolved.info(), dimensions=resolved.card.dimensions if resolved.card else 0)
    scratch = None if index_dir is None else cache_beside(index_dir) / f"spark-{index_dir.name}-{os.getpid()}"
    if shards_out is not None:
        root, previous = shards_out, _previous(shards_out, model, settings)
    else:  # then there is an index (checked above), and its scratch directory
        assert scratch is not None
        root, previous = scratch / "shards", Previous()
    if previous.chunks is None and index_dir is not None and scratch is not None:
        previous = Previous(*previous_vectors(index_dir, scratch / "previous", model.sha256))
    try:
        build_shards(
            inputs,
            root,
            settings,
            model,
            EncoderSpec(encoder, resolved.max_seq_length, model.dimensions or 0),
            kind=kind,
            options=options,
            previous=previous,
        )
        return None if index_dir is None else assemble_index(root, index_dir, settings, encoder, replace)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _previous(root: Path, model: ModelInfo, settings: Settings) -> Previous:
    """The vectors the shards published under ``root`` hold, if the same model made them."""
    last = shards.current(root)
    if last is None or shards.read_manifest(last).model.sha256 != model.sha256:  # not another model's vectors
        return Previous()
    return Previous(str(last / shards.CHUNKS), str(last / shards.SENTENCES) if settings.answer_sentences else None)


def build_shards(
    inputs: list[Path],
    root: Path,
    settings: Settings,
    model: ModelInfo,
    spec: EncoderSpec,
    *,
    kind: str = "dump",
    options: dict[str, Any] | None = None,
    previous: Previous = Previous(),
) -> Path:
    """Run the build on Spark (``settings.spark_master``) and publish its shards under ``root``;
    the version written. ``options``: the sources' (``open_source``)."""
    started = time.monotonic()
    options = options or {}
    if kind not in SPARK_SOURCES:
        raise DumpError(f"the spark engine reads {', '.join(SPARK_SOURCES)} inputs, not {kind}", "unknown_source")
    first = open_source(kind, inputs[0], **options)  # its <siteinfo> and description, read once on the driver
    described, site = first.describe(), first.site
    chunk_settings = ChunkSettings.from_settings(settings)
    spark = session(settings.spark_master)  # a clear error if pyspark or Java is missing
    shards.clean_unpublished(root)
    version = shards.new_version(root)
    try:
        files = [(n, str(path), part) for n, (path, part) in enumerate(_parts(inputs, kind, settings))]
        report = _stages(spark, files, kind, options, chunk_settings, spec, settings, previous, version)
        report.duration_s = round(time.monotonic() - started, 3)
        manifest = shards.ShardManifest(
            model=model,
            embedded_with=_runtime(spec),
            chunking=chunking_of(chunk_settings),
            source=replace_field(
                source_info(described, site),
                file=", ".join(p.name for p in inputs),
                bytes=sum(p.stat().st_size for p in inputs if p.is_file()),
            ),
            build=report,
            inputs=[str(p) for p in inputs],
            master=settings.spark_master,
        )
        crash_point("publish")
        shards.publish(version, manifest)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    finally:
        spark.stop()
    return version


def _parts(inputs: list[Path], kind: str, settings: Settings) -> list[tuple[Path, StreamRange | None]]:
    task_bytes = int(settings.spark_task_mb * 2**20)
    return [part for path in inputs for part in _tasks(path, kind, task_bytes)]


def _stages(
    spark: Any,
    files: list[tuple[int, str, StreamRange | None]],
    kind: str,
    options: dict[str, Any],
    chunk_settings: ChunkSettings,
    spec: EncoderSpec,
    settings: Settings,
    previous: Previous,
    version: Path,
) -> BuildReport:
    """Read, chunk, embed what is new, and write the shards tables into ``version``."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    records = sc.parallelize(files, len(files)).flatMap(lambda item: _read_input(item, kind, options))
    records.persist(StorageLevel.MEMORY_AND_DISK)
    skipped: dict[str, int] = {}
    for _, count, _, reason, _ in records.filter(lambda r: r[0] == "skip").collect():
        skipped[reason] = skipped.get(reason, 0) + count
    aliases = records.filter(lambda r: r[0] == "alias").map(lambda r: (r[3], r[4]))
    spark.createDataFrame(aliases, _spark(shards.ALIASES)).write.parquet(str(version / shards.ALIASES))
    keep = settings.answer_sentences
    pages = records.filter(lambda r: r[0] == "page").repartition(max(sc.defaultParallelism * 2, len(files)))
    rows = pages.mapPartitions(lambda part: _chunk_rows(part, chunk_settings, spec, keep))
    chunks = spark.createDataFrame(rows, _chunking_schema()).persist(StorageLevel.MEMORY_AND_DISK)
    empty = chunks.filter("ordinal < 0").count()
    if empty:
        skipped["no text after parsing"] = skipped.get("no text after parsing", 0) + empty
    chunks = chunks.filter("ordinal >= 0")
    report = BuildReport(skipped=skipped)
    texts = chunks.select("key", F.col("embed_text").alias("text")).dropDuplicates(["key"])
    said = chunks.select("seq", "ordinal", F.posexplode("sentences").alias("position", "sentence")).select(
        "seq", "ordinal", "position", F.col("sentence.text").alias("text"), F.col("sentence.hash").alias("key")
    )
    vectors, report.chunks_embedded, report.chunks_reused = _vectors(
        spark, texts, chunks.select("key"), previous.chunks, spec, settings.batch_size
    )
    sentence_texts = said.select("key", "text").dropDuplicates(["key"])
    sentence_vectors, report.sentences_embedded, report.sentences_reused = _vectors(
        spark, sentence_texts, said.select("key"), previous.sentences, spec, 32
    )
    _write(chunks.join(vectors, "key").orderBy("seq", "ordinal"), version, shards.CHUNKS)
    _write(said.join(sentence_vectors, "key").orderBy("seq", "ordinal", "position"), version, shards.SENTENCES)
    return report


def _spark(table: str) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(shards.schema(table))


def _write(frame: Any, version: Path, table: str) -> None:
    """One shards table, its columns as declared (``shards.schema``), in that order."""
    from pyspark.sql import functions as F

    columns = [F.col(f.name).cast(f.dataType) for f in _spark(table).fields]
    frame.select(*columns).write.parquet(str(version / table))


def _tasks(path: Path, kind: str, task_bytes: int) -> list[tuple[Path, StreamRange | None]]:
    """What one task reads: a dump, a range of a multistream dump (by its index), or a table's part."""
    if kind == "content-table":
        return [(part, None) for part in table_files(path)]
    index = multistream.index_of(path) if kind == "dump" else None
    if index is None:
        return [(path, None)]
    return [(path, part) for part in multistream.plan(path, index, task_bytes)]


def _vectors(spark: Any, texts: Any, used: Any, previous: str | None, spec: EncoderSpec, batch: int):
    """(key, vector) of every text: the previous run's where it has them, the rest
    embedded now; with how many distinct texts were embedded and how many rows reused."""
    from pyspark.sql import functions as F

    missing = texts
    reused_rows = 0
    old = None
    if previous:
        old = spark.read.parquet(previous).select("key", "vector").dropDuplicates(["key"])
        missing = texts.join(old, "key", "left_anti")
        reused_rows = used.join(old.select("key"), "key", "left_semi").count()
    missing = missing.persist()
    embedded_count = missing.count()
    embedded = missing.mapInPandas(_embedding(spec, batch), VECTOR_COLUMNS)
    if old is not None:
        embedded = embedded.unionByName(old.join(texts.select("key"), "key", "left_semi"))
    embedded = embedded.select("key", F.col("vector")).persist()
    embedded.count()  # embedded once here, not again by the sort's sampling pass
    return embedded, embedded_count, reused_rows


def _runtime(spec: EncoderSpec) -> Runtime:
    import onnxruntime

    return Runtime("onnxruntime", onnxruntime.__version__, spec.encoder.info.precision, spec.encoder.info.onnx_sha256)
