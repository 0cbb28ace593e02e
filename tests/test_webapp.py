"""The web app through Flask's test client: every endpoint, every error, escaping.

Searches here run on an index built with the fast fake embedder; the same
endpoints run with the real model under gunicorn in test_web_e2e.py.
"""

from __future__ import annotations

import bz2
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.settings import Settings
from indexer.build import build_index
from indexer.sources.dump import DumpSource
from indexer.sources.records import RecordsSource, mapping_from
from indexer.sources.sparql_examples import SparqlExamplesSource, try_it_url
from query.catalog import Catalog
from tests.conftest import DUMPS, FAKE_MODEL, FakeEmbedder
from webapp import create_app

HOSTILE = '<script>alert("pwned")</script>'
XSS_DUMP = f"""<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
<siteinfo><sitename>Evil wiki</sitename><base>https://evil.example/wiki/Main</base>
<namespaces><namespace key="0" /></namespaces></siteinfo>
<page><title>&lt;script&gt;alert(1)&lt;/script&gt; page</title><ns>0</ns><id>1</id>
<revision><id>2</id><timestamp>2026-01-01T00:00:00Z</timestamp><text xml:space="preserve">
== &lt;img src=x onerror=alert(2)&gt; heading ==
Upload files here. {HOSTILE.replace("<", "&lt;").replace(">", "&gt;")} and &lt;b onmouseover="alert(3)"&gt;upload&lt;/b&gt; more upload text.
An upload example: &amp;lt;script&amp;gt;alert(4)&amp;lt;/script&amp;gt; written with entities.
&lt;syntaxhighlight lang="html"&gt;&lt;script&gt;alert("code")&lt;/script&gt;&lt;/syntaxhighlight&gt;
</text></revision></page>
</mediawiki>"""


def _build(dump: Path, target: Path, source=None) -> Path:
    source = source or DumpSource(dump)
    build_index(source, target, FakeEmbedder(), FAKE_MODEL, Settings(quiet=True))
    return target


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("web")
    xss = base / "xss.xml.bz2"
    xss.write_bytes(bz2.compress(XSS_DUMP.encode()))
    examples = DUMPS / "wikidata-sparql-examples.xml.bz2"
    quarry = Path(__file__).parent / "data" / "quarry-sample.jsonl"
    return {
        "docs": _build(DUMPS / "mediawiki-docs.xml.bz2", base / "docs"),
        "evil": _build(xss, base / "evil"),
        "examples": _build(examples, base / "examples", SparqlExamplesSource(examples)),
        "quarry": _build(quarry, base / "quarry", RecordsSource(quarry, mapping_from("quarry", {}))),
    }


def make_app(indexes: dict[str, Path], **settings: object) -> Flask:
    config = Settings.load({"rate_limit": "10000/minute", **settings})
    catalog = Catalog(indexes, config, embedders={"fake-hash-64": FakeEmbedder()})
    app = create_app(config, catalog=catalog, TESTING=True)
    return app


@pytest.fixture(scope="module")
def client(indexes: dict[str, Path]) -> FlaskClient:
    return make_app(indexes).test_client()


# ------------------------------------------------------------------ the page


def test_home_shows_a_labelled_search_form_and_index_selector(client: FlaskClient) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<label for="q"' in html and 'id="q" name="q"' in html
    assert '<select id="index" name="index">' in html and 'value="docs"' in html and 'value="evil"' in html
    assert 'rel="search" type="application/opensearchdescription+xml"' in html
    assert '<ol class="results"' not in html


@pytest.mark.parametrize(
    ("index", "label", "prefix"),
    [
        ("docs", "Search MediaWiki", 'placeholder="e.g. Manual:"'),  # the wiki's name, a prefix it has
        ("examples", "Search Wikidata", None),  # no namespaces: no prefix to suggest
    ],
)
def test_the_form_speaks_of_the_index_searched(client: FlaskClient, index: str, label: str, prefix: str | None) -> None:
    html = client.get(f"/?index={index}").get_data(as_text=True)
    assert f'<label for="q" class="search-label">{label}</label>' in html
    assert "Wikimedia documentation" not in html
    form = html.split('id="prefix"')[1].split(">")[0]
    assert (prefix in form) if prefix else "placeholder" not in form


def test_search_page_shows_grouped_results_with_highlights_and_section_links(client: FlaskClient) -> None:
    html = client.get("/?q=upload+files&index=docs").get_data(as_text=True)
    assert 'class="results"' in html and html.count('<li class="result">') == 10
    assert "<mark>" in html
    assert 'href="https://www.mediawiki.org/wiki/' in html
    assert "#" in html.split('class="results"')[1]  # some result links to Page#Section
    assert 'rel="next"' in html and 'rel="prev"' not in html


