"""``wikisearch model``: the embedding models wikisearch knows, and their provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.settings import Settings

from .adapt_commands import held_back_text
from .common import handle_errors

if TYPE_CHECKING:
    from index_format import AdaptRecipe


@click.group()
def model() -> None:
    """The embedding models wikisearch knows, and their provenance."""


@model.command("info")
@click.argument("name", required=False)
@click.option("--model", "model_name", help="The model (as NAME): a registry name or a local directory.")
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), help="The model of this index, and its adaptation."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--allow-unvetted-model", is_flag=True, help="Check a model outside the registry.")
@handle_errors
def model_info(
    name: str | None, model_name: str | None, index_dir: Path | None, as_json: bool, allow_unvetted_model: bool
) -> None:
    """What model, which licence, verified or not (default: the configured model)."""
    from core.models import resolve_model

    if index_dir is not None:
        _index_model(index_dir, as_json)
        return
    settings = Settings.load()
    name = name or model_name or settings.model
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
            ("install", card.install),
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
            ("measured here", card.measured),
        ]
    else:
        lines.append(("provenance", "unvetted: not in the registry"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key.ljust(width)}  {value}")


def _bounds(recipe: AdaptRecipe) -> str:
    """The recipe's token and page bounds, where its manifest records them (0: an older one)."""
    said = f" of {recipe.max_tokens} tokens" if recipe.max_tokens else ""
    return said + (f" from at most {recipe.max_pages} pages" if recipe.max_pages else "")


def _index_model(index_dir: Path, as_json: bool) -> None:
    """The model an index was embedded with; for an adapted one, what it was adapted from and how."""
    from index_format import MODEL, arithmetic, as_dict, existing_manifest

    manifest = existing_manifest(index_dir)
    if manifest is None:
        raise click.BadParameter(f"{index_dir}: no index here", param_hint="--index")
    made = manifest.adaptation
    if as_json:
        click.echo(
            json.dumps({"model": as_dict(manifest.model), "adaptation": as_dict(made) if made else None}, indent=2)
        )
        return
    lines = [
        ("model", manifest.model.name),
        ("sha256", manifest.model.sha256),
        ("licence", manifest.model.license),
        ("OSAID", f"{manifest.model.osaid}: {manifest.model.osaid_reason}"),
    ]
    if made is None:
        lines.append(("adapted", "no (wikisearch adapt --index DIR adapts it to this wiki)"))
    else:
        recipe = made.recipe
        lines += [
            ("adapted from", f"{made.base.name}, sha256 {made.base.sha256} (verified: {made.base.verified})"),
            ("weights", f"{index_dir / MODEL / 'model.safetensors'}, sha256 {made.weights_sha256}"),
            (
                "side",
                "queries only: the adapted model reads them, the chunks keep the base model's vectors"
                if manifest.queries_adapted
                else "the whole model: it embeds the chunks and reads the queries",
            ),
            ("data", made.data),
            ("pairs", ", ".join(f"{n} {kind}" for kind, n in sorted(made.pairs.items()))),
            (
                "recipe",
                f"{recipe.loss}; {recipe.epochs} epochs, lr {recipe.learning_rate}, batch {recipe.batch_size}, "
                f"warm-up {recipe.warmup_share:.0%}, at most {recipe.max_pairs} pairs{_bounds(recipe)}, "
                f"{recipe.max_seq_length} tokens, seed {recipe.seed}, {arithmetic(recipe.precision)}",
            ),
            ("training", f"{made.steps} steps in {made.training_s:.0f} s, {made.adapted_at}"),
            ("held back", held_back_text(made)),
        ]
        if made.eval_before is not None and made.eval_after is not None:
            lines.append(("judged", f"nDCG@10 {made.eval_before:.4f} → {made.eval_after:.4f}"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key.ljust(width)}  {value}")


@model.command("list")
def model_list() -> None:
    """The vetted models: dimensions, licence, OSAID, what was measured here, how to install them."""
    from core.models import REGISTRY

    for card in REGISTRY.values():
        click.echo(f"{card.name}  {card.dimensions} dimensions  {card.weights_license}  OSAID {card.osaid}")
        click.echo(f"  {card.summary}\n  measured here: {card.measured}\n  install: {card.install}")
