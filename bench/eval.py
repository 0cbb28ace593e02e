"""Retrieval quality tables: dense, lexical and hybrid on the shared corpora.

    python bench/eval.py [--qrels FILE ...] [--sweep] [--index CORPUS=DIR ...]

One table per judgements file — by default the shared dev set
(``../shared/data/eval/dev.jsonl``) and ours (``bench/qrels-team.jsonl``) —
written to bench/results/eval.json. ``--sweep`` adds the fusion variants
(blends at several weights, no title lift) measured in the same run. A second table per
judgements file says how the answer line does: of the questions in words, how
many get one at each confidence threshold, how many of those come from a
page judged relevant, and how many of the lines shown are judged, sentence by
sentence, to answer (``bench/answers-team.jsonl``; a line no one judged yet is
counted as unjudged: judge it there).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from lexical import with_tantivy  # bench/lexical.py, beside this script

from core.errors import IndexFormatError
from core.settings import Settings
from query.catalog import Catalog
from query.evaluate import LineJudgements, answer_lines, evaluate, floor_effect, load_lines, load_offtopic, load_qrels
from query.ranking import Ranking

ROOT = Path(__file__).resolve().parent.parent
TEAM = ROOT / "bench/qrels-team.jsonl"
#: Answer lines judged sentence by sentence (query.evaluate.load_lines).
LINES = ROOT / "bench/answers-team.jsonl"
#: Off-topic and nonsense queries, written before the floor was calibrated.
OFFTOPIC = ROOT / "bench/offtopic.txt"
CORPORA = {
    "mediawiki-docs": ROOT / "data/indexes/mediawiki-docs",
    "wikidata-examples": ROOT / "data/indexes/wikidata-examples",
    "enwiki-sample": ROOT / "data/indexes/enwiki-sample",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qrels", nargs="+", default=[str(ROOT.parent / "shared/data/eval/dev.jsonl"), str(TEAM)])
    parser.add_argument("--out", default=str(ROOT / "bench/results/eval.json"))
    parser.add_argument("--sweep", action="store_true", help="also measure fusion variants")
    parser.add_argument(
        "--lexical-engine",
        choices=("fts5", "tantivy"),
        default="fts5",
        help="tantivy: give each corpus the tantivy index a large index gets (made from its store, in a temp dir)",
    )
    parser.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="CORPUS=DIR",
        help="measure this index for CORPUS instead of the sample one (an adapted index, say); repeatable",
    )
    args = parser.parse_args()
    for spec in args.index:
        corpus, _, directory = spec.partition("=")
        if corpus not in CORPORA or not directory:
            parser.error(f"--index {spec!r}: expected CORPUS=DIR with CORPUS one of {', '.join(CORPORA)}")
        CORPORA[corpus] = Path(directory)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.load()
    default = Ranking.from_settings(settings)
    rankings = {
        "dense": Ranking(mode="dense"),
        "lexical": Ranking(mode="lexical"),
        "hybrid": default,
        "hybrid, no floor": replace(default, floor=False),
    }
    if args.sweep:
        rankings["hybrid, no title lift"] = Ranking(title_boost=False)
        rankings["hybrid, no identifier weight"] = Ranking(identifier_dense_weight=default.dense_weight)
        for weight in (0.5, 0.6, 0.7, 0.8, 0.9):
            rankings[f"hybrid blend {weight}"] = Ranking(dense_weight=weight)
    embedders: dict = {}
    tables = []
    offtopic, lines = load_offtopic(OFFTOPIC), load_lines(LINES)
    for qrels in args.qrels:
        rows, means, answers, floors = measure(
            qrels, rankings, settings, embedders, args.lexical_engine, offtopic, lines
        )
        print_table(qrels, rows, means)
        print_answers(answers, settings.answer_min_score)
        print_floor(floors)
        tables.append(
            {"qrels": qrels, "rows": rows, "mean_ndcg@10": means, "answer_line": answers, "relevance_floor": floors}
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"tables": tables}, indent=2))
    return 0


#: Confidence thresholds of the answer line measured beside the configured one.
THRESHOLDS = (0.4, 0.5, 0.6, 0.7)


def measure(
    qrels: str,
    rankings: dict[str, Ranking],
    settings: Settings,
    embedders: dict,
    lexical_engine: str = "fts5",
    offtopic: list[str] | None = None,
    lines: LineJudgements | None = None,
) -> tuple[list[dict], dict[str, float], list[dict], list[dict]]:
    rows, answers, floors = [], [], []
    for corpus, path in CORPORA.items():
        if not (path / "manifest.json").exists():
            print(f"skipping {corpus}: no index at {path} (make eval builds it)", file=sys.stderr)
            continue
        judgements = load_qrels(qrels, corpus)
        try:
            served = Catalog({corpus: path}, settings, embedders).get(corpus)
        except IndexFormatError as exc:
            print(f"skipping {corpus}: {exc}", file=sys.stderr)
            continue
        if lexical_engine == "tantivy" and served.index.tantivy is None:
            with_tantivy(served.index, Path(tempfile.mkdtemp(prefix="eval-tantivy-")))
        embedders[served.index.model_name] = served.embedder
        for name, ranking in rankings.items():
            started = time.perf_counter()
            result = evaluate(served.index, served.embedder, judgements, ranking)
            result["ranking"] = name
            result["seconds_per_query"] = round((time.perf_counter() - started) / len(judgements), 4)
            rows.append(result)
        thresholds = tuple(sorted({*THRESHOLDS, settings.answer_min_score}))
        answers.append(answer_lines(served.index, served.embedder, judgements, rankings["hybrid"], thresholds, lines))
        floors.append(floor_effect(served.index, served.embedder, judgements, rankings["hybrid"], offtopic or []))
    means = {}
    for name in rankings:
        scores = [r["metrics"]["ndcg@10"] for r in rows if r["ranking"] == name]
        if scores:
            means[name] = round(sum(scores) / len(scores), 4)
    return rows, means, answers, floors


def print_floor(floors: list[dict]) -> None:
    """What the relevance floor cost (judged relevant pages it dropped from the top 10) and bought."""
    if not floors:
        return
    print("relevance floor (hybrid): judged relevant pages in the top 10 it drops; off-topic queries still answered")
    header = f"{'corpus':<18} {'relevant':>9} {'lost':>5} {'off-topic':>10} {'answered':>9}"
    print(header)
    print("-" * len(header))
    for f in floors:
        print(
            f"{f['corpus']:<18} {f['relevant_in_top10']:>9} {f['relevant_lost']:>5} "
            f"{f['offtopic']:>10} {len(f['offtopic_answered']):>9}"
        )
        for query in f["offtopic_answered"]:
            print(f"{'':<18} answered: {query}")
    print()


def print_table(qrels: str, rows: list[dict], means: dict[str, float]) -> None:
    metric_names = ["ndcg@10", "recall@10", "mrr@10", "recall@1"]
    print(f"judgements: {qrels}")
    header = f"{'corpus':<18} {'ranking':<28} {'queries':>7} " + " ".join(f"{m:>9}" for m in metric_names)
    print(header)
    print("-" * len(header))
    for row in rows:
        values = " ".join(f"{row['metrics'][m]:>9.4f}" for m in metric_names)
        print(f"{row['corpus']:<18} {row['ranking']:<28} {row['queries']:>7} {values}")
    print("mean nDCG@10 over corpora: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()) + "\n")


def print_answers(answers: list[dict], configured: float) -> None:
    if not answers:
        return
    levels = [level["min_score"] for level in answers[0]["levels"]]
    print(f"answer line (hybrid; configured threshold {configured}): answered / from a relevant page;")
    print(f"lines right: of those shown at {configured}, judged to answer by themselves ({LINES.name})")
    header = (
        f"{'corpus':<18} {'questions':>9} "
        + " ".join(f"{'≥ ' + str(t):>12}" for t in levels)
        + f" {'precision':>10} {'coverage':>9} {'lines right':>12}"
    )
    print(header)
    print("-" * len(header))
    for corpus in answers:
        cells = " ".join(f"{lv['answered']:>5} / {lv['from_relevant_page']:<4}" for lv in corpus["levels"])
        shown = next(lv for lv in corpus["levels"] if lv["min_score"] == configured)
        precision = f"{shown['share_relevant']:.2f}" if shown["answered"] else "–"
        coverage = f"{shown['answered'] / corpus['questions']:.2f}" if corpus["questions"] else "–"
        right = f"{shown['judged_right']} ({shown['unjudged']} unjudged)" if shown["answered"] else "–"
        print(f"{corpus['corpus']:<18} {corpus['questions']:>9} {cells} {precision:>10} {coverage:>9} {right:>12}")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
