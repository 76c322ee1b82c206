"""Training outputs: checkpoint.pt, training.json and four plots (loss curve, confusion matrix, reliability
diagram, selective-classification curve), swapped into the model folder together."""

from __future__ import annotations

import warnings
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..data.labelled import LabelledData
from ..io.atomic import atomic_write_json
from ..io.generations import swapped_files
from ..model.checkpoint import make_checkpoint, save_checkpoint
from ..model.manifest import export_files
from .loop import TrainResult
from .recipes import config_dict

REPORT_FILES = ("training.json", "loss_curve.png", "confusion_matrix.png", "reliability.png", "selective.png")


def training_report(result: TrainResult, labels: list[str]) -> dict:
    """The content of training.json."""
    metrics = result.metrics
    return {
        "config": config_dict(result.config),
        "labels": labels,
        "wall_seconds": round(result.wall_seconds, 2),
        "cpu_seconds": round(result.cpu_seconds, 2),
        "loss_per_epoch": [round(loss, 5) for loss in result.loss_per_epoch],
        "held_out_accuracy": metrics["accuracy"],
        "held_out_balanced_accuracy": metrics["balanced_accuracy"],
        "held_out_ece": metrics["ece"],
        "held_out_case": metrics["case"],
        "per_label_recall": {label: row["recall"] for label, row in metrics["per_label"].items()},
        "operating_point": result.operating_point.summary(),
        "metrics": metrics,
    }


def write_training_reports(report: dict, result: TrainResult, labels: list[str], out_dir: Path) -> list[Path]:
    """Write training.json (``report``) and the four plots into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    atomic_write_json(paths[0], report)
    with warnings.catch_warnings():  # a label in a script the font lacks (emoji, CJK) is drawn as boxes, without
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)  # one warning each
        plot_loss_curve(result.loss_curve, paths[1])
        plot_confusion_matrix(result.metrics["confusion_matrix"], labels, paths[2])
        plot_reliability(result.metrics["reliability"], paths[3])
        plot_selective(result.metrics["answers"]["selective"], paths[4])
    return paths


def _new_figure(size: tuple[float, float]) -> Figure:
    """A figure drawn by the Agg canvas: files only, and no process-wide backend choice (no pyplot)."""
    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def plot_loss_curve(loss_curve: list[tuple[int, float]], path: Path) -> None:
    steps, losses = zip(*loss_curve, strict=True)
    figure = _new_figure((7, 4))
    axes = figure.subplots()
    axes.plot(steps, losses, marker="o", markersize=3)
    axes.set_xlabel("update")
    axes.set_ylabel("mean training loss (NLL) per epoch")
    axes.set_title("Training loss")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path) -> None:
    """Rows normalised to recall, so small labels are as readable as Russian."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = _new_figure((9, 8))
    axes = figure.subplots()
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Held-out confusion matrix (rows: fraction of each true label)")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                colour = "white" if normalised[i, j] > 0.5 else "black"
                axes.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, fraction=0.046, pad=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_reliability(reliability: dict, path: Path) -> None:
    """Reliability diagram of calibration.reliability_bins: accuracy per confidence bin against the diagonal,
    with the share of names in each bin below (held-out names, top-1 confidence)."""
    import numpy as np

    from .calibration import ece_of_bins

    edges = np.asarray(reliability["edges"])
    count = np.asarray(reliability["count"], dtype=float)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    figure = _new_figure((6, 7))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    shown = count > 0
    top.bar(centres[shown], np.asarray(reliability["accuracy"])[shown], width=width[shown], edgecolor="black",
            alpha=0.8, label="accuracy")  # fmt: skip
    top.plot(np.asarray(reliability["confidence"])[shown], np.asarray(reliability["accuracy"])[shown], "o",
             color="darkorange", label="(mean confidence, accuracy)")  # fmt: skip
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_title(f"Held-out reliability ({len(count)} bins), ECE {ece_of_bins(reliability):.3f}")
    top.legend(loc="upper left")
    top.set_ylim(0, 1)
    bottom.bar(centres, count / max(count.sum(), 1), width=width, edgecolor="black", color="grey")
    bottom.set_xlabel("top-1 confidence")
    bottom.set_ylabel("share of names")
    bottom.set_xlim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_selective(selective: dict, path: Path) -> None:
    """The selective-classification curve of answers.measure.selective_report: accuracy on the names answered
    against the share answered, each point a minimum probability (--min-probability), the share of 0.8 marked."""
    from ..answers.measure import curve_summary

    points = [point for point in curve_summary(selective["curve"]) if point["accuracy"] is not None]
    figure = _new_figure((6, 4.5))
    axes = figure.subplots()
    axes.plot([p["answered"] for p in points], [p["accuracy"] for p in points], marker="o", markersize=2)
    for point in points:
        if round(point["min_probability"], 2) in (0.3, 0.5, 0.7, 0.9):
            axes.annotate(f"P ≥ {point['min_probability']:.1f}", (point["answered"], point["accuracy"]), fontsize=8,
                          textcoords="offset points", xytext=(4, 4))  # fmt: skip
    for key, entry in selective["at_share"].items():
        accuracy = entry["correct"] / max(entry["answered"], 1)
        axes.axvline(float(key), color="grey", linestyle="--")
        axes.set_title(f"Held-out selective classification: answering {float(key):.0%}, accuracy {accuracy:.3f}")
    axes.set_xlabel("share of names answered (top probability >= P)")
    axes.set_ylabel("accuracy on the names answered")
    axes.set_xlim(0, 1.02)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def data_record(labelled: LabelledData, given: Path | None, name_column: str | None,
                label_column: str | None) -> dict:  # fmt: skip
    """What training.json (and, for data given explicitly, the checkpoint) records of the training data: the
    names read, those dropped for want of a letter of the alphabet, the distinct pairs; and, when ``given``,
    its absolute path and columns, from which ``evaluate`` reads it again by default."""
    record = {"names": labelled.rows, "without_letter": labelled.without_letter, "pairs": len(labelled.pairs)}
    if given is not None:
        record.update(path=str(Path(given).resolve()), name_column=name_column, label_column=label_column)
    return record


def write_training_outputs(result: TrainResult, labels: list[str], out_dir: Path, data: dict | None = None
                           ) -> tuple[list[Path], list[str]]:  # fmt: skip
    """Save checkpoint.pt, training.json and the plots into ``out_dir``; return their paths and the names of the
    files removed with them.

    Everything is written into a staging folder first and swapped into ``out_dir`` as one set only when all of
    it is written (io.generations): a failure (or Ctrl-C) leaves the folder as it was. An export of an earlier
    checkpoint in the folder, as far as rnnexport recognises it as its own (model.manifest.export_files: an
    rnnexport manifest.json and the files that match it), is removed in the same swap, so that no loader serves
    the earlier model; no other file is touched. Raises OutputError (full disk, read-only)."""
    report = {**training_report(result, labels), **({"data": data} if data else {})}
    out_dir = Path(out_dir)
    with swapped_files(out_dir, "train", drop=export_files) as swap:
        staging = swap.staging
        checkpoint = make_checkpoint(result.model, labels, result.config.alphabet, report["config"], result.metrics,
                                     result.operating_point.as_dict())  # fmt: skip
        if data and "path" in data:
            checkpoint["data"] = {key: data[key] for key in ("path", "name_column", "label_column")}
        save_checkpoint(checkpoint, staging / "checkpoint.pt")
        written = write_training_reports(report, result, labels, staging)
    return [out_dir / path.name for path in [staging / "checkpoint.pt", *written]], swap.removed
