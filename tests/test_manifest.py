"""rnnexport.model.manifest and rnnexport.export.manifest: hashes, the loader's check, and what every artifact
declares (torch-free)."""

import hashlib
import json

import pytest

from rnnexport.errors import ArtifactError
from rnnexport.export.manifest import CELL_OPSET, SEQUENCE_IR_VERSION, SEQUENCE_OPSET, file_entry
from rnnexport.model.manifest import checked_artifact, read_manifest, sha256_of


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


@pytest.mark.parametrize("runtime", ["onnx", "onnx-cell", "torchscript", "torch"])
def test_an_artifact_whose_labels_differ_from_the_manifest_is_refused(tiny_model_dir, tmp_path, runtime):
    """A label renamed in one artifact (its hash put back into the manifest) made onnx say 'Greek' where torch
    said 'Hellenic' for the same output, and verify passed."""
    import shutil

    from rnnexport.model.manifest import MANIFEST_NAME
    from rnnexport.runtimes.registry import open_runtime

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["labels"] = ["Hellenic", *manifest["labels"][1:]]
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"records other labels than .*manifest.json .*re-export the model"):
        open_runtime(runtime, folder)
    open_runtime(runtime, folder, verify_hash=False)  # --no-verify-hash: the artifact alone, as it says
