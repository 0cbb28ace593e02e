"""Who may import whom (docs/design/architecture.md): the CLI → web → query → format ← build,
with core under all, and no cycles among a package's modules. import-linter checks
it against the contracts in pyproject.toml."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("adapt", "core", "index_format", "indexer", "query", "webapp", "wikisearch")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the packages in ``tree``, with the project's contract."""
    script = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", script], cwd=tree, env=env, capture_output=True, text=True)


def test_imports_run_one_way() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("query/uses_build.py", "from indexer.build import build_index", "Layers"),  # query reaching into the build
        ("indexer/uses_web.py", "import webapp", "Layers"),  # only the CLI's serve imports the web app
        (
            "indexer/uses_adapt.py",
            "from adapt.run import adapt_index",
            "Layers",
        ),  # adapting reads an index; no build stage
        ("adapt/uses_web.py", "import webapp", "Layers"),  # the web app and adaptation are strangers
        ("core/uses_format.py", "from index_format import Index", "Layers"),  # core is under everything
        ("core/errors.py", "from core import settings", "No import cycles"),  # settings imports errors
    ],
)
def test_an_import_against_the_direction_is_caught(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a") as out:
        out.write("\n" + line + "\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout


def test_no_module_is_too_long_to_read() -> None:
    """A module a newcomer reads at one sitting: at most ~400 lines."""
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text("utf-8").splitlines())) > 400
    }
    assert not long


def test_no_function_does_too_many_jobs_to_hold_at_once() -> None:
    """A function a reader holds at once: at most ~60 lines."""
    long = [
        f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (node.end_lineno or 0) - node.lineno >= 60
    ]
    assert not long


def test_only_the_spark_engine_imports_pyspark() -> None:
    """The default build, the command and the server load no Spark (an optional extra)."""
    code = (
        "import sys, wikisearch.cli, indexer.build, indexer.assemble, webapp; "
        "print('pyspark' in sys.modules, 'pandas' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.split() == ["False", "False"]
