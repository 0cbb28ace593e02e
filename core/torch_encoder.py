"""Encoding chunks with bfloat16 matrix products, where the CPU multiplies them natively.

On a CPU with bfloat16 dot products (AVX512-BF16, AMX) torch multiplies
bfloat16 matrices several times faster than float32, so the model's linear
layers, most of its work, run in bfloat16; layer norms, softmax and the
pooling stay in float32 (autocast), and the vectors agree with the float32
model's to a cosine of about 0.9999. Queries are still read by the float32
ONNX export, so serving needs no torch. Where the CPU would only emulate
bfloat16 (slower than float32), this encoder is refused.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .errors import ModelError
from .models import ResolvedModel, Runtime, offline_and_quiet
from .onnx_encoder import TOKENIZER_FILE, TokenizedEncoder, mean_pooled, model_inputs


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (elsewhere torch emulates it, slowly)."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


class Bf16Encoder(TokenizedEncoder):
    """The model in torch, its matrix products in bfloat16, fed batches cut by length."""

    def __init__(self, model: ResolvedModel, threads: int = 0):
        if not native_bf16():
            raise ModelError("this CPU does not multiply bfloat16 natively: build with --runtime onnx", "no_bf16")
        if not (model.path / TOKENIZER_FILE).is_file():
            raise ModelError(f"model {model.name}: no {TOKENIZER_FILE} to tokenize with: use --runtime onnx")
        offline_and_quiet()
        import torch
        from transformers import AutoModel

        if threads:
            torch.set_num_threads(threads)
        super().__init__(model.path / TOKENIZER_FILE, model.max_seq_length)
        self.model: Any = AutoModel.from_pretrained(str(model.path), local_files_only=True).eval()
        self.model.requires_grad_(False)
        self.inputs = model_inputs(self.model)
        self.dimensions = int(self.model.config.hidden_size)
        self.runtime = Runtime("torch", torch.__version__, "bf16")

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """As every encoder does, in one autocast scope: its weights are cast to bfloat16 once, not per batch."""
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return super().encode(texts, batch_size)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        tensors = {name: torch.from_numpy(values) for name, values in feed.items()}
        hidden = self.model(**tensors).last_hidden_state.float()
        return mean_pooled(hidden, tensors["attention_mask"]).numpy()
