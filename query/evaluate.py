"""Retrieval quality, measured: qrels in, nDCG@10 / Recall@10 / MRR@10 / Recall@1 out.

Metrics come from ir-measures (pytrec_eval underneath), not hand-written code.
Judgements are page-level and binary, as in ``../shared/data/eval/dev.jsonl``:
one JSON object a line, ``{"id", "corpus", "query", "relevant": [titles]}``.
The answer line is also judged sentence by sentence (``load_lines``), since a
sentence from a relevant page can still fail to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import RR, R, nDCG

from core.errors import WikisearchError
from core.models import Embedder
from core.settings import Settings
from core.wikitext import clean_text, render
from index_format import Index

from .answer import is_question
from .ranking import Ranking
from .search import search

METRICS = {"ndcg@10": nDCG @ 10, "recall@10": R @ 10, "mrr@10": RR @ 10, "recall@1": R @ 1}
#: Judged queries are not a visitor's: no length limit, and as deep as asked.
_EVAL_LIMITS = Settings(max_query_chars=10_000, max_limit=1000)


@dataclass(frozen=True)
class Judgement:
    id: str
    corpus: str
    query: str
    relevant: tuple[str, ...]


def doc_id(title: str) -> str:
    """A title as it is displayed: underscores as spaces, wiki markup rendered
    (``{{Q|Q146}}`` → ``Q146``), so qrels and results compare equal."""
    text = title.replace("_", " ")
    if "{{" in text or "<" in text or "[[" in text:
        text = clean_text(render(text))
    return " ".join(text.split())


def _lines_of(path: Path, what: str) -> list[tuple[int, str]]:
    """The numbered lines of a judgements file that are not blank; one clear error if it cannot be read."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise WikisearchError(f"{path}: cannot read {what}: {exc.strerror}") from None
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def load_qrels(path: str | Path, corpus: str | None = None) -> list[Judgement]:
    path = Path(path)
    judgements = []
    for number, line in _lines_of(path, "qrels"):
        try:
            data = json.loads(line)
            item = Judgement(str(data["id"]), str(data["corpus"]), str(data["query"]), tuple(data["relevant"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise WikisearchError(f"{path}:{number}: not a qrels line ({exc})") from None
        if corpus is None or item.corpus == corpus:
            judgements.append(item)
    if not judgements:
        raise WikisearchError(f"{path}: no judgements" + (f" for corpus {corpus!r}" if corpus else ""))
    return judgements


#: A judged answer line: (corpus, query, sentence) -> does the sentence alone answer the query.
LineJudgements = dict[tuple[str, str, str], bool]


def load_lines(path: str | Path) -> LineJudgements:
    """Answer lines judged one by one: ``{"corpus", "query", "answer", "right"}`` a line."""
    path = Path(path)
    judged: LineJudgements = {}
    for number, line in _lines_of(path, "judged answer lines"):
        try:
            data = json.loads(line)
            key, right = (str(data["corpus"]), str(data["query"]), str(data["answer"])), data["right"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WikisearchError(f"{path}:{number}: not a judged answer line ({exc})") from None
        if not isinstance(right, bool):
            raise WikisearchError(f'{path}:{number}: "right" must be true or false')
        judged[key] = right
    return judged


def run_queries(
    index: Index, embedder: Embedder, judgements: list[Judgement], ranking: Ranking, depth: int = 10
) -> dict[str, list[str]]:
    """Each query's ranked page titles (normalised), through the one search function."""
    return {
        j.id: [
            doc_id(hit.title)
            for hit in search(
                index, embedder, j.query, limit=depth, ranking=ranking, settings=_EVAL_LIMITS, answer=False
            ).results
        ]
        for j in judgements
    }


def _ir_inputs(judgements: list[Judgement], run: dict[str, list[str]]) -> tuple[list[Any], list[Any]]:
    """Judgements and ranked titles as ir-measures' qrels and scored documents."""
    qrels = [ir_measures.Qrel(j.id, doc_id(title), 1) for j in judgements for title in j.relevant]
    scored = [
        ir_measures.ScoredDoc(qid, title, float(len(titles) - rank))
        for qid, titles in run.items()
        for rank, title in enumerate(titles)
    ]
    return qrels, scored


def score(judgements: list[Judgement], run: dict[str, list[str]]) -> dict[str, float]:
    qrels, scored = _ir_inputs(judgements, run)
    aggregate = ir_measures.calc_aggregate(list(METRICS.values()), qrels, scored)
    return {name: round(float(aggregate.get(measure, 0.0)), 4) for name, measure in METRICS.items()}


def per_query(judgements: list[Judgement], run: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Each query's nDCG@10, the rank of its first relevant page and its top
    three pages: where a ranking change helped or hurt (as ``trec_eval -q``)."""
    qrels, scored = _ir_inputs(judgements, run)
    ndcg = {m.query_id: float(m.value) for m in ir_measures.iter_calc([nDCG @ 10], qrels, scored)}
    rows = []
    for j in judgements:
        relevant = {doc_id(t) for t in j.relevant}
        ranks = [r for r, title in enumerate(run.get(j.id, []), start=1) if title in relevant]
        rows.append(
            {
                "id": j.id,
                "query": j.query,
                "ndcg@10": round(ndcg.get(j.id, 0.0), 4),
                "first_relevant": ranks[0] if ranks else None,
                "top": run.get(j.id, [])[:3],
            }
        )
    return rows


def evaluate(
    index: Index, embedder: Embedder, judgements: list[Judgement], ranking: Ranking, queries: bool = False
) -> dict[str, Any]:
    """The aggregate metrics; with ``queries``, also each query's row (``per_query``)."""
    run = run_queries(index, embedder, judgements, ranking)
    result: dict[str, Any] = {
        "corpus": judgements[0].corpus,
        "mode": ranking.mode,
        "queries": len(judgements),
        "metrics": score(judgements, run),
    }
    if queries:
        result["per_query"] = per_query(judgements, run)
    return result


def answer_lines(
    index: Index,
    embedder: Embedder,
    judgements: list[Judgement],
    ranking: Ranking,
    thresholds: tuple[float, ...],
    lines: LineJudgements | None = None,
) -> dict[str, Any]:
    """How the answer line does: of the judged questions in words, how many get
    one at each threshold, how many of those come from a page judged relevant
    (the share a reader can trust), and, of those ``lines`` judges sentence by
    sentence, how many answer (the rest are counted as unjudged, to be judged)."""
    settings = _EVAL_LIMITS.replace(answer_min_score=0.0)  # the best sentence, whatever its score
    lines = lines or {}
    rows: list[dict[str, Any]] = []
    for j in judgements:
        if not is_question(j.query):
            continue
        line = search(index, embedder, j.query, limit=10, ranking=ranking, settings=settings).answer
        relevant = {doc_id(t) for t in j.relevant}
        rows.append(
            {
                "query": j.query,
                "answer": line.text if line else None,
                "title": line.title if line else None,
                "score": line.score if line else 0.0,
                "relevant": bool(line and doc_id(line.title) in relevant),
                "right": lines.get((j.corpus, j.query, line.text)) if line else None,
            }
        )
    levels = []
    for threshold in thresholds:
        shown = [r for r in rows if r["answer"] and r["score"] >= threshold]
        trusted = sum(1 for r in shown if r["relevant"])
        levels.append(
            {
                "min_score": threshold,
                "answered": len(shown),
                "from_relevant_page": trusted,
                "share_relevant": round(trusted / len(shown), 4) if shown else None,
                "judged_right": sum(1 for r in shown if r["right"] is True),
                "unjudged": sum(1 for r in shown if r["right"] is None),
            }
        )
    return {"corpus": judgements[0].corpus, "questions": len(rows), "levels": levels, "rows": rows}


def load_offtopic(path: str | Path) -> list[str]:
    """Queries no index should answer: one a line, ``#`` comments."""
    return [line.strip() for _, line in _lines_of(Path(path), "queries") if not line.lstrip().startswith("#")]


def floor_effect(
    index: Index, embedder: Embedder, judgements: list[Judgement], ranking: Ranking, offtopic: list[str]
) -> dict[str, Any]:
    """What the relevance floor costs and buys: judged relevant pages in the
    top 10 without it that it drops, and off-topic queries it silences (no
    result and no answer line)."""
    kept = run_queries(index, embedder, judgements, ranking)
    unfloored = run_queries(index, embedder, judgements, replace(ranking, floor=False))
    relevant = lost = 0
    for j in judgements:
        wanted = {doc_id(t) for t in j.relevant}
        before = [t for t in unfloored[j.id] if t in wanted]
        relevant += len(before)
        lost += sum(1 for t in before if t not in kept[j.id])
    answered = []
    for query in offtopic:
        response = search(index, embedder, query, ranking=ranking, settings=_EVAL_LIMITS)
        if response.results or response.answer:
            answered.append(query)
    return {
        "corpus": judgements[0].corpus,
        "relevant_in_top10": relevant,
        "relevant_lost": lost,
        "offtopic": len(offtopic),
        "offtopic_answered": answered,
    }
