"""The torch.export artifacts: char_rnn.pt2 (the per-letter loop as one ``while_loop``, dynamic in T and B, plus the
prefix-sharing step and head) and char_rnn_aoti.pt2 (that loop compiled by AOTInductor for this CPU and torch).

Why ``while_loop``: torch.export traces a Python ``for`` over ``range(T)`` into T copies of the step, frozen to the
example's length; ``torch._higher_order_ops.while_loop`` keeps the loop as one node whose trip count is the input's
T. (``scan`` exported too, but AOTInductor failed on it in torch 2.13: ``InductorError: KeyError: s2``.) Both are
prototype APIs in torch 2.13, so every export is verified against eager PyTorch before it is called done.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from ..model.aoti_target import aoti_target
from ..model.cell import CharRNN
from ..model.manifest import ARCHIVE_METADATA_FILE
from .manifest import archive_metadata

# The longest T and largest B the program accepts (torch.export needs bounds; beyond them a call is refused).
MAX_STEPS = 1 << 16
MAX_BATCH = 1 << 24


class LoopCharRNN(nn.Module):
    """CharRNN.forward with the loop as one ``while_loop`` node and the input contract as runtime asserts."""

    def __init__(self, model: CharRNN, checks: bool = True):
        super().__init__()
        self.model = model
        self.checks = checks  # False for ONNX, which has no assert op

    def forward(self, indices: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """indices int64 (T, B), lengths int64 (B,) in 1..T -> log-probs (B, L); RuntimeError on a length or an
        index outside the contract (a shape mismatch is refused by the program's own guards)."""
        from torch._higher_order_ops.while_loop import while_loop

        model, steps = self.model, indices.shape[0]
        if self.checks:
            self.check_inputs(indices, lengths)
        # The maths of CharRNN.recur: row i of the table is u(one_hot(i)) + both biases.
        inputs = (model.u.weight.t() + (model.u.bias + model.w.bias))[indices]  # (T, B, H)
        w_transposed = model.w.weight.t()

        def more_steps(t, hidden):
            return t < steps

        def step(t, hidden):
            stepped = torch.tanh(torch.addmm(inputs.index_select(0, t.reshape(1)).squeeze(0), hidden, w_transposed))
            # A name that has ended keeps its last hidden state.
            return t + 1, torch.where((lengths > t).unsqueeze(1), stepped, hidden)

        start = torch.ones((), dtype=torch.int64)
        _, hidden = while_loop(more_steps, step, (start, torch.tanh(inputs[0])))  # h_0 = 0: no w·h at t = 0
        return model.readout(hidden)

    def check_inputs(self, indices: torch.Tensor, lengths: torch.Tensor) -> None:
        """The contract of char_rnn.pt's forward as runtime asserts inside the program (a RuntimeError)."""
        steps, n_letters = indices.shape[0], self.model.u.in_features
        torch._assert_async(((lengths >= 1) & (lengths <= steps)).all(), "every length must lie in 1..T")
        torch._assert_async(((indices >= 0) & (indices < n_letters)).all(), "indices must lie in the alphabet")


class PrefixStep(nn.Module):
    """One trie level of prefix-shared evaluation (runtimes/prefix.py), as TorchScript's prefix_step:
    hidden (parents, H), parent int64 (nodes,), letter int64 (nodes,) -> (nodes, H)."""

    def __init__(self, model: CharRNN):
        super().__init__()
        self.model = model

    def forward(self, hidden: torch.Tensor, parent: torch.Tensor, letter: torch.Tensor) -> torch.Tensor:
        model = self.model
        table = model.u.weight.t() + (model.u.bias + model.w.bias)
        parents = hidden.index_select(0, parent)
        return torch.tanh(torch.addmm(table.index_select(0, letter), parents, model.w.weight.t()))


class PrefixHead(nn.Module):
    """The readout where names end: hidden (batch, H) -> log-probs (batch, L)."""

    def __init__(self, model: CharRNN):
        super().__init__()
        self.model = model

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.readout(hidden)


def export_programs(model: CharRNN) -> dict[str, torch.export.ExportedProgram]:
    """The three programs of char_rnn.pt2, each dynamic in its batch (and the loop in T), without stack traces."""
    model = model.eval()
    hidden_size, steps, batch = (
        model.hidden_size,
        torch.export.Dim("T", max=MAX_STEPS),
        torch.export.Dim("B", max=MAX_BATCH),
    )
    parents, nodes = torch.export.Dim("parents", max=MAX_BATCH), torch.export.Dim("nodes", max=MAX_BATCH)
    # Fixed examples (saved inside the archive as sample inputs): the same checkpoint gives the same bytes.
    step_args = (torch.zeros(2, hidden_size), torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]))
    examples = {
        "model": (LoopCharRNN(model), (torch.zeros(3, 2, dtype=torch.long), torch.tensor([3, 2])),
                  {"indices": {0: steps, 1: batch}, "lengths": {0: batch}}),
        "prefix_step": (PrefixStep(model), step_args, {"hidden": {0: parents}, "parent": {0: nodes},
                                                      "letter": {0: nodes}}),
        "prefix_head": (PrefixHead(model), (torch.zeros(2, hidden_size),), {"hidden": {0: batch}}),
    }  # fmt: skip
    programs = {}
    with warnings.catch_warnings(), torch.no_grad():
        # torch 2.13's pytree FutureWarnings (LeafSpec) come from torch's own internals: nothing for us to act on.
        warnings.simplefilter("ignore", FutureWarning)
        for name, (module, args, dynamic_shapes) in examples.items():
            program = torch.export.export(module.eval(), args, dynamic_shapes=dynamic_shapes, strict=False)
            drop_stack_traces(program)
            programs[name] = program
    return programs


