"""The end every way of making an index shares: one version written and published.

A serial build, a sync and ``assemble`` (Spark's shards) all write through a
``Publisher``: it owns what they must agree on — redirects as aliases, one page
a title, what was skipped and why, what changed since the previous version,
the refusal of an empty result, the counts, and commit or abort — so that the
engines cannot drift apart.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from core.documents import Chunk, Page
from core.errors import DumpError, write_failed
from core.settings import Settings
from index_format import BuildReport, IndexWriter, Manifest, StoredChunk

from .crash import crash_point
from .index_model import QueryReader

logger = logging.getLogger(__name__)

#: What the previous version held, page by page: (row, its chunks' keys).
OldPages = Mapping[str, tuple[int, tuple[str, ...]]]


class Publisher:
    """One new version of the index at ``target``, as a context: on any error or interrupt
    the version is removed and the index stays as it was (a write error becomes one
    clear error); ``finish`` commits it."""

    def __init__(self, target: Path, dimensions: int, report: BuildReport, old_pages: OldPages | None = None):
        self.target, self.report = target, report
        self.old_pages: OldPages = old_pages or {}
        self.writer = IndexWriter(target, dimensions)
        self.pages: set[str] = set()  # titles written as pages
        self.aliased: set[str] = set()
        self._started = time.monotonic()
        self._spent = report.duration_s  # an engine's own time before this (Spark's)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if exc is None:
            return None
        self.writer.abort()
        if isinstance(exc, sqlite3.Error | OSError):
            raise write_failed(self.target, exc) from None
        return None

    def alias(self, title: str, target: str) -> None:
        """A redirect: another name of ``target``, unless ``title`` is a page or named already."""
        if title not in self.pages and title not in self.aliased:
            self.writer.add_alias(title, target)
            self.aliased.add(title)

    def claims(self, title: str) -> bool:
        """Whether a page titled ``title`` is written: the first of a title is, a duplicate is skipped."""
        if title in self.pages:
            self.skip("duplicate title", title)
            return False
        self.pages.add(title)
        return True

    def skip(self, reason: str, title: str | None = None, count: int = 1) -> None:
        self.report.skipped[reason] = self.report.skipped.get(reason, 0) + count
        if title is not None:
            logger.warning("skipped page %r: %s", title, reason)

    def skip_all(self, reasons: Mapping[str, int]) -> None:
        for reason, count in reasons.items():
            self.skip(reason, count=count)

    def changed(self, page: Page, chunks: Sequence[Chunk | StoredChunk]) -> None:
        """Count ``page`` as added, changed or unchanged since the previous version."""
        old = self.old_pages.get(page.title)
        if old is None:
            self.report.pages_added += 1
        elif old[1] == tuple(c.key for c in chunks):
            self.report.pages_unchanged += 1
        else:
            self.report.pages_changed += 1

    def finish(
        self,
        manifest: Callable[[BuildReport], Manifest],
        settings: Settings,
        reader: QueryReader | None,
        publish: bool = True,
        *,
        empty: str,
    ) -> str:
        """Commit the version (``manifest(report)`` says what it is), with what reads its queries;
        swapped in unless not ``publish``. A version without pages is refused: ``empty`` says why."""
        if self.writer.pages == 0:
            raise DumpError(empty, "no_pages")
        report, writer = self.report, self.writer
        report.pages_removed = len(set(self.old_pages) - self.pages)
        report.pages, report.chunks, report.aliases = writer.pages, writer.chunk_count, writer.aliases
        report.sentences = writer.sentences
        report.duration_s = round(self._spent + time.monotonic() - self._started, 3)
        crash_point("write")
        if reader is not None:
            reader.store(writer)
        report.version = writer.commit(manifest(report), settings, publish=publish).name
        return report.version
