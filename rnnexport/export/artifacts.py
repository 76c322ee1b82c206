"""Export a checkpoint: write every artifact into a staging folder, verify it against eager PyTorch, then swap
it into place as one set (io.generations: TorchScript, torch.export, ONNX cell and sequence, the fold table,
parity.json and manifest.json; with ``aoti``, the AOTInductor package too).

The artifact writers import torch and onnx; they are imported inside :func:`export_artifacts`, so that importing
this module (the command line does) stays torch-free.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io.atomic import atomic_write_json
from ..io.generations import swapped_files
from ..model.manifest import (
    AOTI_FILE,
    CHECKPOINT_FILE,
    FOLD_TABLE_FILE,
    MANIFEST_NAME,
    ONNX_CELL_FILE,
    ONNX_HEAD_FILE,
    ONNX_SEQUENCE_FILE,
    ONNX_STEP_FILE,
    PARITY_FILE,
    TORCH_EXPORT_FILE,
    TORCHSCRIPT_FILE,
    export_files,
)
from ..text.fold import MAX_CODE_POINT, fold_table
from ..verification.parity import Tolerance
from .manifest import artifact_metadata, build_manifest

# `rnnexport export --help` (cli/export.py), and its options' help by parameter name.
EXPORT_HELP = """Export a checkpoint to TorchScript, torch.export and ONNX, then verify every artifact against PyTorch.

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
OPTION_HELP = {
    "checkpoint": "The checkpoint to export [default: OUT/checkpoint.pt, what `rnnexport train --out OUT` wrote].",
    "prior_shift": "Re-bake v at this τ from the unshifted weights (T re-fitted).",
    "aoti": "Also compile char_rnn_aoti.pt2 with AOTInductor, for this CPU and torch (40-90 s on 2 cores).",
}


@dataclass
class ExportResult:
    out_dir: Path
    manifest: dict
    parity: dict
    seconds: float
    aoti_seconds: float | None = None  # the AOTInductor compile, when asked for
    checkpoint: Path | None = None  # what was exported

    def describe(self) -> list[str]:
        """What ``export`` prints: where from and to, the time (and the compile's), then the parity report."""
        from ..verification.verify import format_report

        compiled = f" (AOTInductor compile {self.aoti_seconds:.1f} s)" if self.aoti_seconds is not None else ""
        return [f"exported {self.checkpoint} to {self.out_dir}/ in {self.seconds:.1f} s{compiled}; parity on "
                f"{self.parity['n_names']} names:", format_report(self.parity)]  # fmt: skip


def export_folder(checkpoint: Path | None, out_dir: Path, names_path: Path | None = None,
                  name_column: str | None = None, tolerance: Tolerance | None = None,
                  prior_shift: float | None = None, aoti: bool = False,
                  on_step: Callable[[int, int, str], None] | None = None) -> ExportResult:  # fmt: skip
    """``rnnexport export``: :func:`export_artifacts` of ``checkpoint`` (default: ``out_dir``/checkpoint.pt), verified
    on the names of ``names_path`` (--names; default: verification.verify.default_names). Raises as
    export_artifacts, and DataError/InputError for unreadable names."""
    from ..verification.verify import names_to_verify

    names, source = names_to_verify(names_path, name_column)
    checkpoint = checkpoint or Path(out_dir) / CHECKPOINT_FILE
    return export_artifacts(checkpoint, out_dir, names, source, tolerance, prior_shift, aoti, on_step)


def write_fold_table(path: Path, alphabet: str, fold: dict) -> None:
    """fold_table.json: every code point that folds to a non-empty string of ``alphabet``, with that string.

    ``fold`` is the identity the checkpoint records (the installed one: load_checkpoint refuses another).
    """
    table = {f"{code_point:04X}": folded for code_point, folded in fold_table(alphabet).items()}
    content = {
        "description": "fold(name) = concatenation over the code points c of name of table[c] (absent: nothing). "
        "table[c] = NFKC of c, each character spelled by anyascii (symbols, digits and emoji keep no letter), "
        "then kept in the alphabet: a letter outside it whose other case is in it takes that case, the rest is "
        "dropped. Keys: upper-case hex code points up to max_code_point; values: one or more alphabet symbols.",
        "alphabet": alphabet,
        "fold": fold,
        "max_code_point": f"{MAX_CODE_POINT:X}",
        "table": table,
    }
    path.write_text(json.dumps(content, ensure_ascii=True, indent=0) + "\n", encoding="utf-8")


