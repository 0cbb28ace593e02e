"""Shared fixtures: paths to the real data, a fast fake embedder for unit
tests, and the real model for end-to-end tests."""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.models import ModelInfo

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("WIKISEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
DUMPS = ROOT / "data" / "dumps"
FORMATS = SHARED / "dumps" / "formats"
WIKISEARCH = [sys.executable, "-m", "wikisearch"]


#: The longest test file (Spark jobs): handed out first, so the other worker's files run beside it.
FIRST = ("test_spark.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with real-model tests before the others, the longest first: ``make test`` hands
    whole files to two workers in this order (``--dist loadfile --no-loadscope-reorder``), so
    the many short unit files come last and even out when the two finish. A file's tests stay
    together and in order."""
    with_model = {item.path for item in items if item.get_closest_marker("model")}
    items.sort(key=lambda item: (item.path.name not in FIRST, item.path not in with_model))


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


FAKE_MODEL = ModelInfo(name="fake-hash-64", sha256="0" * 64)


def fake_build(source, target: Path):
    """An index of ``source`` at ``target`` made with the fake embedder, opened."""
    from core.settings import Settings
    from index_format import Index
    from indexer.build import build_index

    build_index(source, target, FakeEmbedder(), FAKE_MODEL, Settings(quiet=True))
    return Index.open(target)


@pytest.fixture(scope="session")
def fake_sample(tmp_path_factory: pytest.TempPathFactory):
    """The sample ``name`` (in data/dumps) read as a ``kind`` source, built once per test run
    with the fake embedder: a path to read, never to change (``copy_index`` it first)."""
    from indexer.sources import open_source

    built: dict[tuple[str, str], Path] = {}

    def get(kind: str, name: str) -> Path:
        if (kind, name) not in built:
            target = tmp_path_factory.mktemp("fake-samples") / name.split(".")[0]
            fake_build(open_source(kind, DUMPS / name), target).close()
            built[kind, name] = target
        return built[kind, name]

    return get


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from core.models import load_embedder

    return load_embedder("all-MiniLM-L6-v2")


def run_cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """Run the real ``wikisearch`` command as a user would. Its builds encode in float32
    ONNX unless a test asks otherwise: the default, bfloat16 for a new index, pays ~3.5 s
    loading the model in torch, which a 40-page build never earns back
    (tests/test_onnx.py tests the default)."""
    full_env = {"WIKISEARCH_BUILD_RUNTIME": "onnx", **os.environ, **(env or {})}
    return subprocess.run([*WIKISEARCH, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def one_encoder_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every real-model build of the suite reuses one ONNX export of each model
    (``Settings.encoder_cache``), as a user's indexes can: exporting takes ~11 s."""
    cache = tmp_path_factory.mktemp("encoders")
    os.environ["WIKISEARCH_ENCODER_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def docs_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mediawiki-docs sample built once with the real model, through the CLI
    (with the model's export beside it, where a build keeps it by default)."""
    target = tmp_path_factory.mktemp("indexes") / "mediawiki-docs"
    result = run_cli(
        "build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(target), "--quiet",
        env={"WIKISEARCH_ENCODER_CACHE": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture(scope="session")
def examples_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Wikidata SPARQL examples built once with the real model, through the CLI, from a
    copy of the dump that is gone afterwards (what reads the index never needs its source).
    Read it as it is; ``copy_index`` it to change it."""
    folder = tmp_path_factory.mktemp("indexes")
    dump = folder / "examples.xml.bz2"
    dump.write_bytes((DUMPS / "wikidata-sparql-examples.xml.bz2").read_bytes())
    target = folder / "wikidata-examples"
    result = run_cli("build", str(dump), "--source", "sparql-examples", "--index", str(target), "--quiet")
    assert result.returncode == 0, result.stderr
    dump.unlink()
    return target


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``wikisearch serve`` (gunicorn) on a free loopback port, for one test module."""

    def __init__(self, indexes: dict[str, Path], log: Path, env: dict[str, str] | None = None, threads: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        specs = [arg for name, path in indexes.items() for arg in ("--index", f"{name}={path}")]
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [*WIKISEARCH, "serve", *specs, "--port", str(self.port), "--threads", str(threads)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "WIKISEARCH_RATE_LIMIT": "1000000/minute", **(env or {})},
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> None:
        import time
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        pytest.fail(f"server did not come up: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return self.log.read_text()


def copy_index(src: Path, dst: Path) -> Path:
    """A private copy of an index (the real directory, not the symlink)."""
    shutil.copytree(src.resolve(), dst)
    return dst


def write_multistream(xml: str, folder: Path, name: str, per_stream: int) -> tuple[Path, Path]:
    """A real export repacked as Wikimedia packs a multistream dump: a header stream,
    ``per_stream`` pages a stream, a footer stream, and its ``offset:page_id:title`` index."""
    header = xml[: xml.index("<page>")]
    pages = re.findall(r"<page>.*?</page>", xml, flags=re.S)
    dump = folder / f"{name}-multistream.xml.bz2"
    index = folder / f"{name}-multistream-index.txt.bz2"
    data, lines = bz2.compress(header.encode("utf-8")), []
    for first in range(0, len(pages), per_stream):
        group = pages[first : first + per_stream]
        for page in group:
            page_id = re.search(r"<id>(\d+)</id>", page).group(1)  # type: ignore[union-attr]
            title = re.search(r"<title>(.*?)</title>", page).group(1)  # type: ignore[union-attr]
            lines.append(f"{len(data)}:{page_id}:{title}")
        data += bz2.compress(("\n".join(group) + "\n").encode("utf-8"))
    dump.write_bytes(data + bz2.compress(b"</mediawiki>\n"))
    index.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode("utf-8")))
    return dump, index


def kill_at(
    stage: str, args: list[str], folder: Path, env: dict[str, str] | None = None, sig: int = signal.SIGKILL
) -> tuple[int, str]:
    """Run the real command until it reaches crash point ``stage`` (``indexer.crash.crash_point``),
    then send ``sig`` to it and everything it started (a Spark driver's JVM too): kill -9, or
    SIGINT as Ctrl-C in a terminal sends it. Returns its exit code and what it wrote to stderr."""
    marker = folder / f"reached-{stage}"
    full = {**os.environ, **(env or {}), "WIKISEARCH_TEST_CRASH_POINT": f"{stage}:{marker}"}
    stderr = folder / f"stderr-{stage}"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*WIKISEARCH, *args],
            cwd=ROOT,
            env=full,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=_sigint_not_ignored if sig == signal.SIGINT else None,
        )
        try:
            for _ in range(600):
                if marker.exists() or proc.poll() is not None:
                    break
                time.sleep(0.5)
            assert marker.exists(), f"{args[0]} never reached {stage}: {stderr.read_text()[-2000:]}"
        finally:
            with contextlib.suppress(ProcessLookupError):  # it ended before: the assertion says how
                os.killpg(proc.pid, sig)
            try:
                code = proc.wait(timeout=120)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # what it started and left behind
                proc.wait()
    return code, stderr.read_text()


def _sigint_not_ignored() -> None:
    """A background job of a shell (a CI's, say) starts with SIGINT ignored, and Python keeps it
    so: Ctrl-C's signal would never reach the command under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
