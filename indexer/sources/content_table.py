"""Read stage: a Parquet table of current page revisions, one row a page.

Shaped like the wikitext table of Wikimedia's Data Lake (the current content
of every page, refreshed daily), with the columns ``page_id, namespace,
title, rev_id, timestamp, wikitext``: on that cluster a build needs no XML
dump. A table is a ``.parquet`` file or a directory of them (as Spark and
Hive write tables); it has no ``<siteinfo>``, so page URLs need
``--base-url``. Redirects are recognised in the wikitext, as in a dump.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.categories import categories
from core.documents import Page, SiteInfo, SourceDescription
from core.errors import DumpError
from core.urls import page_url

from .dump import is_content_namespace, redirect_target

logger = logging.getLogger(__name__)

COLUMNS = ("page_id", "namespace", "title", "rev_id", "timestamp", "wikitext")


def table_files(path: Path) -> list[Path]:
    """The Parquet files of a table: the file itself, or a directory's part files in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
    return [path]


class ContentTableSource:
    """Pages of a content table; rows of other namespaces or without text are skipped and counted."""

    def __init__(
        self,
        path: str | Path,
        namespaces: set[int] | None = None,
        max_pages: int | None = None,
        base_url: str | None = None,
    ):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            needs = "a content table is read with pyarrow: pip install 'wikisearch[spark]'"
            raise DumpError(needs, "bad_table") from None
        self.path = Path(path)
        self.max_pages = max_pages
        self.files = table_files(self.path)
        if not self.files:
            raise DumpError(f"{self.path}: no Parquet files here", "bad_table")
        try:
            names = set(pq.read_schema(self.files[0]).names)
        except (OSError, ValueError) as exc:
            raise DumpError(f"{self.files[0]}: not a Parquet file ({exc})", "bad_table") from None
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise DumpError(
                f"{self.path}: not a content table: no column {', '.join(missing)} (needs {', '.join(COLUMNS)})",
                "bad_table",
            )
        if not base_url:
            logger.warning("%s has no <siteinfo>: results will have no URL (use --base-url)", self.path)
        self.site = SiteInfo(base=base_url or "", schema="parquet")
        self.namespaces = set(namespaces) if namespaces is not None else None
        self.skip_reasons: Counter[str] = Counter()

    def describe(self) -> SourceDescription:
        namespaces = frozenset(self.namespaces or ())
        return SourceDescription("content-table", self.path, "parquet", namespaces, max_pages=self.max_pages)

    def _wanted(self, namespace: int) -> bool:
        if self.namespaces is not None:
            return namespace in self.namespaces
        return is_content_namespace(namespace)

    def __iter__(self) -> Iterator[Page]:
        import pyarrow.parquet as pq

        self.skip_reasons.clear()
        yielded = 0
        for file in self.files:
            for batch in pq.ParquetFile(file).iter_batches(columns=list(COLUMNS), batch_size=1024):
                for row in batch.to_pylist():
                    page = self._page(row)
                    if page is None:
                        continue
                    yield page
                    if page.redirect is None:
                        yielded += 1
                        if self.max_pages is not None and yielded >= self.max_pages:
                            return

    def _page(self, row: dict[str, Any]) -> Page | None:
        title = str(row["title"]).replace("_", " ")
        if not self._wanted(int(row["namespace"])):
            self.skip_reasons["namespace"] += 1
            return None
        text = row["wikitext"] or ""
        if not text.strip():
            self.skip_reasons["no text"] += 1
            return None
        redirect = redirect_target(text)
        return Page(
            title=title,
            namespace=int(row["namespace"]),
            page_id=int(row["page_id"]),
            rev_id=int(row["rev_id"]),
            timestamp=_iso(row["timestamp"]),
            text=text,
            url=page_url(self.site.article_path, title),
            redirect=redirect.replace("_", " ") if redirect else None,
            categories=categories(text, self.site.category_names),
        )


def _iso(value: Any) -> str:
    """A revision time as a dump writes it: ``2026-11-24T10:00:00Z``."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)