def export_artifacts(
    checkpoint_path: Path,
    out_dir: Path,
    names: list[str] | None = None,
    names_source: str = "given",
    tolerance: Tolerance | None = None,
    prior_shift: float | None = None,
    aoti: bool = False,
    on_step: Callable[[int, int, str], None] | None = None,
) -> ExportResult:
    """Stage every artifact, verify it against eager PyTorch, then swap it into ``out_dir``. ``on_step(done,
    total, what)`` follows the artifacts as they are written, then (counted again) the verification's steps
    (verification.verify.verify_artifacts).

    The same checkpoint gives byte-identical files. With ``prior_shift``, the exported checkpoint and artifacts
    are re-baked at that τ (operating_point.reshift_checkpoint). Raises CheckpointError for a bad checkpoint
    (or one without an operating point, with ``prior_shift``) and ParityError when a runtime breaks the parity
    rule (``tolerance``, default parity.Tolerance()); either way ``out_dir`` is left as it was. With ``aoti``,
    char_rnn.pt2 is also compiled by AOTInductor into char_rnn_aoti.pt2 (40-90 s on 2 cores) and verified with the
    rest. The swap (io.generations) replaces every file of the earlier export at once, whatever interrupts it;
    files of that export the new one does not write (an earlier char_rnn_aoti.pt2 without ``aoti``) are removed,
    the folder's other files of the set (training.json, the plots) kept.
    """
    from ..model.checkpoint import load_checkpoint, save_checkpoint
    from ..training.operating_point import reshift_checkpoint
    from ..verification.verify import verify_artifacts

    started = time.perf_counter()
    checkpoint = load_checkpoint(checkpoint_path)
    aoti_built = None
    with swapped_files(Path(out_dir), "export", drop=export_files) as swap:
        staging = swap.staging
        if prior_shift is None:
            shutil.copyfile(checkpoint_path, staging / CHECKPOINT_FILE)
        else:
            checkpoint = reshift_checkpoint(checkpoint, prior_shift)
            save_checkpoint(checkpoint, staging / CHECKPOINT_FILE)
        write_artifacts(checkpoint, staging, on_step)
        if aoti:
            from .torch_export import write_aoti_package

            aoti_built = write_aoti_package(staging / TORCH_EXPORT_FILE, artifact_metadata(checkpoint),
                                            staging / AOTI_FILE)  # fmt: skip
        parity = verify_artifacts(staging, names=names, names_source=names_source, tolerance=tolerance,
                                   verify_hash=False, on_step=on_step)  # fmt: skip
        atomic_write_json(staging / PARITY_FILE, parity)
        target = aoti_built["target"].as_metadata() if aoti_built else None
        manifest = build_manifest(staging, checkpoint, parity, target)
        atomic_write_json(staging / MANIFEST_NAME, manifest)
    aoti_seconds = aoti_built["seconds"] if aoti_built else None
    return ExportResult(
        Path(out_dir), manifest, parity, time.perf_counter() - started, aoti_seconds, Path(checkpoint_path)
    )


def write_artifacts(checkpoint: dict, folder: Path, on_step: Callable[[int, int, str], None] | None = None) -> None:
    """The TorchScript archive, the torch.export programs, the ONNX graphs (sequence, cell, prefix step and head)
    and the fold table of ``checkpoint``, written into ``folder``; ``on_step(done, total, what)`` after each."""
    from ..model.checkpoint import model_from_checkpoint
    from .onnx_cell import write_onnx_cell
    from .onnx_sequence import write_onnx_sequence
    from .onnx_step import write_onnx_step_and_head
    from .torch_export import write_torch_export
    from .torchscript import write_torchscript

    model = model_from_checkpoint(checkpoint)
    metadata = artifact_metadata(checkpoint)
    writers = {
        TORCHSCRIPT_FILE: lambda: write_torchscript(model, metadata, folder / TORCHSCRIPT_FILE),
        TORCH_EXPORT_FILE: lambda: write_torch_export(model, metadata, folder / TORCH_EXPORT_FILE),
        ONNX_CELL_FILE: lambda: write_onnx_cell(model, metadata, folder / ONNX_CELL_FILE),
        ONNX_SEQUENCE_FILE: lambda: write_onnx_sequence(model, metadata, folder / ONNX_SEQUENCE_FILE),
        f"{ONNX_STEP_FILE}, {ONNX_HEAD_FILE}": lambda: write_onnx_step_and_head(
            model, metadata, folder / ONNX_STEP_FILE, folder / ONNX_HEAD_FILE
        ),
        FOLD_TABLE_FILE: lambda: write_fold_table(folder / FOLD_TABLE_FILE, checkpoint["alphabet"], checkpoint["fold"]),
    }
    for done, (files, write) in enumerate(writers.items(), 1):
        write()
        if on_step is not None:
            on_step(done, len(writers), f"wrote {files}")
