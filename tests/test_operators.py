"""CirrusSearch's operators (issue 35): read as CirrusSearch's help page documents them,
applied through the index's own tables, the text around them searched as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from index_format import Index
from query.search import SearchResponse, search
from query.syntax import Clause, parse_query
from tests.conftest import FakeEmbedder, copy_index

# (query, text searched, clauses) — the examples of mediawiki.org's Help:CirrusSearch, and the edges around them.
PARSED = [
    ('"exact phrase"', "exact phrase", [Clause("phrase", "exact phrase")]),
    ("plain words only", "plain words only", []),
    ("upload -API", "upload", [Clause("word", "API", True)]),
    ("upload !API", "upload", [Clause("word", "API", True)]),
    ('cats -"big cats"', "cats", [Clause("phrase", "big cats", True)]),
    ("intitle:upload", "upload", [Clause("intitle", "upload")]),
    ('intitle:"main page" help', "help main page", [Clause("intitle", "main page")]),
    ("-intitle:api upload", "upload", [Clause("intitle", "api", True)]),
    ('incategory:"Configuration settings"', "", [Clause("incategory", "Configuration settings")]),
    ("incategory:Configuration_settings cache", "cache", [Clause("incategory", "Configuration_settings")]),
    ("incategory:Cats|Dogs", "", [Clause("incategory", "Cats|Dogs")]),
    ("-incategory:Deprecated upload", "upload", [Clause("incategory", "Deprecated", True)]),
    ("cache prefix:Manual:$wgMain cache", "cache", [Clause("prefix", "Manual:$wgMain cache")]),  # the rest of the query
    ("prefix:Help:", "", [Clause("prefix", "Help:")]),
    ("insource:/ab+c/ text", "text", [Clause("insource", "/ab+c/")]),
    ('insource:"wgLogos"', "", [Clause("insource", "wgLogos")]),
    ("wdt:P31 wd:Q146", "wdt:P31 wd:Q146", []),  # an unknown keyword is text, as CirrusSearch reads it
    ("Manual:$wgLogos", "Manual:$wgLogos", []),
    ("Intitle:upload", "Intitle:upload", []),  # keywords are lower case, as the help page writes them
    ("intitle:", "intitle:", []),  # a keyword without a value is text
    ("prefix:", "prefix:", []),
    ("e-mail address", "e-mail address", []),  # a hyphen inside a word negates nothing
    ("x-intitle:y", "x-intitle:y", []),
    ("a - b", "a - b", []),
    ('"unclosed phrase', "unclosed phrase", [Clause("phrase", "unclosed phrase")]),
    ('"near words"~2 here', "near words here", [Clause("phrase", "near words")]),
    ('intitle:"" upload', "upload", []),  # an operator on no word is left out
    ('"!!!" upload -""', "!!! upload", []),
    ('""', '""', []),  # nothing but marks: the text as typed
    ("-", "-", []),
]


@pytest.mark.parametrize(("query", "text", "clauses"), PARSED)
def test_queries_are_read_as_cirrussearch_reads_them(query: str, text: str, clauses: list[Clause]) -> None:
    parsed = parse_query(query)
    assert sorted(parsed.text.split()) == sorted(text.split())
    assert list(parsed.clauses) == clauses


@pytest.fixture(scope="module")
def docs(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))


def every(index: Index, query: str) -> tuple[SearchResponse, list[str]]:
    """The first response and the titles of every result, page by page."""
    first = search(index, FakeEmbedder(), query, limit=50)
    titles, offset, response = [], 0, first
    while True:
        titles += [r.title for r in response.results]
        if not response.has_more:
            return first, titles
        offset += 50
        response = search(index, FakeEmbedder(), query, limit=50, offset=offset)


def test_intitle_returns_every_title_with_the_word_and_no_other(docs: Index) -> None:
    first, titles = every(docs, "intitle:upload")
    expected = {title for _, title, _, _ in docs.page_rows() if "upload" in title.casefold()}
    assert set(titles) == expected and len(titles) == first.total >= 30


def test_a_phrase_must_match_and_a_minus_word_excludes(docs: Index) -> None:
    _, titles = every(docs, '"table name prefix"')
    assert titles == ["Manual:$wgDBprefix"]
    _, plain = every(docs, "upload")
    _, without = every(docs, "upload -API")
    assert any(t.startswith("API:") for t in plain)
    assert without and not any(t.startswith("API:") for t in without)
    assert not set(without) & docs.titles_matching("API")
    _, phrase_out = every(docs, 'upload -"file upload"')
    assert not set(phrase_out) & docs.titles_matching("file upload") and len(phrase_out) < len(plain)


def test_incategory_returns_the_pages_of_that_category_in_the_wikis_order(docs: Index) -> None:
    first, titles = every(docs, 'incategory:"Configuration settings"')
    assert first.total == len(titles) == 730 and titles == sorted(titles, key=lambda t: t.replace(" ", "_"))
    assert set(docs.categories_of(titles[:50]).values()) == {("Configuration settings",)}
    assert every(docs, "incategory:configuration_settings")[1] == titles  # as MediaWiki reads a category name
    assert every(docs, 'incategory:"Configuration settings|MediaWiki action API"')[0].total == 730 + 142
    _, api_only = every(docs, 'upload -incategory:"Configuration settings"')
    assert api_only and not any("Configuration settings" in c for c in docs.categories_of(api_only).values())


def test_prefix_takes_the_rest_of_the_query_and_text_before_it_is_searched(docs: Index) -> None:
    first, titles = every(docs, "cache prefix:Manual:$wgMain")
    assert titles and all(t.startswith("Manual:$wgMain") for t in titles)
    assert first.results[0].title == "Manual:$wgMainCacheType"
    _, listed = every(docs, "prefix:API:Query")
    assert listed == sorted(t for _, t, _, _ in docs.page_rows() if t.startswith("API:Query"))


def test_what_cannot_be_applied_is_said_and_the_rest_is_searched(docs: Index, tmp_path: Path) -> None:
    response = search(docs, FakeEmbedder(), "insource:wgLogos upload")
    assert response.notices and "insource:" in response.notices[0]
    assert [r.title for r in response.results] == [r.title for r in search(docs, FakeEmbedder(), "upload").results]
    old = copy_index(Path(docs.path), tmp_path / "old")
    with sqlite3.connect(old.resolve() / "store.sqlite") as conn:
        conn.execute("DROP TABLE categories")
    response = search(Index.open(old), FakeEmbedder(), "incategory:Configuration_settings upload")
    assert "rebuild it to search by category" in response.notices[0] and response.results
    assert response.as_dict()["notices"] == response.notices


def test_a_category_no_page_is_in_is_said_so_with_the_closest_one(docs: Index) -> None:
    name = Path(docs.path).name
    response = search(docs, FakeEmbedder(), "incategory:Marsupials upload")
    assert not response.results and response.notices == [f"No page of {name} is in the category “Marsupials”."]
    typo = search(docs, FakeEmbedder(), 'incategory:"Configuration setings"')
    assert typo.notices == [
        f"No page of {name} is in the category “Configuration setings”: did you mean “Configuration settings”?"
    ]


def test_facets_count_what_the_operators_allow(docs: Index) -> None:
    response = search(docs, FakeEmbedder(), 'incategory:"MediaWiki action API"')
    assert [(f.label, f.count) for f in response.facets] == [("API", 142)]
