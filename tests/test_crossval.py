"""rnnexport.crossval and `rnnexport evaluate --cv`: the crc32 folds, the per-τ frontier, the CLI tables."""

import json

from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.data.fetch import EXPECTED_LABELS
from rnnexport.data.labelled import read_pairs
from rnnexport.data.split import fold_of, is_held_out
from rnnexport.training.crossval import fold_split
from rnnexport.training.recipes import RECIPES


def test_folds_partition_the_pairs_and_fold_zero_is_the_held_out_split(tiny_names_dir):
    pairs = read_pairs(tiny_names_dir)
    held_out = [fold_split(pairs, k, 10).held_out for k in range(10)]
    assert sorted(p.name + p.label for fold in held_out for p in fold) == sorted(p.name + p.label for p in pairs)
    assert held_out[0] == [p for p in pairs if is_held_out(p)]
    assert all(fold_of(p) == 3 for p in held_out[3])


def test_evaluate_cv_prints_the_tables_and_writes_the_report(tiny_names_dir, tmp_path):
    report = tmp_path / "cv.json"
    args = ["evaluate", "--cv", "4", "--names-dir", str(tiny_names_dir), "--folds", "0,1", "--jobs", "2",
            "--report", str(report), "--hidden-size", "16", "--epochs", "3"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 folds of 4" in result.output and "UPPER acc" in result.output and "precision" in result.output
    summary = json.loads(report.read_text())
    assert summary["config"]["hidden_size"] == 16 and summary["config"]["epochs"] == 3  # what was evaluated
    assert summary["data"] == str(tiny_names_dir) and summary["labels"] == sorted(EXPECTED_LABELS)
    assert summary["folds"] == [0, 1] and summary["prior_shift"] == RECIPES["default"].prior_shift
    assert set(summary["frontier"]) >= {"0.0", "0.5", "1.0", str(RECIPES["default"].prior_shift)}
    assert set(summary["pooled"]["per_label"]) == set(EXPECTED_LABELS)
    assert sum(row["support"] for row in summary["pooled"]["per_label"].values()) == sum(
        len(fold_split(read_pairs(tiny_names_dir), k, 4).held_out) for k in (0, 1)
    )
    assert "answers of the shipped model" in result.output and "answers of the sibling" in result.output
    held_out = sum(row["support"] for row in summary["pooled"]["per_label"].values())
    for model in ("shipped", "scorer"):  # the model that ships, and the sibling that scored the hold-back
        answers = summary["answers"][model]
        assert answers["pooled"]["selective"]["curve"]["names"] == held_out
        assert answers["selective"][0] == {"min_probability": 0.0, "answered": 1.0,
                                           "accuracy": answers["selective"][0]["accuracy"]}  # fmt: skip
        for level in ("0.80", "0.90", "0.95"):
            for method in ("per_label", "marginal"):
                counts = answers["pooled"]["sets"][level][method]
                assert sum(counts["names"]) == held_out and sum(counts["covered"]) <= held_out
                assert answers["sets"][level][method]["mean_size"] >= 1  # the top label is always in the set
    assert set(summary["answers"]["shipped"]["case_sets"]) == {"lower", "upper"}


def test_evaluate_cv_refuses_a_fold_out_of_range(tiny_names_dir):
    result = CliRunner().invoke(main, ["evaluate", "--cv", "3", "--names-dir", str(tiny_names_dir), "--folds", "5"])
    assert result.exit_code != 0 and "folds in [0, 3)" in result.output


def test_bench_targets_are_judged_on_the_cross_validation_means(tiny_names_dir):
    from rnnexport.bench.train import TARGETS, target_rows
    from rnnexport.training.crossval import cross_validate
    from rnnexport.training.recipes import recipe_config

    pairs = read_pairs(tiny_names_dir)
    config = recipe_config("default", iterations=10, batch_size=8)
    summary = cross_validate(pairs, list(EXPECTED_LABELS), config, n_folds=3, folds=[0], jobs=1)
    rows = target_rows({"default": summary})
    assert [row[0] for row in rows] == list(TARGETS)
    accuracy_at_zero = summary["frontier"][0.0]["original"]["accuracy"]["mean"]
    assert rows[0][3] == accuracy_at_zero and rows[0][4] == (accuracy_at_zero >= TARGETS["accuracy at τ = 0"][1])


def test_bench_train_command_sets_the_seed_beside_the_default_and_sgd(tiny_names_dir, tmp_path, monkeypatch):
    """The whole bench through the CLI, with every recipe shortened (the real ones take minutes)."""
    from dataclasses import replace

    monkeypatch.setitem(RECIPES, "seed", replace(RECIPES["seed"], iterations=200))
    monkeypatch.setitem(RECIPES, "default", replace(RECIPES["default"], iterations=20, batch_size=8))
    monkeypatch.setitem(RECIPES, "sgd", replace(RECIPES["sgd"], iterations=20, batch_size=8))
    workdir = tmp_path / "bench"
    args = ["bench-train", "--names-dir", str(tiny_names_dir), "--workdir", str(workdir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "seed, fold 0" in result.output and "default, 10-fold mean" in result.output
    assert "sgd, 10-fold mean" in result.output and "targets, default recipe" in result.output
    assert "ECE at the default τ" in result.output and ("met" in result.output or "MISSED" in result.output)
    saved = json.loads((workdir / "train.json").read_text())
    assert saved["default"]["folds"] == saved["sgd"]["folds"] == list(range(10)) and saved["seed"]["fold"] == 0


def test_evaluate_cv_checks_the_report_path_before_training(tiny_names_dir, tmp_path):
    """A report into a missing folder was refused only after every fold had trained (minutes lost)."""
    args = ["evaluate", "--cv", "2", "--names-dir", str(tiny_names_dir), "--jobs", "1", "--report",
            str(tmp_path / "missing" / "cv.json")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "output folder" in result.output and "does not exist" in result.output
    assert "fold 0" not in result.output and not (tmp_path / "missing").exists()
