"""Performance benchmark: indexing, query latency, load, memory — each beside a
baseline measured in the same run on the same chunks and model.

    python bench/bench.py [--quick]

Prints a table and writes bench/results/bench.json. The default runs the
mediawiki-docs build three times (medians; the runs of ours and of the naive
loop interleave, so the machine's noise hits both) and enwiki-sample once;
``--quick`` runs mediawiki-docs once. txtai (``pip install txtai``, as
``make bench`` does) is measured on the same chunks when installed.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import faiss
import numpy as np

from core.models import load_embedder
from core.onnx_encoder import CACHE_DIR, prepare_encoder
from core.settings import Settings
from index_format import Index
from indexer.build import build_index
from indexer.chunk import ChunkSettings, chunk_page
from indexer.index_model import QueryReader, build_embedder
from indexer.parse import parse_sections
from indexer.sources.dump import DumpSource
from query.catalog import Catalog
from query.evaluate import doc_id, evaluate, load_qrels, score
from query.search import Ranking, search

ROOT = Path(__file__).resolve().parent.parent
QRELS = ROOT.parent / "shared/data/eval/dev.jsonl"
QUERIES = [json.loads(line)["query"] for line in QRELS.read_text().splitlines()]
QUERIES += ["$wgEnableUploads", "API:Allpages", "upload files", "make my wiki private", "P31 Q146", "cookie expiry"]


#: This CPU's fp32 throughput ceiling per model, in tokens/s (measured here, see issue 5); none measured for the others.
ROOFLINE = {"all-MiniLM-L6-v2": 8000}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(pick(0.5) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
    }


def chunks_of(dump: Path, embedder) -> list[tuple[str, str]]:
    """(page title, embedded text) of every chunk, cut as the build cuts them."""
    settings = ChunkSettings()
    chunks = []
    for page in DumpSource(dump):
        if page.redirect is None:
            chunks += [
                (page.title, c.embed_text)
                for c in chunk_page(page.title, parse_sections(page.text), settings, embedder.count_tokens)
            ]
    return chunks


def naive_baseline(texts: list[str], embedder) -> float:
    """A plain sentence-transformers encode loop into faiss.IndexFlatIP: seconds."""
    model = embedder._st
    started = time.perf_counter()
    index = faiss.IndexFlatIP(embedder.dimensions)
    for start in range(0, len(texts), 32):
        vectors = model.encode(texts[start : start + 32], normalize_embeddings=True, convert_to_numpy=True)
        index.add(np.asarray(vectors, dtype=np.float32))
    return time.perf_counter() - started


def txtai_index(texts: list[str], model) -> tuple[float, object | None]:
    """txtai, as a user would set it up with the same local model: seconds and the index."""
    try:
        from txtai import Embeddings
    except ImportError:
        return float("nan"), None
    started = time.perf_counter()
    embeddings = Embeddings(path=str(model.path), method="sentence-transformers", content=False, backend="faiss")
    embeddings.index([(i, text, None) for i, text in enumerate(texts)])
    return time.perf_counter() - started, embeddings


def txtai_quality(embeddings, titles: list[str], judgements) -> dict:
    """txtai's chunk hits as pages (first hit of a page wins), scored as ours are."""
    run = {}
    for j in judgements:
        pages: list[str] = []
        for chunk_id, _ in embeddings.search(j.query, 200):
            title = doc_id(titles[int(chunk_id)])
            if title not in pages:
                pages.append(title)
        run[j.id] = pages[:10]
    return score(judgements, run)


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


def timed_build(dump: Path, target: Path, embedder, model, encoder, **settings) -> tuple[float, object]:
    started = time.perf_counter()
    config = Settings(quiet=True, **settings)
    report = build_index(DumpSource(dump), target, embedder, model.info(), config, reader=QueryReader(encoder))
    return time.perf_counter() - started, report


