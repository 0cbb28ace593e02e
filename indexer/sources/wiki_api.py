"""Source: a live wiki read through its Action API (``api.php``).

The client follows Wikimedia's API etiquette: one request at a time, a
descriptive User-Agent (required for Wikimedia hosts), ``maxlag=5``,
``formatversion=2``, ``continue`` followed, and ``Retry-After`` honoured on
429, 503 and maxlag answers, with backoff and then one clear error.

``AllPagesSource`` reads every page of the chosen namespaces (a first sync);
``TitlesSource`` reads the current state of given titles (the pages an
incremental sync found changed): a page, a redirect (an alias), or gone.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from core import __version__
from core.documents import Page, SiteInfo, SourceDescription
from core.errors import WikiApiError
from core.settings import Settings
from core.urls import page_url

from .dump import default_namespaces, redirect_target

logger = logging.getLogger(__name__)

#: Pages a request may ask content for (the API's limit for ordinary clients).
BATCH = 50
#: Hosts whose operators require a User-Agent with a contact.
_WIKIMEDIA = re.compile(
    r"(^|\.)(wikipedia|wikimedia|wikidata|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity"
    r"|wikivoyage|wikifunctions|mediawiki|wmcloud|toolforge)\.org$"
)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_DEFAULTS = Settings()


@dataclass(frozen=True)
class ApiPolicy:
    """How patient the client is: retries, their waits, and the request timeout."""

    retries: int = _DEFAULTS.api_retries
    backoff_s: float = _DEFAULTS.api_backoff  # first wait when the server names none; doubles each retry
    max_wait_s: float = 120.0
    timeout_s: float = 60.0
    maxlag: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiPolicy:
        return cls(retries=settings.api_retries, backoff_s=settings.api_backoff)


class WikiApi:
    """A MediaWiki Action API endpoint, asked serially."""

    def __init__(
        self,
        url: str,
        user_agent: str = "",
        policy: ApiPolicy = ApiPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WikiApiError(f"{url}: expected the URL of a MediaWiki api.php (http or https)", "not_an_api")
        if not user_agent:
            if _WIKIMEDIA.search(parts.hostname or ""):
                raise WikiApiError(
                    f"{parts.hostname} asks every client for a User-Agent with a contact: "
                    "pass --user-agent 'my-tool/1.0 (https://…; me@example.org)' or set WIKISEARCH_USER_AGENT",
                    "user_agent_required",
                )
            user_agent = f"wikisearch/{__version__} (python-requests)"
        self.url = url
        self.policy = policy
        self._sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.requests = 0  # made, retries included

    def call(self, params: dict[str, Any], post: bool = False) -> dict[str, Any]:
        """One API request; transient failures are retried, the rest raise WikiApiError."""
        full = {"format": "json", "formatversion": "2", "maxlag": str(self.policy.maxlag), **params}
        attempt = 0
        while True:
            wait, why = self._attempt(full, post, attempt)
            if wait is None:
                return why
            attempt += 1
            if attempt > self.policy.retries:
                raise WikiApiError(f"{self.url}: {why}; gave up after {self.policy.retries} retries", "unavailable")
            logger.warning("%s: %s; retrying in %.1f s", self.url, why, wait)
            self._sleep(wait)

    def _attempt(self, params: dict[str, Any], post: bool, attempt: int) -> tuple[float | None, Any]:
        """(None, data) on success, or (seconds to wait, why) for a failure worth retrying."""
        backoff = min(self.policy.backoff_s * 2 ** min(attempt, 10), self.policy.max_wait_s)
        self.requests += 1
        try:
            if post:
                response = self.session.post(self.url, data=params, timeout=self.policy.timeout_s)
            else:
                response = self.session.get(self.url, params=params, timeout=self.policy.timeout_s)
        except (requests.ConnectionError, requests.Timeout) as exc:
            return backoff, f"cannot reach the wiki ({type(exc).__name__})"
        except requests.RequestException as exc:
            raise WikiApiError(f"{self.url}: request failed: {exc}", "unavailable") from None
        retry_after = _seconds(response.headers.get("Retry-After"), self.policy.max_wait_s)
        if response.status_code in _RETRY_STATUS:
            return retry_after or backoff, f"HTTP {response.status_code}"
        try:
            data = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "").split(";")[0] or "no content type"
            start = " ".join(response.text[:60].split())
            raise _not_an_api(self.url, f"HTTP {response.status_code} {kind}: {start!r}") from None
        if not isinstance(data, dict):
            raise _not_an_api(self.url, "JSON that is not an object")
        if response.status_code >= 400 and "error" not in data:
            raise WikiApiError(f"{self.url}: answered HTTP {response.status_code}", "http_error")
        error = data.get("error")
        if isinstance(error, dict):
            code = str(error.get("code", ""))
            if code in ("maxlag", "ratelimited", "internal_api_error_DBQueryError"):
                return retry_after or backoff, f"the wiki says {code}"
            if code == "readapidenied":
                raise WikiApiError(
                    f"{self.url}: this wiki lets only logged-in users read; "
                    "set WIKISEARCH_BOT_USER and WIKISEARCH_BOT_PASSWORD (Special:BotPasswords)",
                    "login_required",
                )
            raise WikiApiError(f"{self.url}: the API refused: {code}: {error.get('info', '')}", "api_error")
        return None, data

    def _answers(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every answer of an ``action=query`` request, following ``continue``."""
        cont: dict[str, Any] = {}
        while True:
            data = self.call({"action": "query", **params, **cont})
            yield data
            if "continue" not in data:
                return
            cont = data["continue"]

    def query(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every batch of an ``action=query`` request, following ``continue``."""
        for data in self._answers(params):
            yield data.get("query", {})

    def query_pages(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The pages of an ``action=query`` request, one generator batch at a time, each page
        whole: a property's continuation (``clcontinue``, ``rvcontinue``) sends a page's
        categories or revisions over several answers, which are merged here."""
        pending: dict[str, dict[str, Any]] = {}
        for data in self._answers(params):
            for page in data.get("query", {}).get("pages", []):
                merged = pending.setdefault(str(page.get("title")), {})
                for key, value in page.items():
                    if isinstance(value, list):
                        merged.setdefault(key, []).extend(value)
                    else:
                        merged.setdefault(key, value)
            cont = data.get("continue") or {}
            if not any(k != "continue" and not k.startswith("g") for k in cont):  # the batch is whole
                yield list(pending.values())
                pending = {}

    def login(self, user: str, password: str) -> None:
        """Log in with a bot password (Special:BotPasswords); the session keeps the cookie."""
        token = self.call({"action": "query", "meta": "tokens", "type": "login"})["query"]["tokens"]["logintoken"]
        result = self.call(
            {"action": "login", "lgname": user, "lgpassword": password, "lgtoken": token}, post=True
        ).get("login", {})
        if result.get("result") != "Success":
            raise WikiApiError(
                f"{self.url}: login as {user} failed: {result.get('reason', result.get('result'))}", "login_failed"
            )

    def site(self) -> SiteInfo:
        """What ``meta=siteinfo`` says: names, main page URL, namespaces. Fails
        clearly if the URL answers but is not a MediaWiki API."""
        data = self.call({"action": "query", "meta": "siteinfo", "siprop": "general|namespaces"})
        info = data.get("query", {})
        general = info.get("general")
        if not isinstance(general, dict) or "base" not in general:
            raise _not_an_api(self.url, "an answer without siteinfo")
        namespaces = {int(ns["id"]): str(ns.get("name", "")) for ns in info.get("namespaces", {}).values()}
        return SiteInfo(
            sitename=str(general.get("sitename", "")),
            dbname=str(general.get("wikiid", "")),
            base=str(general["base"]),
            generator=str(general.get("generator", "")),
            schema="api",
            namespaces=namespaces,
        )

    def now(self) -> str:
        """The wiki's clock (``curtimestamp``): what a sync has seen up to."""
        return str(self.call({"action": "query", "curtimestamp": "1"})["curtimestamp"])


def _not_an_api(url: str, got: str) -> WikiApiError:
    return WikiApiError(f"expected a MediaWiki api.php at {url}, got {got}", "not_an_api")


def _seconds(value: str | None, cap: float) -> float | None:
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), cap)
    except ValueError:
        return None


