"""Option types and the options several commands share: finite numbers, the model folder and its pin, the
parity rule's numbers, the names to verify on, the training data's columns and the model's shape."""

from __future__ import annotations

import math
from pathlib import Path

import click

from ..answers.rule import OPTION_HELP as ANSWER_HELP
from ..model.folder import MODEL_DIR_HELP
from ..model.manifest import MANIFEST_PIN_ENV, PIN_HELP
from ..training.recipes import OVERRIDES, RECIPES, option_name  # torch-free
from ..verification.verify import OPTION_HELP as NAMES_HELP
from .console import user_errors

DEFAULT_MODEL_DIR = Path("exported")
RECIPE_NAMES = list(RECIPES)


class FiniteFloatRange(click.FloatRange):
    """A float in a range that is also finite: click's FloatRange lets 'nan' through (no comparison fails)."""

    name = "float"  # the metavar --help shows: FLOAT

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def _describe_range(self) -> str:
        """The range --help shows: none for an unbounded one (click would print 'x<=None')."""
        return super()._describe_range() if self.min is not None or self.max is not None else ""


NON_NEGATIVE_FINITE = FiniteFloatRange(min=0.0)
FINITE = FiniteFloatRange()


def tolerance_options(what: str):
    """--atol and --rtol, the parity rule's numbers (rnnexport.parity): |a - b| <= atol + rtol·|b| per log-prob,
    b eager PyTorch's in float64; ``what`` names the check they set. The command gets ``atol`` and ``rtol``."""
    from ..verification.parity import ATOL, RTOL

    atol = click.option("--atol", type=NON_NEGATIVE_FINITE, default=ATOL, show_default=True,
                        help=f"{what}: the absolute part of |a - b| <= atol + rtol·|b| per log-prob.")  # fmt: skip
    rtol = click.option("--rtol", type=NON_NEGATIVE_FINITE, default=RTOL, show_default=True,
                        help="The relative part (b: eager PyTorch's log-prob in float64).")  # fmt: skip
    return lambda command: atol(rtol(command))


manifest_pin_option = click.option("--expect-manifest-sha256", "manifest_pin", envvar=MANIFEST_PIN_ENV, metavar="HEX",
                                   help=PIN_HELP)  # fmt: skip


def refuse_unless(condition: bool, names: tuple[str, ...], needs: str) -> None:
    """A usage error (exit 2) when an option among ``names`` (parameter names) was given on the command line or
    in the environment although ``condition`` is false: it would be ignored without a word."""
    if condition:
        return
    ctx = click.get_current_context()
    sources = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    given = [param.opts[0] for param in ctx.command.params if param.name in names
             and ctx.get_parameter_source(param.name) in sources]  # fmt: skip
    if given:
        raise click.UsageError(f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} only {needs}")


def stacked(*options):
    """One decorator applying ``options`` so that they are listed in this order."""

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _find_model_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """--model-dir through the library's one lookup (model.folder.find_model_dir)."""
    from ..model.folder import find_model_dir

    with user_errors():
        return find_model_dir(value)


model_dir_option = click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path),
                                callback=_find_model_dir, help=MODEL_DIR_HELP)  # fmt: skip
no_verify_hash_option = click.option(
    "--no-verify-hash", is_flag=True, help="Load artifacts even if they do not match manifest.json."
)
verify_names_options = stacked(  # export's and verify's
    click.option("--names", "names_csv", type=click.Path(exists=True, path_type=Path), help=NAMES_HELP["names"]),
    click.option("--name-column", help=NAMES_HELP["name_column"]),
)
DATA_COLUMN_OPTIONS = tuple(  # train's and evaluate's, for a table given as --data
    click.option(f"--{kind}-column", help=f"With a table as --data: the {kind}s' column, by name or 1-based number "
                 f"[default: '{kind}', any case].")
    for kind in ("name", "label")
)  # fmt: skip
SHAPE = ("alphabet", "hidden_size")  # the model's shape: train's, and evaluate --cv's (cross-validated as trained)


ANSWER_OPTIONS = (  # classify's and predict's (answers/rule.py)
    click.option("--min-probability", type=FiniteFloatRange(0, 1, min_open=True), metavar="P",
                 help=ANSWER_HELP["min_probability"]),
    click.option("--coverage", type=FiniteFloatRange(0.5, 0.99), metavar="LEVEL", help=ANSWER_HELP["coverage"]),
    click.option("--set-method", type=click.Choice(["per-label", "marginal"]), help=ANSWER_HELP["set_method"]),
)  # fmt: skip


def overrides(*fields: str) -> tuple:
    """The options that override these recipe fields (training.recipes.OVERRIDES: how each reads, its help)."""
    kinds = {"count": click.IntRange(min=1), str: None}
    return tuple(
        click.option(option_name(field), type=click.Choice(kind) if isinstance(kind, tuple) else kinds.get(kind, kind),
                     help=text)
        for field, (kind, text) in ((field, OVERRIDES[field]) for field in fields)
    )  # fmt: skip
