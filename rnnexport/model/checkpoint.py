"""Checkpoints as plain dicts of tensors and plain values, loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from .. import __version__
from ..errors import CheckpointError, InputError
from ..io.atomic import atomic_save
from ..text.alphabet import check_alphabet
from ..text.fold import check_fold, fold_identity
from .cell import CharRNN, ModelConfig

FORMAT = "rnnexport-checkpoint/1"
PARAMETER_NAMES = ("u.weight", "u.bias", "w.weight", "w.bias", "v.weight", "v.bias")
REQUIRED_KEYS = (
    "format", "rnnexport_version", "alphabet", "fold", "labels", "hidden_size", "state_dict", "config", "metrics",
)  # fmt: skip


def make_checkpoint(
    model: CharRNN, labels: list[str], alphabet: str, config: dict, metrics: dict, operating_point: dict | None = None
) -> dict:
    """The documented checkpoint dict (see README: 'Checkpoint and artifacts'); ``fold`` is the installed
    fold's identity (text.fold_identity), which the training data went through. ``operating_point`` is
    operating_point.OperatingPoint.as_dict() (τ, T, label frequencies, unshifted v); absent means τ 0, T 1."""
    extra = {} if operating_point is None else {"operating_point": operating_point}
    return {
        "format": FORMAT,
        "rnnexport_version": __version__,
        "alphabet": alphabet,
        "fold": fold_identity(),
        "labels": list(labels),
        "hidden_size": model.hidden_size,
        "state_dict": {name: tensor.detach().clone() for name, tensor in model.state_dict().items()},
        "config": config,
        "metrics": metrics,
        **extra,
    }


def save_checkpoint(checkpoint: dict, path: Path) -> None:
    """Write atomically: a crash mid-write never leaves a truncated checkpoint behind. Serialized in memory
    first: torch.save's own writer reports a full disk as a RuntimeError, a plain write as an OSError (which
    atomic_save turns into an OutputError)."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_save(path, lambda partial: Path(partial).write_bytes(buffer.getvalue()))


def load_checkpoint(path: Path) -> dict:
    """Load and check a checkpoint; any problem is a CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; run `rnnexport train` or pass --checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of a file it then refuses
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as error:  # weights_only refuses any object but tensors and plain values
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated, or a pickle that would run code on load "
            f"({type(error).__name__}: refused, nothing was run); use a checkpoint written by `rnnexport train`"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(error).__name__})") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks keys: {', '.join(missing)}")
    try:
        check_alphabet(checkpoint["alphabet"])
    except InputError as error:
        raise CheckpointError(f"checkpoint {path}: {error}") from None
    check_fold(checkpoint["fold"], f"checkpoint {path}", CheckpointError)
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> CharRNN:
    """Rebuild the eager model in eval mode from a checkpoint dict."""
    state = checkpoint["state_dict"]
    config = ModelConfig(
        n_letters=len(checkpoint["alphabet"]),
        hidden_size=checkpoint["hidden_size"],
        n_labels=len(checkpoint["labels"]),
    )
    model = CharRNN(config)
    try:
        model.load_state_dict({name: state[name] for name in PARAMETER_NAMES})
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint weights do not fit the model: {error}") from None
    return model.eval()
