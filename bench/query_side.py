"""An experiment, not a product path: adapt only the model that reads queries.

    python bench/query_side.py [--seed 0] [--lr 1e-4] [--scale 20] [--negatives bank|batch]

``wikisearch adapt`` trains the whole model, so every chunk must be embedded again
(a build's cost, which grows with the wiki). Here the chunks keep the stock vectors
the index holds, and a copy of the model learns to put the wiki's own queries
near them: the same pairs as ``adapt`` (mined, split, budgeted alike; the
held-back pages are left out), each passage replaced by its chunk as the index
embedded it (header included), encoded once by the stock model with no gradient.
The loss is cross-entropy over those fixed vectors — the batch's, or every
training chunk (``bank``) — with GISTEmbed's rule (a negative the stock model
puts above the positive is no negative) and no negative of the query's own page.
It also scores adapt's held-back pairs against the stock chunk vectors (what the gate
would see). Then the stock mediawiki-docs index is searched with the stock model and with the
adapted one reading queries, on the shared dev judgements and ours, paired per
query as bench/adapt.py does. Writes bench/results/query-side.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from adapt import CORPORA, QRELS, paired  # bench/adapt.py, beside this script
from transformers import get_linear_schedule_with_warmup

from core.documents import Page
from core.models import Runtime, resolve_model
from core.settings import Settings
from index_format import Index, StoredChunk
from indexer.adapt import _seed_everything, _sentence_transformer, _token_counts, batches, recipe_from
from indexer.gate import DISTRACTORS, MAX_HELD_BACK, gain_lower_bound, mrr_at_10
from indexer.pairs import Pair, held_back, mine, read_wiki, split, within
from indexer.reembed import read_after_header, restored
from query.evaluate import evaluate, load_qrels
from query.ranking import Ranking

ROOT = Path(__file__).resolve().parent.parent
CORPUS = "mediawiki-docs"


class QueryReader:
    """A sentence-transformers model as the pipeline's Embedder, to read the judged queries."""

    dimensions = 384
    runtime = Runtime("sentence-transformers")

    def __init__(self, model: Any):
        self.model = model

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(self.model.tokenizer(text)["input_ids"]) for text in texts]


