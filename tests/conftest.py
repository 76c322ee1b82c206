"""Shared fixtures: the real data set when present, tiny generated data otherwise, and exported models."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from rnnexport.data.fetch import EXPECTED_LABELS, find_names_dir, validate_names_dir
from rnnexport.errors import DataError

REPO = Path(__file__).resolve().parents[1]
COMMITTED_MODEL_DIR = REPO / "exported"


def _real_names_dir() -> Path | None:
    """The library's own finder (rnnexport.data.fetch.find_names_dir), if it finds a complete data set."""
    try:
        folder = find_names_dir()
        validate_names_dir(folder)
    except DataError:
        return None
    return folder


@pytest.fixture(scope="session")
def real_names_dir() -> Path:
    folder = _real_names_dir()
    if folder is None:
        pytest.skip("the real names data set is not available (set RNNEXPORT_NAMES_DIR)")
    return folder


def write_tiny_names(folder: Path, per_label: int = 12, seed: int = 0) -> Path:
    """18 label files of random names with a label-specific flavour, so a few steps can learn something."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, label in enumerate(EXPECTED_LABELS):
        stem = label[:3]
        names = [stem + "".join(rng.choice("aeioulnrst") for _ in range(rng.randint(1, 6))) for _ in range(per_label)]
        (folder / f"{label}.txt").write_text("\n".join(names) + ("\nÉmile" if i == 5 else "") + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def tiny_names_dir(tmp_path: Path) -> Path:
    return write_tiny_names(tmp_path / "names")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A model trained for a few steps on tiny data, then exported and verified (once per session)."""
    from rnnexport.data.labelled import read_pairs
    from rnnexport.data.split import split_pairs
    from rnnexport.export.artifacts import export_artifacts
    from rnnexport.training.loop import train
    from rnnexport.training.recipes import recipe_config
    from rnnexport.training.reports import write_training_outputs

    root = tmp_path_factory.mktemp("tiny-model")
    names_dir = write_tiny_names(root / "names")
    split = split_pairs(read_pairs(names_dir))
    result = train(split, list(EXPECTED_LABELS), recipe_config("sgd-2024", iterations=30, batch_size=16, seed=1))
    model_dir = root / "exported"
    write_training_outputs(result, list(EXPECTED_LABELS), model_dir)
    verify_names = [p.name for p in split.train + split.held_out] + [
        "A",
        "Zz",
        "Abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
    ]
    export_artifacts(model_dir / "checkpoint.pt", model_dir, names=verify_names)
    return model_dir


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny exported model that a test may damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture(scope="session")
def committed_model_dir() -> Path:
    if not (COMMITTED_MODEL_DIR / "manifest.json").is_file():
        pytest.skip("exported/ holds no exported model yet (run `make export`)")
    return COMMITTED_MODEL_DIR


LOWERCASE = "abcdefghijklmnopqrstuvwxyz"
THREE_LABELS = ("east", "north", "west")


def write_three_label_csv(path: Path, per_label: int = 60, seed: int = 0) -> Path:
    """A generated CSV (columns surname, origin) of 3 labels with label-specific stems, in mixed case and with
    a few non-ASCII letters, for a model with a lowercase-only alphabet."""
    rng = random.Random(seed)
    stems = {"east": ("Ko", "Łu", "Zh"), "north": ("Sø", "Ha", "Bj"), "west": ("O’", "Mc", "Fi")}
    rows = ["surname,origin"]
    for label in THREE_LABELS:
        for _ in range(per_label):
            tail = "".join(rng.choice("aeioulnrstvk") for _ in range(rng.randint(2, 7)))
            rows.append(f"{rng.choice(stems[label])}{tail},{label}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def three_label_model_dir(tmp_path_factory) -> Path:
    """`rnnexport train --data CSV` with 3 labels, a lowercase-only alphabet and 12 hidden units (a few steps),
    then `rnnexport export` (verified), through the CLI; once per session."""
    from click.testing import CliRunner

    from rnnexport.cli.app import main

    root = tmp_path_factory.mktemp("three-labels")
    data = write_three_label_csv(root / "people.csv")
    model_dir = root / "model"
    train = ["train", "--data", str(data), "--name-column", "surname", "--label-column", "origin"]
    train += ["--alphabet", LOWERCASE, "--hidden-size", "12", "--iterations", "60", "--batch-size", "16"]
    runner = CliRunner()
    result = runner.invoke(main, [*train, "--out", str(model_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", "--out", str(model_dir), "--names", str(data), "--name-column", "surname"])
    assert result.exit_code == 0, result.output
    return model_dir
