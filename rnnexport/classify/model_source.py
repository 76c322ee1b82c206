"""The model as the Dask engine ships it: the runtime's artifact and the files its prefix sharing reads, as bytes
checked against the manifest on the driver, and the model's labels and alphabet (no worker needs the folder)."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from ..errors import ArtifactError, InputError
from ..model.manifest import MANIFEST_NAME, checked_artifact, read_manifest
from ..runtimes.onnx_runtimes import PREFIX_ARTIFACTS
from ..runtimes.registry import RUNTIME_ARTIFACTS, RUNTIMES, open_runtime


def model_files(model_dir: Path, runtime: str, verify_hash: bool) -> tuple[dict[str, bytes], str]:
    """The runtime's artifact, the files its prefix sharing reads (onnx_runtimes.PREFIX_ARTIFACTS, when present) and
    manifest.json, as bytes, each checked against the manifest here, on the driver; and the artifact's digest."""
    if runtime not in RUNTIME_ARTIFACTS:
        raise InputError(f"unknown runtime {runtime!r} for --engine dask; choose one of {', '.join(RUNTIMES)}")
    artifact = RUNTIME_ARTIFACTS[runtime]
    companions = [name for name in PREFIX_ARTIFACTS.get(runtime, ()) if (Path(model_dir) / name).is_file()]
    files = {name: _checked_bytes(Path(model_dir), name, verify_hash) for name in (artifact, *companions)}
    manifest = Path(model_dir) / MANIFEST_NAME
    if manifest.is_file():
        files[MANIFEST_NAME] = manifest.read_bytes()
    return files, hashlib.sha256(files[artifact]).hexdigest()


def _checked_bytes(model_dir: Path, name: str, verify_hash: bool) -> bytes:
    path = checked_artifact(model_dir, name, verify_hash)
    data = path.read_bytes()
    if verify_hash and hashlib.sha256(data).hexdigest() != read_manifest(model_dir)["artifacts"][name]["sha256"]:
        # The file changed between the check and the read (a re-export in progress): ship nothing half-new.
        raise ArtifactError(f"{path} changed while it was read; run again once the export has finished")
    return data


def model_vocabulary(model_dir: Path, runtime: str, verify_hash: bool) -> tuple[list[str], str]:
    """Labels and alphabet from manifest.json, else from the runtime itself (only without a usable manifest)."""
    with contextlib.suppress(ArtifactError, KeyError, TypeError):
        manifest = read_manifest(model_dir)
        labels, alphabet = manifest["labels"], manifest["alphabet"]
        if isinstance(labels, list) and labels and isinstance(alphabet, str) and alphabet:
            return labels, alphabet
    model = open_runtime(runtime, model_dir, verify_hash)
    return model.labels, model.alphabet
