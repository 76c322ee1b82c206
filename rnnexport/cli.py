"""The ``rnnexport`` command line: parses options, calls one library function, formats the result."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from .classify import DEFAULT_BATCH_SIZE, DEFAULT_BLOCKSIZE, DEFAULT_CHUNK_ROWS, ENGINES, ClassifyOptions
from .cli_exit import DEBUG_ENV, GuardedGroup
from .cli_options import FINITE, check_pin, manifest_pin_option, refuse_unless, tolerance_options
from .csvio.records import DEFAULT_CHUNK_BYTES
from .errors import OptionError, ParityError, RnnExportError, RnnExportWarning
from .formats import AUTO, FORMAT_NAMES, FORMATS
from .parity import Tolerance, failure_line
from .runtimes import (  # torch-free: keeps `classify --runtime onnx` light
    DEVICES,
    ONNX_GRAPHS,
    OPTIONAL_RUNTIMES,
    RUNTIMES,
    VERIFY_RUNTIMES,
)

DEFAULT_MODEL_DIR = Path("exported")
RECIPE_NAMES = ["default", "adamw", "sgd-2024", "seed"]  # train.RECIPES (not imported here: torch is heavy)


def _find_model_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """--model-dir through the library's one lookup (rnnexport.model_dir.find_model_dir)."""
    from .model_dir import find_model_dir

    with user_errors():
        return find_model_dir(value)


model_dir_option = click.option(
    "--model-dir", type=click.Path(file_okay=False, path_type=Path), callback=_find_model_dir,
    help="The exported model (artifacts plus manifest.json) [default: $RNNEXPORT_MODEL_DIR, else the model "
    "packaged with rnnexport].",
)  # fmt: skip
no_verify_hash_option = click.option(
    "--no-verify-hash", is_flag=True, help="Load artifacts even if they do not match manifest.json."
)


def verify_names_options(command):
    """--names and --name-column of export and verify."""
    command = click.option("--name-column", help="With --names: the names' column, by name or 1-based number "
                           "[default: 'name' in any case, else the only column].")(command)  # fmt: skip
    return click.option("--names", "names_csv", type=click.Path(exists=True, path_type=Path),
                        help="Verify on these names instead of the data set's (used only for a model of its "
                        "labels): a CSV or Parquet file, or a folder of <label>.txt files.")(command)  # fmt: skip


@contextlib.contextmanager
def user_errors():
    """Turn the library's typed errors into ``Error: <what>, <how to fix>`` and exit 1; an option's value it
    refuses (OptionError) is a usage error, exit 2, like one click refuses."""
    try:
        yield
    except OptionError as error:
        raise click.UsageError(str(error), click.get_current_context(silent=True)) from None
    except RnnExportError as error:
        raise click.ClickException(str(error)) from None


def echo_err(message: str, quiet: bool = False) -> None:
    if not quiet:
        click.echo(message, err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    """The library's warnings as one ``Warning: ...`` line on stderr; other warnings as Python shows them."""
    if issubclass(category, RnnExportWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _default(message, category, filename, lineno, file, line)


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
    warnings.showwarning = _show_warning


@main.command()
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the 18 label files from this folder instead of downloading (also: $RNNEXPORT_NAMES_DIR).",
)
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/names"),
    show_default=True,
    help="Where to put them.",
)
@click.option("--refresh", is_flag=True, help="Download again even if a valid copy is already in --dest.")
def data(source: Path | None, dest: Path, refresh: bool) -> None:
    """Fetch the names data set (18 files, one per language) into data/names/.

    \b
    Example (offline):
      rnnexport data --from ~/Downloads/data/names
    Without --from or $RNNEXPORT_NAMES_DIR it keeps a valid copy already in place, or downloads the
    PyTorch tutorial's data.zip (always with --refresh).
    """
    from .data import fetch_names, read_pairs

    with user_errors():
        folder = fetch_names(dest, source, refresh=refresh)
        pairs = read_pairs(folder)
    click.echo(f"{folder}: 18 label files, {len(pairs)} distinct (name, label) pairs")


DATA_COLUMN_OPTIONS = tuple(  # train's and evaluate's, for a table given as --data
    click.option(
        f"--{kind}-column",
        help=f"With a table as --data: the {kind}s' column, by name or 1-based number [default: '{kind}', any case].",
    )
    for kind in ("name", "label")
)


