"""answers/: the conformal quantile and its thresholds (marginal, per label with the pooled fallback), the table as
manifest.json holds it, the rule's decisions, how they are measured, and verification/decisions.py's rule for
decisions near a threshold."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.answers.conformal import (
    LEVELS,
    MANIFEST_KEY,
    conformal_quantile,
    fit_table,
    level_key,
    table_from_manifest,
    thresholds_at,
    true_label_scores,
)
from rnnexport.answers.measure import (
    add_counts,
    coverage_summary,
    selective_counts,
    selective_report,
    set_counts,
    threshold_for_share,
)
from rnnexport.answers.rule import AnswerRule, answer_rule, decide, with_table
from rnnexport.errors import ArtifactError, OptionError
from rnnexport.verification.decisions import decision_report

LABELS = ["a", "b", "c", "d"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def sample(n: int, seed: int = 0, labels: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """log-probs [n, labels] of a noisy model and true labels drawn from its own probabilities (calibrated)."""
    rng = np.random.default_rng(seed)
    log_probs = log_softmax(rng.normal(size=(n, labels)) * 2.0)
    true = np.array([rng.choice(labels, p=np.exp(row)) for row in log_probs])
    return log_probs, true


def test_quantile_is_the_ceil_rank_and_infinite_when_too_few():
    scores = np.arange(1.0, 10.0)  # 9 scores: at 0.9, rank ceil(10 * 0.9) = 9: the largest
    assert conformal_quantile(scores, 0.9) == 9.0
    assert conformal_quantile(scores[:8], 0.9) == math.inf  # rank 9 of 8
    assert conformal_quantile(np.arange(1.0, 20.0), 0.5) == 10.0  # ceil(20 * 0.5) = 10
    assert conformal_quantile(np.array([]), 0.5) == math.inf


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=60), st.sampled_from(LEVELS))
def test_quantile_covers_the_level_of_any_scores(scores, level):
    """Among n scores and a new one exchangeable with them, the new one is <= q with probability
    ceil((n + 1) level) / (n + 1) >= level: so at least that many of the n + 1 are <= q (the finite-sample
    guarantee, on any scores, ties included)."""
    q = conformal_quantile(np.array(scores), level)
    at_most = sum(score <= q for score in scores) + 1  # the new score, when it is the smallest
    if math.isfinite(q):
        assert at_most / (len(scores) + 1) >= level - 1e-12
    else:
        assert math.ceil((len(scores) + 1) * level - 1e-9) > len(scores)


def test_marginal_sets_reach_the_level_on_exchangeable_names():
    calibration, calibration_true = sample(2000, seed=1)
    test, test_true = sample(20000, seed=2)
    table = fit_table(calibration, calibration_true, LABELS, "sibling")
    for level in (0.8, 0.9, 0.95):
        counts = set_counts(test, test_true, table.thresholds(level, "marginal"))
        assert coverage_summary(counts, LABELS)["coverage"] >= level - 0.01, level


def test_per_label_thresholds_use_each_label_or_the_pooled_category():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 5.0, 6.0, 7.0])
    label_ids = np.array([0, 0, 0, 0, 0, 1, 2, 2])  # label 0: 5 pairs, labels 1-2: 3 pooled, label 3: none
    marginal, per_label = thresholds_at(scores, label_ids, 4, 0.5, min_label_names=4)
    assert marginal == -conformal_quantile(scores, 0.5)
    assert per_label[0] == -0.3  # ceil(6 * 0.5) = 3rd of its own 5
    pooled = -conformal_quantile(np.array([5.0, 6.0, 7.0]), 0.5)  # labels 1, 2 and 3 (none of its own)
    assert per_label[1] == per_label[2] == per_label[3] == pooled == -6.0
    _, too_few = thresholds_at(scores, label_ids, 4, 0.9, min_label_names=4)
    assert too_few[1] == -math.inf and too_few[0] == -math.inf  # 3 and 5 pairs cannot certify 0.9: every set


def test_table_travels_through_manifest_json_and_refuses_a_malformed_one():
    log_probs, true = sample(300)
    table = fit_table(log_probs, true, LABELS, "sibling", min_label_names=100)
    manifest = {MANIFEST_KEY: json.loads(json.dumps(table.as_dict()))}
    read = table_from_manifest(manifest, LABELS, "m.json")
    for level in (0.5, 0.9, 0.99):
        for method in ("per_label", "marginal"):
            assert np.array_equal(read.thresholds(level, method), table.thresholds(level, method))
    assert read.calibration["pooled_labels"] == LABELS  # 300 pairs, none of the 4 labels has 100
    assert table_from_manifest({}, LABELS, "m.json") is None
    broken = json.loads(json.dumps(manifest))
    broken[MANIFEST_KEY]["levels"]["0.90"]["per_label"] = [0.5] * 4  # a probability, not a log-probability
    with pytest.raises(ArtifactError, match=r"m\.json: 'prediction_sets' is malformed"):
        table_from_manifest(broken, LABELS, "m.json")
    with pytest.raises(ArtifactError, match="4 per-label thresholds for 5 labels"):
        table_from_manifest(manifest, [*LABELS, "e"], "m.json")


@pytest.mark.parametrize("level", [0.955, 0.4, 1.0, float("nan"), 0.999])
def test_levels_off_the_grid_are_refused(level):
    with pytest.raises(OptionError, match="not a stored level"):
        level_key(level)


def test_levels_on_the_grid():
    assert level_key(0.9) == "0.90" and level_key(0.5) == "0.50" and level_key(0.99) == "0.99"
    assert level_key(0.1 + 0.8) == "0.90"  # 0.9000000000000001


@pytest.mark.parametrize(
    "options, message",
    [
        ((0.0, None, None), "--min-probability must be more than 0"),
        ((1.5, None, None), "--min-probability must be more than 0"),
        ((None, None, "marginal"), "give --coverage too"),
        ((None, 0.9, "mondrian"), "--set-method must be one of"),
        ((None, 0.955, None), "not a stored level"),
    ],
)
def test_bad_answer_options(options, message):
    with pytest.raises(OptionError, match=message):
        answer_rule(*options)


def test_a_coverage_of_a_model_without_thresholds_says_how_to_get_them():
    with pytest.raises(OptionError, match="re-export it"):
        with_table(AnswerRule(coverage=0.9), None, "m/manifest.json")
    assert with_table(AnswerRule(min_probability=0.5), None, "m") == AnswerRule(min_probability=0.5)


def test_decide_statuses_and_sets():
    log_probs = np.log(np.array([[0.6, 0.3, 0.05, 0.05], [0.4, 0.35, 0.2, 0.05], [np.nan] * 4]))
    thresholds = tuple(np.log([0.5, 0.5, 0.1, 0.01]))
    answers = decide(log_probs, AnswerRule(min_probability=0.5, coverage=0.9, thresholds=thresholds))
    assert answers.status.tolist() == [0, 1, 2]
    assert answers.sets.tolist() == [
        [True, False, False, True],  # a >= 0.5, d >= 0.01
        [True, False, True, True],  # a is the top label (always in), c >= 0.1, d >= 0.01
        [False] * 4,  # no letter: an empty set
    ]
    assert answers.set_labels(1, LABELS) == ["a", "c", "d"]
    assert decide(log_probs, AnswerRule(coverage=0.9, thresholds=thresholds)).status.tolist() == [0, 0, 2]


def test_decisions_are_made_in_float64_on_float32_values():
    """log(0.5) rounds in float32; a float32 log-prob just above log(0.5) in float64 is answered, as in C++ and
    JavaScript (which compare doubles)."""
    value = np.nextafter(np.float32(math.log(0.5)), np.float32(0))
    assert np.float64(value) >= math.log(0.5)
    log_probs = np.array([[value, math.log(1 - math.exp(float(value)))]], dtype=np.float32)
    assert decide(log_probs, AnswerRule(min_probability=0.5)).status.tolist() == [0]


def test_decision_report_allows_flips_only_within_the_parity_bound():
    reference = np.log(np.array([[0.5 * math.exp(4e-6), 0.5 - 1e-6], [0.7, 0.3]]))
    rule = AnswerRule(min_probability=0.5, coverage=0.9, thresholds=(math.log(0.5), math.log(0.29)))
    expected = decide(reference, rule)
    assert decision_report(reference, expected.status, expected.sets, rule)["passed"]
    near = expected.status.copy()
    near[0] = 1  # the top log-prob is 4e-6 above log(0.5): within 1e-5 + 1e-6·|b|
    report = decision_report(reference, near, expected.sets, rule)
    assert report["passed"] and report["status_differences"] == 1
    far = expected.status.copy()
    far[1] = 1  # 0.7 is far above 0.5
    report = decision_report(reference, far, expected.sets, rule)
    assert not report["passed"] and report["first_beyond"]["row"] == 1
    sets = expected.sets.copy()
    sets[1, 1] = False  # 0.3 against a threshold of 0.29: far
    assert decision_report(reference, expected.status, sets, rule)["set_beyond"] == 1
    no_letter = np.vstack([reference, [np.nan, np.nan]])
    status = np.append(expected.status, 1)  # a name with no letter must say so
    with_row = np.vstack([expected.sets, [False, False]])
    assert not decision_report(no_letter, status, with_row, rule)["passed"]


def test_selective_counts_and_the_share_threshold():
    log_probs, true = sample(1000, seed=3)
    counts = selective_counts(log_probs, true, thresholds=(0.0, 0.5, 0.99))
    assert counts["answered"][0] == 1000 and counts["answered"][1] <= 1000 and counts["answered"][2] <= 50
    top = np.exp(log_probs.max(axis=1))
    for share in (0.5, 0.8, 1.0):
        threshold = threshold_for_share(top, share)
        assert (top >= threshold).mean() >= share
        assert (top > threshold).mean() < share  # the largest threshold that does
    report = selective_report(log_probs, true, calibration_log_probs=log_probs)
    assert report["at_share"]["0.80"] == report["calibrated"]["0.80"]


def test_counts_of_folds_add_up_exactly():
    folds = [sample(200, seed=seed) for seed in range(3)]
    table = fit_table(*sample(500, seed=9), LABELS, "sibling")
    reports = [set_counts(lp, true, table.thresholds(0.9)) for lp, true in folds]
    pooled = add_counts(reports)
    everything = set_counts(np.vstack([lp for lp, _ in folds]), np.concatenate([t for _, t in folds]),
                            table.thresholds(0.9))  # fmt: skip
    assert pooled == everything
    assert add_counts([{"threshold": 0.25, "n": 1}, {"threshold": 0.75, "n": 2}]) == {"threshold": 0.5, "n": 3}


def test_true_label_scores():
    log_probs = np.log(np.array([[0.25, 0.75], [0.5, 0.5]]))
    assert np.allclose(true_label_scores(log_probs, np.array([1, 0])), [-math.log(0.75), -math.log(0.5)])