def bench_indexing(dump: Path, workdir: Path, reps: int, judgements: list | None, torch_embedder) -> dict:
    """Our build (ONNX Runtime, the default) beside the naive loop, txtai and our
    own pipeline on ``torch_embedder``, on the same chunks; medians of ``reps``
    interleaved runs."""
    model = torch_embedder.model
    started = time.perf_counter()
    encoder = prepare_encoder(model, workdir / CACHE_DIR)  # once per model, cached beside the indexes
    export_s = time.perf_counter() - started
    onnx, _ = build_embedder(model, workdir / CACHE_DIR, "onnx")
    chunks = chunks_of(dump, onnx)
    titles, texts = [t for t, _ in chunks], [x for _, x in chunks]
    seq = model.card.max_seq_length if model.card else 256
    tokens = sum(min(n + 2, seq) for n in onnx.count_tokens(texts))  # what the model sees, [CLS]/[SEP] included
    name = dump.name.split(".")[0]
    ours, naive, bare, report = [], [], [], None
    for rep in range(reps):
        seconds, report = timed_build(dump, workdir / f"{name}-{rep}", onnx, model, encoder)
        ours.append(seconds)
        naive.append(naive_baseline(texts, torch_embedder))
        seconds, _ = timed_build(dump, workdir / f"{name}-bare-{rep}", onnx, model, encoder, answer_sentences=False)
        bare.append(seconds)
    txtai_s, embeddings = txtai_index(texts, model)
    torch_s, _ = timed_build(dump, workdir / f"{name}-torch", torch_embedder, model, encoder)
    int8, int8_encoder = build_embedder(model, workdir / CACHE_DIR, "onnx-int8")
    int8_s, _ = timed_build(dump, workdir / f"{name}-int8", int8, model, int8_encoder)
    full, baseline, without = statistics.median(ours), statistics.median(naive), statistics.median(bare)
    target = workdir / f"{name}-0"
    newer = workdir / ("newer-" + dump.name)
    edited = changed_dump(dump, newer)
    incremental, rebuild = timed_build(newer, target, onnx, model, encoder)
    row = {
        "dump": dump.name,
        "pages": report.pages,
        "chunks": report.chunks,
        "tokens": tokens,
        "runs": reps,
        "onnx_export_s": round(export_s, 2),
        "full_build_s": round(full, 2),
        "full_build_runs_s": [round(x, 2) for x in ours],
        "pages_per_s": round(report.pages / full, 1),
        "chunks_per_s": round(report.chunks / full, 1),
        "tokens_per_s": round(tokens / full),
        "answer_sentences": report.sentences,
        "without_answer_sentences_s": round(without, 2),
        "without_answer_sentences_chunks_per_s": round(report.chunks / without, 1),
        "answer_sentences_build_cost": round(full / without, 2),
        "baseline_s": round(baseline, 2),
        "baseline_runs_s": [round(x, 2) for x in naive],
        "baseline_chunks_per_s": round(len(texts) / baseline, 1),
        "speedup_vs_baseline": round(baseline / full, 2),
        "txtai_s": round(txtai_s, 2),
        "txtai_chunks_per_s": round(len(texts) / txtai_s, 1),
        "speedup_vs_txtai": round(txtai_s / full, 2),
        "our_build_on_torch_s": round(torch_s, 2),
        "our_build_on_torch_chunks_per_s": round(len(texts) / torch_s, 1),
        "int8_build_s": round(int8_s, 2),
        "int8_chunks_per_s": round(len(texts) / int8_s, 1),
        "int8_speedup_vs_baseline": round(baseline / int8_s, 2),
        "rebuild_pages_edited": edited,
        "rebuild_s": round(incremental, 2),
        "rebuild_chunks_embedded": rebuild.chunks_embedded,
        "rebuild_share_of_full": round(incremental / full, 3),
        "index_bytes": sum(f.stat().st_size for f in target.resolve().iterdir()),
        "answer_sentence_bytes": (target.resolve() / "sentences.f16").stat().st_size,
        "index_bytes_without_encoder": sum(
            f.stat().st_size for f in target.resolve().iterdir() if f.name not in ("encoder.onnx", "tokenizer.json")
        ),
    }
    if judgements:
        # Same run, same queries: do the faster vectors retrieve as well as the model's own?
        quality = {}
        for label, path, queries_with in (
            ("onnx build", workdir / f"{name}-1" if reps > 1 else target, onnx),
            ("torch build", workdir / f"{name}-torch", onnx),
            ("int8 build", workdir / f"{name}-int8", int8),  # served with its own int8 query encoder
        ):
            index = Index.open(path)
            quality[f"dense, {label}"] = evaluate(index, queries_with, judgements, Ranking(mode="dense"))["metrics"]
            quality[f"hybrid, {label}"] = evaluate(index, queries_with, judgements, Ranking())["metrics"]
        if embeddings is not None:
            quality["txtai (dense)"] = txtai_quality(embeddings, titles, judgements)
        row["quality"] = quality
    if embeddings is not None:
        for q in QUERIES:
            embeddings.search(q, 10)
        latencies = []
        for _ in range(3):
            for q in QUERIES:
                started = time.perf_counter()
                embeddings.search(q, 10)
                latencies.append(time.perf_counter() - started)
        row["txtai_query"] = percentiles(latencies)
        row["txtai_faiss"] = embeddings.config.get("build", {}).get("settings", {}).get("components")
    return row