def judged(index: Index, reader: QueryReader) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in ("dev", "team"):
        judgements = [j for j in load_qrels(QRELS[name]) if j.corpus == CORPUS]
        out[name] = {}
        for mode in ("dense", "hybrid"):
            rows = evaluate(index, reader, judgements, Ranking(mode=mode), queries=True)
            out[name][mode] = {r["id"]: r["ndcg@10"] for r in rows["per_query"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--scale", type=float, default=20.0, help="similarity scale (1 / temperature)")
    parser.add_argument("--negatives", choices=("bank", "batch"), default="bank")
    parser.add_argument("--out", default=str(ROOT / "bench/results/query-side.json"))
    args = parser.parse_args()
    settings = Settings.load()
    recipe = recipe_from(settings)
    base = resolve_model(settings.model, settings.allow_unvetted_model)
    started = time.monotonic()
    wiki = read_wiki(CORPORA[CORPUS], recipe.max_pages, args.seed)
    training, kept_back = split(mine(wiki, recipe.pair_kinds), recipe.max_pairs, args.seed)
    kept_back = random.Random(args.seed).sample(kept_back, min(len(kept_back), MAX_HELD_BACK))
    training = within(training, _token_counts(base, training, recipe.max_seq_length), recipe.max_tokens)
    pages = {page.title: (page, chunks) for page, chunks in wiki.pages}

    def indexed(page: Page, chunk: StoredChunk) -> str:
        return restored(page, chunk).embed_text

    def as_indexed(pair: Pair) -> str:
        """The chunk the pair's passage comes from, as the index embedded it."""
        page, chunks = pages[pair.page]
        return indexed(page, next((c for c in chunks if pair.passage in read_after_header(page, c.text)), chunks[0]))

    stock = _sentence_transformer(base.path, recipe.max_seq_length)
    targets = [as_indexed(p) for p in training]
    texts = sorted(set(targets))
    where = {text: i for i, text in enumerate(texts)}
    fixed = torch.tensor(stock.encode(texts, batch_size=32, normalize_embeddings=True))
    of_page = np.array([""] * len(texts), dtype=object)
    row_of = {pair: where[text] for pair, text in zip(training, targets, strict=True)}
    for pair, row in row_of.items():
        of_page[row] = pair.page
    queries = [p.query for p in training]
    guide = dict(zip(queries, stock.encode(queries, normalize_embeddings=True), strict=True))
    # The gate's held-back pages, as adapt scores them, but against the stock chunk vectors.
    trained_on = [indexed(page, c) for page, chunks in wiki.pages if not held_back(page.title) for c in chunks]
    distractors = random.Random(args.seed).sample(trained_on, min(len(trained_on), DISTRACTORS))
    own_texts = [as_indexed(p) for p in kept_back]
    candidates = list(dict.fromkeys([*own_texts, *distractors]))
    own = [candidates.index(text) for text in own_texts]
    candidate_vectors = stock.encode(candidates, batch_size=32, normalize_embeddings=True)

    def held_back_ranks(reader: Any) -> list[int]:
        scores = reader.encode([p.query for p in kept_back], normalize_embeddings=True) @ candidate_vectors.T
        return [int((scores[n] > scores[n, own[n]]).sum()) + 1 for n in range(len(kept_back))]

    ranks_before = held_back_ranks(stock)
    prepared = time.monotonic() - started

    started = time.monotonic()  # as indexer.adapt.train does, but for the loss
    _seed_everything(args.seed)
    model = _sentence_transformer(base.path, recipe.max_seq_length)
    plan = [b for epoch in range(recipe.epochs) for b in batches(training, recipe.batch_size, args.seed + epoch)]
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr)
    schedule = get_linear_schedule_with_warmup(optimiser, int(len(plan) * recipe.warmup_share), len(plan))
    features_of = getattr(model, "preprocess", None) or model.tokenize  # tokenize: sentence-transformers 5
    model.train()
    for batch in plan:
        positive = torch.tensor([row_of[p] for p in batch])
        among = torch.arange(len(texts)) if args.negatives == "bank" else positive
        target = torch.tensor([int((among == i).nonzero()[0]) for i in positive])
        rows = torch.arange(len(batch))
        read = torch.nn.functional.normalize(model(features_of([p.query for p in batch]))["sentence_embedding"])
        guided = torch.tensor(np.stack([guide[p.query] for p in batch])) @ fixed[among].T
        excluded = guided > guided[rows, target].unsqueeze(1)
        excluded |= torch.tensor(of_page[among.numpy()][None, :] == np.array([p.page for p in batch])[:, None])
        excluded[rows, target] = False
        logits = (args.scale * read @ fixed[among].T).masked_fill(excluded, -1e4)
        torch.nn.functional.cross_entropy(logits, target).backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
    trained = time.monotonic() - started

    model.eval()
    ranks_after = held_back_ranks(model)
    held = {
        "pairs": len(kept_back),
        "before": mrr_at_10(ranks_before),
        "after": mrr_at_10(ranks_after),
        "gain_low": gain_lower_bound(kept_back, ranks_before, ranks_after, args.seed),
    }
    index = Index.open(CORPORA[CORPUS])
    before, after = judged(index, QueryReader(stock)), judged(index, QueryReader(model))
    result: dict[str, Any] = {"args": vars(args), "pairs": len(training), "steps": len(plan)}
    result |= {"prepare_s": round(prepared, 1), "training_s": round(trained, 1)}
    result["held_back"] = held
    print(f"query side, seed {args.seed}: {len(training)} pairs, {len(plan)} steps, training {trained:.0f} s")
    print(
        f"  held-back MRR@10 ({held['pairs']} pairs, against the stock chunk vectors) {held['before']:.4f} → "
        f"{held['after']:.4f} (gain ≥ {held['gain_low']:+.4f} at 95 %)"
    )
    for name, modes in before.items():
        for mode, scores in modes.items():
            r = paired(scores, after[name][mode])
            result[f"{name} {mode}"] = r
            print(
                f"  {name:<5} {mode:<7} {r['queries']:>4} q  {r['before']:.4f} → {r['after']:.4f}  "
                f"diff {r['diff']:+.4f} [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]  p {r['wilcoxon_p']:.3f}  "
                f"+{r['better']}/-{r['worse']}"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
