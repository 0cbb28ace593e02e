"""Encoding without torch: the model exported to ONNX at build time and run
with ONNX Runtime and the model's own tokenizer, both stored with the index.
Builds encode chunks with it too where the CPU has no native bfloat16 (``build_runtime``
``onnx``, or ``auto`` there): with length-sorted batches it is faster than
sentence-transformers on this CPU.

The exported graph includes the model's mean pooling and L2 normalisation, so
it produces the same vectors as the sentence-transformers model that built the
index (cosine >= 0.999, tested). Serving then needs neither torch nor
sentence-transformers, which keeps a web worker small.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .models import ResolvedModel, Runtime, file_sha256, offline_and_quiet

logger = logging.getLogger(__name__)

ONNX_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
OPSET = 17
#: What an exported graph may read, in this order; a model's export reads those its forward takes.
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_inputs(model: Any) -> list[str]:
    """What a transformers model reads, of ``INPUTS``: BERT reads token types, MPNet has none."""
    return [name for name in INPUTS if name in inspect.signature(model.forward).parameters]


def mean_pooled(hidden: Any, attention_mask: Any) -> Any:
    """The sentence vector of sentence-transformers' models: the mean of the unpadded
    tokens' hidden states, L2-normalised (torch tensors)."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


@dataclass(frozen=True)
class EncoderInfo:
    """An exported query encoder's files and checksum, as an index records them."""

    onnx: str
    onnx_sha256: str
    tokenizer: str
    opset: int
    precision: str = "fp32"


@dataclass(frozen=True)
class ExportedEncoder:
    """An exported encoder on disk: the directory that holds its files."""

    directory: Path
    info: EncoderInfo


