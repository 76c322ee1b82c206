"""What classify and predict add to each name's top-k: abstention (``--min-probability``), the prediction set
(``--coverage``, from the model's ConformalTable) and a status saying why a name got no label.

Decisions are made on float64 log-probs (a runtime's float32 values widened), in log space: a name is answered
when its top log-prob is >= log(min_probability); label y is in its set when its log-prob is >= the level's
threshold t_y, and the top label always is. Every consumer (C++, Node.js, the browser page) decides the same way;
near a threshold, float32 rounding may tip a decision either way only within the parity rule
(verification/decisions.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import OptionError
from .conformal import METHODS, ConformalTable, level_key

OK = "ok"
BELOW_MIN_PROBABILITY = "below_min_probability"
NO_LETTER = "no_letter"
STATUSES = (OK, BELOW_MIN_PROBABILITY, NO_LETTER)  # status codes 0, 1, 2
SET_SEPARATOR = "|"  # between a set's labels, in the model's label order
SET_COLUMNS = ("prediction_set", "set_size")
STATUS_COLUMN = "status"
# What classify's and predict's options say in --help (cli/options.py), by parameter name.
OPTION_HELP = {
    "min_probability": "Answer only when the top probability is at least P: otherwise leave the language empty, "
    "with status below_min_probability (a status column says why for every row).",
    "coverage": "Add prediction_set and set_size: the smallest set of labels holding the true one with probability "
    ">= this level (split conformal, calibrated on the training hold-back; 0.50 to 0.99 by 0.01).",
    "set_method": "With --coverage: per-label, the level holds for each label's names; marginal, over all names "
    "together (smaller sets) [default: the model's, per-label].",
}


@dataclass(frozen=True)
class AnswerRule:
    """``min_probability``: answer only when the top probability is at least this (None: always); ``coverage``: add
    the prediction set at this level (None: no set) by ``set_method`` (None: the model's default);
    ``thresholds``: the level's log-prob thresholds [L], filled in from the model by :func:`with_table`."""

    min_probability: float | None = None
    coverage: float | None = None
    set_method: str | None = None
    thresholds: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_answer_options(self.min_probability, self.coverage, self.set_method)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the rule adds after the top-k: prediction_set and set_size with a coverage, then status."""
        return (*(SET_COLUMNS if self.coverage is not None else ()), STATUS_COLUMN)


def answer_rule(min_probability: float | None, coverage: float | None, set_method: str | None) -> AnswerRule | None:
    """The rule of the options as given (None when neither --min-probability nor --coverage is; ``set_method`` as
    METHODS or as the CLI spells them, 'per-label'); OptionError for a bad value or --set-method without --coverage."""
    set_method = set_method.replace("-", "_") if set_method else None
    if min_probability is None and coverage is None:
        check_answer_options(None, None, set_method)
        return None
    return AnswerRule(min_probability, coverage, set_method)


def check_answer_options(min_probability: float | None, coverage: float | None, set_method: str | None) -> None:
    """OptionError unless 0 < min_probability <= 1, coverage is a stored level and set_method one of METHODS (with
    a coverage only)."""
    if min_probability is not None and not (math.isfinite(min_probability) and 0 < min_probability <= 1):
        raise OptionError(f"--min-probability must be more than 0 and at most 1; got {min_probability}")
    if coverage is not None:
        level_key(coverage)
    if set_method is not None:
        if coverage is None:
            raise OptionError("--set-method applies to prediction sets: give --coverage too")
        if set_method not in METHODS:
            raise OptionError(f"--set-method must be one of {', '.join(m.replace('_', '-') for m in METHODS)}")


def with_table(rule: AnswerRule | None, table: ConformalTable | None, source: str) -> AnswerRule | None:
    """``rule`` with the thresholds of its coverage level from ``table`` (the model's). OptionError when a coverage
    is asked of a model without a table (``source`` names where it was looked for)."""
    if rule is None or rule.coverage is None:
        return rule
    if table is None:
        raise OptionError(f"--coverage needs the model's prediction-set thresholds, and {source} has none (a model "
                          "trained without a calibration hold-back, or exported before them): re-export it with "
                          "rnnexport export, or retrain it with --calibration-holdback 0.1")  # fmt: skip
    thresholds = table.thresholds(rule.coverage, rule.set_method)
    return replace(rule, set_method=rule.set_method or table.default_method, thresholds=tuple(thresholds.tolist()))


@dataclass(frozen=True)
class Answers:
    """Per name: ``status`` (int8 [N], an index into STATUSES), ``sets`` (bool [N, L], None without a coverage)."""

    status: np.ndarray
    sets: np.ndarray | None

    @property
    def answered(self) -> np.ndarray:
        return self.status == 0

    def set_labels(self, row: int, labels: list[str]) -> list[str]:
        """The labels of row ``row``'s set, in the model's label order."""
        return [labels[i] for i in np.flatnonzero(self.sets[row])]


def decide(log_probs: np.ndarray, rule: AnswerRule) -> Answers:
    """The rule applied to log-probs [N, L] (any float dtype; NaN rows: a name with no letter, status no_letter and
    an empty set)."""
    values = np.asarray(log_probs, dtype=np.float64)
    valid = ~np.isnan(values[:, 0]) if values.size else np.zeros(len(values), dtype=bool)
    filled = np.where(valid[:, None], values, -np.inf)
    top = filled.max(axis=1, initial=-np.inf)
    answered = valid if rule.min_probability is None else valid & (top >= math.log(rule.min_probability))
    status = np.where(valid, np.where(answered, 0, 1), 2).astype(np.int8)
    sets = None
    if rule.coverage is not None:
        sets = filled >= np.asarray(rule.thresholds, dtype=np.float64)[None, :]
        if len(values):
            sets[np.arange(len(values)), filled.argmax(axis=1)] = True  # the top label is always in the set
        sets &= valid[:, None]
    return Answers(status, sets)
