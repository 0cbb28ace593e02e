"""Records sources: field mapping, presets, skipping, CSV, and scale on real data."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from core.errors import DumpError
from core.settings import Settings
from index_format import Index
from indexer.build import build_index
from indexer.sources.records import RecordsSource, mapping_from
from query.search import Ranking, search
from tests.conftest import FAKE_MODEL, FakeEmbedder, run_cli, shared

QUARRY = Path(__file__).parent / "data" / "quarry-sample.jsonl"


def test_quarry_preset_maps_fields_links_and_skips_unusable_records() -> None:
    source = RecordsSource(QUARRY, mapping_from("quarry", {}))
    docs = {d.title: d for d in source}
    assert source.skip_reasons == {"no usable title": 1, "no text": 1}
    top = docs["Most edited articles this month"]
    assert top.url == "https://quarry.wmcloud.org/query/101" and top.action_url == top.url
    assert top.code.startswith("SELECT page_title") and top.code_language == "sql"
    assert "database: enwiki_p" in top.text and top.text.startswith("Articles with the most revisions")
    assert "Most edited articles this month (108)" in docs  # same title, told apart by id


def test_field_flags_override_the_preset(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps(
            {
                "qid": "x1",
                "name": "Dogs",
                "about": "All dogs.",
                "sparql": "SELECT ?dog {}",
                "link": "https://example.org/x1",
            }
        )
        + "\n"
    )
    source = RecordsSource(
        path, mapping_from("sparql", {"id": "qid", "title": "name", "description": "about", "url": "link"})
    )
    (doc,) = list(source)
    assert (doc.title, doc.url, doc.code) == ("Dogs", "https://example.org/x1", "SELECT ?dog {}")
    assert doc.action_url.startswith("https://query.wikidata.org/#SELECT")


def test_csv_records(tmp_path: Path) -> None:
    path = tmp_path / "queries.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "description", "sql", "database"])
        writer.writerow(
            ["7", "Orphaned pages", "Pages, with no links to them", "SELECT page_title FROM page\nWHERE 1", "enwiki_p"]
        )
    (doc,) = list(RecordsSource(path, mapping_from("quarry", {})))
    assert doc.title == "Orphaned pages" and doc.code == "SELECT page_title FROM page\nWHERE 1"
    assert doc.url == "https://quarry.wmcloud.org/query/7"


def test_broken_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"title": "Good", "description": "fine"}\nnot json\n[1, 2]\n{"title": "Also good", "code": "SELECT 1"}\n'
    )
    source = RecordsSource(path, mapping_from(None, {}))
    assert [d.title for d in source] == ["Good", "Also good"]
    assert source.skip_reasons == {"not a JSON object": 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "the file is empty"), (b"just words without separators\n", "not JSON Lines")],
)
def test_unreadable_records_files_fail_clearly(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(DumpError, match=message):
        RecordsSource(path, mapping_from(None, {}))


def test_unknown_preset_and_role_are_refused() -> None:
    with pytest.raises(DumpError, match="unknown preset"):
        mapping_from("nope", {})
    with pytest.raises(DumpError, match="unknown field role"):
        mapping_from("quarry", {"colour": "x"})


def test_the_23k_crawled_queries_index_and_search(tmp_path: Path) -> None:
    """Scale on real data: 23,350 noisy multilingual records (fake embedder for speed;
    the real-model build time is in the README's performance notes)."""
    path = shared("sparql/wikidata-queries-23k.jsonl.gz")
    source = RecordsSource(path, mapping_from("sparql", {}))
    report = build_index(source, tmp_path / "q23k", FakeEmbedder(), FAKE_MODEL, Settings(quiet=True))
    assert report.pages + report.skipped.get("no usable title", 0) == 23350
    assert 0 < report.skipped["no usable title"] < 1000
    index = Index.open(tmp_path / "q23k")
    hits = search(index, FakeEmbedder(), "archives départementales", limit=5, ranking=Ranking(mode="lexical")).results
    assert any("archives" in h.title.lower() for h in hits)
    with gzip.open(path, "rt") as fh:
        first = json.loads(fh.readline())
    assert any(h.url == first["source_pages"][0] for h in hits)


@pytest.mark.model
def test_quarry_records_end_to_end(tmp_path: Path) -> None:
    target = tmp_path / "quarry"
    built = run_cli("build", str(QUARRY), "--source", "records", "--preset", "quarry", "--index", str(target))
    assert built.returncode == 0, built.stderr
    assert "1 no text, 1 no usable title" in built.stdout
    result = run_cli("query", "--index", str(target), "--json", "--limit", "2", "new pages nobody reviewed")
    hits = json.loads(result.stdout)["results"]
    assert hits[0]["title"] == "Unreviewed new pages older than a week"
    assert hits[0]["action_url"] == "https://quarry.wmcloud.org/query/102" and "rc_patrolled" in hits[0]["code"]