def test_pagination_moves_through_results(client: FlaskClient) -> None:
    first = client.get("/?q=upload+files&index=docs").get_data(as_text=True)
    second = client.get("/?q=upload+files&index=docs&page=2").get_data(as_text=True)
    assert "Results 11–20" in second and 'rel="prev"' in second
    titles = lambda html: [part.split("</a>")[0].split(">")[-1] for part in html.split("<h2>")[1:]]  # noqa: E731
    assert set(titles(first)).isdisjoint(titles(second))


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?q=" + "x" * 301, 400, "Your search is too long"),
        ("?q=hello&index=nope", 404, "There is no index called “nope”"),
        ("?q=hello&page=999", 400, "That page of results is out of range"),
    ],
)
def test_bad_requests_get_a_friendly_page_not_a_traceback(
    client: FlaskClient, query: str, status: int, message: str
) -> None:
    response = client.get("/" + query)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in html and 'role="alert"' in html and "Traceback" not in html


def test_blank_query_just_shows_the_form(client: FlaskClient) -> None:
    response = client.get("/?q=+++")
    assert response.status_code == 200 and 'role="alert"' not in response.get_data(as_text=True)


# ------------------------------------------------------------------ escaping and headers


def test_wiki_html_is_shown_as_text_everywhere(client: FlaskClient) -> None:
    html = client.get("/?q=upload&index=evil").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; page" in html
    # the parser drops <script> tags from wikitext as MediaWiki does; what survives as text is escaped:
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in html  # written with entities
    assert "&lt;script&gt;alert(&#34;code&#34;)&lt;/script&gt;" in html  # a code sample
    assert "<script>alert" not in html and "<img src=x" not in html and "<b onmouseover" not in html
    about = client.get("/about").get_data(as_text=True)
    assert "<script>alert" not in about


def test_pages_forbid_inline_scripts_and_third_parties(client: FlaskClient) -> None:
    response = client.get("/?q=upload")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = response.get_data(as_text=True)
    assert "<script>" not in html  # only <script src=…> of our own origin
    assert "http://" not in html.split("<main")[0] and "https://" not in html.split("<main")[0]  # no external assets


# ------------------------------------------------------------------ JSON API

RESULT_KEYS = {"title", "section", "url", "snippet", "highlights", "score", "page_id", "rev_id", "more"}


