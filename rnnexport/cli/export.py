"""The export commands: ``export`` (a checkpoint to every artifact, verified before anything is replaced) and
``verify`` (exported runtimes against eager PyTorch), each printing the parity report."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ParityError
from ..model.manifest import check_pin
from ..runtimes.registry import VERIFY_RUNTIMES  # torch-free
from ..verification.parity import Tolerance
from . import options as opt
from .console import user_errors


@click.command()
@opt.stacked(
    click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help="The checkpoint to export "
                 "[default: OUT/checkpoint.pt, what `rnnexport train --out OUT` wrote]."),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=opt.DEFAULT_MODEL_DIR,
                 show_default=True),
    opt.verify_names_options, opt.tolerance_options("Parity rule of the verification"),
    click.option("--prior-shift", type=opt.FINITE,
                 help="Re-bake v at this τ from the unshifted weights (T re-fitted)."),
)  # fmt: skip
def export(checkpoint: Path | None, out: Path, names_csv: Path | None, name_column: str | None, atol: float,
           rtol: float, prior_shift: float | None) -> None:  # fmt: skip
    """Export a checkpoint to TorchScript and ONNX, then verify every artifact against PyTorch.

    \b
    Writes char_rnn.pt (scripted loop), char_rnn_cell.onnx (one step), char_rnn.onnx (whole name),
    char_rnn_step.onnx and char_rnn_head.onnx (prefix sharing), fold_table.json, parity.json and
    manifest.json. Nothing is replaced unless verification passes.
    Example:
      rnnexport export --checkpoint exported/checkpoint.pt --out exported
      rnnexport export --prior-shift 1.0 --out runs/balanced   # same training, another operating point
    """
    from ..export.artifacts import export_artifacts
    from ..runtimes.torch_runtimes import use_one_intra_op_thread
    from ..verification.verify import format_report, names_to_verify

    use_one_intra_op_thread()  # parity is measured as the torch runtimes run: 1-thread calls

    checkpoint = checkpoint or out / "checkpoint.pt"
    with user_errors():
        names, source = names_to_verify(names_csv, name_column)
        result = export_artifacts(checkpoint, out, names, source, Tolerance(atol, rtol), prior_shift)
    click.echo(
        f"exported {checkpoint} to {out}/ in {result.seconds:.1f} s; parity on {result.parity['n_names']} names:"
    )
    click.echo(format_report(result.parity))


@click.command()
@opt.stacked(
    click.option("--runtime", type=click.Choice([*VERIFY_RUNTIMES, "all"]), default="all", show_default=True),
    opt.tolerance_options("Parity rule"), opt.verify_names_options, opt.model_dir_option, opt.no_verify_hash_option,
    opt.manifest_pin_option,
    click.option("--report", "report_path", type=click.Path(dir_okay=False),
                 help="Also write the parity report as JSON here (never over a file the verification reads: the "
                 "model's files are never written)."),
)  # fmt: skip
def verify(runtime: str, atol: float, rtol: float, names_csv: Path | None, name_column: str | None, model_dir: Path,
           no_verify_hash: bool, manifest_pin: str | None, report_path: str | None) -> None:  # fmt: skip
    """Check exported runtimes against eager PyTorch on every name; print the parity report.

    \b
    Exit 0 when every log-prob of every runtime is within atol + rtol·|b| of eager PyTorch's float64 b,
    with 100% top-1 agreement, else 1.
    Examples:
      rnnexport verify --model-dir exported --report parity.json
      rnnexport verify --runtime onnx --atol 1e-5 --rtol 1e-6
    """
    from ..runtimes.torch_runtimes import use_one_intra_op_thread
    from ..verification.verify import format_report, verify_folder

    use_one_intra_op_thread()  # parity is measured as the torch runtimes run: 1-thread calls

    runtimes = VERIFY_RUNTIMES if runtime == "all" else (runtime,)
    with user_errors():
        check_pin(model_dir, manifest_pin, not no_verify_hash)
        try:
            parity = verify_folder(model_dir, names_csv, name_column, Tolerance(atol, rtol), runtimes,
                                   not no_verify_hash, report_path)  # fmt: skip
        except ParityError as error:
            click.echo(format_report(error.report))
            raise click.ClickException(str(error)) from None
    click.echo(f"verified {model_dir}/ on {parity['n_names']} names ({parity['names_source']}):")
    click.echo(format_report(parity))
