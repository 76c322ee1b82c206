"""`rnnexport bench-train`: the default and sgd recipes under 10-fold cross-validation beside the seed on fold 0.

The seed (one process) and the recipes' folds (another process, one fold after the other) run at the same time,
one thread each, so the whole bench takes about as long as the 20 folds.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

N_FOLDS = 10
CV_RECIPES = ("default", "sgd")  # cross-validated; the targets are judged on TARGET_RECIPE
TARGET_RECIPE = "default"
# Issue 24's targets: 10-fold means of TARGET_RECIPE (its training time is reported beside them).
TARGETS = {
    "accuracy at τ = 0": (">=", 0.80),
    "accuracy at the default τ": (">=", 0.78),
    "balanced accuracy at the default τ": (">=", 0.52),
    "ECE at the default τ": ("<=", 0.03),
    "largest |lower/UPPER - original| accuracy": ("<=", 0.01),
}


def run_train_bench(pairs, labels, report) -> dict:
    """Each of CV_RECIPES' 10-fold summary (crossval.cross_validate) and the seed recipe's fold-0 result."""
    from ..training.crossval import cross_validate, run_fold
    from ..training.recipes import recipe_config

    seed_config = recipe_config("seed")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        report("training the seed recipe on fold 0 (in the background) ...")
        started = time.perf_counter()
        seed_future = pool.submit(run_fold, pairs, labels, seed_config, 0, N_FOLDS, (seed_config.prior_shift,))
        on_fold = lambda r: report(f"  fold {r['fold']}: {r['train_seconds']:.1f} s")  # noqa: E731
        summaries = {}
        for recipe in CV_RECIPES:
            report(f"training the {recipe} recipe on {N_FOLDS} folds ...")
            summaries[recipe] = cross_validate(pairs, labels, recipe_config(recipe), N_FOLDS, jobs=1, on_fold=on_fold)
        seed = seed_future.result()
    seed_metrics = seed["by_prior_shift"][seed_config.prior_shift]
    return {
        **summaries,
        "seed": {
            "fold": 0,
            "train_seconds": seed["train_seconds"],
            "train_cpu_seconds": seed["train_cpu_seconds"],
            **{key: seed_metrics["case"]["original"][key] for key in ("accuracy", "balanced_accuracy", "ece")},
            "case": seed_metrics["case"],
        },
        "wall_seconds": time.perf_counter() - started,
    }


def measured_targets(results: dict) -> dict[str, float]:
    """The figure each of TARGETS is judged on (TARGET_RECIPE's cross-validation)."""
    default = results[TARGET_RECIPE]
    at_default = default["frontier"][default["prior_shift"]]
    original = at_default["original"]["accuracy"]["mean"]
    return {
        "accuracy at τ = 0": default["frontier"][0.0]["original"]["accuracy"]["mean"],
        "accuracy at the default τ": original,
        "balanced accuracy at the default τ": at_default["original"]["balanced_accuracy"]["mean"],
        "ECE at the default τ": at_default["original"]["ece"]["mean"],
        "largest |lower/UPPER - original| accuracy": max(
            abs(at_default[variant]["accuracy"]["mean"] - original) for variant in ("lower", "upper")
        ),
    }


def target_rows(results: dict) -> list[tuple[str, str, float, float, bool]]:
    """(target, comparison, bound, measured, met) for each of TARGETS."""
    measured = measured_targets(results)
    rows = []
    for name, (comparison, bound) in TARGETS.items():
        value = measured[name]
        rows.append((name, comparison, bound, value, value >= bound if comparison == ">=" else value <= bound))
    return rows


def bench_training(names_dir: Path | None, workdir: Path, report: Callable[[str], None]) -> dict:
    """`rnnexport bench-train`: :func:`run_train_bench` on the labelled data at ``names_dir`` (default: the data
    set), its tables and issue 24's targets ``report``-ed line by line, then WORKDIR/train.json written."""
    from ..data.fetch import find_names_dir
    from ..data.labelled import read_labelled

    labelled = read_labelled(find_names_dir(names_dir))
    results = run_train_bench(labelled.pairs, labelled.labels, report)
    for line in summary_lines(results):
        report(line)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "train.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def summary_lines(results: dict) -> list[str]:
    """The cross-validation tables, the recipes side by side and issue 24's targets, as printed."""
    from ..training.crossval import format_cross_validation

    lines = []
    for recipe in CV_RECIPES:
        lines += [f"\n{recipe} recipe, 10-fold cross-validation:", format_cross_validation(results[recipe])]
    seed = results["seed"]
    lines.append(f"\n{'recipe':<28} {'accuracy':>9} {'balanced':>9} {'ECE':>7} {'train s':>8}")
    lines.append(f"{'seed, fold 0':<28} {seed['accuracy']:>9.3f} {seed['balanced_accuracy']:>9.3f} "
                 f"{seed['ece']:>7.3f} {seed['train_seconds']:>8.1f}")  # fmt: skip
    for recipe in CV_RECIPES:
        summary = results[recipe]
        at_tau = summary["frontier"][summary["prior_shift"]]["original"]
        lines.append(f"{recipe + ', 10-fold mean, τ ' + str(summary['prior_shift']):<28} "
                     f"{at_tau['accuracy']['mean']:>9.3f} {at_tau['balanced_accuracy']['mean']:>9.3f} "
                     f"{at_tau['ece']['mean']:>7.3f} {summary['train_seconds']['mean']:>8.1f}")  # fmt: skip
    default = results[TARGET_RECIPE]
    lines.append(f"bench wall time {results['wall_seconds']:.0f} s; {TARGET_RECIPE} recipe: "
                 f"{default['train_cpu_seconds']['mean']:.1f} CPU s per fold (calibration sibling and final model), "
                 f"10 folds in {default['wall_seconds']:.0f} s")  # fmt: skip
    lines.append(f"\nissue 24's targets, {TARGET_RECIPE} recipe:")
    for name, comparison, bound, value, met in target_rows(results):
        lines.append(f"{name:<44} {value:>8.4f} {comparison} {bound:<6} {'met' if met else 'MISSED'}")
    return lines
