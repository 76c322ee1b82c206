"""rnnexport.runtimes: one registry from runtime name to artifact and class; every runtime equals eager torch."""

import json

import numpy as np
import pytest

from rnnexport.runtimes.registry import (
    DEFAULT_RUNTIMES,
    RUNTIME_ARTIFACTS,
    RUNTIME_CLASSES,
    RUNTIMES,
    open_runtime,
    runtime_name,
    verify_runtimes,
)
from rnnexport.text.encode import encode_names
from tests.helpers import assert_parity, reference_log_probs


def test_registry_names_one_artifact_and_class_per_runtime():
    assert RUNTIMES == ("onnx", "onnx-cell", "torchscript", "export", "aoti", "torch")
    assert RUNTIME_ARTIFACTS == {
        "onnx": "char_rnn.onnx", "onnx-cell": "char_rnn_cell.onnx", "torchscript": "char_rnn.pt",
        "export": "char_rnn.pt2", "aoti": "char_rnn_aoti.pt2", "torch": "checkpoint.pt",
    }  # fmt: skip
    assert DEFAULT_RUNTIMES == ("onnx", "onnx-cell", "torchscript", "export", "torch")
    assert {name: cls.name for name, cls in RUNTIME_CLASSES.items()} == {name: name for name in RUNTIMES}


def test_onnx_graph_cell_is_the_onnx_cell_runtime():
    assert runtime_name("onnx", "cell") == "onnx-cell"
    assert runtime_name("onnx", "sequence") == "onnx"
    assert runtime_name("torch", "cell") == "torch"


def test_verify_checks_the_runtimes_whose_artifacts_the_manifest_lists(model_copy, tmp_path):
    assert verify_runtimes(model_copy) == ("torch", "torchscript", "export", "onnx-cell", "onnx")
    manifest = json.loads((model_copy / "manifest.json").read_text())
    del manifest["artifacts"]["char_rnn.pt2"]  # a folder exported before torch.export
    manifest["artifacts"]["char_rnn_aoti.pt2"] = manifest["artifacts"]["char_rnn.pt"]  # with export --aoti
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    assert verify_runtimes(model_copy) == ("torch", "torchscript", "onnx-cell", "onnx", "aoti")
    (tmp_path / "char_rnn_aoti.pt2").write_bytes(b"")  # no manifest (a staging folder): the files present
    assert verify_runtimes(tmp_path) == ("torch", "aoti")


@pytest.mark.parametrize("name", ["onnx", "onnx-cell", "torchscript", "export"])
def test_every_runtime_matches_eager_torch(tiny_model_dir, name):
    names = ["Smith", "Nguyen", "O'Neill", "Abc"]
    encoded = encode_names(names)
    expected = reference_log_probs(tiny_model_dir, encoded.indices, encoded.lengths)
    runtime = open_runtime(name, tiny_model_dir)
    assert runtime.name == name and len(runtime.labels) == 18
    assert_parity(expected, runtime.log_probs(encoded.indices, encoded.lengths), names, name)


def test_unknown_runtime_is_refused(tiny_model_dir):
    with pytest.raises(ValueError, match="unknown runtime 'tflite'"):
        open_runtime("tflite", tiny_model_dir)


BAD_INPUTS = {
    "length 0": (np.zeros((3, 2), np.int64), np.array([3, 0])),
    "length -1": (np.zeros((3, 2), np.int64), np.array([3, -1])),
    "longer than T": (np.zeros((3, 2), np.int64), np.array([4, 1])),
    "wrong size": (np.zeros((3, 2), np.int64), np.array([3])),
    "index beyond the alphabet": (np.full((2, 1), 57), np.array([2])),
    "negative index": (np.full((2, 1), -1), np.array([2])),
    "int32 indices": (np.zeros((2, 1), np.int32), np.array([2])),
    "empty batch": (np.zeros((2, 0), np.int64), np.zeros(0, np.int64)),
    "1-D indices": (np.zeros(3, np.int64), np.array([3])),
}


@pytest.mark.parametrize("name", DEFAULT_RUNTIMES)
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_every_runtime_refuses_inputs_outside_its_contract(tiny_model_dir, name, case):
    """One shared check before any backend: the ONNX graph itself has no assert op and would answer garbage."""
    from rnnexport.errors import ModelInputError

    indices, lengths = BAD_INPUTS[case]
    runtime = open_runtime(name, tiny_model_dir)
    with pytest.raises(ModelInputError, match=r"indices|lengths"):
        runtime.log_probs(indices, lengths)
