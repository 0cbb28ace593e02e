"""Reading dumps: formats, schemas, revisions, namespaces, redirects, bad input."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from core.documents import SiteInfo
from core.errors import DumpError
from indexer.sources.dump import DumpSource, default_namespaces
from indexer.sources.multistream import index_of, plan
from tests.conftest import DUMPS, FORMATS, shared, write_multistream

# file → (schema, title of the indexed page, its latest revision id)
FORMAT_CASES = [
    ("article-pear.xml", "0.3", "Pear", 188924),
    ("article-pear-0.10.xml", "0.10", "Pear", None),
    ("article-pyrus.xml", "0.3", "Pyrus", 238392911),
    ("article-pyrus.xml.bz2", "0.3", "Pyrus", 238392911),
    ("article-pyrus.xml.gz", "0.3", "Pyrus", 238392911),
    ("article-pyrus.xml.xz", "0.3", "Pyrus", 238392911),
    ("article-pyrus.xml.lzma", "0.3", "Pyrus", 238392911),
    ("article-pyrus.xml.7z", "0.3", "Pyrus", 238392911),
    ("article-pyrus-utf16.xml", "0.3", "Pyrus", 238392911),
    ("article-pyrus-utf16.xml.bz2", "0.3", "Pyrus", 238392911),
]


@pytest.mark.parametrize(("name", "schema", "title", "rev_id"), FORMAT_CASES)
def test_reads_every_format_and_takes_the_latest_revision(
    name: str, schema: str, title: str, rev_id: int | None
) -> None:
    source = DumpSource(shared(f"dumps/formats/{name}"))
    pages = list(source)
    assert source.schema == schema
    assert [p.title for p in pages] == [title]
    if rev_id is not None:
        assert pages[0].rev_id == rev_id
    assert pages[0].url == f"https://en.wikipedia.org/wiki/{title}" or pages[0].url.endswith(f"/wiki/{title}")


def test_several_revisions_yield_only_the_newest_text() -> None:
    source = DumpSource(FORMATS / "article-pear.xml")
    (page,) = list(source)
    # the pear export holds 4 revisions; the newest is from 2002-08-31
    assert page.timestamp.startswith("2002-08-31")


def test_schema_011_siteinfo_gives_urls_and_content_namespaces() -> None:
    source = DumpSource(DUMPS / "mediawiki-docs.xml.bz2")
    assert source.site.dbname == "mediawikiwiki"
    assert source.site.article_path == "https://www.mediawiki.org/wiki/"
    assert source.namespaces == {0, 100, 102, 104}
    pages = {p.title: p for p in source}
    assert len(pages) == 901
    assert pages["Manual:$wgEnableUploads"].url == "https://www.mediawiki.org/wiki/Manual:$wgEnableUploads"
    assert pages["Manual:$wgEnableUploads"].namespace == 100


def test_namespace_filter_keeps_only_the_asked_namespaces() -> None:
    source = DumpSource(DUMPS / "mediawiki-docs.xml.bz2", namespaces={104})
    titles = [p.title for p in source]
    assert titles and all(t.startswith("API:") for t in titles)
    assert source.skip_reasons["namespace"] == 901 - len(titles)


def test_talk_pages_are_not_content_by_default() -> None:
    source = DumpSource(FORMATS / "pair-0.10.xml")
    assert [p.title for p in source] == ["Çullu, Agdam"]
    assert source.skip_reasons["namespace"] == 1


@pytest.mark.parametrize(
    ("namespaces", "expected"),
    [
        (
            {
                0: "",
                1: "Talk",
                2: "User",
                4: "Project",
                6: "File",
                10: "Template",
                12: "Help",
                14: "Category",
                100: "Manual",
                101: "Manual talk",
            },
            {0, 4, 12, 100},
        ),
        ({}, {0}),
    ],
)
def test_default_namespaces(namespaces: dict[int, str], expected: set[int]) -> None:
    assert default_namespaces(SiteInfo(namespaces=namespaces)) == expected


def test_redirects_are_marked_with_their_target() -> None:
    source = DumpSource(DUMPS / "enwiki-sample.xml.bz2")
    pages = list(source)
    redirects = {p.title: p.redirect for p in pages if p.redirect}
    assert len(redirects) == 100  # the XML marks 100 <redirect>s (the data README says 99)
    assert redirects["AccessibleComputing"] == "Computer accessibility"
    assert len(pages) - len(redirects) == 106


def test_dump_without_siteinfo_is_read_and_base_url_can_be_given() -> None:
    source = DumpSource(shared("dumps/enwiki-tables.xml.bz2"), base_url="https://en.wikipedia.org/wiki/Main_Page")
    pages = list(source)
    assert len(pages) == 5
    assert pages[0].url.startswith("https://en.wikipedia.org/wiki/")


def test_max_pages_stops_early() -> None:
    source = DumpSource(DUMPS / "mediawiki-docs.xml.bz2", max_pages=7)
    assert len([p for p in source if not p.redirect]) == 7


def _truncated(tmp_path: Path) -> Path:
    data = (DUMPS / "enwiki-sample.xml.bz2").read_bytes()
    path = tmp_path / "truncated.xml.bz2"
    path.write_bytes(data[: len(data) // 2])
    return path


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_INPUTS = [
    (lambda t: t / "missing.xml.bz2", "no such file"),
    (lambda t: t, "is a directory"),
    (lambda t: _write(t, "empty.xml", b""), "the dump is empty"),
    (
        lambda t: _write(t, "page.xml", b"<html><body>not a dump</body></html>"),
        "expected <mediawiki>, saw <html>",
    ),
    (lambda t: _write(t, "notes.txt", b"just some text\n"), "expected <mediawiki>"),
    (
        lambda t: _write(
            t,
            "new.xml",
            b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.99/" version="0.99"><siteinfo/></mediawiki>',
        ),
        "unknown export schema '0.99'",
    ),
    (
        lambda t: _write(t, "fake.xml.bz2", b"plain text, not bzip2"),
        "named .bz2 but is not a bz2 file",
    ),
    (lambda t: shared("dumps/formats/article-pyrus.xml_invalid.7z"), "not a 7z file"),
]


@pytest.mark.parametrize(("make", "message"), BAD_INPUTS)
def test_bad_input_raises_one_clear_dump_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(DumpError, match=message.replace("(", r"\(").replace(".", r"\.")):
        list(DumpSource(make(tmp_path)))


def test_truncated_bz2_fails_naming_the_last_good_page(tmp_path: Path) -> None:
    source = DumpSource(_truncated(tmp_path))
    with pytest.raises(DumpError, match=r"truncated or corrupt after page '.+'"):
        list(source)


def test_truncated_xml_inside_valid_compression(tmp_path: Path) -> None:
    xml = bz2.decompress((DUMPS / "mediawiki-docs.xml.bz2").read_bytes())
    path = _write(tmp_path, "cut.xml", xml[: len(xml) // 3])
    with pytest.raises(DumpError, match="truncated or corrupt"):
        list(DumpSource(path))


def _pages(source: DumpSource) -> list[tuple]:
    return [(p.title, p.page_id, p.rev_id, p.text, p.redirect) for p in source]


def test_a_multistream_dump_read_range_by_range_gives_every_page_once_in_order(tmp_path: Path) -> None:
    original = DUMPS / "enwiki-sample.xml.bz2"
    dump, index = write_multistream(bz2.decompress(original.read_bytes()).decode(), tmp_path, "enwiki", 20)
    whole = DumpSource(original)
    ranges = plan(dump, index, task_bytes=300_000)
    assert len(ranges) >= 3 and ranges[-1].last and not ranges[0].last
    parts = [DumpSource(dump, part=r) for r in ranges]
    assert all(part.site == whole.site for part in parts)
    by_ranges = [page for part in parts for page in _pages(part)]
    assert by_ranges == _pages(whole) == _pages(DumpSource(dump))  # a serial build reads it whole
    assert len(by_ranges) == 206


@pytest.mark.parametrize(
    ("name", "index"),
    [
        (
            "enwiki-20241201-pages-articles-multistream.xml.bz2",
            "enwiki-20241201-pages-articles-multistream-index.txt.bz2",
        ),
        (
            "enwiki-20241201-pages-articles-multistream1.xml-p1p41242.bz2",
            "enwiki-20241201-pages-articles-multistream-index1.txt-p1p41242.bz2",
        ),
        ("enwiki-20241201-pages-articles1.xml-p1p41242.bz2", None),
        ("docs-multistream.xml.bz2", None),  # no index beside it: read whole, in one task
    ],
)
def test_the_index_beside_a_multistream_dump_is_found_by_wikimedias_names(
    tmp_path: Path, name: str, index: str | None
) -> None:
    (tmp_path / name).write_bytes(b"")
    if index:
        (tmp_path / index).write_bytes(b"")
    assert index_of(tmp_path / name) == (tmp_path / index if index else None)


BAD_INDEXES = [
    (lambda offsets: b"not an index\n", "line 1 is not offset:page_id:title"),
    (lambda offsets: b"0:1:Anarchism\n", "as Wikimedia writes it"),
    (lambda offsets: f"{offsets[0]}:1:A\n99999999:2:B\n".encode(), "as Wikimedia writes it"),
    (lambda offsets: f"{offsets[1]}:1:A\n".encode(), "not the <mediawiki> header alone"),
]


@pytest.mark.parametrize(("content", "message"), BAD_INDEXES)
def test_a_wrong_multistream_index_is_one_clear_error(tmp_path: Path, content, message: str) -> None:
    dump, index = write_multistream(
        bz2.decompress((DUMPS / "mediawiki-docs.xml.bz2").read_bytes()).decode(), tmp_path, "docs", 100
    )
    offsets = sorted({int(line.split(b":")[0]) for line in bz2.decompress(index.read_bytes()).splitlines()})
    index.write_bytes(content(offsets))
    with pytest.raises(DumpError, match=message):
        plan(dump, index, task_bytes=1)
