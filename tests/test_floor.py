"""The relevance floor: off-topic queries get nothing, judged ones keep their pages,
counts and paging stop where the floor cuts, facets count what a click gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from query.catalog import Catalog
from query.evaluate import load_offtopic
from query.filters import Filters
from query.floor import Floor, Verdict
from tests.conftest import ROOT, run_cli

OFFTOPIC = load_offtopic(ROOT / "bench/offtopic.txt")

# (relevance of pages, pages named by the query, floor) → (good match?, pages that pass)
CASES = [
    ({"A": 0.5, "B": 0.35, "C": 0.1}, set(), Floor(0.4, 0.3), True, ["A", "B"]),
    ({"A": 0.38, "B": 0.35}, set(), Floor(0.4, 0.3), False, ["A", "B"]),  # nothing good: shown as suggestions
    ({"A": 0.1}, {"A"}, Floor(0.4, 0.3), True, ["A"]),  # the query names the page
    ({"A": 0.1, "B": 0.0}, set(), None, True, ["A", "B"]),  # an uncalibrated model: no floor
    ({}, set(), Floor(0.4, 0.3), False, []),
]


@pytest.mark.parametrize(("relevance", "named", "floor", "good", "shown"), CASES)
def test_the_floor_decides_from_the_relevance_scale(relevance, named, floor, good, shown) -> None:
    verdict = Verdict(floor, relevance, named)
    assert verdict.good_match(list(relevance)) is good
    assert [t for t in relevance if verdict.passes(t)] == shown


def test_only_calibrated_models_have_a_floor() -> None:
    assert Floor.of("all-MiniLM-L6-v2") is not None and Floor.of("all-mpnet-base-v2") is not None
    assert Floor.of("/some/local/model") is None


@pytest.fixture(scope="module")
def catalog(docs_index: Path, examples_index: Path) -> Catalog:
    return Catalog({"docs": docs_index, "examples": examples_index}, Settings())


@pytest.mark.model
@pytest.mark.parametrize("name", ["docs", "examples"])
def test_off_topic_and_nonsense_queries_get_no_result_and_no_answer(catalog: Catalog, name: str) -> None:
    answered = [q for q in OFFTOPIC if (r := catalog.search(name, q, 10, 0)).results or r.answer]
    assert answered == []
    assert len(OFFTOPIC) >= 30


@pytest.mark.model
def test_a_query_without_a_good_match_says_so_and_offers_no_result(docs_index: Path) -> None:
    result = run_cli("query", "--index", str(docs_index), "chocolate cake recipe without eggs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no good match for 'chocolate cake recipe without eggs'")
    assert "Answer:" not in result.stdout and "1." not in result.stdout


@pytest.mark.model
def test_paging_stops_where_the_floor_cuts_and_the_count_says_so(catalog: Catalog) -> None:
    first = catalog.search("docs", "change the logo of the wiki", 10, 0)
    pages = catalog.get("docs").index.manifest.counts.pages
    assert first.good_match and first.total_exact and 0 < first.total < pages // 2  # not the whole index
    titles: list[str] = []
    offset = 0
    while True:
        page = catalog.search("docs", "change the logo of the wiki", 10, offset)
        assert page.total == first.total
        titles += [h.title for h in page.results]
        if not page.has_more:
            break
        offset += 10
    assert len(titles) == len(set(titles)) == first.total
    assert "Manual:$wgLogos" in titles[:3]


@pytest.mark.model
def test_a_facet_count_is_what_a_click_on_it_gives(catalog: Catalog) -> None:
    query = "how do I change my password"
    whole = catalog.search("docs", query, 10, 0)
    assert len(whole.facets) > 1
    for facet in whole.facets:
        clicked = catalog.search("docs", query, 50, 0, filters=Filters(frozenset({facet.namespace})))
        assert clicked.total == facet.count, facet
    narrowed = catalog.search("docs", query, 10, 0, filters=Filters(prefix="API:"))
    assert [f.label for f in narrowed.facets] == ["API"]  # no "Manual (43)" beside a prefix that excludes it
