"""The wiki's search language, timed: operators against the same words without them, and
title completion at a million titles.

    python bench/syntax.py [--rounds 5] [--titles 1000000] [--work DIR]

1. Operators: each query of ``PAIRS`` and its words alone, searched in turn (interleaved,
   so the machine's noise hits both) on the shipped mediawiki-docs index with its model;
   p50 and p95 of each side and the ratio of the p50s (the target: at most 1.2).
2. Completion: an index of ``--titles`` pages, each one chunk, plus one redirect per
   twenty pages, written with ``IndexWriter`` (8-dimension vectors: completion reads
   titles, not vectors). The titles are real — the three samples' pages and the 23k
   crawled Wikidata queries' first comment lines — each numbered as many times as it
   takes ("Manual:$wgUploadPath/17"). ``query.complete.complete`` answers prefixes that
   read as titles being typed; p50 against the same prefixes on the docs sample (901 pages).

Prints tables and writes bench/results/syntax.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core.documents import Page
from core.models import ModelInfo
from core.settings import Settings
from index_format import BuildReport, Index, IndexWriter, Manifest, SourceInfo
from index_format.schema import StoredChunk
from query.catalog import Catalog
from query.complete import complete
from query.search import search

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "data/indexes/mediawiki-docs"
CRAWLED = ROOT.parent / "shared/data/sparql/wikidata-queries-23k.jsonl.gz"
#: (with operators, the same words without them)
PAIRS = [
    ('"table name prefix"', "table name prefix"),
    ("intitle:upload", "upload"),
    ("upload -API", "upload"),
    ('incategory:"Configuration settings" session cache', "session cache"),
    ("cache prefix:Manual:$wgMain", "cache"),
    ('-incategory:"MediaWiki action API" recent changes', "recent changes"),
]
PREFIXES = ["Manual:$wgUp", "API:Rec", "Manual:$wgEnable", "API:Q", "Manual:Core documentation/", "Manual:$wgDB"]


def ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def operators(rounds: int, settings: Settings) -> dict:
    served = Catalog({"docs": DOCS}, settings).get("docs")
    times: dict[str, list[float]] = {"operators": [], "words": []}
    for pair in PAIRS:  # warm: the first search loads the index's tables and the grammar
        for query in pair:
            search(served.index, served.embedder, query, settings=settings)
    for _ in range(rounds):
        for with_ops, words in PAIRS:
            for side, query in (("operators", with_ops), ("words", words)):
                started = time.perf_counter()
                search(served.index, served.embedder, query, settings=settings)
                times[side].append(ms(started))
    p50 = {side: statistics.median(t) for side, t in times.items()}
    return {
        "index": "mediawiki-docs",
        "model": served.index.model_name,
        "queries": len(PAIRS),
        "rounds": rounds,
        "p50_ms": {k: round(v, 2) for k, v in p50.items()},
        "p95_ms": {k: round(statistics.quantiles(t, n=20)[18], 2) for k, t in times.items()},
        "p50_ratio": round(p50["operators"] / p50["words"], 3),
    }


class _NoEmbedder:
    """Completion of a title being typed never embeds; a word would, and gets zeros."""

    dimensions = 8

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        return np.zeros((len(texts), self.dimensions), dtype=np.float32)


def real_titles() -> list[str]:
    titles: list[str] = []
    for name in ("mediawiki-docs", "enwiki-sample", "wikidata-examples"):
        index = Index.open(ROOT / "data/indexes" / name)
        titles += [title for _, title, _, _ in index.page_rows()]
        index.close()
    with gzip.open(CRAWLED, "rt", encoding="utf-8") as lines:
        for line in lines:
            comment = (json.loads(line).get("comment_en") or "").strip().splitlines()
            if comment and comment[0].strip():
                titles.append(comment[0].strip()[:120])
    return list(dict.fromkeys(titles))


def million_titles(target: Path, n: int) -> float:
    """An index of ``n`` one-chunk pages with real titles; the seconds writing it took."""
    real = real_titles()
    started = time.perf_counter()
    writer = IndexWriter(target, _NoEmbedder.dimensions)
    vector = np.zeros((1, _NoEmbedder.dimensions), dtype=np.float32)
    vector[0, 0] = 1.0
    for i in range(n):
        base = real[i % len(real)]
        title = base if i < len(real) else f"{base}/{i // len(real)}"
        page = Page(title, 0, i + 1, i + 1, "2026-11-01T00:00:00Z", "", f"https://example.org/wiki/{i}")
        writer.add_page(page, [StoredChunk(title, 0, title, "", base, str(i))], vector, str(i))
        if i % 20 == 0:
            writer.add_alias(f"{title} (redirect)", title)
    model = ModelInfo(name="none", sha256="0" * 64, dimensions=_NoEmbedder.dimensions)
    source = SourceInfo(type="bench", file="real titles, numbered")
    writer.commit(Manifest(model=model, source=source, build=BuildReport()), Settings(quiet=True))
    return time.perf_counter() - started


def completion(rounds: int, titles: int, work: Path) -> dict:
    target = work / "titles"
    written = million_titles(target, titles)
    big, docs = Index.open(target), Index.open(DOCS)
    embedder = _NoEmbedder()
    started = time.perf_counter()
    complete(big, embedder, PREFIXES[0], 10)  # the first request loads the index's tables
    first = ms(started)
    times: dict[str, list[float]] = {"million": [], "docs": []}
    for _ in range(rounds):
        for prefix in PREFIXES:
            for side, index in (("million", big), ("docs", docs)):
                started = time.perf_counter()
                complete(index, embedder, prefix, 10)
                times[side].append(ms(started))
    found = {p: len(complete(big, embedder, p, 10)) for p in PREFIXES}
    return {
        "titles": titles,
        "write_s": round(written, 1),
        "first_ms": round(first, 1),
        "prefixes": found,
        "p50_ms": {k: round(statistics.median(t), 3) for k, t in times.items()},
        "p95_ms": {k: round(statistics.quantiles(t, n=20)[18], 3) for k, t in times.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--titles", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", default=str(ROOT / "bench/results/syntax.json"))
    args = parser.parse_args()
    ops = operators(args.rounds, Settings.load())
    print(f"{'operators (docs, ' + ops['model'] + ')':<44} {'p50 ms':>8} {'p95 ms':>8}")
    for side in ("operators", "words"):
        print(f"  {side:<42} {ops['p50_ms'][side]:>8} {ops['p95_ms'][side]:>8}")
    print(f"  p50 ratio {ops['p50_ratio']} (target <= 1.2)")
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        done = completion(args.rounds * 10, args.titles, Path(work))
    print(f"completion, {done['titles']:,} titles (written in {done['write_s']} s): completions {done['prefixes']}")
    print(f"  the first request, which loads the index's tables: {done['first_ms']} ms")
    for side in ("million", "docs"):
        print(f"  {side:<42} {done['p50_ms'][side]:>8} {done['p95_ms'][side]:>8}")
    Path(args.out).write_text(json.dumps({"operators": ops, "completion": done}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
