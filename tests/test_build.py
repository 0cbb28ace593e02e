"""The build pipeline and the index format, with a fast fake embedder.

The same behaviours are checked with the real model in test_e2e_model.py.
"""

from __future__ import annotations

import bz2
import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.documents import TEXT_RULES, TEXT_RULES_FILES
from core.errors import DumpError, IndexFormatError
from core.hashing import files_hash
from core.models import ModelInfo
from core.settings import Settings
from index_format import FORMAT_VERSION, Index, IndexWriter, Manifest
from index_format.lexical import choose_lexical_engine
from index_format.manifest import LEXICAL, MANIFEST, STORE, VECTORS
from index_format.vector_kinds import choose_vector_index
from indexer.build import build_index
from indexer.chunk import ChunkSettings, chunk_page
from indexer.parse import parse_sections
from indexer.sources.dump import DumpSource
from query.legs import page_cosines
from query.ranking import Ranking
from query.search import search
from query.tables import tables
from tests.conftest import DUMPS, FAKE_MODEL, ROOT, FakeEmbedder, fake_build, shared

SETTINGS = Settings(quiet=True)


def build(dump: Path, target: Path, embedder: FakeEmbedder, model: ModelInfo | None = None, **kwargs):
    return build_index(DumpSource(dump, **kwargs), target, embedder, model or FAKE_MODEL, SETTINGS)


def docs_xml(name: str = "mediawiki-docs.xml.bz2") -> str:
    """A sample dump's XML, to edit into test dumps."""
    return bz2.decompress((DUMPS / name).read_bytes()).decode("utf-8")


