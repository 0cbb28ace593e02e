"""Query encoding without torch: the model exported to ONNX at build time and
run with ONNX Runtime and the model's own tokenizer, both stored with the index.

The exported graph includes the model's mean pooling and L2 normalisation, so
it produces the same vectors as the sentence-transformers model that built the
index (cosine >= 0.999, tested). Serving then needs neither torch nor
sentence-transformers, which keeps a web worker small.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .models import ResolvedModel, file_sha256

logger = logging.getLogger(__name__)

ONNX_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
OPSET = 17


def export_onnx(model: ResolvedModel, out_dir: Path) -> dict[str, Any]:
    """Export ``model`` (mean-pooled, normalised) to ``out_dir``; needs torch and onnx."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()

    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ModelError("exporting the query encoder needs the onnx package: pip install onnx") from None

    class Pooled(torch.nn.Module):
        def __init__(self, bert: Any):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    out_dir.mkdir(parents=True, exist_ok=True)
    bert = AutoModel.from_pretrained(str(model.path), local_files_only=True).eval()
    sample = torch.ones((1, 8), dtype=torch.long)
    axes = {"b": 0, "s": 1}
    dynamic = {
        name: {axes["b"]: "batch", axes["s"]: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    dynamic["embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warnings about shape-dependent branches: the test compares the
        # export with the model on many lengths and batch sizes.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(bert),
            (sample, sample, torch.zeros_like(sample)),
            str(out_dir / ONNX_FILE),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    shutil.copyfile(model.path / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    return {
        "onnx": ONNX_FILE,
        "onnx_sha256": file_sha256(out_dir / ONNX_FILE),
        "tokenizer": TOKENIZER_FILE,
        "opset": OPSET,
    }


class OnnxEncoder:
    """Encodes queries with ONNX Runtime; the files' sha256 is checked before use."""

    def __init__(self, directory: Path, info: dict[str, Any], max_seq_length: int, dimensions: int, threads: int = 0):
        import onnxruntime
        from tokenizers import Tokenizer

        path = directory / str(info.get("onnx", ONNX_FILE))
        if not path.is_file():
            raise ModelError(f"{directory}: query encoder {path.name} is missing")
        actual = file_sha256(path)
        if actual != info.get("onnx_sha256"):
            raise ModelError(f"{directory}: query encoder {path.name} does not verify (sha256 {actual[:16]}…)")
        self.tokenizer = Tokenizer.from_file(str(directory / str(info.get("tokenizer", TOKENIZER_FILE))))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.dimensions = dimensions
        self.sha256 = actual

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer.encode_batch(texts[start : start + batch_size])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            out.append(self.session.run(None, feed)[0])
        if not out:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [sum(e.attention_mask) - 2 for e in self.tokenizer.encode_batch(texts)]


def prepare_encoder(model: ResolvedModel, cache_root: Path) -> tuple[Path, dict[str, Any]] | None:
    """The exported encoder of ``model``, from a cache beside the indexes (exported
    once per model sha256). None, with a warning, if it cannot be exported: the
    server then encodes queries with sentence-transformers instead."""
    import json
    import tempfile

    cache = cache_root / ".wikisearch-cache" / f"onnx-{model.sha256[:16]}-opset{OPSET}"
    info_file = cache / "encoder.json"
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        if (cache / ONNX_FILE).is_file() and file_sha256(cache / ONNX_FILE) == info.get("onnx_sha256"):
            return cache, info
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=cache.parent))
        info = export_onnx(model, tmp)
        (tmp / "encoder.json").write_text(json.dumps(info))
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
    except (ModelError, OSError, RuntimeError, ImportError) as exc:
        logger.warning("no ONNX query encoder (%s): the server will load torch to encode queries", exc)
        return None
    return cache, info
