"""How fast ``adapt`` trains the whole model in each precision, measured in one run.

    python bench/adapt_speed.py [--index data/indexes/mediawiki-docs] [--pairs 384] [--repeat 3]

The index's pairs are mined and budgeted as ``adapt`` does; a seeded sample of
``--pairs`` of them is trained on for one epoch (the product's ``train``, GIST
loss, batches of 32) in float32 and in bfloat16, in turns, ``--repeat`` times.
The table gives each precision's median seconds a step and the ratio to float32
in the same run (this machine's speed drifts between runs, not within one).
Writes bench/results/adapt-speed.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from core.settings import Settings
from indexer.adapt import base_of, manifest_of, recipe_from, sentence_transformer, train, training_and_held_back
from indexer.pairs import mine, read_wiki

ROOT = Path(__file__).resolve().parent.parent
PRECISIONS = ("fp32", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "data/indexes/mediawiki-docs")
    parser.add_argument("--pairs", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench/results/adapt-speed.json"))
    args = parser.parse_args()
    settings = Settings.load({"adapt_side": "model"})
    base = base_of(manifest_of(args.index), settings)
    recipe = recipe_from(settings, "model")
    pairs = mine(read_wiki(args.index, recipe.max_pages, recipe.seed), recipe.pair_kinds)
    training = training_and_held_back(base, pairs, recipe)[0]
    sample = random.Random(recipe.seed).sample(training, min(args.pairs, len(training)))
    guide = sentence_transformer(base.path, recipe.max_seq_length)
    steps: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    runs: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeat):
            for precision in PRECISIONS:
                stamps = [time.monotonic()]
                asked = Settings.load({"adapt_side": "model", "adapt_epochs": 1, "adapt_precision": precision})
                trained = train(
                    base,
                    sample,
                    recipe_from(asked),
                    Path(scratch) / precision,
                    guide,
                    on_step=lambda *_, stamps=stamps: stamps.append(time.monotonic()),
                )
                steps[precision] += [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)]
                runs[precision].append(stamps[-1] - stamps[1])
    medians = {p: statistics.median(steps[p]) for p in PRECISIONS}
    print(f"{len(sample)} pairs of {args.index.name}, {trained.steps} steps a run, {args.repeat} runs each")
    print(f"{'precision':<11}{'s/step':>9}{'run s':>9}{'× fp32':>9}")
    for p in PRECISIONS:
        print(f"{p:<11}{medians[p]:>9.2f}{statistics.median(runs[p]):>9.1f}{medians[p] / medians['fp32']:>9.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"index": str(args.index), "pairs": len(sample), "step_s": steps, "run_s": runs, "median_step_s": medians},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
