"""Performance benchmark: indexing, query latency, load, memory — each beside a
baseline measured in the same run on the same chunks and model.

    python bench/bench.py [--quick]

Prints a table and writes bench/results/bench.json. ``--quick`` uses only the
mediawiki-docs sample (a few minutes); the default adds enwiki-sample.
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from indexer.build import build_index  # noqa: E402
from indexer.catalog import Catalog  # noqa: E402
from indexer.chunk import ChunkSettings, chunk_page  # noqa: E402
from indexer.dump import DumpSource  # noqa: E402
from indexer.index_format import Index  # noqa: E402
from indexer.models import load_embedder  # noqa: E402
from indexer.onnx_encoder import prepare_encoder  # noqa: E402
from indexer.parse import parse_sections  # noqa: E402
from indexer.search import search  # noqa: E402
from indexer.settings import Settings  # noqa: E402

QUERIES = [json.loads(line)["query"] for line in (ROOT.parent / "shared/data/eval/dev.jsonl").read_text().splitlines()]
QUERIES += ["$wgEnableUploads", "API:Allpages", "upload files", "make my wiki private", "P31 Q146", "cookie expiry"]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(pick(0.5) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
    }


def chunks_of(dump: Path, embedder) -> list[str]:
    settings = ChunkSettings()
    texts = []
    for page in DumpSource(dump):
        if page.redirect is None:
            texts += [
                c.embed_text for c in chunk_page(page.title, parse_sections(page.text), settings, embedder.count_tokens)
            ]
    return texts


def naive_baseline(texts: list[str], embedder) -> float:
    """A plain sentence-transformers encode loop into faiss.IndexFlatIP: seconds."""
    model = embedder._st
    started = time.perf_counter()
    index = faiss.IndexFlatIP(embedder.dimensions)
    for start in range(0, len(texts), 32):
        vectors = model.encode(texts[start : start + 32], normalize_embeddings=True, convert_to_numpy=True)
        index.add(np.asarray(vectors, dtype=np.float32))
    return time.perf_counter() - started


def changed_dump(dump: Path, out: Path, share: float = 0.05) -> int:
    """A 'newer dump' with ``share`` of the pages edited (a sentence appended)."""
    xml = bz2.decompress(dump.read_bytes()).decode("utf-8")
    parts = re.split(r"(</text>)", xml)
    texts = len(parts) // 2
    step = max(1, round(1 / share))
    edited = 0
    for i in range(0, texts, step):
        parts[2 * i] += "\nThis sentence was added in the newer dump."
        edited += 1
    out.write_bytes(bz2.compress("".join(parts).encode("utf-8")))
    return edited


def bench_indexing(dump: Path, embedder, workdir: Path) -> dict:
    settings = Settings(quiet=True)
    texts = chunks_of(dump, embedder)
    tokens = sum(embedder.count_tokens(texts))
    target = workdir / dump.name.split(".")[0]
    source = DumpSource(dump)
    started = time.perf_counter()
    encoder = prepare_encoder(embedder.model, workdir)  # the ONNX export is part of a build
    report = build_index(
        source, target, embedder, embedder.model.manifest(), settings, {"path": str(dump)}, False, encoder
    )
    full = time.perf_counter() - started
    baseline = naive_baseline(texts, embedder)
    newer = workdir / ("newer-" + dump.name)
    edited = changed_dump(dump, newer)
    started = time.perf_counter()
    encoder = prepare_encoder(embedder.model, workdir)  # cached: not exported again
    rebuild = build_index(
        DumpSource(newer), target, embedder, embedder.model.manifest(), settings, {"path": str(newer)}, False, encoder
    )
    incremental = time.perf_counter() - started
    size = sum(f.stat().st_size for f in target.resolve().iterdir())
    return {
        "dump": dump.name,
        "pages": report.pages,
        "chunks": report.chunks,
        "tokens": tokens,
        "full_build_s": round(full, 2),
        "pages_per_s": round(report.pages / full, 1),
        "chunks_per_s": round(report.chunks / full, 1),
        "tokens_per_s": round(tokens / full),
        "baseline_s": round(baseline, 2),
        "baseline_chunks_per_s": round(len(texts) / baseline, 1),
        "speedup_vs_baseline": round(baseline / full, 2),
        "rebuild_pages_edited": edited,
        "rebuild_s": round(incremental, 2),
        "rebuild_chunks_embedded": rebuild.chunks_embedded,
        "rebuild_share_of_full": round(incremental / full, 3),
        "index_bytes": size,
    }


def bench_single_queries(index_dir: Path, embedder, rounds: int = 5) -> dict:
    """What the server does (ONNX encoder) beside the naive path: sentence-transformers
    encode + a flat FAISS search, on the same index."""
    index = Index.open(index_dir)
    served = Catalog({"docs": index_dir}, Settings.load()).get("docs")
    onnx = served.embedder
    for q in QUERIES:  # warm up both
        search(index, onnx, q)
        embedder.encode([q])
    ours, naive, encode_onnx, encode_torch = [], [], [], []
    for _ in range(rounds):
        for q in QUERIES:
            started = time.perf_counter()
            search(index, onnx, q)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            index.search(embedder.encode([q])[0], 10)
            naive.append(time.perf_counter() - started)
            started = time.perf_counter()
            onnx.encode([q])
            encode_onnx.append(time.perf_counter() - started)
            started = time.perf_counter()
            embedder.encode([q])
            encode_torch.append(time.perf_counter() - started)
    vectors = onnx.encode(QUERIES)
    reference = embedder.encode(QUERIES)
    return {
        "queries": len(ours),
        "encoder": type(onnx).__name__,
        "search": percentiles(ours),
        "naive_st_flat_baseline": percentiles(naive),
        "encode_onnx": percentiles(encode_onnx),
        "encode_torch": percentiles(encode_torch),
        "min_cosine_onnx_vs_torch": round(float((vectors * reference).sum(axis=1).min()), 6),
    }


def bench_load(index_dir: Path, clients: int = 8, seconds: float = 20) -> dict:
    from tests.conftest import Server

    log = Path(tempfile.mkdtemp()) / "server.log"
    server = Server({"docs": index_dir}, log)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal errors
        i = n
        while time.monotonic() < stop:
            url = f"{server.url}/api/v1/search?q={urllib.parse.quote(QUERIES[i % len(QUERIES)])}&limit=10"
            i += 1
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                    ok = response.status == 200
            except OSError:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = 0
    for pid in server.worker_pids():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak += int(line.split()[1])
    server.stop()
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(latencies),
        "errors": errors,
        "queries_per_s": round(len(latencies) / seconds, 1),
        **percentiles(latencies),
        "worker_peak_rss_mib": round(peak / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench/results/bench.json"))
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    embedder = load_embedder("all-MiniLM-L6-v2")
    dumps = [ROOT / "data/dumps/mediawiki-docs.xml.bz2"]
    if not args.quick:
        dumps.append(ROOT / "data/dumps/enwiki-sample.xml.bz2")
    workdir = Path(tempfile.mkdtemp(prefix="wikisearch-bench-"))
    indexing = [bench_indexing(d, embedder, workdir) for d in dumps]
    docs_index = workdir / "mediawiki-docs"
    single = bench_single_queries(docs_index, embedder)
    loaded = bench_load(docs_index)
    result = {
        "machine": {"cpus": os.cpu_count(), "torch_threads": __import__("torch").get_num_threads()},
        "indexing": indexing,
        "single_query": single,
        "load": loaded,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"{'indexing':<22} {'pages':>6} {'chunks':>7} {'pages/s':>8} {'chunks/s':>9} {'tokens/s':>9} "
        f"{'baseline chunks/s':>18} {'ratio':>6} {'rebuild 5%':>11} {'of full':>8}"
    )
    for row in indexing:
        print(
            f"{row['dump']:<22} {row['pages']:>6} {row['chunks']:>7} {row['pages_per_s']:>8} {row['chunks_per_s']:>9} "
            f"{row['tokens_per_s']:>9} {row['baseline_chunks_per_s']:>18} {row['speedup_vs_baseline']:>6} "
            f"{row['rebuild_s']:>10}s {row['rebuild_share_of_full']:>8}"
        )
    s, b = single["search"], single["naive_st_flat_baseline"]
    print(
        f"\nsingle query ({single['queries']}, {single['encoder']}): hybrid search p50 {s['p50_ms']} ms, "
        f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms | baseline sentence-transformers + flat FAISS (dense only) "
        f"p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms | encode onnx p50 {single['encode_onnx']['p50_ms']} ms vs "
        f"torch {single['encode_torch']['p50_ms']} ms; min cosine {single['min_cosine_onnx_vs_torch']}"
    )
    print(
        f"load, {loaded['clients']} clients {loaded['seconds']} s: {loaded['queries_per_s']} queries/s, "
        f"p50 {loaded['p50_ms']} ms, p95 {loaded['p95_ms']} ms, p99 {loaded['p99_ms']} ms, {loaded['errors']} errors, "
        f"worker peak RSS {loaded['worker_peak_rss_mib']} MiB"
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
