"""Hybrid retrieval: the lexical leg on identifiers, fusion as specified, and
the evaluation harness on hand-checked numbers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import QueryError
from core.lexical import fts_expression, identifier_share, identifier_variants, query_terms, split_compound
from index_format import Index
from query.evaluate import Judgement, doc_id, per_query, score
from query.filters import Filters
from query.ranking import Leg, Ranking, fuse
from query.search import search
from query.tables import normalise_title
from tests.conftest import FakeEmbedder, run_cli

LEXICAL = Ranking(mode="lexical")


@pytest.fixture(scope="module")
def docs(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))


@pytest.fixture(scope="module")
def examples(fake_sample) -> Index:
    return Index.open(fake_sample("sparql-examples", "wikidata-sparql-examples.xml.bz2"))


def titles(index: Index, query: str, ranking: Ranking = LEXICAL, limit: int = 5) -> list[str]:
    return [hit.title for hit in search(index, FakeEmbedder(), query, limit=limit, ranking=ranking).results]


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
    results = search(docs, FakeEmbedder(), query, limit=5, ranking=Ranking(mode="hybrid")).results
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


def test_fts_expression_quotes_every_term() -> None:
    # identifiers' whole forms first, then every word; FTS operators become plain quoted words
    assert fts_expression(query_terms('use $wgServer "NEAR" *')) == '"wgserver" OR "server" OR "near" OR "use"'


def _leg(scores: dict[str, float]) -> Leg:
    leg = Leg(floor=min(scores.values()))  # as if these were all the candidates
    for i, (title, value) in enumerate(scores.items()):
        leg.add(title, i, value)
    return leg


def test_blend_fusion_normalises_each_leg_then_weighs_them() -> None:
    dense = _leg({"A": 0.9, "B": 0.7, "C": 0.5})
    lexical = _leg({"C": 10.0, "D": 5.0})
    fused = dict(fuse(dense, lexical, Ranking(dense_weight=0.5)))
    # dense min-max over [0.5, 0.9]: A 1, B 0.5, C 0, D (absent → floor) 0; lexical / max: C 1, D 0.5
    assert fused == pytest.approx({"A": 0.5, "B": 0.25, "C": 0.5, "D": 0.25})
    order = [t for t, _ in fuse(dense, lexical, Ranking(dense_weight=0.7))]
    assert order == ["A", "B", "C", "D"]  # 0.7, 0.35, 0.3, 0.15


def test_identifiers_in_the_query_move_the_blend_to_the_lexical_leg() -> None:
    dense = _leg({"A": 0.9, "B": 0.7, "C": 0.5})
    lexical = _leg({"C": 10.0, "D": 5.0})
    ranking = Ranking(dense_weight=0.7, identifier_dense_weight=0.2)
    # all identifiers: 0.2 dense + 0.8 lexical → C 0.8, D 0.4, A 0.2, B 0.1
    assert [t for t, _ in fuse(dense, lexical, ranking, identifiers=1.0)] == ["C", "D", "A", "B"]
    # half: 0.45 dense → A 0.45, C 0.55, B 0.225, D 0.275
    assert dict(fuse(dense, lexical, ranking, identifiers=0.5)) == pytest.approx(
        {"A": 0.45, "B": 0.225, "C": 0.55, "D": 0.275}
    )


def test_a_query_naming_a_page_or_redirect_gets_it_first(enwiki: Index) -> None:
    index = enwiki
    hybrid = Ranking()
    assert titles(index, "Aristotle", hybrid)[0] == "Aristotle"
    assert titles(index, "AynRand", hybrid)[0] == "Ayn Rand"  # a redirect's title
    assert titles(index, "abacus", hybrid)[0] == "Abacus"  # case does not matter


@pytest.mark.parametrize(
    ("title", "normal"),
    [
        ("Manual:$wgEnableUploads", "enableuploads"),
        ("$wgEnableUploads", "enableuploads"),
        ("API:Allpages", "allpages"),
        ("Abacus", "abacus"),
        ("Ayn_Rand", "ayn rand"),
    ],
)
def test_normalise_title(title: str, normal: str) -> None:
    assert normalise_title(title) == normal


def test_eval_metrics_match_a_hand_computed_run() -> None:
    judgements = [Judgement("q1", "c", "x", ("A", "B")), Judgement("q2", "c", "y", ("C",))]
    run = {"q1": ["X", "A", "Y", "B"], "q2": ["C"]}
    metrics = score(judgements, run)
    # q1: relevant at ranks 2 and 4 → DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert metrics["ndcg@10"] == pytest.approx((ndcg_q1 + 1.0) / 2, abs=1e-4)
    assert metrics["recall@10"] == pytest.approx(1.0)
    assert metrics["mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["recall@1"] == pytest.approx((0.0 + 1.0) / 2)


def test_qrels_titles_compare_as_displayed() -> None:
    assert doc_id("Extension:SyntaxHighlight_GeSHi") == "Extension:SyntaxHighlight GeSHi"
    assert doc_id("Metro stations of {{Q|Q13224}} in Paris") == "Metro stations of Q13224 in Paris"


def test_judgements_carried_to_the_crawl_are_derived_from_the_data_as_committed(tmp_path: Path) -> None:
    """bench/qrels-crawl.jsonl names crawled queries by the titles the records source gives them today:
    if a title rule or the data changes, the judgements would silently point at nothing."""
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "carried.jsonl"
    subprocess.run(
        [sys.executable, "bench/crawl_qrels.py", "--out", str(out)], cwd=root, check=True, capture_output=True
    )
    carried = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert out.read_text("utf-8") == (root / "bench" / "qrels-crawl.jsonl").read_text("utf-8")
    assert len(carried) >= 20 and all(row["relevant"] for row in carried)


@pytest.mark.model
def test_eval_json_is_one_stable_object(docs_index: Path) -> None:
    from tests.conftest import SHARED

    qrels = SHARED / "eval" / "dev.jsonl"
    outputs = []
    for _ in range(2):
        result = run_cli(
            "eval",
            "--index",
            str(docs_index),
            "--qrels",
            str(qrels),
            "--corpus",
            "mediawiki-docs",
            "--mode",
            "hybrid",
            "--json",
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    data = json.loads(outputs[0])
    assert list(data) == ["corpus", "mode", "queries", "metrics"]
    assert data["corpus"] == "mediawiki-docs" and data["mode"] == "hybrid" and data["queries"] == 10
    assert list(data["metrics"]) == ["ndcg@10", "recall@10", "mrr@10", "recall@1"]
    assert all(0.0 <= v <= 1.0 for v in data["metrics"].values())
    detailed = run_cli(
        "eval", "--index", str(docs_index), "--qrels", str(qrels), "--corpus", "mediawiki-docs", "--per-query", "--json"
    )
    rows = json.loads(detailed.stdout)["per_query"]
    assert [r["id"] for r in rows] == [f"d-mediawiki-docs-{n}" for n in range(1, 11)]
    assert sum(r["ndcg@10"] for r in rows) / len(rows) == pytest.approx(data["metrics"]["ndcg@10"], abs=1e-3)


@pytest.mark.model
def test_hybrid_is_not_worse_than_either_leg_on_the_docs_dev_set(docs_index: Path) -> None:
    from tests.conftest import SHARED

    ndcg = {}
    for mode in ("dense", "lexical", "hybrid"):
        result = run_cli(
            "eval",
            "--index",
            str(docs_index),
            "--qrels",
            str(SHARED / "eval" / "dev.jsonl"),
            "--corpus",
            "mediawiki-docs",
            "--mode",
            mode,
            "--json",
        )
        ndcg[mode] = json.loads(result.stdout)["metrics"]["ndcg@10"]
    assert ndcg["hybrid"] >= max(ndcg["dense"], ndcg["lexical"]) - 0.01, ndcg


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


def test_per_query_rows_match_a_hand_computed_run() -> None:
    judgements = [Judgement("q1", "c", "x", ("A", "B")), Judgement("q2", "c", "y", ("C",))]
    run = {"q1": ["X", "A", "Y", "B"], "q2": ["D"]}
    rows = per_query(judgements, run)
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert rows[0] == {
        "id": "q1",
        "query": "x",
        "ndcg@10": pytest.approx(ndcg_q1, abs=1e-4),
        "first_relevant": 2,
        "top": ["X", "A", "Y"],
    }
    assert rows[1]["ndcg@10"] == 0.0 and rows[1]["first_relevant"] is None


@pytest.fixture(scope="module")
def enwiki(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "enwiki-sample.xml.bz2"))


def test_sort_recent_orders_the_results_by_their_last_edit(enwiki: Index) -> None:
    by_relevance = search(enwiki, FakeEmbedder(), "history of the country", limit=50)
    recent = search(enwiki, FakeEmbedder(), "history of the country", limit=50, sort="recent")
    stamps = [hit.timestamp for hit in recent.results]
    assert len(set(stamps)) > 5 and stamps == sorted(stamps, reverse=True)  # real dump: many revision times
    assert recent.total == by_relevance.total > 50  # the same results, reordered: the newest of all first
    assert stamps[0] >= max(h.timestamp for h in by_relevance.results)


def test_filters_apply_to_every_leg_and_to_the_title_lift(enwiki: Index, docs: Index) -> None:
    assert titles(enwiki, "Aristotle", Ranking())[0] == "Aristotle"
    lifted = search(enwiki, FakeEmbedder(), "Aristotle", filters=Filters(prefix="Al"), ranking=Ranking()).results
    assert lifted and all(hit.title.startswith("Al") for hit in lifted)  # Aristotle is not lifted past the filter
    for mode in ("dense", "lexical", "hybrid"):
        hits = search(
            docs, FakeEmbedder(), "upload", limit=20, ranking=Ranking(mode=mode), filters=Filters(frozenset({104}))
        )
        assert hits.results and all(h.title.startswith("API:") for h in hits.results), mode
    with pytest.raises(QueryError) as bad:
        search(docs, FakeEmbedder(), "upload", sort="oldest")
    assert bad.value.code == "bad_sort"
