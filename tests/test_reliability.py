"""Reliability with the real model and the real server: hot swap under load,
kill -9 during builds, full and read-only disks, corrupted indexes, and a
bounded load test. Every request goes to 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from index_format import Index
from index_format.manifest import MANIFEST, VECTORS
from tests.conftest import DUMPS, Server, kill_at, run_cli
from tests.test_build import docs_xml, edit_dump

pytestmark = pytest.mark.model
QUERIES = [
    "upload files",
    "how long do login cookies last",
    "$wgEnableUploads",
    "make my wiki private",
    "API categories",
]


def own_copy(docs_index: Path, tmp_path: Path, name: str = "docs") -> Path:
    """A private copy of the index under another name, versions renamed to match."""
    parent = tmp_path / "indexes"
    parent.mkdir()
    version = docs_index.resolve()
    copied = parent / version.name.replace(f".{docs_index.name}.", f".{name}.", 1)
    shutil.copytree(version, copied)
    os.symlink(copied.name, parent / name)
    return parent / name


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def load(base: str, clients: int, seconds: float) -> Iterator[Counter[str]]:
    """Clients searching in a loop until the block ends (or ``seconds`` pass)."""
    outcomes: Counter[str] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        i = n
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            query = urllib.parse.quote(QUERIES[i % len(QUERIES)])
            i += 1
            try:
                status, body = get(f"{base}/api/v1/search?q={query}&limit=5")
                ok = status == 200 and isinstance(json.loads(body)["results"], list)  # none is an answer too
                key = "ok" if ok else f"status {status}"
            except (OSError, ValueError) as exc:
                key = f"error {type(exc).__name__}"
            with lock:
                outcomes[key] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)


def wait_for(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def lexical_titles(base: str, query: str) -> list[str]:
    status, body = get(f"{base}/api/v1/search?q={urllib.parse.quote(query)}&mode=lexical&limit=5")
    return [h["title"] for h in json.loads(body)["results"]] if status == 200 else []


def test_hot_swap_under_load_never_fails_a_request(docs_index: Path, tmp_path: Path) -> None:
    target = own_copy(docs_index, tmp_path)
    newer, titles = edit_dump(docs_xml(), tmp_path)
    server = Server({"docs": target}, tmp_path / "server.log")
    try:
        with load(server.url, clients=4, seconds=240) as outcomes:
            time.sleep(2)
            first = run_cli("build", str(newer), "--index", str(target), "--quiet")
            assert first.returncode == 0, first.stderr
            assert wait_for(lambda: titles["added"] in lexical_titles(server.url, "BrandNewSetting"))
            second = run_cli("build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(target), "--quiet")
            assert second.returncode == 0, second.stderr
            assert wait_for(lambda: titles["added"] not in lexical_titles(server.url, "BrandNewSetting"))
            time.sleep(2)
        log = server.stop()
    finally:
        server.proc.poll() is None and server.stop()
    assert set(outcomes) == {"ok"}, outcomes
    assert outcomes["ok"] >= 20
    print(f"\nhot swap: {dict(outcomes)} across two rebuilds")
    assert log.count("now serving") >= 2 and "Traceback" not in log


def test_kill_9_during_a_build_leaves_the_previous_index(docs_index: Path, tmp_path: Path) -> None:
    """Killed while it parses, embeds or writes: the index stays as it was, and served."""
    target = own_copy(docs_index, tmp_path)
    before = (target.resolve().name, (target / MANIFEST).read_bytes())
    build = ["build", str(DUMPS / "enwiki-sample.xml.bz2"), "--index", str(target), "--max-pages", "4", "--quiet"]
    for stage in ("parse", "embed", "write"):
        kill_at(stage, build, tmp_path)
        assert (target.resolve().name, (target / MANIFEST).read_bytes()) == before, stage
    assert [p for p in target.parent.iterdir() if ".building-" in p.name]  # the dead builds' leftovers
    answer = run_cli("query", "--index", str(target), "--json", "upload files")
    assert answer.returncode == 0 and json.loads(answer.stdout)["results"]
    fresh = run_cli(*build)
    assert fresh.returncode == 0, fresh.stderr
    assert Index.open(target).manifest.counts.pages == 4
    assert not [p for p in target.parent.iterdir() if ".building-" in p.name]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here ({result.stderr.strip()}); the disk-full test needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_and_read_only_keep_the_index(docs_index: Path, tmpfs: Path) -> None:
    target = tmpfs / "docs"
    shutil.copytree(docs_index.resolve(), tmpfs / docs_index.resolve().name)
    os.symlink(docs_index.resolve().name, target)
    before = (target.resolve().name, (target / MANIFEST).read_bytes())
    free = shutil.disk_usage(tmpfs).free
    (tmpfs / "filler").write_bytes(b"\0" * (free - 512 * 1024))  # leave 0.5 MB
    full = run_cli("build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(target), "--replace", "--quiet")
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
    assert "cannot write the index" in full.stderr and "previous index is unchanged" in full.stderr
    assert (target.resolve().name, (target / MANIFEST).read_bytes()) == before
    assert not [p for p in tmpfs.iterdir() if ".building-" in p.name]
    (tmpfs / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    readonly = run_cli("build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(target), "--quiet")
    assert readonly.returncode == 2 and "Traceback" not in readonly.stderr
    assert "read-only" in readonly.stderr.lower() or "cannot" in readonly.stderr
    answer = run_cli("query", "--index", str(target), "--json", "upload files")
    assert answer.returncode == 0 and json.loads(answer.stdout)["results"]


def _corrupt_new_version(target: Path) -> Path:
    """What a broken copy or a bad disk would leave: a new version with a cut FAISS file, swapped in."""
    current = target.resolve()
    broken = current.with_name(f".{target.name}.29991231T235959-0badc0de")
    shutil.copytree(current, broken)
    data = (broken / VECTORS).read_bytes()
    (broken / VECTORS).write_bytes(data[: len(data) // 3])
    link = target.with_name(".swap-link")
    os.symlink(broken.name, link)
    os.replace(link, target)
    return broken


def test_a_corrupt_new_index_is_refused_and_the_old_one_kept(docs_index: Path, tmp_path: Path) -> None:
    target = own_copy(docs_index, tmp_path)
    server = Server({"docs": target}, tmp_path / "server.log")
    try:
        _corrupt_new_version(target)
        time.sleep(1.5)
        for _ in range(5):
            status, body = get(server.url + "/api/v1/search?q=upload+files")
            assert status == 200 and json.loads(body)["results"]
        log = server.stop()
    finally:
        server.proc.poll() is None and server.stop()
    assert "refused, still serving" in log and "vectors.faiss is corrupt" in log
    info = run_cli("info", "--index", str(target))
    assert info.returncode == 2 and "vectors.faiss is corrupt" in info.stderr and "Traceback" not in info.stderr
    # a server that starts while the current version is broken serves the previous one
    restarted = Server({"docs": target}, tmp_path / "restart.log")
    try:
        status, body = get(restarted.url + "/api/v1/search?q=upload+files")
        assert status == 200 and json.loads(body)["results"]
    finally:
        log = restarted.stop()
    assert "serving the previous version" in log


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def test_eight_clients_for_thirty_seconds_no_errors_flat_memory(docs_index: Path, tmp_path: Path) -> None:
    server = Server({"docs": docs_index}, tmp_path / "server.log")
    samples: list[tuple[float, int]] = []
    try:
        started = time.monotonic()
        with load(server.url, clients=8, seconds=30) as outcomes:
            while time.monotonic() - started < 30:
                samples.append((time.monotonic() - started, _rss_kib(server.worker_pids())))
                time.sleep(1)
        log = server.stop()
    finally:
        server.proc.poll() is None and server.stop()
    assert set(outcomes) == {"ok"}, outcomes
    assert outcomes["ok"] > 100
    first = [rss for t, rss in samples if t < 10]
    last = [rss for t, rss in samples if t >= 20]
    growth = (sum(last) / len(last)) / (sum(first) / len(first))
    print(
        f"\nload: {dict(outcomes)} in 30 s; worker RSS first 10 s {sum(first) // len(first)} KiB, last 10 s {sum(last) // len(last)} KiB"
    )
    assert growth < 1.05, (first, last)  # no more than 5 % between the first and last 10 s
    assert "Traceback" not in log
