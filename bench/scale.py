"""Scale check on real data: the 23k crawled Wikidata SPARQL queries.

    python bench/scale.py [--index DIR] [--build]

``--build`` builds the index from ``../shared/data/sparql/wikidata-queries-23k.jsonl.gz``
first (through the CLI, timed); otherwise it uses ``--index`` as it is. Then, on
that index's real vectors: exact (flat) against HNSW search — graph build time,
query latency, recall@10 of HNSW against exact, bytes — for real queries (the
dev set's SPARQL queries and the titles of 300 records), and a serving process's
RSS with the index loaded. Prints a table, writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from bench import percentiles  # bench/bench.py, beside this script
from core.settings import Settings
from index_format import Index
from index_format.vector_kinds import HNSW_EF_SEARCH, HNSW_M, to_hnsw
from query.catalog import Catalog
from query.search import search

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/data/sparql/wikidata-queries-23k.jsonl.gz"
QRELS = ROOT.parent / "shared/data/eval/dev.jsonl"


def build(target: Path) -> dict:
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "wikisearch", "build", str(DATA), "--source", "records", "--preset", "sparql"]
    result = subprocess.run([*cmd, "--index", str(target), "--replace", "-q"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return {"build_s": round(time.perf_counter() - started, 1)}


def queries(index: Index, n: int = 300) -> list[str]:
    """Real queries: the dev set's, and titles of records picked at random."""
    qs = [json.loads(line)["query"] for line in QRELS.read_text().splitlines()]
    titles = [t for (t,) in index.db().execute("SELECT title FROM pages")]
    random.Random(7).shuffle(titles)
    return qs + titles[:n]


def timed_search(vectors, matrix: np.ndarray, k: int = 10) -> tuple[list[float], np.ndarray]:
    latencies, found = [], []
    for row in matrix:
        started = time.perf_counter()
        _, ids = vectors.search(row.reshape(1, -1), k)
        latencies.append(time.perf_counter() - started)
        found.append(ids[0])
    return latencies, np.array(found)


def serving_rss(index_dir: Path) -> float:
    """MiB of a fresh process that loaded the index as the web app does and answered 20 queries."""
    script = f"""
import sys
from pathlib import Path
from query.catalog import Catalog
from query.search import search
from core.settings import Settings
served = Catalog({{"q": Path({str(index_dir)!r})}}, Settings.load()).get("q")
for q in ["paintings by Rembrandt", "population of cities", "P31 Q5 birth date"] * 7:
    search(served.index, served.embedder, q)
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", default=str(ROOT / "data/indexes/wikidata-queries-23k"))
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench/results/scale.json"))
    args = parser.parse_args()
    target = Path(args.index)
    result: dict = {"index": str(target)}
    if args.build:
        result.update(build(target))
    served = Catalog({"q": target}, Settings.load()).get("q")
    index = served.index
    n = index.vectors.ntotal
    result.update(
        {
            "pages": index.manifest.counts.pages,
            "chunks": n,
            "disk_bytes": sum(f.stat().st_size for f in index.version_dir.iterdir() if f.is_file()),
            "built_in_s": index.manifest.build.duration_s,
        }
    )
    texts = queries(index)
    matrix = served.embedder.encode(texts)
    flat = index.vectors
    started = time.perf_counter()
    hnsw = to_hnsw(flat)
    graph_s = time.perf_counter() - started
    rows = {}
    for name, vectors in (("flat", flat), ("hnsw", hnsw)):
        timed_search(vectors, matrix[:20])  # warm up
        runs = [timed_search(vectors, matrix) for _ in range(3)]
        latencies = [statistics.median(x) for x in zip(*(r[0] for r in runs), strict=True)]
        rows[name] = {"latencies": latencies, "ids": runs[0][1]}
    exact = rows["flat"]["ids"]
    recall = float(
        np.mean([len(set(a) & set(b)) / len(set(a)) for a, b in zip(rows["hnsw"]["ids"], exact, strict=True)])
    )
    sizes = {name: len(faiss.serialize_index(v)) for name, v in (("flat", flat), ("hnsw", hnsw))}
    result["vector_search"] = {}
    for name, row in rows.items():
        measured = percentiles(row["latencies"])
        result["vector_search"][name] = {
            "queries": len(texts),
            "p50_ms": measured["p50_ms"],
            "p99_ms": measured["p99_ms"],
            "bytes": sizes[name],
        }
    result["vector_search"]["hnsw"].update(
        {"graph_build_s": round(graph_s, 2), "recall_at_10_vs_flat": round(recall, 4)}
    )
    # The whole search (encode, both legs, fusion, snippets) with each vector index:
    # interleaved per query, after one untimed run of that query (cold SQLite pages
    # would otherwise count against whichever index goes first).
    timings: dict[str, list[float]] = {"flat": [], "hnsw": []}
    for text in texts[:150]:
        search(index, served.embedder, text)
        for name, vectors in (("flat", flat), ("hnsw", hnsw)):
            index.vectors = vectors
            started = time.perf_counter()
            search(index, served.embedder, text)
            timings[name].append(time.perf_counter() - started)
    index.vectors = flat
    for name, latencies in timings.items():
        measured = percentiles(latencies)
        result["vector_search"][name]["hybrid_search_p50_ms"] = measured["p50_ms"]
        result["vector_search"][name]["hybrid_search_p99_ms"] = measured["p99_ms"]
    result["serving_rss_mib"] = serving_rss(target)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"index {target.name}: {result['pages']} records, {n} chunks, {result['disk_bytes'] / 2**20:.1f} MiB on disk"
        + (f", built in {result['built_in_s']} s" if result.get("built_in_s") else "")
        + f"; serving process peak RSS {result['serving_rss_mib']} MiB"
    )
    print(
        f"{'vector search':<14} {'queries':>8} {'p50 ms':>8} {'p99 ms':>8} {'MiB':>8} {'recall@10 vs flat':>18} "
        f"{'hybrid search p50/p99 ms':>25}"
    )
    for name, row in result["vector_search"].items():
        print(
            f"{name:<14} {row['queries']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['bytes'] / 2**20:>8.1f} "
            f"{row.get('recall_at_10_vs_flat', 1.0):>18} "
            f"{str(row['hybrid_search_p50_ms']) + ' / ' + str(row['hybrid_search_p99_ms']):>25}"
        )
    print(f"(HNSW M={HNSW_M}, efSearch={HNSW_EF_SEARCH}; graph built in {graph_s:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
