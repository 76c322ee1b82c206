"""Training by hand: hand-written AdamW or SGD (``p -= lr * step``, never torch.optim), then the operating point."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..data.labelled import LabelledData, Split, label_ids
from ..errors import DataError, RnnExportError, TrainingError
from ..model.cell import CharRNN, ModelConfig
from ..text.alphabet import ALPHABET, check_alphabet
from ..text.encode import encode_ragged
from .augment import Augmentation, augmenter
from .calibration import calibration_rows
from .evaluation import evaluate_model, log_probs_of
from .operating_point import (
    OperatingPoint,
    apply_operating_point,
    check_prior_shift,
    fit_operating_point,
    label_frequencies,
)

SAMPLINGS = ("balanced", "shuffled")
SCHEDULES = ("constant", "cosine", "linear")
OPTIMIZERS = ("adamw", "sgd")
CALIBRATION_MODELS = ("sibling", "holdback")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; stored in the checkpoint and training.json.

    The defaults are the default recipe (docs/model.md, 'The default recipe'); RECIPES names the others.
    """

    recipe: str = "default"
    iterations: int | None = None  # total updates; when None, epochs decide
    epochs: float = 30.0
    batch_size: int = 64
    optimizer: str = "sgd"  # "sgd": p -= lr * grad; "adamw": p -= lr * Adam step, both by hand
    lr: float = 0.5
    lr_schedule: str = "cosine"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    sampling: str = "shuffled"
    class_weight_power: float = 0.65  # loss weight of a label ~ count**-power: 0 none, 0.5 sqrt-inverse, 1 inverse
    clip_grad_norm: float | None = 1.0
    # Decoupled: p *= 1 - lr * weight_decay at every update. Keeps weights small: same accuracy, fp32 runtimes
    # agree more closely. 3e-4 gave eager fp32 1.01e-5 from fp64 with the anyascii fold ('make train export' failed
    # parity at 1e-5); 5e-4: 7.6e-6, accuracy 0.738 vs 0.741.
    weight_decay: float = 5e-4
    # Largest singular value allowed to the recurrent matrix w after every update (None: unconstrained). Float32
    # rounding in h_t = tanh(w h_{t-1} + ...) grows with length faster when w expands (docs/model.md, 'Parity').
    spectral_bound: float | None = None
    case_lower: float = 0.0  # probability a training name is lower-cased (augment.py)
    case_upper: float = 0.0  # probability a training name is UPPER-cased
    letter_substitution: float = 0.0  # per-letter probability of a random lower-case letter (augment.py)
    calibration_holdback: float = 0.0  # share of training pairs held back to fit the temperature (calibration.py)
    # "sibling": T comes from a model trained without the hold-back, the final model trains on every pair (twice
    # the training time); "holdback": the model trained without the hold-back is the final model.
    calibration_model: str = "sibling"
    prior_shift: float = 0.0  # τ of v.bias -= τ·log(label frequency) (operating_point.py): see docs/model.md
    hidden_size: int = 128
    alphabet: str = ALPHABET  # the symbols the names are folded to (the model's input size is its length)
    seed: int = 0
    threads: int | None = 1  # measured: 2 intra-op threads made these small steps ~4x slower

    def __post_init__(self) -> None:
        problem = config_problem(self)
        if problem is not None:
            raise ValueError(problem)


MAX_LR = 10.0  # far above any rate that trains this model (the default is 0.5): larger is a typo
MAX_HIDDEN_SIZE = 8192  # w alone is 256 MiB of float32 there (the default is 128): larger is a typo


def option_name(field: str) -> str:
    """The train option that sets config ``field`` (``lr`` -> ``--lr``, ``batch_size`` -> ``--batch-size``)."""
    return "--" + field.replace("_", "-")


def config_problem(config: TrainConfig) -> str | None:
    """What makes ``config`` unusable (a non-finite, zero or negative size or rate), naming its option, or None."""
    whole = {"iterations": (config.iterations, 1), "batch_size": (config.batch_size, 1), "seed": (config.seed, 0),
             "hidden_size": (config.hidden_size, 1), "threads": (config.threads, 1)}  # fmt: skip
    for name, (value, smallest) in whole.items():
        if value is not None and value < smallest:
            return f"{option_name(name)} must be at least {smallest}; got {value}"
    if config.hidden_size > MAX_HIDDEN_SIZE:
        return f"--hidden-size must be at most {MAX_HIDDEN_SIZE}; got {config.hidden_size}"
    real = {"epochs": config.epochs, "class_weight_power": config.class_weight_power,
            "weight_decay": config.weight_decay, "clip_grad_norm": config.clip_grad_norm}  # fmt: skip
    for name, value in real.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{option_name(name)} must be a finite number >= 0; got {value}"
    if config.spectral_bound is not None and not (math.isfinite(config.spectral_bound) and config.spectral_bound > 0):
        return f"--spectral-bound must be a finite number > 0; got {config.spectral_bound}"
    if config.epochs == 0:
        return "--epochs must be more than 0; got 0"
    if not (math.isfinite(config.lr) and 0 < config.lr <= MAX_LR):
        return f"--lr must be more than 0 and at most {MAX_LR:g}; got {config.lr}"
    if config.lr * config.weight_decay >= 1:
        return (f"--lr times --weight-decay must be below 1 (each step scales the weights by 1 - lr * weight_decay); "
                f"got --lr {config.lr}, --weight-decay {config.weight_decay}")  # fmt: skip
    return None


