"""The operating point of a trained model: prior shift τ and temperature T, both folded into the readout ``v``.

The exported model computes ``v'(h) = (v(h) - τ·log f) / T`` with the same architecture: ``v'.weight = v.weight / T``
and ``v'.bias = (v.bias - τ·log f) / T``, where ``f`` is the training label frequency. τ = 0 is the plain
(accuracy-maximising) model; τ = 1 removes the training prior (balanced accuracy). T is fitted, for the chosen τ, on
training pairs held back from the fit (calibration.py). The unshifted ``v`` and the held-back log-probs are kept in
the checkpoint, so ``rnnexport export --prior-shift τ`` re-bakes another operating point exactly, without data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import CheckpointError
from .calibration import fit_temperature
from .recipes import check_prior_shift

CHECKPOINT_KEY = "operating_point"


@dataclass(frozen=True)
class OperatingPoint:
    """τ, T and what re-fitting them needs; stored in the checkpoint under ``operating_point``."""

    prior_shift: float  # τ
    temperature: float  # T
    label_frequencies: list[float]  # [C] training label frequency, model output order
    unshifted_v: dict[str, torch.Tensor]  # "weight" float32 [C, H], "bias" float32 [C]: v as trained
    calibration_log_probs: torch.Tensor  # float32 [N_cal, C]: the unshifted model on the held-back pairs
    calibration_label_ids: torch.Tensor  # int64 [N_cal]

    def as_dict(self) -> dict:
        """Plain values and tensors: loadable with ``torch.load(weights_only=True)``."""
        return {
            "prior_shift": self.prior_shift,
            "temperature": self.temperature,
            "label_frequencies": list(self.label_frequencies),
            "unshifted_v": dict(self.unshifted_v),
            "calibration_log_probs": self.calibration_log_probs,
            "calibration_label_ids": self.calibration_label_ids,
        }

    def summary(self) -> dict:
        """τ, T and the frequencies (no tensors): for training.json and manifest.json."""
        return {
            "prior_shift": self.prior_shift,
            "temperature": self.temperature,
            "label_frequencies": list(self.label_frequencies),
            "n_calibration": len(self.calibration_label_ids),
        }


def label_frequencies(label_ids: np.ndarray, n_labels: int) -> list[float]:
    """Each label's share of ``label_ids`` (int [N]); a label never seen counts once, so log f stays finite."""
    counts = np.maximum(np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=n_labels), 1)
    return (counts / max(len(label_ids), 1)).tolist()


def adjusted_log_probs(log_probs: np.ndarray, frequencies: list[float], prior_shift: float, temperature: float):
    """float64 [N, C]: log_softmax((log_probs - τ·log f) / T) of an unshifted model's float [N, C] log-probs."""
    logits = (np.asarray(log_probs, dtype=np.float64) - prior_shift * np.log(frequencies)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def fit_operating_point(
    unshifted_v: dict[str, torch.Tensor],
    calibration_log_probs: torch.Tensor,
    calibration_label_ids: torch.Tensor,
    frequencies: list[float],
    prior_shift: float,
) -> OperatingPoint:
    """The operating point at τ = ``prior_shift``, T fitted on the held-back pairs (1.0 when there are none)."""
    check_prior_shift(prior_shift)
    shifted = calibration_log_probs.double().numpy() - prior_shift * np.log(frequencies)
    temperature = fit_temperature(shifted, calibration_label_ids.numpy())
    return OperatingPoint(prior_shift, temperature, list(frequencies), unshifted_v,
                          calibration_log_probs, calibration_label_ids)  # fmt: skip


def readout_weights(point: OperatingPoint) -> dict[str, torch.Tensor]:
    """``v.weight`` [C, H] and ``v.bias`` [C] (float32) with τ and T folded in, computed in float64.

    τ = 0 and T = 1 give the unshifted tensors themselves, so such a model is bit-identical to the trained one.
    """
    if point.prior_shift == 0 and point.temperature == 1:
        return {"v.weight": point.unshifted_v["weight"], "v.bias": point.unshifted_v["bias"]}
    weight = point.unshifted_v["weight"].double() / point.temperature
    log_f = torch.tensor(np.log(point.label_frequencies), dtype=torch.float64)
    bias = (point.unshifted_v["bias"].double() - point.prior_shift * log_f) / point.temperature
    return {"v.weight": weight.float(), "v.bias": bias.float()}


def apply_operating_point(model: torch.nn.Module, point: OperatingPoint) -> None:
    """Overwrite ``model.v`` in place with the operating point's readout (the identity when τ = 0 and T = 1)."""
    weights = readout_weights(point)
    with torch.no_grad():
        model.v.weight.copy_(weights["v.weight"])
        model.v.bias.copy_(weights["v.bias"])


def point_from_checkpoint(checkpoint: dict) -> OperatingPoint | None:
    """The checkpoint's operating point; None for one trained before operating points existed (read as τ 0, T 1:
    its ``v`` is the trained one). CheckpointError when it is there but malformed."""
    stored = checkpoint.get(CHECKPOINT_KEY)
    if stored is None:
        return None
    try:
        return OperatingPoint(**stored)
    except TypeError as error:
        raise CheckpointError(f"the checkpoint's operating point is malformed ({error}); retrain it") from None


def reshift_checkpoint(checkpoint: dict, prior_shift: float) -> dict:
    """A copy of ``checkpoint`` re-baked at τ = ``prior_shift`` from the unshifted ``v`` (T re-fitted).

    Exact: the same τ gives the same weights as training with it. A checkpoint without an operating point is at
    τ 0, T 1, so τ = 0 returns it unchanged; another τ raises CheckpointError (no label frequencies to shift by).
    OptionError when τ is not finite or beyond ±MAX_PRIOR_SHIFT.
    """
    check_prior_shift(prior_shift)
    stored = point_from_checkpoint(checkpoint)
    if stored is None:
        if prior_shift == 0:
            return checkpoint
        raise CheckpointError(
            "the checkpoint has no operating point (training label frequencies), so it can only be read at "
            "prior shift 0; retrain it with this rnnexport to shift it"
        )
    point = with_prior_shift(stored, prior_shift)
    state_dict = {**checkpoint["state_dict"], **readout_weights(point)}
    config = {**checkpoint["config"], "prior_shift": prior_shift} if isinstance(checkpoint.get("config"), dict) else {}
    return {**checkpoint, "state_dict": state_dict, "config": config, CHECKPOINT_KEY: point.as_dict()}


def with_prior_shift(point: OperatingPoint, prior_shift: float) -> OperatingPoint:
    """The same model at another τ, T re-fitted (cross-validation's frontier uses this)."""
    refit = fit_operating_point(point.unshifted_v, point.calibration_log_probs, point.calibration_label_ids,
                                point.label_frequencies, prior_shift)  # fmt: skip
    return replace(point, prior_shift=refit.prior_shift, temperature=refit.temperature)
