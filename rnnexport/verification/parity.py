"""The parity rule every runtime and consumer is held to, and the comparison report that explains a verdict.

A candidate run (any runtime, any batching, any consumer) passes when, for every name and label,
``|a - b| <= atol + rtol * |b|`` (numpy's ``isclose`` form), ``a`` the candidate's log-prob and ``b`` eager
PyTorch's in float64 on the checkpoint's weights, and every name's top-1 label agrees. The defaults are atol 1e-5
and rtol 1e-6: for a label with p >= 1/e the bound is at most 1.1e-5, and it widens only on improbable labels,
where float32's own rounding grows (docs/model.md, 'Parity'). optimum's ``validate_model_outputs`` and
Polygraphy's comparator use rtol 1e-5; the report follows Polygraphy's (max abs and rel error, the smallest
tolerance that would pass, top-k agreement).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

ATOL = 1e-5
RTOL = 1e-6
# Reference log-prob bands [lower, upper) for the report (the first holds 0 too): the bound widens with |log-prob|,
# and so does float32 rounding.
BANDS = ((0.0, -1.0), (-1.0, -3.0), (-3.0, -6.0), (-6.0, -10.0), (-10.0, -math.inf))
N_WORST = 5
WORST_KEPT = 4 * N_WORST  # the same name recurs once per batching: keep enough to name N_WORST distinct ones


def band_name(upper: float, lower: float) -> str:
    return f"{upper:g} to {lower:g}" if math.isfinite(lower) else f"below {upper:g}"


@dataclass(frozen=True)
class Tolerance:
    """The rule's two numbers; ``bound(b)`` is the largest |a - b| allowed at reference log-prob ``b``."""

    atol: float = ATOL
    rtol: float = RTOL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.atol) and self.atol >= 0 and math.isfinite(self.rtol) and self.rtol >= 0):
            raise ValueError(f"atol and rtol must be finite and >= 0; got atol {self.atol}, rtol {self.rtol}")

    def bound(self, reference: np.ndarray) -> np.ndarray:
        return self.atol + self.rtol * np.abs(reference)

    def worst_ratio(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        """max |a - b| / bound(b) over the rows where the reference is defined (inf where a is not finite)."""
        reference = np.asarray(reference, dtype=np.float64)
        valid = ~np.isnan(reference).any(axis=1)
        difference = np.abs(np.asarray(candidate, dtype=np.float64)[valid] - reference[valid])
        difference = np.nan_to_num(difference, nan=np.inf)
        return float((difference / self.bound(reference[valid])).max(initial=0.0))

    def describe(self) -> str:
        return f"|a - b| <= {self.atol:g} + {self.rtol:g}·|b|"

    def as_dict(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol, "rule": "|a - b| <= atol + rtol * |b|, b: float64 reference"}


@dataclass
class _Band:
    values: int = 0
    beyond: int = 0
    max_abs_diff: float = 0.0
    worst_ratio: float = 0.0


@dataclass
class ParityCheck:
    """Accumulates comparisons of candidate log-probs with the reference, chunk by chunk or batching by batching,
    and reports them (:meth:`report`). Rows whose reference is NaN (names with no prediction) are skipped; a
    candidate value that is not finite fails the check."""

    tolerance: Tolerance = field(default_factory=Tolerance)
    labels: Sequence[str] | None = None
    values: int = 0
    rows: int = 0
    top1_disagreements: int = 0
    top3_disagreements: int = 0
    not_finite: int = 0
    sum_abs_diff: float = 0.0
    max_abs_diff: float = 0.0
    max_rel_diff: float = 0.0
    worst_ratio: float = 0.0
    min_atol_to_pass: float = 0.0
    worst: dict | None = None
    bands: list[_Band] = field(default_factory=lambda: [_Band() for _ in BANDS])
    _worst_names: list[tuple[float, str, float]] = field(default_factory=list)  # min-heap of (ratio, name, abs)

    def add(self, reference: np.ndarray, candidate: np.ndarray, name_of: Callable[[int], str] | Sequence[str]
            ) -> None:  # fmt: skip
        """Compare ``candidate`` [N, L] (any float dtype) with ``reference`` [N, L] (float64); ``name_of(i)`` (or
        ``name_of[i]``) names row i, and is asked only for the worst rows."""
        reference = np.asarray(reference, dtype=np.float64)
        candidate = np.asarray(candidate, dtype=np.float64)
        if reference.shape != candidate.shape:
            raise ValueError(f"candidate log_probs of shape {candidate.shape}, reference {reference.shape}")
        valid = ~np.isnan(reference).any(axis=1)
        if not valid.all():
            reference, candidate, rows = reference[valid], candidate[valid], np.flatnonzero(valid)
        else:
            rows = None
        if not len(reference):
            return
        lookup = name_of.__getitem__ if not callable(name_of) else name_of
        self._add_rows(reference, candidate, lambda i: lookup(int(i if rows is None else rows[i])))

    def _add_rows(self, reference: np.ndarray, candidate: np.ndarray, name_of: Callable[[int], str]) -> None:
        finite = np.isfinite(candidate)
        self.not_finite += int((~finite).sum())
        difference = np.where(finite, np.abs(candidate - reference), np.inf)
        ratio = difference / self.tolerance.bound(reference)
        self.rows += len(reference)
        self.values += difference.size
        self.sum_abs_diff += float(np.where(finite, difference, 0.0).sum())
        self.max_abs_diff = max(self.max_abs_diff, float(difference.max()))
        self.max_rel_diff = max(self.max_rel_diff, float((difference / np.maximum(np.abs(reference), 1e-300)).max()))
        self.min_atol_to_pass = max(self.min_atol_to_pass,
                                    float((difference - self.tolerance.rtol * np.abs(reference)).max()))  # fmt: skip
        self._count_agreement(reference, candidate)
        self._add_bands(reference, difference, ratio)
        per_row = ratio.max(axis=1)
        worst_row = int(per_row.argmax())
        if self.worst is None or per_row[worst_row] > self.worst["ratio"]:
            label = int(ratio[worst_row].argmax())
            self.worst = {
                "name": name_of(worst_row),
                "label": self.labels[label] if self.labels is not None else label,
                "reference_log_prob": float(reference[worst_row, label]),
                "log_prob": float(candidate[worst_row, label]),
                "abs_diff": float(difference[worst_row, label]),
                "ratio": float(per_row[worst_row]),
            }
        for row in np.argsort(-per_row, kind="stable")[:N_WORST]:
            entry = (float(per_row[row]), name_of(int(row)), float(difference[row].max()))
            if len(self._worst_names) < WORST_KEPT:
                heapq.heappush(self._worst_names, entry)
            else:
                heapq.heappushpop(self._worst_names, entry)
        self.worst_ratio = max(self.worst_ratio, float(per_row[worst_row]))

    def _count_agreement(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        self.top1_disagreements += int((reference.argmax(1) != candidate.argmax(1)).sum())
        k = min(3, reference.shape[1])
        top_reference = np.argsort(-reference, axis=1, kind="stable")[:, :k]
        top_candidate = np.argsort(-candidate, axis=1, kind="stable")[:, :k]
        self.top3_disagreements += int((top_reference != top_candidate).any(axis=1).sum())

    def _add_bands(self, reference: np.ndarray, difference: np.ndarray, ratio: np.ndarray) -> None:
        for band, (upper, lower) in zip(self.bands, BANDS, strict=True):
            inside = (reference >= lower) & ((reference < upper) | (upper == BANDS[0][0]))
            if inside.any():
                band.values += int(inside.sum())
                band.beyond += int((ratio[inside] > 1).sum())
                band.max_abs_diff = max(band.max_abs_diff, float(difference[inside].max()))
                band.worst_ratio = max(band.worst_ratio, float(ratio[inside].max()))

    @property
    def passed(self) -> bool:
        return self.worst_ratio <= 1.0 and self.top1_disagreements == 0 and self.not_finite == 0

    def report(self) -> dict:
        """The comparison as plain values (JSON-ready): see docs/model.md, 'Parity'."""
        worst_names, seen = [], set()
        for ratio, name, abs_diff in sorted(self._worst_names, reverse=True):
            if name not in seen and len(seen) < N_WORST:
                seen.add(name)
                worst_names.append({"name": name, "ratio": ratio, "max_abs_diff": abs_diff})
        bands = {
            band_name(upper, lower): {"values": band.values, "beyond": band.beyond, "max_abs_diff": band.max_abs_diff,
                                      "worst_ratio": band.worst_ratio}
            for band, (upper, lower) in zip(self.bands, BANDS, strict=True)
        }  # fmt: skip
        return {
            **self.tolerance.as_dict(),
            "passed": self.passed,
            "names": self.rows,
            "values": self.values,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.sum_abs_diff / self.values if self.values else 0.0,
            "max_rel_diff": self.max_rel_diff,
            "worst_ratio": self.worst_ratio,
            "min_atol_to_pass": max(0.0, self.min_atol_to_pass),
            "top1_agreement": 1.0 - self.top1_disagreements / self.rows if self.rows else 1.0,
            "top1_disagreements": self.top1_disagreements,
            "top3_agreement": 1.0 - self.top3_disagreements / self.rows if self.rows else 1.0,
            "not_finite": self.not_finite,
            "worst": self.worst,
            "worst_names": worst_names,
            "by_band": bands,
        }


def compare(reference: np.ndarray, candidate: np.ndarray, names: Sequence[str] | Callable[[int], str],
            tolerance: Tolerance | None = None, labels: Sequence[str] | None = None) -> dict:  # fmt: skip
    """One comparison's report (:meth:`ParityCheck.report`)."""
    check = ParityCheck(tolerance or Tolerance(), labels)
    check.add(reference, candidate, names)
    return check.report()


def failure_line(what: str, report: dict) -> str:
    """One line saying why ``report`` did not pass (or that it did)."""
    worst = report.get("worst") or {}
    where = (
        f"; worst {worst['name']!r}, {worst['label']} (reference {worst['reference_log_prob']:.4g}, "
        f"|a - b| {worst['abs_diff']:.3g})"
        if worst
        else ""
    )
    return (
        f"{what}: worst ratio {report['worst_ratio']:.3g} of the bound {report['atol']:g} + {report['rtol']:g}·|b| "
        f"(max abs diff {report['max_abs_diff']:.3g}, smallest passing atol {report['min_atol_to_pass']:.3g}), "
        f"{report['top1_disagreements']} top-1 disagreements{where}"
    )
