"""Training recipes: everything that decides a training run (TrainConfig), each value checked, and the named
recipes (the default, adamw, sgd-2024, seed) that ``rnnexport train --recipe`` starts from."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from ..errors import OptionError
from ..text.alphabet import ALPHABET, check_alphabet
from .augment import Augmentation

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
    epochs: float = 60.0
    batch_size: int = 64
    optimizer: str = "adamw"  # "sgd": p -= lr * grad; "adamw": p -= lr * Adam step, both by hand
    lr: float = 4e-3
    lr_schedule: str = "cosine"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    sampling: str = "shuffled"
    class_weight_power: float = 0.0  # loss weight of a label ~ count**-power: 0 none, 0.5 sqrt-inverse, 1 inverse
    clip_grad_norm: float | None = 1.0
    weight_decay: float = 0.1  # decoupled: p *= 1 - lr * weight_decay at every update
    # Largest singular value allowed to the recurrent matrix w after every update (None: unconstrained). Float32
    # rounding in h_t = tanh(w h_{t-1} + ...) grows with length faster when w expands: 1.5 keeps every runtime
    # within the parity rule up to 64 letters at no cost in 10-fold accuracy (docs/model.md, 'Parity').
    spectral_bound: float | None = 1.5
    case_lower: float = 0.2  # probability a training name is lower-cased (augment.py)
    case_upper: float = 0.3  # probability a training name is UPPER-cased
    letter_substitution: float = 0.0  # per-letter probability of a random lower-case letter (augment.py)
    calibration_holdback: float = 0.1  # share of training pairs held back to fit the temperature (calibration.py)
    # "sibling": T comes from a model trained without the hold-back, the final model trains on every pair (twice
    # the training time); "holdback": the model trained without the hold-back is the final model.
    calibration_model: str = "sibling"
    prior_shift: float = 0.52  # τ of v.bias -= τ·log(label frequency) (operating_point.py): see docs/model.md
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


MAX_PRIOR_SHIFT = 10.0  # |τ|: 0 is the plain model, 1 removes the training prior; far beyond is a typo


def check_prior_shift(prior_shift: float) -> float:
    """τ, if usable: OptionError unless finite and within ±MAX_PRIOR_SHIFT (past it the readout's weights grow
    until float32 runtimes can no longer agree)."""
    if not (math.isfinite(prior_shift) and abs(prior_shift) <= MAX_PRIOR_SHIFT):
        raise OptionError(f"--prior-shift must be between -{MAX_PRIOR_SHIFT:g} and {MAX_PRIOR_SHIFT:g} (0: the plain "
                         f"model, 1: no training prior); got {prior_shift}")  # fmt: skip
    return prior_shift


# The fields `rnnexport train` overrides by option (training.run, cli/training.py): how the value reads (a type,
# "count" for an integer >= 1, or the choices) and what it means; None leaves the recipe's value.
OVERRIDES = {
    "alphabet": (str, 'The symbols names are folded to (printable ASCII, each once) [default: a-z A-Z and " .,;\'"].'),
    "hidden_size": ("count", "Hidden units of the RNN [default: 128]."),
    "epochs": (float, "Passes over the training pairs (ignored with --iterations)."),
    "iterations": (int, "Number of updates (overrides --epochs)."),
    "batch_size": ("count", None),
    "lr": (float, "Learning rate of p -= lr * p.grad."),
    "lr_schedule": (SCHEDULES, None),
    "sampling": (("shuffled", "balanced"), "'balanced': label first, uniformly, then a name of it (the seed's way)."),
    "class_weight_power": (float, "Loss weight of a label ~ count**-P: 0 none, 0.5 sqrt-inverse, 1 inverse."),
    "weight_decay": (float, "Decoupled weight decay applied in the manual update."),
    "optimizer": (OPTIMIZERS, "The hand-written update."),
    "case_lower": (float, "Probability a training name is lower-cased."),
    "case_upper": (float, "Probability a training name is UPPER-cased."),
    "letter_substitution": (float, "Per-letter probability of a random letter."),
    "calibration_holdback": (float, "Share of training pairs held back to fit the temperature."),
    "prior_shift": (float, "τ of v.bias -= τ·log(label frequency): 0 accuracy, 1 balance."),
    "clip_grad_norm": (float, "Clip the global gradient norm (0 turns it off)."),
    "spectral_bound": (float, "Clamp w's singular values at this after every update (0 turns it off)."),
    "seed": (int, "Random seed: same seed, same weights."),
    "threads": ("count", "torch intra-op threads."),
}


# Today's default is TrainConfig() (issue 24, docs/model.md 'The default recipe'): hand-written AdamW with w's
# singular values clamped at 1.5, case augmentation, a calibration hold-back and τ 0.52. The others, for comparison:
# "adamw", issue 13's recipe (40 epochs, w unconstrained: float32 runtimes break the parity rule past ~12 letters);
# "sgd", the default until issue 24 (hand-written SGD with loss weights); "seed", the tutorial's.
ADAMW = TrainConfig(recipe="adamw", epochs=40.0, spectral_bound=None, case_upper=0.2)
SGD = TrainConfig(
    recipe="sgd",
    epochs=30.0,
    optimizer="sgd",
    lr=0.5,
    class_weight_power=0.65,
    weight_decay=5e-4,
    spectral_bound=None,
    case_lower=0.0,
    case_upper=0.0,
    calibration_holdback=0.0,
    prior_shift=0.0,
)
RECIPES = {
    "default": TrainConfig(),
    "adamw": ADAMW,
    "sgd": SGD,
    "sgd-2024": replace(SGD, recipe="sgd-2024"),  # the sgd recipe's earlier name
    # The seed: batch 1, label-uniform sampling, lr 0.005, 200,000 iterations, nothing else.
    "seed": replace(
        SGD,
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


OFF_AT_ZERO = ("clip_grad_norm", "spectral_bound")  # an override of 0 turns these off (None)


def recipe_config(recipe: str, **overrides) -> TrainConfig:
    """A recipe's config with the given (non-None) overrides applied; 0 for a field of OFF_AT_ZERO turns it off."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    given = {key: value for key, value in overrides.items() if value is not None}
    given |= {key: None for key in OFF_AT_ZERO if given.get(key) == 0}
    config = replace(RECIPES[recipe], **given)
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


def augmentation_of(config: TrainConfig) -> Augmentation:
    """The config's augmentation probabilities; ValueError outside [0, 1]."""
    return Augmentation(config.case_lower, config.case_upper, config.letter_substitution)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
