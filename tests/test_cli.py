"""The command line as a user meets it: one clear line and exit code 2 for
every bad input, no traceback, and the existing index untouched."""

from __future__ import annotations

import bz2
import json
import shutil
from pathlib import Path

import pytest

from index_format import Index
from index_format.manifest import MANIFEST
from tests.conftest import DUMPS, run_cli, shared


@pytest.fixture
def served_index(docs_index: Path, tmp_path: Path) -> Path:
    """A private copy of the real-model docs index, symlink layout included."""
    parent = tmp_path / "indexes"
    shutil.copytree(docs_index.parent, parent, symlinks=True)
    return parent / docs_index.name


def snapshot(index: Path) -> tuple[str, bytes]:
    return index.resolve().name, (index / MANIFEST).read_bytes()


def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _truncated(tmp_path: Path) -> Path:
    data = (DUMPS / "mediawiki-docs.xml.bz2").read_bytes()
    return _bad(tmp_path, "cut.xml.bz2", data[: len(data) // 2])


BAD_DUMPS = [
    ("missing file", lambda t: t / "nope.xml.bz2", "no such file"),
    (
        "not XML",
        lambda t: _bad(t, "x.xml", b"\x89PNG\r\n\x1a\n binary"),
        "not a MediaWiki XML export",
    ),
    (
        "HTML page",
        lambda t: _bad(t, "x.xml", b"<!DOCTYPE html><html></html>"),
        "expected <mediawiki>, saw <html>",
    ),
    ("empty dump", lambda t: _bad(t, "x.xml", b""), "the dump is empty"),
    (
        "unknown schema",
        lambda t: _bad(t, "x.xml", b'<mediawiki version="0.42"><siteinfo/></mediawiki>'),
        "unknown export schema '0.42'",
    ),
    ("broken 7z", lambda t: shared("dumps/formats/article-pyrus.xml_invalid.7z"), "not a 7z file"),
    ("truncated bz2", _truncated, "truncated or corrupt"),
    (
        "zero pages in namespaces",
        lambda t: DUMPS / "mediawiki-docs.xml.bz2",
        "no pages to index in namespaces 6",
    ),
    (
        "export with no pages",
        lambda t: _bad(
            t,
            "x.xml",
            b'<mediawiki version="0.10"><siteinfo><base>https://w.org/wiki/Main</base></siteinfo></mediawiki>',
        ),
        "no pages to index",
    ),
]


@pytest.mark.model
@pytest.mark.parametrize(("case", "make", "message"), BAD_DUMPS, ids=[b[0] for b in BAD_DUMPS])
def test_bad_dump_one_line_exit_2_index_untouched(
    served_index: Path, tmp_path: Path, case: str, make, message: str
) -> None:
    before = snapshot(served_index)
    extra = ["--namespaces", "6"] if case == "zero pages in namespaces" else []
    result = run_cli("build", str(make(tmp_path)), "--index", str(served_index), "--quiet", *extra)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(served_index) == before
    assert not [p for p in served_index.parent.iterdir() if ".building-" in p.name]
    ok = run_cli("query", "--index", str(served_index), "--json", "upload files")
    assert ok.returncode == 0 and json.loads(ok.stdout)["results"]


@pytest.mark.model
def test_index_of_another_model_or_format_is_refused(served_index: Path) -> None:
    manifest_path = served_index / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    dump = str(DUMPS / "mediawiki-docs.xml.bz2")
    for changed, message in [
        (
            {
                **manifest,
                "model": {**manifest["model"], "name": "some-other-model", "sha256": "f" * 64},
            },
            "built with model some-other-model",
        ),
        ({**manifest, "format_version": 0}, "index format version 0"),
    ]:
        manifest_path.write_text(json.dumps(changed))
        result = run_cli("build", dump, "--index", str(served_index), "--quiet", "--max-pages", "3")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert json.loads(manifest_path.read_text()) == changed  # nothing was rewritten


def test_query_on_a_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    result = run_cli("query", "--index", str(tmp_path / "none"), "anything")
    assert result.returncode == 2
    assert "wikisearch build" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "",
            ],
            "query is empty",
        ),
        (["x" * 301], "query is too long"),
        (["ok", "--limit", "0"], "limit must be between 1 and 50"),
        (["ok", "--offset", "-1"], "offset must be between 0"),
    ],
)
def test_bad_query_is_refused_before_loading_anything(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("query", "--index", str(tmp_path / "none"), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_non_index_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "home"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = run_cli("build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(target), "--quiet")
    assert result.returncode == 2 and "not a wikisearch index" in result.stderr
    assert (target / "notes.txt").read_text() == "mine"


def test_bad_environment_setting_is_one_line(tmp_path: Path) -> None:
    result = run_cli("query", "--index", str(tmp_path), "x", env={"WIKISEARCH_MAX_LIMIT": "lots"})
    assert result.returncode == 2 and "WIKISEARCH_MAX_LIMIT='lots': expected an integer" in result.stderr


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("build", "query", "model", "info"):
        assert command in result.stdout


def test_every_default_an_option_names_is_the_settings_own() -> None:
    """An option whose help names a default names the setting behind it, with Settings' value."""
    import re

    import click

    from core.settings import FIELDS, variable
    from wikisearch.cli import main

    defaults = {variable(f.name): str(f.default) for f in FIELDS}

    def commands(group: click.Group) -> list[click.Command]:
        found: list[click.Command] = []
        for command in group.commands.values():
            found += commands(command) if isinstance(command, click.Group) else [command]
        return found

    named = 0
    for command in commands(main):
        for option in command.params:
            said = " ".join((getattr(option, "help", None) or "").split())
            for value, name in re.findall(r"\(default ([^;)]+); (WIKISEARCH_\w+)\)", said):
                assert defaults[name] == value, (command.name, option.name)
                named += 1
            assert not re.search(r"\(default[: ]+[\w.\[\]-]+\)", said), (command.name, option.name, said)
    assert named >= 10


def test_bz2_and_plain_xml_build_the_same_pages(tmp_path: Path) -> None:
    """The format is sniffed from content, so an uncompressed copy works the same."""
    plain = tmp_path / "docs.xml"
    plain.write_bytes(bz2.decompress((DUMPS / "mediawiki-docs.xml.bz2").read_bytes()))
    from indexer.sources.dump import DumpSource

    assert [p.title for p in DumpSource(plain)] == [p.title for p in DumpSource(DUMPS / "mediawiki-docs.xml.bz2")]


def test_the_model_export_is_kept_beside_the_index_or_where_configured(
    docs_index: Path, one_encoder_export: Path, tmp_path: Path
) -> None:
    """By default a build keeps its model's ONNX export in .wikisearch-cache beside
    the index; WIKISEARCH_ENCODER_CACHE (set for the whole suite) puts it there instead."""
    model = Index.open(docs_index).manifest.model.sha256[:16]
    assert [p.name.split("-")[1] for p in (docs_index.parent / ".wikisearch-cache").glob("onnx-*")] == [model]
    built = run_cli("build", str(DUMPS / "mediawiki-docs.xml.bz2"), "--index", str(tmp_path / "i"), "--max-pages", "3")
    assert built.returncode == 0, built.stderr
    assert not (tmp_path / ".wikisearch-cache").exists()
    assert model in [p.name.split("-")[1] for p in one_encoder_export.glob("onnx-*")]  # adapted models' too
