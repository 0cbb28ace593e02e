"""The answer line's sentences: how passages of the real sample dumps split,
what a build stores for them and reuses, and when a search shows one
(the fake embedder here; the real model in test_e2e_model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import IndexFormatError
from core.prose import sentences
from core.settings import Settings
from index_format import Index
from indexer.build import build_index
from indexer.sources.dump import DumpSource
from query.answer import MIN_LEAD, find_answer, is_question
from query.search import search
from query.tables import tables
from tests.conftest import DUMPS, FAKE_MODEL, FakeEmbedder, copy_index

DOCS = DUMPS / "mediawiki-docs.xml.bz2"


@pytest.fixture(scope="module")
def docs(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))


def opening_sentences(index: Index, title: str) -> list[str]:
    row = index.chunks([tables(index).openings[title]])
    return sentences(next(iter(row.values())).text, title)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # a setting: its sentences, then its facts said with its name
        (
            "Manual:$wgEnableUploads",
            [
                "Allow users to upload files.",
                "Use $wgLocalFileRepo to control how and where uploads are stored.",
                "Disabled by default as for security reasons.",
                "$wgEnableUploads — Default: false",
                "$wgEnableUploads — Since: 1.5",
            ],
        ),
        # the module name is the title: not a fact, not a sentence
        ("API:Login", ["Log in and get authentication cookies."]),
    ],
)
def test_a_passage_splits_into_the_sentences_a_reader_sees(docs: Index, title: str, expected: list[str]) -> None:
    assert opening_sentences(docs, title)[: len(expected)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # from enwiki-sample's Albert Sidney Johnston: an initial ends no sentence
        (
            "He was the highest-ranking officer after Robert E. Lee. He was killed at Shiloh.",
            ["He was the highest-ranking officer after Robert E. Lee.", "He was killed at Shiloh."],
        ),
        ("Settings such as e.g. The logo can change.", ["Settings such as e.g. The logo can change."]),
        (
            "A list item without a stop\nAnother item of the list",
            ["A list item without a stop", "Another item of the list"],
        ),
        ("Too short.\n\n" + "word " * 61, []),  # a fragment, a wall
        # from the docs sample: sentences that lean on the one before, or open a list, are not quoted
        (
            "MediaWiki is written primarily for use with MySQL. "
            "However, MediaWiki does support the following other DBMSs to varying degrees:\n\n"
            "Otherwise, the wikitext model is used.",
            ["MediaWiki is written primarily for use with MySQL."],
        ),
    ],
)
def test_sentences_end_where_a_reader_would_end_them(text: str, expected: list[str]) -> None:
    assert sentences(text, "Some page") == expected


def test_a_wrapped_line_stays_one_sentence(docs: Index) -> None:
    """Extension pages wrap sentences over lines; the answer never quotes half of one."""
    found = opening_sentences(docs, "Extension:WikiEditor")
    assert any(
        s.startswith("By default, when installed this extension") and s.endswith("from their preferences.")
        for s in found
    )
    assert not [s for s in found if s[0].islower()], found  # no second half
    assert not [s for s in found if "wfLoadExtension" in s or "$wgHiddenPrefs[]" in s], found  # no code


@pytest.mark.parametrize(
    ("query", "question"),
    [
        ("what is the default of $wgEnableUploads", True),
        ("how do I make my wiki private", True),
        ("list all pages", True),
        ("$wgSitename", False),
        ("wd:Q146 wdt:P18 cats", False),
        ("uploading files", False),
    ],
)
def test_only_questions_in_words_get_an_answer_line(query: str, question: bool) -> None:
    assert is_question(query) is question


def test_a_build_stores_one_vector_per_sentence(docs: Index) -> None:
    counts = docs.manifest.counts
    stored = docs.db().execute("SELECT count(*) FROM sentences").fetchone()[0]
    assert counts.sentences == stored > counts.chunks
    assert 0 < docs.manifest.build.sentences_embedded <= stored  # a sentence said twice is embedded once
    assert docs.sentence_vectors is not None and docs.sentence_vectors.shape == (stored, FakeEmbedder.dimensions)
    chunk = tables(docs).openings["Manual:$wgEnableUploads"]
    rows, vectors = docs.sentences_of([chunk])
    fresh = FakeEmbedder().encode([text for _, text in rows])
    assert np.allclose(vectors, fresh, atol=2e-3)  # stored as float16


def test_a_rebuild_reuses_every_unchanged_sentence(tmp_path: Path) -> None:
    target = tmp_path / "docs"
    first = build_index(DumpSource(DOCS), target, FakeEmbedder(), FAKE_MODEL, Settings(quiet=True))
    embedder = FakeEmbedder()
    again = build_index(DumpSource(DOCS), target, embedder, FAKE_MODEL, Settings(quiet=True))
    assert embedder.encoded == 0
    assert again.sentences == first.sentences and again.sentences_reused == first.sentences_embedded
    assert again.sentences_embedded == 0


def test_an_index_without_sentences_searches_without_an_answer_line(tmp_path: Path) -> None:
    target = tmp_path / "docs"
    settings = Settings(quiet=True, answer_sentences=False, answer_min_score=0.0)
    build_index(DumpSource(DOCS), target, FakeEmbedder(), FAKE_MODEL, settings)
    index = Index.open(target)
    assert index.manifest.counts.sentences == 0 and index.sentence_vectors is None
    response = search(index, FakeEmbedder(), "list all pages in a namespace", settings=settings)
    assert response.results and response.answer is None


def test_a_truncated_sentence_file_is_refused_with_the_reason(tmp_path: Path, fake_sample) -> None:
    index = Index.open(copy_index(fake_sample("dump", "mediawiki-docs.xml.bz2"), tmp_path / "docs"))
    path = index.version_dir / "sentences.f16"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(IndexFormatError, match="inconsistent.*sentences"):
        Index.open(tmp_path / "docs")


def test_the_answer_is_the_top_results_closest_sentence_above_the_threshold(docs: Index) -> None:
    embedder = FakeEmbedder()
    query = "enumerate all pages sequentially in a given namespace"
    settings = Settings(answer_min_score=0.5)
    response = search(docs, embedder, query, settings=settings)
    assert response.answer is not None
    assert response.answer.title == response.results[0].title == "API:Allpages"
    assert response.answer.text == "Enumerate all pages sequentially in a given namespace."
    assert response.answer.url == response.results[0].url
    assert search(docs, embedder, query, settings=settings, offset=1).answer is None
    assert search(docs, embedder, query, settings=settings, sort="recent").answer is None
    assert search(docs, embedder, query, settings=settings.replace(answer_min_score=1.0)).answer is None
    assert search(docs, embedder, query, settings=settings, answer=False).answer is None
    # no passages, no answer
    assert find_answer(docs, query, embedder.encode([query])[0], [], 0.0, 1.0) is None


def test_no_answer_line_when_the_top_result_does_not_stand_out(docs: Index) -> None:
    """Two pages close in score: the line would too often quote the wrong one, so it stays silent."""
    query = "enumerate all pages sequentially in a given namespace"
    vector = FakeEmbedder().encode([query])[0]
    passages = list(docs.chunks([tables(docs).openings["API:Allpages"]]).values())
    assert find_answer(docs, query, vector, passages, 0.5, MIN_LEAD) is not None
    assert find_answer(docs, query, vector, passages, 0.5, MIN_LEAD - 0.01) is None


def test_an_answer_from_a_page_read_whole_links_to_its_own_section(docs: Index) -> None:
    """$wgPingback is short: one passage holds its summary and its Details section; the
    sentence quoted from Details links to #Details, not to the top of the page."""
    sentence = (
        "When set to true, MediaWiki will periodically ping https://www.mediawiki.org/ "
        "with basic data about this MediaWiki instance."
    )
    passage = next(iter(docs.chunks([tables(docs).openings["Manual:$wgPingback"]]).values()))
    assert passage.anchor == ""  # the page read whole
    answer = find_answer(docs, sentence, FakeEmbedder().encode([sentence])[0], [passage], 0.5, 1.0)
    assert answer is not None and answer.text == sentence
    assert answer.url == "https://www.mediawiki.org/wiki/Manual:$wgPingback#Details"
    assert answer.section == "Manual:$wgPingback > Details"


