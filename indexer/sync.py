"""Follow a live wiki through its Action API: the first sync reads every page,
later ones only what changed since the state committed with the last version.

A sync is a build (``build.build_index``): only new or changed chunks are
embedded, the new version is swapped in atomically, and the sync state is in
its manifest — so a killed sync loses nothing and the next one resumes from
the last committed state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.errors import IndexFormatError, WikiApiError
from core.models import Embedder, ModelInfo
from core.settings import Settings
from index_format import BuildReport, Index, Manifest, SyncState, existing_manifest

from .build import build_index, carries_over, chunking_of, runtime_of
from .chunk import ChunkSettings
from .index_model import QueryReader
from .sources.wiki_api import AllPagesSource, TitlesSource, WikiApi

logger = logging.getLogger(__name__)

#: How long a wiki keeps recent changes when it does not say ($wgRCMaxAge on Wikimedia wikis).
DEFAULT_RC_MAX_AGE = timedelta(days=30)


@dataclass(frozen=True)
class SyncReport:
    mode: str  # "full" (every page read), "incremental" (only what changed) or "unchanged" (nothing written)
    since: str  # the wiki's time the changes were read from ("" for a first sync)
    until: str  # ... and up to
    build: BuildReport

    def as_dict(self) -> dict[str, Any]:
        b = self.build
        return {
            "mode": self.mode,
            "since": self.since or None,
            "until": self.until,
            "pages": {
                "added": b.pages_added,
                "changed": b.pages_changed,
                "removed": b.pages_removed,
                "unchanged": b.pages_unchanged,
            },
            "chunks": {"embedded": b.chunks_embedded, "reused": b.chunks_reused},
            "version": b.version,
        }


def sync_index(
    api: WikiApi,
    target: Path,
    embedder: Embedder,
    model: ModelInfo,
    settings: Settings,
    *,
    namespaces: set[int] | None = None,
    full: bool = False,
    reader: QueryReader | None = None,
) -> SyncReport:
    """Bring the index at ``target`` up to date with the wiki behind ``api``
    (``reader``: what reads the queries of each new version)."""
    site = api.site()
    until = api.now()  # changes after this are the next sync's
    manifest = existing_manifest(target)
    if manifest is not None and namespaces is None and manifest.source.namespaces:
        namespaces = set(manifest.source.namespaces)
    state = manifest.sync if manifest else None
    if state is not None and state.api != api.url and not full:
        raise WikiApiError(
            f"{target} follows {state.api}, not {api.url}; pass --full to read the other wiki from scratch",
            "other_wiki",
        )
    since = _since(target, state, until) if manifest is not None and not full else ""
    if since and manifest is not None:
        changes = list(changed_titles(api, since, until))
        titles = {title for title, _ in changes}
        chunking = chunking_of(ChunkSettings.from_settings(settings))
        kept = carries_over(manifest, model, runtime_of(embedder), chunking)
        if kept and _already_indexed(target, changes):  # no new version; the next sync reads from ``since`` again
            return SyncReport("unchanged", since, until, _unchanged(target, manifest))
        source = TitlesSource(api, site, namespaces, titles)
        sync = SyncState(api.url, until, state.full_pass if state else "")
        try:
            keep = lambda title: title not in titles  # noqa: E731
            report = build_index(
                source,
                target,
                embedder,
                model,
                settings,
                reader=reader,
                keep_previous=keep,
                sync=sync,
            )
            return SyncReport("incremental", since, until, report)
        except IndexFormatError as exc:
            if exc.code != "needs_full_pass":
                raise
            logger.warning("%s; reading every page again", exc)
    source_all = AllPagesSource(api, site, namespaces)
    sync = SyncState(api.url, until, until)
    report = build_index(source_all, target, embedder, model, settings, replace=full, reader=reader, sync=sync)
    return SyncReport("full", since, until, report)


def changed_titles(api: WikiApi, since: str, until: str) -> Iterator[tuple[str, int | None]]:
    """Every title an edit, a new page or a log event (delete, restore, move,
    merge, import) touched between ``since`` and ``until``, with the revision
    an edit made (None for a log event); the caller reads their current state,
    so one page edited ten times is read once."""
    edits = {
        "list": "recentchanges",
        "rcstart": since,
        "rcend": until,
        "rcdir": "newer",
        "rctype": "edit|new",
        "rcprop": "title|timestamp|ids",
        "rclimit": "max",
    }
    for batch in api.query(edits):
        for change in batch.get("recentchanges", []):
            yield str(change["title"]), int(change["revid"]) if "revid" in change else None
    logs = {
        "list": "logevents",
        "lestart": since,
        "leend": until,
        "ledir": "newer",
        "leprop": "title|type|details|timestamp",
        "lelimit": "max",
    }
    for batch in api.query(logs):
        for event in batch.get("logevents", []):
            if "title" in event:
                yield str(event["title"]), None
            params = event.get("params") or {}
            for key in ("target_title", "dest_title"):  # move, merge
                if key in params:
                    yield str(params[key]), None


def _since(target: Path, state: SyncState | None, until: str) -> str:
    """Where the last sync (or the dump's newest revision) left off; "" when that is
    longer ago than the wiki keeps recent changes, and every page must be read."""
    since = state.since if state else _newest_revision(target)
    if _older_than_recent_changes(since, until):
        logger.warning(
            "%s: last synced at %s, longer ago than this wiki keeps recent changes; reading every page again "
            "(unchanged chunks keep their vectors)",
            target,
            since,
        )
        return ""
    return since


def _unchanged(target: Path, manifest: Manifest) -> BuildReport:
    """The report of a sync that wrote nothing: the version served stays."""
    counts = manifest.counts
    return BuildReport(
        pages=counts.pages, chunks=counts.chunks, pages_unchanged=counts.pages, version=target.resolve().name
    )


def _already_indexed(target: Path, changes: list[tuple[str, int | None]]) -> bool:
    """Whether every change is one the index holds already: edits whose revision
    it stored (recent changes repeat the edits of the second a sync ended in)."""
    if any(revision is None for _, revision in changes):
        return False
    if not changes:
        return True
    index = Index.open(target)
    try:
        stored = index.page_chunk_hashes()
    finally:
        index.close()
    return all(title in stored and stored[title][0] >= (revision or 0) for title, revision in changes)


def _newest_revision(target: Path) -> str:
    """Where an index built from a dump leaves off: its newest revision."""
    index = Index.open(target)
    try:
        return index.newest_timestamp()
    finally:
        index.close()


def _older_than_recent_changes(since: str, until: str) -> bool:
    """Whether changes since ``since`` may have left the wiki's recent changes
    (MediaWiki's siteinfo does not say its $wgRCMaxAge: Wikimedia's is assumed)."""
    try:
        then, now = _parse(since), _parse(until)
    except ValueError:
        return True
    return now - then > DEFAULT_RC_MAX_AGE


def _parse(timestamp: str) -> datetime:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
