"""Export a checkpoint: write every artifact into a staging folder, verify it against eager PyTorch, then swap
it into place as one set (io.generations: TorchScript, ONNX cell and sequence, the fold table, parity.json and
manifest.json, whatever files the writers stage).

The artifact writers import torch and onnx; they are imported inside :func:`export_artifacts`, so that importing
this module (the command line does) stays torch-free.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..io.atomic import atomic_write_json
from ..io.generations import swapped_files
from ..model.manifest import (
    CHECKPOINT_FILE,
    FOLD_TABLE_FILE,
    MANIFEST_NAME,
    ONNX_CELL_FILE,
    ONNX_HEAD_FILE,
    ONNX_SEQUENCE_FILE,
    ONNX_STEP_FILE,
    PARITY_FILE,
    TORCHSCRIPT_FILE,
    export_files,
)
from ..text.fold import MAX_CODE_POINT, fold_table
from ..verification.parity import Tolerance
from .manifest import artifact_metadata, build_manifest


@dataclass
class ExportResult:
    out_dir: Path
    manifest: dict
    parity: dict
    seconds: float


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
) -> ExportResult:
    """Stage every artifact, verify it against eager PyTorch, then swap it into ``out_dir``.

    The same checkpoint gives byte-identical files. With ``prior_shift``, the exported checkpoint and artifacts
    are re-baked at that τ (operating_point.reshift_checkpoint). Raises CheckpointError for a bad checkpoint
    (or one without an operating point, with ``prior_shift``) and ParityError when a runtime breaks the parity
    rule (``tolerance``, default parity.Tolerance()); either way ``out_dir`` is left as it was. The swap
    (io.generations) replaces every file of the earlier export at once, whatever interrupts it; files of that
    export the new one does not write are removed, the folder's other files of the set (training.json, the
    plots) kept.
    """
    from ..model.checkpoint import load_checkpoint, save_checkpoint
    from ..training.operating_point import reshift_checkpoint
    from ..verification.verify import verify_artifacts

    started = time.perf_counter()
    checkpoint = load_checkpoint(checkpoint_path)
    with swapped_files(Path(out_dir), "export", drop=export_files) as swap:
        staging = swap.staging
        if prior_shift is None:
            shutil.copyfile(checkpoint_path, staging / CHECKPOINT_FILE)
        else:
            checkpoint = reshift_checkpoint(checkpoint, prior_shift)
            save_checkpoint(checkpoint, staging / CHECKPOINT_FILE)
        write_artifacts(checkpoint, staging)
        parity = verify_artifacts(staging, names=names, names_source=names_source, tolerance=tolerance,
                                   verify_hash=False)  # fmt: skip
        atomic_write_json(staging / PARITY_FILE, parity)
        manifest = build_manifest(staging, checkpoint, parity)
        atomic_write_json(staging / MANIFEST_NAME, manifest)
    return ExportResult(Path(out_dir), manifest, parity, time.perf_counter() - started)


def write_artifacts(checkpoint: dict, folder: Path) -> None:
    """The TorchScript archive, the ONNX graphs (sequence, cell, prefix step and head) and the fold table of
    ``checkpoint``, written into ``folder``."""
    from ..model.checkpoint import model_from_checkpoint
    from .onnx_cell import write_onnx_cell
    from .onnx_sequence import write_onnx_sequence
    from .onnx_step import write_onnx_step_and_head
    from .torchscript import write_torchscript

    model = model_from_checkpoint(checkpoint)
    metadata = artifact_metadata(checkpoint)
    write_torchscript(model, metadata, folder / TORCHSCRIPT_FILE)
    write_onnx_cell(model, metadata, folder / ONNX_CELL_FILE)
    write_onnx_sequence(model, metadata, folder / ONNX_SEQUENCE_FILE)
    write_onnx_step_and_head(model, metadata, folder / ONNX_STEP_FILE, folder / ONNX_HEAD_FILE)
    write_fold_table(folder / FOLD_TABLE_FILE, checkpoint["alphabet"], checkpoint["fold"])
