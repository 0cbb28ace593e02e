"""Exceptions of the library. Only the CLI and the web app turn them into
exit codes and messages; everything else raises them.

Each carries a ``code`` (``query_too_long``, ``unknown_index``…) so that callers
decide by code, never by matching the message.
"""

from __future__ import annotations


class WikisearchError(Exception):
    """Base class: a problem the user can act on, with a one-line message."""

    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class DumpError(WikisearchError):
    """The dump cannot be read: missing, wrong format, truncated, empty."""

    code = "bad_dump"


class MalformedXML(DumpError):
    """The dump's XML is not what a MediaWiki export looks like."""

    code = "malformed_xml"


class WikiApiError(WikisearchError):
    """A wiki's Action API cannot be used: not an API, unreachable, refusing, or
    still failing after the retries."""

    code = "api_error"


class ModelError(WikisearchError):
    """The embedding model is unknown, unvetted, or its weights do not verify."""

    code = "bad_model"


class IndexFormatError(WikisearchError):
    """An index directory is missing, corrupt, or of another model/format version."""

    code = "bad_index"


class QueryError(WikisearchError):
    """A search request that cannot be answered as asked (empty, too long, bad limit)."""

    code = "bad_query"


class UnknownIndex(WikisearchError):
    """A request named an index that is not served."""

    code = "unknown_index"


def write_failed(target: object, exc: BaseException) -> IndexFormatError:
    """The one message for an index that could not be written."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return IndexFormatError(
        f"{target}: cannot write the index: {text}; the previous index is unchanged", "write_failed"
    )