def test_the_evaluation_counts_the_lines_judged_to_answer_and_those_no_one_judged(docs: Index, tmp_path: Path) -> None:
    """A line from a relevant page can still fail to answer: ``make eval`` counts the shown
    lines judged right sentence by sentence, and those still to judge."""
    from query.evaluate import Judgement, answer_lines, load_lines
    from query.ranking import Ranking

    asked = [
        Judgement("1", "mediawiki-docs", "send a password reset email to a user", ("API:Resetpassword",)),
        Judgement("2", "mediawiki-docs", "log in and get authentication cookies", ("API:Login",)),
    ]
    rows = answer_lines(docs, FakeEmbedder(), asked, Ranking(), (0.0,))["rows"]
    shown = [(r["query"], r["answer"]) for r in rows if r["answer"]]
    assert len(shown) == 2, rows
    judged = tmp_path / "lines.jsonl"
    (query, answer), _ = shown
    judged.write_text(f'{{"corpus": "mediawiki-docs", "query": "{query}", "answer": "{answer}", "right": false}}\n')
    level = answer_lines(docs, FakeEmbedder(), asked, Ranking(), (0.0,), load_lines(judged))["levels"][0]
    assert (level["answered"], level["judged_right"], level["unjudged"]) == (2, 0, 1)
    judged.write_text(judged.read_text().replace("false", "true"))
    level = answer_lines(docs, FakeEmbedder(), asked, Ranking(), (0.0,), load_lines(judged))["levels"][0]
    assert (level["answered"], level["judged_right"], level["unjudged"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"corpus": "c", "query": "q", "answer": "a"}', "not a judged answer line"),
        ('{"corpus": "c", "query": "q", "answer": "a", "right": "yes"}', '"right" must be true or false'),
        ("not json", "not a judged answer line"),
    ],
)
def test_a_bad_judged_line_is_one_clear_error_naming_its_line(tmp_path: Path, line: str, said: str) -> None:
    from core.errors import WikisearchError
    from query.evaluate import load_lines

    path = tmp_path / "lines.jsonl"
    path.write_text('{"corpus": "c", "query": "q", "answer": "b", "right": true}\n' + line + "\n")
    with pytest.raises(WikisearchError, match=f"lines.jsonl:2: {said}"):
        load_lines(path)


def test_the_teams_judged_lines_are_of_judged_queries() -> None:
    """Every judged line answers a query of the team's or the shared dev judgements."""
    from query.evaluate import load_lines, load_qrels
    from tests.conftest import ROOT, SHARED

    queries = {(j.corpus, j.query) for path in (ROOT / "bench/qrels-team.jsonl", SHARED / "eval/dev.jsonl")
               for j in load_qrels(path)}  # fmt: skip
    judged = load_lines(ROOT / "bench/answers-team.jsonl")
    assert len(judged) > 100 and {(c, q) for c, q, _ in judged} <= queries
    assert 0 < sum(judged.values()) < len(judged)  # both kinds
