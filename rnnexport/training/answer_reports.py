"""Answers of a trained model (answers/): its prediction-set table, calibrated on the operating point's held-back
pairs, and how abstention and sets do on held-out names; the lines ``evaluate`` prints of them.

The table is fitted on the held-back pairs as scored by the model that did not train on them (the sibling, or the
final model itself with calibration_model "holdback"), at the operating point's τ and T: docs/model.md,
'Prediction sets', says what that guarantees.
"""

from __future__ import annotations

import numpy as np

from ..answers.conformal import ConformalTable, fit_table
from ..answers.measure import coverage_summary, selective_report, sets_report
from .operating_point import OperatingPoint, adjusted_log_probs


def calibration_log_probs(point: OperatingPoint) -> np.ndarray:
    """float64 [N_cal, L]: the held-back pairs' log-probs at the point's τ and T (what the exported model gives)."""
    return adjusted_log_probs(point.calibration_log_probs.numpy(), point.label_frequencies, point.prior_shift,
                              point.temperature)  # fmt: skip


def conformal_table(point: OperatingPoint, labels: list[str], scored_by: str) -> ConformalTable | None:
    """The point's prediction-set table; None without held-back pairs (the sgd recipe): no sets to offer."""
    if not len(point.calibration_label_ids):
        return None
    return fit_table(calibration_log_probs(point), point.calibration_label_ids.numpy(), labels, scored_by)


def answers_report(log_probs: np.ndarray, true: np.ndarray, point: OperatingPoint, labels: list[str],
                   scored_by: str) -> dict:  # fmt: skip
    """Held-out figures of log-probs [N, L] (the model at the point) against int label ids [N]: ``selective``
    (answers.measure.selective_report, the share of 0.8 also chosen on the hold-back) and ``sets``
    (answers.measure.sets_report at 0.8, 0.9, 0.95, both methods; absent without a table)."""
    table = conformal_table(point, labels, scored_by)
    calibration = calibration_log_probs(point) if table is not None else None
    report = {"selective": selective_report(log_probs, true, calibration)}
    if table is not None:
        report["sets"] = sets_report(log_probs, true, table)
        report["table"] = {"default_method": table.default_method, **table.calibration}
    return report


def format_answers(report: dict, labels: list[str]) -> list[str]:
    """The lines ``evaluate`` adds to its table: accuracy when answering 80%, and coverage and mean set size at
    each level by method, with the labels covered least."""
    lines = []
    for key, entry in report["selective"]["at_share"].items():
        lines.append(
            f"answering {float(key):.0%} (top probability >= {entry['threshold']:.3f}): accuracy "
            f"{entry['correct'] / max(entry['answered'], 1):.3f} on {entry['answered']} of {entry['names']}"
        )
    for key, entry in report["selective"]["calibrated"].items():
        lines.append(f"  threshold chosen on the hold-back to answer {float(key):.0%} ({entry['threshold']:.3f}): "
                     f"answers {entry['answered'] / max(entry['names'], 1):.3f}, accuracy "
                     f"{entry['correct'] / max(entry['answered'], 1):.3f}")  # fmt: skip
    for key, by_method in report.get("sets", {}).items():
        for method, counts in by_method.items():
            summary = coverage_summary(counts, labels)
            rates = [(row["coverage"], label) for label, row in summary["per_label"].items() if row["names"]]
            worst = ", ".join(f"{label} {rate:.2f}" for rate, label in sorted(rates)[:3])
            lines.append(f"sets at {key} ({method}): coverage {summary['coverage']:.3f}, mean size "
                         f"{summary['mean_size']:.2f}; least covered: {worst}")  # fmt: skip
    return lines
