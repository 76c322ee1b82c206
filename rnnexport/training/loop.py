"""The training loop: batches sampled from the training pairs, the hand-written update of each step (updates.py,
never torch.optim), then the operating point folded into ``v`` and the held-out metrics."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..data.split import Split, label_ids
from ..errors import DataError, TrainingError
from ..model.cell import CharRNN, ModelConfig
from ..text.alphabet import ALPHABET
from ..text.encode import encode_ragged
from .answer_reports import answers_report
from .augment import augmenter
from .calibration import calibration_rows
from .evaluation import evaluate_model, log_probs_of
from .operating_point import OperatingPoint, apply_operating_point, fit_operating_point, label_frequencies
from .recipes import TrainConfig, augmentation_of
from .updates import make_update


@dataclass
class TrainResult:
    """The trained model with what training.json records."""

    model: CharRNN
    config: TrainConfig
    metrics: dict
    loss_per_epoch: list[float]
    loss_curve: list[tuple[int, float]]
    wall_seconds: float
    operating_point: OperatingPoint
    cpu_seconds: float = 0.0  # CPU time of this process: on a shared machine, steadier than wall time
    # The model that scored the calibration hold-back, unshifted (τ 0, T 1): the sibling, or with
    # calibration_model "holdback" the final model before the operating point. Cross-validation measures the
    # conformal sets of both (answers/), since only this one's scores are exchangeable with its held-out names.
    calibration_model: CharRNN | None = None


@dataclass(frozen=True)
class TrainingSet:
    """Training names padded time-major, with label ids."""

    indices: torch.Tensor  # (T, N) int64
    lengths: torch.Tensor  # (N,) int64
    label_ids: torch.Tensor  # (N,) int64


def make_training_set(names: list[str], label_ids: list[int], alphabet: str = ALPHABET) -> TrainingSet:
    encoded = encode_ragged(names, alphabet).padded()
    return TrainingSet(
        indices=torch.from_numpy(encoded.indices),
        lengths=torch.from_numpy(encoded.lengths),
        label_ids=torch.tensor(label_ids, dtype=torch.int64),
    )


def steps_per_epoch(config: TrainConfig, lengths: np.ndarray) -> int:
    """Updates in one pass over the examples (shuffled batches never mix lengths)."""
    if config.sampling == "shuffled":
        counts = np.unique(lengths, return_counts=True)[1]
        return int(np.ceil(counts / config.batch_size).sum())
    return max(1, math.ceil(len(lengths) / config.batch_size))


def total_steps(config: TrainConfig, lengths: np.ndarray) -> int:
    if config.iterations is not None:
        return config.iterations
    return max(1, round(config.epochs * steps_per_epoch(config, lengths)))


def learning_rate(config: TrainConfig, step: int, n_steps: int) -> float:
    """lr at ``step`` (0-based) under the configured schedule."""
    progress = step / max(1, n_steps)
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    if config.lr_schedule == "linear":
        return config.lr * (1.0 - progress)
    return config.lr


def class_weights(label_ids: torch.Tensor, n_labels: int, power: float) -> torch.Tensor | None:
    """Loss weight per label ~ count**-power, normalised to mean 1 over examples; None when power is 0."""
    if power == 0:
        return None
    counts = torch.bincount(label_ids, minlength=n_labels).clamp(min=1).double()
    weights = counts ** (-power)
    weights = weights / (weights[label_ids].mean())
    return weights.float()


def batch_sampler(
    config: TrainConfig, label_ids: np.ndarray, lengths: np.ndarray, n_labels: int, rng: np.random.Generator
):
    """Yields arrays of example rows forever: label-uniform draws, or shuffled length-bucketed epochs."""
    if config.sampling == "balanced":
        by_label = [np.flatnonzero(label_ids == label) for label in range(n_labels)]
        by_label = [rows for rows in by_label if len(rows)]
        while True:
            chosen = rng.integers(len(by_label), size=config.batch_size)
            yield np.array([by_label[label][rng.integers(len(by_label[label]))] for label in chosen])
    else:
        while True:
            yield from shuffled_epoch(lengths, config.batch_size, rng)


def shuffled_epoch(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One pass over every example in random batches of equal-length names, in random batch order.

    Equal lengths make every step of a batch useful (no padding), which roughly halves the work.
    """
    order = rng.permutation(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [batch for length in np.unique(lengths) for batch in _split(order[lengths[order] == length], batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _split(rows: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]


def batch_loss(
    model: CharRNN, data: TrainingSet, rows: torch.Tensor, weights: torch.Tensor | None, augment=None
) -> torch.Tensor:
    """Mean (weighted) NLL of the examples at ``rows``; ``augment`` maps indices [T_batch, B] before the forward."""
    lengths = data.lengths[rows]
    indices = data.indices[: int(lengths.max()), rows]  # (T_batch, B)
    if augment is not None:
        indices = torch.from_numpy(augment(indices.numpy()))
    log_probs = model(indices, lengths)
    return torch.nn.functional.nll_loss(log_probs, data.label_ids[rows], weight=weights)


def train(
    split: Split,
    labels: list[str],
    config: TrainConfig,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train on ``split.train`` less the calibration hold-back, fold the operating point (τ, T) into ``v``, then
    evaluate on ``split.held_out``; same config and seed, same weights.

    Raises DataError when either part of the split is empty (too little data) or a label has no training pair,
    TrainingError when the loss stops being finite.
    """
    if not split.train or not split.held_out:
        raise DataError(
            f"{len(split.train)} training and {len(split.held_out)} held-out pairs: both need at least one "
            "(each pair's crc32 decides which part it is in); give more names"
        )
    check_every_label_trained(split, labels)
    if config.threads:
        torch.set_num_threads(config.threads)
    names, ids = [p.name for p in split.train], np.asarray(label_ids(split.train, labels), dtype=np.int64)
    held_back = calibration_rows(names, [p.label for p in split.train], config.calibration_holdback)
    started, cpu_started = time.perf_counter(), time.process_time()
    kept = [n for n, back in zip(names, held_back, strict=True) if not back]
    data = make_training_set(kept, ids[~held_back].tolist(), config.alphabet)
    model, losses = _fit_new_model(data, config, len(labels), on_step)
    scorer = copy.deepcopy(model)
    point = calibrate(model, [n for n, back in zip(names, held_back, strict=True) if back], ids, held_back,
                      config)  # fmt: skip
    if config.calibration_model == "sibling" and held_back.any():
        # T stays the sibling's: the final model trains on every pair, so none is left to fit T on.
        every_pair = make_training_set(names, ids.tolist(), config.alphabet)
        model, losses = _fit_new_model(every_pair, config, len(labels), on_step)
        point = replace(point, unshifted_v={"weight": model.v.weight.detach().clone(),
                                            "bias": model.v.bias.detach().clone()})  # fmt: skip
    apply_operating_point(model, point)
    wall_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    held_out_names, held_out_ids = [p.name for p in split.held_out], label_ids(split.held_out, labels)
    metrics = evaluate_model(model, held_out_names, held_out_ids, labels, config.alphabet)
    metrics["answers"] = answers_report(log_probs_of(model, held_out_names, config.alphabet), np.asarray(held_out_ids),
                                        point, labels, config.calibration_model)  # fmt: skip
    return TrainResult(model, config, metrics, *losses, wall_seconds, point, cpu_seconds, scorer)


def check_every_label_trained(split: Split, labels: list[str]) -> None:
    """DataError naming the labels without a training pair: the model would learn nothing for them, yet give
    them probability (and, with a prior shift, a boost for being rare)."""
    trained = {pair.label for pair in split.train}
    untrained = [label for label in labels if label not in trained]
    if not untrained:
        return
    held_out = {pair.label for pair in split.held_out}
    why = {True: "its only names are held out", False: "no name of it has a letter of the alphabet"}
    reasons = [f"{label!r} ({why[label in held_out]})" for label in untrained[:5]]
    more = f" and {len(untrained) - 5} more" if len(untrained) > 5 else ""
    raise DataError(f"no training name for label {', '.join(reasons)}{more}; give those labels more names or "
                    "remove them")  # fmt: skip


def _fit_new_model(data: TrainingSet, config: TrainConfig, n_labels: int, on_step) -> tuple[CharRNN, tuple]:
    """A freshly initialised model (``config.seed``) trained on ``data``, in eval mode, and its loss curves."""
    torch.manual_seed(config.seed)
    model = CharRNN(ModelConfig(len(config.alphabet), config.hidden_size, n_labels))
    losses = fit(model, data, config, n_labels, on_step)
    return model.eval(), losses


def fit(
    model: CharRNN,
    data: TrainingSet,
    config: TrainConfig,
    n_labels: int,
    on_step: Callable[[int, int, float], None] | None = None,
) -> tuple[list[float], list[tuple[int, float]]]:
    """The training loop: ``total_steps`` manual updates of ``model``; the mean loss per epoch and the loss curve."""
    rng = np.random.default_rng(config.seed)
    lengths = data.lengths.numpy()
    weights = class_weights(data.label_ids, n_labels, config.class_weight_power)
    n_steps, epoch_steps = total_steps(config, lengths), steps_per_epoch(config, lengths)
    sampler = batch_sampler(config, data.label_ids.numpy(), lengths, n_labels, rng)
    augment, update = augmenter(augmentation_of(config), config.alphabet, config.seed), make_update(model, config)
    loss_per_epoch, loss_curve = [], []
    epoch_loss_sum, epoch_count = 0.0, 0
    for step in range(n_steps):
        loss = batch_loss(model, data, torch.from_numpy(next(sampler)), weights, augment)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingError(
                f"the loss became {loss_value} at step {step + 1} of {n_steps}; nothing was written: "
                "lower --lr (or keep --clip-grad-norm on)"
            )
        loss.backward()
        update(learning_rate(config, step, n_steps))
        epoch_loss_sum, epoch_count = epoch_loss_sum + loss_value, epoch_count + 1
        running_loss = epoch_loss_sum / epoch_count
        if epoch_count == epoch_steps or step == n_steps - 1:
            loss_per_epoch.append(running_loss)
            loss_curve.append((step + 1, running_loss))
            epoch_loss_sum, epoch_count = 0.0, 0
        if on_step is not None:
            on_step(step, n_steps, running_loss)
    return loss_per_epoch, loss_curve


def calibrate(
    model: CharRNN, held_back_names: list[str], ids: np.ndarray, held_back: np.ndarray, config: TrainConfig
) -> OperatingPoint:
    """The operating point of the trained (unshifted) model: label frequencies of every training pair (int
    ``ids`` [N]), T fitted at τ = ``prior_shift`` on the held-back pairs (bool ``held_back`` [N])."""
    unshifted_v = {"weight": model.v.weight.detach().clone(), "bias": model.v.bias.detach().clone()}
    log_probs = None
    if len(held_back_names):
        log_probs = torch.from_numpy(log_probs_of(model, held_back_names, config.alphabet))
    if log_probs is None:
        log_probs = torch.zeros(0, model.v.out_features)
    return fit_operating_point(unshifted_v, log_probs, torch.from_numpy(ids[held_back]),
                               label_frequencies(ids, model.v.out_features), config.prior_shift)  # fmt: skip
