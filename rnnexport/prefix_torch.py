"""Eager-torch engine of prefix-shared evaluation: one fused addmm + tanh per trie level, weights from a CharRNN."""

from __future__ import annotations

import numpy as np
import torch

from .model import CharRNN
from .prefix import MIN_ROWS, TrieBlock


class TorchPrefixEngine:
    """Runs a :class:`~rnnexport.prefix.TrieBlock` with the checkpoint's weights, exactly as CharRNN.forward does.

    ``block_log_probs(block)`` -> float32 [block.n_names, n_labels]. Call with one intra-op thread per
    calling thread (blocks run side by side on threads, like the per-name runtimes' batches).
    """

    def __init__(self, model: CharRNN):
        with torch.no_grad():
            # Row i is u(one_hot(i)) + both biases, as in CharRNN.forward: the input projection is a lookup.
            self.input_table = (model.u.weight.t() + (model.u.bias + model.w.bias)).contiguous()  # (57, H)
            self.w_transposed = model.w.weight.t().contiguous()  # (H, H)
        self.model = model
        self.hidden_size = model.hidden_size

    def block_log_probs(self, block: TrieBlock) -> np.ndarray:
        with torch.inference_mode():
            first = block.levels[0]
            hidden = torch.tanh(self.input_table[torch.from_numpy(first.letter)])  # h_0 = 0: no w·h
            # At least MIN_ROWS rows, so that the readout rounds like the reference's batches.
            ends = torch.zeros(max(block.n_names, MIN_ROWS), self.hidden_size)
            ends[torch.from_numpy(first.end_name)] = hidden[torch.from_numpy(first.end_node)]
            for level in block.levels[1:]:
                parents = hidden.index_select(0, torch.from_numpy(level.parent))  # (nodes, H)
                inputs = self.input_table.index_select(0, torch.from_numpy(level.letter))
                hidden = torch.addmm(inputs, parents, self.w_transposed).tanh_()
                ends[torch.from_numpy(level.end_name)] = hidden[torch.from_numpy(level.end_node)]
            return self.model.readout(ends)[: block.n_names].numpy()
