"""Split conformal prediction sets and the table of their thresholds (manifest.json's ``prediction_sets``).

Split conformal prediction (Vovk et al. 2005; here the least-ambiguous set-valued classifier of Sadinle, Lei and
Wasserman 2019). The score of a (name, label) pair is ``s = -log p(label | name)``. Given the scores s_1..s_n of n
calibration pairs whose labels are known, the threshold at level 1 - α is q = the ⌈(n + 1)(1 - α)⌉-th smallest
score (+inf when that rank exceeds n). If a new pair is exchangeable with the calibration pairs, P(s_new <= q) >=
1 - α: the set of labels whose log-prob is >= -q holds the true label with probability at least the level
(averaged over calibration sets; above it by at most 1/(n + 1) when the scores have no ties). Thresholds are kept as
log-probs ``t = -q``; -inf (``null`` in JSON) means every name's set holds the label.

- ``marginal``: one threshold from every calibration pair. Coverage >= level over names drawn like the calibration
  pairs, whatever their label; a label the model finds hard can be covered far less, carried by the easy ones.
- ``per_label`` (Mondrian, class-conditional: Vovk 2003, Sadinle et al. 2019 §4.3): label y's threshold comes
  from the calibration pairs of label y only, so coverage >= level holds for the names of each label. Fallback for
  labels with few calibration pairs: those with fewer than ``min_label_names`` share one threshold from their pairs
  pooled (a category of its own: coverage >= level holds for their names together, not for each of them); a
  category whose pairs are too few for the level (fewer than ⌈1/α⌉ - 1) gets -inf, which is valid and useless.

Levels are stored on a grid (LEVELS: 0.50 to 0.99 in steps of 0.01), so that every consumer looks a threshold up
instead of computing it: one home for the quantile rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ArtifactError, OptionError

LEVELS = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))  # 0.50, 0.51, ..., 0.99
METHODS = ("per_label", "marginal")
DEFAULT_METHOD = "per_label"  # see docs/model.md, 'Prediction sets': marginal coverage hid labels at 0.6
MIN_LABEL_NAMES = 20  # a label with fewer calibration pairs joins the pooled category (per_label)
MANIFEST_KEY = "prediction_sets"
SCORE = "-log p(label | name)"
RULE = ("a label is in a name's set when its log-probability >= the label's threshold (null: always); the name's "
        "top label always is")  # fmt: skip


def level_key(level: float) -> str:
    """``level`` as the table's key ('0.90'); OptionError unless it is one of LEVELS."""
    key = f"{level:.2f}" if isinstance(level, (int, float)) and math.isfinite(level) else None
    if key is None or abs(level - float(key)) > 1e-9 or float(key) not in LEVELS:
        raise OptionError(f"--coverage {level} is not a stored level; use one of 0.50, 0.51, ..., 0.99 (two decimals)")
    return key


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ⌈(n + 1)·level⌉-th smallest of ``scores`` (float [n]); +inf when that rank is past n (n too small)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.ceil((len(scores) + 1) * level - 1e-9)  # 1e-9: (n + 1)·0.9 must not round up past an integer
    return float(scores[rank - 1]) if rank <= len(scores) else math.inf


