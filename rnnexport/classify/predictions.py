"""The prediction columns: each row's top-k labels and probabilities (best first), the columns' names (language,
probability, language_2, ...), and the check that the input does not already have them."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def top_k(log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k best labels of each row, best first: indices [B, k], their log-probs [B, k], and valid [B].

    Rows without a prediction (NaN) are not valid; their indices are 0 and log-probs NaN.
    """
    valid = ~np.isnan(log_probs[:, 0])
    if k == 1:  # argmax: a partition and a sort per row are ~10x slower
        index = log_probs.argmax(axis=1)[:, None]
        return index, np.take_along_axis(log_probs, index, axis=1), valid
    scores = np.where(valid[:, None], log_probs, 0.0)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # ties: the lower label index first
    chosen = np.take_along_axis(log_probs, order, axis=1)
    return np.where(valid[:, None], order, 0), chosen, valid


def top_k_columns(log_probs: np.ndarray, labels: list[str], k: int) -> dict[str, np.ndarray]:
    """language, probability, language_2, probability_2, ...; empty/NaN for rows without a prediction."""
    order, chosen, valid = top_k(log_probs, k)
    label_array = np.array(labels, dtype=object)
    columns = {}
    for rank in range(k):
        suffix = "" if rank == 0 else f"_{rank + 1}"
        columns[f"language{suffix}"] = np.where(valid, label_array[order[:, rank]], "")
        columns[f"probability{suffix}"] = np.exp(chosen[:, rank].astype(np.float64))
    return columns


def prediction_names(labels: list[str], top_k: int, answers=None) -> list[str]:
    """The prediction columns: the top k's, then those of ``answers`` (an answers.rule.AnswerRule, or None)."""
    names = list(top_k_columns(np.zeros((0, len(labels)), dtype=np.float32), labels, top_k))
    return names + list(answers.columns if answers is not None else ())


def check_no_clash(columns: list[str], labels: list[str], top_k: int, answers=None) -> None:
    clashing = [name for name in prediction_names(labels, top_k, answers) if name in columns]
    if clashing:
        raise InputError(f"input already has column(s) {', '.join(clashing)}; rename them before classifying")
