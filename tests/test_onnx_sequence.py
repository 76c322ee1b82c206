"""rnnexport.export.onnx_sequence: the hand-built Scan graph equals eager PyTorch, masked or not, for T = 1."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from rnnexport.export.manifest import SEQUENCE_IR_VERSION, SEQUENCE_OPSET
from rnnexport.export.onnx_sequence import build_sequence_model
from rnnexport.model.cell import CharRNN, ModelConfig
from rnnexport.text.alphabet import ALPHABET
from tests.helpers import assert_parity, float64_log_probs


@pytest.fixture(scope="module")
def model_and_session():
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(len(ALPHABET), 8, 5)).eval()
    weights = {name: tensor.detach().numpy().astype(np.float32) for name, tensor in model.state_dict().items()}
    proto = build_sequence_model(weights, {"alphabet": ALPHABET, "labels": "[]"})
    onnx.checker.check_model(proto, full_check=True)
    return model, proto, ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def test_graph_declares_the_shared_opset(model_and_session):
    _, proto, _ = model_and_session
    assert proto.ir_version == SEQUENCE_IR_VERSION
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", SEQUENCE_OPSET)]


@pytest.mark.parametrize(("steps", "lengths"), [(1, [1, 1]), (4, [4, 4, 4]), (6, [6, 1, 3, 2])])
def test_graph_equals_eager_torch(model_and_session, steps, lengths):
    model, _, session = model_and_session
    rng = np.random.default_rng(steps)
    indices = rng.integers(0, len(ALPHABET), size=(steps, len(lengths))).astype(np.int64)
    lengths = np.array(lengths, dtype=np.int64)
    (log_probs,) = session.run(None, {"indices": indices, "lengths": lengths})
    expected = float64_log_probs(model, indices, lengths)
    assert_parity(expected, log_probs, [str(row) for row in indices.T], f"Scan graph, lengths {lengths.tolist()}")
