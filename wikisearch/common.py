"""What every command shares: one error line and exit code 2 instead of a
traceback, logging, and option parsing."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.errors import WikisearchError
from core.settings import FIELDS, variable

if TYPE_CHECKING:
    from index_format import BuildReport

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def default_of(setting: str) -> str:
    """An option's help names its default and variable as ``Settings`` declares them (no second copy)."""
    default = next(f.default for f in FIELDS if f.name == setting)
    return f"(default {default}; {variable(setting)})"


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


def setup_logging(verbose: int, quiet: bool, base: int = logging.WARNING) -> None:
    level = base if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    if quiet and not verbose:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build it picked is not news
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_namespaces(value: str | None) -> set[int] | None:
    if value is None or value.strip() == "":
        return None
    try:
        return {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise click.BadParameter("expected comma-separated namespace numbers, e.g. 0,4,12") from None


def print_summary(report: BuildReport, index_dir: Path | None) -> None:
    """The lines a build prints when it is done."""
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items())) or "none"
    click.echo(
        f"indexed {report.pages} pages, {report.chunks} chunks, {report.aliases} redirects as aliases "
        f"into {index_dir} in {report.duration_s:.1f}s\n{changes(report)}\nskipped: {skipped}"
    )


def changes(report: BuildReport) -> str:
    """What a build or sync changed, and what it embedded or reused."""
    return (
        f"pages: {report.pages_added} added, {report.pages_changed} changed, "
        f"{report.pages_unchanged} unchanged, {report.pages_removed} removed; "
        f"chunks: {report.chunks_embedded} embedded, {report.chunks_reused} reused; "
        f"answer sentences: {report.sentences_embedded} embedded, {report.sentences_reused} reused"
    )