def test_api_search_returns_results_with_everything_a_gadget_needs(client: FlaskClient) -> None:
    response = client.get("/api/v1/search?q=upload+files&index=docs&limit=5")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    data = response.get_json()
    assert data["index"] == "docs" and data["limit"] == 5 and data["offset"] == 0 and data["has_more"] is True
    assert len(data["results"]) == 5
    for hit in data["results"]:
        assert set(hit) >= RESULT_KEYS
        assert hit["url"].startswith("https://www.mediawiki.org/wiki/")
        for start, end in hit["highlights"]:
            assert 0 <= start < end <= len(hit["snippet"])
    scores = [h["score"] for h in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_api_offset_pages_without_overlap(client: FlaskClient) -> None:
    a = client.get("/api/v1/search?q=upload+files&index=docs&limit=5").get_json()
    b = client.get("/api/v1/search?q=upload+files&index=docs&limit=5&offset=5").get_json()
    assert {h["title"] for h in a["results"]}.isdisjoint(h["title"] for h in b["results"])


def test_default_index_is_the_first_served(client: FlaskClient) -> None:
    assert client.get("/api/v1/search?q=upload").get_json()["index"] == "docs"


API_ERRORS = [
    ("/api/v1/search", 400, "missing_parameter"),
    ("/api/v1/search?q=", 400, "bad_query"),
    ("/api/v1/search?q=%20%20", 400, "bad_query"),
    ("/api/v1/search?q=" + "y" * 301, 400, "bad_query"),
    ("/api/v1/search?q=ok&limit=0", 400, "bad_parameter"),  # a parameter's value, as limit=ten is
    ("/api/v1/search?q=ok&limit=51", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&limit=ten", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&offset=-1", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&mode=fuzzy", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&offset=1e3", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&index=nope", 404, "unknown_index"),
    ("/api/v1/search?q=ok&ns=manual", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&ns=100,x", 400, "bad_parameter"),
    ("/api/v1/search?q=ok&prefix=" + "M" * 256, 400, "bad_parameter"),
    ("/api/v1/search?q=ok&sort=oldest", 400, "bad_parameter"),
    ("/api/v1/opensearch", 400, "missing_parameter"),
    ("/api/v1/opensearch?search=ok&index=nope", 404, "unknown_index"),
    ("/api/v1/opensearch?search=ok&limit=x", 400, "bad_parameter"),
    ("/api/v1/nothing-here", 404, "not_found"),
    ("/opensearch.xml?index=nope", 404, "unknown_index"),
]


@pytest.mark.parametrize(("url", "status", "code"), API_ERRORS)
def test_every_api_error_has_the_one_json_shape(client: FlaskClient, url: str, status: int, code: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    if url.startswith("/api/"):
        body = response.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
        assert body["error"]["status"] == status and body["error"]["code"] == code
        assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_wrong_method_is_a_json_405(client: FlaskClient) -> None:
    response = client.post("/api/v1/search?q=x")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


def test_opensearch_answers_in_mediawikis_format(client: FlaskClient) -> None:
    data = client.get("/api/v1/opensearch?search=upload+files&index=docs&limit=4").get_json()
    assert data[0] == "upload files" and len(data) == 4
    assert len(data[1]) == len(data[2]) == len(data[3]) == 4
    assert all(u.startswith("https://www.mediawiki.org/wiki/") for u in data[3])
    assert client.get("/api/v1/opensearch?search=").get_json() == ["", [], [], []]


def test_opensearch_description_for_browsers(client: FlaskClient) -> None:
    response = client.get("/opensearch.xml?index=docs", base_url="https://wikisearch.toolforge.org")
    xml = response.get_data(as_text=True)
    assert response.mimetype == "application/opensearchdescription+xml"
    assert 'template="https://wikisearch.toolforge.org/?q={searchTerms}&amp;index=docs"' in xml
    assert 'type="application/x-suggestions+json"' in xml and "api/v1/opensearch?search={searchTerms}" in xml


def test_proxy_headers_give_the_public_url(client: FlaskClient) -> None:
    xml = client.get(
        "/opensearch.xml", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "wikisearch.toolforge.org"}
    ).get_data(as_text=True)
    assert "https://wikisearch.toolforge.org/?q=" in xml


def test_healthz_and_indexes(client: FlaskClient) -> None:
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["indexes"]["docs"]["pages"] == 901
    listing = client.get("/api/v1/indexes").get_json()
    assert listing["default"] == "docs" and [i["name"] for i in listing["indexes"]] == [
        "docs",
        "evil",
        "examples",
        "quarry",
    ]


def test_rate_limit_answers_429_with_retry_after(indexes: dict[str, Path]) -> None:
    limited = make_app(indexes, rate_limit="3/minute", suggest_rate_limit="2/minute").test_client()
    statuses = [
        limited.get(url).status_code
        for url in [
            "/api/v1/search?q=upload",
            "/?q=upload",
            "/api/v1/opensearch?search=upload",  # suggestions: a budget of their own
            "/api/v1/search?q=upload",
            "/api/v1/search?q=upload",
        ]
    ]
    assert statuses == [200, 200, 200, 200, 429]  # one budget across the searches
    response = limited.get("/api/v1/search?q=upload")
    assert response.get_json()["error"]["code"] == "rate_limited" and response.headers["Retry-After"]
    page = limited.get("/?q=upload")
    assert page.status_code == 429 and "too many requests" in page.get_data(as_text=True)
    assert limited.get("/").status_code == 200  # the empty form ("Back to search") is never limited
    assert limited.get("/?q=").status_code == 200
    assert limited.get("/api/v1/opensearch?search=uplo").status_code == 200  # still within its own budget
    assert limited.get("/api/v1/opensearch?search=uploa").status_code == 429
    assert limited.get("/healthz").status_code == 200  # monitoring is never limited


def test_an_unexpected_failure_is_a_json_500_without_traceback(indexes: dict[str, Path]) -> None:
    app = make_app(indexes)

    class Broken(FakeEmbedder):
        def encode(self, texts, batch_size=32):
            raise ZeroDivisionError("boom")

    app.extensions["wikisearch"].served["docs"] = (
        app.extensions["wikisearch"]
        .served["docs"]
        .__class__("docs", app.extensions["wikisearch"].served["docs"].index, Broken())
    )
    response = app.test_client().get("/api/v1/search?q=upload&index=docs")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error" and "boom" not in response.get_data(as_text=True)


def test_query_results_show_code_and_a_try_it_link(client: FlaskClient) -> None:
    html = client.get("/?q=cats+with+pictures&index=examples").get_data(as_text=True)
    first = html.split('<li class="result">')[1]
    assert ">Cats, with pictures</a>" in first
    code = first.split('<pre class="code"')[1].split("</pre>")[0]
    assert "wdt:P31 wd:Q146" in code and "#title: Cats, with pictures" in code
    assert "translate" not in code  # the Translate extension's markup, which the wiki's readers never see
    source = next(
        d for d in SparqlExamplesSource(DUMPS / "wikidata-sparql-examples.xml.bz2") if d.title == "Cats, with pictures"
    )
    expected = try_it_url(source.code).replace("&", "&amp;")
    assert f'<a class="action-link" href="{expected}">Try it</a>' in first
    assert first.index("This query looks at all items") < first.index('<pre class="code"')  # description above the code


def test_long_code_is_collapsed_without_javascript(client: FlaskClient) -> None:
    html = client.get("/?q=horses+mother+father+birth+year&index=examples").get_data(as_text=True)
    first = html.split('<li class="result">')[1]
    assert "Horses" in first.split("</h2>")[0]
    assert '<details class="code-more">' in first and "<summary>Show all" in first
    assert first.split('<pre class="code"')[1].split("</pre>")[0].count("\n") <= 14  # 15 lines shown


def test_sql_results_open_in_quarry(client: FlaskClient) -> None:
    html = client.get("/?q=unpatrolled+new+pages&index=quarry").get_data(as_text=True)
    first = html.split('<li class="result">')[1]
    assert "Unreviewed new pages older than a week" in first
    assert '<a class="action-link" href="https://quarry.wmcloud.org/query/102">Open in Quarry</a>' in first
    assert "rc_patrolled = 0" in first
    data = client.get("/api/v1/search?q=unpatrolled+new+pages&index=quarry&limit=1").get_json()
    assert data["results"][0]["code_language"] == "sql" and data["results"][0]["action_url"].endswith("/102")


def test_api_filters_by_namespace_and_prefix_with_facets(client: FlaskClient) -> None:
    everything = client.get("/api/v1/search?q=password&limit=20").get_json()
    facets = {f["label"]: f for f in everything["facets"]["namespaces"]}
    assert {"Manual", "API"} <= set(facets) and facets["API"]["namespace"] == 104
    api_only = client.get("/api/v1/search?q=password&limit=20&ns=104").get_json()
    assert api_only["results"] and all(r["title"].startswith("API:") for r in api_only["results"])
    assert api_only["facets"] == everything["facets"]  # facets count the best matches before the filter
    both = client.get("/api/v1/search?q=password&limit=20&ns=100&ns=104").get_json()
    assert {r["title"].split(":")[0] for r in both["results"]} == {"Manual", "API"}
    prefixed = client.get("/api/v1/search?q=database&prefix=Manual:$wgDB&limit=20").get_json()
    assert prefixed["results"] and all(r["title"].startswith("Manual:$wgDB") for r in prefixed["results"])
    nothing = client.get("/api/v1/search?q=database&prefix=Nowhere:").get_json()
    assert nothing["results"] == [] and nothing["has_more"] is False


def test_results_say_when_their_page_was_edited(client: FlaskClient) -> None:
    hit = client.get("/api/v1/search?q=upload+files&limit=1").get_json()["results"][0]
    assert hit["timestamp"] == "2026-11-24T00:00:00Z"  # the revision's time in the sample dump
    html = client.get("/?q=upload+files").get_data(as_text=True)
    assert re.search(
        r'<time class="edited" datetime="2026-11-24T00:00:00Z">edited (today|yesterday|\d+ (day|week|month|year)s? ago)</time>',
        html,
    )


@pytest.mark.parametrize(
    ("days", "words"),
    [(0, "edited today"), (1, "edited yesterday"), (5, "edited 5 days ago"), (14, "edited 2 weeks ago"),
     (40, "edited 1 month ago"), (100, "edited 3 months ago"), (800, "edited 2 years ago")],
)  # fmt: skip
def test_edited_ago_reads_like_a_person(days: int, words: str) -> None:
    from datetime import UTC, datetime, timedelta

    from webapp.views import edited_ago

    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    then = (now - timedelta(days=days, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert edited_ago(then, now) == words
    assert edited_ago("", now) == ""  # records without a time show none


def test_the_page_offers_namespace_facets_and_a_friendly_empty_state(client: FlaskClient) -> None:
    html = client.get("/?q=password").get_data(as_text=True)
    assert '<strong aria-current="true">All namespaces</strong>' in html
    assert re.search(r'<a href="/\?ns=104&amp;q=password&amp;index=docs">API \(\d+\)</a>', html)
    filtered = client.get("/?q=password&ns=104").get_data(as_text=True)
    assert re.search(r'<strong aria-current="true">API \(\d+\)</strong>', filtered)
    assert 'name="ns" value="104"' in filtered  # a new search stays in the namespace
    empty = client.get("/?q=password&prefix=Nowhere:")
    assert empty.status_code == 200
    assert "with these filters" in empty.get_data(as_text=True) and "Search everything instead" in empty.get_data(
        as_text=True
    )
    bad = client.get("/?q=password&ns=manual")
    assert bad.status_code == 400 and "A namespace is a number" in bad.get_data(as_text=True)


@pytest.mark.parametrize(
    ("index", "name"),
    [
        ("docs", "wikisearch docs"),
        ("mediawiki-docs", "mediawiki-docs"),  # "wikisearch media" was cut mid-word
        ("wikidata-examples", "wikidata"),
        ("abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop"),
    ],
)
def test_the_browsers_name_for_the_search_is_whole_words_within_16_characters(index: str, name: str) -> None:
    from webapp.views import short_name

    assert short_name(index) == name and len(name) <= 16


def test_the_opensearch_description_names_the_index(client: FlaskClient) -> None:
    xml = client.get("/opensearch.xml?index=docs").get_data(as_text=True)
    assert "<ShortName>wikisearch docs</ShortName>" in xml


def test_a_namespace_filter_does_not_follow_the_reader_to_an_index_without_it(client: FlaskClient) -> None:
    """Picking API (104) on docs, then switching to the SPARQL examples: the hidden ns=104 would
    have filtered everything away unseen."""
    html = client.get("/?q=cats&index=examples&ns=104").get_data(as_text=True)
    assert "examples has no namespace 104: that filter was cleared." in html
    assert '<li class="result">' in html and 'name="ns"' not in html


def test_an_active_namespace_filter_is_always_shown(client: FlaskClient) -> None:
    html = client.get("/?q=upload&index=docs&ns=102&prefix=Nowhere").get_data(as_text=True)
    assert '<li class="result">' not in html and "with these filters" in html
    assert '<strong aria-current="true">Namespace 102 (0)</strong>' in html  # the filter that emptied the page


def test_a_search_for_a_title_says_there_is_a_page_named_so(client: FlaskClient) -> None:
    html = client.get("/?q=manual%3A%24wgUploadPath&index=docs").get_data(as_text=True)
    link = '<a href="https://www.mediawiki.org/wiki/Manual:$wgUploadPath">Manual:$wgUploadPath</a>'
    assert f"There is a page named “{link}” on this wiki." in html
    assert "There is a page named" not in client.get("/?q=upload+files&index=docs").get_data(as_text=True)


def test_the_page_reads_operators_shows_categories_and_says_what_it_left_out(client: FlaskClient) -> None:
    html = client.get("/", query_string={"q": 'incategory:"MediaWiki action API"', "index": "docs"}).get_data(
        as_text=True
    )
    assert "Results 1–10 of 142 for" in html and html.count('<li class="result">') == 10
    assert (
        html.count(
            '<p class="categories">Category: <a href="https://www.mediawiki.org/wiki/Category:MediaWiki_action_API">MediaWiki action API</a></p>'
        )
        == 10
    )
    html = client.get("/", query_string={"q": "insource:wgLogos logo", "index": "docs"}).get_data(as_text=True)
    assert "insource: is not supported" in html and '<li class="result">' in html
    quoted = client.get("/api/v1/search", query_string={"q": '"table name prefix"', "index": "docs"}).get_json()
    assert [r["title"] for r in quoted["results"]] == ["Manual:$wgDBprefix"] and quoted["notices"] == []
    assert quoted["results"][0]["categories"] == [
        {"name": "Configuration settings", "url": "https://www.mediawiki.org/wiki/Category:Configuration_settings"}
    ]


def test_a_typo_is_respelled_with_a_way_back_to_what_was_typed(client: FlaskClient) -> None:
    html = client.get("/", query_string={"q": "intitle:uplod", "index": "docs"}).get_data(as_text=True)
    assert "Showing results for" in html and "<em>intitle:upload</em>" in html
    assert re.search(r"Results 1–\d+ of (at least )?\d+ for “intitle:upload”", html)  # the results are the respelling's
    back = re.search(r'Search instead for <a href="([^"]+)">intitle:uplod</a>', html)
    assert back and "respell=0" in back.group(1)
    typed = client.get(back.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Did you mean:" in typed and "<em>intitle:upload</em>" in typed and '<li class="result">' not in typed
    bad = client.get("/api/v1/search", query_string={"q": "uplod", "respell": "yes"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_parameter"
