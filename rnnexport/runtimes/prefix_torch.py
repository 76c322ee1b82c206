"""Torch backends of prefix-shared evaluation: eager (weights from a CharRNN) and a scripted module's methods."""

from __future__ import annotations

import numpy as np
import torch

from ..model.cell import CharRNN
from .prefix import LevelEngine


class TorchPrefixEngine(LevelEngine):
    """:class:`~rnnexport.prefix.LevelEngine` with the checkpoint's weights: one fused addmm + tanh per level,
    the maths of CharRNN.forward. Call with one intra-op thread per calling thread (blocks run side by side)."""

    def __init__(self, model: CharRNN):
        with torch.no_grad():
            # Row i is u(one_hot(i)) + both biases, as in CharRNN.forward: the input projection is a lookup.
            input_table = (model.u.weight.t() + (model.u.bias + model.w.bias)).contiguous()  # (57, H)
            w_transposed = model.w.weight.t().contiguous()  # (H, H)

        def step(hidden: np.ndarray, parent: np.ndarray, letter: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                parents = torch.from_numpy(hidden).index_select(0, torch.from_numpy(parent))
                inputs = input_table.index_select(0, torch.from_numpy(letter))
                return torch.addmm(inputs, parents, w_transposed).tanh_().numpy()

        def head(hidden: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model.readout(torch.from_numpy(hidden)).numpy()

        super().__init__(step, head, model.hidden_size)


class TorchScriptPrefixEngine(LevelEngine):
    """:class:`~rnnexport.prefix.LevelEngine` over a scripted module's ``prefix_step`` and ``prefix_head``."""

    def __init__(self, module):
        def step(hidden: np.ndarray, parent: np.ndarray, letter: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                tensors = (torch.from_numpy(hidden), torch.from_numpy(parent), torch.from_numpy(letter))
                return module.prefix_step(*tensors).numpy()

        def head(hidden: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module.prefix_head(torch.from_numpy(hidden)).numpy()

        super().__init__(step, head, int(module.hidden_size))
