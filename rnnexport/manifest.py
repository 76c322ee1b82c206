"""manifest.json: what each exported artifact is, its SHA-256, and the check every loader makes (no torch)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import ArtifactError

MANIFEST_NAME = "manifest.json"
TORCHSCRIPT_FILE = "char_rnn.pt"
ONNX_SEQUENCE_FILE = "char_rnn.onnx"
ONNX_CELL_FILE = "char_rnn_cell.onnx"
FOLD_TABLE_FILE = "fold_table.json"
CHECKPOINT_FILE = "checkpoint.pt"


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
    if not isinstance(manifest, dict) or "artifacts" not in manifest:
        raise ArtifactError(f"{path} has no 'artifacts' section; run `rnnexport export` again")
    return manifest


def checked_artifact(model_dir: Path, file_name: str, verify_hash: bool = True) -> Path:
    """The path of an artifact, after checking it exists and (unless told not to) matches the manifest."""
    path = Path(model_dir) / file_name
    if not path.is_file():
        raise ArtifactError(f"{path} not found; run `rnnexport export` or pass --model-dir")
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


def file_entry(path: Path, **details) -> dict:
    """A manifest entry: file name, SHA-256, size, plus artifact-specific details."""
    return {"file": path.name, "sha256": sha256_of(path), "size_bytes": path.stat().st_size, **details}


def write_json_atomic(path: Path, content: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
