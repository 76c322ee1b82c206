"""The training commands: ``data`` (fetch the names data set), ``train`` and ``evaluate`` (a checkpoint's held-out
table, or a recipe cross-validated)."""

from __future__ import annotations

from pathlib import Path

import click

from ..data.fetch import DATA_HELP, DATA_OPTIONS
from ..errors import RnnExportError
from ..training.help import EVALUATE_HELP, MODEL_CARD_HELP, MODEL_CARD_OPTIONS, TRAIN_HELP
from ..training.help import OPTION_HELP as HELP
from ..training.recipes import OVERRIDES
from . import options as opt
from .console import echo_err, steps_bar, user_errors


@click.command(help=DATA_HELP)
@opt.stacked(
    click.option("--from", "source", type=click.Path(file_okay=False, path_type=Path), help=DATA_OPTIONS["source"]),
    click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("data/names"),
                 show_default=True, help="Where to put them."),
    click.option("--refresh", is_flag=True, help="Download again even if a valid copy is already in --dest."),
)  # fmt: skip
def data(source: Path | None, dest: Path, refresh: bool) -> None:
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


@click.command(help=TRAIN_HELP)
@opt.stacked(
    click.option("--data", "--names-dir", "data_path", type=click.Path(path_type=Path), help=HELP["train_data"]),
    *opt.DATA_COLUMN_OPTIONS, *opt.overrides(*opt.SHAPE),
    click.option("--recipe", type=click.Choice(opt.RECIPE_NAMES), default="default", show_default=True,
                 help=HELP["recipe"]),
    *opt.overrides(*(field for field in OVERRIDES if field not in opt.SHAPE)),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=opt.DEFAULT_MODEL_DIR,
                 show_default=True, help=HELP["out"]),
    click.option("--quiet", is_flag=True, help="No progress bar."),
)  # fmt: skip
def train(data_path, name_column, label_column, recipe, out, quiet, **overrides) -> None:
    from ..training.run import train_into

    config = _config(recipe, **overrides)
    with user_errors(), steps_bar(quiet, "training") as bar:
        on_step = lambda step, total, loss: bar(step + 1, total, f"loss={loss:.3f}")  # noqa: E731
        run = train_into(out, config, data_path, name_column, label_column, _warn_dropped, on_step)
    for line in run.describe(out):
        click.echo(line)


def _warn_dropped(labelled) -> None:
    if labelled.dropped_note:
        echo_err(f"Warning: {labelled.dropped_note}")


@click.command(help=EVALUATE_HELP)
@opt.stacked(
    click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help=HELP["checkpoint"]),
    opt.model_dir_option,
    click.option("--data", "--names-dir", "data_path", type=click.Path(path_type=Path), help=HELP["evaluate_data"]),
    *opt.DATA_COLUMN_OPTIONS,
    click.option("--cv", "n_folds", type=click.IntRange(min=2), help=HELP["n_folds"]),
    click.option("--recipe", type=click.Choice(opt.RECIPE_NAMES), default="default", show_default=True,
                 help=HELP["cv_recipe"]),
    click.option("--prior-shift", type=opt.FINITE, help=HELP["prior_shift"]),
    click.option("--folds", help=HELP["folds"]),
    click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help=HELP["jobs"]),
    click.option("--report", type=click.Path(dir_okay=False), help=HELP["report"]),
    *opt.overrides(*opt.SHAPE, "epochs"),
)  # fmt: skip
def evaluate(checkpoint: Path | None, model_dir: Path, data_path: Path | None, name_column: str | None,
             label_column: str | None, n_folds, recipe, prior_shift, folds, jobs, report, **shape) -> None:  # fmt: skip
    opt.refuse_unless(bool(n_folds), ("recipe", "prior_shift", "folds", "jobs", "report", *shape), "with --cv")
    opt.refuse_unless(not n_folds, ("checkpoint",), "without --cv (cross-validation trains its own models)")
    if n_folds:
        from ..training.run import cross_validate_data, parse_folds

        config = _config(recipe, prior_shift=prior_shift, **shape)
        with user_errors():
            cross_validate_data(config, n_folds, parse_folds(folds), jobs, click.echo, data_path, name_column,
                                label_column, report, _fold_done)  # fmt: skip
        return
    from ..training.evaluation import evaluation_lines

    with user_errors():
        click.echo("\n".join(evaluation_lines(checkpoint or model_dir / "checkpoint.pt", data_path, name_column,
                                               label_column)))  # fmt: skip


@click.command("model-card", help=MODEL_CARD_HELP)
@opt.stacked(
    opt.model_dir_option,
    click.option("--cv-report", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
                 help=MODEL_CARD_OPTIONS["cv_report"]),
    click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/model_card.md"),
                 show_default=True, help=MODEL_CARD_OPTIONS["output"]),
)  # fmt: skip
def model_card(model_dir: Path, cv_report: Path, output: Path) -> None:
    from ..training.model_card import write_model_card

    with user_errors():
        click.echo(f"wrote {write_model_card(model_dir, cv_report, output)}")


def _fold_done(result: dict) -> None:
    echo_err(f"fold {result['fold']}: {result['train_seconds']:.1f} s")
