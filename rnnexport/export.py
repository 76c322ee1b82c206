"""Export a checkpoint to TorchScript (scripted loop), ONNX (cell and whole sequence), the fold table and a manifest."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List  # noqa: UP035 - TorchScript needs typing generics in annotations

import numpy as np
import onnx
import onnxruntime
import torch

from . import __version__
from .checkpoint import load_checkpoint, model_from_checkpoint
from .manifest import (
    CHECKPOINT_FILE,
    FOLD_TABLE_FILE,
    MANIFEST_NAME,
    ONNX_CELL_FILE,
    ONNX_SEQUENCE_FILE,
    TORCHSCRIPT_FILE,
    file_entry,
    write_json_atomic,
)
from .model import CharRNN, CharRNNCell, ModelConfig
from .onnx_graph import build_sequence_model, set_metadata
from .text import ALPHABET, fold_table
from .verify import PARITY_FILE, verify_artifacts

CELL_OPSET = 18


class ScriptableCharRNN(CharRNN):
    """CharRNN plus what a LibTorch caller needs: string input and per-step hidden states."""

    def __init__(self, config: ModelConfig, alphabet: str):
        super().__init__(config)
        self.letter_index: Dict[str, int] = {letter: i for i, letter in enumerate(alphabet)}  # noqa: UP006
        self.space_index = alphabet.index(" ")

    @torch.jit.export
    def hidden_states(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (T, B) -> every h_t, (T, B, H), ignoring lengths."""
        inputs = self.u.weight.t()[indices] + self.u.bias
        hidden = torch.zeros(indices.shape[1], self.hidden_size, dtype=inputs.dtype, device=inputs.device)
        states: List[torch.Tensor] = []  # noqa: UP006
        for t in range(indices.shape[0]):
            hidden = torch.tanh(self.w(hidden) + inputs[t])
            states.append(hidden)
        return torch.stack(states)

    @torch.jit.export
    def predict_names(self, names: List[str]) -> torch.Tensor:  # noqa: UP006
        """Names already folded to the alphabet -> log-probs (B, L); a blank name gets a NaN row.

        TorchScript iterates a str byte by byte (UTF-8), so any non-alphabet byte is dropped: fold first.
        """
        rows: List[List[int]] = []  # noqa: UP006
        for name in names:
            row: List[int] = []  # noqa: UP006
            for letter in name:
                if letter in self.letter_index:
                    row.append(self.letter_index[letter])
            rows.append(row)
        longest = 1
        for row in rows:
            longest = max(longest, len(row))
        indices = torch.zeros(longest, len(rows), dtype=torch.long)
        lengths = torch.ones(len(rows), dtype=torch.long)
        blank: List[bool] = []  # noqa: UP006
        for b, row in enumerate(rows):
            # No letter, or only spaces: no prediction (as rnnexport.text.encode_ragged decides).
            only_spaces = True
            for letter_index in row:
                if letter_index != self.space_index:
                    only_spaces = False
            blank.append(only_spaces)
            if len(row) > 0:
                indices[: len(row), b] = torch.tensor(row, dtype=torch.long)
                lengths[b] = len(row)
        log_probs = self.forward(indices, lengths)
        return log_probs.masked_fill(torch.tensor(blank, dtype=torch.bool).unsqueeze(1), float("nan"))


@dataclass
class ExportResult:
    out_dir: Path
    manifest: dict
    parity: dict
    seconds: float


def artifact_metadata(checkpoint: dict) -> dict[str, str]:
    """The metadata every artifact carries (ONNX metadata_props, TorchScript metadata.json)."""
    return {
        "alphabet": checkpoint["alphabet"],
        "labels": json.dumps(checkpoint["labels"]),
        "hidden_size": str(checkpoint["hidden_size"]),
        "rnnexport_version": __version__,
    }


def script_model(model: CharRNN) -> torch.jit.ScriptModule:
    scriptable = ScriptableCharRNN(ModelConfig(len(ALPHABET), model.hidden_size, model.v.out_features), ALPHABET)
    scriptable.load_state_dict(model.state_dict())
    with warnings.catch_warnings():
        # torch 2.13 deprecates torch.jit.script (TorchScript is in maintenance), yet a scripted archive is
        # what LibTorch services load; the warning says nothing actionable to our users.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.script.*")
        return torch.jit.script(scriptable.eval())


def write_torchscript(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    scripted = script_model(model)
    extra = {**metadata, "labels": json.loads(metadata["labels"]), "hidden_size": int(metadata["hidden_size"])}
    with warnings.catch_warnings():
        # Deprecated with TorchScript itself in torch 2.13; still the format LibTorch loads.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.save.*")
        torch.jit.save(scripted, str(path), _extra_files={"metadata.json": json.dumps(extra)})


def write_onnx_cell(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    """The torch.export-based exporter (the maintained one; the TorchScript-based one is deprecated).

    The cell has no control flow, so torch.export captures it exactly; weights are embedded
    (external_data=False) so the one file is the whole model.
    """
    cell = CharRNNCell(model).eval()
    example = (torch.zeros(2, len(ALPHABET)), torch.zeros(2, model.hidden_size))
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings(), QuietLogger("torch.onnx"):
        # The exporter's internal FutureWarnings and "torchvision not installed" notes are not ours to act on.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            cell,
            example,
            input_names=["x", "h"],
            output_names=["log_probs", "h_next"],
            dynamic_shapes=({0: batch}, {0: batch}),
            dynamo=True,
            external_data=False,
            opset_version=CELL_OPSET,
            verbose=False,
            optimize=True,
        )
    proto = program.model_proto
    # The lowest IR the opset allows (IR 8 for opset 18): ONNX Runtime <= 1.17 and onnx <= 1.15 refuse IR 10.
    proto.ir_version = onnx.helper.find_min_ir_version_for(proto.opset_import)
    proto.doc_string = "Character RNN cell: x one-hot float32 [batch, 57], h float32 [batch, H] -> log_probs, h_next."
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))


