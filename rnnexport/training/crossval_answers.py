"""Answers under cross-validation: per fold, abstention and prediction sets on the held-out fold at the recipe's τ,
for the model that ships and for the model that scored the calibration hold-back; pooled over folds.

With the default recipe (calibration_model "sibling") the thresholds come from the sibling's scores on the
hold-back, while the shipped model trained on those pairs too: the conformal guarantee holds exactly for the
sibling (``scorer``), and for the shipped model (``shipped``) under the assumption that its held-out scores are no
worse than the sibling's. Both are measured here, so the report shows whether the assumption held.
"""

from __future__ import annotations

import numpy as np

from ..answers.measure import add_counts, coverage_summary, curve_summary, sets_report
from .answer_reports import answers_report, conformal_table
from .evaluation import log_probs_of
from .operating_point import adjusted_log_probs, with_prior_shift

MODELS = ("shipped", "scorer")


def fold_answers(result, held_out_names: list[str], true: np.ndarray, raw_log_probs: dict[str, np.ndarray],
                 labels: list[str], config) -> dict:  # fmt: skip
    """{model: answers_report} for one fold at the recipe's τ: ``shipped`` from the final model's unshifted
    held-out log-probs ``raw_log_probs`` ({case variant: [N, L]}; the lower- and UPPER-cased names' set counts
    go into its ``case_sets``), ``scorer`` from the model that scored the hold-back (the same model when
    calibration_model is 'holdback': then ``shipped`` only)."""
    point = with_prior_shift(result.operating_point, config.prior_shift)
    at_point = lambda raw: adjusted_log_probs(raw, point.label_frequencies, point.prior_shift, point.temperature)  # noqa: E731
    shipped = answers_report(at_point(raw_log_probs["original"]), true, point, labels, config.calibration_model)
    table = conformal_table(point, labels, config.calibration_model)
    if table is not None:
        shipped["case_sets"] = {variant: sets_report(at_point(raw_log_probs[variant]), true, table)
                                for variant in ("lower", "upper")}  # fmt: skip
    reports = {"shipped": shipped}
    if config.calibration_model == "sibling" and result.calibration_model is not None:
        scorer = log_probs_of(result.calibration_model, held_out_names, config.alphabet)
        reports["scorer"] = answers_report(at_point(scorer), true, point, labels, config.calibration_model)
    return reports


def summarize_answers(fold_answers_list: list[dict], labels: list[str]) -> dict:
    """Per model: the folds' counts added up (``pooled``), their rates (``selective`` curve, ``sets`` coverage and
    mean size per level and method, overall and per label), and the spread over folds of each level's coverage."""
    summary = {}
    for model in MODELS:
        reports = [fold[model] for fold in fold_answers_list if model in fold]
        if not reports:
            continue
        pooled = add_counts(reports)
        entry = {"pooled": pooled, "selective": curve_summary(pooled["selective"]["curve"])}
        if "sets" in pooled:
            entry["sets"] = {key: {method: {**coverage_summary(counts, labels),
                                            "coverage_over_folds": _over_folds(reports, key, method)}
                                   for method, counts in by_method.items()}
                             for key, by_method in pooled["sets"].items()}  # fmt: skip
        if "case_sets" in pooled:
            entry["case_sets"] = {variant: {key: {method: coverage_summary(counts, labels)
                                                  for method, counts in by_method.items()}
                                            for key, by_method in by_level.items()}
                                  for variant, by_level in pooled["case_sets"].items()}  # fmt: skip
        summary[model] = entry
    return summary


def _over_folds(reports: list[dict], key: str, method: str) -> dict:
    rates = [sum(r["sets"][key][method]["covered"]) / max(sum(r["sets"][key][method]["names"]), 1) for r in reports]
    return {"mean": float(np.mean(rates)), "std": float(np.std(rates)), "min": float(np.min(rates))}


def format_answers_cv(summary: dict, labels: list[str]) -> list[str]:
    """The lines ``evaluate --cv`` prints: accuracy when answering 80%, and the coverage table of both models."""
    lines = []
    for model, entry in summary.items():
        selective = entry["pooled"]["selective"]
        who = "shipped model" if model == "shipped" else "sibling (scored the hold-back)"
        lines += ["", f"answers of the {who}, all folds pooled:"]
        for key, counts in selective["at_share"].items():
            lines.append(f"  answering {float(key):.0%} of each fold's names (threshold {counts['threshold']:.3f} "
                         f"on average): accuracy {_rate(counts['correct'], counts['answered'])}")  # fmt: skip
        for key, counts in selective["calibrated"].items():
            lines.append(f"  threshold chosen on the hold-back to answer {float(key):.0%}: answered "
                         f"{_rate(counts['answered'], counts['names'])}, accuracy "
                         f"{_rate(counts['correct'], counts['answered'])}")  # fmt: skip
        if "sets" not in entry:
            continue
        lines.append(
            f"  {'level':<6} {'method':<10} {'coverage':>9} {'folds mean ± std':>17} {'mean size':>9}  "
            "least covered labels"
        )
        for key, by_method in entry["sets"].items():
            for method, row in by_method.items():
                spread = row["coverage_over_folds"]
                rates = sorted((v["coverage"], label) for label, v in row["per_label"].items() if v["names"])
                worst = ", ".join(f"{label} {rate:.2f}" for rate, label in rates[:3])
                lines.append(
                    f"  {key:<6} {method:<10} {row['coverage']:>9.3f} "
                    f"{spread['mean']:>9.3f} ± {spread['std']:.3f} {row['mean_size']:>9.2f}  {worst}"
                )
    return lines


def _rate(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "-"
