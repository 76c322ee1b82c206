"""The contract every runtime keeps: time-major int64 indices [T, B] and lengths [B] (all >= 1) in, float32
log-probs [B, L] out, the inputs checked before any backend sees them; and the model identity (alphabet, labels,
fold) an artifact must record."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, InputError, ModelInputError
from ..model.manifest import check_recorded_model
from ..text.alphabet import ALPHABET, check_alphabet
from ..text.fold import check_fold


def check_model_inputs(indices: object, lengths: object, n_letters: int) -> None:
    """The contract of every runtime, checked before any backend runs (ONNX has no assert op; a backend given
    lengths of 0 or beyond T returns normal-looking garbage): ``indices`` int64 [T, B] with 0 <= index <
    ``n_letters``, ``lengths`` int64 [B] with 1 <= length <= T, T >= 1 and B >= 1. Raises ModelInputError."""
    for name, value, rank in (("indices", indices, "[T, B]"), ("lengths", lengths, "[B]")):
        if not (isinstance(value, np.ndarray) and value.dtype == np.int64 and value.ndim == len(rank.split(","))):
            shape = getattr(value, "shape", None)
            raise ModelInputError(f"{name} must be an int64 numpy array {rank}; got {type(value).__name__} "
                                  f"{getattr(value, 'dtype', '')} of shape {shape}")  # fmt: skip
    steps, batch = indices.shape
    if steps < 1 or batch < 1:
        raise ModelInputError(f"indices has shape [{steps}, {batch}]; give at least one name of one letter")
    if len(lengths) != batch:
        raise ModelInputError(f"lengths has {len(lengths)} entries for a batch of {batch} names; give one per name")
    if lengths.min() < 1 or lengths.max() > steps:
        raise ModelInputError(
            f"lengths must lie in 1..T = 1..{steps}; got {lengths.min()}..{lengths.max()} (encode names with "
            "rnnexport.text.encode.encode_ragged; a name with no letter has no prediction)"
        )
    if indices.min() < 0 or indices.max() >= n_letters:
        raise ModelInputError(f"indices must lie in 0..{n_letters - 1} (the alphabet); got "
                              f"{indices.min()}..{indices.max()}")  # fmt: skip


class Runtime:
    """Common surface: ``name``, ``labels``, ``alphabet`` (what indices refer to: encode names with it),
    ``parallel_calls``, ``log_probs(indices, lengths)`` and ``prefix_engine()`` (prefix-shared evaluation,
    runtimes/prefix.py; None where the runtime has none)."""

    name = "runtime"
    labels: list[str]
    alphabet: str = ALPHABET
    parallel_calls = 1  # how many threads may call log_probs at once to use the machine

    def log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """float32 [B, L] (float64 for the reference) from int64 indices [T, B] and lengths [B], checked first
        (ModelInputError) so no backend ever sees an input outside its contract."""
        check_model_inputs(indices, lengths, len(self.alphabet))
        return self._log_probs(indices, lengths)

    def _log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def prefix_engine(self):
        """A :class:`~rnnexport.prefix.LevelEngine` with this runtime's weights (opened once), or None."""
        if not hasattr(self, "_prefix_engine"):
            self._prefix_engine = self._open_prefix_engine()
        return self._prefix_engine

    def _open_prefix_engine(self):
        return None


def model_info(metadata: dict, source: Path, model_dir: Path, verify_hash: bool) -> tuple[str, list[str]]:
    """The alphabet and labels an artifact records (after checking them and its fold, and with ``verify_hash``
    that they are the manifest's); ArtifactError if bad."""
    try:
        alphabet, labels, fold = metadata["alphabet"], metadata["labels"], metadata["fold"]
        check_alphabet(alphabet)
    except (KeyError, TypeError, InputError) as error:
        raise ArtifactError(f"{source} lacks usable alphabet/labels/fold metadata ({error}); re-export it") from None
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        raise ArtifactError(f"{source} records no list of labels; re-export it")
    check_fold(fold, str(source), ArtifactError)
    if verify_hash:
        check_recorded_model(model_dir, source, alphabet, labels)
    return alphabet, labels
