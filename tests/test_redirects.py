"""A query that names a redirect: the page it points to, said so, landing on its section."""

from __future__ import annotations

import bz2

import pytest

from index_format import Index
from indexer.sources.dump import DumpSource
from query.search import search
from tests.conftest import FakeEmbedder, fake_build
from tests.test_build import docs_xml


def _redirect(title: str, target: str, page_id: int) -> str:
    return (
        f'<page><title>{title}</title><ns>0</ns><id>{page_id}</id><redirect title="{target.split("#")[0]}" />'
        f"<revision><id>{page_id}1</id><timestamp>2026-11-25T00:00:00Z</timestamp><model>wikitext</model>"
        f'<format>text/x-wiki</format><text xml:space="preserve">#REDIRECT [[{target}]]</text></revision></page>'
    )


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The docs sample with redirects as editors make them: to a page, and to a page's section."""
    redirects = [
        _redirect("Logo settings", "Manual:$wgLogos#Details", 990001),
        _redirect("Upload size limit", "Manual:$wgMaxUploadSize#Details", 990002),
        _redirect("Turning on uploads", "Manual:$wgEnableUploads", 990003),
    ]
    xml = docs_xml().replace("</mediawiki>", "\n".join(redirects) + "\n</mediawiki>")
    folder = tmp_path_factory.mktemp("redirects")
    dump = folder / "docs.xml.bz2"
    dump.write_bytes(bz2.compress(xml.encode()))
    fake_build(DumpSource(dump), folder / "index").close()
    return Index.open(folder / "index")


@pytest.mark.parametrize(
    ("query", "title", "redirect", "url_end", "section"),
    [
        ("Turning on uploads", "Manual:$wgEnableUploads", "Turning on uploads", "Manual:$wgEnableUploads", None),
        # a section redirect lands on the section, and the card shows it first
        ("logo settings", "Manual:$wgLogos", "Logo settings", "Manual:$wgLogos#Details", "Manual:$wgLogos > Details"),
        # a short page is one chunk: the link still goes to the section
        ("Upload size limit", "Manual:$wgMaxUploadSize", "Upload size limit", "Manual:$wgMaxUploadSize#Details", None),
        ("$wgEnableUploads", "Manual:$wgEnableUploads", "", "Manual:$wgEnableUploads", None),  # its own title
    ],
)
def test_a_page_named_by_a_redirect_says_so_and_lands_on_its_section(
    docs: Index, query: str, title: str, redirect: str, url_end: str, section: str | None
) -> None:
    top = search(docs, FakeEmbedder(), query).results[0]
    assert (top.title, top.redirect_from) == (title, redirect)
    assert top.url.endswith(url_end)
    if section:
        assert top.section == section


def test_the_page_shows_the_redirect(docs: Index) -> None:
    from core.settings import Settings
    from query.catalog import Catalog
    from webapp import create_app

    catalog = Catalog({"docs": docs.path}, Settings(), embedders={"fake-hash-64": FakeEmbedder()})
    html = create_app(Settings(), catalog=catalog, TESTING=True).test_client().get("/?q=logo+settings")
    assert "(redirect from Logo settings)" in html.get_data(as_text=True)
