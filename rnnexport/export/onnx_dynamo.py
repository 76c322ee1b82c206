"""The whole-name ONNX graph as torch.onnx.export(dynamo=True) writes it from the ``while_loop`` program: the
cross-check of the hand-built char_rnn.onnx (docs/embedding.md, "char_rnn.onnx: hand-built or dynamo").

Not shipped: tests/test_onnx_dynamo.py holds it against the hand-built graph on the points where the hand-built
one won (size, opset, third-party runtimes, speed), so a torch whose exporter does better is noticed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from ..model.cell import CharRNN
from .onnx_cell import QuietLogger, drop_stack_traces
from .onnx_sequence import set_metadata
from .torch_export import LoopCharRNN

DYNAMO_OPSET = 18  # the lowest opset torch.onnx's dynamo exporter writes


def dynamo_sequence_proto(model: CharRNN, metadata: dict[str, str]) -> onnx.ModelProto:
    """indices int64 [T, B], lengths int64 [B] -> log_probs [B, L]: one ONNX ``Loop``, at the lowest IR its opset
    allows (IR 8: older runtimes refuse IR 10), without the exporter's stack traces, with the artifacts' metadata.
    The input asserts are left out (ONNX has no assert op; consumers check, as for char_rnn.onnx)."""
    module = LoopCharRNN(model.eval(), checks=False).eval()
    steps, batch = torch.export.Dim("T", min=1, max=1 << 16), torch.export.Dim("B", min=1, max=1 << 24)
    example = (torch.zeros(3, 2, dtype=torch.long), torch.tensor([3, 2]))
    with warnings.catch_warnings(), QuietLogger("torch.onnx"), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's internal FutureWarnings and torchvision notes
        program = torch.onnx.export(module, example, input_names=["indices", "lengths"], output_names=["log_probs"],
                                    dynamic_shapes={"indices": {0: steps, 1: batch}, "lengths": {0: batch}},
                                    dynamo=True, external_data=False, opset_version=DYNAMO_OPSET, optimize=True,
                                    verbose=False)  # fmt: skip
    proto = program.model_proto
    proto.ir_version = onnx.helper.find_min_ir_version_for(proto.opset_import)
    drop_stack_traces(proto)
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def write_onnx_dynamo(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    onnx.save_model(dynamo_sequence_proto(model, metadata), str(path))
