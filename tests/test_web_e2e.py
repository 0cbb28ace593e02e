"""The real thing: `wikisearch serve` (gunicorn) with the real model on
loopback, called over HTTP and driven in Debian's headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Server

pytestmark = pytest.mark.model
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(docs_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    running = Server({"docs": docs_index}, tmp_path_factory.mktemp("server") / "gunicorn.log")
    yield running.url
    assert "Traceback" not in running.stop()


def get_json(url: str) -> tuple[int, dict | list]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_gunicorn_serves_real_semantic_search(server: str) -> None:
    status, data = get_json(server + "/api/v1/search?" + urllib.parse.urlencode({"q": "how do I make my wiki private"}))
    assert status == 200
    titles = [hit["title"] for hit in data["results"][:3]]  # type: ignore[index]
    assert "Manual:$wgWhitelistRead" in titles
    status, data = get_json(
        server + "/api/v1/search?" + urllib.parse.urlencode({"q": "list currently blocked users and IPs"})
    )
    answer = data["answer"]  # type: ignore[call-overload]
    assert set(answer) == {"text", "title", "section", "url", "score"} and answer["title"] == "API:Blocks"
    assert answer["url"] == data["results"][0]["url"]  # type: ignore[call-overload,index]
    hits = data["results"]  # type: ignore[call-overload]
    assert data["total_exact"] and data["total"] >= len(hits) and data["good_match"]  # type: ignore[call-overload]
    assert all(0 <= h["score"] <= 1 and -1 <= h["relevance"] <= 1 for h in hits)  # the stated scales
    status, data = get_json(server + "/api/v1/search?" + urllib.parse.urlencode({"q": "cheap hotels near the beach"}))
    assert status == 200 and data["results"] == [] and data["total"] == 0 and data["answer"] is None  # type: ignore[call-overload]
    assert data["good_match"] is False  # type: ignore[call-overload]
    status, data = get_json(server + "/api/v1/search?" + urllib.parse.urlencode({"q": "Manual:$wgSitename"}))
    assert status == 200 and data["answer"] is None  # type: ignore[call-overload]
    status, suggestions = get_json(server + "/api/v1/opensearch?search=uploading+files&limit=5")
    assert status == 200 and "Manual:$wgEnableUploads" in suggestions[1]  # type: ignore[index]
    status, titles = get_json(server + "/api/v1/opensearch?" + urllib.parse.urlencode({"search": "Manual:$wgUp"}))
    assert status == 200 and len(titles[1]) >= 5  # type: ignore[index,arg-type]
    assert all(t.startswith("Manual:$wgUp") for t in titles[1])  # type: ignore[index,union-attr]
    assert all("#" not in url for url in titles[3])  # type: ignore[index,operator]


def test_cirrussearch_operators_narrow_real_semantic_search(server: str) -> None:
    """The bar of issue 35, with the real model behind gunicorn."""

    def titles(q: str, limit: int = 50) -> tuple[dict, list[str]]:
        status, data = get_json(server + "/api/v1/search?" + urllib.parse.urlencode({"q": q, "limit": limit}))
        assert status == 200, data
        return data, [r["title"] for r in data["results"]]  # type: ignore[index,call-overload]

    _, plain = titles("table name prefix", 10)
    assert "Manual:$wgDBprefix" in plain[1:]  # not first without the quotes
    assert titles('"table name prefix"')[1][0] == "Manual:$wgDBprefix"
    data, found = titles("intitle:upload")
    assert found and all("upload" in t.lower() for t in found)
    assert found and not any(t.startswith("API:") for t in titles("upload -API")[1])
    data, found = titles('incategory:"Configuration settings"')
    assert data["total"] == 730 and all(  # type: ignore[index,call-overload]
        [c["name"] for c in r["categories"]] == ["Configuration settings"]
        for r in data["results"]  # type: ignore[index,call-overload]
    )
    data, _ = titles("insource:wgLogos logo")
    assert "insource:" in data["notices"][0]  # type: ignore[index,call-overload]
    data, found = titles("uplod images", 10)
    assert data["did_you_mean"] == "upload images" and data["respelled"]  # type: ignore[index,call-overload]
    assert found == titles("upload images", 10)[1]
    data, found = titles("recnt chnages api", 10)  # was API:Xmlfm, API:Rawfm
    assert data["did_you_mean"] == "recent changes api" and found[0] == "API:Recentchanges"  # type: ignore[index,call-overload]


def test_gunicorn_errors_are_json_not_tracebacks(server: str) -> None:
    status, data = get_json(server + "/api/v1/search?q=" + "z" * 400)
    assert status == 400 and data["error"]["code"] == "bad_query"  # type: ignore[index,call-overload]


def test_about_states_model_provenance_and_attribution(server: str) -> None:
    with urllib.request.urlopen(server + "/about", timeout=30) as response:
        html = response.read().decode()
    for fact in (
        "all-MiniLM-L6-v2",
        "Apache-2.0",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "verified against the pinned value",
        "train_script.py",
        "1.17 B sentence pairs",
        "partial",
        "base model not fully OSAID",
        "mediawiki-docs.xml.bz2",
        "901 pages",
        "Vectors computed with</dt><dd>onnxruntime",
        "fp32; searched with FAISS IndexFlatIP",
    ):
        assert fact in html, fact
    assert "OSAID-compliant" not in html


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: make test installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


def test_a_person_searches_pages_and_follows_results(server: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server) else external.append(r.url))
    page.goto(server + "/")
    page.get_by_label("Search MediaWiki").fill("how do I let people upload images")
    page.keyboard.press("Enter")
    page.wait_for_selector("ol.results li.result")
    assert page.locator("ol.results > li.result").count() == 10
    titles = page.locator("ol.results > li.result h2 a").all_inner_texts()
    assert "Manual:$wgEnableUploads" in titles
    assert page.locator("ol.results mark").count() > 0
    marked = {m.lower() for m in page.locator("ol.results mark").all_inner_texts()}
    assert marked and all(m.startswith(("let", "people", "upload", "image")) for m in marked), marked
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    # a result shown with a section breadcrumb links to that section on the wiki
    # (a short page is one chunk and shows none; API pages have sections)
    sections = browser.new_page()
    sections.goto(server + "/?q=API+upload+examples&index=docs")
    with_crumbs = sections.locator("li.result:has(nav.breadcrumb)")
    assert with_crumbs.count() > 0
    first = with_crumbs.first
    section = first.locator("nav.breadcrumb span").last.inner_text()
    href = first.locator("h2 a").get_attribute("href")
    assert href is not None and href.endswith("#" + urllib.parse.quote(section.replace(" ", "_"), safe="$!*(),/~:.-_'"))
    sections.close()
    shutil.copy(tmp_path / "results.png", tmp_path.parent / "results-latest.png")
    # pagination
    page.get_by_role("link", name="Next →").click()
    page.wait_for_selector("p.summary")
    assert "Results 11–20" in page.locator("p.summary").inner_text()
    assert set(page.locator("ol.results > li.result h2 a").all_inner_texts()).isdisjoint(titles)
    page.get_by_role("link", name="← Previous").click()
    assert "Results 1–10" in page.locator("p.summary").inner_text()
    # the index selector and keyboard: Tab from the box reaches the selector, then the button
    page.get_by_label("Search MediaWiki").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "index"
    assert external == []  # no third-party requests
    # cards read like the wiki: no template residue or empty label in a snippet; facts apart
    snippets = page.locator("ol.results > li.result > p.snippet").all_inner_texts()
    assert snippets and not [t for t in snippets if re.match(r"(Setting|Default|Type|Since MediaWiki):", t)]
    assert not [t for t in snippets if re.search(r"\b[A-Z][\w ]{0,30}:\s*$", t)], snippets
    assert "Default:" in " ".join(page.locator("ol.results p.facts").all_inner_texts())
    # a namespace facet narrows the results, and says so
    page.get_by_role("link", name=re.compile(r"^API \(\d+\)$")).click()
    page.wait_for_selector("ol.results li.result")
    assert all(t.startswith("API:") for t in page.locator("ol.results > li.result h2 a").all_inner_texts())
    assert page.locator('nav.facets [aria-current="true"]').inner_text().startswith("API (")


def test_suggestions_appear_while_typing(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(server + "/")
    page.get_by_label("Search MediaWiki").press_sequentially("uploading files", delay=20)
    page.wait_for_selector("#suggestions option", state="attached", timeout=15000)
    options = page.eval_on_selector_all("#suggestions option", "els => els.map(e => e.value)")
    assert "Manual:$wgEnableUploads" in options


def test_the_page_works_without_javascript(server: str, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    page.get_by_label("Search MediaWiki").fill("upload images")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("ol.results li.result")
    assert page.locator("ol.results > li.result").count() > 0
    context.close()


def test_csp_blocks_injected_inline_script(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(server + "/?q=upload")
    ran = page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__x = 1'; "
        "document.body.appendChild(s); return window.__x === 1; }"
    )
    assert ran is False


AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: Light and dark colour schemes, a 320 px phone, and 200 % zoom (half the CSS width at twice the pixels).
VIEWS = [("light", 1100, 1), ("dark", 1100, 1), ("light", 320, 1), ("light", 1100, 2)]


@pytest.mark.parametrize(("scheme", "width", "zoom"), VIEWS)
def test_the_results_page_passes_axe_core(
    server: str, browser, tmp_path: Path, scheme: str, width: int, zoom: int
) -> None:
    """axe-core (npm, `make axe`) in Debian's chromium: no serious or critical violation."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make axe`")
    context = browser.new_context(
        bypass_csp=True,  # to inject axe; the page's own scripts are unchanged
        color_scheme=scheme,
        viewport={"width": width // zoom, "height": 800 // zoom},
        device_scale_factor=zoom,
    )
    page = context.new_page()
    page.goto(server + "/?q=how+long+do+login+cookies+last")
    page.wait_for_selector("ol.results li.result")
    assert page.locator("section.answer").count() == 1  # axe checks the answer line too
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    (tmp_path / f"axe-{scheme}-{width}-{zoom}x.json").write_text(json.dumps(result["violations"], indent=2))
    page.screenshot(path=str(tmp_path / f"page-{scheme}-{width}-{zoom}x.png"), full_page=True)
    grave = [
        (v["id"], v["impact"], len(v["nodes"])) for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]
    context.close()
    assert not grave, grave


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_answer_line_quotes_the_top_result(server: str, browser, tmp_path: Path, scheme: str) -> None:
    """A question in words gets one sentence above the results, from the top
    result, linking to its section; an identifier lookup gets none."""
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1000, "height": 1100})
    page = context.new_page()
    page.goto(server + "/?q=list+currently+blocked+users+and+IPs")
    answer = page.locator("section.answer")
    assert answer.locator("h2").inner_text() == "Answer"
    assert answer.locator(".answer-text").inner_text() == "List all blocked users and IP addresses."
    source = answer.locator(".answer-source a")
    assert source.inner_text().startswith("API:Blocks")
    assert source.get_attribute("href") == page.locator("ol.results > li.result h2 a").first.get_attribute("href")
    # above the results, and the first thing after the filters a screen reader meets
    assert answer.bounding_box()["y"] < page.locator("ol.results").bounding_box()["y"]
    page.screenshot(path=str(tmp_path / f"answer-{scheme}.png"))  # the first screen: docs/results-dark.png
    shutil.copy(tmp_path / f"answer-{scheme}.png", tmp_path.parent / f"answer-{scheme}-latest.png")
    page.goto(server + "/?q=%24wgSitename")
    page.wait_for_selector("ol.results li.result")
    assert page.locator("section.answer").count() == 0
    context.close()


