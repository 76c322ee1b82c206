"""The ``rnnexport`` command group: its global options, and every command, one module per command group
(training.py, export.py, classify.py, bench.py)."""

from __future__ import annotations

import warnings

import click

from .. import __version__
from .bench import bench, bench_train
from .classify import classify, predict
from .console import DEBUG_ENV, GuardedGroup, show_warning
from .export import export, verify
from .training import data, evaluate, model_card, train


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rnnexport")
@click.option("--debug", is_flag=True, help=f"Show the traceback of an internal error (also: {DEBUG_ENV}=1).")
def main(debug: bool) -> None:
    """Train a hand-made character RNN on surnames, export it to TorchScript and ONNX,
    and classify names in batch with proof that every runtime matches PyTorch.

    \b
    Typical session (the packaged model classifies without training; to use your own, pass --model-dir):
      rnnexport classify names.csv -o labelled.csv
      rnnexport data --from ~/Downloads/data/names
      rnnexport train --out mymodel
      rnnexport export --out mymodel
      rnnexport classify names.csv --model-dir mymodel -o labelled.csv
    """
    warnings.showwarning = show_warning


for command in (data, train, evaluate, model_card, export, verify, classify, predict, bench, bench_train):
    main.add_command(command)
