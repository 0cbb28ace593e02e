"""Chunking: sections to model-sized chunks that know where they are."""

from __future__ import annotations

import pytest

from core.documents import Section
from index_format.writer import searchable_text
from indexer.chunk import (
    ChunkSettings,
    approximate_tokens,
    chunk_code_page,
    chunk_page,
    context_header,
    split_text,
)
from indexer.parse import parse_sections
from indexer.sources.dump import DumpSource
from indexer.sources.query_code import code_comments
from tests.conftest import DUMPS

PAGE = (
    "Intro text that is long enough to stand alone as its own chunk of the page, "
    "with several words in it.\n== Setup ==\n=== On Linux ===\n"
    "Install the package with apt and configure the service file, then restart it."
)


def test_each_chunk_knows_page_heading_path_and_anchor() -> None:
    sections = parse_sections(PAGE)
    chunks = chunk_page("Help:Install", sections, ChunkSettings(chunk_tokens=40, overlap=5, min_tokens=5))
    assert [(c.section, c.anchor) for c in chunks] == [
        ("Help:Install", ""),
        ("Help:Install > Setup > On Linux", "On_Linux"),
    ]
    assert chunks[1].embed_text.startswith("Help:Install > Setup > On Linux\n")
    assert chunks[1].text.startswith("Install the package")


def test_a_page_that_fits_in_one_chunk_is_one_chunk_with_its_headings() -> None:
    chunks = chunk_page("Help:Install", parse_sections(PAGE), ChunkSettings(min_tokens=5))
    assert [(c.section, c.anchor) for c in chunks] == [("Help:Install", "")]
    assert "with several words in it.\n\nOn Linux\nInstall the package" in chunks[0].text


def test_tiny_sections_merge_into_their_neighbour_keeping_the_first_anchor() -> None:
    sections = [
        Section(("A",), "A", "Short."),
        Section(("A", "B"), "B", "Also short."),
        Section(("C",), "C", "word " * 170),
    ]
    chunks = chunk_page("P", sections, ChunkSettings(min_tokens=24))
    assert len(chunks) == 2
    assert chunks[0].anchor == "A"
    assert "Short." in chunks[0].text and "Also short." in chunks[0].text and "B" in chunks[0].text
    assert chunks[1].anchor == "C"


def test_a_tiny_last_section_joins_the_previous_chunk() -> None:
    sections = [Section(("A",), "A", "word " * 60), Section(("Z",), "Z", "See also.")]
    chunks = chunk_page("P", sections, ChunkSettings(min_tokens=24))
    assert len(chunks) == 1 and chunks[0].text.endswith("See also.")


def test_long_sections_become_overlapping_windows_within_budget() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} in some detail." for i in range(200)]
    windows = split_text(" ".join(sentences), budget=120, overlap=30, count_tokens=approximate_tokens)
    assert len(windows) > 5
    assert all(n <= 120 for n in approximate_tokens(windows))
    for first, second in zip(windows, windows[1:], strict=False):
        last_sentence = first.rsplit(". ", 1)[-1]
        assert last_sentence.rstrip(".") in second  # neighbours share their boundary sentence
    # nothing is lost: every sentence is in some window
    joined = " ".join(windows)
    assert all(s in joined for s in sentences)


def test_a_single_huge_line_is_cut_by_words() -> None:
    windows = split_text("x" + " y" * 5000, budget=100, overlap=10, count_tokens=approximate_tokens)
    assert all(n <= 100 for n in approximate_tokens(windows))


def test_real_pages_fit_the_model(fake_embedder) -> None:
    settings = ChunkSettings()
    pages = [p for p in DumpSource(DUMPS / "enwiki-sample.xml.bz2", max_pages=15) if not p.redirect]
    for page in pages:
        chunks = chunk_page(page.title, parse_sections(page.text), settings)
        assert chunks, page.title
        sizes = approximate_tokens([c.embed_text for c in chunks])
        assert max(sizes) <= settings.chunk_tokens + 12, page.title  # header and window are counted apart
        assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_a_multi_megabyte_page_is_chunked_section_by_section() -> None:
    # Like Wikitech's Server Admin Log: many dated sections of log lines.
    day = "\n".join(f"* 12:{m:02d} deploy1001: restarted service-{m} after config change" for m in range(60))
    text = "\n".join(f"== 2024-01-{d % 28 + 1:02d} ==\n{day}" for d in range(900))
    assert len(text) > 3_000_000
    chunks = chunk_page("Server Admin Log", parse_sections(text), ChunkSettings())
    assert len(chunks) > 900
    assert chunks[0].anchor == "2024-01-01" and chunks[-1].section.startswith("Server Admin Log > 2024-01-")


@pytest.mark.parametrize(
    ("title", "path", "header"),
    [
        ("Manual:$wgEnableUploads", (), "Manual:$wgEnableUploads (enable uploads)\n"),
        ("API:Allpages", ("Parameters",), "API:Allpages > Parameters (all pages)\n"),
        ("API:Categorymembers", (), "API:Categorymembers (category members)\n"),
        ("Alaska", ("History",), "Alaska > History\n"),
        ("Anthropology", (), "Anthropology\n"),
    ],
)
def test_the_model_reads_identifiers_in_titles_as_words(title: str, path: tuple[str, ...], header: str) -> None:
    assert context_header(title, path) == header


@pytest.mark.parametrize(
    ("language", "code", "expected"),
    [
        ("sparql", "#defaultView:ImageGrid\nSELECT ?item WHERE { ?item wdt:P31 wd:Q146 }", ""),
        ("sparql", "# <translate><!--T:1--> Cats</translate>\nSELECT ?cat {} # with pictures", "Cats\nwith pictures"),
        ("sparql", 'SELECT ?x { FILTER(STR(?u) = "http://a/b#frag") }', ""),
        ("sparql", "# ---------\nSELECT ?x {}", ""),
        (
            "sql",
            "-- pages in the main namespace\nSELECT * /* every\n column */ FROM page",
            "pages in the main namespace\nevery column",
        ),
    ],
)
def test_code_comments(language: str, code: str, expected: str) -> None:
    assert code_comments(code, language) == expected


def test_a_query_page_is_one_chunk_the_model_reads_without_its_code() -> None:
    code = "# cats and their pictures\nSELECT ?item ?pic WHERE { ?item wdt:P31 wd:Q146; wdt:P18 ?pic }"
    [chunk] = chunk_code_page("Cats, with pictures", "Shows cats.", code_comments(code, "sparql"))
    assert chunk.text == "Shows cats."  # the snippet quotes the description; the code is shown apart
    assert searchable_text(chunk.text, code) == "Shows cats.\n\n" + code  # the lexical leg sees everything
    assert "Shows cats." in chunk.embed_text and "cats and their pictures" in chunk.embed_text
    assert "wdt:P31" not in chunk.embed_text and "SELECT" not in chunk.embed_text
