"""Adapting only the side that reads queries: nothing re-embedded, every vector kept."""

from __future__ import annotations

import bz2
import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import ModelInfo
from core.onnx_encoder import OnnxEncoder
from core.settings import Settings
from index_format import MODEL, Adaptation, AdaptRecipe, Counts, Index, Manifest
from indexer.adapt import recipe_from, side_for
from indexer.pairs import Pair
from indexer.query_side import SCALE, FixedPassages
from indexer.reembed import restored
from query.catalog import Catalog
from tests.conftest import copy_index, kill_at, run_cli
from tests.test_adapt import TINY, small, version  # noqa: F401 (small: the fixture, 150 real docs pages)
from webapp import create_app

#: A version's files that hold what was embedded: the query side must leave every byte as it was.
EMBEDDED = ("store.sqlite", "vectors.faiss", "sentences.f16")


def digests(index: Path) -> dict[str, str]:
    return {name: hashlib.sha256((index / name).read_bytes()).hexdigest() for name in EMBEDDED}


def unit(*values: float) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


# (case, the query as the stock model reads it) → the chunks the loss scores: the positive and its negatives.
# Chunks 0 and 1 are of page A (the query's own), chunk 2 of page B; the positive is chunk 0.
MASK_CASES = [
    ("a chunk of the query's own page is never a negative", unit(1, 0, 0), {0, 2}),
    ("a chunk the stock model ranks above the positive is no negative", unit(0.2, 0.1, 1), {0}),
]


@pytest.mark.parametrize(("case", "guide", "negatives"), MASK_CASES, ids=[c[0] for c in MASK_CASES])
def test_the_query_side_loss_leaves_out_what_is_no_negative(case: str, guide: list[float], negatives: set[int]) -> None:
    chunks = torch.tensor([unit(1, 0, 0), unit(0.9, 0.1, 0), unit(0.3, 0, 1)], dtype=torch.float32)
    pair = Pair("title", "A", "query", "passage")
    fixed = FixedPassages(
        chunks, np.array(["A", "A", "B"], dtype=object), {pair: 0}, {"query": np.array(guide, dtype=np.float32)}
    )
    read = torch.tensor([unit(1, 1, 1)])
    logits = SCALE * (read @ chunks.T)[0]
    allowed = sorted(negatives)
    expected = -torch.log_softmax(logits[allowed], 0)[allowed.index(0)]
    assert float(fixed.loss(read, [pair])) == pytest.approx(float(expected), rel=1e-5), case


def manifest_of(chunks: int, adapted: str | None = None) -> Manifest:
    model = ModelInfo("all-MiniLM-L6-v2", "53aa5117")
    recipe = AdaptRecipe(["title"], 3000, 2, 5e-5, 32, 0, 0.1, 256, "gist", side=adapted or "model")
    made = Adaptation(model, "00d0ca0f", recipe, {"title": 64}, 10, 0.5, 0.6, "MRR@10", 4, 1.0, "2026-11-29")
    return Manifest(model, counts=Counts(chunks=chunks), adaptation=made if adapted else None)


# (WIKISEARCH_ADAPT_SIDE, the index's chunks, how it is adapted already) → what learns
SIDE_CASES = [
    ("auto", 1_367, None, "model"),  # mediawiki-docs
    ("auto", 2_000, None, "model"),
    ("auto", 2_001, None, "query"),
    ("auto", 23_033, "query", "query"),
    ("auto", 23_033, "model", "model"),  # its chunks are the adapted model's: the whole model again
    ("model", 23_033, None, "model"),
    ("query", 1_367, None, "query"),
]


@pytest.mark.parametrize(("setting", "chunks", "adapted", "side"), SIDE_CASES)
def test_auto_adapts_the_whole_model_while_the_index_is_small_enough_to_re_embed(
    setting: str, chunks: int, adapted: str | None, side: str
) -> None:
    assert side_for(Settings.load({"adapt_side": setting}), manifest_of(chunks, adapted)) == side


def test_each_side_trains_with_its_own_epochs_and_learning_rate() -> None:
    settings = Settings.load(
        {"adapt_epochs": 5, "adapt_learning_rate": 1e-5, "adapt_query_epochs": 7, "adapt_query_learning_rate": 2e-5}
    )
    whole, queries = recipe_from(settings, "model"), recipe_from(settings, "query")
    assert (whole.epochs, whole.learning_rate, whole.side) == (5, 1e-5, "model")
    assert (queries.epochs, queries.learning_rate, queries.side) == (7, 2e-5, "query")


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("WIKISEARCH_ADAPT_SIDE", "both", "adapt_side must be auto, model or query, not 'both'"),
        ("WIKISEARCH_ADAPT_PRECISION", "fp16", "adapt_precision must be auto, bf16 or fp32, not 'fp16'"),
    ],
)
def test_a_side_or_precision_that_is_not_one_is_refused(tmp_path: Path, variable: str, value: str, said: str) -> None:
    refused = run_cli("adapt", "--index", str(tmp_path), env={variable: value})
    assert refused.returncode == 2 and said in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.model
