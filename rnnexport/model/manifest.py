"""The model folder's contract, read side: the files an export writes, manifest.json and the checks every loader
makes before it opens an artifact (each file's SHA-256, the recorded labels and alphabet, the manifest pin).
No torch and no onnx here: the ONNX path loads through this module."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
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


def export_files(model_dir: Path) -> list[str]:
    """The files of ``model_dir`` that rnnexport recognises as its own export, which training a new checkpoint
    there removes (they no longer match it): manifest.json when it is an rnnexport manifest, each file it lists
    whose SHA-256 is the one it records, and parity.json when it holds the manifest's parity report. None when
    manifest.json is missing or another program's (a web app's manifest.json): nothing else is touched."""
    try:
        manifest = read_manifest(model_dir)
    except ArtifactError:
        return []
    if "rnnexport_version" not in manifest:
        return []
    files = [MANIFEST_NAME]
    for name, entry in manifest["artifacts"].items():
        path = Path(model_dir) / name
        if _plain_name(name) and path.is_file() and sha256_of(path) == entry["sha256"]:
            files.append(name)
    with contextlib.suppress(OSError, ValueError):
        if json.loads((Path(model_dir) / PARITY_FILE).read_text(encoding="utf-8")) == manifest.get("parity"):
            files.append(PARITY_FILE)
    return files


def model_inputs(model_dir: Path) -> list[Path]:
    """Every file a command that loads the model in ``model_dir`` may read: manifest.json, the files it lists,
    parity.json and checkpoint.pt (an output must never be one of them; missing ones included)."""
    names = [MANIFEST_NAME, PARITY_FILE, CHECKPOINT_FILE]
    with contextlib.suppress(ArtifactError):
        names += [name for name in read_manifest(model_dir)["artifacts"] if _plain_name(name)]
    return [Path(model_dir) / name for name in dict.fromkeys(names)]


def _plain_name(name: str) -> bool:
    """A file name inside the model folder (not a path that leads out of it)."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


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
    --expect-manifest-sha256, any case). OptionError for a pin that is not 64 hex digits, or when the artifact hashes
    are not checked (the pin relies on them); ArtifactError on a mismatch."""
    if not pin:  # None, or an empty $RNNEXPORT_MANIFEST_SHA256
        return
    if not re.fullmatch(r"[0-9a-fA-F]{64}", pin):
        raise OptionError("--expect-manifest-sha256 takes the 64 hex digits of manifest.json's SHA-256 (sha256sum "
                          f"manifest.json), got {pin!r}")  # fmt: skip
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
