"""ONNX Runtime engine of prefix-shared evaluation: char_rnn_step.onnx per trie level, char_rnn_head.onnx per block.

No torch import here (the ONNX path must stay torch-free).
"""

from __future__ import annotations

import numpy as np

from .prefix import MIN_ROWS, TrieBlock


class OnnxPrefixEngine:
    """``block_log_probs(block)`` -> float32 [block.n_names, n_labels], from two ONNX Runtime sessions.

    step_session: char_rnn_step.onnx; head_session: char_rnn_head.onnx. A session is thread-safe: blocks
    may run on several threads, each call using the session's (best: one) intra-op thread.
    """

    def __init__(self, step_session, head_session):
        self.step_session = step_session
        self.head_session = head_session
        self.hidden_size = step_session.get_inputs()[0].shape[1]
        self.zero_state = np.zeros((1, self.hidden_size), dtype=np.float32)  # h_0, the parent of level 1

    def block_log_probs(self, block: TrieBlock) -> np.ndarray:
        hidden = self.zero_state
        # At least MIN_ROWS rows, so that the readout rounds like the reference's batches.
        ends = np.zeros((max(block.n_names, MIN_ROWS), self.hidden_size), dtype=np.float32)
        for level in block.levels:
            inputs = {"hidden": hidden, "parent": level.parent, "letter": level.letter}
            hidden = self.step_session.run(["hidden_next"], inputs)[0]
            ends[level.end_name] = hidden[level.end_node]
        return self.head_session.run(["log_probs"], {"hidden": ends})[0][: block.n_names]
