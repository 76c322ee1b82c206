"""The export commands: ``export`` (a checkpoint to every artifact, verified before anything is replaced) and
``verify`` (exported runtimes against eager PyTorch), each printing the parity report."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ParityError
from ..export.artifacts import EXPORT_HELP, OPTION_HELP  # torch-free: the writers are imported when called
from ..model.manifest import check_pin
from ..runtimes.registry import OPTIONAL_RUNTIMES, VERIFY_RUNTIMES  # torch-free
from ..verification.parity import Tolerance
from ..verification.verify import VERIFY_HELP
from . import options as opt
from .console import steps_bar, user_errors


@click.command(help=EXPORT_HELP)
@opt.stacked(
    click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help=OPTION_HELP["checkpoint"]),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=opt.DEFAULT_MODEL_DIR,
                 show_default=True),
    opt.verify_names_options, opt.tolerance_options("Parity rule of the verification"),
    click.option("--prior-shift", type=opt.FINITE, help=OPTION_HELP["prior_shift"]),
    click.option("--aoti", is_flag=True, help=OPTION_HELP["aoti"]),
)  # fmt: skip
def export(checkpoint: Path | None, out: Path, names_csv: Path | None, name_column: str | None, atol: float,
           rtol: float, prior_shift: float | None, aoti: bool) -> None:  # fmt: skip
    from ..export.artifacts import export_folder
    from ..runtimes.torch_runtimes import use_one_intra_op_thread

    use_one_intra_op_thread()  # parity is measured as the torch runtimes run: 1-thread calls
    with user_errors(), steps_bar(False, "exporting") as on_step:
        result = export_folder(checkpoint, out, names_csv, name_column, Tolerance(atol, rtol), prior_shift, aoti,
                               on_step)  # fmt: skip
    click.echo("\n".join(result.describe()))


@click.command(help=VERIFY_HELP)
@opt.stacked(
    click.option("--runtime", type=click.Choice([*VERIFY_RUNTIMES, *OPTIONAL_RUNTIMES, "all"]), default="all",
                 show_default=True),
    opt.tolerance_options("Parity rule"), opt.verify_names_options, opt.model_dir_option, opt.no_verify_hash_option,
    opt.manifest_pin_option,
    click.option("--report", "report_path", type=click.Path(dir_okay=False),
                 help="Also write the parity report as JSON here (never over a file the verification reads: the "
                 "model's files are never written)."),
)  # fmt: skip
def verify(runtime: str, atol: float, rtol: float, names_csv: Path | None, name_column: str | None, model_dir: Path,
           no_verify_hash: bool, manifest_pin: str | None, report_path: str | None) -> None:  # fmt: skip
    from ..runtimes.torch_runtimes import use_one_intra_op_thread
    from ..verification.verify import format_report, verify_folder

    use_one_intra_op_thread()  # parity is measured as the torch runtimes run: 1-thread calls
    with user_errors(), steps_bar(False, "verifying") as on_step:
        check_pin(model_dir, manifest_pin, not no_verify_hash)
        try:
            parity = verify_folder(model_dir, names_csv, name_column, Tolerance(atol, rtol), runtime,
                                   not no_verify_hash, report_path, on_step)  # fmt: skip
        except ParityError as error:
            click.echo(format_report(error.report))
            raise click.ClickException(str(error)) from None
    click.echo(f"verified {model_dir}/ on {parity['n_names']} names ({parity['names_source']}):")
    click.echo(format_report(parity))
