"""``wikisearch query``, ``serve``, ``eval`` and ``info``: use an index."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from core.errors import WikisearchError
from core.settings import SEARCH_MODES, Settings
from query.filters import SORTS, Filters

from .common import default_of, handle_errors, setup_logging


def _catalog(index_dir: Path, settings: Settings) -> Any:
    """One index as a catalog: the model that built it is loaded to query it."""
    from query.catalog import Catalog

    return Catalog({index_dir.name or "index": index_dir}, settings)


@click.command()
@click.argument("query")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option("--limit", type=int, default=10, show_default=True, help="Pages to show.")
@click.option("--offset", type=int, default=0, show_default=True, help="Pages to skip (paging).")
@click.option("--mode", type=click.Choice(SEARCH_MODES), help=f"Ranking {default_of('search_mode')}.")
@click.option("--namespace", "namespaces", multiple=True, help="Only pages in this namespace number (repeatable).")
@click.option("--prefix", help="Only pages whose title starts with this (e.g. Manual: or API:).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True, help="Order of matches.")
@click.option("--as-typed", is_flag=True, help="Search QUERY as typed, never its spelling suggestion (still shown).")
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object: {"results": [...]}.')
@click.pass_context
@handle_errors
def query(
    ctx: click.Context,
    query: str,
    index_dir: Path,
    limit: int,
    offset: int,
    mode: str | None,
    namespaces: tuple[str, ...],
    prefix: str | None,
    sort: str,
    as_typed: bool,
    as_json: bool,
) -> None:
    """Search the index at --index for QUERY (CirrusSearch's "phrase", -word, intitle:,
    incategory: and prefix: work in it: docs/reference/search-syntax.md)."""
    setup_logging(ctx.obj["verbose"], True)
    settings = Settings.load({"search_mode": mode})
    from query.search import validate

    validate(query, limit, offset, settings)
    filters = Filters.parse(namespaces, prefix)
    catalog = _catalog(index_dir, settings)
    response = catalog.search(None, query, limit, offset, filters=filters, sort=sort, respell=not as_typed)
    if as_json:
        click.echo(json.dumps(response.as_dict(), ensure_ascii=False))
        return
    for said in response.notices:
        click.echo(said + "\n")
    if response.respelled:
        click.echo(f"showing results for {response.did_you_mean!r}; search instead for {query!r} with --as-typed\n")
    elif response.did_you_mean:
        click.echo(f"did you mean: {response.did_you_mean!r}?\n")
    if response.exact:
        click.echo(f"There is a page named {response.exact.title!r} on this wiki: {response.exact.url}\n")
    if response.answer:
        answer = response.answer
        click.echo(click.style("Answer: ", bold=True) + answer.text)
        click.echo(f"   from {answer.section}  {answer.url}  (score {answer.score:.3f})\n")
    if not response.good_match:
        click.echo(f"no good match for {response.query!r}")
        if response.suggestions:
            click.echo("closest pages, not good matches: " + " · ".join(s.title for s in response.suggestions))
    elif not response.results:
        click.echo("no results" + (" with these filters" if filters.active else ""))
    else:
        shown = f"{offset + 1}–{offset + len(response.results)}"
        click.echo(f"results {shown} of {'at least ' if not response.total_exact else ''}{response.total}\n")
    for rank, hit in enumerate(response.results, start=offset + 1):
        redirect = f"  (redirect from {hit.redirect_from})" if hit.redirect_from else ""
        click.echo(click.style(f"{rank}. {hit.section}", bold=True) + redirect + f"  ({hit.score:.3f})")
        click.echo(f"   {hit.url}" + (f"  (edited {hit.timestamp[:10]})" if hit.timestamp else ""))
        click.echo(f"   {hit.snippet}")
        if hit.categories:
            click.echo("   categories: " + " · ".join(c.name for c in hit.categories))
        for more in hit.more:
            click.echo(f"   · {more.section}  {more.url}")


@click.command()
@click.option(
    "--index", "indexes", multiple=True, help="NAME=DIR or DIR (named after the directory); repeat for several."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Worker processes (each loads the model).",
)
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, indexes: tuple[str, ...], host: str, port: int, workers: int, threads: int) -> None:
    """Serve the search page and JSON API with gunicorn.

    \b
    wikisearch serve --index data/indexes/mediawiki-docs --index enwiki=data/indexes/enwiki-sample
    WIKISEARCH_INDEXES=docs=data/indexes/mediawiki-docs wikisearch serve
    """
    setup_logging(ctx.obj["verbose"], False, base=logging.INFO)  # a service logs what it loads
    from index_format import open_index
    from query.catalog import NO_INDEX, parse_index_specs

    settings = Settings.load({"indexes": ",".join(indexes) or None})
    specs = parse_index_specs([settings.indexes])
    if not specs:
        raise WikisearchError(NO_INDEX, "no_index")
    for path in specs.values():
        open_index(path).close()  # fail here, in one line, rather than in every worker
    names = ", ".join(specs)
    click.echo(f"serving {names} at http://{host}:{port}/  (Ctrl-C to stop)", err=True)
    from webapp.serve import run

    run(settings.replace(indexes=",".join(f"{n}={p}" for n, p in specs.items())), host, port, workers, threads)


@click.command("eval")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option("--qrels", required=True, type=click.Path(path_type=Path), help="Judgements, JSON Lines.")
@click.option("--corpus", help="Only the judgements of this corpus (default: all in the file).")
@click.option("--mode", type=click.Choice(SEARCH_MODES), help=f"Ranking {default_of('search_mode')}.")
@click.option(
    "--dense-weight", type=click.FloatRange(0, 1), help=f"Dense share of a blend {default_of('dense_weight')}."
)
@click.option("--per-query", is_flag=True, help="Also each query: nDCG@10, first relevant rank, top pages.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@handle_errors
def evaluate_command(
    ctx: click.Context,
    index_dir: Path,
    qrels: Path,
    corpus: str | None,
    mode: str | None,
    dense_weight: float | None,
    per_query: bool,
    as_json: bool,
) -> None:
    """Measure retrieval quality: nDCG@10, Recall@10, MRR@10, Recall@1 (ir-measures)."""
    setup_logging(ctx.obj["verbose"], True)
    settings = Settings.load({"search_mode": mode, "dense_weight": dense_weight})
    from query.evaluate import evaluate, load_qrels
    from query.ranking import Ranking

    judgements = load_qrels(qrels, corpus)
    served = _catalog(index_dir, settings).get(None)
    result = evaluate(served.index, served.embedder, judgements, Ranking.from_settings(settings), queries=per_query)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"corpus {result['corpus']}, mode {result['mode']}, {result['queries']} queries")
    for name, value in result["metrics"].items():
        click.echo(f"  {name:<10} {value:.4f}")
    for row in result.get("per_query", []):
        first = row["first_relevant"] or "-"
        top = row["top"][0] if row["top"] else ""
        click.echo(f"  {row['ndcg@10']:.4f}  first relevant {first!s:>3}  {row['query']}  → {top}")


@click.command()
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@handle_errors
def info(index_dir: Path) -> None:
    """Show an index's manifest: model, source, counts, build stats."""
    from index_format import Index

    click.echo(Index.open(index_dir).manifest.to_json())
