"""manifest.json: what each exported artifact is, its SHA-256, and the check every loader makes (no torch)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import __version__
from ..errors import ArtifactError

MANIFEST_NAME = "manifest.json"
TORCHSCRIPT_FILE = "char_rnn.pt"
TORCH_EXPORT_FILE = "char_rnn.pt2"  # torch.export programs (rnnexport/export/torch_export.py)
AOTI_FILE = "char_rnn_aoti.pt2"  # its loop compiled by AOTInductor for one CPU and torch (export --aoti only)
ONNX_SEQUENCE_FILE = "char_rnn.onnx"
ONNX_CELL_FILE = "char_rnn_cell.onnx"
ONNX_STEP_FILE = "char_rnn_step.onnx"  # prefix-shared evaluation: one trie level (rnnexport/onnx_step.py)
ONNX_HEAD_FILE = "char_rnn_head.onnx"  # its readout
FOLD_TABLE_FILE = "fold_table.json"
CHECKPOINT_FILE = "checkpoint.pt"
PARITY_FILE = "parity.json"
# What `rnnexport export` writes besides the checkpoint, the manifest first: training a new checkpoint into the
# folder removes them (in this order), so that no loader serves the previous model.
EXPORT_FILES = (MANIFEST_NAME, TORCHSCRIPT_FILE, ONNX_SEQUENCE_FILE, ONNX_CELL_FILE, ONNX_STEP_FILE, ONNX_HEAD_FILE,
                FOLD_TABLE_FILE, PARITY_FILE, TORCH_EXPORT_FILE, AOTI_FILE)  # fmt: skip
# Those written only when asked (export --aoti): an export without it removes the earlier one.
OPTIONAL_EXPORT_FILES = (AOTI_FILE,)

SEQUENCE_OPSET = 17
SEQUENCE_IR_VERSION = 8  # the IR of opset 17; old runtimes (ONNX Runtime 1.30 in Node.js) reject newer IRs
CELL_OPSET = 18


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> dict:
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(f"{path} not found; run `rnnexport export` to create the artifacts and their manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ArtifactError(f"{path} is not valid JSON; run `rnnexport export` again") from None
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    well_formed = isinstance(artifacts, dict) and all(
        isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in artifacts.values()
    )
    if not well_formed:
        raise ArtifactError(
            f"{path} is not an rnnexport manifest (no 'artifacts' object of file -> sha256 entries); "
            "run `rnnexport export` again"
        )
    return manifest


def check_manifest_pin(model_dir: Path, expected_sha256: str) -> None:
    """ArtifactError unless ``model_dir``'s manifest.json has this SHA-256 (it pins every artifact's hash)."""
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(f"{path} not found; the pinned model folder must hold its manifest.json")
    actual = sha256_of(path)
    if actual != expected_sha256.lower():
        raise ArtifactError(
            f"{path} has sha256 {actual[:12]}…, not the pinned {expected_sha256[:12]}…: the model folder changed; "
            "restore it, or re-pin after checking where it came from"
        )


def checked_artifact(model_dir: Path, file_name: str, verify_hash: bool = True) -> Path:
    """The path of an artifact, after checking it exists and (unless told not to) matches the manifest."""
    path = Path(model_dir) / file_name
    if not path.is_file():
        raise ArtifactError(f"{path} not found; run `rnnexport export --out {model_dir}` or pass --model-dir")
    if verify_hash:
        entry = read_manifest(model_dir)["artifacts"].get(file_name)
        if entry is None:
            raise ArtifactError(f"{file_name} is not listed in {Path(model_dir) / MANIFEST_NAME}; re-export")
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise ArtifactError(
                f"{path} does not match {MANIFEST_NAME} (sha256 {actual[:12]}… != {entry['sha256'][:12]}…); "
                "re-export with `rnnexport export`, or pass --no-verify-hash to use it anyway"
            )
    return path


def check_recorded_model(model_dir: Path, source: Path, alphabet: str, labels: list[str]) -> None:
    """ArtifactError unless the alphabet and labels an artifact records are manifest.json's: a hand-edited file,
    re-hashed into the manifest, once made runtimes of one folder name the same output differently."""
    manifest = read_manifest(model_dir)
    for key, value in (("labels", list(labels)), ("alphabet", alphabet)):
        if key in manifest and manifest[key] != value:
            raise ArtifactError(f"{source} records other {key} than {Path(model_dir) / MANIFEST_NAME} "
                                f"({_shown(value)} vs {_shown(manifest[key])}); re-export the model")  # fmt: skip


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


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
        "artifacts": artifacts,
        "parity": parity,
    }
