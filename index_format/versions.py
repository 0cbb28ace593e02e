"""Index versions on disk: the atomic swap, pruning, and leftovers of killed builds.

The path the user names (``data/indexes/mediawiki-docs``) is a symlink to a
versioned sibling directory (``.mediawiki-docs.<stamp>``). A build writes a new
version beside it and swaps the symlink with one atomic rename, so readers see
the old index or the new one, never half of one, and a failed or killed build
leaves the old one untouched. The previous version is kept for rollback and
for readers that still have it open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)


def new_version_dir(target: Path) -> Path:
    """Where a build of ``target`` writes until it commits (named after this process)."""
    stamp = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    return target.parent / f".{target.name}.{stamp}.building-{os.getpid()}"


def finished_name(building: Path) -> Path:
    """The version's name once complete: the build marker dropped."""
    return building.with_name(building.name.split(".building-")[0])


def swap_in(target: Path, version: Path) -> None:
    """Make ``target`` name ``version``, in one atomic rename."""
    link = target.with_name(f".{target.name}.link-{uuid.uuid4().hex[:8]}")
    os.symlink(version.name, link)
    if target.is_dir() and not target.is_symlink():
        # A plain directory (copied by hand, or empty): move it aside first.
        aside = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:8]}")
        target.rename(aside)
        os.replace(link, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(link, target)
    fsync_dir(target.parent)


def versions(target: Path) -> list[Path]:
    """The complete versions of ``target`` on disk, current one included."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.\d{{8}}T\d{{6}}-[0-9a-f]{{8}}$")
    return [p for p in target.parent.iterdir() if pattern.match(p.name)]


def prune_versions(target: Path, keep: set[Path]) -> None:
    """Remove versions other than the current and the previous one."""
    keep = {p.resolve() for p in keep}
    for version in versions(target):
        if version.resolve() not in keep:
            shutil.rmtree(version, ignore_errors=True)


def clean_stale_builds(target: Path) -> None:
    """Remove leftovers of builds that died (killed, power loss) before commit."""
    if not target.parent.is_dir():
        return
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(.+\.building-(\d+)|link-[0-9a-f]+|replaced-[0-9a-f]+)$")
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if not match:
            continue
        pid = match.group(2)
        if pid and pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue  # another build is running right now
        logger.info("removing leftover of an interrupted build: %s", entry.name)
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fsync(path)
