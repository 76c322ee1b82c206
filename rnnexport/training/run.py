"""What ``rnnexport train`` and ``rnnexport evaluate --cv`` do end to end: the labelled data found and read, the
recipe trained (or cross-validated), the results written; progress and tables go to the caller's callbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data.fetch import find_names_dir
from ..data.labelled import LabelledData, read_labelled
from ..data.split import Split, split_pairs
from ..errors import OptionError
from ..io.atomic import atomic_write_json, check_output_file
from ..model.manifest import EXPORT_FILES
from .crossval import cross_validate, format_cross_validation
from .loop import TrainResult, train
from .recipes import TrainConfig
from .reports import data_record, write_training_outputs

# `rnnexport train --help` and `rnnexport evaluate --help` (cli/training.py), and their options' help by name.
TRAIN_HELP = """Train the RNN with a hand-written update (SGD; AdamW in --recipe adamw) and write checkpoint.pt,
training.json and three plots (loss curve, confusion matrix, reliability diagram).

\b
Labels come from the data (sorted); the held-out split of docs/model.md applies to any data.
Examples:
  rnnexport train                          # the default recipe: 1.5-5 min on 2 cores, by load
  rnnexport train --recipe seed --out runs/seed
  rnnexport train --epochs 5 --lr 0.2 --seed 1 --out runs/try
  rnnexport train --data people.csv --name-column surname --label-column origin --out runs/people
  rnnexport train --data folder_of_label_files --alphabet abcdefghijklmnopqrstuvwxyz --hidden-size 64
"""
EVALUATE_HELP = """Print the held-out table of a checkpoint (per-label precision, recall, F1; accuracy, balanced
accuracy, ECE; then accuracy, balanced accuracy and ECE of the names lower- and UPPER-cased), or cross-validate a
recipe with --cv.

\b
Examples:
  rnnexport evaluate --checkpoint exported/checkpoint.pt
  rnnexport evaluate --model-dir runs/people --data people.csv --name-column surname --label-column origin
  rnnexport evaluate --cv 10 --recipe adamw  # 10 folds, 2 processes (4-10 min on 2 cores)
  rnnexport evaluate --cv 10 --folds 0,1,2
  rnnexport evaluate --cv 5 --data people.csv --name-column surname --label-column origin \\
      --alphabet abcdefghijklmnopqrstuvwxyz --hidden-size 64   # a custom model's shape (as trained)
