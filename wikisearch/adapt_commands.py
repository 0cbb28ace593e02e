"""``wikisearch adapt``: adapt the embedding model to the wiki an index holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.settings import Settings

from .common import default_of, handle_errors, setup_logging

if TYPE_CHECKING:
    from adapt.run import Outcome
    from index_format import Adaptation


def judge_with(qrels: Path, corpus: str, settings: Settings) -> Callable[[Path], float]:
    """hybrid nDCG@10 of an index directory on the judgements of ``corpus`` in ``qrels``."""
    from query.catalog import Catalog
    from query.evaluate import evaluate, load_qrels
    from query.ranking import Ranking

    judgements = load_qrels(qrels, corpus)
    if not judgements:
        raise click.BadParameter(f"{qrels} has no judgements for corpus {corpus!r}", param_hint="--corpus")

    def judge(index_dir: Path) -> float:
        catalog = Catalog({corpus: index_dir}, settings)
        try:
            served = catalog.get(corpus)
            result = evaluate(served.index, served.embedder, judgements, Ranking.from_settings(settings))
            return float(result["metrics"]["ndcg@10"])
        finally:
            catalog.close()

    return judge


def held_back_text(made: Adaptation) -> str:
    """The held-back scores, in all and by pair kind."""
    kinds = "; ".join(f"{kind} {b:.4f} → {a:.4f}" for kind, (b, a) in sorted(made.held_back_by_kind.items()))
    sure = f", gain ≥ {made.held_back_gain_low:+.4f} at 95 %" if made.held_back_gain_low is not None else ""
    return (
        f"{made.held_back_pairs} pairs of {made.held_back_pages or '?'} pages: {made.metric} "
        f"{made.held_back_before:.4f} → {made.held_back_after:.4f}{sure}" + (f" ({kinds})" if kinds else "")
    )


def run_adaptation(
    index_dir: Path, settings: Settings, qrels: Path | None, corpus: str | None, force: bool = False
) -> Outcome:
    """Adapt, then say what was learnt and whether the index switched."""
    from adapt.run import adapt_index

    judge = judge_with(qrels, corpus or index_dir.name, settings) if qrels else None
    outcome = adapt_index(index_dir, settings, judge=judge, force=force)
    if settings.quiet:
        return outcome
    made = outcome.adaptation
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(made.pairs.items()))
    click.echo(
        f"adapted what reads queries of {made.base.name} "
        f"on {sum(made.pairs.values())} pairs ({kinds}) in {made.steps} steps, "
        f"{made.training_s:.0f} s; held back (other pages): {held_back_text(made)}"
    )
    for query, old, new in outcome.learnt:
        click.echo(f"  learnt: {query[:70]!r}: its passage from rank {old} to {new}")
    if outcome.kept:
        click.echo(f"switched: the adapted model reads the queries, the chunks keep their vectors: {outcome.reason}")
    else:
        click.echo(f"kept the model it had: {outcome.reason}")
    return outcome


@click.command()
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="The index to adapt.")
@click.option(
    "--eval",
    "qrels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Judgements (JSON Lines): switch only if the adapted index scores at least as well on them.",
)
@click.option("--corpus", help="The corpus of the index in --eval (default: the index directory's name).")
@click.option("--max-pairs", type=click.IntRange(min=1), help=f"Most training pairs {default_of('adapt_max_pairs')}.")
@click.option("--epochs", type=click.IntRange(min=1), help=f"Passes over the pairs {default_of('adapt_epochs')}.")
@click.option("--seed", type=int, help=f"Seed of the sample, batches and dropout {default_of('adapt_seed')}.")
@click.option(
    "--min-gain",
    type=float,
    help=f"Held-back MRR@10 rise needed to switch, at 95 % {default_of('adapt_min_gain')}.",
)
@click.option("--force", is_flag=True, help="Switch whatever the held-back pages say (--eval judgements still decide).")
@click.option(
    "--undo",
    is_flag=True,
    help="Go back to the model the index was adapted from: it reads the queries again (nothing is re-embedded).",
)
@click.option("--allow-unvetted-model", is_flag=True, default=None, help="Adapt a model outside the registry.")
@click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bar or summary.")
@click.pass_context
@handle_errors
def adapt(
    ctx: click.Context,
    index_dir: Path,
    qrels: Path | None,
    corpus: str | None,
    max_pairs: int | None,
    epochs: int | None,
    seed: int | None,
    min_gain: float | None,
    force: bool,
    undo: bool,
    allow_unvetted_model: bool | None,
    quiet: bool | None,
) -> None:
    """Adapt what reads the queries of the index at --index to its wiki, from its
    own pages, and switch to it if it is surely better on held-back pages (by
    --min-gain). The chunks keep their vectors: nothing is re-embedded, so the
    time does not grow with the wiki.

    It reads the index, not the source it was built from: any index can be
    adapted, a synced one too. The index is relabelled atomically, or not at
    all. --undo goes back to the stock model the same way.
    """
    settings = Settings.load(
        {
            "adapt_max_pairs": max_pairs,
            "adapt_epochs": epochs,
            "adapt_seed": seed,
            "adapt_min_gain": min_gain,
            "allow_unvetted_model": allow_unvetted_model,
            "quiet": quiet,
        }
    )
    setup_logging(ctx.obj["verbose"], settings.quiet)
    if undo:
        if qrels or force:
            raise click.UsageError("--undo goes back to the model the index was adapted from: no --eval or --force")
        from adapt.run import unadapt_index

        name = unadapt_index(index_dir, settings)
        if not settings.quiet:
            click.echo(f"back to {name}: it reads the queries again (nothing to re-embed), and the adapted one is gone")
        return
    run_adaptation(index_dir, settings, qrels, corpus, force)
