"""Hostile input: fuzz the HTTP API and the wikitext parser.

Only 2xx or 4xx with the one JSON error shape, never a 5xx or a traceback;
the parser never crashes or hangs on mutated real pages.
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import Settings
from indexer.build import build_index
from indexer.parse import parse_sections
from indexer.sources.dump import DumpSource
from query.catalog import Catalog
from tests.conftest import DUMPS, FAKE_MODEL, FakeEmbedder
from webapp import create_app

FTS_AND_SQL = [
    '"',
    "*",
    "NEAR(",
    "OR",
    "AND NOT",
    "^",
    ":",
    "(",
    ")",
    "'; DROP TABLE pages; --",
    "%",
    "%%",
    "%00",
    "\\",
    "{",
    "}",
]
query_text = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(FTS_AND_SQL) | st.text(max_size=8), max_size=30).map(" ".join),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Co", "So"]), max_size=50),
)
number_text = st.one_of(
    st.integers(-(10**12), 10**12).map(str), st.text(max_size=12), st.just("1e3"), st.just("0x10"), st.just(" 5")
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    target = tmp_path_factory.mktemp("fuzz") / "docs"
    build_index(
        DumpSource(DUMPS / "mediawiki-docs.xml.bz2", max_pages=150),
        target,
        FakeEmbedder(),
        FAKE_MODEL,
        Settings(quiet=True),
    )
    config = Settings.load({"rate_limit": "1000000/minute"})
    catalog = Catalog({"docs": target}, config, embedders={"fake-hash-64": FakeEmbedder()})
    return create_app(config, catalog=catalog).test_client()


def check(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and 'File "' not in body
    if response.status_code >= 400 and response.mimetype == "application/json":
        error = response.get_json()["error"]
        assert set(error) == {"status", "code", "message"} and error["status"] == response.status_code


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    q=query_text,
    limit=number_text,
    offset=number_text,
    index=st.sampled_from(["docs", "", "nope", "../../etc"]),
    mode=st.sampled_from(["", "hybrid", "dense", "lexical", "x"]),
)
def test_api_search_never_fails_on_any_input(client, q: str, limit: str, offset: str, index: str, mode: str) -> None:
    url = f"/api/v1/search?q={quote(q)}&limit={quote(limit)}&offset={quote(offset)}&index={quote(index)}&mode={quote(mode)}"
    check(client.get(url))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=query_text, page=number_text)
def test_search_page_and_opensearch_never_fail(client, q: str, page: str) -> None:
    check(client.get(f"/?q={quote(q)}&page={quote(page)}"))
    check(client.get(f"/api/v1/opensearch?search={quote(q)}&limit={quote(page)}"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_raw_percent_encoding_tricks(client, raw: bytes) -> None:
    encoded = "".join(f"%{b:02X}" for b in raw)  # invalid UTF-8, NULs, overlong forms
    check(client.get("/api/v1/search?q=" + encoded))
    check(client.get("/?q=" + encoded))


def test_huge_parameters_are_refused_not_processed(client) -> None:
    check(client.get("/api/v1/search?q=" + "a" * 100_000))
    check(client.get("/api/v1/search?q=ok&limit=" + "9" * 5000))


# ------------------------------------------------------------------ the parser


def _mutations(text: str, rng: random.Random) -> list[str]:
    cut = rng.randrange(1, max(2, len(text)))
    return [
        text[:cut],  # truncated anywhere: templates, tags, links left open
        text.replace("}}", "", rng.randint(1, 5)),  # unclosed templates
        text.replace("</ref>", "", 3).replace("</syntaxhighlight>", ""),  # unclosed tags
        "{{a|" * 300 + text[:500] + "}}" * 10,  # deep nesting
        "[[" * 500 + text[:300],
        "<div>" * 400 + text[:300],
        "{|\n" * 200 + text[:300],
        text[:cut] + "\x00\x1b\ufffe" + text[cut:],
    ]


def test_parser_survives_mutated_real_pages() -> None:
    rng = random.Random(1234)
    pages = [p for p in DumpSource(DUMPS / "enwiki-sample.xml.bz2", max_pages=25) if not p.redirect]
    pages += [p for p in DumpSource(DUMPS / "mediawiki-docs.xml.bz2", max_pages=60)]
    cases = 0
    for page in pages:
        for mutated in _mutations(page.text, rng):
            started = time.monotonic()
            sections = parse_sections(mutated)
            elapsed = time.monotonic() - started
            assert all(isinstance(s.text, str) for s in sections)
            assert elapsed < 30, (page.title, elapsed)  # no hang
            cases += 1
    assert cases >= 600


def test_mutated_dump_files_fail_cleanly(tmp_path: Path) -> None:
    import bz2

    from core.errors import DumpError

    xml = bz2.decompress((DUMPS / "mediawiki-docs.xml.bz2").read_bytes())
    rng = random.Random(99)
    for i in range(40):
        data = bytearray(xml[: rng.randrange(100, len(xml))])
        for _ in range(rng.randint(0, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"m{i}.xml"
        path.write_bytes(bytes(data))
        with contextlib.suppress(DumpError):  # a clear error is fine; anything else fails the test
            list(DumpSource(path))
