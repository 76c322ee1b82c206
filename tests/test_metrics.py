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