def test_keyboard_alone_reaches_every_result_and_filter(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(server + "/?q=how+long+do+login+cookies+last")
    wanted = set(
        page.locator("section.answer a, ol.results > li.result h2 a, nav.facets a, nav.sorting a").evaluate_all(
            "as => as.map(a => a.href)"
        )
    )
    assert len(wanted) >= 12  # the answer's source, ten results, facets, the other order
    reached: set[str] = set()
    for _ in range(150):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement && document.activeElement.href")
        if href:
            reached.add(href)
        if wanted <= reached:
            break
    page.close()
    assert wanted <= reached, wanted - reached


def test_the_page_says_how_many_results_and_when_nothing_is_a_good_match(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(server + "/?q=change+the+logo+of+the+wiki")
    summary = page.locator("p.summary").inner_text()
    found = re.fullmatch(r"Results 1–10 of (\d+) for “change the logo of the wiki”", summary)
    assert found, summary
    total = int(found.group(1))
    page.goto(server + f"/?q=change+the+logo+of+the+wiki&page={(total + 9) // 10}")  # the last page
    assert page.locator("a[rel=next]").count() == 0  # paging stops where the floor cut
    assert page.locator("ol.results > li").count() == (total % 10 or 10)
    page.goto(server + "/?q=cheap+hotels+near+the+beach")
    assert page.locator("p.message").inner_text() == "No good match for “cheap hotels near the beach”."
    assert page.locator("ol.results").count() == 0 and page.locator("section.answer").count() == 0
    page.close()