MODEL_SHAPE_OPTIONS = (  # train's, and evaluate --cv's (a custom model is cross-validated with its own shape)
    click.option(
        "--alphabet",
        help='The symbols names are folded to (printable ASCII, each once) [default: a-z A-Z and " .,;\'"].',
    ),
    click.option("--hidden-size", type=click.IntRange(min=1), help="Hidden units of the RNN [default: 128]."),
)
EPOCHS_OPTION = click.option("--epochs", type=float, help="Passes over the training pairs (ignored with --iterations).")


def _train_options(function):
    options = [
        click.option(
            "--data",
            "--names-dir",
            "data_path",
            type=click.Path(path_type=Path),
            help="Labelled names: a folder of <label>.txt files (any labels, at least 2), or a CSV, TSV or Parquet "
            "file with a name and a label column, read as classify reads its input [default: data/names, else "
            "$RNNEXPORT_NAMES_DIR].",
        ),
        *DATA_COLUMN_OPTIONS,
        *MODEL_SHAPE_OPTIONS,
        click.option(
            "--recipe",
            type=click.Choice(RECIPE_NAMES),
            default="default",
            show_default=True,
            help="'default': SGD with loss weights (the committed model); 'adamw': AdamW, case augmentation, "
            "calibration and prior shift 0.52 (docs/model.md); 'sgd-2024': the default's earlier name; 'seed': "
            "the original tutorial recipe (batch 1, label-uniform, lr 0.005, 200,000 steps).",
        ),
        EPOCHS_OPTION,
        click.option("--iterations", type=int, help="Number of updates (overrides --epochs)."),
        click.option("--batch-size", type=click.IntRange(min=1)),
        click.option("--lr", type=float, help="Learning rate of p -= lr * p.grad."),
        click.option("--lr-schedule", type=click.Choice(["constant", "cosine", "linear"])),
        click.option(
            "--sampling",
            type=click.Choice(["shuffled", "balanced"]),
            help="'balanced': label first, uniformly, then a name of it (the seed's way).",
        ),
        click.option(
            "--class-weight-power",
            type=float,
            help="Loss weight of a label ~ count**-P: 0 none, 0.5 sqrt-inverse, 1 inverse.",
        ),
        click.option("--weight-decay", type=float, help="Decoupled weight decay applied in the manual update."),
        click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), help="The hand-written update."),
        click.option("--case-lower", type=float, help="Probability a training name is lower-cased."),
        click.option("--case-upper", type=float, help="Probability a training name is UPPER-cased."),
        click.option("--letter-substitution", type=float, help="Per-letter probability of a random letter."),
        click.option(
            "--calibration-holdback", type=float, help="Share of training pairs held back to fit the temperature."
        ),
        click.option("--prior-shift", type=float, help="τ of v.bias -= τ·log(label frequency): 0 accuracy, 1 balance."),
        click.option("--clip-grad-norm", type=float, help="Clip the global gradient norm (0 turns it off)."),
        click.option("--seed", type=int, help="Random seed: same seed, same weights."),
        click.option("--threads", type=click.IntRange(min=1), help="torch intra-op threads."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@main.command()
@_train_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_MODEL_DIR,
    show_default=True,
    help="Where checkpoint.pt, training.json and the plots go (an earlier model's export there is removed).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(data_path, name_column, label_column, recipe, out, quiet, clip_grad_norm, **overrides) -> None:
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
    from .data import find_names_dir, read_labelled, split_pairs
    from .export.manifest import EXPORT_FILES
    from .train import data_record, recipe_config, write_training_outputs
    from .train import train as train_model

    if clip_grad_norm is not None:
        overrides["clip_grad_norm"] = clip_grad_norm or None
    try:  # every option is checked before any data is read
        config = recipe_config(recipe, **overrides)
    except (ValueError, RnnExportError) as error:  # a bad --alphabet is an InputError
        raise click.BadParameter(str(error)) from None
    with user_errors():
        labelled = read_labelled(find_names_dir(data_path), config.alphabet, name_column, label_column)
        labels, split = labelled.labels, split_pairs(labelled.pairs)
        if labelled.without_letter:
            echo_err(f"Warning: {labelled.without_letter:,} of {labelled.rows:,} names have no letter of the alphabet "
                     f"and were dropped ({labelled.source})")  # fmt: skip
        with _training_bar(quiet) as on_step:
            result = train_model(split, labels, config, on_step=on_step)
        exported = (Path(out) / EXPORT_FILES[0]).exists()
        paths = write_training_outputs(result, labels, out, data_record(labelled, data_path, name_column, label_column))
    click.echo(
        f"trained {config.recipe} recipe in {result.wall_seconds:.1f} s: held-out accuracy "
        f"{result.metrics['accuracy']:.3f}, balanced accuracy {result.metrics['balanced_accuracy']:.3f} "
        f"({len(split.train)} training pairs, {len(split.held_out)} held out)"
    )
    click.echo("wrote " + ", ".join(str(path) for path in paths))
    if exported:
        click.echo(f"removed the earlier model's export from {out} (it no longer matches checkpoint.pt); to classify "
                   f"with this model: rnnexport export --out {out}")  # fmt: skip


@contextlib.contextmanager
def progress_bar(quiet: bool, description: str, unit: str):
    """The one progress bar: a tqdm bar on stderr when it is a terminal, else None (no \\r updates in logs)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(desc=description, unit=unit, unit_scale=True, file=sys.stderr, dynamic_ncols=True,
              mininterval=0.5) as bar:  # fmt: skip
        yield bar


@contextlib.contextmanager
def _training_bar(quiet: bool):
    """Yield an ``on_step(step, total, loss)`` callback that drives the progress bar (or None)."""
    with progress_bar(quiet, "training", "step") as bar:
        if bar is None:
            yield None
            return

        def on_step(step: int, total: int, loss: float) -> None:
            if step == 0:  # a new training (the default recipe trains a calibration sibling first)
                bar.reset(total=total)
            bar.update(1)
            if step % 50 == 0 or step == total - 1:
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

        yield on_step


@main.command()
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="[default: checkpoint.pt of --model-dir, $RNNEXPORT_MODEL_DIR or the packaged model]",
)
@model_dir_option
@click.option(
    "--data",
    "--names-dir",
    "data_path",
    type=click.Path(path_type=Path),
    help="The labelled data the model was trained on (as train --data) [default: data/names, else "
    "$RNNEXPORT_NAMES_DIR].",
)
@DATA_COLUMN_OPTIONS[0]
@DATA_COLUMN_OPTIONS[1]
@click.option("--cv", "n_folds", type=click.IntRange(min=2), help="Cross-validate a recipe over N crc32 folds instead.")
@click.option(
    "--recipe", type=click.Choice(RECIPE_NAMES), default="default", show_default=True,
    help="With --cv: the recipe to train on each fold.",
)  # fmt: skip
@click.option("--prior-shift", type=FINITE, help="With --cv: τ to report (default: the recipe's).")
@click.option("--folds", help="With --cv: comma-separated folds to run [default: all].")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="With --cv: processes.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="With --cv: write the JSON here.")
@MODEL_SHAPE_OPTIONS[0]
@MODEL_SHAPE_OPTIONS[1]
@EPOCHS_OPTION
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
    refuse_unless(bool(n_folds), ("recipe", "prior_shift", "folds", "jobs", "report", *shape), "with --cv")
    refuse_unless(not n_folds, ("checkpoint",), "without --cv (cross-validation trains its own models)")
    if n_folds:
        overrides = {"prior_shift": prior_shift, **shape}
        _cross_validate((data_path, name_column, label_column), n_folds, recipe, overrides, folds, jobs, report)
        return
    from .metrics import format_table
    from .train import evaluate_checkpoint

    checkpoint = checkpoint or model_dir / "checkpoint.pt"
    with user_errors():
        source, metrics = evaluate_checkpoint(checkpoint, data_path, name_column, label_column)
    click.echo(f"held-out pairs of {source}, checkpoint {checkpoint}")
    click.echo(format_table(metrics))


def _cross_validate(data, n_folds, recipe, overrides, folds, jobs, report) -> None:
    """``data``: (path, name column, label column) as train --data reads them; ``overrides``: of the recipe."""
    from .atomic import atomic_write_json, check_output_file
    from .crossval import cross_validate, format_cross_validation
    from .data import find_names_dir, read_labelled
    from .train import recipe_config

    data_path, name_column, label_column = data
    try:
        config = recipe_config(recipe, **overrides)
        fold_list = [int(k) for k in folds.split(",")] if folds else None
    except (ValueError, RnnExportError) as error:  # a bad --alphabet is an InputError
        raise click.BadParameter(str(error)) from None
    with user_errors():
        if report:
            check_output_file(report)  # before minutes of training, not after
        labelled = read_labelled(find_names_dir(data_path), config.alphabet, name_column, label_column)
        try:
            summary = cross_validate(
                labelled.pairs,
                labelled.labels,
                config,
                n_folds,
                fold_list,
                jobs,
                on_fold=lambda r: echo_err(f"fold {r['fold']}: {r['train_seconds']:.1f} s"),
            )
        except ValueError as error:
            raise click.BadParameter(str(error)) from None  # fmt: skip
    click.echo(f"{recipe} recipe, {labelled.source}")
    click.echo(format_cross_validation(summary))
    if report:
        with user_errors():
            atomic_write_json(report, {**summary, "data": labelled.source})


@main.command()
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The checkpoint to export [default: OUT/checkpoint.pt, what `rnnexport train --out OUT` wrote].",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_MODEL_DIR, show_default=True)
@verify_names_options
@tolerance_options("Parity rule of the verification")
@click.option("--prior-shift", type=FINITE, help="Re-bake v at this τ from the unshifted weights (T re-fitted).")
@click.option(
    "--aoti",
    is_flag=True,
    help="Also compile char_rnn_aoti.pt2 with AOTInductor, for this CPU and torch (40-90 s on 2 cores).",
)
def export(checkpoint: Path | None, out: Path, names_csv: Path | None, name_column: str | None, atol: float,
           rtol: float, prior_shift: float | None, aoti: bool) -> None:  # fmt: skip
    """Export a checkpoint to TorchScript, torch.export and ONNX, then verify every artifact against PyTorch.

    \b
    Writes char_rnn.pt (scripted loop), char_rnn.pt2 (torch.export: the loop and the prefix programs),
    char_rnn_cell.onnx (one step), char_rnn.onnx (whole name), char_rnn_step.onnx and char_rnn_head.onnx
    (prefix sharing), fold_table.json, parity.json and manifest.json; with --aoti, char_rnn_aoti.pt2
    (AOTInductor, for C++ without Python; it runs only on this CPU's kind and this torch version).
    Nothing is replaced unless verification passes.
    Example:
      rnnexport export --checkpoint exported/checkpoint.pt --out exported
      rnnexport export --aoti --out exported                   # plus the AOTInductor package
      rnnexport export --prior-shift 1.0 --out runs/balanced   # same training, another operating point
    """
    from .data import read_names
    from .export import export_artifacts
    from .runtimes import use_one_intra_op_thread

    use_one_intra_op_thread()  # parity is measured as the torch runtimes run: 1-thread calls

    checkpoint = checkpoint or out / "checkpoint.pt"
    with user_errors():
        names, source = read_names(names_csv, name_column) if names_csv else (None, "given")
        result = export_artifacts(checkpoint, out, names=names, names_source=source, tolerance=Tolerance(atol, rtol),
                                  prior_shift=prior_shift, aoti=aoti)  # fmt: skip
    compiled = f" (AOTInductor compile {result.aoti_seconds:.1f} s)" if result.aoti_seconds is not None else ""
    click.echo(
        f"exported {checkpoint} to {out}/ in {result.seconds:.1f} s{compiled}; parity on {result.parity['n_names']} "
        "names:"
    )
    click.echo(format_parity(result.parity))


def format_parity(parity: dict) -> str:
    """The parity report as a compact table: one row per runtime, then the worst ratio by reference band."""
    lines = [f"rule: |a - b| <= {parity['atol']:g} + {parity['rtol']:g}·|b|, b = {parity['reference']}",
             f"{'runtime':<25} {'max abs':>9} {'max rel':>9} {'ratio':>6} {'min atol':>9} {'top-1':>8}  result  "
             "worst: name, label (reference log-prob)"]  # fmt: skip
    for name, entry in parity["runtimes"].items():
        worst = entry["worst"]
        lines.append(
            f"{name:<25} {entry['max_abs_diff']:>9.3g} {entry['max_rel_diff']:>9.3g} {entry['worst_ratio']:>6.3f} "
            f"{entry['min_atol_to_pass']:>9.3g} {entry['top1_agreement']:>8.2%}  "
            f"{'pass' if entry['passed'] else 'FAIL':<6}  "
            + (f"{worst['name']!r}, {worst['label']} ({worst['reference_log_prob']:.3g})" if worst else "-")
        )
    entries = list(parity["runtimes"].values())
    if entries:
        bands = [
            f"{band} {max(e['by_band'][band]['worst_ratio'] for e in entries):.3f}"
            f" ({sum(e['by_band'][band]['beyond'] for e in entries)} beyond)"
            for band in entries[0]["by_band"]
        ]
        lines.append("worst ratio by reference log-prob, every runtime: " + "; ".join(bands))
    hidden = parity.get("onnx_cell_vs_torchscript_hidden_states")
    if hidden:
        lines.append(f"onnx cell vs torchscript hidden states: max abs diff {hidden['max_abs_diff']:.3g}, "
                     f"ratio {hidden['worst_ratio']:.3f}")  # fmt: skip
    return "\n".join(lines)


@main.command()
@click.option(
    "--runtime", type=click.Choice([*VERIFY_RUNTIMES, *OPTIONAL_RUNTIMES, "all"]), default="all", show_default=True
)
@tolerance_options("Parity rule")
@verify_names_options
@model_dir_option
@no_verify_hash_option
@manifest_pin_option
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the parity report as JSON here (the model folder is never written).",
)
def verify(runtime: str, atol: float, rtol: float, names_csv: Path | None, name_column: str | None, model_dir: Path,
           no_verify_hash: bool, manifest_pin: str | None, report_path: Path | None) -> None:  # fmt: skip
    """Check exported runtimes against eager PyTorch on every name; print the parity report.

    \b
    Exit 0 when every log-prob of every runtime is within atol + rtol·|b| of eager PyTorch's float64 b,
    with 100% top-1 agreement, else 1.
    Examples:
      rnnexport verify --model-dir exported --report parity.json
      rnnexport verify --runtime onnx --atol 1e-5 --rtol 1e-6
    """
    from .atomic import atomic_write_json
    from .data import read_names
    from .runtimes import use_one_intra_op_thread
    from .verify import verify_artifacts

    use_one_intra_op_thread()  # parity is measured as the torch runtimes run: 1-thread calls

    runtimes = None if runtime == "all" else (runtime,)  # all: every runtime whose artifact is there
    with user_errors():
        check_pin(model_dir, manifest_pin, not no_verify_hash)
        names, source = read_names(names_csv, name_column) if names_csv else (None, "given")
        try:
            parity = verify_artifacts(model_dir, names, source, Tolerance(atol, rtol), runtimes, not no_verify_hash)
        except ParityError as error:
            if report_path is not None:
                atomic_write_json(report_path, error.report)
            click.echo(format_parity(error.report))
            raise click.ClickException(str(error)) from None
        if report_path is not None:
            atomic_write_json(report_path, parity)
    click.echo(f"verified {model_dir}/ on {parity['n_names']} names ({parity['names_source']}):")
    click.echo(format_parity(parity))


@main.command()
@click.argument("input_path", metavar="INPUT", default="-")
@click.option(
    "-o", "--output", "output_path", default="-", show_default=True, help="Output CSV or Parquet file ('-' = stdout)."
)
@click.option(
    "--runtime",
    type=click.Choice(RUNTIMES),
    default="onnx",
    show_default=True,
    help="onnx: char_rnn.onnx (no torch import); onnx-cell: char_rnn_cell.onnx driven letter by letter, name by "
    "name, as an embedding service runs it (same as --onnx-graph cell; no prefix sharing); torchscript: "
    "char_rnn.pt; torch: eager checkpoint.",
)
@click.option(
    "--onnx-graph",
    type=click.Choice(ONNX_GRAPHS),
    default="sequence",
    show_default=True,
    help="With --runtime onnx: the whole-name graph, or the cell driven letter by letter.",
)
@click.option(
    "--column",
    help="The column holding names, by header name or 1-based number [default: 'name' exactly, else 'name' in any "
    "case or padding, else the only column; column 1 with --no-header].",
)
@click.option(
    "--delimiter",
    help="Field delimiter: , ; | or tab (also '\\t') [default: an Excel 'sep=X' first line, else ; tab or | when "
    "the header line has no comma but one of them, else ,]. The output uses the input's delimiter (from a Parquet "
    "input: this one, else ,).",
)
@click.option("--no-header", is_flag=True, help="The file has no header line (one name per line): none is written.")
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Also write language_2/probability_2 ... up to K.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Names per model call; each batch holds names of one length.",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_ROWS,
    show_default=True,
    help=f"Rows read per chunk (a chunk also stops at {DEFAULT_CHUNK_BYTES >> 20} MiB): memory stays flat whatever "
    "the file size.",
)
@click.option("--threads", type=click.IntRange(min=1), help="Threads for the model [default: all cores].")
@click.option(
    "--prefix-sharing/--no-prefix-sharing",
    default=True,
    show_default=True,
    help="Compute each distinct name and each shared prefix once (the same model; results differ from per-name "
    "by float32 rounding only, both verified <= 1e-5 from float64); off: every name from scratch. Not for "
    "onnx-cell, which runs the cell graph name by name.",
)
@click.option("--check", is_flag=True, help="Also run eager PyTorch (float64) on every row; exit 3 if any log-prob "
              "is beyond the parity rule (--atol, --rtol) or a top-1 label differs.")  # fmt: skip
@tolerance_options("With --check")
@model_dir_option
@no_verify_hash_option
@manifest_pin_option
@click.option(
    "--encoding",
    help="Input encoding, e.g. latin-1 (transcoded; the output is always UTF-8) [default: a UTF-8 or UTF-16 "
    "byte-order mark's, else utf-8].",
)
@click.option("--strict", is_flag=True, help="Fail on the first name with no letter instead of leaving it empty.")
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="cpu",
    show_default=True,
    help="cuda: torch/torchscript on the GPU; onnx with onnxruntime-gpu's CUDA provider.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="dask: partitions over a Dask cluster (pip install 'rnnexport[dask]').",
)
@click.option(
    "--scheduler",
    help="With --engine dask: an existing scheduler's address, or 'threads'/'sync' "
    "for in-process schedulers [default: a LocalCluster].",
)
@click.option(
    "--blocksize",
    default=DEFAULT_BLOCKSIZE,
    show_default=True,
    help="With --engine dask: the most bytes per partition (workers must read INPUT at the same path).",
)
@click.option("--workers", type=click.IntRange(min=1), help="With --engine dask: LocalCluster worker processes "
              "(threads with --scheduler threads) [default: all cores].")  # fmt: skip
@click.option(
    "--input-format",
    type=click.Choice([AUTO, *FORMATS]),
    default=AUTO,
    show_default=True,
    help="auto: Parquet for a .parquet/.parq/.pq name or a file starting with PAR1, else CSV (stdin: CSV).",
)
@click.option(
    "--output-format",
    "--format",
    type=click.Choice([AUTO, *FORMATS]),
    default=AUTO,
    show_default=True,
    help="auto: Parquet for a .parquet/.parq/.pq OUTPUT name, else CSV (stdout: CSV).",
)
@click.option("--quiet", is_flag=True, help="No progress bar, no summary.")
def classify(input_path, output_path, runtime, onnx_graph, column, delimiter, no_header, top_k, batch_size,
             chunk_rows, threads, check, atol, rtol, model_dir, no_verify_hash, encoding, strict, device, engine,
             scheduler, blocksize, workers, input_format, output_format, quiet, manifest_pin,
             prefix_sharing) -> None:  # fmt: skip
    """Classify every name of a CSV or Parquet file and write it back with language and probability columns.

    \b
    The file is read as Python's csv module reads it (quotes, "" inside quotes, LF, CRLF or
    CR line ends). Every input record is written back byte for byte (as UTF-8), in order,
    with language, probability (and language_2, probability_2, ... with --top-k) inserted
    before its line end, separated by the input's delimiter; a last line without a line
    end gets the file's first one. Blank lines are not rows: they are copied through as
    they are, with no prediction. An Excel 'sep=X' first line sets the delimiter and is
    not copied. A name with no letter of the alphabet (blank, digits, emoji) gets empty
    prediction columns and is counted as skipped.
    \b
    Parquet (by a .parquet/.parq/.pq name or --input-format/--format) is read row group
    by row group; a Parquet output keeps every input column with its type, then
    language (string) and probability (float64). CSV -> Parquet and back work in one run.
    \b
    Examples:
      rnnexport classify names.csv -o labelled.csv
      rnnexport classify names.csv --runtime torchscript --top-k 3 -o top3.csv
      cat names.csv | rnnexport classify - --column surname > labelled.csv
      rnnexport classify names.csv -o out.csv --check      # exit 3 if not equal to PyTorch
      rnnexport classify people.parquet -o labelled.parquet
      rnnexport classify names.csv -o labelled.parquet     # CSV in, Parquet out
    \b
    A file OUTPUT appears only once complete (an existing one is untouched on any error or signal);
    with -o - (stdout) rows are written as they are classified, like any Unix filter: on a failure
    the Error line and the exit status say the output is incomplete.
    Exit status: 0 ok, 1 bad input or artifacts, 2 a bad option, 3 --check found a difference beyond
    --atol (the output is still written), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP, 141 stdout's
    reader went away.
    """
    from .classify import ClassifyRequest, DaskOptions, classify_file
    from .csvio.reader import delimiter_option
    from .csvio.records import DELIMITERS

    if engine == "dask":
        _check_dask_options(device, check, input_path, output_path)
    refuse_unless(engine == "dask", ("scheduler", "blocksize", "workers"), "with --engine dask")
    if workers is not None and scheduler not in (None, "threads"):
        raise click.UsageError(f"--workers sizes a LocalCluster (or the threads scheduler); with --scheduler "
                               f"{scheduler} it would be ignored: drop it")  # fmt: skip
    refuse_unless(runtime == "onnx", ("onnx_graph",), "with --runtime onnx")
    with user_errors(), _rows_bar(quiet) as on_rows:
        request = ClassifyRequest(
            input_path, output_path, model_dir, ClassifyOptions(
                column, top_k, batch_size, chunk_rows, encoding, strict, delimiter_option(delimiter), not no_header,
                prefix_sharing=prefix_sharing, input_format=input_format, output_format=output_format,
            ),
            runtime, onnx_graph, threads, Tolerance(atol, rtol) if check else None, not no_verify_hash, device, engine,
            DaskOptions(scheduler, blocksize, workers),
        )  # fmt: skip
        check_pin(model_dir, manifest_pin, not no_verify_hash)
        summary = classify_file(request, on_rows)
    if not quiet:
        copied = "copied" if summary.output_format == "csv" else "not written (Parquet has no blank rows)"
        blank = f", {summary.blank} blank lines {copied}" if summary.blank else ""
        lost = (
            f", {summary.lost} {'name' if summary.lost == 1 else 'names'} lost characters in folding"
            if summary.lost
            else ""
        )
        source = f"CSV ({DELIMITERS[summary.delimiter]})" if summary.delimiter else "Parquet"
        echo_err(
            f"{summary.records} records in, {summary.rows} rows out "
            f"({summary.skipped} skipped: no letter{blank}{lost}) in {summary.seconds:.2f} s, "
            f"{summary.names_per_second:,.0f} names/s, runtime {summary.runtime}, engine {engine}, "
            f"column {summary.column!r}, {source} -> {FORMAT_NAMES[summary.output_format]}"
        )
    if summary.check is not None:
        report = summary.check.report()
        echo_err(f"check against eager PyTorch (float64) over {report['names']} names: "
                 + ("ok; " if report["passed"] else "MISMATCH; ") + failure_line(summary.runtime, report))  # fmt: skip
        if not report["passed"]:
            sys.exit(3)


def _check_dask_options(device: str, check: bool, input_path: str, output_path: str) -> None:
    if device != "cpu":
        raise click.UsageError("--engine dask runs on the CPU; use --engine local with --device cuda")
    if check:
        raise click.UsageError("--check runs with --engine local only (it needs the eager reference in-process)")
    if input_path == "-" or output_path == "-":
        raise click.UsageError("--engine dask reads and writes files: give INPUT and -o OUTPUT paths, not '-'")


@contextlib.contextmanager
def _rows_bar(quiet: bool):
    """Yield an ``on_rows(count)`` callback for classify's progress bar (or None)."""
    with progress_bar(quiet, "classifying", " rows") as bar:
        yield None if bar is None else bar.update


@main.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--runtime", type=click.Choice(RUNTIMES), default="onnx", show_default=True)
@click.option(
    "--top-k", type=click.IntRange(min=1), help="How many labels to show [default: 3, or all of a model with fewer]."
)
@model_dir_option
@manifest_pin_option
def predict(names: tuple[str, ...], runtime: str, top_k: int | None, model_dir: Path, manifest_pin: str | None) -> None:
    """Print the top-k labels of names given on the command line, with the folded form the model saw.

    \b
    Example:
      rnnexport predict 'Yue Tingsong' Dvořák Müller
      Dvořák -> Dvorak: Czech 0.889, ...
    """
    from .classify import predict_top_k

    with user_errors():
        check_pin(model_dir, manifest_pin)
        predictions = predict_top_k(list(names), model_dir, runtime, top_k)
    for prediction in predictions:
        if prediction.top is None:
            click.echo(f"{prediction.name}: no prediction (no letter of the alphabet)")
            continue
        # The folded form the model saw, when folding changed the name: "Łukasz -> Lukasz: Polish 0.712, ..."
        shown = prediction.name if prediction.folded == prediction.name else f"{prediction.name} -> {prediction.folded}"
        click.echo(f"{shown}: " + ", ".join(f"{label} {probability:.3f}" for label, probability in prediction.top))


@main.command()
@click.option(
    "--rows",
    type=click.IntRange(min=1000),
    default=1_000_000,
    show_default=True,
    help="Names in the generated CSV (sampled from the data set with a fixed seed).",
)
@model_dir_option
@manifest_pin_option
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench"),
    show_default=True,
    help="Where the generated CSVs and results.json go.",
)
@click.option(
    "--memory/--no-memory",
    default=True,
    show_default=True,
    help="Also compare peak RSS at 1M and 5M rows (streaming keeps it flat).",
)
@click.option(
    "--dask/--no-dask",
    "with_dask",
    default=True,
    show_default=True,
    help="Also time the dask engine on 2M rows (needs rnnexport[dask]).",
)
def bench(rows: int, model_dir: Path, manifest_pin: str | None, workdir: Path, memory: bool, with_dask: bool) -> None:
    """Measure classify end to end against the seed loop, torch.nn.RNN and the GEMM ceiling.

    \b
    Prints each figure as it is measured and writes WORKDIR/results.json. Takes a few minutes.
    Example:
      rnnexport bench --rows 1000000
    """
    from .bench.classify import memory_scaling, run_classify_bench
    from .verify import dataset_names

    with user_errors():
        check_pin(model_dir, manifest_pin)
        names, _ = dataset_names()
        results = run_classify_bench(model_dir, workdir, names, rows, click.echo)
        if memory:
            click.echo("peak memory of classify --runtime onnx (streaming):")
            results["memory"] = memory_scaling(model_dir, workdir, names, click.echo)
        if with_dask:
            results["dask"] = _bench_dask(model_dir, workdir)
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    click.echo(f"wrote {workdir / 'results.json'}")


