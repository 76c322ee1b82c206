"""ONNX Runtime backend of prefix-shared evaluation: char_rnn_step.onnx per trie level, char_rnn_head.onnx per block.

No torch import here (the ONNX path must stay torch-free).
"""

from __future__ import annotations

from .prefix import LevelEngine


class OnnxPrefixEngine(LevelEngine):
    """:class:`~rnnexport.prefix.LevelEngine` over two ONNX Runtime sessions.

    step_session: char_rnn_step.onnx; head_session: char_rnn_head.onnx. A session is thread-safe: blocks
    may run on several threads, each call using the session's (best: one) intra-op thread.
    """

    def __init__(self, step_session, head_session):
        def step(hidden, parent, letter):
            return step_session.run(["hidden_next"], {"hidden": hidden, "parent": parent, "letter": letter})[0]

        def head(hidden):
            return head_session.run(["log_probs"], {"hidden": hidden})[0]

        super().__init__(step, head, step_session.get_inputs()[0].shape[1])
