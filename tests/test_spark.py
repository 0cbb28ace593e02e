"""The build on Apache Spark (local[2], loopback only), with the real model,
through the real command line: the same index as the serial build, runs that
embed only what changed, shards that a killed run never half-publishes."""

from __future__ import annotations

import bz2
import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index_format import Index
from indexer.shards import CURRENT, current
from indexer.sources.dump import DumpSource
from tests.conftest import fake_build, kill_at, run_cli, shared, write_multistream
from tests.test_adapt import TINY
from tests.test_build import docs_xml

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (openjdk-17-jre on Debian)"),
]

SPARK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1", "WIKISEARCH_SPARK_MASTER": "local[2]"}
#: Answer-line sentences are four times the chunks to embed: only the first test, which
#: compares them with the serial build's, needs them.
NO_ANSWERS = {"WIKISEARCH_ANSWER_SENTENCES": "false"}
QUICK = {**SPARK_ENV, **NO_ANSWERS}


def write_dump(path: Path, header: str, pages: list[str]) -> Path:
    path.write_bytes(bz2.compress((header + "\n".join(pages) + "\n</mediawiki>").encode("utf-8")))
    return path


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """160 pages of mediawiki-docs, as one dump and as two (as Wikimedia splits large ones),
    the first of the two a multistream dump with its index."""
    xml = docs_xml()
    header = xml[: xml.index("<page>")]
    pages = re.findall(r"<page>.*?</page>", xml, flags=re.S)[:160]
    out = tmp_path_factory.mktemp("split")
    return {
        "whole": write_dump(out / "whole.xml.bz2", header, pages),
        "a": write_multistream(header + "\n".join(pages[:120]) + "\n</mediawiki>", out, "part1", 20)[0],
        "b": write_dump(out / "part2.xml.bz2", header, pages[120:]),
    }


def chunk_vectors(index: Index) -> dict[str, np.ndarray]:
    rows = index.db().execute("SELECT id, hash FROM chunks ORDER BY id").fetchall()
    vectors = index.vectors_of([i for i, _ in rows])
    return {digest: vectors[n] for n, (_, digest) in enumerate(rows)}


def stored(index: Index, sql: str) -> list[tuple]:
    return sorted(index.db().execute(sql).fetchall())


