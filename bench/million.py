"""One node, a million chunks: assemble, disk, memory, recall and latency.

    python bench/million.py [--chunks 1000000] [--work DIR] [--vector-index auto]

No corpus here has a million chunks and embedding one would take days on two
cores, so the chunks are made from real parts (say so beside every figure):

* the real sentences, and their real all-MiniLM-L6-v2 vectors, of the three
  sample indexes (``make indexes``: enwiki-sample, mediawiki-docs,
  wikidata-examples; ~29k sentences);
* a synthetic page is about one real sentence (its seed; titled after that
  sentence's page, numbered); each of its 1–9 chunks is a real sentence among
  the seed's 50 nearest, followed by 2–5 of that sentence's own 50 nearest;
* a chunk's text is those sentences' text, its vector the normalised sum of
  their vectors plus N(0, 0.01) noise per dimension.

So texts are real prose with the corpus's vocabulary and vectors lie where
real ones do, but near-paraphrase neighbourhoods are denser than a real wiki's.

The chunks are written as shards (``indexer.shards``, what a Spark run
publishes) and ``wikisearch assemble`` turns them into an index (timed, peak
RSS). A fresh process then serves it as the web app does (``query.catalog``)
and answers real queries — the shared dev set's, the team's, and 300 titles of
the 23k crawled Wikidata queries (their comments' first lines) — through ``query.search.search``: dense and
hybrid latency, recall@10 of the vector index against exact search over the
same vectors (the baseline, timed in the same run), and its memory: RssAnon
(the process's own) and RssFile (mapped index files: page cache the kernel
can drop). Prints a table, writes bench/results/million.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from bench import percentiles  # bench/bench.py, beside this script
from core.hashing import text_hash
from index_format import BuildReport, Index, SourceInfo
from indexer import shards

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [ROOT / "data/indexes" / name for name in ("enwiki-sample", "mediawiki-docs", "wikidata-examples")]
QRELS = [ROOT.parent / "shared/data/eval/dev.jsonl", ROOT / "bench/qrels-team.jsonl"]
CRAWLED = ROOT.parent / "shared/data/sparql/wikidata-queries-23k.jsonl.gz"
NEIGHBOURS = 50
PART_ROWS = 50_000


def pool() -> tuple[list[str], list[str], np.ndarray]:
    """The sample indexes' sentences: (texts, their pages' titles, float32 vectors)."""
    texts, titles, vectors = [], [], []
    for path in SAMPLES:
        if not path.exists():
            raise SystemExit(f"{path}: missing; build the sample indexes first (make indexes)")
        index = Index.open(path)
        rows = index.db().execute(
            "SELECT s.text, p.title FROM sentences s JOIN chunks c ON c.id = s.chunk JOIN pages p ON p.id = c.page "
            "ORDER BY s.id"
        )
        for text, title in rows:
            texts.append(text)
            titles.append(title)
        assert index.sentence_vectors is not None
        vectors.append(np.asarray(index.sentence_vectors, dtype=np.float32))
    matrix = np.concatenate(vectors)
    faiss.normalize_L2(matrix)
    return texts, titles, matrix


def write_shards(root: Path, n: int, seed: int = 7) -> tuple[Path, np.ndarray]:
    """Publish ``n`` synthetic chunks as shards under ``root``; their vectors, in id order."""
    texts, titles, pool_vectors = pool()
    exact = faiss.IndexFlatIP(pool_vectors.shape[1])
    exact.add(pool_vectors)
    _, near = exact.search(pool_vectors, NEIGHBOURS)
    rng = np.random.default_rng(seed)
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = Index.open(SAMPLES[0]).manifest
    shutil.rmtree(root, ignore_errors=True)
    version = shards.new_version(root)
    for table in (shards.CHUNKS, shards.SENTENCES, shards.ALIASES):
        (version / table).mkdir()
    dims = pool_vectors.shape[1]
    vectors = np.empty((n, dims), dtype=np.float32)
    made, page, part = 0, 0, 0
    columns: dict[str, list] = {}
    while made < n:
        page_seed = int(rng.integers(len(texts)))
        title = f"{titles[page_seed]} ({page})"
        for ordinal in range(min(int(rng.integers(1, 10)), n - made)):
            first = int(near[page_seed, rng.integers(NEIGHBOURS)])
            picked = [first, *near[first, rng.integers(1, NEIGHBOURS, int(rng.integers(2, 6)))]]
            text = " ".join(texts[i] for i in picked)
            vector = pool_vectors[picked].sum(axis=0) + rng.normal(0, 0.01, dims).astype(np.float32)
            vectors[made] = vector / np.linalg.norm(vector)
            row = {
                "seq": page,
                "page_id": page + 1,
                "title": title,
                "namespace": 0,
                "rev_id": page + 1,
                "timestamp": "2026-11-01T00:00:00Z",
                "url": "",
                "code": "",
                "code_language": "",
                "action_url": "",
                "source_hash": text_hash(title),
                "categories": [],
                "ordinal": ordinal,
                "section": f"Part {ordinal}" if ordinal else "",
                "anchor": f"Part_{ordinal}" if ordinal else "",
                "text": text,
                "key": text_hash(f"{made} {text}"),
            }
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
            made += 1
        page += 1
        if len(columns.get("seq", [])) >= PART_ROWS or made >= n:
            rows = len(columns["seq"])
            flat = pa.array(vectors[made - rows : made].reshape(-1))
            offsets = pa.array(np.arange(0, (rows + 1) * dims, dims, dtype=np.int32))
            columns["vector"] = pa.ListArray.from_arrays(offsets, flat)
            table = pa.table(columns, schema=shards.schema(shards.CHUNKS))
            pq.write_table(table, version / shards.CHUNKS / f"part-{part:05d}.parquet")
            columns, part = {}, part + 1
    source = SourceInfo(type="synthetic", path="bench/million.py", file=f"{n} chunks of real sentences")
    made_by = shards.ShardManifest(
        model=manifest.model,
        embedded_with=manifest.embedded_with,  # type: ignore[arg-type]
        chunking=manifest.chunking,  # type: ignore[arg-type]
        source=source,
        build=BuildReport(),
        inputs=[str(p) for p in SAMPLES],
        engine="bench/million.py",
    )
    shards.publish(version, made_by)
    return version, vectors


def real_queries() -> list[str]:
    queries = [json.loads(line)["query"] for path in QRELS for line in path.read_text().splitlines() if line.strip()]
    with gzip.open(CRAWLED, "rt") as handle:
        firsts = ((json.loads(line).get("comment_en") or "").strip().split("\n")[0] for line in handle)
        titles = [t for t in firsts if 3 < len(t) < 200 and not t.upper().startswith(("SELECT", "PREFIX", "#"))]
    random.Random(7).shuffle(titles)
    return queries + titles[:300]


PROBE = """
import json, sys, time, numpy as np
from pathlib import Path
from core.settings import Settings
from query.catalog import Catalog
from query.ranking import Ranking
from query.search import search

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: round(int(fields[k].split()[0]) / 1024, 1) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}

