"""What the relevance floor costs per query: the one search function with and
without it, same queries, same process, interleaved (medians; ratios).

    python bench/floor_cost.py [--rounds 5]

Prints a table and writes bench/results/floor.json. The floor reads the dense
leg until passages fall under the page floor (at most 4,096) and counts every
result; without it the leg stops at the depth a page of results needs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from core.settings import Settings
from query.catalog import Catalog
from query.evaluate import load_offtopic, load_qrels
from query.ranking import Ranking
from query.search import search

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {
    "mediawiki-docs": ROOT / "data/indexes/mediawiki-docs",
    "enwiki-sample": ROOT / "data/indexes/enwiki-sample",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench/results/floor.json"))
    args = parser.parse_args()
    settings = Settings.load()
    floored = Ranking.from_settings(settings)
    variants = {"floor": floored, "no floor": replace(floored, floor=False)}
    rows = []
    for corpus, path in CORPORA.items():
        served = Catalog({corpus: path}, settings).get(corpus)
        queries = [j.query for j in load_qrels(ROOT / "bench/qrels-team.jsonl", corpus)]
        queries += load_offtopic(ROOT / "bench/offtopic.txt")
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for query in queries:
                for name, ranking in variants.items():  # interleaved: the machine's noise hits both
                    started = time.perf_counter()
                    search(served.index, served.embedder, query, ranking=ranking, settings=settings)
                    times[name].append((time.perf_counter() - started) * 1000)
        p50 = {name: statistics.median(t) for name, t in times.items()}
        p95 = {name: statistics.quantiles(t, n=20)[18] for name, t in times.items()}
        rows.append(
            {
                "corpus": corpus,
                "model": served.index.model_name,
                "queries": len(queries),
                "rounds": args.rounds,
                "p50_ms": {k: round(v, 2) for k, v in p50.items()},
                "p95_ms": {k: round(v, 2) for k, v in p95.items()},
                "p50_ratio": round(p50["floor"] / p50["no floor"], 3),
            }
        )
    print(
        f"{'corpus':<16} {'model':<18} {'p50 floor':>10} {'p50 none':>9} {'ratio':>6} {'p95 floor':>10} {'p95 none':>9}"
    )
    for r in rows:
        print(
            f"{r['corpus']:<16} {r['model']:<18} {r['p50_ms']['floor']:>10} {r['p50_ms']['no floor']:>9} "
            f"{r['p50_ratio']:>6} {r['p95_ms']['floor']:>10} {r['p95_ms']['no floor']:>9}"
        )
    Path(args.out).write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
