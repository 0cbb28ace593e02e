"""The manifest: what an index is, typed. Written and read only here.

``manifest.json`` is the JSON form of ``Manifest``; everything else reads
attributes. Keys a newer or older wikisearch wrote that this one does not know
are ignored, and missing ones take their defaults, so an older manifest of the
same format version still reads.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dacite

from core.documents import Action
from core.errors import IndexFormatError
from core.models import ModelInfo, Runtime
from core.onnx_encoder import EncoderInfo

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
STORE = "store.sqlite"
#: The answer line's sentence vectors: float16 rows, ``model.dimensions`` wide.
SENTENCES = "sentences.f16"
#: tantivy's lexical index, in a large index only (``lexical``).
LEXICAL = "lexical.tantivy"
#: The adapted model's files (sentence-transformers layout), in an adapted index only.
MODEL = "model"


@dataclass(frozen=True)
class SiteMeta:
    sitename: str = ""
    dbname: str = ""
    base: str = ""
    generator: str = ""


@dataclass(frozen=True)
class SourceInfo:
    """Where the documents came from, as the source describes itself."""

    type: str = ""
    path: str = ""
    file: str = ""
    bytes: int = 0
    schema: str = ""
    siteinfo: SiteMeta = field(default_factory=SiteMeta)
    namespaces: list[int] = field(default_factory=list)
    preset: str | None = None
    max_pages: int | None = None
    action: Action | None = None


@dataclass(frozen=True)
class Chunking:
    """How pages were cut: unchanged pages keep their chunks only if this is equal."""

    chunk_tokens: int
    overlap: int
    min_tokens: int
    version: int


@dataclass(frozen=True)
class Counts:
    pages: int = 0
    chunks: int = 0
    aliases: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    sentences: int = 0  # 0: no answer line (not stored, or an index from before it)


@dataclass(frozen=True)
class VectorIndexInfo:
    """The FAISS index type, as chosen at commit."""

    faiss: str = "IndexFlatIP"
    metric: str = "inner_product"
    normalized: bool = True
    chosen: str = "auto"
    M: int | None = None
    ef_construction: int | None = None
    ef_search: int | None = None
    graph_build_s: float | None = None  # time to build the graph (HNSW) or train and fill the lists (IVF-PQ)
    nlist: int | None = None  # IVF-PQ: inverted lists
    pq_m: int | None = None  # IVF-PQ: bytes of code per vector
    nprobe: int | None = None  # IVF-PQ: lists searched per query
    k_factor: int | None = None  # IVF-PQ: candidates re-ranked exactly per result asked for


@dataclass
class BuildReport:
    """What a build did: counted while it runs, then recorded in the manifest."""

    pages: int = 0
    chunks: int = 0
    aliases: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    sentences: int = 0
    pages_added: int = 0
    pages_changed: int = 0
    pages_unchanged: int = 0
    pages_removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    sentences_embedded: int = 0
    sentences_reused: int = 0
    duration_s: float = 0.0
    version: str = ""


@dataclass(frozen=True)
class SyncState:
    """Where following a live wiki left off; committed with the version it built."""

    api: str  # the api.php URL
    since: str  # the wiki's time up to which every change is in this version
    full_pass: str = ""  # the wiki's time of the last pass over every page


@dataclass(frozen=True)
class AdaptRecipe:
    """How ``wikisearch adapt`` trained: enough to do it again and get the same weights."""

    pair_kinds: list[str]
    max_pairs: int
    epochs: int
    learning_rate: float
    batch_size: int
    seed: int
    warmup_share: float
    max_seq_length: int
    loss: str
    freeze_embeddings: bool = False
    max_tokens: int = 0
    max_pages: int = 0  # 0: not recorded (adapted before pages were sampled)
    #: model: the whole model (chunks and queries); query: only the side that reads queries.
    side: str = "model"
    #: bf16: the matrix products in bfloat16 (weights and loss in float32); fp32 throughout.
    precision: str = "fp32"


def arithmetic(precision: str) -> str:
    """An ``AdaptRecipe.precision`` in words, for ``model info`` and /about."""
    return "bfloat16 matrix products, float32 weights" if precision == "bf16" else "float32"


@dataclass(frozen=True)
class Adaptation:
    """``base`` adapted to this wiki, its weights in ``MODEL``: the index's model, or
    with ``recipe.side`` query only what reads the queries (``Manifest.queries_adapted``)."""

    base: ModelInfo
    weights_sha256: str
    recipe: AdaptRecipe
    pairs: dict[str, int]  # training pairs, by kind
    held_back_pairs: int
    held_back_before: float
    held_back_after: float
    metric: str
    steps: int
    training_s: float
    adapted_at: str
    #: Where the pairs came from: the wiki's own pages, under the wiki's licence.
    data: str = ""
    #: nDCG@10 on the judgements given with ``--eval``, before and after.
    eval_before: float | None = None
    eval_after: float | None = None
    #: The held-back score of each pair kind, [before, after].
    held_back_by_kind: dict[str, list[float]] = field(default_factory=dict)
    #: Held-back pages, and the 5th percentile of the gain over resamples of them (the gate).
    held_back_pages: int = 0
    held_back_gain_low: float | None = None


@dataclass(frozen=True)
class Manifest:
    model: ModelInfo
    format_version: int = FORMAT_VERSION
    created_at: str = ""
    embedded_with: Runtime | None = None
    source: SourceInfo = field(default_factory=SourceInfo)
    chunking: Chunking | None = None
    counts: Counts = field(default_factory=Counts)
    build: BuildReport = field(default_factory=BuildReport)
    index: VectorIndexInfo = field(default_factory=VectorIndexInfo)
    lexical_engine: str = "fts5"  # fts5 (chunks_fts in the store) or tantivy (LEXICAL beside it)
    encoder: EncoderInfo | None = None
    sync: SyncState | None = None
    adaptation: Adaptation | None = None

    @property
    def queries_adapted(self) -> bool:
        """Only the side that reads queries is adapted: the chunks keep the vectors of
        ``model`` (the base), and ``encoder``, the adapted model's export, reads queries."""
        return self.adaptation is not None and self.adaptation.recipe.side == "query"

    @property
    def chunks_adapted(self) -> bool:
        """The whole model is adapted: the chunks' vectors are the adapted model's, not the base's."""
        return self.adaptation is not None and not self.queries_adapted

    def to_json(self) -> str:
        return json.dumps(as_dict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; ValueError says what is wrong with it."""
        data = json.loads(text)
        if not isinstance(data, dict) or "format_version" not in data or "model" not in data:
            raise ValueError("no format_version or model")
        return from_dict(cls, data)

    def replace(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, **changes)


T = TypeVar("T")
_CONFIG = dacite.Config(cast=[float])


def from_dict(kind: type[T], data: dict[str, Any]) -> T:
    """A typed value from its JSON form; unknown keys are ignored."""
    try:
        return dacite.from_dict(kind, data, config=_CONFIG)
    except dacite.DaciteError as exc:
        raise ValueError(str(exc)) from None


def as_dict(value: Any) -> dict[str, Any]:
    """The JSON form of a typed value (the inverse of ``from_dict``)."""
    return dataclasses.asdict(value)


def read_manifest(directory: Path, display: Path | None = None) -> Manifest:
    """The manifest of the index version in ``directory``, checked for this format version."""
    display = display or directory
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"{display}: not a wikisearch index ({MANIFEST} is missing)")
    try:
        text = path.read_text("utf-8")
        raw = json.loads(text)
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{display}: {MANIFEST} is unreadable: {first_line(exc)}") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version is not None and "model" in raw and version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{display}: index format version {version}, this wikisearch reads version {FORMAT_VERSION}; "
            "rebuild it with --replace"
        )
    try:
        return Manifest.from_json(text)
    except ValueError as exc:
        raise IndexFormatError(f"{display}: {MANIFEST} is not a wikisearch manifest ({first_line(exc)})") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
