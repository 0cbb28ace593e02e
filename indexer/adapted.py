"""The adapted model an index carries, and going back to its base.

An adapted index stores its adapted model (``index_format.MODEL``): builds,
syncs and Spark builds embed with it — or, adapted on the query side only,
embed with the base model and store the adapted one's export to read
queries — and ``adapt --undo`` returns to the base.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import IndexFormatError, ModelError, WikisearchError
from core.models import Embedder, ModelInfo, ResolvedModel, file_sha256, resolve_model
from core.onnx_encoder import ExportedEncoder, embedder_for, encoder_cache, query_encoder
from core.settings import Settings
from index_format import MODEL, Adaptation, BuildReport, Manifest, existing_manifest, relabel_version

from .reembed import reembed_index


class AdaptError(WikisearchError):
    """The index cannot be adapted (too few pairs, no encoder for the result, a side
    that cannot learn on top of the other) or undone (nothing adapted)."""


#: What an adapted model's provenance adds to its base's (``model info``, ``/about``).
ADAPTED_OSAID = (
    "; adapted to this wiki by wikisearch adapt: open adaptation code (wikisearch, GPL-3.0-or-later) "
    "and open adaptation data (the wiki's own pages)"
)


@dataclass(frozen=True)
class BuildModels:
    """What a build of an index embeds its chunks with, and what it stores with each version."""

    embedder: Embedder
    model: ModelInfo  # the chunks' vectors' model, as the manifest records it
    encoder: ExportedEncoder | None  # what reads queries
    adapted: tuple[Path, Adaptation] | None  # the adapted model, carried to each new version


def build_models(index_dir: Path, settings: Settings, replace: bool = False) -> BuildModels:
    """What a build of ``index_dir`` embeds with (``chunk_model``), and what of the index's
    adaptation each new version keeps (``kept_adaptation``). ``replace`` rebuilds from
    scratch, with the configured model."""
    model, manifest = chunk_model(index_dir, settings, replace)
    embedder, encoder = embedder_for(model, index_dir, settings)
    return BuildModels(embedder, model.info(), *kept_adaptation(index_dir, manifest, model.sha256, encoder))


def chunk_model(index_dir: Path, settings: Settings, replace: bool = False) -> tuple[ResolvedModel, Manifest | None]:
    """The model a build of ``index_dir`` embeds its chunks with — its whole adapted model
    (weights verified) when it was adapted from the configured one, else the configured
    model (also when only the side that reads queries was adapted) — and the index's
    manifest, as read (None with ``replace``, or with no index there)."""
    base = resolve_model(settings.model, settings.allow_unvetted_model)
    manifest = None if replace else existing_manifest(index_dir)
    made = manifest.adaptation if manifest is not None else None
    if manifest is None or made is None or made.base.sha256 != base.sha256 or manifest.queries_adapted:
        return base, manifest
    adapted = adapted_model(base, index_dir / MODEL, made.weights_sha256, adapted_name(base, manifest, index_dir))
    return adapted, manifest


def kept_adaptation(
    index_dir: Path, manifest: Manifest | None, model_sha256: str, encoder: ExportedEncoder | None
) -> tuple[ExportedEncoder | None, tuple[Path, Adaptation] | None]:
    """What reads the queries of a new version of ``index_dir`` (``manifest``: its own, as
    already read) whose chunks the model ``model_sha256`` embedded, and the adapted model
    (weights verified) it keeps: adapted on the query side, the stored export that reads
    them; else ``encoder``, the chunks' model's export. No adapted model is kept when the
    index is not adapted, or when the chunks are another model's. So a build from any
    source, Spark shards too, keeps what was adapted."""
    made = manifest.adaptation if manifest is not None else None
    if manifest is None or made is None:
        return encoder, None
    if manifest.queries_adapted:
        if made.base.sha256 != model_sha256:
            return encoder, None
        if manifest.encoder is None:
            raise AdaptError(f"{index_dir}: adapted to read queries, but no encoder for them is stored", "no_encoder")
        _verify(index_dir / MODEL, made.weights_sha256)
        return ExportedEncoder(index_dir.resolve(), manifest.encoder), (index_dir / MODEL, made)
    if manifest.model.sha256 != model_sha256:
        return encoder, None
    _verify(index_dir / MODEL, made.weights_sha256)
    return encoder, (index_dir / MODEL, made)


def adapted_name(base: ResolvedModel, manifest: Manifest, index_dir: Path) -> str:
    site = manifest.source.siteinfo.dbname or manifest.source.siteinfo.sitename or index_dir.name
    return f"{base.name} adapted to {site}"


def reading_queries(model: ResolvedModel, index_dir: Path, settings: Settings) -> ExportedEncoder:
    """The ONNX export that reads an index's queries: without one, the server would read
    them with the model the manifest names, the base, and miss what was adapted."""
    cache = encoder_cache(index_dir, settings.encoder_cache)
    return serving(model, query_encoder(model, cache, settings.build_runtime))


def serving(model: ResolvedModel, encoder: ExportedEncoder | None) -> ExportedEncoder:
    """An adapted model's export, which the index must store: the server has no other way to it."""
    if encoder is None:
        raise AdaptError(f"{model.name}: no ONNX encoder could be exported to serve it", "no_encoder")
    return encoder


def _verify(directory: Path, sha256: str) -> None:
    weights = directory / "model.safetensors"
    actual = file_sha256(weights) if weights.is_file() else "missing"
    if actual != sha256:
        raise ModelError(
            f"{directory}: the adapted weights do not verify (sha256 {actual[:16]}…, expected {sha256[:16]}…)"
        )


def adapted_model(base: ResolvedModel, directory: Path, sha256: str, name: str) -> ResolvedModel:
    _verify(directory, sha256)
    card = base.card
    if card is not None:
        card = replace(card, name=name, sha256=sha256, osaid_reason=card.osaid_reason + ADAPTED_OSAID)
    return ResolvedModel(name, directory, sha256, True, base.vetted, card)


def base_of(manifest: Manifest, settings: Settings) -> ResolvedModel:
    """The registry model an index's model is, or was adapted from: adapting starts from it again."""
    name = manifest.adaptation.base.name if manifest.adaptation else manifest.model.name
    return resolve_model(name, settings.allow_unvetted_model)


def manifest_of(index_dir: Path) -> Manifest:
    manifest = existing_manifest(index_dir)
    if manifest is None:
        raise IndexFormatError(f"{index_dir}: no index here to adapt (build one first)", "no_index")
    return manifest


def unadapt_index(index_dir: Path, settings: Settings) -> tuple[str, BuildReport | None]:
    """Back to the model an adapted index was adapted from, its adapted model dropped:
    the index re-embedded with it — or, adapted on the query side only, its queries
    read by it again, with nothing to re-embed (no report then). Atomic, and it reads
    only the index, as ``adapt_index`` does. Returns the model's name and the report."""
    manifest = manifest_of(index_dir)
    if manifest.adaptation is None:
        raise AdaptError(
            f"{index_dir}: its model, {manifest.model.name}, is not adapted: nothing to undo", "not_adapted"
        )
    base = base_of(manifest, settings)
    if manifest.queries_adapted:
        stock = query_encoder(base, encoder_cache(index_dir, settings.encoder_cache), settings.build_runtime)
        relabel_version(index_dir, manifest.replace(adaptation=None), stock, None)
        return base.name, None
    embedder, encoder = embedder_for(base, index_dir, settings)
    return base.name, reembed_index(index_dir, embedder, base.info(), settings, encoder=encoder)
