"""Re-embedding an index from what it stores, without its source (for an adapted model)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.errors import IndexFormatError
from core.settings import Settings
from index_format import Index, StoredChunk
from indexer.build import build_index
from indexer.reembed import reembed_index, restored
from indexer.sources import open_source
from tests.conftest import DUMPS, FAKE_MODEL, FakeEmbedder, fake_build, shared

# every kind of source, as the sample data has it: (source kind, file, preset)
SOURCES = [
    ("dump", DUMPS / "mediawiki-docs.xml.bz2", None),
    ("dump", DUMPS / "enwiki-sample.xml.bz2", None),  # redirects, long articles cut into windows
    ("sparql-examples", DUMPS / "wikidata-sparql-examples.xml.bz2", None),  # query pages: comments read too
    ("records", shared("sparql/wikidata-examples.jsonl"), "sparql"),
    ("records", Path(__file__).parent / "data" / "quarry-sample.jsonl", "quarry"),  # SQL comments
]


@pytest.mark.parametrize(("kind", "path", "preset"), SOURCES, ids=[f"{s[0]}:{s[1].name}" for s in SOURCES])
def test_every_stored_chunk_comes_back_as_it_was_cut(kind: str, path: Path, preset: str | None, tmp_path: Path) -> None:
    index = fake_build(open_source(kind, path, preset=preset), tmp_path / "index")
    pages = list(index.stored_pages())
    assert pages
    for page, _, chunks in pages:
        assert [restored(page, c).key for c in chunks] == [c.key for c in chunks], page.title
    index.close()


class OtherModel(FakeEmbedder):
    """Another model: every vector differs from the fake embedder's."""

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return -super().encode(texts, batch_size)


def test_a_re_embedded_index_is_the_source_built_with_the_new_model(tmp_path: Path) -> None:
    source = open_source("dump", DUMPS / "enwiki-sample.xml.bz2")
    index = fake_build(source, tmp_path / "index")
    old = index.manifest
    index.close()
    other = replace(FAKE_MODEL, name="other", sha256="f" * 64)
    report = reembed_index(tmp_path / "index", OtherModel(), other, Settings(quiet=True))
    build_index(source, tmp_path / "fresh", OtherModel(), other, Settings(quiet=True))
    again, fresh = Index.open(tmp_path / "index"), Index.open(tmp_path / "fresh")
    assert report.chunks_embedded == fresh.manifest.build.chunks_embedded and report.chunks_reused == 0
    assert again.manifest.model.name == "other" and again.manifest.source == old.source
    assert again.manifest.counts == fresh.manifest.counts
    rows = lambda ix: list(ix.db().execute("SELECT section, anchor, text, hash FROM chunks ORDER BY id"))  # noqa: E731
    assert rows(again) == rows(fresh)
    assert sorted(again.aliases()) == sorted(fresh.aliases())
    keys = [c.key for _, _, chunks in fresh.stored_pages() for c in chunks]
    ours, theirs = again.vectors_for(keys), fresh.vectors_for(keys)
    assert len(ours) == len(set(keys)) and all(np.array_equal(ours[k], theirs[k]) for k in keys)
    assert again.manifest.counts.sentences == fresh.manifest.counts.sentences > 0


def test_chunks_cut_by_another_chunker_are_refused(tmp_path: Path) -> None:
    index = fake_build(open_source("dump", DUMPS / "mediawiki-docs.xml.bz2"), tmp_path / "index")
    page, _, chunks = next(index.stored_pages())
    tampered = StoredChunk(*[*chunks[0].__dict__.values()][:-1], key="0" * 64)
    with pytest.raises(IndexFormatError) as caught:
        restored(page, tampered)
    assert caught.value.code == "stale_chunks"
