"""Every command, given bad options on purpose: the right exit code, one `Error:` line, no traceback, no file
created or changed (in the working folder or the model folder). Commands come from click's registry, so a new
command fails here until its bad options are listed."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main

ZEROS = "0" * 64

# command -> bad argument lists ("MODEL" is replaced by the model folder, "CSV" by a valid input file).
BAD_OPTIONS: dict[str, list[list[str]]] = {
    "data": [["--from", "missing-folder"], ["--dest", "CSV"]],
    "train": [
        ["--iterations", "0"], ["--iterations", "-5"], ["--epochs", "0"], ["--epochs", "-3"], ["--epochs", "nan"],
        ["--lr", "nan"], ["--lr", "inf"], ["--lr", "-0.1"], ["--lr", "0"], ["--lr", "1e30"], ["--lr", "11"],
        ["--batch-size", "0"], ["--weight-decay", "-1"], ["--weight-decay", "nan"], ["--weight-decay", "0.5"],
        ["--threads", "0"], ["--seed", "-1"], ["--class-weight-power", "nan"], ["--clip-grad-norm", "-1"],
        ["--recipe", "nope"], ["--names-dir", "missing-folder"], ["--alphabet", "aa"], ["--alphabet", "é"],
    ],
    "evaluate": [["--checkpoint", "missing.pt"], ["--checkpoint", "CSV"], ["--checkpoint", "MODEL/checkpoint.pt",
                 "--names-dir", "missing-folder"]],
    "export": [
        ["--checkpoint", "MODEL/checkpoint.pt", "--out", "MODEL", "--atol", "-1"],
        ["--checkpoint", "MODEL/checkpoint.pt", "--out", "MODEL", "--atol", "nan"],
        ["--checkpoint", "MODEL/checkpoint.pt", "--out", "MODEL", "--atol", "inf"],
        ["--checkpoint", "CSV", "--out", "MODEL"],
    ],
    "verify": [
        ["--model-dir", "MODEL", "--atol", "-1"], ["--model-dir", "MODEL", "--atol", "nan"],
        ["--model-dir", "MODEL", "--runtime", "nope"], ["--model-dir", "missing-folder"],
        ["--model-dir", "MODEL", "--expect-manifest-sha256", "xyz"],
        ["--model-dir", "MODEL", "--expect-manifest-sha256", ZEROS],
        ["--model-dir", "MODEL", "--expect-manifest-sha256", ZEROS, "--no-verify-hash"],
    ],
    "classify": [
        ["CSV", "--model-dir", "MODEL", *options]
        for options in (
            ["--top-k", "0"], ["--top-k", "99"], ["--threads", "0"], ["--batch-size", "0"], ["--chunk-rows", "0"],
            ["--atol", "nan"], ["--atol", "-1"], ["-o", "CSV"], ["--encoding", "nope"], ["--workers", "0"],
            ["--column", "nope"], ["--runtime", "nope"], ["--expect-manifest-sha256", ZEROS],
            ["-o", "missing-folder/out.csv"], ["-o", "."],
        )
    ]
    + [["missing.csv", "--model-dir", "MODEL"], ["CSV", "--model-dir", "missing-folder"]],
    "predict": [
        ["Smith", "--model-dir", "MODEL", "--top-k", "0"], ["Smith", "--model-dir", "MODEL", "--top-k", "99"],
        ["Smith", "--model-dir", "MODEL", "--expect-manifest-sha256", ZEROS], ["--model-dir", "MODEL"],
        ["Smith", "--model-dir", "missing-folder"],
    ],
    "model-card": [
        ["--model-dir", "MODEL"], ["--model-dir", "MODEL", "--cv-report", "missing.json"],
        ["--model-dir", "MODEL", "--cv-report", "CSV", "-o", "card.md"],
        ["--model-dir", "missing-folder", "--cv-report", "CSV", "-o", "card.md"],
    ],
    "bench": [["--rows", "0"], ["--rows", "-1"], ["--model-dir", "MODEL", "--expect-manifest-sha256", ZEROS]],
    "bench-train": [["--names-dir", "missing-folder"]],
}  # fmt: skip


def test_every_command_has_bad_options_listed():
    assert set(BAD_OPTIONS) == set(main.commands)


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: its mtime and SHA-256."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


CASES = [(command, args) for command, cases in BAD_OPTIONS.items() for args in cases]


@pytest.mark.parametrize(("command", "args"), CASES, ids=[f"{c}-{' '.join(a)}" for c, a in CASES])
def test_bad_options_fail_cleanly(tmp_path, tiny_model_dir, monkeypatch, command, args):
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    (tmp_path / "in.csv").write_text("name\nSmith\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNEXPORT_NAMES_DIR", str(tmp_path / "no-names"))
    monkeypatch.delenv("RNNEXPORT_MANIFEST_SHA256", raising=False)
    replaced = [arg.replace("MODEL", "model").replace("CSV", "in.csv") for arg in args]
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, [command, *replaced])
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    stderr = result.stderr
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, stderr
    if result.exit_code == 2:  # click's usage error: Usage: ... then Error: ...
        assert stderr.startswith("Usage:"), stderr
    else:
        assert stderr.strip() == error_lines[0], stderr
    assert snapshot(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "model"]


# Values the library refuses only after click (against the model, or parsed by the library): still usage errors.
LIBRARY_REFUSED = [
    ["classify", "CSV", "--model-dir", "MODEL", "--top-k", "99"],
    ["classify", "CSV", "--model-dir", "MODEL", "--encoding", "nope"],
    ["classify", "CSV", "--model-dir", "MODEL", "--encoding", "hex"],
    ["classify", "CSV", "--model-dir", "MODEL", "--delimiter", "::"],
    ["classify", "CSV", "-o", "out.csv", "--model-dir", "MODEL", "--engine", "dask", "--blocksize", "abc"],
    ["classify", "CSV", "-o", "out.csv", "--model-dir", "MODEL", "--engine", "dask", "--blocksize", "0"],
    ["classify", "CSV", "-o", "out.csv", "--model-dir", "MODEL", "--engine", "dask", "--blocksize", "1e400"],
    ["classify", "CSV", "-o", "out.csv", "--model-dir", "MODEL", "--engine", "dask", "--scheduler", "nope"],
    ["classify", "CSV", "-o", "out.csv", "--model-dir", "MODEL", "--engine", "dask", "--top-k", "99"],
    ["predict", "Smith", "--model-dir", "MODEL", "--top-k", "99"],
    ["export", "--checkpoint", "MODEL/checkpoint.pt", "--out", "MODEL", "--prior-shift", "1e9"],
]


@pytest.mark.parametrize("args", LIBRARY_REFUSED, ids=" ".join)
def test_option_values_the_library_refuses_are_usage_errors(tmp_path, tiny_model_dir, monkeypatch, args):
    if "dask" in args:
        pytest.importorskip("distributed")
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    (tmp_path / "in.csv").write_text("name\nSmith\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [arg.replace("MODEL", "model").replace("CSV", "in.csv") for arg in args])
    assert result.exit_code == 2, result.output
    options = ("--top-k", "--encoding", "--delimiter", "--blocksize", "--scheduler", "--prior-shift")
    option = next(arg for arg in args if arg in options)
    assert result.stderr.startswith("Usage:") and "Error: " in result.stderr and option in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "model"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--lr", "11"], "--lr must be more than 0 and at most 10; got 11.0"),
        (["--epochs", "0"], "--epochs must be more than 0"),
        (["--batch-size", "4", "--iterations", "0"], "--iterations must be at least 1; got 0"),
        (["--clip-grad-norm", "-1"], "--clip-grad-norm must be a finite number >= 0"),
        (["--lr", "5", "--weight-decay", "0.5"], "--lr times --weight-decay must be below 1"),
        (["--calibration-holdback", "1"], "--calibration-holdback must be at least 0 and below 1; got 1.0"),
        (["--case-upper", "2"], "--case-upper and --letter-substitution are probabilities"),
        (["--prior-shift", "11"], "--prior-shift must be between -10 and 10"),
        (["--hidden-size", "99999999"], "--hidden-size must be at most 8192; got 99999999"),
        (["--lr", "-1"], "--lr must be more than 0 and at most 10; got -1.0"),
    ],
)
def test_train_range_errors_name_the_option_at_fault(tmp_path, monkeypatch, args, named):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["train", *args, "--out", "model"])
    assert result.exit_code == 2 and named in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []
