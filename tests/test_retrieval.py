"""Hybrid retrieval: the lexical leg on identifiers, fusion as specified, and
the evaluation harness on hand-checked numbers."""

from __future__ import annotations

import pytest

from indexer.dump import DumpSource
from indexer.index_format import Index
from indexer.lexical import identifier_share, identifier_variants, split_compound
from indexer.search import Ranking, search
from indexer.sparql_examples import SparqlExamplesSource
from tests.conftest import DUMPS, FakeEmbedder, fake_build

LEXICAL = Ranking(mode="lexical")


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Index:
    return fake_build(DumpSource(DUMPS / "mediawiki-docs.xml.bz2"), tmp_path_factory.mktemp("lex") / "docs")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Index:
    source = SparqlExamplesSource(DUMPS / "wikidata-sparql-examples.xml.bz2")
    return fake_build(source, tmp_path_factory.mktemp("lex") / "examples")


def titles(index: Index, query: str, ranking: Ranking = LEXICAL, limit: int = 5) -> list[str]:
    return [hit.title for hit in search(index, FakeEmbedder(), query, limit, ranking=ranking).results]


@pytest.mark.parametrize("query", ["$wgEnableUploads", "wgEnableUploads", "EnableUploads", "enableuploads"])
def test_every_spelling_of_a_setting_finds_its_page_first(docs: Index, query: str) -> None:
    assert titles(docs, query)[0] == "Manual:$wgEnableUploads"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("API:Allpages", "API:Allpages"),
        ("allpages", "API:Allpages"),
        ("enable uploads", "Manual:$wgEnableUploads"),
        ("CookieExpiration", "Manual:$wgCookieExpiration"),
    ],
)
def test_lexical_leg_finds_identifiers_and_module_names(docs: Index, query: str, expected: str) -> None:
    assert expected in titles(docs, query, limit=3)


@pytest.mark.parametrize(
    ("query", "expected"), [("Q146", "Cats, with pictures"), ("P31 Q146 P18", "Cats, with pictures")]
)
def test_wikidata_ids_are_searchable(examples: Index, query: str, expected: str) -> None:
    assert expected in titles(examples, query, limit=10)


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "*",
        "upload*",
        "NEAR(a b)",
        "a OR b AND NOT c",
        "col:value",
        "^start",
        "(((",
        "- -",
        "'; DROP TABLE chunks; --",
    ],
)
def test_fts_syntax_in_queries_is_just_text(docs: Index, query: str) -> None:
    results = search(docs, FakeEmbedder(), query, 5, ranking=Ranking(mode="hybrid")).results
    assert isinstance(results, list)  # no exception, no SQL error
    assert docs.db().execute("SELECT count(*) FROM chunks").fetchone()[0] > 0


@pytest.mark.parametrize(
    ("word", "whole", "parts"),
    [
        ("$wgEnableUploads", ["wgenableuploads", "enableuploads"], ["enable", "uploads"]),
        ("EnableUploads", ["enableuploads"], ["enable", "uploads"]),
        ("wgServer", ["wgserver", "server"], []),
        ("upload_by_url", ["upload_by_url"], ["upload", "by", "url"]),
        ("P31", ["p31"], ["p", "31"]),
    ],
)
def test_identifier_variants(word: str, whole: list[str], parts: list[str]) -> None:
    assert identifier_variants(word) == (whole, parts)


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("createaccount", ["create", "account"]),
        ("allpages", ["all", "pages"]),
        ("categorymembers", ["category", "members"]),
        ("editmywatchlist", ["edit", "my", "watchlist"]),
        ("viewmyprivateinfo", []),  # more than three parts: too likely a coincidence
        ("uploadbyurl", ["upload", "by", "url"]),
        ("noratelimit", ["no", "rate", "limit"]),
        # words, inflected words and names stay whole
        ("patrolled", []),
        ("permissions", []),
        ("uploading", []),
        ("hydrocarbons", []),
        ("usercontribs", []),
        ("alaska", []),
        ("page", []),
    ],
)
def test_run_together_identifiers_split_into_words(word: str, parts: list[str]) -> None:
    assert split_compound(word) == parts


@pytest.mark.parametrize(
    ("query", "expected", "within"),
    [
        # the page grants the 'createaccount' right; before splitting it was not in the top 10
        ("who can create accounts", "Manual:$wgGroupPermissions", 5),
        ("list all pages", "API:Allpages", 5),  # was not in the top 10
        ("members of a category", "API:Categorymembers", 1),  # was third
    ],
)
def test_words_find_pages_that_only_spell_them_run_together(docs: Index, query: str, expected: str, within: int):
    """The page says ``createaccount`` / is titled ``Allpages``; the user types words."""
    assert expected in titles(docs, query, limit=within)


@pytest.mark.parametrize(
    ("query", "share"),
    [
        ("Q146", 1.0),
        ("wd:Q146 wdt:P18", 1.0),
        ("$wgEnableUploads", 1.0),
        ("API:Allpages", 1.0),
        ("allpages", 1.0),
        ("P31 Q5 birth date", 0.5),
        ("how does getText() work", 0.5),
        ("get the categories of a page with the API", 0.0),
        ("winners of the 2024 Olympics", 0.0),
        ("enable uploads", 0.0),
        ("", 0.0),
    ],
)
def test_identifier_share(query: str, share: float) -> None:
    assert identifier_share(query) == share


def test_a_query_of_identifiers_is_ranked_by_the_lexical_leg(examples: Index) -> None:
    """With the dense leg's share at 0.7 the fake vectors would decide; a query
    that is all identifiers moves the weight to the lexical leg."""
    hybrid = Ranking(mode="hybrid")
    assert titles(examples, "Q146", hybrid, 2)[0] == titles(examples, "Q146", LEXICAL, 2)[0] == "Cats, with pictures"
