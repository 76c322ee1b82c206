"""What the hand-built ONNX graphs share: the checkpoint's weights as float32 arrays, the input table (the input
projection as a row lookup) and the metadata every artifact carries."""

from __future__ import annotations

import numpy as np
import onnx


def float32_weights(model) -> dict[str, np.ndarray]:
    """A CharRNN's parameters as float32 arrays named like the checkpoint's (``u.weight`` [H, n_letters], ...)."""
    return {name: tensor.detach().numpy().astype(np.float32) for name, tensor in model.state_dict().items()}


def input_table(weights: dict[str, np.ndarray]) -> np.ndarray:
    """float32 [n_letters, H]: row i is u(one_hot(i)) + u.bias + w.bias, so the input projection is a lookup."""
    return (weights["u.weight"].T + weights["u.bias"] + weights["w.bias"]).astype(np.float32)


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Replace the model's metadata_props with ``metadata``."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