def drop_stack_traces(program: torch.export.ExportedProgram) -> None:
    """Remove each node's Python stack trace (absolute source paths: the same checkpoint exported from another
    folder gave other bytes), in the loop's subgraphs too. The graph itself is untouched."""
    for module in program.graph_module.modules():
        if isinstance(module, torch.fx.GraphModule):
            for node in module.graph.nodes:
                node.meta.pop("stack_trace", None)


def write_torch_export(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    """char_rnn.pt2: the three programs and metadata.json (as in char_rnn.pt), loadable with torch.export.load."""
    from torch.export.pt2_archive._package import package_pt2

    extra = {ARCHIVE_METADATA_FILE: json.dumps(archive_metadata(metadata))}
    buffer = io.BytesIO()
    package_pt2(buffer, exported_programs=export_programs(model), extra_files=extra)
    path.write_bytes(buffer.getvalue())


def write_aoti_package(program_path: Path, metadata: dict[str, str], path: Path) -> dict:
    """char_rnn_aoti.pt2: char_rnn.pt2's loop compiled by AOTInductor for this machine's CPU and this torch.

    The model metadata and the target (torch version, machine, the CPU flags the code needs) go into the
    package's metadata, which LibTorch reads before loading (AOTIModelPackageLoader::load_metadata_from_package).
    Returns the target and the compile time in seconds. Compiling takes 40-90 s of CPU (a C++ compiler is run).
    """
    started = time.perf_counter()
    program = torch.export.load(str(program_path))
    target = aoti_target()
    package_metadata = {**metadata, **{f"rnnexport_{key}": value for key, value in target.as_metadata().items()}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's internal pytree deprecations, as above
        # Inductor imports torch/utils/mkldnn.py, whose classes use torch.jit.script_method (deprecated with
        # TorchScript): torch's own code, not a TorchScript call of ours.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.script_method")
        compiled = torch._inductor.aoti_compile_and_package(
            program, package_path=str(path), inductor_configs={"aot_inductor.metadata": package_metadata}
        )
    if Path(compiled) != Path(path):
        Path(compiled).replace(path)
    return {"target": target, "seconds": time.perf_counter() - started}
