"""SPARQL examples: one document per {{SPARQL}} template, with its heading and prose."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from core.wikitext import without_translate
from indexer.sources.sparql_examples import Example, SparqlExamplesSource, examples_from_wikitext, try_it_url
from tests.conftest import DUMPS, SHARED, run_cli, shared

CASES = [
    (
        "heading, prose and query",
        "Intro.\n=== Cats ===\nAll the [[cat|cats]] with a picture.\n{{SPARQL|query=SELECT ?item WHERE { ?item wdt:P31 wd:Q146 }\n}}",
        [Example("Cats", "All the cats with a picture.", "SELECT ?item WHERE { ?item wdt:P31 wd:Q146 }", "Cats")],
    ),
    (
        "pipes escaped as {{!}} come back",
        "== Paths ==\n{{SPARQL|query=SELECT * { ?a wdt:P31{{!}}wdt:P279 ?b }\n}}",
        [Example("Paths", "", "SELECT * { ?a wdt:P31|wdt:P279 ?b }", "Paths")],
    ),
    (
        "the spaced form {{!} } too",
        "== Or ==\n{{SPARQL|query=FILTER(?a {{!} }{{!} } ?b)}}",
        [Example("Or", "", "FILTER(?a || ?b)", "Or")],
    ),
    (
        "several templates under one heading",
        "== Pairs ==\nFirst one.\n{{SPARQL|query=SELECT 1}}\nSecond one.\n{{SPARQL2|query=SELECT 2}}",
        [Example("Pairs", "First one.", "SELECT 1", "Pairs"), Example("Pairs", "Second one.", "SELECT 2", "Pairs")],
    ),
    (
        "links and entity templates in prose and headings",
        "== Stations of {{Q|Q13224}} ==\nSee [[Wikidata:Tours|the tours]] and [https://example.org docs] for {{P|31}}.\n{{SPARQL|query=SELECT 3}}",
        [Example("Stations of Q13224", "See the tours and docs for P31.", "SELECT 3", "Stations_of_Q13224")],
    ),
    ("no templates, no examples", "== Nothing ==\nJust prose.", []),
]


@pytest.mark.parametrize(("name", "wikitext", "expected"), CASES, ids=[c[0] for c in CASES])
def test_examples_from_wikitext(name: str, wikitext: str, expected: list[Example]) -> None:
    assert examples_from_wikitext(wikitext) == expected


def test_try_it_opens_the_query_on_the_query_service() -> None:
    query = 'SELECT ?item WHERE { ?item wdt:P31 wd:Q146 } # cats & "dogs"'
    url = try_it_url(query)
    assert url.startswith("https://query.wikidata.org/#") and unquote(url.split("#", 1)[1]) == query
    assert " " not in url and "&" not in url.split("#", 1)[1]


def test_the_real_examples_page_matches_the_records() -> None:
    source = SparqlExamplesSource(DUMPS / "wikidata-sparql-examples.xml.bz2")
    docs = {d.title: d for d in source}
    records = [json.loads(line) for line in shared("sparql/wikidata-examples.jsonl").read_text().splitlines()]
    assert len(docs) == 388 and source.skip_reasons["empty query"] == 1  # "Academy award data" has an empty query
    assert sum(1 for _ in source) == 388 and source.skip_reasons == {"empty query": 1}  # counts the last pass only
    cats = docs["Cats, with pictures"]
    assert (
        cats.url == "https://www.wikidata.org/wiki/Wikidata:SPARQL_query_service/queries/examples#Cats,_with_pictures"
    )
    assert "wd:Q146" in cats.code and cats.code_language == "sparql" and cats.action_url == try_it_url(cats.code)
    assert cats.text.startswith("This query looks at all items")
    # the records keep the Translate extension's markup (<translate><!--T:745-->), which a reader never sees
    same = sum(
        1
        for r in records
        if r["title"] in docs and docs[r["title"]].code.strip() == without_translate(r["sparql"]).strip()
    )
    assert same >= 370  # the rest differ only in titles with templates or whitespace
    assert not [d.title for d in docs.values() if "<translate" in d.code or "<!--T:" in d.action_url]


def test_raw_wikitext_file_works_too(tmp_path: Path) -> None:
    page = tmp_path / "examples.wiki"
    page.write_text("== Dogs ==\nGood dogs.\n{{SPARQL|query=SELECT ?dog WHERE { ?dog wdt:P31 wd:Q144 }}}\n")
    (doc,) = list(SparqlExamplesSource(page, page_url="https://www.wikidata.org/wiki/User:Me/Examples"))
    assert doc.title == "Dogs" and doc.url == "https://www.wikidata.org/wiki/User:Me/Examples#Dogs"


@pytest.mark.model
def test_photos_of_cats_finds_the_cats_example(examples_index: Path) -> None:
    target = examples_index
    result = run_cli("query", "--index", str(target), "--json", "--limit", "3", "photos of cats")
    hits = json.loads(result.stdout)["results"]
    assert "Cats, with pictures" in [h["title"] for h in hits]
    cats = next(h for h in hits if h["title"] == "Cats, with pictures")
    assert cats["action_url"].startswith("https://query.wikidata.org/#") and "wd:Q146" in cats["code"]
    assert SHARED.exists()
