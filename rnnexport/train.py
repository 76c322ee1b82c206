"""Training by hand: mini-batch (or the seed's per-example) SGD with ``p -= lr * p.grad``, never torch.optim."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .data import Split, label_ids
from .errors import DataError, TrainingError
from .metrics import summarize
from .model import CharRNN, ModelConfig
from .text import ALPHABET, check_alphabet, encode_ragged

SAMPLINGS = ("balanced", "shuffled")
SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; stored in the checkpoint and training.json."""

    recipe: str = "default"
    iterations: int | None = None  # total updates; when None, epochs decide
    epochs: float = 30.0
    batch_size: int = 64
    lr: float = 0.5
    lr_schedule: str = "cosine"
    sampling: str = "shuffled"
    class_weight_power: float = 0.65  # loss weight of a label ~ count**-power: 0 none, 0.5 sqrt-inverse, 1 inverse
    clip_grad_norm: float | None = 1.0
    # Keeps weights small: same accuracy, fp32 runtimes agree more closely. 3e-4 gave eager fp32 1.01e-5 from fp64
    # with the anyascii fold ('make train export' failed parity at 1e-5); 5e-4: 7.6e-6, accuracy 0.738 vs 0.741.
    weight_decay: float = 5e-4
    hidden_size: int = 128
    alphabet: str = ALPHABET  # the symbols the names are folded to (the model's input size is its length)
    seed: int = 0
    threads: int | None = 1  # measured: 2 intra-op threads made these small steps ~4x slower

    def __post_init__(self) -> None:
        problem = config_problem(self)
        if problem is not None:
            raise ValueError(problem)


MAX_LR = 10.0  # far above any rate that trains this model (the default is 0.5): larger is a typo


def config_problem(config: TrainConfig) -> str | None:
    """What makes ``config`` unusable (a non-finite, zero or negative size or rate), or None."""
    whole = {"iterations": (config.iterations, 1), "batch_size": (config.batch_size, 1), "seed": (config.seed, 0),
             "hidden_size": (config.hidden_size, 1), "threads": (config.threads, 1)}  # fmt: skip
    for name, (value, smallest) in whole.items():
        if value is not None and value < smallest:
            return f"{name} must be at least {smallest}; got {value}"
    real = {"epochs": config.epochs, "lr": config.lr, "class_weight_power": config.class_weight_power,
            "weight_decay": config.weight_decay, "clip_grad_norm": config.clip_grad_norm}  # fmt: skip
    for name, value in real.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{name} must be a finite number >= 0; got {value}"
    if config.epochs == 0 or not 0 < config.lr <= MAX_LR:
        return f"epochs must be > 0 and lr in (0, {MAX_LR:g}]; got epochs {config.epochs}, lr {config.lr}"
    if config.lr * config.weight_decay >= 1:
        return (f"lr * weight_decay must be < 1 (each step scales the weights by 1 - lr * weight_decay); got "
                f"lr {config.lr}, weight_decay {config.weight_decay}")  # fmt: skip
    return None


RECIPES = {
    "default": TrainConfig(),
    # The seed: batch 1, label-uniform sampling, lr 0.005, 200,000 iterations, nothing else.
    "seed": TrainConfig(
        recipe="seed",
        iterations=200_000,
        batch_size=1,
        lr=0.005,
        lr_schedule="constant",
        sampling="balanced",
        class_weight_power=0.0,
        clip_grad_norm=None,
    ),
}


