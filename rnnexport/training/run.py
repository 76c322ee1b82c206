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
from ..io.atomic import atomic_write_json
from ..io.outputs import check_output_file, files_read
from .crossval import cross_validate, format_cross_validation
from .loop import TrainResult, train
from .recipes import TrainConfig
from .reports import data_record, write_training_outputs


@dataclass(frozen=True)
class TrainingRun:
    """A finished ``train``: the result, the split it was trained and measured on, the files written, and
    the files of an earlier model's export removed from the folder (they no longer match checkpoint.pt)."""

    result: TrainResult
    split: Split
    paths: list[Path]
    removed: list[str]

    def describe(self, out: Path) -> list[str]:
        """The lines ``train`` prints: the recipe, time and held-out figures, the files, and the removed export."""
        metrics, split = self.result.metrics, self.split
        lines = [f"trained {self.result.config.recipe} recipe in {self.result.wall_seconds:.1f} s: held-out accuracy "
                 f"{metrics['accuracy']:.3f}, balanced accuracy {metrics['balanced_accuracy']:.3f} "
                 f"({len(split.train)} training pairs, {len(split.held_out)} held out)",
                 "wrote " + ", ".join(str(path) for path in self.paths)]  # fmt: skip
        if self.removed:
            lines.append(f"removed the earlier model's export from {out} (it no longer matches checkpoint.pt): "
                         f"{', '.join(self.removed)}; to classify with this model: rnnexport export --out "
                         f"{out}")  # fmt: skip
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
    record = data_record(labelled, data, name_column, label_column)
    paths, removed = write_training_outputs(result, labelled.labels, out, record)
    return TrainingRun(result, split, paths, removed)


def parse_folds(text: str | None) -> list[int] | None:
    """--folds: comma-separated fold numbers ('0,1,2'); None (every fold) for none. OptionError otherwise."""
    try:
        return [int(fold) for fold in text.split(",")] if text else None
    except ValueError:
        raise OptionError(f"--folds takes comma-separated fold numbers such as 0,1,2; got {text!r}") from None


def cross_validate_data(config: TrainConfig, n_folds: int, folds: list[int] | None, jobs: int,
                        report: Callable[[str], None], data: Path | None = None, name_column: str | None = None,
                        label_column: str | None = None, report_path: str | Path | None = None,
                        on_fold: Callable[[dict], None] | None = None) -> dict:  # fmt: skip
    """``evaluate --cv``: cross-validate ``config`` on the labelled data at ``data`` (crossval.cross_validate),
    ``report`` its tables (the recipe and the data, then crossval.format_cross_validation), then write them as
    JSON to ``report_path`` when given (checked writable before any training). Returns the summary.

    Raises OptionError (a ValueError) for n_folds < 2, folds outside [0, n_folds) or jobs < 1; DataError/InputError
    (the data),
    OutputError (the report)."""
    folder = find_names_dir(data)
    if report_path:
        check_output_file(report_path, files_read(folder))  # before minutes of training, not after
    labelled = read_labelled(folder, config.alphabet, name_column, label_column)
    summary = cross_validate(labelled.pairs, labelled.labels, config, n_folds, folds, jobs, on_fold=on_fold)
    report(f"{config.recipe} recipe, {labelled.source}")
    report(format_cross_validation(summary))
    if report_path:
        atomic_write_json(report_path, {**summary, "data": labelled.source})
    return summary
