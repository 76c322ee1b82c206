"""rnnexport.metrics: accuracy, balanced accuracy, per-label recall and the confusion matrix, exactly."""

import numpy as np

from rnnexport.metrics import confusion_matrix, format_table, summarize


def test_confusion_matrix_counts_true_rows_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_summary_values():
    metrics = summarize(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), ["a", "b", "c", "d"])
    assert metrics["accuracy"] == 4 / 6
    assert metrics["balanced_accuracy"] == (1 / 2 + 1 + 2 / 3) / 3  # label d has no support: not averaged
    assert metrics["per_label"]["d"] == {"recall": 0.0, "support": 0}
    assert metrics["n_held_out"] == 6


def test_empty_input_gives_zeros():
    metrics = summarize(np.array([], dtype=int), np.array([], dtype=int), ["a"])
    assert (metrics["accuracy"], metrics["balanced_accuracy"]) == (0.0, 0.0)


def test_table_lines():
    metrics = summarize(np.array([0, 1]), np.array([0, 0]), ["Arabic", "Czech"])
    assert format_table(metrics).splitlines() == [
        "label         recall  support",
        "Arabic         1.000        1",
        "Czech          0.000        1",
        "accuracy       0.500        2",
        "balanced       0.500",
    ]
