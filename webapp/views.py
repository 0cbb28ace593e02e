"""Routes: the search page, the JSON API, OpenSearch, about and health."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from markupsafe import Markup, escape

from core.errors import QueryError
from core.settings import Settings
from index_format import arithmetic
from query.catalog import Catalog
from query.filters import Filters
from query.search import SearchResponse
from query.tables import tables

from .errors import ApiError
from .limits import limiter

bp = Blueprint("search", __name__)
# One budget per client across the searches that run the model; the empty form
# costs nothing, and typing suggestions have a budget of their own.
searches = limiter.shared_limit(lambda: settings().rate_limit, scope="search")
page_searches = limiter.shared_limit(
    lambda: settings().rate_limit, scope="search", exempt_when=lambda: not (request.args.get("q") or "").strip()
)
suggestions = limiter.shared_limit(lambda: settings().suggest_rate_limit, scope="suggest")
PAGE_SIZE = 10
SUGGESTIONS = 8


def catalog() -> Catalog:
    return current_app.extensions["wikisearch"]


def settings() -> Settings:
    return current_app.extensions["wikisearch_settings"]


def int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be an integer, got {raw[:40]!r}") from None


def required_arg(name: str) -> str:
    value = request.args.get(name)
    if value is None:
        raise ApiError(400, "missing_parameter", f"the {name} parameter is required")
    return value


def highlight(text: str, spans: list[tuple[int, int]] | list[list[int]]) -> Markup:
    """Escape ``text`` and wrap the query-word spans in <mark>."""
    out: list[str] = []
    last = 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if start < last or end > len(text):
            continue
        out.append(str(escape(text[last:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def edited_ago(timestamp: str, now: datetime) -> str:
    """``2026-08-01T12:00:00Z`` → "edited 3 months ago", as a reader judges a page's age."""
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return ""
    days = (now - then).days
    if days < 1:
        return "edited today"
    if days < 2:
        return "edited yesterday"
    for unit, size in (("year", 365), ("month", 30), ("week", 7), ("day", 1)):
        if days >= size:
            n = days // size
            return f"edited {n} {unit}{'s' if n > 1 else ''} ago"
    return ""


def register_filters(app: Flask) -> None:
    app.add_template_filter(highlight, "highlight")
    app.add_template_filter(edited_ago, "edited_ago")
    app.add_template_filter(arithmetic, "arithmetic")

    @app.after_request
    def security_headers(response: Response) -> Response:
        # Toolforge forbids third-party requests; the CSP makes the browser enforce it.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response


def result_json(response: SearchResponse, index: str) -> dict[str, Any]:
    data = response.as_dict()
    data["index"] = index
    return data


@bp.get("/")
@page_searches
def search_page() -> tuple[str, int] | str:
    cat = catalog()
    query = request.args.get("q")
    index = request.args.get("index") or cat.default
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 1  # a person's typo: page 1
    context: dict[str, Any] = {
        "q": query or "",
        "index": index,
        "indexes": _index_choices(cat),
        "page": page,
        "max_query_chars": settings().max_query_chars,
    }
    if index not in cat.served:
        context["index"] = cat.default
        context.update(_labels(cat, cat.default))
        return render_template("search.html", error=f"There is no index called “{index}”.", **context), 404
    context.update(_labels(cat, index))
    if query is None or not query.strip():
        return render_template("search.html", **context)
    try:
        filters, sort = _narrowing()
        known = tables(cat.get(index).index).namespace_sizes.keys()
        if filters.namespaces - known:  # kept from another index: say so, rather than filter unseen
            stale = ", ".join(str(n) for n in sorted(filters.namespaces - known))
            context["notice"] = f"{index} has no namespace {stale}: that filter was cleared."
            filters = Filters(filters.namespaces & known, filters.prefix)
        context.update(filters=filters, sort=sort)
        mode = request.args.get("mode") or None
        response = cat.search(index, query, PAGE_SIZE, (page - 1) * PAGE_SIZE, mode, filters, sort, _respell())
    except QueryError as exc:
        return render_template("search.html", error=_friendly(exc), **context), 400
    action = cat.get(index).index.manifest.source.action
    return render_template("search.html", response=response, action=action, now=_now(), **context)


def _now() -> datetime:
    return datetime.now(UTC)


