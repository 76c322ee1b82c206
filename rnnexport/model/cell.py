"""The character RNN of docs/model.md: h_t = tanh(w(h_{t-1}) + u(x_t)), log_softmax(v(h_T)); no I/O here."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the three linear maps; the checkpoint stores these so any consumer can rebuild the model."""

    n_letters: int = 57
    hidden_size: int = 128
    n_labels: int = 18


class CharRNN(nn.Module):
    """The cell and a batched forward over padded, time-major names."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.u = nn.Linear(config.n_letters, config.hidden_size)
        self.w = nn.Linear(config.hidden_size, config.hidden_size)
        self.v = nn.Linear(config.hidden_size, config.n_labels)

    def step(self, x_one_hot: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """One step exactly as the seed writes it: (B, 57) one-hot, (B, H) -> (B, H)."""
        return torch.tanh(self.w(hidden) + self.u(x_one_hot))

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, H) -> (B, n_labels) log-probabilities."""
        return torch.log_softmax(self.v(hidden), dim=-1)

    def forward(self, indices: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """indices int64 (T, B), lengths int64 (B,) >= 1 -> log-probs (B, n_labels) at each name's last letter."""
        return self.recur(indices, lengths)

    def recur(self, indices: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The forward pass without input checks (the exported TorchScript forward checks, then calls this)."""
        # u(one_hot(i)) + both biases is row i of this table: the input projection becomes a lookup.
        table = self.u.weight.t() + (self.u.bias + self.w.bias)  # (57, H)
        inputs = table[indices]  # (T, B, H)
        w_transposed = self.w.weight.t()
        all_full_length = bool((lengths == indices.shape[0]).all())
        hidden = torch.tanh(inputs[0])  # h_0 = 0, so the first step needs no w·h
        for t in range(1, indices.shape[0]):
            stepped = torch.tanh(torch.addmm(inputs[t], hidden, w_transposed))  # one fused op: h·w^T + input
            # A name that has ended keeps its last hidden state.
            hidden = stepped if all_full_length else torch.where((lengths > t).unsqueeze(1), stepped, hidden)
        return self.readout(hidden)


class CharRNNCell(nn.Module):
    """The single step as a module, for the ONNX cell: (x one-hot, h) -> (log_probs, h_next)."""

    def __init__(self, model: CharRNN):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h_next = self.model.step(x, h)
        return self.model.readout(h_next), h_next


def predict_one_by_one(model: CharRNN, one_hot_names: list[torch.Tensor]) -> torch.Tensor:
    """The seed's loop: each name alone, (L, 1, 57) one-hot, one step per letter -> (B, n_labels)."""
    outputs = []
    for name_tensor in one_hot_names:
        hidden = torch.zeros(1, model.hidden_size)
        for letter in name_tensor:
            hidden = model.step(letter, hidden)
        outputs.append(model.readout(hidden))
    return torch.cat(outputs)
