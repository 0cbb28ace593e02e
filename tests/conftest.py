"""Shared fixtures: paths to the real data, a fast fake embedder for unit
tests, and the real model for end-to-end tests."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("WIKISEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
DUMPS = ROOT / "data" / "dumps"
FORMATS = SHARED / "dumps" / "formats"
WIKISEARCH = [sys.executable, "-m", "indexer.cli"]


def shared(path: str) -> Path:
    """A file of the shared real-data folder; tests that need it skip loudly if absent."""
    full = SHARED / path
    if not full.exists():
        pytest.fail(f"shared real data missing: {full} (set WIKISEARCH_SHARED_DATA)")
    return full


class FakeEmbedder:
    """Bag of hashed words: fast, deterministic, and similar texts do get
    similar vectors, so grouping and ranking logic can be tested without torch."""

    dimensions = 64

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimensions
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        from indexer.chunk import approximate_tokens

        return approximate_tokens(texts)


FAKE_MODEL = {"name": "fake-hash-64", "sha256": "0" * 64, "verified": False, "vetted": False}


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from indexer.models import load_embedder

    return load_embedder("all-MiniLM-L6-v2")


def run_cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """Run the real ``wikisearch`` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*WIKISEARCH, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def docs_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mediawiki-docs sample built once with the real model, through the CLI."""
    target = tmp_path_factory.mktemp("indexes") / "mediawiki-docs"
    result = run_cli("build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(target), "--quiet")
    assert result.returncode == 0, result.stderr
    return target


def copy_index(src: Path, dst: Path) -> Path:
    """A private copy of an index (the real directory, not the symlink)."""
    shutil.copytree(src.resolve(), dst)
    return dst
