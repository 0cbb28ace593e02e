"""Title completion with MediaWiki's meaning (issue 35, first piece): /api/v1/opensearch
returns the titles that start with what was typed, as the wiki's own action=opensearch does."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from index_format import Index
from query.complete import complete
from query.tables import tables, wiki_title
from tests.conftest import FakeEmbedder


@pytest.fixture(scope="module")
def docs(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))


@pytest.fixture(scope="module")
def enwiki(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "enwiki-sample.xml.bz2"))


@pytest.mark.parametrize(
    ("typed", "title"),
    [
        ("Manual:$wgUp", "Manual:$wgUp"),
        ("manual:$wgUp", "Manual:$wgUp"),  # the namespace as the wiki writes it
        ("api:rec", "API:Rec"),  # and the first letter of the name upper case ($wgCapitalLinks)
        ("API: rec", "API:Rec"),
        ("table_name", "Table name"),  # underscores are spaces
        ("Nowhere:thing", "Nowhere:thing"),  # not a namespace of this wiki: the whole is the name
    ],
)
def test_what_was_typed_is_read_as_mediawiki_reads_a_title(docs: Index, typed: str, title: str) -> None:
    assert wiki_title(typed, tables(docs)) == title


def test_titles_that_start_with_what_was_typed_come_in_the_wikis_order(docs: Index) -> None:
    found = complete(docs, FakeEmbedder(), "Manual:$wgUp", 10)
    titles = [c.title for c in found]
    assert len(titles) >= 5 and all(t.startswith("Manual:$wgUp") for t in titles)
    assert titles == sorted(titles, key=lambda t: t.replace(" ", "_").encode())  # binary, as page_title sorts
    assert all("#" not in c.url and c.url.endswith(c.title.replace(" ", "_")) for c in found)  # page URLs


def test_a_title_being_typed_is_not_filled_with_semantic_guesses(docs: Index) -> None:
    assert [c.title for c in complete(docs, FakeEmbedder(), "api:recent", 8)] == ["API:Recentchanges"]


def test_redirect_titles_complete_too_with_their_own_url_and_target(enwiki: Index) -> None:
    found = {c.title: c for c in complete(enwiki, FakeEmbedder(), "Analysis of", 10)}
    redirect = found["Analysis of Variance"]
    assert redirect.description == "→ Analysis of variance"
    assert redirect.url == "https://en.wikipedia.org/wiki/Analysis_of_Variance"  # the wiki follows it
    assert found["Analysis of variance"].description == ""


def test_the_api_has_the_shape_of_mediawikis_opensearch(docs: Index) -> None:
    from core.settings import Settings
    from query.catalog import Catalog
    from webapp import create_app

    catalog = Catalog({"docs": docs.path}, Settings(), embedders={"fake-hash-64": FakeEmbedder()})
    client = create_app(Settings(), catalog=catalog, TESTING=True).test_client()
    query = urllib.parse.urlencode({"search": "Manual:$wgUp", "limit": 6})
    data = json.loads(client.get(f"/api/v1/opensearch?{query}").get_data(as_text=True))
    typed, titles, descriptions, urls = data
    assert typed == "Manual:$wgUp" and len(titles) == len(descriptions) == len(urls) == 6
    assert all(t.startswith("Manual:$wgUp") for t in titles) and all("#" not in u for u in urls)


@pytest.mark.parametrize(
    ("query", "exact"),
    [
        ("manual:$wgUploadPath", ("Manual:$wgUploadPath", "https://www.mediawiki.org/wiki/Manual:$wgUploadPath")),
        ("upload files", None),  # words, not a title
    ],
)
def test_a_query_that_is_a_title_says_there_is_a_page_named_so(docs: Index, query: str, exact) -> None:
    from query.search import search

    found = search(docs, FakeEmbedder(), query).exact
    assert (found.title, found.url) == exact if exact else found is None


def test_a_redirect_title_is_a_page_named_so_too(enwiki: Index) -> None:
    from query.search import search

    found = search(enwiki, FakeEmbedder(), "analysis of Variance").exact
    assert found is not None and found.title == "Analysis of Variance"
    assert found.url == "https://en.wikipedia.org/wiki/Analysis_of_Variance"
