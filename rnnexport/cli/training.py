"""The training commands: ``data`` (fetch the names data set), ``train`` and ``evaluate`` (a checkpoint's held-out
table, or a recipe cross-validated)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from ..errors import RnnExportError
from ..training.recipes import OVERRIDES
from . import options as opt
from .console import echo_err, progress_bar, user_errors


@click.command()
@opt.stacked(
    click.option("--from", "source", type=click.Path(file_okay=False, path_type=Path),
                 help="Copy the 18 label files from this folder instead of downloading (also: $RNNEXPORT_NAMES_DIR)."),
    click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("data/names"),
                 show_default=True, help="Where to put them."),
    click.option("--refresh", is_flag=True, help="Download again even if a valid copy is already in --dest."),
)  # fmt: skip
def data(source: Path | None, dest: Path, refresh: bool) -> None:
    """Fetch the names data set (18 files, one per language) into data/names/.

    \b
    Example (offline):
      rnnexport data --from ~/Downloads/data/names
    Without --from or $RNNEXPORT_NAMES_DIR it keeps a valid copy already in place, or downloads the
    PyTorch tutorial's data.zip (always with --refresh).
    """
    from ..data.fetch import fetch_names
    from ..data.labelled import read_pairs

    with user_errors():
        folder = fetch_names(dest, source, refresh=refresh)
        pairs = read_pairs(folder)
    click.echo(f"{folder}: 18 label files, {len(pairs)} distinct (name, label) pairs")


def _config(recipe: str, **overrides):
    """The recipe's config with the options' overrides; a bad value (a bad --alphabet too) is a usage error."""
    from ..training.recipes import recipe_config

    try:  # every option is checked before any data is read
        return recipe_config(recipe, **overrides)
    except (ValueError, RnnExportError) as error:  # a bad --alphabet is an InputError
        raise click.BadParameter(str(error)) from None


@click.command()
@opt.stacked(
    click.option("--data", "--names-dir", "data_path", type=click.Path(path_type=Path),
                 help="Labelled names: a folder of <label>.txt files (any labels, at least 2), or a CSV, TSV or "
                 "Parquet file with a name and a label column, read as classify reads its input [default: "
                 "data/names, else $RNNEXPORT_NAMES_DIR]."),
    *opt.DATA_COLUMN_OPTIONS, *opt.overrides(*opt.SHAPE),
    click.option("--recipe", type=click.Choice(opt.RECIPE_NAMES), default="default", show_default=True,
                 help="'default': AdamW with w's singular values clamped at 1.5, case augmentation, calibration and "
                 "prior shift 0.52 (the committed model, docs/model.md); 'adamw': the same unclamped, 40 epochs; "
                 "'sgd' (or 'sgd-2024'): SGD with loss weights, the default until 2026-12; 'seed': the original "
                 "tutorial recipe (batch 1, label-uniform, lr 0.005, 200,000 steps)."),
    *opt.overrides(*(field for field in OVERRIDES if field not in opt.SHAPE)),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=opt.DEFAULT_MODEL_DIR,
                 show_default=True, help="Where checkpoint.pt, training.json and the plots go (an earlier model's "
                 "export there is removed)."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
)  # fmt: skip
def train(data_path, name_column, label_column, recipe, out, quiet, **overrides) -> None:
    """Train the RNN with a hand-written update (SGD; AdamW in --recipe adamw) and write checkpoint.pt,
    training.json and three plots (loss curve, confusion matrix, reliability diagram).

    \b
    Labels come from the data (sorted); the held-out split of docs/model.md applies to any data.
    Examples:
      rnnexport train                          # the default recipe (~20 s on 2 cores)
      rnnexport train --recipe seed --out runs/seed
      rnnexport train --epochs 5 --lr 0.2 --seed 1 --out runs/try
      rnnexport train --data people.csv --name-column surname --label-column origin --out runs/people
      rnnexport train --data folder_of_label_files --alphabet abcdefghijklmnopqrstuvwxyz --hidden-size 64
    """
    from ..training.run import train_into

    config = _config(recipe, **overrides)
    with user_errors(), _training_bar(quiet) as on_step:
        run = train_into(out, config, data_path, name_column, label_column, _warn_dropped, on_step)
    for line in run.describe(out):
        click.echo(line)


def _warn_dropped(labelled) -> None:
    if labelled.dropped_note:
        echo_err(f"Warning: {labelled.dropped_note}")


@contextlib.contextmanager
def _training_bar(quiet: bool):
    """Yield an ``on_step(step, total, loss)`` callback that drives the progress bar, opened at the first step
    (after the data was read)."""
    with contextlib.ExitStack() as stack:
        bars = []

        def on_step(step: int, total: int, loss: float) -> None:
            if not bars:
                bars.append(stack.enter_context(progress_bar(quiet, "training", "step")))
            if bars[0] is None:
                return
            if step == 0:  # a new training (the default recipe trains a calibration sibling first)
                bars[0].reset(total=total)
            bars[0].update(1)
            if step % 50 == 0 or step == total - 1:
                bars[0].set_postfix(loss=f"{loss:.3f}", refresh=False)

        yield on_step


@click.command()
@opt.stacked(
    click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
                 help="[default: checkpoint.pt of --model-dir, $RNNEXPORT_MODEL_DIR or the packaged model]"),
    opt.model_dir_option,
    click.option("--data", "--names-dir", "data_path", type=click.Path(path_type=Path),
                 help="The labelled data the model was trained on (as train --data) [default: data/names, else "
                 "$RNNEXPORT_NAMES_DIR]."),
    *opt.DATA_COLUMN_OPTIONS,
    click.option("--cv", "n_folds", type=click.IntRange(min=2), help="Cross-validate a recipe over N crc32 folds "
                 "instead."),
    click.option("--recipe", type=click.Choice(opt.RECIPE_NAMES), default="default", show_default=True,
                 help="With --cv: the recipe to train on each fold."),
    click.option("--prior-shift", type=opt.FINITE, help="With --cv: τ to report (default: the recipe's)."),
    click.option("--folds", help="With --cv: comma-separated folds to run [default: all]."),
    click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="With --cv: processes."),
    click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="With --cv: write the JSON here."),
    *opt.overrides(*opt.SHAPE, "epochs"),
)  # fmt: skip
def evaluate(checkpoint: Path | None, model_dir: Path, data_path: Path | None, name_column: str | None,
             label_column: str | None, n_folds, recipe, prior_shift, folds, jobs, report, **shape) -> None:  # fmt: skip
    """Print the held-out table of a checkpoint (per-label precision, recall, F1; accuracy, balanced accuracy,
    ECE), or cross-validate a recipe with --cv.

    \b
    Examples:
      rnnexport evaluate --checkpoint exported/checkpoint.pt
      rnnexport evaluate --model-dir runs/people --data people.csv --name-column surname --label-column origin
      rnnexport evaluate --cv 10 --recipe adamw  # 10 folds, 2 processes (~5 min)
      rnnexport evaluate --cv 10 --folds 0,1,2
      rnnexport evaluate --cv 5 --data people.csv --name-column surname --label-column origin \\
          --alphabet abcdefghijklmnopqrstuvwxyz --hidden-size 64   # a custom model's shape (as trained)
    """
    opt.refuse_unless(bool(n_folds), ("recipe", "prior_shift", "folds", "jobs", "report", *shape), "with --cv")
    opt.refuse_unless(not n_folds, ("checkpoint",), "without --cv (cross-validation trains its own models)")
    if n_folds:
        _cross_validate((data_path, name_column, label_column), n_folds, recipe, {"prior_shift": prior_shift, **shape},
                        folds, jobs, report)  # fmt: skip
        return
    from ..training.answer_reports import format_answers
    from ..training.evaluation import evaluate_checkpoint
    from ..training.metrics import format_table

    checkpoint = checkpoint or model_dir / "checkpoint.pt"
    with user_errors():
        source, metrics = evaluate_checkpoint(checkpoint, data_path, name_column, label_column)
    click.echo(f"held-out pairs of {source}, checkpoint {checkpoint}")
    click.echo(format_table(metrics))
    if "answers" in metrics:
        click.echo("\n".join(format_answers(metrics["answers"], list(metrics["per_label"]))))


@click.command("model-card")
@opt.stacked(
    opt.model_dir_option,
    click.option("--cv-report", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
                 help="The JSON of evaluate --cv --report (docs/reports/cv10_default.json)."),
    click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/model_card.md"),
                 show_default=True, help="Where the card goes."),
)  # fmt: skip
def model_card(model_dir: Path, cv_report: Path, output: Path) -> None:
    """Write the model card (Mitchell et al. 2019) from the model's reports and a cross-validation report.

    \b
    Example (make model-card):
      rnnexport model-card --model-dir exported --cv-report docs/reports/cv10_default.json
    """
    from ..training.model_card import write_model_card

    with user_errors():
        click.echo(f"wrote {write_model_card(model_dir, cv_report, output)}")


def _cross_validate(data, n_folds, recipe, overrides, folds, jobs, report) -> None:
    """``data``: (path, name column, label column) as train --data reads them; ``overrides``: of the recipe."""
    from ..training.run import cross_validate_data

    config = _config(recipe, **overrides)
    on_fold = lambda r: echo_err(f"fold {r['fold']}: {r['train_seconds']:.1f} s")  # noqa: E731
    with user_errors():
        try:
            fold_list = [int(k) for k in folds.split(",")] if folds else None
            cross_validate_data(config, n_folds, fold_list, jobs, click.echo, *data, report, on_fold)
        except ValueError as error:  # not a number, or a fold outside [0, n_folds)
            raise click.BadParameter(str(error)) from None
