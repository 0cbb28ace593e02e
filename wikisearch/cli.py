"""The ``wikisearch`` command. Library errors become one line and exit code 2
(``common.handle_errors``); each group of subcommands has its module."""

from __future__ import annotations

import click

from . import __version__
from .adapt_commands import adapt
from .build_commands import build, sync
from .model_commands import model
from .query_commands import evaluate_command, info, query, serve
from .spark_commands import assemble


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wikisearch")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Semantic search over Wikimedia documentation.

    \b
    wikisearch build data/dumps/mediawiki-docs.xml.bz2 --index data/indexes/mediawiki-docs
    wikisearch query --index data/indexes/mediawiki-docs "how do I let people upload images"
    wikisearch adapt --index data/indexes/mediawiki-docs
    wikisearch model info
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


for command in (build, sync, adapt, assemble, query, serve, evaluate_command, info, model):
    main.add_command(command)

if __name__ == "__main__":
    main()
