"""The lexical leg at scale: SQLite FTS5 (what the index uses) against tantivy.

    python bench/lexical.py --index DIR [--queries FILE] [--work DIR]

On the chunks of an index (``bench/million.py`` makes a million), with the
real queries that benchmark used, through ``Index.lexical`` as search runs it:
FTS5's weighted BM25 over an OR of the query terms (the store's tables),
against the tantivy index the writer makes for a large index
(``index_format.lexical``: block-max WAND top-k over the same five columns,
the FTS5 weights as field boosts). Reports index build time, disk, latency
of the top 100 (what the hybrid leg asks), the process's own memory, and how
many of FTS5's top 10 tantivy also returns. Prints a table, writes
bench/results/lexical.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path

from bench import percentiles  # bench/bench.py, beside this script
from core.lexical import query_terms
from index_format import Index
from index_format.lexical import TantivyLexical, write_tantivy
from index_format.manifest import LEXICAL, STORE

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 100


def own_mib() -> float:
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle)
    return round(int(fields["RssAnon"].split()[0]) / 1024, 1)


def timed(index: Index, queries: list[str]) -> tuple[list[float], list[list[int]]]:
    """The lexical leg as search runs it (``Index.lexical``), for each query."""
    times, found = [], []
    for query in queries:
        terms = query_terms(query)
        started = time.perf_counter()
        hits = index.lexical(terms, DEPTH) if terms else []
        times.append(time.perf_counter() - started)
        found.append([cid for cid, _ in hits])
    return times, found


def with_tantivy(index: Index, work: Path) -> float:
    """Give ``index`` the tantivy lexical index the writer makes for a large index; seconds it took."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{index.version_dir / STORE}?mode=ro", uri=True)
    write_tantivy(conn, work / LEXICAL)
    conn.close()
    index.tantivy = TantivyLexical(work / LEXICAL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default="/tmp/wikisearch-million/index")
    parser.add_argument("--queries", default="/tmp/wikisearch-million/queries.json")
    parser.add_argument("--work", default="/tmp/wikisearch-lexical")
    parser.add_argument("--out", default=str(ROOT / "bench/results/lexical.json"))
    args = parser.parse_args()
    index = Index.open(args.index)
    queries = json.loads(Path(args.queries).read_text())
    store = index.version_dir / STORE
    result: dict = {"chunks": index.manifest.counts.chunks, "queries": len(queries), "depth": DEPTH}
    index.tantivy = None  # the store always holds the FTS5 tables: search them
    timed(index, queries[:20])  # warm the page cache as a serving process would be
    times, exact = timed(index, queries)
    result["fts5"] = {**percentiles(times), "own_mib": own_mib(), "disk_mib": round(store.stat().st_size / 2**20)}
    built = with_tantivy(index, Path(args.work))
    timed(index, queries[:20])
    times, found = timed(index, queries)
    size = sum(f.stat().st_size for f in Path(args.work).rglob("*") if f.is_file())
    overlap = [len(set(a[:10]) & set(b[:10])) / max(1, min(10, len(b))) for a, b in zip(found, exact, strict=True)]
    result["tantivy"] = {
        **percentiles(times),
        "own_mib": own_mib(),
        "disk_mib": round(size / 2**20),
        "build_s": round(built, 1),
        "top10_shared_with_fts5": round(sum(overlap) / len(overlap), 3),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"lexical leg, top {DEPTH}, {result['chunks']:,} chunks, {len(queries)} real queries")
    print(f"{'engine':<10}{'p50 ms':>8}{'p99 ms':>8}{'disk MiB':>10}{'own MiB':>9}{'build s':>9}{'top10 ∩ fts5':>14}")
    for name in ("fts5", "tantivy"):
        row = result[name]
        print(
            f"{name:<10}{row['p50_ms']:>8}{row['p99_ms']:>8}{row['disk_mib']:>10}{row['own_mib']:>9}"
            f"{row.get('build_s', ''):>9}{row.get('top10_shared_with_fts5', 1.0):>14}"
        )
    ratio = result["fts5"]["p50_ms"] / max(result["tantivy"]["p50_ms"], 1e-6)
    print(f"tantivy p50 ×{ratio:.1f} faster than FTS5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
