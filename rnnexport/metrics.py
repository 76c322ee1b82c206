"""Held-out metrics: accuracy, balanced accuracy, per-label recall and the confusion matrix (numpy only)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_labels: int) -> np.ndarray:
    """int64 [n_labels, n_labels]; rows are true labels, columns predictions."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def summarize(true: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """Plain-value metrics for training.json and the checkpoint."""
    matrix = confusion_matrix(true, predicted, len(labels))
    support = matrix.sum(axis=1)
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(labels)), where=support > 0)
    return {
        "n_held_out": len(true),
        "accuracy": float((true == predicted).mean()) if len(true) else 0.0,
        "balanced_accuracy": float(recall[support > 0].mean()) if support.any() else 0.0,
        "per_label": {
            label: {"recall": float(recall[i]), "support": int(support[i])} for i, label in enumerate(labels)
        },
        "confusion_matrix": matrix.tolist(),
    }


def format_table(metrics: dict) -> str:
    """The held-out table `rnnexport evaluate` prints."""
    lines = [f"{'label':<12} {'recall':>7} {'support':>8}"]
    for label, row in metrics["per_label"].items():
        lines.append(f"{label:<12} {row['recall']:>7.3f} {row['support']:>8d}")
    lines.append(f"{'accuracy':<12} {metrics['accuracy']:>7.3f} {metrics['n_held_out']:>8d}")
    lines.append(f"{'balanced':<12} {metrics['balanced_accuracy']:>7.3f}")
    return "\n".join(lines)
