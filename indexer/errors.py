"""Exceptions of the library. Only the CLI and the web app turn them into
exit codes and messages; everything else raises them."""


class WikisearchError(Exception):
    """Base class: a problem the user can act on, with a one-line message."""


class DumpError(WikisearchError):
    """The dump cannot be read: missing, wrong format, truncated, empty."""


class MalformedXML(DumpError):
    """The dump's XML is not what a MediaWiki export looks like."""


class ModelError(WikisearchError):
    """The embedding model is unknown, unvetted, or its weights do not verify."""


class IndexFormatError(WikisearchError):
    """An index directory is missing, corrupt, or of another model/format version."""


class QueryError(WikisearchError):
    """A search request that cannot be answered as asked (empty, too long, bad limit)."""
