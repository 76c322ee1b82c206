"""Cross-validation over the crc32 rule's folds: train a recipe on nine folds, evaluate on the tenth, at each τ.

Fold k holds the pairs whose ``crc32(label<TAB>name) % n_folds == k`` (data.split.fold_of); fold 0 of 10 is the fixed
held-out split. Each fold trains exactly as ``rnnexport train`` does (calibration hold-back, τ, T), then the
unshifted model is re-read at every τ of a grid with T re-fitted, as ``rnnexport export --prior-shift`` would.
Folds run in worker processes, one thread each.
"""

from __future__ import annotations

import copy
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np

from ..data.labelled import Pair
from ..data.split import Split, fold_of, label_ids
from ..errors import DataError, OptionError
from .crossval_answers import fold_answers, format_answers_cv, summarize_answers
from .evaluation import CASE_VARIANTS, case_log_probs, evaluate_log_probs
from .metrics import balanced_accuracy, format_per_label, per_label
from .operating_point import adjusted_log_probs, apply_operating_point, with_prior_shift

PRIOR_SHIFT_GRID = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
HEADLINE = ("accuracy", "balanced_accuracy", "ece")


def fold_split(pairs: list[Pair], fold: int, n_folds: int) -> Split:
    """Fold ``fold`` held out, the other folds for training (order kept)."""
    return Split(
        train=[p for p in pairs if fold_of(p, n_folds) != fold],
        held_out=[p for p in pairs if fold_of(p, n_folds) == fold],
    )


def run_fold(pairs: list[Pair], labels: list[str], config, fold: int, n_folds: int, prior_shifts) -> dict:
    """Train on every fold but ``fold``; its held-out metrics (evaluation.evaluate_log_probs) at each τ."""
    from .loop import train

    split = fold_split(pairs, fold, n_folds)
    try:
        result = train(split, labels, config)
    except DataError as error:  # too few pairs, or a label without a training pair, in this fold
        raise DataError(f"fold {fold} of {n_folds}: {error}") from None
    point = result.operating_point
    unshifted = copy.deepcopy(result.model)
    apply_operating_point(unshifted, replace(point, prior_shift=0.0, temperature=1.0))
    raw = case_log_probs(unshifted, [p.name for p in split.held_out], config.alphabet)
    true = np.asarray(label_ids(split.held_out, labels), dtype=np.int64)
    by_shift = {}
    for prior_shift in prior_shifts:
        shifted = with_prior_shift(point, prior_shift)
        log_probs = {
            variant: adjusted_log_probs(values, point.label_frequencies, prior_shift, shifted.temperature)
            for variant, values in raw.items()
        }
        by_shift[prior_shift] = {**evaluate_log_probs(log_probs, true, labels), "temperature": shifted.temperature}
    answers = fold_answers(result, [p.name for p in split.held_out], true, raw, labels, config)
    return {"fold": fold, "train_seconds": result.wall_seconds, "train_cpu_seconds": result.cpu_seconds,
            "by_prior_shift": by_shift, "answers": answers}  # fmt: skip


def cross_validate(
    pairs: list[Pair],
    labels: list[str],
    config,
    n_folds: int = 10,
    folds: list[int] | None = None,
    jobs: int = 2,
    prior_shifts=PRIOR_SHIFT_GRID,
    on_fold=None,
) -> dict:
    """Train ``config`` (recipes.TrainConfig) on each fold's complement in ``jobs`` processes; the summary of
    :func:`summarize_folds`, plus ``wall_seconds``. ``on_fold(fold_result)`` is called as each fold finishes.

    Raises OptionError (a ValueError) for n_folds < 2, a fold outside [0, n_folds) or jobs < 1.
    """
    folds = list(range(n_folds)) if folds is None else list(folds)
    if n_folds < 2 or not folds or any(not 0 <= k < n_folds for k in folds) or jobs < 1:
        raise OptionError(f"need n_folds >= 2, folds in [0, {n_folds}) and jobs >= 1")
    from .recipes import config_dict

    shifts = sorted({*prior_shifts, config.prior_shift})
    started = time.perf_counter()
    results = _map_folds(pairs, labels, config, folds, n_folds, shifts, jobs, on_fold)
    summary = summarize_folds(sorted(results, key=lambda r: r["fold"]), config.prior_shift, labels)
    return {**summary, "config": config_dict(config), "labels": list(labels), "n_folds": n_folds, "jobs": jobs,
            "wall_seconds": time.perf_counter() - started}  # fmt: skip


