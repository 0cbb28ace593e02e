"""Did you mean, measured: what respelling does to the team's queries as written, and to
the same queries with one typo in each of their two longest words (seeded, so every run
types the same typos).

    python bench/spelling.py [--qrels bench/qrels-team.jsonl]

For each corpus: how many queries get a "Did you mean", and nDCG@10 of
- the queries as written, and as written with respelling (must not lose);
- typed with typos: as typed; respelled only when they find nothing (measured, not
  kept); and as shipped: respelled also when the respelling's best page is closer to it
  than the typed query's best page is to the typed query.
Prints a table and writes bench/results/spelling.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from core.models import Embedder
from core.settings import Settings
from index_format import Index
from query.catalog import Catalog
from query.evaluate import Judgement, doc_id, load_qrels, score
from query.search import search
from query.spelling import did_you_mean

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {
    "mediawiki-docs": ROOT / "data/indexes/mediawiki-docs",
    "enwiki-sample": ROOT / "data/indexes/enwiki-sample",
}
_LONG_WORD = re.compile(r"(?<![\w$:])[a-z]{5,}(?![\w:])")


def typo(query: str, rng: random.Random) -> str:
    """One typo (a letter dropped, doubled, or two swapped, never the first) in each
    of the query's two longest words of letters."""
    words = sorted({m.group() for m in _LONG_WORD.finditer(query)}, key=lambda w: (-len(w), w))[:2]
    for word in words:
        i = rng.randrange(1, len(word) - 1)
        kind = rng.choice(("drop", "double", "swap"))
        typed = {
            "drop": word[:i] + word[i + 1 :],
            "double": word[:i] + word[i] + word[i:],
            "swap": word[:i] + word[i + 1] + word[i] + word[i + 2 :],
        }[kind]
        query = re.sub(rf"(?<![\w$:]){word}(?![\w:])", typed, query, count=1)
    return query


def run(index: Index, embedder: Embedder, items: list[Judgement], respell: bool) -> dict[str, list[str]]:
    return {j.id: [doc_id(h.title) for h in search(index, embedder, j.query, respell=respell).results] for j in items}


def only_if_nothing(index: Index, embedder: Embedder, items: list[Judgement]) -> dict[str, list[str]]:
    """The rule measured and not kept: respell only a query that found nothing."""
    chosen: dict[str, list[str]] = {}
    for j in items:
        pick = search(index, embedder, j.query, respell=False)
        spelled = did_you_mean(index, j.query, pick.text) if pick.text else None
        if spelled is not None and not pick.results:
            pick = search(index, embedder, spelled, respell=False)
        chosen[j.id] = [doc_id(h.title) for h in pick.results]
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qrels", default=str(ROOT / "bench/qrels-team.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "bench/results/spelling.json"))
    args = parser.parse_args()
    settings = Settings.load()
    rows = []
    for corpus, path in CORPORA.items():
        served = Catalog({corpus: path}, settings).get(corpus)
        index, embedder = served.index, served.embedder
        judgements = load_qrels(args.qrels, corpus)
        rng = random.Random(0)
        typed = [Judgement(j.id, j.corpus, typo(j.query, rng), j.relevant) for j in judgements]

        offered = sum(bool(search(index, embedder, j.query).did_you_mean) for j in judgements)
        offered_typed = sum(bool(search(index, embedder, j.query).did_you_mean) for j in typed)
        variants = {
            "as written": (judgements, run(index, embedder, judgements, False)),
            "as written, respelled if nothing found": (judgements, only_if_nothing(index, embedder, judgements)),
            "as written, respelled (shipped)": (judgements, run(index, embedder, judgements, True)),
            "typos": (typed, run(index, embedder, typed, False)),
            "typos, respelled if nothing found": (typed, only_if_nothing(index, embedder, typed)),
            "typos, respelled (shipped)": (typed, run(index, embedder, typed, True)),
        }
        ndcg = {name: score(items, ranked)["ndcg@10"] for name, (items, ranked) in variants.items()}
        rows.append(
            {
                "corpus": corpus,
                "model": index.model_name,
                "queries": len(judgements),
                "offered_as_written": offered,
                "offered_with_typos": offered_typed,
                "ndcg@10": ndcg,
                "typed": [j.query for j in typed],
            }
        )
    for r in rows:
        print(
            f"{r['corpus']} ({r['model']}, {r['queries']} queries): did you mean offered for "
            f"{r['offered_as_written']} as written, {r['offered_with_typos']} with typos"
        )
        for name, value in r["ndcg@10"].items():
            print(f"  {name:<40} nDCG@10 {value:.4f}")
    Path(args.out).write_text(json.dumps({"qrels": Path(args.qrels).name, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