@pytest.fixture(scope="module")
def serial(split: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 160 pages built by the serial build, from the whole dump."""
    target = tmp_path_factory.mktemp("serial") / "index"
    assert run_cli("build", str(split["whole"]), "--index", str(target), "-q").returncode == 0
    return target


PAGE_SQL = "SELECT title, namespace, page_id, rev_id, timestamp, url, text_hash FROM pages"
CATEGORY_SQL = "SELECT p.title, c.name FROM categories c JOIN pages p ON p.id = c.page"


def test_a_spark_build_of_split_dumps_equals_the_serial_build(
    split: dict[str, Path], serial: Path, tmp_path: Path
) -> None:
    """Split dumps, one of them multistream and read range by range by four tasks."""
    spark = tmp_path / "spark"
    env = {**SPARK_ENV, "WIKISEARCH_SPARK_TASK_MB": "0.005"}
    result = run_cli(
        "-v", "build", str(split["a"]), str(split["b"]), "--engine", "spark", "--index", str(spark), env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = Index.open(serial), Index.open(spark)
    assert f"pages: {a.manifest.counts.pages} added" in result.stdout, result.stdout
    ours, theirs = chunk_vectors(a), chunk_vectors(b)
    assert set(ours) == set(theirs) and len(ours) > 160
    assert min(float(ours[k] @ theirs[k]) for k in ours) > 0.9999  # the same encoder; batches differ
    assert stored(a, PAGE_SQL) == stored(b, PAGE_SQL)
    assert stored(a, "SELECT text, hash FROM sentences") == stored(b, "SELECT text, hash FROM sentences")
    assert stored(a, CATEGORY_SQL) == stored(b, CATEGORY_SQL) and len(stored(b, CATEGORY_SQL)) > 100
    assert b.manifest.source.file == "part1-multistream.xml.bz2, part2.xml.bz2"
    assert re.search(r"part1-multistream.xml.bz2: 6 streams in [3-6] ranges", result.stderr), result.stderr[-2000:]
    assert b.manifest.embedded_with is not None and b.manifest.embedded_with.runtime == "onnxruntime"
    for query in ("uploading files", "how long do login cookies last"):
        one = run_cli("query", "--index", str(serial), "--json", query).stdout
        two = run_cli("query", "--index", str(spark), "--json", query).stdout
        assert re.findall(r'"title": "([^"]+)"', one) == re.findall(r'"title": "([^"]+)"', two), query


def test_a_data_lake_shaped_content_table_builds_the_same_index(
    split: dict[str, Path], serial: Path, tmp_path: Path
) -> None:
    """The pages as a Parquet table in two part files (page_id, namespace, title,
    rev_id, timestamp, wikitext), read serially and on Spark: the index the dump gives."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pages = list(DumpSource(split["whole"]))
    table = tmp_path / "content_table"
    table.mkdir()
    for n, part in enumerate((pages[:90], pages[90:])):
        columns = {
            "page_id": [p.page_id for p in part],
            "namespace": [p.namespace for p in part],
            "title": [p.title.replace(" ", "_") for p in part],  # as the Data Lake writes titles
            "rev_id": [p.rev_id for p in part],
            "timestamp": pa.array(
                [datetime.datetime.fromisoformat(p.timestamp.replace("Z", "+00:00")) for p in part],
                pa.timestamp("s", tz="UTC"),
            ),
            "wikitext": [p.text for p in part],
        }
        pq.write_table(pa.table(columns), table / f"part-{n:05d}.parquet")
    base = ["--source", "content-table", "--base-url", "https://www.mediawiki.org/wiki/MediaWiki"]
    one, two = tmp_path / "serial-table", tmp_path / "spark-table"
    assert run_cli("build", str(table), *base, "--index", str(one), "-q", env=NO_ANSWERS).returncode == 0
    result = run_cli("build", str(table), *base, "--engine", "spark", "--index", str(two), "-q", env=QUICK)
    assert result.returncode == 0, result.stderr[-2000:]
    from_dump = Index.open(serial)
    for built in (Index.open(one), Index.open(two)):
        assert set(chunk_vectors(built)) == set(chunk_vectors(from_dump))
        assert stored(built, PAGE_SQL) == stored(from_dump, PAGE_SQL)
        assert built.manifest.source.type == "content-table"
    bad = run_cli("build", str(split["a"]), "--source", "content-table", "--index", str(tmp_path / "x"))
    assert bad.returncode == 2 and "not a Parquet file" in bad.stderr and "Traceback" not in bad.stderr


def test_records_build_on_spark_as_they_do_serially(tmp_path: Path) -> None:
    """The query collections are sources like the others: 80 real SPARQL examples as records."""
    args = [str(shared("sparql/wikidata-examples.jsonl")), "--source", "records", "--preset", "sparql"]
    args += ["--max-pages", "80", "-q"]
    one, two = tmp_path / "serial", tmp_path / "spark"
    assert run_cli("build", *args, "--index", str(one), env=NO_ANSWERS).returncode == 0
    result = run_cli("build", *args, "--engine", "spark", "--index", str(two), env=QUICK)
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = Index.open(one), Index.open(two)
    ours, theirs = chunk_vectors(a), chunk_vectors(b)
    assert set(ours) == set(theirs) and len(ours) >= 80
    assert min(float(ours[k] @ theirs[k]) for k in ours) > 0.9999
    code = "SELECT title, url, code, code_language FROM pages"
    assert stored(a, code) == stored(b, code)
    assert b.manifest.source.type == "records" and b.manifest.source.preset == "sparql"


def edited_dump(dump: Path, folder: Path) -> Path:
    """``dump`` with one sentence of one page edited."""
    xml = bz2.decompress(dump.read_bytes()).decode()
    edited = xml.replace("Allow users to upload files.", "Allow users to upload files (edited).", 1)
    assert edited != xml
    newer = folder / "newer.xml.bz2"
    newer.write_bytes(bz2.compress(edited.encode()))
    return newer


def test_shards_are_reused_by_the_next_run_and_assemble_to_a_served_index(
    split: dict[str, Path], tmp_path: Path
) -> None:
    shards = tmp_path / "shards"
    first = run_cli("build", str(split["a"]), "--engine", "spark", "--shards-out", str(shards), env=QUICK)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "published shards" in first.stdout and current(shards) is not None
    newer = edited_dump(split["a"], tmp_path)
    # Killed (the driver and its JVM) with every shard written and none published: the first run's stay.
    published = (shards / CURRENT).read_text()
    kill_at("publish", ["build", str(newer), "--engine", "spark", "--shards-out", str(shards)], tmp_path, QUICK)
    assert (shards / CURRENT).read_text() == published and len(list(shards.glob("v-*"))) == 2
    index = tmp_path / "index"
    again = run_cli(
        "build", str(newer), "--engine", "spark", "--shards-out", str(shards), "--index", str(index), env=QUICK
    )
    assert again.returncode == 0, again.stderr[-2000:]
    embedded = int(re.search(r"chunks: (\d+) embedded", again.stdout)[1])
    reused = int(re.search(r"embedded, (\d+) reused", again.stdout)[1])
    assert 1 <= embedded <= 2 and reused > 100, again.stdout  # the edited page's chunk(s) only
    assembled = tmp_path / "assembled"
    result = run_cli("assemble", str(shards), "--index", str(assembled))
    assert result.returncode == 0, result.stderr
    hits = run_cli("query", "--index", str(assembled), "--json", "let users upload files")
    assert '"title": "Manual:$wgEnableUploads"' in hits.stdout
    # (An adapted index keeps what reads its queries when shards are assembled into it: the last test.)
    assert len(list(shards.glob("v-*"))) == 2  # the published version and the one it replaced (the killed one's gone)
    other = tmp_path / "other"  # an index of another model is replaced only when asked
    fake_build(DumpSource(split["a"]), other)
    refused = run_cli("assemble", str(shards), "--index", str(other))
    assert refused.returncode == 2 and "--replace" in refused.stderr and "Traceback" not in refused.stderr
    assert Index.open(other).manifest.model.name == "fake-hash-64"
    assert run_cli("assemble", str(shards), "--index", str(other), "--replace", "-q").returncode == 0


def test_clear_errors_without_java_or_with_bad_options(split: dict[str, Path], tmp_path: Path) -> None:
    no_java = run_cli(
        "build",
        str(split["a"]),
        "--engine",
        "spark",
        "--index",
        str(tmp_path / "i"),
        env={"PATH": "/nonexistent", "JAVA_HOME": ""},
    )
    assert no_java.returncode == 2 and "needs Java" in no_java.stderr and "Traceback" not in no_java.stderr
    hide = "import sys; sys.modules['pyspark'] = None; from wikisearch.cli import main; main()"
    no_pyspark = subprocess.run(
        [sys.executable, "-c", hide, "build", str(split["a"]), "--engine", "spark", "--index", str(tmp_path / "i")],
        capture_output=True,
        text=True,
    )
    assert no_pyspark.returncode == 2 and "pip install 'wikisearch[spark]'" in no_pyspark.stderr
    assert "Traceback" not in no_pyspark.stderr
    two = run_cli("build", str(split["a"]), str(split["b"]), "--index", str(tmp_path / "j"))
    assert two.returncode == 2 and "--engine spark" in two.stderr
    nothing = run_cli("assemble", str(tmp_path / "empty"), "--index", str(tmp_path / "k"))
    assert nothing.returncode == 2 and "no published shards" in nothing.stderr
    assert not (tmp_path / "i").exists() and not (tmp_path / "k").exists()


def test_an_adapted_index_built_on_spark_keeps_its_adapted_reader(split: dict[str, Path], tmp_path: Path) -> None:
    """As a serial build does: the stock model embeds what changed, the rest is reused, and
    the new version keeps what reads its queries; ``assemble`` into it keeps it too."""
    index = tmp_path / "index"  # built and adapted in one go, past a gate lowered below any loss
    forced = NO_ANSWERS | TINY | {"WIKISEARCH_ADAPT_MIN_GAIN": "-1"}
    adapted = run_cli("build", str(split["a"]), "--index", str(index), "--adapt", env=forced)
    assert adapted.returncode == 0, adapted.stderr[-2000:]
    assert "pages: 120 added" in adapted.stdout and "on 64 pairs" in adapted.stdout, adapted.stdout
    assert "switched: the adapted model reads the queries" in adapted.stdout, adapted.stdout
    before = Index.open(index).manifest
    assert before.queries_adapted
    newer = edited_dump(split["a"], tmp_path)
    serial = tmp_path / "serial"
    shutil.copytree(index, serial, symlinks=True)
    assert run_cli("build", str(newer), "--index", str(serial), "-q", env=NO_ANSWERS).returncode == 0
    shards = tmp_path / "shards"
    result = run_cli(
        "build", str(newer), "--engine", "spark", "--shards-out", str(shards), "--index", str(index), env=QUICK
    )
    assert result.returncode == 0, result.stderr[-2000:]
    embedded = int(re.search(r"chunks: (\d+) embedded", result.stdout)[1])
    reused = int(re.search(r"embedded, (\d+) reused", result.stdout)[1])
    assert 1 <= embedded <= 2 and reused > 100, result.stdout  # the index's own vectors
    after = Index.open(index).manifest
    assert after.adaptation == before.adaptation and after.encoder == before.encoder
    assert after.model.sha256 == before.model.sha256 and (index / "model" / "model.safetensors").is_file()
    ours, theirs = chunk_vectors(Index.open(index)), chunk_vectors(Index.open(serial))
    assert set(ours) == set(theirs)
    assert min(float(ours[k] @ theirs[k]) for k in ours) > 0.9999  # the stock model's vectors, as serially
    for query in ("uploading files", "how long do login cookies last"):
        one = run_cli("query", "--index", str(serial), "--json", query).stdout
        two = run_cli("query", "--index", str(index), "--json", query).stdout
        assert re.findall(r'"title": "([^"]+)"', one) == re.findall(r'"title": "([^"]+)"', two), query
    assert run_cli("assemble", str(shards), "--index", str(index), "-q").returncode == 0
    assert Index.open(index).manifest.adaptation == before.adaptation