def test_adapting_the_query_side_keeps_every_vector_and_reads_queries_with_the_adapted_model(
    small: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    index = copy_index(small, tmp_path / "index")
    stock = Index.open(small).manifest
    before = digests(index)

    # Killed while it trains, it leaves the index as it was.
    unchanged = version(index)
    kill_at("adapt", ["adapt", "--index", str(index), "--side", "query", "--force"], tmp_path, TINY)
    assert version(index) == unchanged

    # The default side, auto, adapts only what reads queries on an index of more chunks than it re-embeds.
    auto = TINY | {"WIKISEARCH_ADAPT_MODEL_MAX_CHUNKS": "100", "WIKISEARCH_ADAPT_PRECISION": "fp32"}
    done = run_cli("adapt", "--index", str(index), "--force", "--epochs", "2", env=auto)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("adapted what reads queries of all-MiniLM-L6-v2 on 64 pairs"), done.stdout
    assert "switched: the adapted model reads the queries, the chunks keep their vectors" in done.stdout, done.stdout
    assert "re-embedded" not in done.stdout
    manifest = Index.open(index).manifest
    made = manifest.adaptation
    assert made is not None and manifest.queries_adapted and made.recipe.side == "query"
    assert made.recipe.learning_rate == Settings().adapt_query_learning_rate
    assert made.recipe.epochs == 2  # --epochs reaches the query side's own setting
    assert made.recipe.precision == "fp32"  # as asked, whatever this CPU has
    assert digests(index) == before  # nothing re-embedded: every stored vector and text as it was
    assert (manifest.model.name, manifest.model.sha256) == (stock.model.name, stock.model.sha256)
    assert manifest.encoder is not None and stock.encoder is not None
    assert manifest.encoder.onnx_sha256 != stock.encoder.onnx_sha256
    weights = index / MODEL / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == made.weights_sha256

    # The index's queries are read by the adapted model's ONNX export (as the torch model reads them),
    # however the catalog serves its other indexes; its passages still by the stock model.
    from sentence_transformers import SentenceTransformer

    queries = ["database host", "let users upload files", "how long do login cookies last"]
    catalog = Catalog({"adapted": index, "stock": small}, Settings.load({}))
    try:
        ours = catalog.get("adapted").embedder.encode(queries)
        theirs = SentenceTransformer(str(index / MODEL), device="cpu").encode(queries, normalize_embeddings=True)
        plain = catalog.get("stock").embedder.encode(queries)
    finally:
        catalog.close()
    assert float(np.min(np.sum(ours * theirs, axis=1))) >= 0.999
    assert float(np.max(np.sum(ours * plain, axis=1))) < 0.9999  # the adapted model, not the stock one
    hits = run_cli("query", "--index", str(index), "--json", "how long do login cookies last")
    assert hits.returncode == 0 and json.loads(hits.stdout)["results"], hits.stderr

    # What a reader is told: model info and /about say which side learnt.
    info = run_cli("model", "info", "--index", str(index))
    assert re.search(r"side\s+queries only: the adapted model reads them", info.stdout), info.stdout
    assert made.weights_sha256 in info.stdout
    app = create_app(Settings.load({"indexes": f"docs={index}"}), TESTING=True)
    about = app.test_client().get("/about").get_data(as_text=True)
    assert "It reads the queries only: the passages keep the vectors of all-MiniLM-L6-v2." in about
    assert "seed 0 (float32)" in about
    assert made.weights_sha256 in about

    # --undo: the stock model reads queries again, with nothing to re-embed; the same answers as stock.
    adapted = copy_index(index, tmp_path / "adapted")
    undone = run_cli("adapt", "--index", str(adapted), "--undo", env=TINY)
    assert undone.returncode == 0 and "nothing to re-embed" in undone.stdout, undone.stderr
    back = Index.open(adapted).manifest
    assert back.adaptation is None and not (adapted / MODEL).exists() and back.encoder == stock.encoder
    assert digests(adapted) == before
    for query in queries:
        mine = json.loads(run_cli("query", "--index", str(adapted), "--json", query).stdout)["results"]
        theirs_hits = json.loads(run_cli("query", "--index", str(small), "--json", query).stdout)["results"]
        assert [h["title"] for h in mine] == [h["title"] for h in theirs_hits]

    # A rebuild keeps the adapted reader and every vector; a changed page is embedded by the stock model.
    xml = bz2.decompress((small.parent / "docs-150.xml.bz2").read_bytes()).decode()
    end = xml.index("</text>")
    changed = tmp_path / "changed.xml.bz2"
    changed.write_bytes(bz2.compress((xml[:end] + "\n\nA sentence the stock model must embed." + xml[end:]).encode()))
    again = run_cli("build", str(changed), "--index", str(index), env=TINY)
    assert again.returncode == 0, again.stderr
    embedded = int(re.search(r"chunks: (\d+) embedded", again.stdout).group(1))  # type: ignore[union-attr]
    assert 1 <= embedded <= 3, again.stdout
    rebuilt = Index.open(index)
    assert rebuilt.manifest.adaptation == made and rebuilt.manifest.encoder == manifest.encoder
    old_keys = {c.key for _, _, chunks in Index.open(small).stored_pages() for c in chunks}
    new = [(page, c) for page, _, chunks in rebuilt.stored_pages() for c in chunks if c.key not in old_keys]
    assert len(new) == embedded
    vectors = rebuilt.vectors_for(c.key for _, c in new)
    stock_reader = OnnxEncoder(small.resolve(), stock.encoder, 256, 384)
    texts = [restored(page, c).embed_text for page, c in new]
    assert (
        float(np.min(np.sum(stock_reader.encode(texts) * np.stack([vectors[c.key] for _, c in new]), axis=1))) > 0.999
    )
    rebuilt.close()
