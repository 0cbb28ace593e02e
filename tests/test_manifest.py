"""The manifest is typed and owned by the format: it round-trips through JSON,
and what an earlier release wrote still reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.documents import Action
from core.errors import IndexFormatError
from core.models import ModelInfo, Runtime
from core.onnx_encoder import EncoderInfo
from index_format import BuildReport, Chunking, Counts, Manifest, SiteMeta, SourceInfo, read_manifest
from index_format.manifest import MANIFEST, VectorIndexInfo

OLDER = Path(__file__).parent / "data" / "manifest-format3-release-0.1.json"

FULL = Manifest(
    model=ModelInfo("all-MiniLM-L6-v2", "5" * 64, True, True, 384, 256, "Apache-2.0", "partial", "why"),
    created_at="2026-11-27T19:16:59Z",
    embedded_with=Runtime("onnxruntime", "1.32.0", "int8", "a" * 64),
    source=SourceInfo(
        type="records",
        path="data/q.jsonl",
        file="q.jsonl",
        bytes=1234,
        schema="records",
        siteinfo=SiteMeta("Wikidata", "wikidatawiki", "https://www.wikidata.org/wiki/Main", "MediaWiki 1.46"),
        namespaces=[0, 4],
        preset="quarry",
        max_pages=10,
        action=Action("Open in Quarry", "on Quarry"),
    ),
    chunking=Chunking(200, 40, 24, 3),
    counts=Counts(10, 12, 2, {"no text": 1}),
    build=BuildReport(pages=10, chunks=12, chunks_embedded=12, duration_s=1.5, skipped={"no text": 1}),
    index=VectorIndexInfo("IndexHNSWFlat", M=32, ef_construction=200, ef_search=256, graph_build_s=0.25),
    encoder=EncoderInfo("encoder.onnx", "a" * 64, "tokenizer.json", 17, "int8"),
)


def test_a_manifest_round_trips_through_json() -> None:
    assert Manifest.from_json(FULL.to_json()) == FULL
    minimal = Manifest(model=ModelInfo("fake", "0" * 64))
    assert Manifest.from_json(minimal.to_json()) == minimal


def test_the_manifest_an_earlier_release_wrote_still_reads(tmp_path: Path) -> None:
    raw = json.loads(OLDER.read_text("utf-8"))
    (tmp_path / MANIFEST).write_text(OLDER.read_text("utf-8"))
    manifest = read_manifest(tmp_path)
    assert manifest.model.name == raw["model"]["name"] and manifest.model.verified is True
    assert manifest.counts.chunks == raw["counts"]["chunks"] == 388
    assert manifest.source.siteinfo.sitename == "Wikidata" and manifest.source.type == "sparql-examples"
    assert manifest.chunking == Chunking(200, 40, 24, 3)
    assert manifest.embedded_with is not None and manifest.embedded_with.runtime == "onnxruntime"
    assert manifest.encoder is not None and manifest.encoder.precision == "fp32"  # written before precision was
    assert manifest.source.action is None  # written before actions were recorded
    # Written again, it says everything it said before, in the same words.
    again = json.loads(manifest.to_json())
    for section, values in raw.items():
        if isinstance(values, dict):
            assert {k: again[section][k] for k in values} == values, section
        else:
            assert again[section] == values, section


def test_keys_a_newer_release_adds_are_ignored(tmp_path: Path) -> None:
    raw = json.loads(FULL.to_json())
    raw["future_section"] = {"x": 1}
    raw["model"]["future_field"] = True
    (tmp_path / MANIFEST).write_text(json.dumps(raw))
    assert read_manifest(tmp_path) == FULL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "is not a wikisearch manifest"),
        ('{"format_version": 3}', "is not a wikisearch manifest"),
        ('{"format_version": 3, "model": {"name": 7}}', "is not a wikisearch manifest"),
        ('{"format_version": 2, "model": {"name": "m", "sha256": "0"}}', "rebuild it with --replace"),
        ("{not json", "is unreadable"),
    ],
)
def test_a_bad_manifest_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(IndexFormatError, match=message):
        read_manifest(tmp_path)
