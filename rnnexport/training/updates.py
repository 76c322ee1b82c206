"""The hand-written updates (``p -= lr * step`` under no_grad, never torch.optim): SGD and AdamW, both with
global-norm clipping and decoupled weight decay, and the optional spectral bound on the recurrent matrix w."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..model.cell import CharRNN
from .recipes import TrainConfig


def gradient(p: torch.Tensor) -> torch.Tensor:
    """``p.grad``, or zeros when the batch did not reach ``p`` (w, when every name in it has one letter: the
    cell skips w(h_0) for h_0 = 0)."""
    return p.grad if p.grad is not None else torch.zeros_like(p)


def _clip_scale(model: CharRNN, clip_grad_norm: float | None) -> float:
    """The factor that scales the global gradient norm down to ``clip_grad_norm`` (1.0 when within it or None)."""
    if clip_grad_norm is None:
        return 1.0
    norm = torch.sqrt(sum((gradient(p).double() ** 2).sum() for p in model.parameters()))
    return min(1.0, clip_grad_norm / (float(norm) + 1e-12))


def sgd_step(model: CharRNN, lr: float, clip_grad_norm: float | None, weight_decay: float = 0.0) -> None:
    """The manual update: optional global-norm clipping, then p -= lr * p.grad (plus decay) for every parameter."""
    with torch.no_grad():
        scale = _clip_scale(model, clip_grad_norm)
        for p in model.parameters():
            if weight_decay:
                p *= 1.0 - lr * weight_decay
            p -= (lr * scale) * gradient(p)
            p.grad = None


@dataclass
class AdamState:
    """Adam's running moments, one tensor per parameter (same shapes), and the number of updates so far."""

    first: list[torch.Tensor]
    second: list[torch.Tensor]
    step: int = 0


def adam_state(model: CharRNN) -> AdamState:
    return AdamState([torch.zeros_like(p) for p in model.parameters()],
                     [torch.zeros_like(p) for p in model.parameters()])  # fmt: skip


def adamw_step(model: CharRNN, state: AdamState, lr: float, config: TrainConfig) -> None:
    """Hand-written AdamW (Loshchilov & Hutter): with g the clipped gradient, m = β1·m + (1-β1)·g,
    s = β2·s + (1-β2)·g², step = m̂ / (sqrt(ŝ) + eps) with bias corrections; p *= 1 - lr·decay; p -= lr * step."""
    beta1, beta2 = config.adam_beta1, config.adam_beta2
    with torch.no_grad():
        scale = _clip_scale(model, config.clip_grad_norm)
        state.step += 1
        for p, first, second in zip(model.parameters(), state.first, state.second, strict=True):
            grad = gradient(p) * scale
            first.mul_(beta1).add_(grad, alpha=1 - beta1)
            second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denominator = (second / (1 - beta2**state.step)).sqrt_().add_(config.adam_eps)
            step = (first / (1 - beta1**state.step)) / denominator
            if config.weight_decay:
                p *= 1.0 - lr * config.weight_decay
            p -= lr * step
            p.grad = None


def bound_singular_values(weight: torch.Tensor, bound: float) -> None:
    """Clamp the singular values of ``weight`` [H, H] at ``bound`` in place: W = U S V^T becomes U min(S, bound) V^T.

    From the eigenvectors V of W^T W (eigh: half the cost of an SVD), W V diag(min(1, bound / s)) V^T."""
    with torch.no_grad():
        squares, vectors = torch.linalg.eigh(weight.T @ weight)  # s^2 ascending, V
        shrink = (bound / squares.clamp(min=0).sqrt().clamp(min=1e-30)).clamp(max=1.0)
        if bool((shrink < 1).any()):
            weight.copy_(weight @ (vectors * shrink) @ vectors.T)


def make_update(model: CharRNN, config: TrainConfig) -> Callable[[float], None]:
    """``update(lr)``: the manual step of ``config.optimizer`` (gradients must be in ``p.grad``), then w's singular
    values clamped at ``config.spectral_bound`` when set (projected gradient descent)."""
    if config.optimizer == "sgd":
        step = lambda lr: sgd_step(model, lr, config.clip_grad_norm, config.weight_decay)  # noqa: E731
    else:
        state = adam_state(model)
        step = lambda lr: adamw_step(model, state, lr, config)  # noqa: E731
    if config.spectral_bound is None:
        return step

    def bounded_step(lr: float) -> None:
        step(lr)
        bound_singular_values(model.w.weight, config.spectral_bound)

    return bounded_step
