"""Training outputs: checkpoint.pt, training.json, loss_curve.png and confusion_matrix.png."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from .checkpoint import make_checkpoint, save_checkpoint
from .train import TrainResult, config_dict


def training_report(result: TrainResult, labels: list[str]) -> dict:
    """The content of training.json."""
    metrics = result.metrics
    return {
        "config": config_dict(result.config),
        "labels": labels,
        "wall_seconds": round(result.wall_seconds, 2),
        "loss_per_epoch": [round(loss, 5) for loss in result.loss_per_epoch],
        "held_out_accuracy": metrics["accuracy"],
        "held_out_balanced_accuracy": metrics["balanced_accuracy"],
        "per_label_recall": {label: row["recall"] for label, row in metrics["per_label"].items()},
        "metrics": metrics,
    }


def write_training_outputs(result: TrainResult, labels: list[str], out_dir: Path) -> list[Path]:
    """Write the four training outputs into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = training_report(result, labels)
    checkpoint = make_checkpoint(result.model, labels, report["config"], result.metrics)
    paths = [out_dir / "checkpoint.pt", out_dir / "training.json", out_dir / "loss_curve.png"]
    save_checkpoint(checkpoint, paths[0])
    paths[1].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_loss_curve(result.loss_curve, paths[2])
    paths.append(out_dir / "confusion_matrix.png")
    plot_confusion_matrix(result.metrics["confusion_matrix"], labels, paths[3])
    return paths


def plot_loss_curve(loss_curve: list[tuple[int, float]], path: Path) -> None:
    steps, losses = zip(*loss_curve, strict=True)
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(steps, losses, marker="o", markersize=3)
    axes.set_xlabel("update")
    axes.set_ylabel("mean training loss (NLL) per epoch")
    axes.set_title("Training loss")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path) -> None:
    """Rows normalised to recall, so small labels are as readable as Russian."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(9, 8))
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
    plt.close(figure)
