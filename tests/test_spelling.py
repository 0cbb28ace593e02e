"""Did you mean (issue 35): a close spelling of a query's unknown words, from the index's
own vocabulary, kept current by every build; its results when they are closer."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from index_format import Index
from query.search import search
from query.spelling import Speller
from tests.conftest import FakeEmbedder, copy_index
from tests.test_build import build, docs_xml

VOCABULARY = {
    "policy": 20,
    "upload": 58,
    "images": 47,
    "recent": 34,
    "changes": 69,
    "einstein": 7,
    "api": 90,
    "tag": 3,
    "once": 1,
}

CASES = [
    # (text, respellings)
    ("uplod images", {"uplod": "upload"}),
    ("recnt chnages api", {"recnt": "recent", "chnages": "changes"}),
    ("Einstien", {"Einstien": "Einstein"}),  # a capital stays a capital
    ("upload images", {}),  # every word known
    ("readers of the browser tab", {}),  # English words the pages do not use are no typos
    ("$wgUplod wgUplodPath user_uplod wd:Uplod", {}),  # identifiers are never respelled
    ("UPLOD", {}),  # nor words in capitals (acronyms)
    ("ap", {}),  # too short to tell
    ("onse", {}),  # "once" is seen once: not offered
    ("qzxwv", {}),  # nothing close
    ("uplod qzxwv", {}),  # one word is no typo of the pages' words: the query is not respelled
    ("ghjkl mnbvc poiuy", {}),  # keyboard mash ("poiuy" is two edits from "policy")
]


@pytest.mark.parametrize(("text", "fixes"), CASES)
def test_unknown_words_get_a_close_frequent_spelling(text: str, fixes: dict[str, str]) -> None:
    assert Speller(VOCABULARY).correct(text) == fixes


@pytest.fixture(scope="module")
def docs(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))


def test_the_vocabulary_is_the_pages_words_and_every_build_keeps_it_current(tmp_path: Path, fake_sample) -> None:
    target = copy_index(fake_sample("dump", "mediawiki-docs.xml.bz2"), tmp_path / "docs")
    index = Index.open(target)
    words = index.vocabulary
    assert words["upload"] > 10 and "enable" in words and "quokkas" not in words
    index.close()
    newer = tmp_path / "newer.xml.bz2"
    newer.write_bytes(
        bz2.compress(docs_xml().replace("Allow users to upload files.", "Let quokkas upload.", 1).encode())
    )
    report = build(newer, target, FakeEmbedder())
    assert report.pages_changed == 1 and Index.open(target).vocabulary["quokkas"] == 1


def test_a_query_with_a_typo_offers_its_spelling_and_as_typed_searches_as_typed(docs: Index) -> None:
    response = search(docs, FakeEmbedder(), "intitle:uplod")
    assert response.did_you_mean == "intitle:upload" and response.respelled  # nothing has "uplod" in its title
    assert response.results and all("upload" in r.title.lower() for r in response.results)
    typed = search(docs, FakeEmbedder(), "intitle:uplod", respell=False)
    assert typed.did_you_mean == "intitle:upload" and not typed.respelled and not typed.results
    assert search(docs, FakeEmbedder(), "upload images").did_you_mean is None
    assert typed.as_dict()["did_you_mean"] == "intitle:upload" and typed.as_dict()["respelled"] is False
