"""``assemble``: the shards of a build on Apache Spark (``build --engine spark``) turned
into an index."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.settings import LEXICAL_ENGINES, VECTOR_INDEXES, Settings

from .common import default_of, handle_errors, print_summary, setup_logging

if TYPE_CHECKING:
    pass


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
