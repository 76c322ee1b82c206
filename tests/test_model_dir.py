"""rnnexport.model.folder: --model-dir, else $RNNEXPORT_MODEL_DIR, else the packaged model; never ./exported."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.model.folder import MODEL_DIR_ENV, find_model_dir, packaged_model_dir
from tests.conftest import COMMITTED_MODEL_DIR


def test_explicit_then_environment_then_packaged(monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "from-env"))
    assert find_model_dir(tmp_path / "given") == tmp_path / "given"
    assert find_model_dir() == tmp_path / "from-env"
    monkeypatch.setenv(MODEL_DIR_ENV, "")
    assert find_model_dir() == packaged_model_dir()


def test_the_packaged_model_is_the_committed_one(committed_model_dir):
    # In a checkout (editable install) rnnexport.default_model is the repository's exported/ itself.
    assert packaged_model_dir().resolve() == COMMITTED_MODEL_DIR.resolve()


def test_the_working_directory_plays_no_part(committed_model_dir, tiny_model_dir, monkeypatch, tmp_path):
    """A folder called exported/ in the working directory is ignored; the environment variable is not."""
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    (tmp_path / "exported").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["predict", "Smith", "--top-k", "18"])
    assert result.exit_code == 0, result.output  # the packaged model has 18 labels
    monkeypatch.setenv(MODEL_DIR_ENV, str(tiny_model_dir))
    result = CliRunner().invoke(main, ["predict", "Smith", "--top-k", "1"])
    assert result.exit_code == 0 and result.output.startswith("Smith: ")
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "nowhere"))
    result = CliRunner().invoke(main, ["predict", "Smith"])
    assert result.exit_code == 1 and f"{Path('nowhere')}" in result.output and "--model-dir" in result.output


def test_no_packaged_model_says_how_to_fix(monkeypatch):
    from rnnexport.model import folder as model_dir

    monkeypatch.setattr(model_dir, "DEFAULT_MODEL_PACKAGE", "rnnexport.no_such_model")
    with pytest.raises(model_dir.ArtifactError, match="pass --model-dir DIR or set RNNEXPORT_MODEL_DIR"):
        model_dir.find_model_dir()