index_dir, queries_file, out = sys.argv[1:4]
queries = json.loads(Path(queries_file).read_text())
started = time.perf_counter()
served = Catalog({"m": Path(index_dir)}, Settings.load()).get("m")
index, embedder = served.index, served.embedder
loaded = {"open_s": round(time.perf_counter() - started, 2), **status()}
matrix = embedder.encode(queries)
found, found_deep, vector_s = [], [], []
for row in matrix:
    t = time.perf_counter(); hits = index.search(row, 100); vector_s.append(time.perf_counter() - t)
    found_deep.append([i for i, _ in hits[:10]])
    found.append([i for i, _ in index.search(row, 10)])
timings = {"dense": [], "lexical": [], "hybrid": []}
rankings = {mode: Ranking.from_settings(Settings.load(), mode) for mode in timings}
for query in queries:
    for mode in timings:
        t = time.perf_counter()
        search(index, embedder, query, ranking=rankings[mode])
        timings[mode].append(time.perf_counter() - t)
np.save(out + ".queries.npy", matrix)
Path(out).write_text(json.dumps({"loaded": loaded, "served": status(), "found": found, "found_deep": found_deep,
                                 "vector_s": vector_s, "timings": timings}))
"""


def probe(index_dir: Path, queries: list[str], work: Path) -> dict:
    """Serve the index in a fresh process, as the web app does; what it measured."""
    (work / "queries.json").write_text(json.dumps(queries))
    out = work / "probe.json"
    subprocess.run(
        [sys.executable, "-c", PROBE, str(index_dir), str(work / "queries.json"), str(out)], cwd=ROOT, check=True
    )
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--work", default="/tmp/wikisearch-million")
    parser.add_argument("--vector-index", default="auto")
    parser.add_argument("--out", default=str(ROOT / "bench/results/million.json"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"chunks": args.chunks, "how": "synthetic chunks of real sentences and vectors (bench/million.py)"}

    started = time.perf_counter()
    version, vectors = write_shards(work / "shards", args.chunks)
    result["shards_s"] = round(time.perf_counter() - started, 1)
    result["shards_bytes"] = sum(f.stat().st_size for f in version.rglob("*") if f.is_file())

    target = work / "index"
    shutil.rmtree(target, ignore_errors=True)
    for stale in work.glob(".index.*"):
        shutil.rmtree(stale, ignore_errors=True)
    cmd = [sys.executable, "-m", "wikisearch", "assemble", str(work / "shards"), "--index", str(target)]
    started = time.perf_counter()
    subprocess.run([*cmd, "--vector-index", args.vector_index, "-q"], cwd=ROOT, check=True)
    result["assemble_s"] = round(time.perf_counter() - started, 1)
    result["assemble_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    index = Index.open(target)
    info = index.manifest.index
    result["vector_index"] = {k: v for k, v in vars(info).items() if v is not None}
    result["disk_mib"] = {
        f.name: round(sum(p.stat().st_size for p in [f, *f.rglob("*")] if p.is_file()) / 2**20, 1)
        for f in index.version_dir.iterdir()
    }
    index.close()

    queries = real_queries()
    measured = probe(target, queries, work)
    matrix = np.load(str(work / "probe.json") + ".queries.npy")
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    del vectors
    exact_s, truth = [], []
    for row in matrix:
        t = time.perf_counter()
        _, ids = exact.search(row.reshape(1, -1), 100)
        exact_s.append(time.perf_counter() - t)
        truth.append(ids[0][:10])

    def recall(found: list[list[int]]) -> float:
        return round(float(np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])), 4)

    result.update(
        {
            "queries": len(queries),
            "recall_at_10_vs_exact": recall(measured["found_deep"]),  # top 10 of the dense leg's 100, as search asks
            "recall_at_10_vs_exact_k10": recall(measured["found"]),  # a search for 10 alone
            "vector_search": percentiles(measured["vector_s"]),
            "exact_vector_search": percentiles(exact_s),
            "search": {mode: percentiles(times) for mode, times in measured["timings"].items()},
            "serving_mib": {"after_open": measured["loaded"], "after_queries": measured["served"]},
        }
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    report(result)
    return 0


def report(r: dict) -> None:
    vi, disk, mem = r["vector_index"], r["disk_mib"], r["serving_mib"]["after_queries"]
    print(f"{r['chunks']:,} chunks ({r['how']}); {r['queries']} real queries")
    print(f"shards written in {r['shards_s']} s ({r['shards_bytes'] / 2**20:.0f} MiB)")
    print(
        f"assemble: {r['assemble_s']} s, peak RSS {r['assemble_peak_rss_mib']} MiB; "
        f"vector index {vi['faiss']} (train/graph {vi.get('graph_build_s')} s)"
    )
    print("disk MiB: " + ", ".join(f"{k} {v}" for k, v in sorted(disk.items())))
    print(f"{'':<28}{'p50 ms':>8}{'p99 ms':>8}")
    legs = {"exact vector search, k=100": r["exact_vector_search"], "vector search, k=100": r["vector_search"]}
    for name, row in legs.items():
        print(f"{name:<28}{row['p50_ms']:>8}{row['p99_ms']:>8}")
    for mode, row in r["search"].items():
        print(f"{'search, ' + mode:<28}{row['p50_ms']:>8}{row['p99_ms']:>8}")
    ratio = r["exact_vector_search"]["p50_ms"] / max(r["vector_search"]["p50_ms"], 1e-6)
    print(
        f"recall@10 against exact: {r['recall_at_10_vs_exact']} as search asks (top 10 of 100), "
        f"{r['recall_at_10_vs_exact_k10']} asking for 10; vector search (k=100) ×{ratio:.0f} faster than exact"
    )
    print(
        f"serving process: RSS {mem['VmRSS']} MiB (peak {mem['VmHWM']}) = own {mem['RssAnon']} "
        f"+ mapped index files {mem['RssFile']}; opened in {r['serving_mib']['after_open']['open_s']} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
