"""What a result card shows of a passage, from the real sample dumps: the
prose first, template fields apart as facts, no empty labels, no headings
glued into the sentence. The stored passage (what the model and the lexical
leg read) is not changed."""

from __future__ import annotations

import pytest

from core.prose import Fact, card_text
from index_format import Index
from query.tables import tables


@pytest.fixture(scope="module")
def docs(fake_sample) -> Index:
    return Index.open(fake_sample("dump", "mediawiki-docs.xml.bz2"))


@pytest.fixture(scope="module")
def examples(fake_sample) -> Index:
    return Index.open(fake_sample("sparql-examples", "wikidata-sparql-examples.xml.bz2"))


def opening(index: Index, title: str) -> tuple[str, str]:
    row = index.chunks([tables(index).openings[title]])
    return next(iter(row.values())).text, title


@pytest.mark.parametrize(
    ("title", "starts", "facts"),
    [
        ("Manual:$wgDisableAnonTalk", "Disable links to talk pages of anonymous users", [Fact("Default", "false")]),
        ("Manual:$wgEnableUploads", "Allow users to upload files.", [Fact("Default", "false"), Fact("Since", "1.5")]),
        ("Manual:$wgDBserver", "Database host name or IP address", [Fact("Default", '"localhost"')]),
        (
            "API:Allpages",
            "Enumerate all pages sequentially in a given namespace.",
            [Fact("API module", "query+allpages")],
        ),
        ("API:Login", "Log in and get authentication cookies.", []),  # the module name is the title
        ("Extension:Cite", "The Cite extension provides a way for users to create references", []),
        # issue 34: the prose's own "Default: 100 MiB." joins the template's value, not a second label
        ("Manual:$wgMaxUploadSize", "Max size for uploads, in bytes.", [Fact("Default", "104857600 (100 MiB)")]),
        # a setting page long enough to be cut into windows keeps its lines: a card, not one long "Setting:" fact
        ("Manual:$wgWhitelistRead", "Pages anonymous user may see", [Fact("Default", "false")]),
        (
            "Manual:$wgPingback",
            "Share data about this installation",
            [Fact("Type", "boolean"), Fact("Default", "false"), Fact("Since", "1.28")],
        ),
    ],
)
def test_documentation_cards_read_like_the_wiki(docs: Index, title: str, starts: str, facts: list[Fact]) -> None:
    text, _ = opening(docs, title)
    prose, found = card_text(text, title)
    assert prose.startswith(starts), prose[:120]
    assert found == facts
    assert "Setting:" not in prose and "Default:" not in prose and "\nDetails\n" not in prose


@pytest.mark.parametrize("title", ["Number of humans in Wikidata", "Only truthy values", "Including non-truthy values"])
def test_query_cards_show_no_empty_labels(examples: Index, title: str) -> None:
    text, _ = opening(examples, title)
    assert "Items used:" in text  # stored as the wiki writes it ...
    prose, facts = card_text(text, title)
    assert (
        "Items used:" not in prose and "Properties used:" not in prose and prose
    )  # ... shown without the empty fields
    assert facts == []


def test_a_label_that_introduces_lines_is_kept() -> None:
    prose, _ = card_text("README\n\nLicenses:\nGNU General Public Licence 2.0 or later", "Extension:X")
    assert prose == "README\n\nLicenses:\nGNU General Public Licence 2.0 or later"


def test_a_section_of_facts_only_lends_them_to_the_card(docs: Index) -> None:
    """$wgLogos: its summary (type, default, since) is a chunk of its own above the details;
    it shows as the card's facts, not as a "more" section with no text."""
    from query.hits import page_hit

    ids = [
        cid
        for (cid,) in docs.db().execute(
            "SELECT c.id FROM chunks c JOIN pages p ON p.id = c.page WHERE p.title = 'Manual:$wgLogos' ORDER BY c.ordinal"
        )
    ]
    rows = docs.chunks(ids)
    lead, details = ids[0], ids[1]
    assert card_text(rows[lead].text, "Manual:$wgLogos")[0] == ""  # the summary alone: facts, no prose
    hit = page_hit([(details, 0.9), (lead, 0.9)], rows, ["logo"], 0.5)
    assert hit.snippet and [f.label for f in hit.facts] == ["Type", "Default", "Since"]
    assert all(more.snippet for more in hit.more)