class QuietLogger:
    """Raise a logger's level to ERROR for the duration of a with-block."""

    def __init__(self, name: str):
        self.logger = logging.getLogger(name)

    def __enter__(self):
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc_info):
        self.logger.setLevel(self.level)


def write_onnx_sequence(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    weights = {name: tensor.detach().numpy().astype(np.float32) for name, tensor in model.state_dict().items()}
    proto = build_sequence_model(weights, metadata)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))


def write_fold_table(path: Path) -> None:
    table = {f"{code_point:04X}": folded for code_point, folded in fold_table().items()}
    content = {
        "description": "Code points up to U+FFFF that fold (NFD, drop Mn, keep alphabet) to a non-empty string; "
        "every other code point folds to nothing.",
        "alphabet": ALPHABET,
        "max_code_point": "FFFF",
        "table": table,
    }
    path.write_text(json.dumps(content, ensure_ascii=True, indent=0) + "\n", encoding="utf-8")


def _onnx_io(path: Path) -> dict:
    proto = onnx.load(str(path), load_external_data=False)

    def describe(values):
        return [
            {
                "name": value.name,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name,
                "shape": [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim],
            }
            for value in values
        ]

    return {
        "format": "onnx",
        "inputs": describe(proto.graph.input),
        "outputs": describe(proto.graph.output),
        "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        "ir_version": proto.ir_version,
    }


def _torchscript_io(n_labels: int) -> dict:
    return {
        "format": "torchscript",
        "inputs": [
            {"name": "indices", "dtype": "int64", "shape": ["T", "B"]},
            {"name": "lengths", "dtype": "int64", "shape": ["B"]},
        ],
        "outputs": [{"name": "log_probs", "dtype": "float32", "shape": ["B", n_labels]}],
        "methods": ["forward(indices, lengths)", "predict_names(List[str])", "hidden_states(indices)"],
        "extra_files": ["metadata.json"],
    }


def build_manifest(out_dir: Path, checkpoint: dict, parity: dict) -> dict:
    n_labels = len(checkpoint["labels"])
    artifacts = {
        TORCHSCRIPT_FILE: file_entry(out_dir / TORCHSCRIPT_FILE, **_torchscript_io(n_labels)),
        ONNX_CELL_FILE: file_entry(out_dir / ONNX_CELL_FILE, **_onnx_io(out_dir / ONNX_CELL_FILE)),
        ONNX_SEQUENCE_FILE: file_entry(out_dir / ONNX_SEQUENCE_FILE, **_onnx_io(out_dir / ONNX_SEQUENCE_FILE)),
        FOLD_TABLE_FILE: file_entry(out_dir / FOLD_TABLE_FILE, format="json"),
        CHECKPOINT_FILE: file_entry(out_dir / CHECKPOINT_FILE, format="torch.save dict (weights_only)"),
    }
    return {
        "rnnexport_version": __version__,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        "labels": checkpoint["labels"],
        "alphabet": checkpoint["alphabet"],
        "hidden_size": checkpoint["hidden_size"],
        "checkpoint_sha256": artifacts[CHECKPOINT_FILE]["sha256"],
        "artifacts": artifacts,
        "parity": parity,
    }


OUTPUT_FILES = (TORCHSCRIPT_FILE, ONNX_CELL_FILE, ONNX_SEQUENCE_FILE, FOLD_TABLE_FILE, PARITY_FILE, MANIFEST_NAME)


def export_artifacts(
    checkpoint_path: Path,
    out_dir: Path,
    names: list[str] | None = None,
    names_source: str = "given",
    atol: float = 1e-5,
) -> ExportResult:
    """Write every artifact into a staging folder, verify it against eager PyTorch, then move it into place.

    A failed verification raises ParityError and leaves ``out_dir`` as it was.
    """
    started = time.perf_counter()
    checkpoint = load_checkpoint(checkpoint_path)
    model = model_from_checkpoint(checkpoint)
    metadata = artifact_metadata(checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        shutil.copyfile(checkpoint_path, staging / CHECKPOINT_FILE)
        write_torchscript(model, metadata, staging / TORCHSCRIPT_FILE)
        write_onnx_cell(model, metadata, staging / ONNX_CELL_FILE)
        write_onnx_sequence(model, metadata, staging / ONNX_SEQUENCE_FILE)
        write_fold_table(staging / FOLD_TABLE_FILE)
        parity = verify_artifacts(staging, names=names, names_source=names_source, atol=atol, verify_hash=False)
        manifest = build_manifest(staging, checkpoint, parity)
        write_json_atomic(staging / MANIFEST_NAME, manifest)
        for file_name in (CHECKPOINT_FILE, *OUTPUT_FILES):
            (staging / file_name).replace(out_dir / file_name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out_dir, manifest, parity, time.perf_counter() - started)
