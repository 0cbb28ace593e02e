"""Sources: equal implementations of ``core.documents.Source``.

- ``dump``: a MediaWiki XML export; every page is a document.
- ``sparql_examples``: every ``{{SPARQL}}`` template of a wiki page is one.
- ``records``: every record of a JSON Lines or CSV file is one (Quarry, SPARQL collections).
- ``content_table``: a Parquet table of current revisions, as in Wikimedia's Data Lake.
- ``multistream``: a byte range of a multistream dump, read as a dump (``part``).

``open_source`` makes the one a user names; a source's quirks stay in its module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from core.documents import Source
from core.errors import DumpError

if TYPE_CHECKING:
    from .multistream import StreamRange

#: The names ``wikisearch build --source`` accepts.
SOURCE_TYPES = ("dump", "sparql-examples", "records", "content-table")


def open_source(
    kind: str,
    path: Path,
    *,
    namespaces: set[int] | None = None,
    max_pages: int | None = None,
    base_url: str | None = None,
    preset: str | None = None,
    fields: Mapping[str, str] | None = None,
    part: StreamRange | None = None,
) -> Source:
    """The source of type ``kind`` over ``path``; options that do not apply to it are ignored."""
    if kind == "records":
        from .records import RecordsSource, mapping_from

        return RecordsSource(path, mapping_from(preset, fields or {}), max_records=max_pages)
    if kind == "sparql-examples":
        from .sparql_examples import SparqlExamplesSource

        return SparqlExamplesSource(path, base_url=base_url)
    if kind == "content-table":
        from .content_table import ContentTableSource

        return ContentTableSource(path, namespaces=namespaces, max_pages=max_pages, base_url=base_url)
    if kind == "dump":
        from .dump import DumpSource

        return DumpSource(path, namespaces=namespaces, max_pages=max_pages, base_url=base_url, part=part)
    raise DumpError(f"unknown source {kind!r}; known: {', '.join(SOURCE_TYPES)}", "unknown_source")
