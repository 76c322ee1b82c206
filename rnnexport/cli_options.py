"""Option types and options shared by several commands: finite numbers and the manifest pin."""

from __future__ import annotations

import math
import re
from pathlib import Path

import click

MANIFEST_PIN_ENV = "RNNEXPORT_MANIFEST_SHA256"


class FiniteFloatRange(click.FloatRange):
    """A float in a range that is also finite: click's FloatRange lets 'nan' through (no comparison fails)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


NON_NEGATIVE_FINITE = FiniteFloatRange(min=0.0)
FINITE = FiniteFloatRange()


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


def check_pin(model_dir: Path, pin: str | None, verify_hash: bool = True) -> None:
    """Before anything is loaded: the model folder's manifest must hash to ``pin`` (when given)."""
    if pin is None:
        return
    if not verify_hash:
        raise click.UsageError("--expect-manifest-sha256 relies on the artifact hashes: drop --no-verify-hash")
    from .export.manifest import check_manifest_pin

    check_manifest_pin(model_dir, pin)
