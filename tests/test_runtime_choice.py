"""Which runtime encodes a build's chunks: the setting, or for auto the index's own precision."""

from __future__ import annotations

import pytest

from indexer import index_model
from indexer.index_model import build_runtime

CASES = [
    # setting, precision of the index there (None: no index), CPU multiplies bf16 natively, runtime
    ("auto", None, True, "bf16"),
    ("auto", None, False, "onnx"),
    ("auto", "fp32", True, "onnx"),
    ("auto", "bf16", True, "bf16"),
    ("auto", "int8", True, "onnx-int8"),
    ("auto", "fp16", True, "onnx"),  # a precision this wikisearch does not make: float32
    ("onnx", "bf16", True, "onnx"),
    ("torch", None, True, "torch"),
    ("bf16", "fp32", True, "bf16"),
]


@pytest.mark.parametrize(("setting", "precision", "native", "expected"), CASES)
def test_the_runtime_a_build_uses(
    monkeypatch: pytest.MonkeyPatch, setting: str, precision: str | None, native: bool, expected: str
) -> None:
    monkeypatch.setattr(index_model, "native_bf16", lambda: native)
    assert build_runtime(setting, precision) == expected
