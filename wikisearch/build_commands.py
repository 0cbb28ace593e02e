"""``wikisearch build`` and ``wikisearch sync``: make or update an index."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.settings import BUILD_RUNTIMES, ENGINES, LEXICAL_ENGINES, VECTOR_INDEXES, Settings
from indexer.sources import SOURCE_TYPES

if TYPE_CHECKING:
    from index_format import BuildReport

from .common import changes, default_of, handle_errors, parse_namespaces, print_summary, setup_logging


@click.command()
@click.argument("dumps", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    help="Index directory to create or update (required, except for a Spark run that only writes --shards-out).",
)
@click.option(
    "--source",
    "source_type",
    type=click.Choice(SOURCE_TYPES),
    default="dump",
    show_default=True,
    help="dump: every page is a document; sparql-examples: every {{SPARQL}} template of the pages is one; "
    "records: every record of a JSON Lines or CSV file is one; content-table: a Parquet table of page "
    "revisions (page_id, namespace, title, rev_id, timestamp, wikitext), as in Wikimedia's Data Lake.",
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
@click.option("--model", help=f"Embedding model from the registry {default_of('model')}.")
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
    help="What encodes the chunks: ONNX Runtime (faster), its int8 quantisation, or torch "
    + default_of("build_runtime"),
)
@click.option(
    "--vector-index",
    type=click.Choice(VECTOR_INDEXES),
    help="FAISS index: exact flat, HNSW, IVF-PQ, or auto (chosen by size and WIKISEARCH_VECTOR_MEMORY_MB).",
)
@click.option(
    "--lexical-engine",
    type=click.Choice(LEXICAL_ENGINES),
    help="Lexical leg: SQLite FTS5, tantivy, or auto (chosen by size: WIKISEARCH_FTS5_MAX_CHUNKS).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="serial",
    show_default=True,
    help="serial: this process; spark: Apache Spark (pip install 'wikisearch[spark]'), several DUMPS at once.",
)
@click.option("--master", help=f"spark: the Spark master, yarn on a cluster {default_of('spark_master')}.")
@click.option(
    "--shards-out",
    type=click.Path(path_type=Path),
    help="spark: write Parquet shards here (published atomically; a later run reuses their vectors).",
)
@click.option(
    "--adapt",
    is_flag=True,
    help="Then adapt what reads queries to the wiki's pages, kept if it does better (see wikisearch adapt).",
)
@click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bar or summary (for jobs).")
@click.pass_context
@handle_errors
def build(
    ctx: click.Context,
    dumps: tuple[Path, ...],
    index_dir: Path | None,
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
    lexical_engine: str | None,
    engine: str,
    master: str | None,
    shards_out: Path | None,
    adapt: bool,
    quiet: bool | None,
) -> None:
    """Build or update the index at --index from a MediaWiki XML dump (with
    --engine spark, from one or more dumps: DUMPS).

    DUMP may be .xml, .bz2, .gz, .xz, .lzma or .7z (export schemas 0.3–0.11).
    Unchanged chunks are not embedded again; the previous index is replaced
    atomically only when the new one is complete.
    """
    settings = Settings.load(
        dict(model=model, allow_unvetted_model=allow_unvetted_model, batch_size=batch_size, threads=threads)
        | dict(build_runtime=build_runtime, vector_index=vector_index, lexical_engine=lexical_engine)
        | dict(spark_master=master, quiet=quiet)
    )
    setup_logging(ctx.obj["verbose"], settings.quiet)
    options: dict[str, Any] = dict(namespaces=parse_namespaces(namespaces), max_pages=max_pages, base_url=base_url)
    options |= dict(preset=preset)
    options["fields"] = _fields(fields)
    if adapt and index_dir is None:
        raise click.BadParameter("--adapt adapts the index at --index: give one", param_hint="--adapt")
    if engine == "spark":
        from indexer.spark_build import spark_index

        report = spark_index(list(dumps), source_type, options, index_dir, shards_out, settings, replace)
    elif len(dumps) > 1 or shards_out:
        raise click.BadParameter("several dumps and --shards-out need --engine spark")
    elif index_dir is None:
        raise click.BadParameter("--index is required", param_hint="--index")
    else:
        from indexer.build import build_from

        report = build_from(dumps[0], source_type, options, index_dir, settings, replace)
    if not settings.quiet:
        _say_built(report, index_dir, shards_out)
    if adapt and index_dir is not None:
        from .adapt_commands import run_adaptation

        run_adaptation(index_dir, settings, None, None)


def _say_built(report: BuildReport | None, index_dir: Path | None, shards_out: Path | None) -> None:
    if report is not None:
        print_summary(report, index_dir)
    elif index_dir is None:
        click.echo(f"published shards in {shards_out} (wikisearch assemble {shards_out} --index DIR)")


def _fields(specs: tuple[str, ...]) -> dict[str, str]:
    """``--field ROLE=NAME`` options as a mapping."""
    fields = {}
    for spec in specs:
        role, sep, name = spec.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected ROLE=NAME, got {spec!r}", param_hint="--field")
        fields[role.strip()] = name.strip()
    return fields


@click.command()
@click.option(
    "--api", "api_url", required=True, help="The wiki's api.php, e.g. https://wikitech.wikimedia.org/w/api.php."
)
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option("--user-agent", help="Name and contact for the wiki's operators (required by Wikimedia wikis).")
@click.option("--namespaces", help="Comma-separated namespace ids (default: the wiki's content namespaces).")
@click.option("--full", is_flag=True, help="Read every page again (unchanged chunks keep their vectors).")
@click.option(
    "--every", type=click.IntRange(min=10), help="Keep following: sync every N seconds until Ctrl-C or SIGTERM."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per sync.")
@click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bar or summary (for jobs).")
@click.pass_context
@handle_errors
def sync(
    ctx: click.Context,
    api_url: str,
    index_dir: Path,
    user_agent: str | None,
    namespaces: str | None,
    full: bool,
    every: int | None,
    as_json: bool,
    quiet: bool | None,
) -> None:
    """Create or update the index at --index from a live wiki, through its Action API.

    The first sync reads every page of the content namespaces (or catches up
    an index built from a dump); later ones read only what changed since the
    last. The new version is swapped in atomically with its sync state.
    """
    settings = Settings.load({"user_agent": user_agent, "quiet": quiet})
    setup_logging(ctx.obj["verbose"], settings.quiet)
    from indexer.index_model import build_models
    from indexer.sources.wiki_api import ApiPolicy, WikiApi
    from indexer.sync import sync_index

    api = WikiApi(api_url, settings.user_agent, ApiPolicy.from_settings(settings))
    if settings.bot_user and settings.bot_password:
        api.login(settings.bot_user, settings.bot_password)
    models = build_models(index_dir, settings, full)
    signal.signal(signal.SIGTERM, _interrupt)
    while True:
        report = sync_index(
            api,
            index_dir,
            models.embedder,
            models.model,
            settings,
            namespaces=parse_namespaces(namespaces),
            full=full,
            reader=models.reader,
        )
        full = False
        try:  # the version is committed: from here on, a stop is a clean one
            _report_sync(report, index_dir, api_url, as_json, settings.quiet)
            if every is None:
                return
            time.sleep(every)
        except KeyboardInterrupt:
            click.echo("stopped; the index is as the last sync left it", err=True)
            return


def _report_sync(report: Any, index_dir: Path, api_url: str, as_json: bool, quiet: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    elif not quiet:
        click.echo(
            f"synced {index_dir} with {api_url} ({report.mode}"
            + (f", changes since {report.since}" if report.since else "")
            + f", up to {report.until})\n"
            + changes(report.build)
        )


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (a job being stopped) ends a sync as Ctrl-C does: the index stays as it was."""
    raise KeyboardInterrupt