def _friendly(exc: QueryError) -> str:
    """A person's words for a query the search refused."""
    if exc.code == "query_too_long":
        return f"Your search is too long: please use at most {settings().max_query_chars} characters."
    if exc.code == "bad_offset":
        return "That page of results is out of range."
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


def _labels(cat: Catalog, index: str) -> dict[str, str]:
    """Words that fit the index searched: its wiki's name, and a title prefix it has."""
    served = cat.get(index)
    sitename = served.index.manifest.source.siteinfo.sitename
    label = tables(served.index).largest_label
    return {"search_label": f"Search {sitename or index}", "prefix_example": f"e.g. {label}:" if label else ""}


def _index_choices(cat: Catalog) -> list[dict[str, str]]:
    choices = []
    for name, served in cat.served.items():
        sitename = served.index.manifest.source.siteinfo.sitename
        label = f"{name} ({sitename})" if sitename else name
        choices.append({"name": name, "label": label})
    return choices


@bp.get("/api/v1/search")
@searches
def api_search() -> Response:
    query = required_arg("q")
    index = request.args.get("index") or catalog().default
    mode = request.args.get("mode") or None
    filters, sort = _narrowing()
    limit, offset = int_arg("limit", PAGE_SIZE), int_arg("offset", 0)
    response = catalog().search(index, query, limit, offset, mode, filters, sort, _respell())
    data = result_json(response, index)
    data["mode"] = mode or settings().search_mode
    data["sort"] = sort
    return jsonify(data)


def _respell() -> bool:
    """``respell=0``: search the query as typed, never its respelling (the "search instead for" link)."""
    value = request.args.get("respell", "1")
    if value not in ("0", "1"):
        raise QueryError(f"respell must be 0 or 1, not {value[:20]!r}", "bad_respell")
    return value == "1"


def _narrowing() -> tuple[Filters, str]:
    """The request's filters (``ns=``, repeatable or comma-separated; ``prefix=``) and ``sort=``."""
    filters = Filters.parse(request.args.getlist("ns"), request.args.get("prefix"))
    return filters, request.args.get("sort") or "relevance"


@bp.get("/api/v1/opensearch")
@suggestions
def api_opensearch() -> Response:
    """MediaWiki's ``action=opensearch``: [query, titles, descriptions, urls], titles that
    start with what was typed first (``query.complete``), page URLs without anchors."""
    query = required_arg("search")
    index = request.args.get("index") or catalog().default
    limit = int_arg("limit", SUGGESTIONS)
    if not query.strip():
        catalog().get(index)  # an unknown index is still an error
        return jsonify([query, [], [], []])
    found = catalog().complete(index, query, limit)
    return jsonify([query, [c.title for c in found], [c.description for c in found], [c.url for c in found]])


@bp.get("/api/v1/indexes")
def api_indexes() -> Response:
    cat = catalog()
    return jsonify({"default": cat.default, "indexes": [cat.describe(name) for name in cat.names]})


@bp.get("/opensearch.xml")
def opensearch_description() -> Response:
    cat = catalog()
    index = request.args.get("index") or cat.default
    cat.get(index)
    root = request.url_root
    xml = render_template("opensearch.xml", root=root, index=index, name=short_name(index))
    return Response(xml, mimetype="application/opensearchdescription+xml")


#: OpenSearch's ShortName: at most 16 characters.
SHORT_NAME_CHARS = 16


def short_name(index: str) -> str:
    """A browser's name for this search, whole words within 16 characters:
    "wikisearch enwiki", else the index's name, cut where a word ends."""
    for name in (f"wikisearch {index}", index):
        if len(name) <= SHORT_NAME_CHARS:
            return name
    cut = index[: SHORT_NAME_CHARS + 1]
    words = re.split(r"(?<=[-_ .])", cut)[:-1]
    return "".join(words).rstrip("-_ .") or index[:SHORT_NAME_CHARS]


@bp.get("/about")
def about() -> str:
    cat = catalog()
    return render_template("about.html", indexes=[cat.describe(name) for name in cat.names])


@bp.get("/api")
def api_help() -> str:
    return render_template(
        "api.html", example_index=catalog().default, root=request.url_root.rstrip("/"), max_limit=settings().max_limit
    )


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    cat = catalog()
    return jsonify(
        {
            "status": "ok",
            "indexes": {
                name: {"pages": s.index.manifest.counts.pages, "chunks": s.index.manifest.counts.chunks}
                for name, s in cat.served.items()
            },
        }
    )
