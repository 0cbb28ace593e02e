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
