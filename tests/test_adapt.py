"""Adapting the model to a wiki: the pairs mined from its own pages."""

from __future__ import annotations

from collections import Counter

import pytest

from index_format import Index, StoredChunk
from indexer.adapt import batches
from indexer.pairs import HELD_BACK_PERCENT, held_back, mine, split
from indexer.sources import open_source
from tests.conftest import DUMPS, fake_build


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[StoredChunk]]:
    """The pages of two real sample corpora as an index stores them (fake vectors)."""
    pages: dict[str, list[StoredChunk]] = {}
    for kind, name in (("dump", "mediawiki-docs.xml.bz2"), ("sparql-examples", "wikidata-sparql-examples.xml.bz2")):
        target = tmp_path_factory.mktemp("pairs") / "index"
        fake_build(open_source(kind, DUMPS / name), target)
        pages |= {page.title: chunks for page, _, chunks in Index.open(target).stored_pages()}
    return pages


# page → its pairs: (kind, query, how the passage starts)
PAIR_CASES = [
    (
        "Manual:$wgDBserver",  # the identifier spelled as a reader says it; its one prose sentence as a cloze
        [
            ("title", "db server", 'Setting: DBserver\nDefault: "localhost"'),
            ("cloze", "Database host name or IP address", 'Setting: DBserver Default: "localhost" Details'),
        ],
    ),
    (
        "Manual:$wgLogos",  # no camelCase: the name without $wg; its Details section as a heading pair
        [
            ("title", "Logos", "Setting: Logos\nType: object, boolean"),
            ("heading", "Logos > Details", "Specification for different versions of the wiki logo."),
            ("cloze", "Specification for different versions of the wiki logo.", "This is an array which should"),
        ],
    ),
    (
        "API:Allpages",  # a run-together module name split into words; one pair per section
        [
            ("title", "all pages", "API module: query+allpages"),
            ("heading", "all pages > Parameters", "from The page title to start enumerating"),
            ("heading", "all pages > Examples", "Show a list of pages starting at the letter B."),
            ("cloze", "Note that this may not consider langlinks added by extensions.", "limit How many total pages"),
            ("cloze", "Show a list of pages starting at the letter B.", "Show info about 4 pages starting"),
        ],
    ),
    (
        "Extension:Cite",
        [
            ("title", "Cite", "Extension: Cite\n\nCite\nThe Cite extension provides"),
            ("cloze", "The Cite extension provides a way for users to create references", "Extension: Cite Cite See"),
        ],
    ),
    (
        "Cats, with pictures",  # a SPARQL example: the title is already words (the upstream text lost its Q ids)
        [
            ("title", "Cats, with pictures", "This query looks at all items with value"),
            ("cloze", "This query looks at all items with value of equals to with a .", "The results are displayed"),
        ],
    ),
    ("Recent events", []),  # its description is too short to teach anything
]


@pytest.mark.parametrize(("title", "expected"), PAIR_CASES, ids=[c[0] for c in PAIR_CASES])
def test_pairs_mined_from_real_pages(stored: dict[str, list[StoredChunk]], title: str, expected: list) -> None:
    pairs = mine([(title, stored[title])])
    assert [p.kind for p in pairs] == [kind for kind, _, _ in expected]
    for pair, (_, query, passage) in zip(pairs, expected, strict=True):
        assert pair.page == title
        assert pair.query.startswith(query), pair.query
        assert pair.passage.startswith(passage), pair.passage


def test_a_window_cut_mid_sentence_gives_no_cloze_and_no_passage_is_a_stub(
    stored: dict[str, list[StoredChunk]],
) -> None:
    pairs = mine(stored.items())
    clozes = [p for p in pairs if p.kind == "cloze"]
    assert clozes and all(p.query[0].isupper() for p in clozes)
    assert all(sum(any(c.isalpha() for c in w) for w in p.passage.split()) >= 5 for p in pairs)
    assert all(p.query != p.passage and p.query not in p.passage for p in clozes)


def test_held_back_pages_are_a_stable_tenth_and_never_trained_on(stored: dict[str, list[StoredChunk]]) -> None:
    pairs = mine(stored.items())
    train, kept = split(pairs, max_pairs=500, seed=1)
    assert len(train) == 500 and kept
    assert not {p.page for p in train} & {p.page for p in kept}
    assert all(held_back(p.page) for p in kept)
    share = sum(map(held_back, stored)) / len(stored)
    assert abs(share - HELD_BACK_PERCENT / 100) < 0.03
    assert split(pairs, 500, seed=1) == (train, kept)  # seeded: the same sample on every run
    assert split(pairs, 500, seed=2)[0] != train
    assert Counter(p.kind for p in train).keys() == {"title", "heading", "cloze"}


def test_batches_keep_each_page_apart_and_lose_only_lone_pairs(stored: dict[str, list[StoredChunk]]) -> None:
    pairs = mine(stored.items())
    made = batches(pairs, 32, seed=3)
    assert all(len({p.page for p in batch}) == len(batch) for batch in made)
    placed = [p for batch in made for p in batch]
    # dropped: only pairs left alone at the end (a long page's last sections), no negatives for them
    assert len(placed) == len(set(map(id, placed))) and len(pairs) - len(placed) <= len(pairs) // 100
    assert sum(len(b) == 32 for b in made) >= 0.85 * len(made)  # the stragglers are few
    assert batches(pairs, 32, seed=3) == made and batches(pairs, 32, seed=4) != made
