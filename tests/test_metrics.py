"""rnnexport.metrics: accuracy, balanced accuracy, per-label recall and the confusion matrix, exactly."""

import numpy as np
import pytest

from rnnexport.training.metrics import confusion_matrix, format_table, summarize


def test_confusion_matrix_counts_true_rows_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_summary_values():
    metrics = summarize(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), ["a", "b", "c", "d"])
    assert metrics["accuracy"] == 4 / 6
    assert metrics["balanced_accuracy"] == (1 / 2 + 1 + 2 / 3) / 3  # label d has no support: not averaged
    assert metrics["per_label"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # label a: 1 of 2 found; of the 2 "a" predictions (rows 0 and 5) one is right
    assert metrics["per_label"]["a"] == {"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2}
    # label c: 2 of 3 found, every "c" prediction right
    assert metrics["per_label"]["c"]["precision"] == 1.0
    assert metrics["per_label"]["c"]["f1"] == pytest.approx(2 * (2 / 3) / (1 + 2 / 3))
    assert metrics["n_held_out"] == 6


def test_empty_input_gives_zeros():
    metrics = summarize(np.array([], dtype=int), np.array([], dtype=int), ["a"])
    assert (metrics["accuracy"], metrics["balanced_accuracy"]) == (0.0, 0.0)


def test_table_lines():
    metrics = summarize(np.array([0, 1]), np.array([0, 0]), ["Arabic", "Czech"])
    assert format_table(metrics).splitlines() == [
        "label        precision  recall      f1  support",
        "Arabic           0.500   1.000   0.667        1",
        "Czech            0.000   0.000   0.000        1",
        "accuracy                 0.500                2",
        "balanced                 0.500",
    ]


def test_table_shows_every_case_variant_beside_the_names_as_written():
    # issue 23: `evaluate` showed only the names as written; lower- and UPPER-cased names are what users type too.
    metrics = summarize(np.array([0, 1]), np.array([0, 0]), ["Arabic", "Czech"])
    metrics["case"] = {
        "original": {"accuracy": 0.5, "balanced_accuracy": 0.5, "ece": 0.25},
        "lower": {"accuracy": 0.5, "balanced_accuracy": 0.5, "ece": 0.125},
        "upper": {"accuracy": 0.0, "balanced_accuracy": 0.0, "ece": 0.5},
    }
    assert format_table(metrics).splitlines()[-5:] == [
        "",
        "names         accuracy balanced     ECE",
        "as written       0.500    0.500   0.250",
        "lower-cased      0.500    0.500   0.125",
        "UPPER-cased      0.000    0.000   0.500",
    ]


def test_evaluate_prints_the_committed_models_case_figures_of_training_json(committed_model_dir, real_names_dir):
    import json

    from click.testing import CliRunner

    from rnnexport.cli.app import main

    result = CliRunner().invoke(main, ["evaluate", "--model-dir", str(committed_model_dir), "--data",
                                       str(real_names_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    recorded = json.loads((committed_model_dir / "training.json").read_text())["held_out_case"]
    variants = ("as written", "lower-cased", "UPPER-cased")  # the case table; the answers' lines follow it
    rows = {
        line[:12].strip(): line[12:].split() for line in result.output.splitlines() if line[:12].strip() in variants
    }
    for variant, name in (("original", "as written"), ("lower", "lower-cased"), ("upper", "UPPER-cased")):
        figures = recorded[variant]
        assert rows[name] == [f"{figures[key]:.3f}" for key in ("accuracy", "balanced_accuracy", "ece")]