_REVISIONS = {
    "prop": "revisions|info|categories",
    "rvprop": "ids|timestamp|content",
    "rvslots": "main",
    "cllimit": "max",
}


class _ApiSource:
    """What both API sources share: the wiki, its URLs, and what was skipped."""

    kind = "mediawiki-api"

    def __init__(self, api: WikiApi, site: SiteInfo, namespaces: set[int] | None):
        self.api = api
        self.site = site
        self.namespaces = set(namespaces) if namespaces is not None else default_namespaces(site)
        self.skip_reasons: Counter[str] = Counter()

    def describe(self) -> SourceDescription:
        return SourceDescription(self.kind, self.api.url, "api", frozenset(self.namespaces))

    def _page(self, data: dict[str, Any], targets: dict[str, str]) -> Page | None:
        title = str(data["title"])
        revisions = data.get("revisions") or []
        if data.get("missing") or data.get("invalid") or not revisions:
            return None
        revision = revisions[0]
        text = str(revision.get("slots", {}).get("main", {}).get("content", ""))
        if not text.strip():
            self.skip_reasons["no text"] += 1
            return None
        redirect = targets.get(title) or (redirect_target(text) if data.get("redirect") else None)
        return Page(
            title=title,
            namespace=int(data["ns"]),
            page_id=int(data["pageid"]),
            rev_id=int(revision["revid"]),
            timestamp=str(revision["timestamp"]),
            text=text,
            url=page_url(self.site.article_path, title),
            redirect=redirect,
            categories=tuple(str(c["title"]).partition(":")[2] for c in data.get("categories", [])),
        )

    def _read(self, params: dict[str, Any]) -> Iterator[Page]:
        """The pages (and redirects) of the chosen namespaces that a query answers with."""
        for batch in self.api.query_pages({**params, **_REVISIONS}):
            pages = [p for p in batch if int(p.get("ns", 0)) in self.namespaces]
            redirects = [str(p["title"]) for p in pages if p.get("redirect")]
            targets = self._redirect_targets(redirects) if redirects else {}
            for data in pages:
                page = self._page(data, targets)
                if page is not None:
                    yield page

    def _redirect_targets(self, titles: list[str]) -> dict[str, str]:
        """Where redirects point, as MediaWiki resolves them (``Target`` or ``Target#Section``)."""
        targets: dict[str, str] = {}
        for start in range(0, len(titles), BATCH):
            for batch in self.api.query({"titles": "|".join(titles[start : start + BATCH]), "redirects": "1"}):
                for r in batch.get("redirects", []):
                    fragment = r.get("tofragment")
                    targets[str(r["from"])] = str(r["to"]) + (f"#{fragment}" if fragment else "")
        return targets


class AllPagesSource(_ApiSource):
    """Every page of the namespaces, through ``generator=allpages`` (a first sync)."""

    def __iter__(self) -> Iterator[Page]:
        self.skip_reasons.clear()
        for ns in sorted(self.namespaces):
            yield from self._read({"generator": "allpages", "gapnamespace": str(ns), "gaplimit": str(BATCH)})


class TitlesSource(_ApiSource):
    """The current state of some titles: pages and redirects are yielded;
    titles that no longer exist yield nothing (the caller knows it asked)."""

    def __init__(self, api: WikiApi, site: SiteInfo, namespaces: set[int] | None, titles: Iterable[str]):
        super().__init__(api, site, namespaces)
        self.titles = sorted(set(titles))

    def __iter__(self) -> Iterator[Page]:
        self.skip_reasons.clear()
        for start in range(0, len(self.titles), BATCH):
            yield from self._read({"titles": "|".join(self.titles[start : start + BATCH])})
