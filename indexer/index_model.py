"""Which model embeds an index's chunks, and what reads its queries: decided once.

Every way of writing a version — a build, a sync, a Spark build and ``assemble``
— embeds with the configured model and stores what reads queries: that model's
export, or, in an index ``wikisearch adapt`` adapted, the adapted export and its
model, which each new version carries over while the chunks are the base's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import IndexFormatError, ModelError
from core.models import (
    Embedder,
    ModelInfo,
    ResolvedModel,
    Runtime,
    SentenceTransformerEmbedder,
    file_sha256,
    resolve_model,
)
from core.onnx_encoder import ExportedEncoder, OnnxEncoder, encoder_cache, query_encoder
from core.settings import Settings
from core.torch_encoder import Bf16Encoder, native_bf16
from index_format import MODEL, Adaptation, IndexWriter, Manifest, existing_manifest


@dataclass(frozen=True)
class QueryReader:
    """What reads a version's queries: ``encoder`` (None: the model the manifest names)
    and, in an adapted index, the adapted model's files and record, kept with it."""

    encoder: ExportedEncoder | None = None
    adapted: tuple[Path, Adaptation] | None = None

    def store(self, writer: IndexWriter) -> None:
        if self.encoder is not None:
            writer.add_encoder(self.encoder.directory, self.encoder.info)
        if self.adapted is not None:
            writer.add_model(*self.adapted)


@dataclass(frozen=True)
class BuildModels:
    """What a build of an index embeds its chunks with, and what reads its queries."""

    embedder: Embedder
    model: ModelInfo
    reader: QueryReader


def configured_model(settings: Settings) -> ResolvedModel:
    return resolve_model(settings.model, settings.allow_unvetted_model)


def build_models(index_dir: Path, settings: Settings, replace: bool = False) -> BuildModels:
    """The configured model, loaded to embed, and what reads the new version's queries.
    ``replace`` rebuilds from scratch: nothing of the index there is kept."""
    model = configured_model(settings)
    manifest = None if replace else existing_manifest(index_dir)
    runtime = build_runtime(settings.build_runtime, None if manifest is None else precision_of(manifest.embedded_with))
    cache = encoder_cache(index_dir, settings.encoder_cache)
    embedder, encoder = build_embedder(model, cache, runtime, settings.threads)
    return BuildModels(embedder, model.info(), kept_reader(index_dir, manifest, model.sha256, encoder))


def build_embedder(
    model: ResolvedModel, cache: Path, runtime: str = "onnx", threads: int = 0
) -> tuple[Embedder, ExportedEncoder | None]:
    """The embedder a build encodes chunks with, and the exported encoder to store
    with the index. ``runtime`` onnx uses the export (torch is imported only to
    export it once per model); onnx-int8 its int8 quantisation, which then also
    encodes the queries; bf16 the model in torch with bfloat16 matrix products
    (queries are read by the float32 export); torch, or a failed export, uses
    sentence-transformers."""
    encoder = query_encoder(model, cache, runtime)
    if runtime == "bf16":
        return Bf16Encoder(model, threads), encoder
    if runtime in ("onnx", "onnx-int8") and encoder is not None:
        dims = model.card.dimensions if model.card else None
        embedder = OnnxEncoder(encoder.directory, encoder.info, model.max_seq_length, dims, threads)
        return embedder, encoder
    return SentenceTransformerEmbedder(model, threads=threads), encoder


def precision_of(runtime: Runtime | None) -> str:
    """fp32, bf16 or int8: vectors of different precision are not mixed in one index
    (an index from before runtimes were recorded is fp32)."""
    return runtime.precision if runtime else "fp32"


#: The runtime that computes vectors of each precision an index records.
RUNTIME_OF_PRECISION = {"fp32": "onnx", "int8": "onnx-int8", "bf16": "bf16"}


def build_runtime(setting: str, precision: str | None) -> str:
    """What encodes a build's chunks: the ``setting``, or for ``auto`` the ``precision`` the
    index already has (None: no index yet). Its vectors are never mixed with another
    precision's, and a new precision would embed every chunk again. A new index gets
    bfloat16 where this CPU multiplies it natively (docs/reference/model.md), else float32 ONNX."""
    if setting != "auto":
        return setting
    if precision is not None:
        return RUNTIME_OF_PRECISION.get(precision, "onnx")
    return "bf16" if native_bf16() else "onnx"


def kept_reader(
    index_dir: Path, manifest: Manifest | None, model_sha256: str, encoder: ExportedEncoder | None
) -> QueryReader:
    """What reads the queries of a new version of ``index_dir`` (``manifest``: its own, as
    read) whose chunks the model ``model_sha256`` embedded: an adapted index's stored export
    (its adapted weights verified) while its chunks stay its base's, else ``encoder``."""
    made = manifest.adaptation if manifest is not None else None
    if manifest is None or made is None or not manifest.queries_adapted or made.base.sha256 != model_sha256:
        return QueryReader(encoder)
    if manifest.encoder is None:
        raise IndexFormatError(f"{index_dir}: adapted to read queries, but no encoder for them is stored", "no_encoder")
    verify_weights(index_dir / MODEL, made.weights_sha256)
    return QueryReader(ExportedEncoder(index_dir.resolve(), manifest.encoder), (index_dir / MODEL, made))


def verify_weights(directory: Path, sha256: str) -> None:
    weights = directory / "model.safetensors"
    actual = file_sha256(weights) if weights.is_file() else "missing"
    if actual != sha256:
        raise ModelError(
            f"{directory}: the adapted weights do not verify (sha256 {actual[:16]}…, expected {sha256[:16]}…)"
        )
