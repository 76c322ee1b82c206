"""The benchmark commands behind ``make bench`` and ``make bench-train``."""

from __future__ import annotations

from pathlib import Path

import click

from ..bench.suite import BENCH_HELP, BENCH_TRAIN_HELP
from ..bench.suite import OPTION_HELP as HELP
from ..model.manifest import check_pin
from . import options as opt
from .console import user_errors

WORKDIR = click.Path(file_okay=False, path_type=Path)


@click.command(help=BENCH_HELP)
@opt.stacked(
    click.option("--rows", type=click.IntRange(min=1000), default=1_000_000, show_default=True, help=HELP["rows"]),
    opt.model_dir_option, opt.manifest_pin_option,
    click.option("--workdir", type=WORKDIR, default=Path("bench"), show_default=True, help=HELP["workdir"]),
    click.option("--memory/--no-memory", default=True, show_default=True, help=HELP["memory"]),
    click.option("--dask/--no-dask", "with_dask", default=True, show_default=True, help=HELP["with_dask"]),
)  # fmt: skip
def bench(rows: int, model_dir: Path, manifest_pin: str | None, workdir: Path, memory: bool, with_dask: bool) -> None:
    from ..bench.suite import run_bench

    with user_errors():
        check_pin(model_dir, manifest_pin)
        path = run_bench(model_dir, workdir, rows, memory, with_dask, click.echo)
    click.echo(f"wrote {path}")


@click.command("bench-train", help=BENCH_TRAIN_HELP)
@click.option("--names-dir", type=click.Path(path_type=Path), help=HELP["names_dir"])
@click.option("--workdir", type=WORKDIR, default=Path("bench"), show_default=True)
def bench_train(names_dir: Path | None, workdir: Path) -> None:
    from ..bench.train import bench_training

    with user_errors():
        bench_training(names_dir, workdir, click.echo)
