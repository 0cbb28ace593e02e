"""Following a live wiki through its Action API, tested against a real MediaWiki
(Debian's 1.39 on SQLite, served on loopback) that the tests edit, delete and
move pages in with its own maintenance scripts."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import WikiApiError
from core.settings import Settings
from index_format import Index
from index_format.manifest import MANIFEST
from indexer.build import build_index
from indexer.sources import wiki_api
from indexer.sources.dump import DumpSource
from indexer.sources.wiki_api import ApiPolicy, WikiApi
from indexer.sync import sync_index
from query.ranking import Ranking
from query.search import search
from tests.conftest import FAKE_MODEL, ROOT, WIKISEARCH, FakeEmbedder, Server, free_port, run_cli
from tests.mediawiki import Wiki
from tests.test_build import docs_xml
from tests.test_reliability import lexical_titles, load, wait_for

SETTINGS = Settings(quiet=True)
FAST = ApiPolicy(retries=3, backoff_s=0.05)
#: The pages of the sample docs dump the wiki starts with (importing all 901 takes minutes).
PAGES = 30


def docs_subset(tmp_path: Path, count: int = PAGES) -> Path:
    """The first ``count`` pages of the docs sample, as an XML export to import."""
    xml = docs_xml()
    pages = re.findall(r"<page>.*?</page>", xml, flags=re.S)
    head = xml[: xml.index("<page>")]
    path = tmp_path / "subset.xml"
    path.write_text(head + "\n".join(pages[:count]) + "\n</mediawiki>\n", encoding="utf-8")
    return path


def titles_of(xml: Path) -> list[str]:
    return re.findall(r"<title>(.*?)</title>", xml.read_text("utf-8"))


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wiki]:
    root = tmp_path_factory.mktemp("wiki")
    wiki = Wiki(root / "w")
    wiki.import_xml(docs_subset(root))
    wiki.start()
    wiki.edit("Uploading files", "#REDIRECT [[Manual:$wgEnableUploads]]")  # a redirect, as editors make them
    yield wiki
    wiki.stop()


def fake_sync(wiki_api: str, target: Path, full: bool = False):
    return sync_index(WikiApi(wiki_api, policy=FAST), target, FakeEmbedder(), FAKE_MODEL, SETTINGS, full=full)


def test_a_first_sync_equals_a_build_from_the_wikis_own_dump(wiki: Wiki, tmp_path: Path) -> None:
    report = fake_sync(wiki.api, tmp_path / "synced")
    assert report.mode == "full" and report.build.pages >= PAGES - 1
    dump = wiki.dump(tmp_path / "dump.xml")
    build_index(DumpSource(dump), tmp_path / "built", FakeEmbedder(), FAKE_MODEL, SETTINGS)
    synced, built = Index.open(tmp_path / "synced"), Index.open(tmp_path / "built")
    assert synced.page_chunk_hashes() == built.page_chunk_hashes()  # same pages, revisions, chunks
    assert [(p.title, p.url, p.namespace, p.categories) for p, _, _ in synced.stored_pages()] == [
        (p.title, p.url, p.namespace, p.categories) for p, _, _ in built.stored_pages()
    ]
    assert sum(bool(p.categories) for p, _, _ in synced.stored_pages()) >= PAGES - 2
    assert synced.alias_target("Uploading files") == built.alias_target("Uploading files") == "Manual:$wgEnableUploads"
    assert synced.manifest.sync is not None and synced.manifest.sync.api == wiki.api
    assert synced.manifest.source.type == "mediawiki-api" and synced.manifest.source.namespaces == [
        0,
        4,
        12,
        100,
        102,
        104,
    ]


def test_edits_new_pages_deletions_and_moves_reach_the_index(wiki: Wiki, tmp_path: Path) -> None:
    target = tmp_path / "idx"
    fake_sync(wiki.api, target)
    time.sleep(1.1)  # the wiki's clock counts seconds: edits of the second a sync began in are read again
    fake_sync(wiki.api, target)
    version, files = target.resolve(), sorted(p.name for p in target.parent.iterdir())
    again = fake_sync(wiki.api, target)  # nothing changed on the wiki: nothing is written
    assert again.mode == "unchanged" and again.build.chunks_embedded == 0 and again.build.version
    assert (again.build.pages_added, again.build.pages_changed, again.build.pages_removed) == (0, 0, 0)
    assert target.resolve() == version and sorted(p.name for p in target.parent.iterdir()) == files
    before = Index.open(target)
    chunks_before = before.manifest.counts.chunks
    titles = [t for t in titles_of(docs_subset(tmp_path)) if t.startswith("Manual:$wg")]
    edited, deleted, moved, vanished = titles[1], titles[2], titles[3], titles[4]

    wiki.edit(edited, "A sentence about quokkas, added by a test edit.\n\n== Details ==\nNothing else.")
    wiki.edit("Manual:Quokka policy", "Every wiki needs a quokka policy.")
    wiki.delete(deleted)
    wiki.move(moved, moved + " (moved)")
    wiki.move(vanished, vanished + " (gone)", redirect=False)
    report = fake_sync(wiki.api, target)
    b = report.build
    assert report.mode == "incremental"
    assert (b.pages_added, b.pages_changed, b.pages_removed) == (3, 1, 3)  # new + two move targets; edit; three gone
    index = Index.open(target)
    pages = {p.title for p, _, _ in index.stored_pages()}
    assert {edited, "Manual:Quokka policy", moved + " (moved)", vanished + " (gone)"} <= pages
    assert not {deleted, moved, vanished} & pages
    assert index.alias_target(moved) == moved + " (moved)"  # the redirect a move leaves, as MediaWiki has it
    assert index.alias_target(vanished) is None
    # Only the edited and new pages' chunks were embedded; moved pages reuse their vectors.
    assert 2 <= b.chunks_embedded <= 4 and b.chunks_reused >= chunks_before - 6
    hits = search(index, FakeEmbedder(), "quokkas", limit=3, ranking=Ranking(mode="lexical")).results
    assert hits[0].title in (edited, "Manual:Quokka policy")

    wiki.undelete(deleted)
    restored = fake_sync(wiki.api, target)
    assert restored.build.pages_added == 1 and deleted in {p.title for p, _, _ in Index.open(target).stored_pages()}


class FlakyProxy:
    """A loopback proxy in front of the wiki that fails the first ``failures``
    requests (HTTP 503 with Retry-After, or a maxlag error), then forwards."""

    def __init__(self, upstream: str, failures: int, kind: str = "503"):
        self.upstream, self.failures, self.kind, self.failed = upstream, failures, kind, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if proxy.failed < proxy.failures:
                    proxy.failed += 1
                    body = b"Service Unavailable"
                    status, ctype = 503, "text/plain"
                    if proxy.kind == "malformed":
                        status, ctype, body = 200, "application/json", b'{"batchcomplete": true, "query": {"pa'
                    if proxy.kind == "maxlag":
                        body = json.dumps({"error": {"code": "maxlag", "info": "Waiting for a database server"}})
                        status, ctype, body = 200, "application/json", body.encode()
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", ctype)
                    self.end_headers()
                    self.wfile.write(body)
                    return
                with urllib.request.urlopen(proxy.upstream + self.path.removeprefix("/api.php"), timeout=60) as r:
                    body = r.read()
                    self.send_response(r.status)
                    self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}/api.php"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.mark.parametrize("kind", ["503", "maxlag"])
def test_a_wiki_that_fails_then_recovers_is_retried(wiki: Wiki, tmp_path: Path, kind: str) -> None:
    proxy = FlakyProxy(wiki.api, failures=2, kind=kind)
    try:
        api = WikiApi(proxy.api, policy=FAST)
        assert api.site().sitename == "Test Wiki"  # asked three times: two failures, then the answer
        assert proxy.failed == 2 and api.requests == 3
    finally:
        proxy.close()


def test_a_wiki_that_stays_down_is_one_clear_error_and_the_index_stays(wiki: Wiki, tmp_path: Path) -> None:
    target = tmp_path / "idx"
    fake_sync(wiki.api, target)
    version = target.resolve()
    proxy = FlakyProxy(wiki.api, failures=10**6)
    try:
        with pytest.raises(WikiApiError, match=r"HTTP 503; gave up after 3 retries") as caught:
            fake_sync(proxy.api, target, full=True)
        assert caught.value.code == "unavailable"
    finally:
        proxy.close()
    assert target.resolve() == version and Index.open(target).manifest.counts.pages > 0


def test_malformed_json_is_one_clear_error(wiki: Wiki) -> None:
    proxy = FlakyProxy(wiki.api, failures=10**6, kind="malformed")
    try:
        with pytest.raises(WikiApiError, match=r"expected a MediaWiki api.php at .*, got HTTP 200 application/json"):
            WikiApi(proxy.api, policy=FAST).site()
    finally:
        proxy.close()


def test_a_sync_too_old_for_recent_changes_reads_every_page_and_reuses_every_vector(
    wiki: Wiki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "idx"
    fake_sync(wiki.api, target)
    manifest_file = target.resolve() / MANIFEST
    data = json.loads(manifest_file.read_text())
    data["sync"]["since"] = "2001-01-15T00:00:00Z"  # the day Wikipedia started: long out of recent changes
    manifest_file.write_text(json.dumps(data))
    report = fake_sync(wiki.api, target)
    assert report.mode == "full" and report.build.chunks_embedded == 0 and report.build.pages_changed == 0
    assert "longer ago than this wiki keeps recent changes" in caplog.text


def test_a_huge_page_is_indexed(wiki: Wiki, tmp_path: Path) -> None:
    paragraph = "Echidnas are egg-laying mammals with spines. " * 40
    wiki.edit("Manual:Huge page", "\n\n".join(f"== Part {n} ==\n{paragraph}" for n in range(600)))  # ~1.1 MB
    try:
        fake_sync(wiki.api, tmp_path / "idx")
        assert len(Index.open(tmp_path / "idx").page_chunk_hashes()["Manual:Huge page"][1]) >= 600
    finally:
        wiki.delete("Manual:Huge page")  # the other tests' syncs embed with the real model


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("{wiki}/index.php", "expected a MediaWiki api.php at"),  # a wiki page, not its API
        ("http://127.0.0.1:{closed}/api.php", "cannot reach the wiki"),
        ("https://en.wikipedia.org/w/api.php", "asks every client for a User-Agent"),  # refused before any request
        ("ftp://example.org/api.php", "expected the URL of a MediaWiki api.php"),
    ],
)
def test_bad_api_urls_are_one_line_and_exit_2(wiki: Wiki, tmp_path: Path, url: str, message: str) -> None:
    target = tmp_path / "idx"
    full = url.format(wiki=wiki.url, closed=free_port())
    result = run_cli("sync", "--api", full, "--index", str(target), env={"WIKISEARCH_API_BACKOFF": "0.01"})
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and all(line.startswith("WARNING") for line in lines[:-1])
    assert not target.exists()


@pytest.mark.model
def test_sync_through_the_cli_with_the_real_model(wiki: Wiki, tmp_path: Path) -> None:
    """A dump build caught up by sync (a killed sync first: it changes nothing),
    JSON out, and a search that finds the edit."""
    target = tmp_path / "indexes" / "docs"
    wiki.edit("Where uploads are kept", "#REDIRECT [[Manual:$wgUploadDirectory#Details]]")
    wiki.edit("Manual:Wombat guide", "Wombats dig burrows; this page was written before the dump.")
    dump = wiki.dump(tmp_path / "dump.xml")
    assert run_cli("build", str(dump), "--index", str(target), "-q").returncode == 0
    wiki.edit("Manual:Wombat guide", "Wombats dig long burrows and sleep in them during the day.")

    before = (target.resolve().name, (target / MANIFEST).read_bytes())
    marker = tmp_path / "reached"
    env = {**os.environ, "WIKISEARCH_TEST_CRASH_POINT": f"write:{marker}"}
    cmd = [*WIKISEARCH, "sync", "--api", wiki.api, "--index", str(target), "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(marker.exists, timeout=180), "the sync never reached its write"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (target.resolve().name, (target / MANIFEST).read_bytes()) == before  # killed: nothing changed
    result = run_cli("sync", "--api", wiki.api, "--index", str(target), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mode"] == "incremental" and data["since"] and data["until"]
    assert data["pages"]["changed"] == 1 and data["pages"]["added"] == 0 and data["chunks"]["embedded"] >= 1
    query = run_cli("query", "--index", str(target), "--json", "where do wombats sleep during the day")
    assert json.loads(query.stdout)["results"][0]["title"] == "Manual:Wombat guide"
    named = run_cli("query", "--index", str(target), "Where uploads are kept")  # a redirect to a section
    assert "1. Manual:$wgUploadDirectory  (redirect from Where uploads are kept)" in named.stdout, named.stdout
    assert "/index.php/Manual:$wgUploadDirectory#Details" in named.stdout  # lands on the section
    source = json.loads(run_cli("info", "--index", str(target)).stdout)["source"]
    assert source["path"] == wiki.api and source["path"].startswith("http://127.0.0.1")  # a URL, not a path
    shutil.rmtree(target.parent)


@pytest.mark.model
def test_a_served_index_follows_a_sync_without_a_failed_request(wiki: Wiki, tmp_path: Path) -> None:
    target = tmp_path / "indexes" / "live"
    first = run_cli("sync", "--api", wiki.api, "--index", str(target), "-q")
    assert first.returncode == 0, first.stderr
    server = Server({"live": target}, tmp_path / "server.log")
    try:
        with load(server.url, clients=4, seconds=180) as outcomes:
            time.sleep(2)
            wiki.edit("Manual:Platypus notes", "Platypuses lay eggs; this page is new on the live wiki.")
            synced = run_cli("sync", "--api", wiki.api, "--index", str(target), "-q")
            assert synced.returncode == 0, synced.stderr
            assert wait_for(lambda: "Manual:Platypus notes" in lexical_titles(server.url, "platypuses"))
            time.sleep(2)
        with urllib.request.urlopen(server.url + "/about", timeout=30) as response:
            about = response.read().decode()
        assert f'Follows</dt><dd><a href="{wiki.api}">' in about and "every change up to 20" in about
        log = server.stop()
    finally:
        server.proc.poll() is None and server.stop()
    assert set(outcomes) == {"ok"} and outcomes["ok"] >= 10, outcomes
    assert "now serving" in log and "Traceback" not in log


@pytest.mark.model
def test_sigterm_stops_a_following_sync_cleanly(wiki: Wiki, tmp_path: Path) -> None:
    target = tmp_path / "indexes" / "live"
    cmd = [*WIKISEARCH, "sync", "--api", wiki.api, "--index", str(target), "--every", "10", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # the first sync is done: the job now waits
        assert first["mode"] == "full"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
    assert Index.open(target).manifest.sync is not None


@pytest.mark.model
def test_a_private_wiki_is_read_with_a_bot_password_that_is_never_shown(tmp_path: Path) -> None:
    wiki = Wiki(tmp_path / "private", private=True)
    wiki.import_xml(docs_subset(tmp_path, count=3))
    wiki.start()
    try:
        target = tmp_path / "indexes" / "private"
        refused = run_cli("sync", "--api", wiki.api, "--index", str(target))
        assert refused.returncode == 2 and "lets only logged-in users read" in refused.stderr
        password = "wikisearchbotpass0123456789abcde"  # as Special:BotPasswords makes them: 32 of [0-9a-w]
        env = {"WIKISEARCH_BOT_USER": wiki.bot_password("sync", password), "WIKISEARCH_BOT_PASSWORD": password}
        result = run_cli("-vv", "sync", "--api", wiki.api, "--index", str(target), env=env)
        assert result.returncode == 0, result.stderr
        assert Index.open(target).manifest.counts.pages == 4  # the three imported and the Main Page
        written = "".join(p.read_text(errors="replace") for p in target.resolve().iterdir() if p.suffix == ".json")
        assert password not in result.stdout + result.stderr + written
    finally:
        wiki.stop()


@pytest.mark.model
def test_the_gadget_shows_semantic_results_on_the_wikis_special_search(wiki: Wiki, tmp_path: Path) -> None:
    """Debian chromium opens the real wiki's Special:Search with the gadget loaded
    through MediaWiki:Common.js; the panel shows the tool's answer line and
    results, escaped, linking to the wiki's own pages, and nothing at all when
    the tool is down."""
    from playwright.sync_api import sync_playwright

    # a page that reads as what it is about: the relevance floor is on the page's own
    # vector, title included (a short page titled "Gadget test page" scored 0.29, under it)
    wiki.edit(
        "Manual:Numbat diet",
        'Numbats eat termites.\n\nMarkup is shown as text: <nowiki><img src=x onerror="window.__xss=1"></nowiki>'
        "\n[[Category:Marsupials]]",
    )
    target = tmp_path / "indexes" / "live"
    assert run_cli("sync", "--api", wiki.api, "--index", str(target), "-q").returncode == 0
    server = Server({"live": target}, tmp_path / "server.log")
    common_js = f"window.wikisearchConfig = {{url: '{server.url}', index: 'live'}};\nmw.loader.load('{server.url}/static/gadget/wikisearch.js');"
    wiki.edit("MediaWiki:Common.js", common_js)
    search_url = f"{wiki.url}/index.php?title=Special:Search&fulltext=1&search=what+do+numbats+eat"
    hosts: set[str] = set()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page()
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(search_url)
            page.wait_for_selector("#wikisearch-panel .wikisearch-result", timeout=60_000)
            titles = page.locator(".wikisearch-title").all_text_contents()
            hrefs = page.locator(".wikisearch-title").evaluate_all("links => links.map(a => a.href)")
            snippets = " ".join(page.locator(".wikisearch-snippet").all_text_contents())
            assert titles[0] == "Manual:Numbat diet", titles
            assert all(h.startswith(wiki.url + "/index.php/") for h in hrefs), hrefs
            assert '<img src=x onerror="window.__xss=1">' in snippets  # shown as text
            answer = page.locator(".wikisearch-answer")  # the answer line: its sentence, linked to its page
            assert answer.locator(".wikisearch-answer-text").text_content().startswith("Numbats eat termites.")
            assert answer.locator("a").get_attribute("href") == hrefs[0]
            category = page.locator(".wikisearch-result").first.locator(".wikisearch-categories a")
            assert category.text_content() == "Marsupials"  # the page's categories, linked to the wiki's
            assert category.get_attribute("href") == wiki.url + "/index.php/Category:Marsupials"
            assert page.evaluate("window.__xss") is None and page.locator("#wikisearch-panel img").count() == 0
            assert page.locator(".searchresults").count() == 1  # the wiki's own results are still there
            page.screenshot(path=str(tmp_path / "special-search.png"), full_page=True)
            page.goto(search_url + "&useskin=vector-2022")  # the skin Wikimedia wikis show by default
            page.wait_for_selector("#wikisearch-panel .wikisearch-result", timeout=60_000)
            assert page.locator("body.skin-vector-2022").count() == 1
            assert page.locator(".wikisearch-title").first.text_content() == "Manual:Numbat diet"
            page.screenshot(path=str(tmp_path / "special-search-vector-2022.png"), full_page=True)
            server.stop()
            page.goto(search_url)
            page.wait_for_timeout(3000)
            assert page.locator("#wikisearch-panel").count() == 0  # the tool is down: no panel, no error
            browser.close()
    finally:
        server.proc.poll() is None and server.stop()
        wiki.edit("MediaWiki:Common.js", "/* no gadget */")
    assert hosts == {wiki.url.split("/")[2], server.url.split("/")[2]}, hosts
    assert not errors, errors


def test_a_sync_with_other_chunking_reads_every_page_again(wiki: Wiki, tmp_path: Path) -> None:
    target = tmp_path / "idx"
    fake_sync(wiki.api, target)
    time.sleep(1.1)  # the wiki's clock counts seconds: past the edits of the second the first sync began in
    fake_sync(wiki.api, target)  # nothing changed since: a sync with the same settings writes nothing
    api = WikiApi(wiki.api, policy=FAST)
    other = Settings(quiet=True, chunk_tokens=150)  # stored chunks cannot be carried over, changed or not
    report = sync_index(api, target, FakeEmbedder(), FAKE_MODEL, other)
    assert report.mode == "full" and report.build.pages_removed == 0
    assert Index.open(target).manifest.chunking is not None and Index.open(target).manifest.chunking.chunk_tokens == 150


def test_a_synced_index_gives_back_each_chunk_as_the_model_read_it(wiki: Wiki, tmp_path: Path) -> None:
    """What ``adapt`` reads of an index made from a live wiki: no source file to read again."""
    from adapt.pairs import restored

    fake_sync(wiki.api, tmp_path / "synced")
    old = Index.open(tmp_path / "synced")
    stored = [(p, c) for p, _, chunks in old.stored_pages() for c in chunks]
    assert stored and all(restored(p, c).key == c.key for p, c in stored)


GADGET_SKINS = ["vector", "vector-2022", "monobook", "minerva", "timeless"]
LONG_URL = "https://www.mediawiki.org/wiki/Special:MyLanguage/Manual:Numbat_diet/" + "termites-and-ants-" * 8


@pytest.mark.model
def test_the_gadget_panel_fits_every_skin_wide_and_narrow(wiki: Wiki, tmp_path: Path) -> None:
    """On every skin, at 1280 and 390 px: the panel never overflows (a long URL wraps), sits after
    the wiki's exact-title match and above its results, never beside them (MediaWiki's
    .mw-search-visualclear left a blank column beside a floated panel); a wrong index says
    why the panel is silent in the console. The gadget is loaded into the wiki's page as a
    user script would load it (installing it site-wide is the test above; the wiki caches
    its site script, so a second install here would race that cache)."""
    from playwright.sync_api import sync_playwright

    wiki.edit("Manual:Numbat diet", f"Numbats eat termites, as {LONG_URL} explains at length.")
    target = tmp_path / "indexes" / "live"
    assert run_cli("sync", "--api", wiki.api, "--index", str(target), "-q").returncode == 0
    server = Server({"live": target}, tmp_path / "server.log")
    shots = Path(os.environ.get("WIKISEARCH_GADGET_SHOTS", tmp_path))

    def load_gadget(page, index: str) -> None:
        page.evaluate("cfg => { window.wikisearchConfig = cfg; }", {"url": server.url, "index": index})
        page.add_script_tag(url=f"{server.url}/static/gadget/wikisearch.js")

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            for skin in GADGET_SKINS:
                for width in (1280, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.goto(
                        f"{wiki.url}/index.php?title=Special:Search&fulltext=1&useskin={skin}&search=Manual:Numbat+diet"
                    )
                    load_gadget(page, "live")
                    page.wait_for_selector("#wikisearch-panel .wikisearch-result", timeout=60_000)
                    page.wait_for_function(
                        "() => getComputedStyle(document.getElementById('wikisearch-panel')).overflowWrap === 'anywhere'"
                    )  # its stylesheet applied
                    assert LONG_URL[:60] in page.locator(".wikisearch-snippet").first.text_content()
                    box = page.locator("#wikisearch-panel").bounding_box()
                    fits = page.locator("#wikisearch-panel").evaluate("p => p.scrollWidth <= p.clientWidth + 1")
                    column = page.locator(".searchresults").bounding_box()  # the wiki's own content column
                    assert fits and box["x"] + box["width"] <= column["x"] + column["width"] + 1, (skin, width, box)
                    exact = page.locator(".mw-search-exists").bounding_box()
                    results = page.locator(".mw-search-results").first.bounding_box()
                    assert exact["y"] + exact["height"] <= box["y"] + 1, (skin, width)  # the wiki's match first
                    assert results["y"] >= box["y"] + box["height"] - 1, (skin, width)  # its results below, not beside
                    page.screenshot(path=str(shots / f"gadget-{skin}-{width}.png"), full_page=False)
                    page.close()
            page = browser.new_page()  # a user whose config names an index the tool does not serve
            messages: list[str] = []
            page.on("console", lambda m: messages.append(m.text))
            page.goto(f"{wiki.url}/index.php?title=Special:Search&fulltext=1&search=what+do+numbats+eat")
            load_gadget(page, "nope")
            page.wait_for_timeout(3000)
            assert page.locator("#wikisearch-panel").count() == 0
            assert any("wikisearch gadget:" in m and "404 unknown_index" in m for m in messages), messages
            browser.close()
    finally:
        server.proc.poll() is None and server.stop()


def test_categories_a_template_adds_reach_a_synced_index(
    wiki: Wiki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Action API gives the categories MediaWiki files a page in, templates' too,
    which a dump's wikitext does not show; when the wiki sends them over several
    answers (``clcontinue``), each page is still read once, with all of them."""
    wiki.edit("Template:Deprecated setting", "This setting is deprecated.[[Category:Deprecated settings]]")
    wiki.edit("Manual:$wgOldThing", "{{Deprecated setting}}\nAn old setting.\n[[Category:Configuration settings]]")
    fake_sync(wiki.api, tmp_path / "idx")
    index = Index.open(tmp_path / "idx")
    assert set(index.categories_of(["Manual:$wgOldThing"])["Manual:$wgOldThing"]) == {
        "Configuration settings",
        "Deprecated settings",
    }
    monkeypatch.setattr(wiki_api, "_REVISIONS", {**wiki_api._REVISIONS, "cllimit": "1"})  # one category an answer
    report = fake_sync(wiki.api, tmp_path / "split")
    split = Index.open(tmp_path / "split")
    assert report.build.pages == index.manifest.counts.pages
    assert split.categories_of(p.title for p, _, _ in split.stored_pages()) == index.categories_of(
        p.title for p, _, _ in index.stored_pages()
    )
