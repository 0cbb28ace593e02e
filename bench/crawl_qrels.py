"""Judgements for the 23k crawled SPARQL queries, carried over from the examples'.

    python bench/crawl_qrels.py [--out bench/qrels-crawl.jsonl]

The crawl (``../shared/data/sparql/wikidata-queries-23k.jsonl.gz``) holds an
older copy of Wikidata's examples page among 23k other queries. A judged
wikidata-examples query (dev's and ours) is carried over to the crawl when the
example it judges relevant is there: a crawled query from the examples page
whose title is the example's, or whose SPARQL has at least ``SAME_QUERY`` of
its words in common with the example's (Jaccard, prefixes and comments left
out: the page was edited since the crawl). The best such query is the relevant
one. No judgement is written by hand, and none after seeing a ranking. Other
copies of an example elsewhere in the crawl stay unjudged: they count against
every model alike.

Titles are the index's own: both files are read through the records source
that builds the index (``--preset sparql``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

from core.documents import Page
from indexer.sources.records import RecordsSource, mapping_from

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/data"
CRAWL = DATA / "sparql/wikidata-queries-23k.jsonl.gz"
EXAMPLES = DATA / "sparql/wikidata-examples.jsonl"
JUDGED = [DATA / "eval/dev.jsonl", ROOT / "bench/qrels-team.jsonl"]
EXAMPLES_PAGE = "https://www.wikidata.org/wiki/Wikidata:SPARQL_query_service/queries/examples"
CORPUS = "wikidata-queries-23k"
SAME_QUERY = 0.75
_WORD = re.compile(r"[\w:?]+")
_COMMENT = re.compile(r"#[^<>]*$")  # to the line's end, unless it is inside an <IRI#…>


def words(sparql: str) -> set[str]:
    """A query's words, its PREFIX lines and comments left out (the crawl added prefixes)."""
    lines = (_COMMENT.sub("", line) for line in sparql.splitlines() if not line.strip().upper().startswith("PREFIX"))
    return set(_WORD.findall(" ".join(lines).lower()))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def pages(path: Path) -> list[Page]:
    return list(RecordsSource(path, mapping_from("sparql", {})))


def on_examples_page() -> set[str]:
    """The SPARQL of each crawled query that was crawled from the examples page."""
    with gzip.open(CRAWL, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return {r["sparql"].strip() for r in records if r.get("sparql") and EXAMPLES_PAGE in (r.get("source_pages") or [])}


def carried(example: Page, candidates: list[tuple[Page, set[str]]]) -> str | None:
    """The crawled copy of ``example``: the title of the best candidate that is it, or None."""
    mine = words(example.code)
    scored = ((jaccard(mine, theirs), page.title) for page, theirs in candidates)
    same = [(j, title) for j, title in scored if j >= SAME_QUERY or title.casefold() == example.title.casefold()]
    return max(same)[1] if same else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "bench/qrels-crawl.jsonl"))
    args = parser.parse_args()
    from_page = on_examples_page()
    candidates = [(page, words(page.code)) for page in pages(CRAWL) if page.code.strip() in from_page]
    examples = {page.title: page for page in pages(EXAMPLES)}
    lines = []
    judged = 0
    for path in JUDGED:
        for line in path.read_text("utf-8").splitlines():
            item = json.loads(line)
            if item["corpus"] != "wikidata-examples":
                continue
            judged += 1
            relevant = [carried(examples[title], candidates) for title in item["relevant"]]
            found = sorted({title for title in relevant if title})
            if found:
                row = {"id": f"c-{item['id']}", "corpus": CORPUS, "query": item["query"], "relevant": found}
                lines.append(json.dumps(row | {"from": item["id"]}, ensure_ascii=False))
    Path(args.out).write_text("\n".join(lines) + "\n", "utf-8")
    print(f"{len(lines)} of {judged} judged queries carried over to {CORPUS} ({len(candidates)} crawled examples)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
