"""The torch-free query encoder: same vectors as the model that built the index,
verified before use, and a serving process that never imports torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelError
from core.onnx_encoder import OnnxEncoder, prepare_encoder
from core.torch_encoder import native_bf16
from index_format import Index
from tests.conftest import ROOT

pytestmark = pytest.mark.model


def test_onnx_vectors_equal_the_models(real_embedder, docs_index: Path) -> None:
    index = Index.open(docs_index)
    info = index.manifest.encoder
    onnx = OnnxEncoder(index.version_dir, info, 256, 384)
    rows = index.db().execute("SELECT section || char(10) || text FROM chunks ORDER BY random() LIMIT 60").fetchall()
    texts = [r[0] for r in rows] + ["how do I let people upload images", "$wgEnableUploads", "P31 Q146", "ünïcödé ✓"]
    ours, theirs = onnx.encode(texts, batch_size=16), real_embedder.encode(texts)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_a_tampered_encoder_is_refused(docs_index: Path, tmp_path: Path) -> None:
    index = Index.open(docs_index)
    copy = tmp_path / "v"
    shutil.copytree(index.version_dir, copy)
    data = bytearray((copy / "encoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "encoder.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not verify"):
        OnnxEncoder(copy, index.manifest.encoder, 256, 384)


def test_the_export_is_cached_per_model(real_embedder, tmp_path: Path) -> None:
    first = prepare_encoder(real_embedder.model, tmp_path)
    assert first is not None
    mtime = (first.directory / "encoder.onnx").stat().st_mtime
    second = prepare_encoder(real_embedder.model, tmp_path)
    assert second is not None and second.info == first.info
    assert (second.directory / "encoder.onnx").stat().st_mtime == mtime  # not exported again


def test_serving_never_imports_torch(docs_index: Path) -> None:
    script = f"""
import json, sys
from webapp import create_app
from core.settings import Settings
app = create_app(Settings.load({{"indexes": "docs={docs_index}"}}))
client = app.test_client()
data = client.get("/api/v1/search?q=uploading+files").get_json()
print(json.dumps({{"torch": "torch" in sys.modules, "st": "sentence_transformers" in sys.modules,
                  "titles": [r["title"] for r in data["results"][:3]]}}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["torch"] is False and out["st"] is False
    assert "Manual:$wgEnableUploads" in out["titles"]


def test_onnx_counts_tokens_as_the_model_does(real_embedder, docs_index: Path) -> None:
    """Chunks are cut by token counts: both runtimes must count alike, or a
    rebuild with the other runtime would cut (and embed) everything anew."""
    index = Index.open(docs_index)
    onnx = OnnxEncoder(index.version_dir, index.manifest.encoder, 256, 384)
    rows = index.db().execute("SELECT text FROM chunks ORDER BY random() LIMIT 100").fetchall()
    texts = [r[0] for r in rows] + [" ".join(r[0] for r in rows[:8]), "", "$wgEnableUploads", "ünïcödé ✓"]
    counts = onnx.count_tokens(texts)
    assert counts == real_embedder.count_tokens(texts)
    assert max(counts) > 256  # long texts are counted whole, not truncated


def test_builds_record_their_runtime_and_the_runtimes_agree(tmp_path: Path) -> None:
    """--runtime torch, onnx and the default cut the same chunks and make the same vectors
    (cosine ≥ 0.999). The default (auto) embeds a new index in bfloat16 where the CPU
    multiplies it natively, its queries still read by the float32 export, and a rebuild
    keeps whatever precision an index has: nothing is embedded again unasked."""
    from tests.conftest import DUMPS, run_cli

    dump = str(DUMPS / "mediawiki-docs.xml.bz2")

    def build(target: Path, runtime: str) -> str:
        result = run_cli(
            "build", dump, "--index", str(target), "--max-pages", "60", env={"WIKISEARCH_BUILD_RUNTIME": runtime}
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    built = {}
    for runtime in ("torch", "onnx", "auto"):
        build(tmp_path / runtime, runtime)
        built[runtime] = Index.open(tmp_path / runtime)
    assert built["torch"].manifest.embedded_with.runtime == "sentence-transformers"
    assert built["onnx"].manifest.embedded_with.runtime == "onnxruntime"
    default = built["auto"].manifest
    assert default.embedded_with.precision == ("bf16" if native_bf16() else "fp32")
    assert default.encoder.precision == "fp32"  # queries: the float32 export, no torch in the server
    hashes = {r: [h for (h,) in i.db().execute("SELECT hash FROM chunks ORDER BY id")] for r, i in built.items()}
    assert hashes["torch"] == hashes["onnx"] == hashes["auto"] and len(hashes["onnx"]) >= 60
    n = built["onnx"].vectors.ntotal
    ours = built["onnx"].vectors.reconstruct_n(0, n)
    for other in ("torch", "auto"):
        assert (ours * built[other].vectors.reconstruct_n(0, n)).sum(axis=1).min() >= 0.999
    for name in ("torch", "auto"):  # torch's float32 vectors serve onnx too; bfloat16 stays bfloat16
        again = build(tmp_path / name, "auto")
        assert "chunks: 0 embedded" in again and f"{n} reused" in again
    assert Index.open(tmp_path / "auto").manifest.embedded_with == default.embedded_with
    found = run_cli("query", "--index", str(tmp_path / "auto"), "--json", "upload files")
    assert "Manual:$wgEnableUploads" in [r["title"] for r in json.loads(found.stdout)["results"][:3]]


def test_int8_builds_say_so_serve_their_own_encoder_and_never_mix_with_fp32(tmp_path: Path) -> None:
    """--runtime onnx-int8 (opt-in: it moves nDCG by more than 0.01 on one corpus,
    see the README) records its precision, stores the int8 query encoder, and a
    later fp32 build embeds everything again instead of mixing the two."""
    from tests.conftest import DUMPS, run_cli

    dump, target = str(DUMPS / "mediawiki-docs.xml.bz2"), tmp_path / "idx"
    built = run_cli("build", dump, "--index", str(target), "--max-pages", "40", "--runtime", "onnx-int8", "-q")
    assert built.returncode == 0, built.stderr
    index = Index.open(target)
    assert index.manifest.embedded_with.precision == "int8"
    assert index.manifest.encoder.precision == "int8"
    found = run_cli("query", "--index", str(target), "--json", "upload files")
    assert found.returncode == 0, found.stderr
    assert "Manual:$wgEnableUploads" in [r["title"] for r in json.loads(found.stdout)["results"][:3]]
    again = run_cli("build", dump, "--index", str(target), "--max-pages", "40", "--runtime", "onnx")
    assert again.returncode == 0, again.stderr
    assert f"chunks: {index.vectors.ntotal} embedded" in again.stdout and " 0 reused" in again.stdout
    assert Index.open(target).manifest.embedded_with.precision == "fp32"