def true_label_scores(log_probs: np.ndarray, label_ids: np.ndarray) -> np.ndarray:
    """float64 [N]: -log p(true label) of log-probs [N, L] and int label ids [N]."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    return -log_probs[np.arange(len(label_ids)), np.asarray(label_ids, dtype=np.int64)]


def label_categories(counts: np.ndarray, min_label_names: int) -> np.ndarray:
    """int [L]: each label's per_label category: its own index, or -1 (the pooled category of the labels with fewer
    than ``min_label_names`` calibration pairs)."""
    counts = np.asarray(counts)
    return np.where(counts >= min_label_names, np.arange(len(counts)), -1)


def thresholds_at(scores: np.ndarray, label_ids: np.ndarray, n_labels: int, level: float,
                  min_label_names: int = MIN_LABEL_NAMES) -> tuple[float, np.ndarray]:  # fmt: skip
    """(marginal threshold, per_label thresholds float64 [L]) at ``level``, as log-probs (-inf: always in the set)."""
    label_ids = np.asarray(label_ids, dtype=np.int64)
    marginal = -conformal_quantile(scores, level)
    categories = label_categories(np.bincount(label_ids, minlength=n_labels), min_label_names)
    per_label = np.empty(n_labels, dtype=np.float64)
    for category in np.unique(categories):
        members = np.flatnonzero(categories == category)
        per_label[members] = -conformal_quantile(scores[np.isin(label_ids, members)], level)
    return marginal, per_label


@dataclass(frozen=True)
class ConformalTable:
    """Thresholds (log-probs, -inf: always) per level of LEVELS for both methods, and how they were calibrated:
    ``calibration`` holds ``names`` (pairs), ``per_label_names``, ``pooled_labels``, ``min_label_names`` and
    ``scored_by`` (which model scored the pairs: 'sibling' or 'holdback', see docs/model.md)."""

    labels: tuple[str, ...]
    marginal: dict[str, float]  # level key -> threshold
    per_label: dict[str, tuple[float, ...]]  # level key -> [L] thresholds
    calibration: dict = field(default_factory=dict)
    default_method: str = DEFAULT_METHOD

    def thresholds(self, level: float, method: str | None = None) -> np.ndarray:
        """float64 [L] log-prob thresholds at ``level`` by ``method`` (None: the default). OptionError for a level
        off the grid or a method not in METHODS."""
        method = method or self.default_method
        if method not in METHODS:
            raise OptionError(f"set method {method!r} is not one of {', '.join(METHODS)}")
        key = level_key(level)
        if key not in self.marginal:
            raise OptionError(f"this model stores no thresholds at level {key}; use one of {', '.join(self.marginal)}")
        values = self.per_label[key] if method == "per_label" else (self.marginal[key],) * len(self.labels)
        return np.asarray(values, dtype=np.float64)

    def as_dict(self) -> dict:
        """manifest.json's ``prediction_sets`` (-inf written as null)."""
        return {
            "score": SCORE,
            "rule": RULE,
            "methods": list(METHODS),
            "default_method": self.default_method,
            "calibration": dict(self.calibration),
            "levels": {key: {"marginal": _json(self.marginal[key]),
                             "per_label": [_json(value) for value in self.per_label[key]]}
                       for key in self.marginal},
        }  # fmt: skip


def fit_table(log_probs: np.ndarray, label_ids: np.ndarray, labels: list[str], scored_by: str,
              min_label_names: int = MIN_LABEL_NAMES, levels=LEVELS) -> ConformalTable:  # fmt: skip
    """The table of the calibration pairs' log-probs [N, L] (the output model's: τ and T applied) and true label
    ids [N]. ``scored_by`` names the model that scored them (recorded, see ConformalTable)."""
    scores = true_label_scores(log_probs, label_ids)
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=len(labels))
    marginal, per_label = {}, {}
    for level in levels:
        key = level_key(level)
        marginal[key], by_label = thresholds_at(scores, label_ids, len(labels), level, min_label_names)
        per_label[key] = tuple(float(value) for value in by_label)
    pooled = [labels[i] for i in np.flatnonzero(label_categories(counts, min_label_names) < 0)]
    calibration = {"names": len(scores), "per_label_names": counts.tolist(), "pooled_labels": pooled,
                   "min_label_names": min_label_names, "scored_by": scored_by}  # fmt: skip
    return ConformalTable(tuple(labels), marginal, per_label, calibration)


def table_from_manifest(manifest: dict, labels: list[str], source: str) -> ConformalTable | None:
    """The manifest's table (None when it has none: an export without a calibration hold-back, or an older one).
    ArtifactError naming ``source`` when it is malformed or does not fit the ``labels``."""
    stored = manifest.get(MANIFEST_KEY)
    if stored is None:
        return None
    try:
        marginal, per_label = {}, {}
        for key, entry in stored["levels"].items():
            level_key(float(key))
            marginal[key] = _threshold(entry["marginal"])
            per_label[key] = tuple(_threshold(value) for value in entry["per_label"])
            if len(per_label[key]) != len(labels):
                raise ValueError(f"level {key} has {len(per_label[key])} per-label thresholds for {len(labels)} labels")
        default = stored["default_method"]
        if default not in METHODS:
            raise ValueError(f"default_method {default!r}")
        return ConformalTable(tuple(labels), marginal, per_label, dict(stored.get("calibration", {})), default)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ArtifactError(f"{source}: '{MANIFEST_KEY}' is malformed ({error}); re-export the model") from None


def _json(value: float) -> float | None:
    return None if value == -math.inf else float(value)


def _threshold(value) -> float:
    if value is None:
        return -math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value > 0:
        raise ValueError(f"threshold {value!r} is not a log-probability")
    return float(value)
