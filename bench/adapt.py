"""What adapting the model to each wiki does to retrieval, measured in one run.

    python bench/adapt.py [--corpus NAME ...] [--seeds 0 1 2] [--force]
                          [--set adapt_epochs=3 ...] [--keep DIR] [--index DIR]

For each sample corpus: a copy of its index (``make indexes``) is adapted with
``wikisearch adapt`` (the product's own command and gate), for each seed.
Then the stock index (the baseline, measured in the same run) and the adapted
one are scored — dense, lexical and hybrid nDCG@10 on the shared dev
judgements and on ours (on the 23k crawled queries, ``--corpus
wikidata-queries-23k``: those bench/crawl_qrels.py carried over to it) — with
a paired test per query (Wilcoxon signed-rank, and a bootstrap 95 % interval
of the mean difference). ``--force`` keeps the adapted model even where the
gate would not (to measure what the gate refused). Prints a table, writes bench/results/adapt.json.
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
from scipy import stats

from core.settings import Settings, variable
from index_format import Index
from query.catalog import Catalog
from query.evaluate import evaluate, load_qrels
from query.ranking import Ranking

ROOT = Path(__file__).resolve().parent.parent
QRELS = {
    "dev": ROOT.parent / "shared/data/eval/dev.jsonl",
    "team": ROOT / "bench/qrels-team.jsonl",
    "carried": ROOT / "bench/qrels-crawl.jsonl",
}
SAMPLES = ("mediawiki-docs", "wikidata-examples", "enwiki-sample")
CORPORA = {name: ROOT / "data/indexes" / name for name in (*SAMPLES, "wikidata-queries-23k")}
MODES = ("dense", "lexical", "hybrid")


def per_query(path: Path, corpus: str) -> dict[str, dict[str, dict[str, float]]]:
    """nDCG@10 of each judged query: judgements set → mode → query id → score."""
    settings = Settings.load()
    catalog = Catalog({corpus: path}, settings)
    served = catalog.get(corpus)
    out: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for name, qrels in QRELS.items():
            judgements = [j for j in load_qrels(qrels) if j.corpus == corpus]
            if not judgements:
                continue
            out[name] = {}
            for mode in MODES:
                rows = evaluate(served.index, served.embedder, judgements, Ranking(mode=mode), queries=True)
                out[name][mode] = {r["id"]: r["ndcg@10"] for r in rows["per_query"]}
    finally:
        catalog.close()
    return out


def paired(before: dict[str, float], after: dict[str, float], seed: int = 0) -> dict[str, float]:
    """Mean nDCG@10 before and after, the mean difference with a bootstrap 95 % interval, Wilcoxon's p."""
    ids = sorted(before)
    a = np.array([before[i] for i in ids])
    b = np.array([after[i] for i in ids])
    diff = b - a
    rng = np.random.default_rng(seed)
    means = rng.choice(diff, size=(10_000, len(diff)), replace=True).mean(axis=1)
    p = float(stats.wilcoxon(b, a).pvalue) if np.any(diff != 0) else 1.0
    return {
        "queries": len(ids),
        "before": round(float(a.mean()), 4),
        "after": round(float(b.mean()), 4),
        "diff": round(float(diff.mean()), 4),
        "ci95": [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)],
        "wilcoxon_p": round(p, 4),
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
        "moved": {i: [before[i], after[i]] for i in ids if before[i] != after[i]},
    }


def adapt(index: Path, seed: int, force: bool, extra: list[str]) -> tuple[bool, str, float]:
    env = {**os.environ, variable("adapt_seed"): str(seed)}
    env |= {variable(name): value for name, _, value in (e.partition("=") for e in extra)}
    args = [sys.executable, "-m", "wikisearch", "adapt", "--index", str(index)]
    if force:
        args += ["--force"]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:  # it could not adapt (too few pairs, say): what it said is the result
        return False, done.stderr.strip().splitlines()[-1], seconds
    return "\nswitched" in "\n" + done.stdout, done.stdout.strip(), seconds  # either side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", nargs="+", default=list(SAMPLES), choices=list(CORPORA))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--force", action="store_true", help="keep the adapted model even where the gate refuses")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="another WIKISEARCH_ setting")
    parser.add_argument("--keep", metavar="DIR", help="keep each adapted index in DIR/CORPUS-SEED (to query it after)")
    parser.add_argument("--index", metavar="DIR", help="the one --corpus's stock index (default data/indexes/CORPUS)")
    parser.add_argument("--out", default=str(ROOT / "bench/results/adapt.json"))
    args = parser.parse_args()
    if args.index:
        if len(args.corpus) != 1:
            parser.error("--index needs exactly one --corpus")
        CORPORA[args.corpus[0]] = Path(args.index)
    work = Path(tempfile.mkdtemp(prefix="wikisearch-adapt-bench-"))
    results = []
    try:
        for corpus in args.corpus:
            stock = CORPORA[corpus]
            if not (stock / "manifest.json").exists():
                print(f"skipping {corpus}: no index at {stock} (make indexes)", file=sys.stderr)
                continue
            baseline = per_query(stock, corpus)
            for seed in args.seeds:
                copy = work / f"{corpus}-{seed}" / corpus
                shutil.copytree(stock.resolve(), copy)
                kept, said, seconds = adapt(copy, seed, args.force, args.set)
                row = {"corpus": corpus, "seed": seed, "kept": kept, "seconds": round(seconds, 1), "said": said}
                made = Index.open(copy).manifest.adaptation
                if made is not None:
                    row["held_back"] = [made.held_back_before, made.held_back_after]
                    row["held_back_by_kind"] = made.held_back_by_kind
                    row["pairs"] = made.pairs
                if kept:
                    adapted = per_query(copy, corpus)
                    row["ndcg"] = {
                        f"{qrels} {mode}": paired(baseline[qrels][mode], adapted[qrels][mode])
                        for qrels in baseline
                        for mode in MODES
                    }
                results.append(row)
                if args.keep:
                    shutil.rmtree(Path(args.keep) / copy.parent.name, ignore_errors=True)
                    shutil.move(copy.parent, Path(args.keep) / copy.parent.name)
                else:
                    shutil.rmtree(copy.parent, ignore_errors=True)
                print_row(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    settings = {"force": args.force, "set": args.set}
    Path(args.out).write_text(json.dumps(settings | {"runs": results}, indent=2))
    return 0


def print_row(row: dict) -> None:
    verdict = "switched" if row["kept"] else "kept the stock model"
    lines = row["said"].splitlines()
    why = next((line for line in lines if line.startswith(("switched", "kept the model"))), lines[-1])
    print(f"{row['corpus']} seed {row['seed']}: {verdict} ({row['seconds']} s): {why}")
    for label, m in row.get("ndcg", {}).items():
        print(
            f"  {label:<16} {m['queries']:>4} q  {m['before']:.4f} → {m['after']:.4f}  diff {m['diff']:+.4f} "
            f"[{m['ci95'][0]:+.4f}, {m['ci95'][1]:+.4f}]  p {m['wilcoxon_p']:.3f}  +{m['better']}/-{m['worse']}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
