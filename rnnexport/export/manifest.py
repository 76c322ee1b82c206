"""manifest.json, write side: what each exported artifact is (inputs, outputs, opset, IR), its SHA-256 and size,
the library versions and the parity report; and the metadata every artifact carries. The read side, the checks
every loader makes, is model/manifest.py."""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..model.manifest import (
    AOTI_FILE,
    CHECKPOINT_FILE,
    FOLD_TABLE_FILE,
    ONNX_CELL_FILE,
    ONNX_HEAD_FILE,
    ONNX_SEQUENCE_FILE,
    ONNX_STEP_FILE,
    TORCH_EXPORT_FILE,
    TORCHSCRIPT_FILE,
    sha256_of,
)

SEQUENCE_OPSET = 17
SEQUENCE_IR_VERSION = 8  # the IR of opset 17; old runtimes (ONNX Runtime 1.30 in Node.js) reject newer IRs
CELL_OPSET = 18


def file_entry(path: Path, **details) -> dict:
    """A manifest entry: file name, SHA-256, size, plus artifact-specific details."""
    return {"file": path.name, "sha256": sha256_of(path), "size_bytes": path.stat().st_size, **details}


def artifact_metadata(checkpoint: dict) -> dict[str, str]:
    """The metadata every artifact carries (ONNX metadata_props, TorchScript metadata.json)."""
    return {
        "alphabet": checkpoint["alphabet"],
        "fold": json.dumps(checkpoint["fold"], sort_keys=True),
        "labels": json.dumps(checkpoint["labels"]),
        "hidden_size": str(checkpoint["hidden_size"]),
        "rnnexport_version": __version__,
    }


def archive_metadata(metadata: dict[str, str]) -> dict:
    """metadata.json's content in char_rnn.pt and char_rnn.pt2: ``metadata`` (artifact_metadata) with labels,
    hidden size and fold as JSON values."""
    return {**metadata, "labels": json.loads(metadata["labels"]), "hidden_size": int(metadata["hidden_size"]),
            "fold": json.loads(metadata["fold"])}  # fmt: skip


def _onnx_io(path: Path) -> dict:
    import onnx

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
        "methods": [
            "forward(indices, lengths)",
            "predict_names(List[str])",
            "hidden_states(indices)",
            "prefix_step(hidden, parent, letter)",
            "prefix_head(hidden)",
        ],
        "extra_files": ["metadata.json"],
    }


def _torch_export_io(n_labels: int) -> dict:
    """char_rnn.pt2: the same contract as char_rnn.pt's forward, as the program "model" (torch.export.load)."""
    io = _torchscript_io(n_labels)
    return {
        "format": "torch.export",
        "inputs": io["inputs"],
        "outputs": io["outputs"],
        "extra_files": io["extra_files"],
        "programs": {
            "model": "forward(indices, lengths) -> log_probs",
            "prefix_step": "(hidden [parents, H], parent [nodes], letter [nodes]) -> hidden_next [nodes, H]",
            "prefix_head": "(hidden [batch, H]) -> log_probs [batch, L]",
        },
    }


def _aoti_io(n_labels: int, target: dict) -> dict:
    """char_rnn_aoti.pt2: char_rnn.pt2's "model" compiled by AOTInductor; runs only where ``target`` holds."""
    io = _torchscript_io(n_labels)
    return {"format": "aoti", "inputs": io["inputs"], "outputs": io["outputs"], "compiled_for": target,
            "compiled_from": TORCH_EXPORT_FILE}  # fmt: skip


def operating_point_summary(checkpoint: dict) -> dict | None:
    """τ, T and the training label frequencies baked into ``v`` (None for a checkpoint without them)."""
    stored = checkpoint.get("operating_point")
    if not isinstance(stored, dict):
        return None
    return {key: stored[key] for key in ("prior_shift", "temperature", "label_frequencies")}


def prediction_sets_entry(checkpoint: dict) -> dict | None:
    """The prediction-set thresholds (answers.conformal.ConformalTable.as_dict) of the checkpoint's operating point,
    calibrated on its held-back pairs; None without them (no operating point, or no hold-back)."""
    from ..training.answer_reports import conformal_table
    from ..training.operating_point import point_from_checkpoint

    point = point_from_checkpoint(checkpoint)
    config = checkpoint.get("config") if isinstance(checkpoint.get("config"), dict) else {}
    table = conformal_table(point, checkpoint["labels"], config.get("calibration_model", "sibling")) if point else None
    return table.as_dict() if table is not None else None


def build_manifest(out_dir: Path, checkpoint: dict, parity: dict, aoti_target: dict | None = None) -> dict:
    """manifest.json's content; ``aoti_target`` (AotiTarget.as_metadata()) when char_rnn_aoti.pt2 was built."""
    import onnx
    import onnxruntime
    import torch

    n_labels = len(checkpoint["labels"])
    artifacts = {
        TORCHSCRIPT_FILE: file_entry(out_dir / TORCHSCRIPT_FILE, **_torchscript_io(n_labels)),
        ONNX_CELL_FILE: file_entry(out_dir / ONNX_CELL_FILE, **_onnx_io(out_dir / ONNX_CELL_FILE)),
        ONNX_SEQUENCE_FILE: file_entry(out_dir / ONNX_SEQUENCE_FILE, **_onnx_io(out_dir / ONNX_SEQUENCE_FILE)),
        ONNX_STEP_FILE: file_entry(out_dir / ONNX_STEP_FILE, **_onnx_io(out_dir / ONNX_STEP_FILE)),
        ONNX_HEAD_FILE: file_entry(out_dir / ONNX_HEAD_FILE, **_onnx_io(out_dir / ONNX_HEAD_FILE)),
        TORCH_EXPORT_FILE: file_entry(out_dir / TORCH_EXPORT_FILE, **_torch_export_io(n_labels)),
        FOLD_TABLE_FILE: file_entry(out_dir / FOLD_TABLE_FILE, format="json"),
        CHECKPOINT_FILE: file_entry(out_dir / CHECKPOINT_FILE, format="torch.save dict (weights_only)"),
    }
    if aoti_target is not None:
        artifacts[AOTI_FILE] = file_entry(out_dir / AOTI_FILE, **_aoti_io(n_labels, aoti_target))
    return {
        "rnnexport_version": __version__,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        "labels": checkpoint["labels"],
        "alphabet": checkpoint["alphabet"],
        "fold": checkpoint["fold"],
        "hidden_size": checkpoint["hidden_size"],
        "checkpoint_sha256": artifacts[CHECKPOINT_FILE]["sha256"],
        # Only where the checkpoint has one: an older checkpoint (τ 0, T 1) keeps its manifest as it was.
        **({"operating_point": point} if (point := operating_point_summary(checkpoint)) else {}),
        **({"prediction_sets": sets} if (sets := prediction_sets_entry(checkpoint)) else {}),
        "artifacts": artifacts,
        "parity": parity,
    }