def edit_dump(xml: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A 'newer dump': one page edited, one removed, one added."""
    edited = xml.replace("Allow users to upload files.", "Allow users to upload files (edited in the newer dump).", 1)
    assert edited != xml
    removed = re.sub(r"<page>\s*<title>Manual:\$wgSitename</title>.*?</page>", "", edited, count=1, flags=re.S)
    assert removed != edited
    new_page = (
        "<page><title>Manual:$wgBrandNewSetting</title><ns>100</ns><id>99999</id><revision><id>999991</id>"
        "<timestamp>2026-11-25T00:00:00Z</timestamp><model>wikitext</model><format>text/x-wiki</format>"
        '<text xml:space="preserve">== Details ==\nA brand new setting that controls nothing at all.</text></revision></page>'
    )
    added = removed.replace("</mediawiki>", new_page + "\n</mediawiki>")
    path = tmp_path / "newer.xml.bz2"
    path.write_bytes(bz2.compress(added.encode("utf-8")))
    return path, {
        "edited": "Manual:$wgEnableUploads",
        "removed": "Manual:$wgSitename",
        "added": "Manual:$wgBrandNewSetting",
    }


def test_build_writes_a_consistent_index(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    target = tmp_path / "idx"
    report = build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder)
    assert report.pages == 901 and report.chunks >= 901
    assert report.chunks_embedded + report.sentences_embedded == fake_embedder.encoded
    index = Index.open(target)
    manifest = Manifest.from_json((target / MANIFEST).read_text())
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.model.name == "fake-hash-64" and manifest.model.dimensions == 64
    assert manifest.counts.chunks == index.vectors.ntotal == report.chunks
    assert manifest == index.manifest
    # FAISS ids are SQLite row ids: the stored vector of chunk i is the embedding of chunk i's text
    pages = {p.title: p for p in DumpSource(DUMPS / "mediawiki-docs.xml.bz2")}
    rows = index.db().execute(
        "SELECT c.id, p.title, c.ordinal FROM chunks c JOIN pages p ON p.id=c.page ORDER BY random() LIMIT 20"
    )
    for chunk_id, title, ordinal in rows.fetchall():
        chunk = chunk_page(title, parse_sections(pages[title].text), ChunkSettings())[ordinal]
        expected = FakeEmbedder().encode([chunk.embed_text])[0]
        assert np.allclose(index.vectors.reconstruct(chunk_id), expected, atol=1e-6)


def test_fts_table_covers_chunk_text_and_titles(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder)
    index = Index.open(target)
    hits = (
        index.db()
        .execute(
            "SELECT title FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT 5",
            ('"Allow users to upload files"',),
        )
        .fetchall()
    )
    assert ("Manual:$wgEnableUploads",) in hits


def test_redirects_become_aliases(fake_sample) -> None:
    index = Index.open(fake_sample("dump", "enwiki-sample.xml.bz2"))
    assert index.manifest.build.aliases == 100 and index.manifest.counts.aliases == 100
    assert index.alias_target("AccessibleComputing") == "Computer accessibility"
    assert index.db().execute("SELECT count(*) FROM pages WHERE title='AccessibleComputing'").fetchone()[0] == 0


def test_rebuild_reembeds_only_changed_chunks(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, FakeEmbedder())
    first = Index.open(target)
    before = first.page_chunk_hashes()
    newer, titles = edit_dump(docs_xml(), tmp_path)
    embedder = FakeEmbedder()
    report = build(newer, target, embedder)
    assert (report.pages_added, report.pages_changed, report.pages_removed) == (1, 1, 1)
    assert report.pages_unchanged == 899
    after = Index.open(target).page_chunk_hashes()
    new_hashes = {h for t in (titles["edited"], titles["added"]) for h in after[t][1]} - {
        h for _, hs in before.values() for h in hs
    }
    assert report.chunks_embedded + report.sentences_embedded == embedder.encoded
    assert report.chunks_embedded == len(new_hashes)
    assert report.chunks_reused == sum(len(h) for _, h in after.values()) - len(new_hashes)
    assert titles["removed"] not in after and titles["added"] in after


def test_reused_vectors_equal_fresh_ones(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, FakeEmbedder())
    build(DUMPS / "mediawiki-docs.xml.bz2", target, FakeEmbedder())  # all reused
    fresh = tmp_path / "fresh"
    build(DUMPS / "mediawiki-docs.xml.bz2", fresh, FakeEmbedder())
    a, b = Index.open(target), Index.open(fresh)
    assert a.vectors.ntotal == b.vectors.ntotal
    assert np.array_equal(a.vectors.reconstruct_n(0, a.vectors.ntotal), b.vectors.reconstruct_n(0, b.vectors.ntotal))


def test_failed_build_leaves_the_previous_index_intact(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder)
    version = target.resolve()
    data = (DUMPS / "enwiki-sample.xml.bz2").read_bytes()
    truncated = tmp_path / "cut.xml.bz2"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DumpError, match="truncated"):
        build(truncated, target, fake_embedder)
    assert target.resolve() == version
    assert [p.name for p in tmp_path.iterdir() if ".building-" in p.name] == []
    response = search(Index.open(target), fake_embedder, "upload files")
    assert response.results


def test_interrupt_leaves_the_previous_index_and_next_build_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, FakeEmbedder())
    version = target.resolve()

    class Interrupting(FakeEmbedder):
        def encode(self, texts, batch_size=32):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(DUMPS / "enwiki-sample.xml.bz2", target, Interrupting(), max_pages=5)
    assert target.resolve() == version and Index.open(target).manifest.counts.pages == 901
    # a build killed with SIGKILL leaves its directory behind; the next build removes it
    leftover = tmp_path / f".idx.20200101T000000-deadbeef.building-{2**22 + 12345}"
    leftover.mkdir()
    build(DUMPS / "mediawiki-docs.xml.bz2", target, FakeEmbedder())
    assert not leftover.exists()


def test_zero_pages_in_chosen_namespaces_is_an_error(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(DumpError, match=r"no pages to index in namespaces 6"):
        build(DUMPS / "mediawiki-docs.xml.bz2", tmp_path / "idx", fake_embedder, namespaces={6})
    assert not (tmp_path / "idx").exists()


def test_index_of_another_model_is_refused_unless_replaced(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder, max_pages=5)
    other = dataclasses.replace(FAKE_MODEL, name="other-model", sha256="1" * 64)
    with pytest.raises(IndexFormatError, match="built with model fake-hash-64"):
        build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder, model=other, max_pages=5)
    source = DumpSource(DUMPS / "mediawiki-docs.xml.bz2", max_pages=5)
    build_index(source, target, fake_embedder, other, SETTINGS, replace=True)
    assert Index.open(target).model_name == "other-model"


def test_a_directory_that_is_not_an_index_is_never_overwritten(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.txt").write_text("do not delete")
    with pytest.raises(IndexFormatError, match="not a wikisearch index"):
        build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder, max_pages=3)
    source = DumpSource(DUMPS / "mediawiki-docs.xml.bz2", max_pages=3)
    with pytest.raises(IndexFormatError, match="refusing to replace it"):
        build_index(source, target, fake_embedder, FAKE_MODEL, SETTINGS, replace=True)
    assert (target / "thesis.txt").read_text() == "do not delete"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / VECTORS).write_bytes((d / VECTORS).read_bytes()[:1000]),
            "vectors.faiss is corrupt",
        ),
        (lambda d: (d / STORE).write_bytes(b"garbage" * 1000), "store.sqlite is corrupt"),
        (lambda d: (d / MANIFEST).unlink(), "manifest.json is missing"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "manifest.json is unreadable"),
        (
            lambda d: (d / MANIFEST).write_text(
                json.dumps({**json.loads((d / MANIFEST).read_text()), "format_version": 99})
            ),
            "format version 99",
        ),
        (
            lambda d: (d / MANIFEST).write_text(
                json.dumps({**json.loads((d / MANIFEST).read_text()), "counts": {"chunks": 1}})
            ),
            "inconsistent",
        ),
    ],
)
def test_corrupt_index_is_refused_with_the_reason(
    tmp_path: Path, fake_embedder: FakeEmbedder, damage, message: str
) -> None:
    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder, max_pages=20)
    damage(target.resolve())
    with pytest.raises(IndexFormatError, match=message):
        Index.open(target)


def test_only_current_and_previous_versions_are_kept(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    target = tmp_path / "idx"
    for _ in range(3):
        build(DUMPS / "mediawiki-docs.xml.bz2", target, fake_embedder, max_pages=5)
    versions = [p for p in tmp_path.iterdir() if p.name.startswith(".idx.")]
    assert len(versions) == 2 and target.resolve() in versions


def test_unwritable_parent_is_a_clear_error(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    if os.geteuid() == 0:
        parent = Path("/proc/wikisearch-test")  # not writable even for root
    else:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o500)
    with pytest.raises(IndexFormatError, match="cannot"):
        IndexWriter(parent / "idx", 8)


def test_rebuild_parses_only_pages_whose_text_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.build as build_module

    target = tmp_path / "idx"
    build(DUMPS / "mediawiki-docs.xml.bz2", target, FakeEmbedder())
    parsed: list[str] = []
    real_parse = build_module.parse_sections
    monkeypatch.setattr(build_module, "parse_sections", lambda text: parsed.append(text) or real_parse(text))
    newer, _ = edit_dump(docs_xml(), tmp_path)
    report = build(newer, target, FakeEmbedder())
    assert len(parsed) == 2  # the edited page and the new one; 899 reused as stored
    assert report.pages_unchanged == 899
    # other chunk settings cut pages differently: everything is parsed again
    parsed.clear()
    source = DumpSource(newer)
    build_index(source, target, FakeEmbedder(), FAKE_MODEL, Settings(quiet=True, chunk_tokens=150))
    assert len(parsed) == 901


@pytest.mark.parametrize(
    ("kind", "chunks", "flat_max", "memory_mb", "expected"),
    [
        ("auto", 1_513, 200_000, 1024, "flat"),
        ("auto", 200_000, 200_000, 1024, "flat"),
        ("auto", 200_001, 200_000, 1024, "hnsw"),
        ("auto", 1_513, 1_000, 1024, "hnsw"),
        ("auto", 500_000, 50_000, 1024, "hnsw"),  # 384 dims: ~0.86 GiB of vectors and graph
        ("auto", 1_000_000, 50_000, 1024, "ivfpq"),  # ~1.7 GiB as HNSW
        ("auto", 1_000_000, 50_000, 2048, "hnsw"),
        ("auto", 60_000, 50_000, 64, "ivfpq"),
        ("flat", 5_000_000, 200_000, 1024, "flat"),
        ("hnsw", 10, 200_000, 1024, "hnsw"),
        ("ivfpq", 10, 200_000, 1024, "ivfpq"),
    ],
)
def test_auto_picks_flat_then_hnsw_then_ivfpq_as_an_index_grows(
    kind: str, chunks: int, flat_max: int, memory_mb: int, expected: str
) -> None:
    assert choose_vector_index(kind, chunks, 384, flat_max, memory_mb) == expected


def test_an_hnsw_index_answers_as_the_flat_one_and_rebuilds_reuse_its_vectors(tmp_path: Path) -> None:
    """Past flat_max_chunks the build writes HNSW; on the docs sample it finds the
    same best pages as exact search, and a rebuild copies vectors out of it."""
    dump = DUMPS / "mediawiki-docs.xml.bz2"
    flat, hnsw = tmp_path / "flat", tmp_path / "hnsw"
    build(dump, flat, FakeEmbedder())
    source = DumpSource(dump)
    settings = SETTINGS.replace(flat_max_chunks=1_000)
    build_index(source, hnsw, FakeEmbedder(), FAKE_MODEL, settings)
    a, b = Index.open(flat), Index.open(hnsw)
    assert a.manifest.index.faiss == "IndexFlatIP"
    assert b.manifest.index.faiss == "IndexHNSWFlat"
    embedder = FakeEmbedder()
    for query in ("upload files", "cookie expiry", "categories of a page", "patrol edits", "email notification"):
        exact = [h.title for h in search(a, embedder, query, limit=5).results]
        approx = [h.title for h in search(b, embedder, query, limit=5).results]
        assert approx[:3] == exact[:3], query
    again = FakeEmbedder()
    report = build_index(DumpSource(dump), hnsw, again, FAKE_MODEL, settings)
    assert again.encoded == 0 and report.chunks_reused == b.vectors.ntotal


def test_an_ivfpq_index_finds_what_exact_search_finds_and_rebuilds_get_exact_vectors(tmp_path: Path) -> None:
    """IVF-PQ (what auto picks when HNSW would not fit its memory): on the docs sample
    its top results are exact search's, and a rebuild to flat gets back the very
    vectors the first build stored (the re-ranking vectors are kept), embedding nothing."""
    dump = DUMPS / "mediawiki-docs.xml.bz2"
    flat, ivfpq = tmp_path / "flat", tmp_path / "ivfpq"
    build(dump, flat, FakeEmbedder())
    build_index(DumpSource(dump), ivfpq, FakeEmbedder(), FAKE_MODEL, SETTINGS.replace(vector_index="ivfpq"))
    a, b = Index.open(flat), Index.open(ivfpq)
    info = b.manifest.index
    assert info.faiss.startswith("IndexRefine(IndexIVFPQ") and info.nlist and info.nprobe and info.k_factor
    embedder = FakeEmbedder()
    queries = ("upload files", "cookie expiry", "categories of a page", "patrol edits", "email notification")
    vectors = embedder.encode(list(queries))
    found = [len({i for i, _ in a.search(v, 10)} & {i for i, _ in b.search(v, 10)}) for v in vectors]
    assert sum(found) / (10 * len(queries)) >= 0.95, found
    for query in queries:
        assert (
            search(b, embedder, query, limit=3).results[0].title == search(a, embedder, query, limit=3).results[0].title
        )
    again = FakeEmbedder()
    report = build_index(DumpSource(dump), ivfpq, again, FAKE_MODEL, SETTINGS.replace(vector_index="flat"))
    assert again.encoded == 0 and report.chunks_reused == b.vectors.ntotal
    rebuilt = Index.open(ivfpq)
    assert rebuilt.manifest.index.faiss == "IndexFlatIP"
    ids = list(range(0, rebuilt.vectors.ntotal, 97))
    assert np.array_equal(rebuilt.vectors_of(ids), a.vectors_of(ids))


def test_ivfpq_asked_for_a_tiny_index_keeps_it_exact(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fewer chunks than a PQ codebook needs to train: the index stays flat, and says why."""
    dump = DUMPS / "mediawiki-docs.xml.bz2"
    with caplog.at_level("WARNING"):
        source = DumpSource(dump, max_pages=20)
        build_index(source, tmp_path / "few", FakeEmbedder(), FAKE_MODEL, SETTINGS.replace(vector_index="ivfpq"))
    assert Index.open(tmp_path / "few").manifest.index.faiss == "IndexFlatIP"
    assert "IVF-PQ needs at least" in caplog.text


def test_a_pages_opening_is_its_first_chunk(fake_sample) -> None:
    """The dense leg's second signal: each page's first chunk, read back from FAISS."""
    index = Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))
    rows = (
        index.db()
        .execute(
            "SELECT p.title, c.id FROM chunks c JOIN pages p ON p.id = c.page WHERE c.ordinal IN (0, 1) "
            "AND p.title = (SELECT p2.title FROM chunks c2 JOIN pages p2 ON p2.id = c2.page "
            "GROUP BY p2.id ORDER BY count(*) DESC LIMIT 1) ORDER BY c.ordinal"
        )
        .fetchall()
    )
    (title, first), (_, second) = rows
    table = tables(index)
    scores = page_cosines(index, table, index.vectors.reconstruct(first), {title: first})
    assert scores[title] == pytest.approx(1.0, abs=1e-5)  # its best chunk is its opening
    # best chunk the second: the mean with the opening, which differs
    assert page_cosines(index, table, index.vectors.reconstruct(second), {title: second})[title] < 0.999


