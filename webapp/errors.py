"""One error shape for the API, a friendly page for people; never a traceback.

API errors are ``{"error": {"status": 400, "code": "bad_query", "message": "…"}}``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from core.errors import QueryError, UnknownIndex

logger = logging.getLogger(__name__)

#: Refusals that name a bad parameter value rather than a bad query.
PARAMETER_CODES = dict.fromkeys(
    ("bad_namespace", "bad_prefix", "bad_sort", "bad_limit", "bad_offset", "bad_mode", "bad_respell"), "bad_parameter"
)
CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 429: "rate_limited", 500: "internal_error"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(status: int, code: str, message: str) -> tuple[Response | str, int]:
    if wants_json():
        response = jsonify({"error": {"status": status, "code": code, "message": message}})
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response, status
    return render_template("error.html", status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(QueryError)
    def bad_query(exc: QueryError):
        return error_response(400, PARAMETER_CODES.get(exc.code, "bad_query"), str(exc))

    @app.errorhandler(UnknownIndex)
    def unknown_index(exc: UnknownIndex):
        return error_response(404, exc.code, str(exc))

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded):
        body, status = error_response(
            429, "rate_limited", f"too many requests: at most {exc.description}; try again shortly"
        )
        response = app.make_response((body, status))
        response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        return error_response(status, CODES.get(status, "error"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        logger.exception("unexpected error on %s", request.path)
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
