"""A model on labelled names: accuracy, balanced accuracy, ECE and per-label figures, also lower- and UPPER-cased."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.split import label_ids
from ..errors import DataError, RnnExportError
from ..text.alphabet import ALPHABET
from ..text.encode import encode_ragged
from .calibration import expected_calibration_error, reliability_bins, softmax
from .metrics import summarize

CASE_VARIANTS = ("original", "lower", "upper")


def case_variant(names: list[str], variant: str) -> list[str]:
    """The names as given, lower-cased or UPPER-cased (``variant`` is one of CASE_VARIANTS)."""
    if variant == "lower":
        return [name.lower() for name in names]
    if variant == "upper":
        return [name.upper() for name in names]
    return list(names)


def log_probs_of(model: torch.nn.Module, names: list[str], alphabet: str = ALPHABET) -> np.ndarray:
    """float32 [N, C] log-probabilities of the eager model for names non-empty once folded to ``alphabet``."""
    encoded = encode_ragged(names, alphabet).padded()
    with torch.no_grad():
        return model(torch.from_numpy(encoded.indices), torch.from_numpy(encoded.lengths)).numpy()


def case_log_probs(model: torch.nn.Module, names: list[str], alphabet: str = ALPHABET) -> dict[str, np.ndarray]:
    """:func:`log_probs_of` for each of CASE_VARIANTS."""
    return {variant: log_probs_of(model, case_variant(names, variant), alphabet) for variant in CASE_VARIANTS}


def evaluate_log_probs(log_probs: dict[str, np.ndarray], true: np.ndarray, labels: list[str]) -> dict:
    """Metrics of float [N, C] log-probs per case variant against int [N] label ids.

    The top level is :func:`metrics.summarize` of the original names plus ``ece`` and ``reliability`` (15 bins);
    ``case`` holds accuracy, balanced accuracy and ECE of every variant.
    """
    original = log_probs["original"]
    metrics = summarize(true, original.argmax(axis=1), labels)
    probabilities = softmax(original)
    metrics["ece"] = expected_calibration_error(probabilities, true)
    metrics["reliability"] = reliability_bins(probabilities, true)
    metrics["case"] = {variant: _headline(values, true, labels) for variant, values in log_probs.items()}
    return metrics


def _headline(log_probs: np.ndarray, true: np.ndarray, labels: list[str]) -> dict:
    summary = summarize(true, log_probs.argmax(axis=1), labels)
    ece = expected_calibration_error(softmax(log_probs), true)
    return {"accuracy": summary["accuracy"], "balanced_accuracy": summary["balanced_accuracy"], "ece": ece}


def evaluate_model(
    model: torch.nn.Module, names: list[str], label_ids: list[int], labels: list[str], alphabet: str = ALPHABET
) -> dict:
    """Held-out metrics of a model on names folded to ``alphabet`` (see :func:`evaluate_log_probs`)."""
    log_probs = case_log_probs(model, names, alphabet)
    return evaluate_log_probs(log_probs, np.asarray(label_ids, dtype=np.int64), labels)


def evaluation_lines(checkpoint_path: Path, data: Path | None = None, name_column: str | None = None,
                     label_column: str | None = None) -> list[str]:  # fmt: skip
    """What ``rnnexport evaluate`` prints for a checkpoint: where the held-out pairs came from, the table of
    metrics (training.metrics.format_table), and the answers' figures when the metrics have them
    (training.answer_reports.format_answers). Raises as :func:`evaluate_checkpoint`."""
    from .answer_reports import format_answers
    from .metrics import format_table

    source, metrics = evaluate_checkpoint(checkpoint_path, data, name_column, label_column)
    lines = [f"held-out pairs of {source}, checkpoint {checkpoint_path}", format_table(metrics)]
    if "answers" in metrics:
        lines += format_answers(metrics["answers"], list(metrics["per_label"]))
    return lines


def evaluate_checkpoint(
    checkpoint_path: Path, data: Path | None = None, name_column: str | None = None, label_column: str | None = None
) -> tuple[str, dict]:
    """The held-out metrics of a saved checkpoint, and the data they were measured on (a folder of
    ``<label>.txt`` files or a table, see data.labelled.read_labelled; default: the data the checkpoint records it was
    trained on, else the names data set).

    Raises CheckpointError (bad checkpoint) or DataError (no data, or labels the model does not have).
    """
    from ..data.fetch import find_names_dir
    from ..data.labelled import read_labelled
    from ..data.split import split_pairs
    from ..model.checkpoint import load_checkpoint, model_from_checkpoint
    from .answer_reports import answers_report
    from .operating_point import point_from_checkpoint

    checkpoint = load_checkpoint(checkpoint_path)
    labels, alphabet = checkpoint["labels"], checkpoint["alphabet"]
    trained_on = checkpoint.get("data") if isinstance(checkpoint.get("data"), dict) else {}
    if data is None and trained_on.get("path"):  # the data it was trained on, columns included
        data = Path(trained_on["path"])
        name_column = name_column or trained_on.get("name_column")
        label_column = label_column or trained_on.get("label_column")
        if not data.exists():
            raise DataError(f"{data}, the data {checkpoint_path} was trained on, is gone; pass --data")
    try:
        labelled = read_labelled(find_names_dir(data), alphabet, name_column, label_column)
    except RnnExportError as error:
        if not trained_on.get("path") or Path(trained_on["path"]) != Path(data):
            raise
        raise DataError(f"{data}, the data {checkpoint_path} was trained on, no longer reads as then: {error}; "
                        "pass --data") from None  # fmt: skip
    unknown = sorted(set(labelled.labels) - set(labels))
    if unknown:
        raise DataError(f"{labelled.source} has labels the model does not know: {', '.join(unknown)}; give its data")
    held_out = split_pairs(labelled.pairs).held_out
    names, true = [pair.name for pair in held_out], label_ids(held_out, labels)
    model = model_from_checkpoint(checkpoint)
    metrics = evaluate_model(model, names, true, labels, alphabet)
    point = point_from_checkpoint(checkpoint)
    if point is not None:
        scored_by = (checkpoint.get("config") or {}).get("calibration_model", "sibling")
        metrics["answers"] = answers_report(log_probs_of(model, names, alphabet), np.asarray(true), point, labels,
                                            scored_by)  # fmt: skip
    return labelled.source, metrics
