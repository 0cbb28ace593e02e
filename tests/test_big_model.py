"""all-mpnet-base-v2 end to end with the real parts: resolved from its parts, built
through the CLI, served by gunicorn, and never mixed with the small model's vectors."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from index_format import Index
from tests.conftest import Server, run_cli
from tests.test_sync import docs_subset

pytestmark = pytest.mark.model

BIG = "all-mpnet-base-v2"


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30 pages of the docs sample, built with the big model through the CLI."""
    root = tmp_path_factory.mktemp("big")
    target = root / "docs"
    result = run_cli("build", str(docs_subset(root)), "--index", str(target), "--model", BIG, "--quiet")
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture(scope="module")
def served(big_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server({"docs": big_index}, tmp_path_factory.mktemp("log") / "server.log")
    yield server
    server.stop()


def get(server: Server, path: str, **params: str) -> object:
    with urllib.request.urlopen(f"{server.url}{path}?{urllib.parse.urlencode(params)}", timeout=60) as response:
        return json.load(response)


def test_the_index_records_the_big_model_and_its_provenance(big_index: Path) -> None:
    result = run_cli("model", "info", "--index", str(big_index), "--json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["model"]
    assert model["name"] == BIG and model["dimensions"] == 768 and model["verified"] and model["osaid"] == "partial"


def test_its_export_reads_what_its_graph_declares_and_equals_the_model(big_index: Path) -> None:
    """MPNet has no token types: its export takes none and is fed none (before, every
    build and query with it failed with "Invalid input name: token_type_ids")."""
    from core.models import SentenceTransformerEmbedder, resolve_model
    from core.onnx_encoder import OnnxEncoder

    index = Index.open(big_index)
    model = resolve_model(BIG)
    onnx = OnnxEncoder(index.version_dir, index.manifest.encoder, model.max_seq_length, 768)
    assert onnx.inputs == ["input_ids", "attention_mask"]
    rows = index.db().execute("SELECT section || char(10) || text FROM chunks ORDER BY id").fetchall()
    texts = [r[0] for r in rows][:40] + ["how do I make my wiki private", "$wgDBprefix", "ünïcödé ✓"]
    ours, theirs = onnx.encode(texts, batch_size=16), SentenceTransformerEmbedder(model).encode(texts)
    assert ours.shape == (len(texts), 768)
    assert (ours * theirs).sum(axis=1).min() >= 0.9999


def test_the_web_app_answers_with_the_big_model(served: Server) -> None:
    data = get(served, "/api/v1/search", q="which ports does a proxy expose", index="docs", limit="3")
    assert isinstance(data, dict)
    assert data["results"][0]["title"] == "Manual:$wgAssumeProxiesUseDefaultProtocolPorts"
    indexes = get(served, "/api/v1/indexes")
    assert isinstance(indexes, dict) and indexes["indexes"][0]["model"]["name"] == BIG


def test_an_index_of_one_model_refuses_the_other_and_stays_as_it_was(big_index: Path, tmp_path: Path) -> None:
    before = (big_index / "manifest.json").read_bytes()
    result = run_cli("build", str(docs_subset(tmp_path)), "--index", str(big_index), "--quiet")  # the small model
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert BIG in result.stderr and "--replace" in result.stderr
    assert (big_index / "manifest.json").read_bytes() == before


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (openjdk-17-jre on Debian)")
def test_a_spark_build_with_the_big_model_equals_the_serial_one(big_index: Path, tmp_path: Path) -> None:
    """The Spark engine's executors encode with the big model's export too (fed no token types)."""
    from tests.test_spark import QUICK, chunk_vectors

    spark = tmp_path / "spark"
    result = run_cli(
        "build", str(docs_subset(tmp_path)), "--engine", "spark", "--index", str(spark), "--model", BIG, env=QUICK
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ours, theirs = chunk_vectors(Index.open(spark)), chunk_vectors(Index.open(big_index))
    assert set(ours) == set(theirs) and Index.open(spark).manifest.model.name == BIG
    assert min(float(ours[k] @ theirs[k]) for k in ours) > 0.9999
