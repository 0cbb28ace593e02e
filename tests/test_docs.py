"""Docs that cannot drift: generated parts are current, links resolve, every page says what it is for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GENERATED = ["docs/reference/settings.md", "docs/reference/cli.md", "docs/reference/model.md"]
PAGES = sorted(p.relative_to(ROOT) for p in (ROOT / "docs").rglob("*.md"))


def test_generated_tables_and_help_match_the_code() -> None:
    """The settings tables come from the declarations, the CLI page from --help (`make docs` rewrites them)."""
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", *GENERATED], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr + "\nrun `make docs`"


@pytest.mark.parametrize("page", [Path("README.md"), *PAGES], ids=str)
def test_every_relative_link_resolves(page: Path) -> None:
    text = (ROOT / page).read_text()
    broken = [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        if not re.match(r"^[a-z]+:", target) and not (ROOT / page.parent / target).exists()
    ]
    assert not broken


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_page_says_at_its_top_what_it_is_for(page: Path) -> None:
    lines = (ROOT / page).read_text().splitlines()
    assert lines[0].startswith("# ") and lines[2].startswith("*"), lines[:3]