@pytest.mark.parametrize(
    ("kind", "chunks", "fts5_max", "expected"),
    [
        ("auto", 1_367, 100_000, "fts5"),
        ("auto", 100_000, 100_000, "fts5"),
        ("auto", 100_001, 100_000, "tantivy"),
        ("fts5", 5_000_000, 100_000, "fts5"),
        ("tantivy", 10, 100_000, "tantivy"),
    ],
)
def test_auto_searches_fts5_until_an_index_outgrows_it(kind: str, chunks: int, fts5_max: int, expected: str) -> None:
    assert choose_lexical_engine(kind, chunks, fts5_max) == expected


def test_a_large_indexs_tantivy_lexical_leg_finds_what_fts5_finds(tmp_path: Path) -> None:
    """Past fts5_max_chunks the lexical leg searches a tantivy index written beside the
    store: on the docs sample, identifier and keyword queries find FTS5's pages."""
    dump = DUMPS / "mediawiki-docs.xml.bz2"
    fts5, large = tmp_path / "fts5", tmp_path / "large"
    build(dump, fts5, FakeEmbedder())
    build_index(DumpSource(dump), large, FakeEmbedder(), FAKE_MODEL, SETTINGS.replace(fts5_max_chunks=1_000))
    a, b = Index.open(fts5), Index.open(large)
    assert a.manifest.lexical_engine == "fts5" and not (a.version_dir / LEXICAL).exists()
    assert b.manifest.lexical_engine == "tantivy" and (b.version_dir / LEXICAL).is_dir()
    lexical, embedder = Ranking(mode="lexical"), FakeEmbedder()
    for query in ("$wgEnableUploads", "allpages", "upload files", "cookie expiry", "database server", "rc_patrol"):
        exact = [h.title for h in search(a, embedder, query, ranking=lexical, limit=3).results]
        found = [h.title for h in search(b, embedder, query, ranking=lexical, limit=3).results]
        assert found[0] == exact[0] and len(set(found) & set(exact)) >= 2, (query, found, exact)
    assert search(b, embedder, "zzqxv qqwxz", ranking=lexical).results == []


