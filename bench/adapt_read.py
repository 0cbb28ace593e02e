"""What ``adapt`` pays to read and mine a wiki before it trains: every page, against
the seeded sample of ``WIKISEARCH_ADAPT_MAX_PAGES`` it reads now, on one index.

    python bench/adapt_read.py --index DIR [--repeat 3]

Each way runs in its own process (for its peak RSS), ``--repeat`` times; the table
gives medians and the sample's ratio to reading every page, measured in the same
run, and what choosing the sample costs: drawn by row number (what ``adapt`` does)
against listing every page row first (what it did), in the same process. Writes
bench/results/adapt-read.json. The million-chunk index of docs/scale.md (``python bench/million.py``) is the large case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: One measurement, in a fresh process: the pages read, the pairs mined, seconds, peak RSS.
PROBE = """
import json, random, resource, sys, time
from pathlib import Path
from core.settings import Settings
from indexer.adapt import recipe_from
from index_format import Index
from indexer.pairs import mine, read_wiki, sample_rows
recipe = recipe_from(Settings.load())
max_pages = sys.maxsize if sys.argv[2] == "every page" else recipe.max_pages
started = time.monotonic()
wiki = read_wiki(Path(sys.argv[1]), max_pages, recipe.seed)
read = time.monotonic() - started
pairs = mine(wiki, recipe.pair_kinds)
out = {"pages": len(wiki.pages), "pairs": len(pairs), "read_s": read, "mine_s": time.monotonic() - started - read}
index = Index.open(Path(sys.argv[1]))  # choosing the sample alone: drawn by row number, and the rows listed
started = time.monotonic()
sample_rows(index, recipe.max_pages, recipe.seed)
out["draw_s"] = time.monotonic() - started
started = time.monotonic()
rows = [row for row, *_ in index.page_rows()]
sorted(random.Random(recipe.seed).sample(rows, min(len(rows), recipe.max_pages)))
out["list_s"] = time.monotonic() - started
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def measure(index: Path, how: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(index), how], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "adapt-read.json"))
    args = parser.parse_args()
    runs = {how: [measure(args.index, how) for _ in range(args.repeat)] for how in ("every page", "the sample")}
    medians = {
        how: {key: statistics.median(run[key] for run in measured) for key in measured[0]}
        for how, measured in runs.items()
    }
    base = medians["every page"]
    print(f"{'read':<12}{'pages':>9}{'pairs':>10}{'read s':>9}{'mine s':>9}{'peak MiB':>10}{'time ×':>8}")
    for how, m in medians.items():
        ratio = (m["read_s"] + m["mine_s"]) / (base["read_s"] + base["mine_s"])
        print(
            f"{how:<12}{m['pages']:>9.0f}{m['pairs']:>10.0f}{m['read_s']:>9.1f}{m['mine_s']:>9.1f}"
            f"{m['peak_rss_mib']:>10.0f}{ratio:>8.2f}"
        )
    drawn, listed = medians["the sample"]["draw_s"], medians["the sample"]["list_s"]
    print(f"choosing the sample: drawn by row number {drawn:.3f} s, listing the rows first {listed:.3f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"index": str(args.index), "runs": runs, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