"""
OPTION_HELP = {
    "train_data": "Labelled names: a folder of <label>.txt files (any labels, at least 2), or a CSV, TSV or Parquet "
    "file with a name and a label column, read as classify reads its input [default: data/names, else "
    "$RNNEXPORT_NAMES_DIR].",
    "recipe": "'default': AdamW with w's singular values clamped at 1.5, case augmentation, calibration and prior "
    "shift 0.52 (the committed model, docs/model.md); 'adamw': the same unclamped, 40 epochs; 'sgd' (or "
    "'sgd-2024'): SGD with loss weights, the default until 2026-12; 'seed': the original tutorial recipe (batch 1, "
    "label-uniform, lr 0.005, 200,000 steps).",
    "out": "Where checkpoint.pt, training.json and the plots go (an earlier model's export there is removed).",
    "checkpoint": "[default: checkpoint.pt of --model-dir, $RNNEXPORT_MODEL_DIR or the packaged model]",
    "evaluate_data": "The labelled data the model was trained on (as train --data) [default: data/names, else "
    "$RNNEXPORT_NAMES_DIR].",
    "n_folds": "Cross-validate a recipe over N crc32 folds instead.",
    "cv_recipe": "With --cv: the recipe to train on each fold.",
    "prior_shift": "With --cv: τ to report (default: the recipe's).",
    "folds": "With --cv: comma-separated folds to run [default: all].",
    "jobs": "With --cv: processes.",
    "report": "With --cv: write the JSON here.",
}


@dataclass(frozen=True)
class TrainingRun:
    """A finished ``train``: the result, the split it was trained and measured on, the files written, and
    whether the folder held an export of an earlier model (removed: it no longer matches checkpoint.pt)."""

    result: TrainResult
    split: Split
    paths: list[Path]
    replaced_export: bool

    def describe(self, out: Path) -> list[str]:
        """The lines ``train`` prints: the recipe, time and held-out figures, the files, and the removed export."""
        metrics, split = self.result.metrics, self.split
        lines = [f"trained {self.result.config.recipe} recipe in {self.result.wall_seconds:.1f} s: held-out accuracy "
                 f"{metrics['accuracy']:.3f}, balanced accuracy {metrics['balanced_accuracy']:.3f} "
                 f"({len(split.train)} training pairs, {len(split.held_out)} held out)",
                 "wrote " + ", ".join(str(path) for path in self.paths)]  # fmt: skip
        if self.replaced_export:
            lines.append(f"removed the earlier model's export from {out} (it no longer matches checkpoint.pt); to "
                         f"classify with this model: rnnexport export --out {out}")  # fmt: skip
        return lines


def train_into(out: Path, config: TrainConfig, data: Path | None = None, name_column: str | None = None,
               label_column: str | None = None, on_data: Callable[[LabelledData], None] | None = None,
               on_step: Callable[[int, int, float], None] | None = None) -> TrainingRun:  # fmt: skip
    """Train ``config`` on the labelled data at ``data`` (default: the names data set, data.fetch.find_names_dir)
    and swap checkpoint.pt, training.json and the plots into ``out`` together. ``on_data(labelled)`` is called
    once the data is read, ``on_step(step, total, loss)`` after every update.

    Raises DataError/InputError (the data), TrainingError (the loss stopped being finite), OutputError."""
    labelled = read_labelled(find_names_dir(data), config.alphabet, name_column, label_column)
    if on_data is not None:
        on_data(labelled)
    split = split_pairs(labelled.pairs)
    result = train(split, labelled.labels, config, on_step=on_step)
    replaced_export = (Path(out) / EXPORT_FILES[0]).exists()
    record = data_record(labelled, data, name_column, label_column)
    paths = write_training_outputs(result, labelled.labels, out, record)
    return TrainingRun(result, split, paths, replaced_export)


def parse_folds(text: str | None) -> list[int] | None:
    """--folds: comma-separated fold numbers ('0,1,2'); None (every fold) for none. OptionError otherwise."""
    try:
        return [int(fold) for fold in text.split(",")] if text else None
    except ValueError:
        raise OptionError(f"--folds takes comma-separated fold numbers such as 0,1,2; got {text!r}") from None


def cross_validate_data(config: TrainConfig, n_folds: int, folds: list[int] | None, jobs: int,
                        report: Callable[[str], None], data: Path | None = None, name_column: str | None = None,
                        label_column: str | None = None, report_path: Path | None = None,
                        on_fold: Callable[[dict], None] | None = None) -> dict:  # fmt: skip
    """``evaluate --cv``: cross-validate ``config`` on the labelled data at ``data`` (crossval.cross_validate),
    ``report`` its tables (the recipe and the data, then crossval.format_cross_validation), then write them as
    JSON to ``report_path`` when given (checked writable before any training). Returns the summary.

    Raises OptionError (a ValueError) for n_folds < 2, folds outside [0, n_folds) or jobs < 1; DataError/InputError
    (the data),
    OutputError (the report)."""
    if report_path:
        check_output_file(report_path)  # before minutes of training, not after
    labelled = read_labelled(find_names_dir(data), config.alphabet, name_column, label_column)
    summary = cross_validate(labelled.pairs, labelled.labels, config, n_folds, folds, jobs, on_fold=on_fold)
    report(f"{config.recipe} recipe, {labelled.source}")
    report(format_cross_validation(summary))
    if report_path:
        atomic_write_json(report_path, {**summary, "data": labelled.source})
    return summary
