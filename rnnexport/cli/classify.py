"""The classification commands: ``classify`` (a CSV or Parquet file of names, any size, local or on Dask) and
``predict`` (a few names on the command line)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..classify.options import CLASSIFY_HELP, DEFAULT_BATCH_SIZE, DEFAULT_BLOCKSIZE, ENGINES, PREDICT_HELP
from ..classify.options import OPTION_HELP as HELP
from ..io.csv.records import DEFAULT_CHUNK_ROWS
from ..io.formats import AUTO, FORMATS
from ..model.manifest import check_pin
from ..runtimes.registry import DEVICES, ONNX_GRAPHS, RUNTIMES  # torch-free: keeps `classify --runtime onnx` light
from . import options as opt
from .console import echo_err, progress_bar, user_errors

FORMAT_CHOICE = click.Choice([AUTO, *FORMATS])
COUNT = click.IntRange(min=1)


@click.command(help=CLASSIFY_HELP)
@click.argument("input_path", metavar="INPUT", default="-")
@opt.stacked(
    click.option("-o", "--output", "output_path", default="-", show_default=True, help=HELP["output_path"]),
    click.option("--runtime", type=click.Choice(RUNTIMES), default="onnx", show_default=True, help=HELP["runtime"]),
    click.option("--onnx-graph", type=click.Choice(ONNX_GRAPHS), default="sequence", show_default=True,
                 help=HELP["onnx_graph"]),
    click.option("--column", help=HELP["column"]),
    click.option("--delimiter", help=HELP["delimiter"]),
    click.option("--no-header", is_flag=True, help=HELP["no_header"]),
    click.option("--top-k", type=COUNT, default=1, show_default=True, help=HELP["top_k"]),
    click.option("--batch-size", type=COUNT, default=DEFAULT_BATCH_SIZE, show_default=True, help=HELP["batch_size"]),
    click.option("--chunk-rows", type=COUNT, default=DEFAULT_CHUNK_ROWS, show_default=True, help=HELP["chunk_rows"]),
    click.option("--threads", type=COUNT, help=HELP["threads"]),
    click.option("--prefix-sharing/--no-prefix-sharing", default=True, show_default=True,
                 help=HELP["prefix_sharing"]),
    click.option("--check", is_flag=True, help=HELP["check"]),
    opt.tolerance_options("With --check"), opt.model_dir_option, opt.no_verify_hash_option, opt.manifest_pin_option,
    click.option("--encoding", help=HELP["encoding"]),
    click.option("--strict", is_flag=True, help=HELP["strict"]),
    click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True, help=HELP["device"]),
    click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True, help=HELP["engine"]),
    click.option("--scheduler", help=HELP["scheduler"]),
    click.option("--blocksize", default=DEFAULT_BLOCKSIZE, show_default=True, help=HELP["blocksize"]),
    click.option("--workers", type=COUNT, help=HELP["workers"]),
    click.option("--input-format", type=FORMAT_CHOICE, default=AUTO, show_default=True, help=HELP["input_format"]),
    click.option("--output-format", "--format", type=FORMAT_CHOICE, default=AUTO, show_default=True,
                 help=HELP["output_format"]),
    *opt.ANSWER_OPTIONS, click.option("--quiet", is_flag=True, help="No progress bar, no summary."),
)  # fmt: skip
def classify(input_path: str, quiet: bool, **params) -> None:
    from ..classify.options import ClassifyRequest
    from ..classify.pipeline import classify_file

    opt.refuse_unless(params["engine"] == "dask", ("scheduler", "blocksize", "workers"), "with --engine dask")
    opt.refuse_unless(params["runtime"] == "onnx", ("onnx_graph",), "with --runtime onnx")
    with user_errors(), progress_bar(quiet, "classifying", " rows") as bar:
        summary = classify_file(ClassifyRequest.from_options(input_path, **params), None if bar is None else bar.update)
    echo_err(summary.describe(params["engine"]), quiet)
    if summary.check is not None:
        line, passed = summary.check_verdict()
        echo_err(line)
        if not passed:
            sys.exit(3)


@click.command(help=PREDICT_HELP)
@click.argument("names", nargs=-1, required=True)
@opt.stacked(
    click.option("--runtime", type=click.Choice(RUNTIMES), default="onnx", show_default=True),
    click.option("--top-k", type=COUNT, help=HELP["predict_top_k"]),
    opt.model_dir_option, opt.manifest_pin_option, *opt.ANSWER_OPTIONS,
)  # fmt: skip
def predict(names: tuple[str, ...], runtime: str, top_k: int | None, model_dir: Path, manifest_pin: str | None,
            min_probability, coverage, set_method) -> None:  # fmt: skip
    from ..answers.rule import answer_rule
    from ..classify.predict import guessed_note, predict_top_k

    with user_errors():
        check_pin(model_dir, manifest_pin)
        answers = answer_rule(min_probability, coverage, set_method)
        predictions = predict_top_k(list(names), model_dir, runtime, top_k, answers)
    click.echo("\n".join(prediction.describe() for prediction in predictions))
    echo_err(guessed_note(predictions) or "", quiet=guessed_note(predictions) is None)
