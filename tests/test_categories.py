"""Categories: read from wikitext as MediaWiki reads them, stored with each page at every
build, carried over by incremental builds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.categories import categories
from index_format import Index
from tests.conftest import FakeEmbedder, copy_index
from tests.test_build import build, docs_xml, edit_dump

NAMES = frozenset({"category", "kategorie"})

CASES = [
    # (wikitext, categories)
    ("Text.\n[[Category:Configuration settings]]", ("Configuration settings",)),
    ("[[Category:Configuration settings|Upload]]", ("Configuration settings",)),  # a sort key
    ("[[category:configuration_settings]]", ("Configuration settings",)),  # as MediaWiki normalises titles
    ("[[ Category : Spaced   name ]]", ("Spaced name",)),
    ("[[Category:B]] [[Category:A]] [[Category:B]]", ("B", "A")),  # the page's order, once each
    ("See [[:Category:Help]] for more.", ()),  # a link to the category page, not a category
    ("<!-- [[Category:Hidden]] -->", ()),
    ("<nowiki>[[Category:Literal]]</nowiki>", ()),
    ("<syntaxhighlight lang=wikitext>[[Category:Example]]</syntaxhighlight>", ()),
    ("[[Kategorie:Einstellungen]]", ("Einstellungen",)),  # the wiki's own namespace name
    ("[[Help:Categories]] [[File:X.png|thumb]]", ()),
    ("<translate>[[Category:Translated<!--T:3-->]]</translate>", ("Translated",)),
    ("[[Category:Pages with {{PAGENAME}}]]", ()),  # a name a template makes is the wiki's to expand
]


@pytest.mark.parametrize(("wikitext", "expected"), CASES)
def test_categories_are_read_as_mediawiki_reads_them(wikitext: str, expected: tuple[str, ...]) -> None:
    assert categories(wikitext, NAMES) == expected


def test_a_build_keeps_each_pages_categories_and_a_rebuild_carries_them(tmp_path: Path, fake_sample) -> None:
    target = copy_index(fake_sample("dump", "mediawiki-docs.xml.bz2"), tmp_path / "docs")
    index = Index.open(target)
    assert index.categories_of(["Manual:$wgEnableUploads", "API:Query"]) == {
        "Manual:$wgEnableUploads": ("Configuration settings",),
        "API:Query": ("MediaWiki action API",),
    }
    settings = index.category_pages("Configuration settings")
    assert len(settings) == 730 and all(title.startswith("Manual:$wg") for _, title, _, _ in _rows(index, settings))
    index.close()
    newer, changed = edit_dump(docs_xml(), tmp_path)
    build(newer, target, FakeEmbedder())
    index = Index.open(target)
    assert index.categories_of([changed["edited"]]) == {changed["edited"]: ("Configuration settings",)}
    assert len(index.category_pages("Configuration settings")) == 729  # one removed, the new page has none
    carried = {page.title: page.categories for page, _, _ in index.stored_pages()}
    assert carried["Manual:$wgLogos"] == ("Configuration settings",)


def _rows(index: Index, rows: set[int]):
    return [row for row in index.page_rows() if row[0] in rows]


def test_an_index_built_before_categories_were_kept_reads_as_having_none(tmp_path: Path, fake_sample) -> None:
    target = copy_index(fake_sample("dump", "mediawiki-docs.xml.bz2"), tmp_path / "old")
    store = target.resolve() / "store.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("DROP TABLE categories")
    index = Index.open(target)
    assert not index.keeps_categories
    assert index.categories_of(["Manual:$wgLogos"]) == {} and index.category_pages("Configuration settings") == set()
    assert index.chunks([0])[0].categories == ()
