"""The Spark engine beside the serial build, same run, same dump, same model.

    python bench/spark.py [--dump FILE ...] [--records FILE ... --max-records N]

For each dump: the serial build, then ``build --engine spark`` with
``local[1]`` and ``local[2]`` (one and two executor cores), each from
scratch; then whether the Spark index holds the same chunks (and vectors)
and retrieves as well (nDCG@10 on the shared dev set and ours). Prints a
table and writes bench/results/spark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.settings import Settings
from index_format import Index
from query.catalog import Catalog
from query.evaluate import evaluate, load_qrels
from query.ranking import Ranking

ROOT = Path(__file__).resolve().parent.parent
QRELS = [ROOT.parent / "shared/data/eval/dev.jsonl", ROOT / "bench/qrels-team.jsonl"]
CORPUS = {"mediawiki-docs": "mediawiki-docs", "enwiki-sample": "enwiki-sample"}


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wikisearch", *args, "-q"], check=True, env={**os.environ, **env})
    return time.perf_counter() - started


def vectors_by_key(index: Index) -> dict[str, np.ndarray]:
    rows = index.db().execute("SELECT id, hash FROM chunks ORDER BY id").fetchall()
    vectors = index.vectors_of([i for i, _ in rows])
    return {digest: vectors[n] for n, (_, digest) in enumerate(rows)}


def quality(path: Path, corpus: str) -> dict[str, float]:
    served = Catalog({corpus: path}, Settings.load()).get(corpus)
    out = {}
    for qrels in QRELS:
        judgements = load_qrels(qrels, corpus)
        for mode in ("dense", "hybrid"):
            metrics = evaluate(served.index, served.embedder, judgements, Ranking(mode=mode))["metrics"]
            out[f"{qrels.stem} {mode}"] = metrics["ndcg@10"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dump", nargs="*", default=[str(ROOT / "data/dumps/mediawiki-docs.xml.bz2")])
    parser.add_argument("--records", nargs="*", default=[], help="SPARQL query records (--preset sparql)")
    parser.add_argument("--max-records", type=int, help="only the first N records of each --records file")
    parser.add_argument("--out", default=str(ROOT / "bench/results/spark.json"))
    args = parser.parse_args()
    inputs = [(Path(d), []) for d in args.dump]
    limit = ["--max-pages", str(args.max_records)] if args.max_records else []
    inputs += [(Path(r), ["--source", "records", "--preset", "sparql", *limit]) for r in args.records]
    work = Path(tempfile.mkdtemp(prefix="wikisearch-spark-bench-"))
    env = {"SPARK_LOCAL_IP": "127.0.0.1"}
    rows = []
    for dump, source in inputs:
        name = dump.name.split(".")[0]
        serial = work / f"{name}-serial"
        build = ["build", str(dump), *source]
        row: dict = {
            "dump": dump.name,
            "source": source,
            "serial_s": round(timed([*build, "--index", str(serial)], env), 1),
        }
        for cores in (1, 2):
            target = work / f"{name}-spark{cores}"
            spark_env = {**env, "WIKISEARCH_SPARK_MASTER": f"local[{cores}]"}
            row[f"spark_local{cores}_s"] = round(
                timed([*build, "--engine", "spark", "--index", str(target)], spark_env), 1
            )
        a, b = Index.open(serial), Index.open(work / f"{name}-spark2")
        ours, theirs = vectors_by_key(a), vectors_by_key(b)
        row["chunks"] = len(ours)
        row["same_chunks"] = set(ours) == set(theirs)
        row["min_cosine"] = round(min(float(ours[k] @ theirs[k]) for k in ours if k in theirs), 6)
        row["scaling_1_to_2"] = round(row["spark_local1_s"] / row["spark_local2_s"], 2)
        row["spark_overhead_vs_serial"] = round(row["spark_local2_s"] / row["serial_s"], 2)
        corpus = CORPUS.get(name)
        if corpus:
            row["ndcg_serial"] = quality(serial, corpus)
            row["ndcg_spark"] = quality(work / f"{name}-spark2", corpus)
        rows.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    header = (
        f"{'dump':<26} {'chunks':>7} {'serial s':>9} {'spark[1] s':>11} {'spark[2] s':>11} {'1→2':>5} {'×serial':>8}"
    )
    print(header + "  same chunks, min cosine")
    print("-" * (len(header) + 25))
    for row in rows:
        print(
            f"{row['dump']:<26} {row['chunks']:>7} {row['serial_s']:>9} {row['spark_local1_s']:>11} "
            f"{row['spark_local2_s']:>11} {row['scaling_1_to_2']:>5} {row['spark_overhead_vs_serial']:>8}  "
            f"{row['same_chunks']}, {row['min_cosine']}"
        )
        for label, value in row.get("ndcg_serial", {}).items():
            print(f"  nDCG@10 {label:<28} serial {value:.4f}  spark {row['ndcg_spark'][label]:.4f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