# The default recipe (the committed model's): hand-written SGD with loss weights, no augmentation, no
# calibration, no shift. "adamw" (issue 13): better 10-fold accuracy and calibration, but its float32 runtimes
# miss the 1e-5 parity bound (docs/model.md, 'Model quality'), so it is not the default yet.
ADAMW = TrainConfig(
    recipe="adamw",
    epochs=40.0,
    optimizer="adamw",
    lr=4e-3,
    class_weight_power=0.0,
    weight_decay=0.1,
    case_lower=0.2,
    case_upper=0.2,
    calibration_holdback=0.1,
    prior_shift=0.52,
)
RECIPES = {
    "default": TrainConfig(),
    "sgd-2024": TrainConfig(recipe="sgd-2024"),  # the default's earlier name
    "adamw": ADAMW,
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
    if config.optimizer not in OPTIMIZERS or config.calibration_model not in CALIBRATION_MODELS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS} and calibration_model one of {CALIBRATION_MODELS}")
    augmentation_of(config)  # raises ValueError for probabilities outside [0, 1]
    if not 0 <= config.calibration_holdback < 1:
        raise ValueError(f"--calibration-holdback must be at least 0 and below 1; got {config.calibration_holdback}")
    check_prior_shift(config.prior_shift)
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
    operating_point: OperatingPoint
    cpu_seconds: float = 0.0  # CPU time of this process: on a shared machine, steadier than wall time


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


def augmentation_of(config: TrainConfig) -> Augmentation:
    """The config's augmentation probabilities; ValueError outside [0, 1]."""
    return Augmentation(config.case_lower, config.case_upper, config.letter_substitution)


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


def evaluate_checkpoint(
    checkpoint_path: Path, data: Path | None = None, name_column: str | None = None, label_column: str | None = None
) -> tuple[str, dict]:
    """The held-out metrics of a saved checkpoint, and the data they were measured on (a folder of
    ``<label>.txt`` files or a table, see data.read_labelled; default: the data the checkpoint records it was
    trained on, else the names data set).

    Raises CheckpointError (bad checkpoint) or DataError (no data, or labels the model does not have).
    """
    from ..data.labelled import find_names_dir, read_labelled, split_pairs
    from ..model.checkpoint import load_checkpoint, model_from_checkpoint

    checkpoint = load_checkpoint(checkpoint_path)
    labels, alphabet = checkpoint["labels"], checkpoint["alphabet"]
    trained_on = checkpoint.get("data") if isinstance(checkpoint.get("data"), dict) else {}
    if data is None and trained_on.get("path"):  # the data it was trained on, columns included
        data = Path(trained_on["path"])
        name_column = name_column or trained_on.get("name_column")
        label_column = label_column or trained_on.get("label_column")
        if not data.exists():
            raise DataError(f"{data}, the data {checkpoint_path} was trained on, is gone; pass --data")
    try:
        labelled = read_labelled(find_names_dir(data), alphabet, name_column, label_column)
    except RnnExportError as error:
        if not trained_on.get("path") or Path(trained_on["path"]) != Path(data):
            raise
        raise DataError(f"{data}, the data {checkpoint_path} was trained on, no longer reads as then: {error}; "
                        "pass --data") from None  # fmt: skip
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
    held_out_names = [p.name for p in split.held_out]
    metrics = evaluate_model(model, held_out_names, label_ids(split.held_out, labels), labels, config.alphabet)
    return TrainResult(model, config, metrics, *losses, wall_seconds, point, cpu_seconds)


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


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)


def data_record(labelled: LabelledData, given: Path | None, name_column: str | None,
                label_column: str | None) -> dict:  # fmt: skip
    """What training.json (and, for data given explicitly, the checkpoint) records of the training data: the
    names read, those dropped for want of a letter of the alphabet, the distinct pairs; and, when ``given``,
    its absolute path and columns, from which ``evaluate`` reads it again by default."""
    record = {"names": labelled.rows, "without_letter": labelled.without_letter, "pairs": len(labelled.pairs)}
    if given is not None:
        record.update(path=str(Path(given).resolve()), name_column=name_column, label_column=label_column)
    return record


def write_training_outputs(result: TrainResult, labels: list[str], out_dir: Path, data: dict | None = None
                           ) -> list[Path]:  # fmt: skip
    """Save checkpoint.pt, training.json and the plots (reports.py) into ``out_dir``; return the paths.

    Everything is written into a staging folder first and renamed into ``out_dir`` only when all of it is
    written: a failure (or Ctrl-C) leaves the folder as it was. An export of an earlier checkpoint in the
    folder (export.manifest.EXPORT_FILES) is removed then, so that no loader serves the earlier model. Raises
    OutputError (full disk, read-only)."""
    from ..export.manifest import EXPORT_FILES
    from ..io.atomic import atomic_files
    from ..model.checkpoint import make_checkpoint, save_checkpoint
    from .reports import training_report, write_training_reports

    report = {**training_report(result, labels), **({"data": data} if data else {})}
    out_dir = Path(out_dir)
    with atomic_files(out_dir, "train", stale=EXPORT_FILES) as staging:
        checkpoint = make_checkpoint(result.model, labels, result.config.alphabet, report["config"], result.metrics,
                                     result.operating_point.as_dict())  # fmt: skip
        if data and "path" in data:
            checkpoint["data"] = {key: data[key] for key in ("path", "name_column", "label_column")}
        save_checkpoint(checkpoint, staging / "checkpoint.pt")
        written = write_training_reports(report, result, labels, staging)
    return [out_dir / path.name for path in [staging / "checkpoint.pt", *written]]