def _bench_dask(model_dir: Path, workdir: Path) -> list[dict]:
    try:
        from .bench.dask import DASK_BENCH_ROWS, bench_dask
    except ImportError:
        click.echo("dask engine: skipped (pip install 'rnnexport[dask]')")
        return []
    click.echo(f"local engine vs dask on {DASK_BENCH_ROWS:,} rows:")
    measured = bench_dask(DASK_BENCH_ROWS, model_dir, workdir)
    for entry in measured:
        click.echo(f"  {entry}")
    return measured


@main.command("bench-train")
@click.option(
    "--names-dir",
    type=click.Path(path_type=Path),
    help="Names folder [default: data/names, else $RNNEXPORT_NAMES_DIR].",
)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench"), show_default=True)
def bench_train(names_dir: Path | None, workdir: Path) -> None:
    """The default and adamw recipes under 10-fold cross-validation beside the seed recipe on fold 0.

    \b
    Checks the model-quality targets (accuracy, balanced accuracy, ECE, lower/UPPER case, time) on the adamw recipe and
    writes bench/train.json. Takes about ten minutes on 2 cores (the seed and the folds run side by side). Example:
      rnnexport bench-train
    """
    from .bench.train import CV_RECIPES, TARGET_RECIPE, run_train_bench, target_rows
    from .crossval import format_cross_validation
    from .data import find_names_dir, read_labelled

    with user_errors():
        labelled = read_labelled(find_names_dir(names_dir))
        results = run_train_bench(labelled.pairs, labelled.labels, click.echo)
    for recipe in CV_RECIPES:
        click.echo(f"\n{recipe} recipe, 10-fold cross-validation:")
        click.echo(format_cross_validation(results[recipe]))
    seed = results["seed"]
    click.echo(f"\n{'recipe':<28} {'accuracy':>9} {'balanced':>9} {'ECE':>7} {'train s':>8}")
    click.echo(f"{'seed, fold 0':<28} {seed['accuracy']:>9.3f} {seed['balanced_accuracy']:>9.3f} {seed['ece']:>7.3f} "
               f"{seed['train_seconds']:>8.1f}")  # fmt: skip
    for recipe in CV_RECIPES:
        summary = results[recipe]
        at_tau = summary["frontier"][summary["prior_shift"]]["original"]
        click.echo(f"{recipe + ', 10-fold mean, τ ' + str(summary['prior_shift']):<28} "
                   f"{at_tau['accuracy']['mean']:>9.3f} {at_tau['balanced_accuracy']['mean']:>9.3f} "
                   f"{at_tau['ece']['mean']:>7.3f} {summary['train_seconds']['mean']:>8.1f}")  # fmt: skip
    click.echo(f"bench wall time {results['wall_seconds']:.0f} s\n\nissue 13's targets, {TARGET_RECIPE} recipe:")
    for name, comparison, bound, value, met in target_rows(results):
        click.echo(f"{name:<44} {value:>8.4f} {comparison} {bound:<6} {'met' if met else 'MISSED'}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "train.json").write_text(json.dumps(results, indent=2) + "\n")