def _map_folds(pairs, labels, config, folds, n_folds, shifts, jobs, on_fold) -> list[dict]:
    """run_fold for each fold: in this process when jobs == 1, else in ``jobs`` fresh (spawned) processes."""
    results = []
    if jobs == 1:
        for fold in folds:
            results.append(run_fold(pairs, labels, config, fold, n_folds, shifts))
            if on_fold:
                on_fold(results[-1])
        return results
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(max_workers=min(jobs, len(folds)), mp_context=context) as pool:
        futures = [pool.submit(run_fold, pairs, labels, config, fold, n_folds, shifts) for fold in folds]
        for future in futures:
            results.append(future.result())
            if on_fold:
                on_fold(results[-1])
    return results


def _mean_std(values) -> dict:
    """Mean and (population) standard deviation over folds."""
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std())}


def summarize_folds(fold_results: list[dict], prior_shift: float, labels: list[str]) -> dict:
    """Mean ± std over folds of accuracy, balanced accuracy and ECE per case variant, at every τ (the
    ``frontier``); at the default τ also the per-label precision/recall/F1/support of the pooled confusion matrix."""
    shifts = list(fold_results[0]["by_prior_shift"])
    frontier = {shift: _headline_over_folds([r["by_prior_shift"][shift] for r in fold_results]) for shift in shifts}
    pooled = np.sum([np.asarray(r["by_prior_shift"][prior_shift]["confusion_matrix"]) for r in fold_results], axis=0)
    return {
        "folds": [r["fold"] for r in fold_results],
        "prior_shift": prior_shift,
        "train_seconds": _mean_std([r["train_seconds"] for r in fold_results]),
        "train_cpu_seconds": _mean_std([r["train_cpu_seconds"] for r in fold_results]),
        "frontier": frontier,
        "pooled": {
            "balanced_accuracy": balanced_accuracy(pooled),
            "per_label": per_label(pooled, labels),
            "confusion_matrix": pooled.tolist(),
        },
        "per_fold": [
            {
                "fold": r["fold"],
                "train_seconds": r["train_seconds"],
                **{key: r["by_prior_shift"][prior_shift][key] for key in HEADLINE},
            }
            for r in fold_results
        ],
        "answers": summarize_answers([r["answers"] for r in fold_results], labels),
    }


def _headline_over_folds(fold_metrics: list[dict]) -> dict:
    """{variant: {metric: {mean, std}}} plus the mean fitted temperature."""
    headline = {
        variant: {key: _mean_std([m["case"][variant][key] for m in fold_metrics]) for key in HEADLINE}
        for variant in CASE_VARIANTS
    }
    return {**headline, "temperature": _mean_std([m["temperature"] for m in fold_metrics])}


def format_cross_validation(summary: dict) -> str:
    """The tables `rnnexport evaluate --cv` prints: the default τ by case, the τ frontier, the pooled per-label."""
    default = summary["frontier"][summary["prior_shift"]]
    lines = [
        f"{len(summary['folds'])} folds of {summary['n_folds']}, default prior shift τ = {summary['prior_shift']}",
        f"{'names':<10} {'accuracy':>15} {'balanced':>15} {'ECE':>15}",
    ]
    for variant in CASE_VARIANTS:
        cells = " ".join(f"{_pm(default[variant][key]):>15}" for key in HEADLINE)
        lines.append(f"{variant:<10} {cells}")
    lines += [
        "",
        f"{'τ':>5} {'T':>6} {'accuracy':>15} {'balanced':>15} {'ECE':>15} {'lower acc':>10} {'UPPER acc':>10}",
    ]
    for shift, row in summary["frontier"].items():
        cells = " ".join(f"{_pm(row['original'][key]):>15}" for key in HEADLINE)
        lines.append(
            f"{shift:>5.2f} {row['temperature']['mean']:>6.3f} {cells} "
            f"{row['lower']['accuracy']['mean']:>10.4f} {row['upper']['accuracy']['mean']:>10.4f}"
        )
    lines += ["", f"per label, all folds pooled (τ = {summary['prior_shift']}):"]
    lines += format_per_label(summary["pooled"]["per_label"])
    lines += format_answers_cv(summary["answers"], summary["labels"]) if "answers" in summary else []
    seconds, cpu = summary["train_seconds"], summary["train_cpu_seconds"]
    lines.append(
        f"\ntraining {_pm(seconds, 1)} s per fold ({_pm(cpu, 1)} s CPU); {summary['wall_seconds']:.0f} s wall, "
        f"{summary['jobs']} {'job' if summary['jobs'] == 1 else 'jobs'}"
    )
    return "\n".join(lines)


def _pm(value: dict, digits: int = 4) -> str:
    return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"
