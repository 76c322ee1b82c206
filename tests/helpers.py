"""Helpers shared by tests: tampering with exported artifacts the way a bad build would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from rnnexport.export.manifest import sha256_of


def rehash_in_manifest(model_dir: Path, file_name: str) -> None:
    """Make manifest.json agree with the file as it now is (a consistent but wrong export)."""
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"][file_name]["sha256"] = sha256_of(model_dir / file_name)
    manifest_path.write_text(json.dumps(manifest))


def tamper_onnx_weight(model_dir: Path, file_name: str = "char_rnn.onnx", delta: float = 0.05) -> None:
    """Shift one weight matrix of an ONNX file and re-hash it, so only a parity check can catch it."""
    path = model_dir / file_name
    proto = onnx.load(str(path))
    target = max(proto.graph.initializer, key=lambda tensor: int(np.prod(tensor.dims)))
    array = numpy_helper.to_array(target).copy()
    array += delta
    target.CopyFrom(numpy_helper.from_array(array, target.name))
    onnx.save(proto, str(path))
    rehash_in_manifest(model_dir, file_name)


def flip_a_byte(path: Path, offset_from_end: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))
