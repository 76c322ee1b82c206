"""The benchmark commands behind ``make bench`` and ``make bench-train``."""

from __future__ import annotations

from pathlib import Path

import click

from ..model.manifest import check_pin
from . import options as opt
from .console import user_errors

WORKDIR = click.Path(file_okay=False, path_type=Path)


@click.command()
@opt.stacked(
    click.option("--rows", type=click.IntRange(min=1000), default=1_000_000, show_default=True,
                 help="Names in the generated CSV (sampled from the data set with a fixed seed)."),
    opt.model_dir_option, opt.manifest_pin_option,
    click.option("--workdir", type=WORKDIR, default=Path("bench"), show_default=True,
                 help="Where the generated CSVs and results.json go."),
    click.option("--memory/--no-memory", default=True, show_default=True,
                 help="Also compare peak RSS at 1M and 5M rows, and time and peak RSS on issue 20's input shapes."),
    click.option("--dask/--no-dask", "with_dask", default=True, show_default=True,
                 help="Also time the dask engine on 2M rows (needs rnnexport[dask])."),
)  # fmt: skip
def bench(rows: int, model_dir: Path, manifest_pin: str | None, workdir: Path, memory: bool, with_dask: bool) -> None:
    """Measure classify end to end against the seed loop, torch.nn.RNN and the GEMM ceiling.

    \b
    Prints each figure as it is measured and writes WORKDIR/results.json. Takes a few minutes.
    Example:
      rnnexport bench --rows 1000000
    """
    from ..bench.suite import run_bench

    with user_errors():
        check_pin(model_dir, manifest_pin)
        path = run_bench(model_dir, workdir, rows, memory, with_dask, click.echo)
    click.echo(f"wrote {path}")


@click.command("bench-train")
@click.option("--names-dir", type=click.Path(path_type=Path), help="Names folder [default: data/names, else "
              "$RNNEXPORT_NAMES_DIR].")  # fmt: skip
@click.option("--workdir", type=WORKDIR, default=Path("bench"), show_default=True)
def bench_train(names_dir: Path | None, workdir: Path) -> None:
    """The default and adamw recipes under 10-fold cross-validation beside the seed recipe on fold 0.

    \b
    Checks the model-quality targets (accuracy, balanced accuracy, ECE, lower/UPPER case, time) on the adamw recipe and
    writes bench/train.json. Takes about ten minutes on 2 cores (the seed and the folds run side by side). Example:
      rnnexport bench-train
    """
    from ..bench.train import bench_training

    with user_errors():
        bench_training(names_dir, workdir, click.echo)
