"""The lexical leg at scale: SQLite FTS5 (what the index uses) against tantivy.

    python bench/lexical.py --index DIR [--queries FILE] [--work DIR]

On the chunks of an index (``bench/million.py`` makes a million), with the
real queries that benchmark used: FTS5's weighted BM25 over an OR of the query
terms, exactly as ``Index.lexical`` runs it, against tantivy (``pip install
tantivy``; a Rust engine with block-max WAND top-k) over the same five columns
with the same weights as field boosts. Reports index build time, disk, latency
of the top 100 (what the hybrid leg asks), the process's own memory, and how
many of FTS5's top 10 tantivy also returns. Prints a table, writes
bench/results/lexical.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import time
from pathlib import Path

from bench import percentiles  # bench/bench.py, beside this script
from core.lexical import fts_query, query_terms
from index_format import Index
from index_format.schema import CHUNK_BM25_WEIGHTS

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("title", "section", "text", "terms", "title_terms")
DEPTH = 100


def own_mib() -> float:
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle)
    return round(int(fields["RssAnon"].split()[0]) / 1024, 1)


def fts5(index: Index, queries: list[str]) -> tuple[list[float], list[list[int]]]:
    times, found = [], []
    for query in queries:
        expression = fts_query(query)
        started = time.perf_counter()
        hits = index.lexical(expression, DEPTH) if expression else []
        times.append(time.perf_counter() - started)
        found.append([cid for cid, _ in hits])
    return times, found


def tantivy_index(store: Path, work: Path) -> tuple[object, float]:
    import tantivy

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=True, fast=True)
    for name in FIELDS:
        builder.add_text_field(name, tokenizer_name="en_stem", index_option="freq")
    schema = builder.build()
    index = tantivy.Index(schema, path=str(work))
    started = time.perf_counter()
    writer = index.writer(heap_size=512 * 2**20, num_threads=2)
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    for row in conn.execute(f"SELECT rowid, {', '.join(FIELDS)} FROM chunks_fts"):
        doc = tantivy.Document()
        doc.add_unsigned("id", row[0])
        for name, value in zip(FIELDS, row[1:], strict=True):
            doc.add_text(name, value)
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index, time.perf_counter() - started


def tantivy_search(index, queries: list[str]) -> tuple[list[float], list[list[int]]]:
    boosts = dict(zip(FIELDS, CHUNK_BM25_WEIGHTS, strict=True))
    searcher = index.searcher()
    times, found = [], []
    for query in queries:
        words = " ".join(re.sub(r"[^A-Za-z0-9]", " ", t) for t in query_terms(query)).strip()
        started = time.perf_counter()
        ids: list[int] = []
        if words:
            parsed = index.parse_query(words, list(FIELDS), field_boosts=boosts)
            for _, address in searcher.search(parsed, DEPTH, count=False).hits:
                ids.append(searcher.doc(address)["id"][0])
        times.append(time.perf_counter() - started)
        found.append(ids)
    return times, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default="/tmp/wikisearch-million/index")
    parser.add_argument("--queries", default="/tmp/wikisearch-million/queries.json")
    parser.add_argument("--work", default="/tmp/wikisearch-lexical")
    parser.add_argument("--out", default=str(ROOT / "bench/results/lexical.json"))
    args = parser.parse_args()
    index = Index.open(args.index)
    queries = json.loads(Path(args.queries).read_text())
    store = index.version_dir / "store.sqlite"
    result: dict = {"chunks": index.manifest.counts.chunks, "queries": len(queries), "depth": DEPTH}
    fts5(index, queries[:20])  # warm the page cache as a serving process would be
    times, exact = fts5(index, queries)
    result["fts5"] = {**percentiles(times), "own_mib": own_mib(), "disk_mib": round(store.stat().st_size / 2**20)}
    engine, built = tantivy_index(store, Path(args.work))
    tantivy_search(engine, queries[:20])
    times, found = tantivy_search(engine, queries)
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