def test_an_index_missing_its_tantivy_directory_is_refused_with_the_reason(tmp_path: Path) -> None:
    large = tmp_path / "large"
    source = DumpSource(DUMPS / "mediawiki-docs.xml.bz2", max_pages=40)
    build_index(source, large, FakeEmbedder(), FAKE_MODEL, SETTINGS.replace(lexical_engine="tantivy"))
    shutil.rmtree(large.resolve() / LEXICAL)
    with pytest.raises(IndexFormatError, match=f"{LEXICAL} is missing"):
        Index.open(large)


def _publish_shards(root: Path, model: ModelInfo, chunks: object) -> None:
    """A shards version holding the table ``chunks`` and no sentences or aliases."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.models import Runtime
    from index_format import BuildReport, Chunking, SourceInfo
    from indexer import shards

    version = shards.new_version(root)
    for table in (shards.CHUNKS, shards.SENTENCES, shards.ALIASES):
        (version / table).mkdir()
        rows = chunks if table == shards.CHUNKS else shards.schema(table).empty_table()
        pq.write_table(rows if isinstance(rows, pa.Table) else pa.table(rows), version / table / "part-0.parquet")
    source = SourceInfo(type="dump", path="nothing.xml", file="nothing.xml")
    made = shards.ShardManifest(model, Runtime("fake"), Chunking(200, 40, 24, 1), source, BuildReport())
    shards.publish(version, made)


def test_assemble_refuses_what_the_serial_build_refuses_and_keeps_the_index(tmp_path: Path) -> None:
    """One publisher ends every engine: shards without pages are refused as an empty dump
    is, and shards of another layout are one clear error; the index stays as it was."""
    from indexer import shards
    from indexer.assemble import assemble_index

    target = tmp_path / "index"
    fake_build(DumpSource(shared("dumps/enwiki-tables.xml.bz2")), target)
    before = (target / "manifest.json").read_text()
    model = Index.open(target).manifest.model
    _publish_shards(tmp_path / "empty", model, shards.schema(shards.CHUNKS).empty_table())
    with pytest.raises(DumpError, match="no pages to index") as refused:
        assemble_index(tmp_path / "empty", target, Settings(quiet=True))
    assert refused.value.code == "no_pages"
    _publish_shards(tmp_path / "other", model, {"title": ["A"], "text": ["B"]})
    with pytest.raises(IndexFormatError, match="not a shards chunks table") as other:
        assemble_index(tmp_path / "other", target, Settings(quiet=True))
    assert other.value.code == "bad_shards"
    assert (target / "manifest.json").read_text() == before and Index.open(target).manifest.counts.pages == 5


def test_the_text_rules_fingerprint_is_the_rules_files() -> None:
    """A change to parsing, chunking or sentence rules reaches every page of a rebuilt index."""
    current = files_hash(ROOT, TEXT_RULES_FILES)
    assert current == TEXT_RULES, f"the text rules changed: set core.documents.TEXT_RULES = {current!r}"
