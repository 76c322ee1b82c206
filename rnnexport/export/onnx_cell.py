"""The one-step ONNX artifact (char_rnn_cell.onnx), exported with torch.export from the eager cell."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch

from ..model.cell import CharRNN, CharRNNCell
from .manifest import CELL_OPSET
from .onnx_parts import set_metadata


def write_onnx_cell(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    """The torch.export-based exporter (the maintained one; the TorchScript-based one is deprecated).

    The cell has no control flow, so torch.export captures it exactly; weights are embedded
    (external_data=False) so the one file is the whole model.
    """
    cell = CharRNNCell(model).eval()
    example = (torch.zeros(2, model.u.in_features), torch.zeros(2, model.hidden_size))
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings(), QuietLogger("torch.onnx"):
        # The exporter's internal FutureWarnings and "torchvision not installed" notes are not ours to act on.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            cell,
            example,
            input_names=["x", "h"],
            output_names=["log_probs", "h_next"],
            dynamic_shapes=({0: batch}, {0: batch}),
            dynamo=True,
            external_data=False,
            opset_version=CELL_OPSET,
            verbose=False,
            optimize=True,
        )
    proto = program.model_proto
    # The lowest IR the opset allows (IR 8 for opset 18): ONNX Runtime <= 1.17 and onnx <= 1.15 refuse IR 10.
    proto.ir_version = onnx.helper.find_min_ir_version_for(proto.opset_import)
    proto.doc_string = (
        "Character RNN cell: x one-hot float32 [batch, n_letters], h float32 [batch, H] -> log_probs, h_next."
    )
    drop_stack_traces(proto)
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))


class QuietLogger:
    """Raise a logger's level to ERROR for the duration of a with-block."""

    def __init__(self, name: str):
        self.logger = logging.getLogger(name)

    def __enter__(self):
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc_info):
        self.logger.setLevel(self.level)


STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


def drop_stack_traces(proto: onnx.ModelProto) -> None:
    """Remove the exporter's per-node Python stack traces, in subgraphs (a Loop's body) too: they name absolute
    source paths, so the same checkpoint exported from another folder gave other bytes. The graph is untouched."""
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            kept = [entry for entry in node.metadata_props if entry.key != STACK_TRACE_KEY]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
            graphs.extend(attribute.g for attribute in node.attribute if attribute.type == onnx.AttributeProto.GRAPH)
