"""`rnnexport bench-train`: the seed recipe and the default recipe trained back to back on one machine."""

from __future__ import annotations

TIME_RATIO_TARGET = 0.2  # the default recipe must train in at most this fraction of the seed's wall time


def run_train_bench(split, labels, report) -> dict:
    """The seed recipe and the default recipe on the same machine, one after the other."""
    from ..train import recipe_config, train

    results = {}
    for recipe in ("default", "seed"):
        report(f"training the {recipe} recipe ...")
        outcome = train(split, labels, recipe_config(recipe))
        results[recipe] = {
            "accuracy": outcome.metrics["accuracy"],
            "balanced_accuracy": outcome.metrics["balanced_accuracy"],
            "wall_seconds": outcome.wall_seconds,
        }
        report(f"  {recipe}: {results[recipe]}")
    results["time_ratio_default_over_seed"] = results["default"]["wall_seconds"] / results["seed"]["wall_seconds"]
    return results


def meets_target(results: dict) -> bool:
    """The default recipe beats the seed on accuracy and balanced accuracy within TIME_RATIO_TARGET of its time."""
    beats = all(results["default"][key] > results["seed"][key] for key in ("accuracy", "balanced_accuracy"))
    return beats and results["time_ratio_default_over_seed"] <= TIME_RATIO_TARGET
