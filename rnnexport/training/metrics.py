"""Held-out metrics: accuracy, balanced accuracy, per-label precision/recall/F1 and the confusion matrix (numpy)."""

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
    return {
        "n_held_out": len(true),
        "accuracy": float((true == predicted).mean()) if len(true) else 0.0,
        "balanced_accuracy": balanced_accuracy(matrix),
        "per_label": per_label(matrix, labels),
        "confusion_matrix": matrix.tolist(),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def balanced_accuracy(matrix: np.ndarray) -> float:
    """Mean recall over the labels that occur (rows with support)."""
    support = matrix.sum(axis=1)
    recall = _ratio(np.diag(matrix).astype(float), support)
    return float(recall[support > 0].mean()) if support.any() else 0.0


def per_label(matrix: np.ndarray, labels: list[str]) -> dict:
    """Precision, recall, F1 (0 where undefined) and support of each label, from a confusion matrix."""
    correct = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(correct, predicted), _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
        for i, label in enumerate(labels)
    }  # fmt: skip


CASE_NAMES = {"original": "as written", "lower": "lower-cased", "upper": "UPPER-cased"}


def format_table(metrics: dict) -> str:
    """The held-out table `rnnexport evaluate` prints, then the same names as written, lower-cased and
    UPPER-cased (``metrics["case"]``, evaluation.evaluate_log_probs): users type names in any case."""
    lines = format_per_label(metrics["per_label"])
    lines.append(f"{'accuracy':<12} {'':>9} {metrics['accuracy']:>7.3f} {'':>7} {metrics['n_held_out']:>8d}")
    lines.append(f"{'balanced':<12} {'':>9} {metrics['balanced_accuracy']:>7.3f}")
    if "ece" in metrics:
        lines.append(f"{'ECE (15 bins)':<12} {'':>9} {metrics['ece']:>7.3f}")
    if metrics.get("case"):
        lines += ["", f"{'names':<12} {'accuracy':>9} {'balanced':>8} {'ECE':>7}"]
        for variant, case in metrics["case"].items():
            name = CASE_NAMES.get(variant, variant)
            lines.append(f"{name:<12} {case['accuracy']:>9.3f} {case['balanced_accuracy']:>8.3f} {case['ece']:>7.3f}")
    return "\n".join(lines)


def format_per_label(rows: dict) -> list[str]:
    """A header and one line per label: precision, recall, F1, support (older checkpoints lack precision/F1)."""
    lines = [f"{'label':<12} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for label, row in rows.items():
        precision, f1 = row.get("precision", float("nan")), row.get("f1", float("nan"))
        lines.append(f"{label:<12} {precision:>9.3f} {row['recall']:>7.3f} {f1:>7.3f} {row['support']:>8d}")
    return lines
