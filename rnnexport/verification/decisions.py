"""Decisions at a threshold (abstention, set membership: answers/rule.py) held to the parity rule.

A runtime within the rule (``|a - b| <= atol + rtol·|b|`` against the float64 reference b) can land on the other
side of a threshold t than b only when b itself lies within the bound of t. So a candidate's decision may differ
from the decision on the float64 reference only there:

- abstention: the name's top log-prob b satisfies ``|b - log(min_probability)| <= atol + rtol·|b|``;
- set membership of label y: its log-prob b_y satisfies ``|b_y - t_y| <= atol + rtol·|b_y|`` (never when t_y is
  -inf: such a label is in every set).

Any other difference, and any difference of status for a name with no letter, is a failure. The top label is
always in the set; its agreement is the parity rule's own 100% top-1.
"""

from __future__ import annotations

import math

import numpy as np

from ..answers.rule import AnswerRule, decide
from .parity import Tolerance


def decision_report(reference: np.ndarray, status: np.ndarray, sets: np.ndarray | None, rule: AnswerRule,
                    tolerance: Tolerance | None = None) -> dict:  # fmt: skip
    """A candidate's decisions (status codes int [N], sets bool [N, L] or None) against those of the float64
    ``reference`` log-probs [N, L] (NaN rows: no letter) under ``rule``: how many differ, how many of those lie
    within the bound (allowed), and the first beyond it (row, what) or None. ``passed`` when none is beyond."""
    tolerance = tolerance or Tolerance()
    reference = np.asarray(reference, dtype=np.float64)
    expected = decide(reference, rule)
    valid = ~np.isnan(reference[:, 0])
    filled = np.where(valid[:, None], reference, -np.inf)
    top = filled.max(axis=1, initial=-np.inf)
    status = np.asarray(status)
    status_differs = status != expected.status
    near_abstention = np.zeros(len(top), dtype=bool)
    if rule.min_probability is not None:
        near_abstention = valid & (np.abs(top - math.log(rule.min_probability)) <= tolerance.bound(top))
    status_beyond = status_differs & ~(near_abstention & (status != 2))
    report = {"names": len(status), "status_differences": int(status_differs.sum()),
              "status_beyond": int(status_beyond.sum()), "set_differences": 0, "set_beyond": 0,
              "first_beyond": None}  # fmt: skip
    if status_beyond.any():
        row = int(np.flatnonzero(status_beyond)[0])
        report["first_beyond"] = {"row": row, "what": f"status {status[row]}, expected {expected.status[row]}"}
    if rule.coverage is not None:
        thresholds = np.asarray(rule.thresholds, dtype=np.float64)[None, :]
        differs = np.asarray(sets, dtype=bool) != expected.sets
        near = np.isfinite(thresholds) & (np.abs(filled - thresholds) <= tolerance.bound(filled))
        beyond = differs & ~(near & valid[:, None])
        report.update(set_differences=int(differs.sum()), set_beyond=int(beyond.sum()))
        if beyond.any() and report["first_beyond"] is None:
            row, label = (int(i) for i in np.argwhere(beyond)[0])
            report["first_beyond"] = {"row": row, "what": f"label {label} in the set: {bool(sets[row, label])}, "
                                      f"reference log-prob {reference[row, label]:.9g}, threshold "
                                      f"{thresholds[0, label]:.9g}"}  # fmt: skip
    report["passed"] = report["status_beyond"] == 0 and report["set_beyond"] == 0
    return report
