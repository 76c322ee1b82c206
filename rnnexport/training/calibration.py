"""Calibration: temperature fitting, expected calibration error (ECE) and reliability bins (numpy only)."""

from __future__ import annotations

import zlib

import numpy as np

ECE_BINS = 15
# Bisection bounds on log(1/T): temperatures from 0.01 to 100 cover any model worth calibrating.
_LOG_INVERSE_TEMPERATURE_BOUNDS = (-2 * np.log(10.0), 2 * np.log(10.0))


def softmax(logits: np.ndarray) -> np.ndarray:
    """float64 [N, C] probabilities of float [N, C] logits (or log-probabilities)."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _nll_slope(logits: np.ndarray, true: np.ndarray, inverse_temperature: float) -> float:
    """d/dβ of the mean NLL of softmax(β·logits): E_p[z] - z_true, averaged. Increasing in β (NLL is convex)."""
    probs = softmax(inverse_temperature * logits)
    return float(((probs * logits).sum(axis=1) - logits[np.arange(len(true)), true]).mean())


def fit_temperature(logits: np.ndarray, true: np.ndarray, iterations: int = 60) -> float:
    """The temperature T > 0 minimising the mean NLL of softmax(logits / T) on (logits, true).

    logits: float [N, C] (log-probabilities work too); true: int [N] label ids. The NLL is convex in 1/T, so
    bisection on the sign of its slope finds the minimum. Returns 1.0 for no rows. T is clamped to [0.01, 100]
    (a separable set would otherwise send it to 0).
    """
    if len(true) == 0:
        return 1.0
    logits = np.asarray(logits, dtype=np.float64)
    low, high = _LOG_INVERSE_TEMPERATURE_BOUNDS
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if _nll_slope(logits, true, float(np.exp(middle))) > 0:
            high = middle
        else:
            low = middle
    return float(np.exp(-0.5 * (low + high)))


def reliability_bins(probabilities: np.ndarray, true: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Top-1 confidence in ``bins`` equal-width bins (lo, hi]: per bin count, mean confidence and accuracy.

    probabilities: float [N, C]; true: int [N]. Empty bins have count 0 and confidence/accuracy 0.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1) if len(true) else np.zeros(0)
    correct = (probabilities.argmax(axis=1) == true) if len(true) else np.zeros(0, dtype=bool)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / np.maximum(count, 1)
    accuracy = np.bincount(index, weights=correct.astype(np.float64), minlength=bins) / np.maximum(count, 1)
    return {
        "edges": np.linspace(0.0, 1.0, bins + 1).tolist(),
        "count": count.tolist(),
        "confidence": mean_confidence.tolist(),
        "accuracy": accuracy.tolist(),
    }


def expected_calibration_error(probabilities: np.ndarray, true: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: Σ_bins (count / N) · |accuracy - mean confidence| over ``bins`` equal-width bins of top-1 confidence.

    probabilities: float [N, C]; true: int [N]. 0.0 for no rows.
    """
    return ece_of_bins(reliability_bins(probabilities, true, bins))


def ece_of_bins(reliability: dict) -> float:
    """The ECE of :func:`reliability_bins`' output."""
    count = np.asarray(reliability["count"], dtype=np.float64)
    if not count.sum():
        return 0.0
    gap = np.abs(np.asarray(reliability["accuracy"]) - np.asarray(reliability["confidence"]))
    return float((count * gap).sum() / count.sum())


def calibration_rows(names: list[str], labels: list[str], fraction: float) -> np.ndarray:
    """bool [N]: the training pairs held back to fit the temperature, a stable ``fraction`` of them.

    Like the held-out split, membership is a hash of the pair (crc32 of ``calibration<TAB>label<TAB>name``), so it
    does not depend on order or seed.
    """
    threshold = round(fraction * 10_000)
    hashes = [
        zlib.crc32(f"calibration\t{label}\t{name}".encode()) % 10_000 for name, label in zip(names, labels, strict=True)
    ]
    return np.asarray(hashes, dtype=np.int64) < threshold
