"""``build --engine spark`` and ``assemble``: the build on Apache Spark, and its
shards turned into an index. pyspark is imported only here, only when asked."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.errors import ModelError
from core.settings import LEXICAL_ENGINES, VECTOR_INDEXES, Settings

from .common import default_of, handle_errors, print_summary, setup_logging

if TYPE_CHECKING:
    from index_format import BuildReport


def spark_build(
    dumps: list[Path],
    index_dir: Path | None,
    shards_out: Path | None,
    settings: Settings,
    kind: str,
    namespaces: set[int] | None,
    max_pages: int | None,
    base_url: str | None,
    replace_index: bool,
    preset: str | None = None,
    fields: dict[str, str] | None = None,
) -> BuildReport | None:
    """Run the build on Spark, with the model a serial build of --index would embed with.
    With --shards-out the shards stay there (and a later run of the same model reuses
    their vectors, else the index's); otherwise they go to a scratch directory beside
    the index, which is assembled from them and the scratch removed."""
    from core.onnx_encoder import cache_beside, encoder_cache, prepare_encoder
    from index_format import existing_manifest
    from indexer.assemble import assemble_index, previous_vectors
    from indexer.index_model import configured_model
    from indexer.shards import CHUNKS, SENTENCES, current, read_manifest
    from indexer.spark_build import Previous, build_shards

    if index_dir is None and shards_out is None:
        raise click.BadParameter("give --index, --shards-out or both", param_hint="--index")
    if settings.build_runtime != "onnx":
        raise click.BadParameter("the spark engine encodes with ONNX Runtime (fp32): --runtime onnx")
    if index_dir is not None and not replace_index:
        existing_manifest(index_dir)  # a non-index directory is refused before Spark starts
    resolved = configured_model(settings)
    home = (index_dir or shards_out or Path(".")).absolute()
    encoder = prepare_encoder(resolved, encoder_cache(home, settings.encoder_cache))
    if encoder is None:
        raise ModelError(f"{resolved.info().name}: no ONNX encoder could be exported; the spark engine needs one")
    model = replace(resolved.info(), dimensions=resolved.card.dimensions if resolved.card else 0)
    scratch = None if index_dir is None else cache_beside(index_dir) / f"spark-{index_dir.name}-{os.getpid()}"
    previous = Previous()
    if shards_out is not None:
        root = shards_out
        last = current(root)
        if last is not None and read_manifest(last).model.sha256 == model.sha256:  # not another model's vectors
            previous = Previous(str(last / CHUNKS), str(last / SENTENCES) if settings.answer_sentences else None)
    else:
        assert scratch is not None
        root = scratch / "shards"
    if previous.chunks is None and index_dir is not None and scratch is not None:
        previous = Previous(*previous_vectors(index_dir, scratch / "previous", model.sha256))
    try:
        build_shards(
            dumps,
            root,
            settings,
            model,
            encoder,
            resolved.max_seq_length,
            master=settings.spark_master,
            kind=kind,
            namespaces=namespaces,
            max_pages=max_pages,
            base_url=base_url,
            preset=preset,
            fields=fields,
            previous=previous,
        )
        if index_dir is None:
            if not settings.quiet:
                click.echo(f"published shards in {root} (wikisearch assemble {root} --index DIR)")
            return None
        return assemble_index(root, index_dir, settings, encoder, replace_index)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@click.command()
@click.argument("shards", type=click.Path(path_type=Path))
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory to write.")
@click.option("--vector-index", type=click.Choice(VECTOR_INDEXES), help=f"FAISS index {default_of('vector_index')}.")
@click.option(
    "--lexical-engine", type=click.Choice(LEXICAL_ENGINES), help=f"Lexical leg {default_of('lexical_engine')}."
)
@click.option("--replace", is_flag=True, help="Replace an index of another model at --index.")
@click.option("-q", "--quiet", is_flag=True, default=None, help="No summary.")
@click.pass_context
@handle_errors
def assemble(
    ctx: click.Context,
    shards: Path,
    index_dir: Path,
    vector_index: str | None,
    lexical_engine: str | None,
    replace: bool,
    quiet: bool | None,
) -> None:
    """Turn the shards a Spark build published in SHARDS into the index at --index."""
    settings = Settings.load({"vector_index": vector_index, "lexical_engine": lexical_engine, "quiet": quiet})
    setup_logging(ctx.obj["verbose"], settings.quiet)
    from core.models import resolve_model
    from core.onnx_encoder import encoder_cache, prepare_encoder
    from indexer.assemble import assemble_index
    from indexer.shards import current, read_manifest

    version = current(shards)
    encoder = None
    if version is not None:
        made = read_manifest(version)
        resolved = resolve_model(made.model.name, settings.allow_unvetted_model)
        encoder = prepare_encoder(resolved, encoder_cache(index_dir, settings.encoder_cache))
    report = assemble_index(shards, index_dir, settings, encoder, replace)
    if not settings.quiet:
        print_summary(report, index_dir)
