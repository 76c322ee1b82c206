"""Option types and options shared by several commands: finite numbers and the manifest pin."""

from __future__ import annotations

import math
import re

import click

MANIFEST_PIN_ENV = "RNNEXPORT_MANIFEST_SHA256"


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


def _pin_format(ctx, param, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise click.BadParameter("expected the 64 hex digits of manifest.json's SHA-256 (sha256sum manifest.json)")
    return value.lower()


manifest_pin_option = click.option(
    "--expect-manifest-sha256", "manifest_pin", envvar=MANIFEST_PIN_ENV, callback=_pin_format, metavar="HEX",
    help=f"Refuse the model folder unless sha256(manifest.json) is HEX (also: ${MANIFEST_PIN_ENV}). "
    "The manifest holds every artifact's hash, so this pins the whole folder.",
)  # fmt: skip


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