def bench_single_queries(index_dir: Path, embedder, rounds: int = 5) -> dict:
    """What the server does (ONNX encoder) beside the naive path: sentence-transformers
    encode + a flat FAISS search, on the same index."""
    index = Index.open(index_dir)
    served = Catalog({"docs": index_dir}, Settings.load()).get("docs")
    onnx = served.embedder
    for q in QUERIES:  # warm up both
        search(index, onnx, q)
        embedder.encode([q])
    ours, no_answer, naive, encode_onnx, encode_torch = [], [], [], [], []
    for _ in range(rounds):
        for q in QUERIES:
            started = time.perf_counter()
            search(index, onnx, q)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            search(index, onnx, q, answer=False)
            no_answer.append(time.perf_counter() - started)
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
        "search_without_answer_line": percentiles(no_answer),
        "answer_line_p50_ratio": round(statistics.median(ours) / statistics.median(no_answer), 3),
        "naive_st_flat_baseline": percentiles(naive),
        "encode_onnx": percentiles(encode_onnx),
        "encode_torch": percentiles(encode_torch),
        "min_cosine_onnx_vs_torch": round(float((vectors * reference).sum(axis=1).min()), 6),
    }


class _Serving:
    """``wikisearch serve`` on a free loopback port, up once /healthz answers."""

    def __init__(self, indexes: dict[str, Path], log: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        specs = [arg for name, path in indexes.items() for arg in ("--index", f"{name}={path}")]
        env = {**os.environ, "WIKISEARCH_RATE_LIMIT": "1000000/minute"}
        cmd = [sys.executable, "-m", "wikisearch", "serve", *specs, "--port", str(port)]
        self.proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
        for _ in range(360):
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/healthz", timeout=2):
                return
            time.sleep(0.5)
        self.stop()
        raise SystemExit("server did not come up")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def bench_load(indexes: dict[str, Path], clients: int = 8, seconds: float = 20) -> dict:
    """8 clients against gunicorn serving ``indexes``; requests go round the indexes."""
    server = _Serving(indexes, Path(tempfile.mkdtemp()) / "server.log")
    names = list(indexes)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal errors
        i = n
        while time.monotonic() < stop:
            query = urllib.parse.quote(QUERIES[i % len(QUERIES)])
            url = f"{server.url}/api/v1/search?q={query}&index={names[i % len(names)]}&limit=10"
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
    parser.add_argument("--quick", action="store_true", help="mediawiki-docs only, one run each")
    parser.add_argument("--out", default=str(ROOT / "bench/results/bench.json"))
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="the registry model every build and query uses")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    embedder = load_embedder(args.model)
    docs = ROOT / "data/dumps/mediawiki-docs.xml.bz2"
    workdir = Path(tempfile.mkdtemp(prefix="wikisearch-bench-"))
    reps = 1 if args.quick else 3
    indexing = [bench_indexing(docs, workdir, reps, load_qrels(QRELS, "mediawiki-docs"), embedder)]
    if not args.quick:
        enwiki = ROOT / "data/dumps/enwiki-sample.xml.bz2"
        indexing.append(bench_indexing(enwiki, workdir, 1, load_qrels(QRELS, "enwiki-sample"), embedder))
    docs_index = workdir / "mediawiki-docs-0"
    single = bench_single_queries(docs_index, embedder)
    # The served set: every sample index `make indexes` built, the fresh docs build in place of its own.
    served = {"mediawiki-docs": docs_index}
    for name in ("wikidata-examples", "enwiki-sample"):
        if (ROOT / "data/indexes" / name / "manifest.json").exists():
            served[name] = ROOT / "data/indexes" / name
    loaded = bench_load(served)
    loaded["indexes"] = list(served)
    result = {
        "model": args.model,
        "machine": {"cpus": os.cpu_count(), "torch_threads": __import__("torch").get_num_threads()},
        "roofline_tokens_per_s": ROOFLINE.get(args.model),
        "indexing": indexing,
        "single_query": single,
        "load": loaded,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"{'indexing (median of runs)':<26} {'runs':>4} {'pages':>6} {'chunks':>7} {'chunks/s':>9} {'tokens/s':>9} "
        f"{'naive c/s':>10} {'ratio':>6} {'txtai c/s':>10} {'ratio':>6} {'ours on torch c/s':>18} {'int8 c/s':>9} "
        f"{'rebuild 5%':>11} {'of full':>8}"
    )
    for row in indexing:
        print(
            f"{row['dump']:<26} {row['runs']:>4} {row['pages']:>6} {row['chunks']:>7} {row['chunks_per_s']:>9} "
            f"{row['tokens_per_s']:>9} {row['baseline_chunks_per_s']:>10} {row['speedup_vs_baseline']:>6} "
            f"{row['txtai_chunks_per_s']:>10} {row['speedup_vs_txtai']:>6} "
            f"{row['our_build_on_torch_chunks_per_s']:>18} {row['int8_chunks_per_s']:>9} "
            f"{row['rebuild_s']:>10}s {row['rebuild_share_of_full']:>8}"
        )
    if args.model in ROOFLINE:
        print(f"(tokens/s beside this CPU's fp32 roofline for the model, ~{ROOFLINE[args.model]} tokens/s)")
    for row in indexing:
        print(
            f"  {row['dump']} answer sentences: {row['answer_sentences']}, "
            f"{row['answer_sentence_bytes'] / 2**20:.1f} MiB on disk; build {row['full_build_s']} s with them, "
            f"{row['without_answer_sentences_s']} s without ({row['without_answer_sentences_chunks_per_s']} chunks/s), "
            f"×{row['answer_sentences_build_cost']}"
        )
    for row in indexing:
        for label, metrics in row.get("quality", {}).items():
            print(f"  {row['dump']} {label:<22} nDCG@10 {metrics['ndcg@10']:.4f}  R@10 {metrics['recall@10']:.4f}")
        if "txtai_query" in row:
            print(
                f"  txtai query p50 {row['txtai_query']['p50_ms']} ms, "
                f"p99 {row['txtai_query']['p99_ms']} ms ({row['txtai_faiss']})"
            )
    s, b = single["search"], single["naive_st_flat_baseline"]
    print(
        f"\nsingle query ({single['queries']}, {single['encoder']}): hybrid search p50 {s['p50_ms']} ms, "
        f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms | baseline sentence-transformers + flat FAISS (dense only) "
        f"p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms | encode onnx p50 {single['encode_onnx']['p50_ms']} ms vs "
        f"torch {single['encode_torch']['p50_ms']} ms; min cosine {single['min_cosine_onnx_vs_torch']}"
    )
    a = single["search_without_answer_line"]
    print(
        f"answer line: search p50 {s['p50_ms']} ms with it, {a['p50_ms']} ms without "
        f"(×{single['answer_line_p50_ratio']}); p99 {s['p99_ms']} vs {a['p99_ms']} ms"
    )
    print(
        f"load, {loaded['clients']} clients {loaded['seconds']} s over {len(loaded['indexes'])} indexes: "
        f"{loaded['queries_per_s']} queries/s, "
        f"p50 {loaded['p50_ms']} ms, p95 {loaded['p95_ms']} ms, p99 {loaded['p99_ms']} ms, {loaded['errors']} errors, "
        f"worker peak RSS {loaded['worker_peak_rss_mib']} MiB"
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
