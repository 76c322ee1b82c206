"""The model folder's contract, read side: the files an export writes, manifest.json and the checks every loader
makes before it opens an artifact (each file's SHA-256, the recorded labels and alphabet, the manifest pin).
No torch and no onnx here: the ONNX path loads through this module."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ArtifactError, OptionError

MANIFEST_NAME = "manifest.json"
TORCHSCRIPT_FILE = "char_rnn.pt"
TORCH_EXPORT_FILE = "char_rnn.pt2"  # torch.export programs (export/torch_export.py)
AOTI_FILE = "char_rnn_aoti.pt2"  # its loop compiled by AOTInductor for one CPU and torch (export --aoti only)
ONNX_SEQUENCE_FILE = "char_rnn.onnx"
ONNX_CELL_FILE = "char_rnn_cell.onnx"
ONNX_STEP_FILE = "char_rnn_step.onnx"  # prefix-shared evaluation: one trie level (export/onnx_step.py)
ONNX_HEAD_FILE = "char_rnn_head.onnx"  # its readout
FOLD_TABLE_FILE = "fold_table.json"
CHECKPOINT_FILE = "checkpoint.pt"
PARITY_FILE = "parity.json"
MANIFEST_PIN_ENV = "RNNEXPORT_MANIFEST_SHA256"  # --expect-manifest-sha256's variable
PIN_HELP = (f"Refuse the model folder unless sha256(manifest.json) is HEX (also: ${MANIFEST_PIN_ENV}). The manifest "
            "holds every artifact's hash, so this pins the whole folder.")  # fmt: skip
# What `rnnexport export` writes besides the checkpoint, the manifest first: training a new checkpoint into the
# folder removes them (in this order), so that no loader serves the previous model.
EXPORT_FILES = (MANIFEST_NAME, TORCHSCRIPT_FILE, ONNX_SEQUENCE_FILE, ONNX_CELL_FILE, ONNX_STEP_FILE, ONNX_HEAD_FILE,
                FOLD_TABLE_FILE, PARITY_FILE, TORCH_EXPORT_FILE, AOTI_FILE)  # fmt: skip
# Those written only when asked (export --aoti): an export without it removes the earlier one.
OPTIONAL_EXPORT_FILES = (AOTI_FILE,)
# Inside char_rnn.pt2: its programs (torch.export.load gives "model"; the prefix programs are read with load_pt2).
TORCH_EXPORT_PROGRAMS = ("model", "prefix_step", "prefix_head")
ARCHIVE_METADATA_FILE = "metadata.json"  # the model's metadata inside char_rnn.pt and char_rnn.pt2


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


def check_pin(model_dir: Path, pin: str | None, verify_hash: bool = True) -> None:
    """Before anything is loaded: the model folder's manifest must hash to ``pin`` (when given; ``pin`` is
    --expect-manifest-sha256). OptionError when the artifact hashes are not checked (the pin relies on them),
    ArtifactError on a mismatch."""
    if pin is None:
        return
    if not verify_hash:
        raise OptionError("--expect-manifest-sha256 relies on the artifact hashes: drop --no-verify-hash")
    check_manifest_pin(model_dir, pin)


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
