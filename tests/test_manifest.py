"""rnnexport.export.manifest: hashes, the loader's check, and what every artifact declares (torch-free)."""

import hashlib
import json

import pytest

from rnnexport.errors import ArtifactError
from rnnexport.export.manifest import (
    CELL_OPSET,
    SEQUENCE_IR_VERSION,
    SEQUENCE_OPSET,
    checked_artifact,
    file_entry,
    read_manifest,
    sha256_of,
)


def test_sha256_of_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 << 20))
    assert sha256_of(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    assert file_entry(path, format="raw") == {
        "file": "blob", "sha256": sha256_of(path), "size_bytes": 3 << 20, "format": "raw",
    }  # fmt: skip


def test_manifest_records_the_one_set_of_opsets(tiny_model_dir):
    artifacts = read_manifest(tiny_model_dir)["artifacts"]
    assert artifacts["char_rnn.onnx"]["opset"] == SEQUENCE_OPSET
    assert artifacts["char_rnn.onnx"]["ir_version"] == SEQUENCE_IR_VERSION
    assert artifacts["char_rnn_cell.onnx"]["opset"] == CELL_OPSET


def test_checked_artifact_refuses_a_changed_file(model_copy):
    path = model_copy / "char_rnn.onnx"
    assert checked_artifact(model_copy, "char_rnn.onnx") == path
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match=r"does not match manifest\.json"):
        checked_artifact(model_copy, "char_rnn.onnx")
    assert checked_artifact(model_copy, "char_rnn.onnx", verify_hash=False) == path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{", "not valid JSON"),
        (json.dumps({"x": 1}), "not an rnnexport manifest"),
        (json.dumps({"artifacts": []}), "not an rnnexport manifest"),
        (json.dumps([1, 2]), "not an rnnexport manifest"),
        (json.dumps({"artifacts": {"char_rnn.onnx": "abc"}}), "not an rnnexport manifest"),
    ],
)
def test_bad_manifests_are_artifact_errors(tmp_path, content, message):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ArtifactError, match=message):
        read_manifest(tmp_path)
