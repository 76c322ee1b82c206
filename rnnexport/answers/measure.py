"""How answers are measured on labelled names: the selective-classification curve (per minimum probability, the
share of names answered and the accuracy on those) and prediction sets' achieved coverage and size, overall and
per label. Everything is kept as counts, so that cross-validation pools folds exactly by adding them."""

from __future__ import annotations

import math

import numpy as np

from .conformal import ConformalTable, level_key
from .rule import AnswerRule, decide

CURVE_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(100))  # minimum probabilities 0.00 ... 0.99
ANSWERED_SHARES = (0.8,)  # the shares of names answered the reports give accuracy at
REPORT_LEVELS = (0.8, 0.9, 0.95)


def top_probabilities(log_probs: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 [N] top-1 probability and bool [N] whether the top-1 label is the true one."""
    values = np.asarray(log_probs, dtype=np.float64)
    return np.exp(values.max(axis=1)), values.argmax(axis=1) == np.asarray(true)


def selective_counts(log_probs: np.ndarray, true: np.ndarray, thresholds=CURVE_THRESHOLDS) -> dict:
    """For each minimum probability of ``thresholds``: the names answered (top-1 probability >= it) and those right.
    log_probs: float [N, L]; true: int [N]."""
    top, correct = top_probabilities(log_probs, true)
    answered = top[None, :] >= np.asarray(thresholds)[:, None]  # [thresholds, N]
    return {"names": len(top), "thresholds": list(thresholds), "answered": answered.sum(axis=1).tolist(),
            "correct": (answered & correct[None, :]).sum(axis=1).tolist()}  # fmt: skip


def threshold_for_share(top: np.ndarray, share: float) -> float:
    """The largest minimum probability that answers at least ``share`` of names with top-1 probabilities ``top``."""
    ordered = np.sort(np.asarray(top, dtype=np.float64))[::-1]
    if not len(ordered):
        return 0.0
    return float(ordered[max(1, math.ceil(share * len(ordered) - 1e-9)) - 1])


def at_threshold(top: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    """Names answered at minimum probability ``threshold``, those right, and the threshold."""
    answered = np.asarray(top) >= threshold
    return {"threshold": float(threshold), "names": len(top), "answered": int(answered.sum()),
            "correct": int((answered & correct).sum())}  # fmt: skip


def selective_report(log_probs: np.ndarray, true: np.ndarray, calibration_log_probs: np.ndarray | None = None,
                     shares=ANSWERED_SHARES) -> dict:  # fmt: skip
    """The curve (selective_counts) and, per share of ``shares``: ``at_share``, the threshold chosen on these names
    themselves to answer that share and its counts (hindsight: the figure issue 22 sets a target on), and
    ``calibrated``, the threshold chosen on the calibration hold-back's log-probs (what a user can pick in
    advance) and its counts on these names."""
    top, correct = top_probabilities(log_probs, true)
    report = {"curve": selective_counts(log_probs, true), "at_share": {}, "calibrated": {}}
    for share in shares:
        key = f"{share:.2f}"
        report["at_share"][key] = at_threshold(top, correct, threshold_for_share(top, share))
        if calibration_log_probs is not None and len(calibration_log_probs):
            chosen = threshold_for_share(np.exp(np.asarray(calibration_log_probs, np.float64).max(axis=1)), share)
            report["calibrated"][key] = at_threshold(top, correct, chosen)
    return report


def set_counts(log_probs: np.ndarray, true: np.ndarray, thresholds: np.ndarray) -> dict:
    """Per label (int lists [L]): names, names whose set holds their label, and the sum of their set sizes."""
    rule = AnswerRule(coverage=0.9, thresholds=tuple(np.asarray(thresholds, dtype=np.float64).tolist()))
    sets = decide(log_probs, rule).sets
    true = np.asarray(true, dtype=np.int64)
    n_labels = sets.shape[1]
    covered = sets[np.arange(len(true)), true]
    return {"names": np.bincount(true, minlength=n_labels).tolist(),
            "covered": np.bincount(true, weights=covered, minlength=n_labels).astype(int).tolist(),
            "size": np.bincount(true, weights=sets.sum(axis=1), minlength=n_labels).astype(int).tolist()}  # fmt: skip


def sets_report(log_probs: np.ndarray, true: np.ndarray, table: ConformalTable, levels=REPORT_LEVELS) -> dict:
    """{level key: {method: set_counts}} of ``table``'s thresholds at each of ``levels``, both methods."""
    return {level_key(level): {method: set_counts(log_probs, true, table.thresholds(level, method))
                               for method in ("marginal", "per_label")}
            for level in levels}  # fmt: skip


def add_counts(reports: list):
    """Reports of the same shape (nested dicts of counts, lists of counts) added up, as cross-validation pools its
    folds; a float (a fold's chosen threshold) is averaged, a list of floats (the curve's grid) is the first's."""
    first = reports[0]
    if isinstance(first, dict):
        return {key: add_counts([report[key] for report in reports]) for key in first}
    if isinstance(first, list) and all(isinstance(value, int) for value in first):
        return [sum(values) for values in zip(*reports, strict=True)]
    if isinstance(first, int):
        return sum(reports)
    if isinstance(first, float):
        return float(np.mean(reports))
    return first


def coverage_summary(counts: dict, labels: list[str]) -> dict:
    """set_counts as rates: overall coverage and mean set size, and per label coverage, size and names."""
    names, covered, size = (np.asarray(counts[key], dtype=np.float64) for key in ("names", "covered", "size"))
    total = max(names.sum(), 1.0)
    per_label = {label: {"names": int(names[i]), "coverage": _ratio(covered[i], names[i]),
                         "mean_size": _ratio(size[i], names[i])} for i, label in enumerate(labels)}  # fmt: skip
    return {"coverage": float(covered.sum() / total), "mean_size": float(size.sum() / total), "per_label": per_label}


def curve_summary(counts: dict) -> list[dict]:
    """selective_counts as rates: per threshold, the share answered and the accuracy on those (None: none)."""
    names = max(counts["names"], 1)
    return [{"min_probability": t, "answered": a / names, "accuracy": _ratio(c, a)}
            for t, a, c in zip(counts["thresholds"], counts["answered"], counts["correct"], strict=True)]  # fmt: skip


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None