def recipe_config(recipe: str, **overrides) -> TrainConfig:
    """A recipe's config with the given (non-None) overrides applied."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    config = replace(RECIPES[recipe], **{key: value for key, value in overrides.items() if value is not None})
    if config.sampling not in SAMPLINGS or config.lr_schedule not in SCHEDULES:
        raise ValueError(f"sampling must be one of {SAMPLINGS} and lr_schedule one of {SCHEDULES}")
    check_alphabet(config.alphabet)
    return config


@dataclass
class TrainResult:
    """The trained model with what training.json records."""

    model: CharRNN
    config: TrainConfig
    metrics: dict
    loss_per_epoch: list[float]
    loss_curve: list[tuple[int, float]]
    wall_seconds: float


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


def sgd_step(model: CharRNN, lr: float, clip_grad_norm: float | None, weight_decay: float = 0.0) -> None:
    """The manual update: optional global-norm clipping, then p -= lr * p.grad (plus decay) for every parameter."""
    with torch.no_grad():
        scale = 1.0
        if clip_grad_norm is not None:
            norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters()))
            scale = min(1.0, clip_grad_norm / (float(norm) + 1e-12))
        for p in model.parameters():
            if weight_decay:
                p *= 1.0 - lr * weight_decay
            p -= (lr * scale) * p.grad
            p.grad = None


def batch_loss(model: CharRNN, data: TrainingSet, rows: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    lengths = data.lengths[rows]
    indices = data.indices[: int(lengths.max()), rows]  # (T_batch, B)
    log_probs = model(indices, lengths)
    return torch.nn.functional.nll_loss(log_probs, data.label_ids[rows], weight=weights)


def evaluate_model(
    model: CharRNN, names: list[str], label_ids: list[int], labels: list[str], alphabet: str = ALPHABET
) -> dict:
    """Held-out metrics of a model on names folded to ``alphabet``."""
    encoded = encode_ragged(names, alphabet).padded()
    with torch.no_grad():
        log_probs = model(torch.from_numpy(encoded.indices), torch.from_numpy(encoded.lengths))
    return summarize(np.asarray(label_ids), log_probs.argmax(dim=1).numpy(), labels)


def evaluate_checkpoint(
    checkpoint_path: Path, data: Path | None = None, name_column: str | None = None, label_column: str | None = None
) -> tuple[str, dict]:
    """The held-out metrics of a saved checkpoint, and the data they were measured on (a folder of
    ``<label>.txt`` files or a CSV/TSV, see data.read_labelled; default: the names data set).

    Raises CheckpointError (bad checkpoint) or DataError (no data, or labels the model does not have).
    """
    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .data import find_names_dir, read_labelled, split_pairs

    checkpoint = load_checkpoint(checkpoint_path)
    labels, alphabet = checkpoint["labels"], checkpoint["alphabet"]
    labelled = read_labelled(find_names_dir(data), alphabet, name_column, label_column)
    unknown = sorted(set(labelled.labels) - set(labels))
    if unknown:
        raise DataError(f"{labelled.source} has labels the model does not know: {', '.join(unknown)}; give its data")
    held_out = split_pairs(labelled.pairs).held_out
    names = [pair.name for pair in held_out]
    model = model_from_checkpoint(checkpoint)
    return labelled.source, evaluate_model(model, names, label_ids(held_out, labels), labels, alphabet)


def train(
    split: Split,
    labels: list[str],
    config: TrainConfig,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train on ``split.train``, evaluate on ``split.held_out``; same config and seed, same weights.

    Raises DataError when either part of the split is empty (too little data).
    """
    if not split.train or not split.held_out:
        raise DataError(
            f"{len(split.train)} training and {len(split.held_out)} held-out pairs: both need at least one "
            "(about 1 pair in 10 is held out); give more names"
        )
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = make_training_set([p.name for p in split.train], label_ids(split.train, labels), config.alphabet)
    model = CharRNN(ModelConfig(len(config.alphabet), config.hidden_size, len(labels)))
    weights = class_weights(data.label_ids, len(labels), config.class_weight_power)
    n_steps = total_steps(config, data.lengths.numpy())
    epoch_steps = steps_per_epoch(config, data.lengths.numpy())
    sampler = batch_sampler(config, data.label_ids.numpy(), data.lengths.numpy(), len(labels), rng)
    loss_per_epoch, loss_curve = [], []
    epoch_loss_sum, epoch_count = 0.0, 0
    started = time.perf_counter()
    for step in range(n_steps):
        loss = batch_loss(model, data, torch.from_numpy(next(sampler)), weights)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingError(
                f"the loss became {loss_value} at step {step + 1} of {n_steps}; nothing was written: "
                "lower --lr (or keep --clip-grad-norm on)"
            )
        loss.backward()
        sgd_step(model, learning_rate(config, step, n_steps), config.clip_grad_norm, config.weight_decay)
        epoch_loss_sum, epoch_count = epoch_loss_sum + loss_value, epoch_count + 1
        running_loss = epoch_loss_sum / epoch_count
        if epoch_count == epoch_steps or step == n_steps - 1:
            loss_per_epoch.append(running_loss)
            loss_curve.append((step + 1, running_loss))
            epoch_loss_sum, epoch_count = 0.0, 0
        if on_step is not None:
            on_step(step, n_steps, running_loss)
    wall_seconds = time.perf_counter() - started
    model.eval()
    held_out_names = [p.name for p in split.held_out]
    metrics = evaluate_model(model, held_out_names, label_ids(split.held_out, labels), labels, config.alphabet)
    return TrainResult(model, config, metrics, loss_per_epoch, loss_curve, wall_seconds)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)


def write_training_outputs(result: TrainResult, labels: list[str], out_dir: Path) -> list[Path]:
    """Save checkpoint.pt, training.json and the plots (reports.py) into ``out_dir``; return the paths.

    Everything is written into a staging folder first and renamed into ``out_dir`` only when all of it is
    written: a failure (or Ctrl-C) leaves the folder as it was. Raises OutputError (full disk, read-only)."""
    from .atomic import atomic_files
    from .checkpoint import make_checkpoint, save_checkpoint
    from .reports import training_report, write_training_reports

    report = training_report(result, labels)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_files(out_dir, "train") as staging:
        checkpoint = make_checkpoint(result.model, labels, result.config.alphabet, report["config"], result.metrics)
        save_checkpoint(checkpoint, staging / "checkpoint.pt")
        written = write_training_reports(report, result, labels, staging)
    return [out_dir / path.name for path in [staging / "checkpoint.pt", *written]]