def export_onnx(model: ResolvedModel, out_dir: Path) -> EncoderInfo:
    """Export ``model`` (mean-pooled, normalised) to ``out_dir``; needs torch and onnx."""
    offline_and_quiet()
    import torch
    from transformers import AutoModel

    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ModelError("exporting the query encoder needs the onnx package: pip install onnx") from None

    out_dir.mkdir(parents=True, exist_ok=True)
    encoder = AutoModel.from_pretrained(str(model.path), local_files_only=True).eval()
    inputs = model_inputs(encoder)  # the graph takes what the model's forward does

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any):
            super().__init__()
            self.bert = encoder  # the attribute names the graph's weights: exports stay as before

        def forward(self, *feed: Any) -> Any:
            named = dict(zip(inputs, feed, strict=True))
            return mean_pooled(self.bert(**named).last_hidden_state, named["attention_mask"])

    sample = torch.ones((1, 8), dtype=torch.long)
    dynamic: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in inputs}
    dynamic["embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warnings about shape-dependent branches: the test compares the
        # export with the model on many lengths and batch sizes.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(encoder),
            tuple(torch.zeros_like(sample) if name == "token_type_ids" else sample for name in inputs),
            str(out_dir / ONNX_FILE),
            input_names=inputs,
            output_names=["embedding"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    shutil.copyfile(model.path / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    return EncoderInfo(ONNX_FILE, file_sha256(out_dir / ONNX_FILE), TOKENIZER_FILE, OPSET)


class TokenizedEncoder:
    """What every encoder of ours shares: the model's own tokenizer, token counts as
    the chunker needs them, and batches cut from texts sorted by length."""

    inputs: list[str]
    dimensions: int
    runtime: Runtime

    def __init__(self, tokenizer_file: Path, max_seq_length: int):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.no_padding()  # the file may ask for fixed padding: encode() pads per batch
        # Chunking counts whole texts, as sentence-transformers' tokenizer does:
        # no truncation, no [CLS]/[SEP], so both runtimes cut chunks the same way.
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The normalised vectors of one padded batch."""
        raise NotImplementedError

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors in the order of ``texts``. Batches are cut from the texts
        sorted by length, so a batch pads little: that alone nearly doubles
        build throughput over encoding chunks in document order."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encoded = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i].ids))
        out: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encoded[i].ids) for i in rows)
            feed = {name: np.zeros((len(rows), width), dtype=np.int64) for name in self.inputs}
            for row, i in enumerate(rows):
                e = encoded[i]
                feed["input_ids"][row, : len(e.ids)] = e.ids
                feed["attention_mask"][row, : len(e.ids)] = 1
                if "token_type_ids" in feed:
                    feed["token_type_ids"][row, : len(e.ids)] = e.type_ids
            vectors = self.run(feed)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=False)]


class OnnxEncoder(TokenizedEncoder):
    """Encodes with ONNX Runtime; the files' sha256 is checked before use."""

    def __init__(
        self, directory: Path, info: EncoderInfo, max_seq_length: int, dimensions: int | None, threads: int = 0
    ):
        import onnxruntime

        path = directory / info.onnx
        if not path.is_file():
            raise ModelError(f"{directory}: query encoder {path.name} is missing")
        actual = file_sha256(path)
        if actual != info.onnx_sha256:
            raise ModelError(f"{directory}: query encoder {path.name} does not verify (sha256 {actual[:16]}…)")
        super().__init__(directory / info.tokenizer, max_seq_length)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: a query's FAISS scan runs right
        # after its encoding and would otherwise fight spinning threads for the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]  # fed only what the graph declares
        self.sha256 = actual
        self.dimensions = dimensions or 0
        if not dimensions:  # an unvetted model has no card: ask the graph
            self.dimensions = int(self.encode(["dimensions"]).shape[1])
        self.runtime = Runtime("onnxruntime", onnxruntime.__version__, info.precision, actual)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, feed)[0])


def _cached(cache: Path, make: Callable[[Path], EncoderInfo]) -> ExportedEncoder:
    """``cache`` if its encoder verifies, else made anew by ``make(tmp)`` (which
    fills a fresh directory and returns its info) and renamed into place."""
    info_file = cache / "encoder.json"
    if info_file.is_file():
        try:
            info = EncoderInfo(**json.loads(info_file.read_text()))
        except (ValueError, TypeError):
            info = None
        if info and (cache / info.onnx).is_file() and file_sha256(cache / info.onnx) == info.onnx_sha256:
            return ExportedEncoder(cache, info)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    info = make(tmp)
    (tmp / "encoder.json").write_text(json.dumps(dataclasses.asdict(info)))
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    return ExportedEncoder(cache, info)


#: The directory beside an index that holds what its builds can reuse or throw away.
CACHE_DIR = ".wikisearch-cache"


def cache_beside(index_dir: Path) -> Path:
    """The cache directory of ``index_dir``: beside it, so that a rename moves nothing."""
    return index_dir.absolute().parent / CACHE_DIR


def encoder_cache(index_dir: Path, configured: str = "") -> Path:
    """Where builds of ``index_dir`` keep model exports: ``configured``
    (``Settings.encoder_cache``), else the cache beside the index."""
    return Path(configured).absolute() if configured else cache_beside(index_dir)


def prepare_encoder(model: ResolvedModel, cache: Path) -> ExportedEncoder | None:
    """The exported encoder of ``model``, from ``cache`` (exported once per model
    sha256). None, with a warning, if it cannot be exported: the server then
    encodes queries with sentence-transformers instead."""
    cache = cache / f"onnx-{model.sha256[:16]}-opset{OPSET}"
    try:
        return _cached(cache, lambda tmp: export_onnx(model, tmp))
    except (ModelError, OSError, RuntimeError, ImportError) as exc:
        logger.warning("no ONNX query encoder (%s): the server will load torch to encode queries", exc)
        return None


def quantized(encoder: ExportedEncoder) -> ExportedEncoder:
    """The int8 (dynamic quantisation) copy of an exported encoder, made once beside it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = encoder.directory

    def make(tmp: Path) -> EncoderInfo:
        quantize_dynamic(str(source / ONNX_FILE), str(tmp / ONNX_FILE), weight_type=QuantType.QInt8)
        shutil.copyfile(source / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        return dataclasses.replace(encoder.info, onnx_sha256=file_sha256(tmp / ONNX_FILE), precision="int8")

    return _cached(source.with_name(source.name + "-int8"), make)


def query_encoder(model: ResolvedModel, cache: Path, runtime: str = "onnx") -> ExportedEncoder | None:
    """The exported encoder an index built with ``runtime`` stores to read queries:
    with onnx-int8, its int8 quantisation (as the chunks were encoded)."""
    encoder = prepare_encoder(model, cache)
    return quantized(encoder) if runtime == "onnx-int8" and encoder is not None else encoder
