"""rnnexport.calibration: temperature fitting, ECE over 15 equal-width bins, the reliability bins, the hold-back."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnnexport.training.calibration import (
    calibration_rows,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    softmax,
)


def sample_labels(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    probabilities = softmax(logits)
    return np.array([rng.choice(len(row), p=row) for row in probabilities])


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_labels_were_drawn_at(true_temperature):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(20_000, 5))
    true = sample_labels(logits / true_temperature, rng)
    assert fit_temperature(logits, true) == pytest.approx(true_temperature, rel=0.05)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (40, 4), elements=st.floats(-20, 20)), st.integers(0, 3))
def test_fitted_temperature_never_loses_to_its_neighbours(logits, label):
    true = (np.arange(40) + label) % 4
    fitted = fit_temperature(logits, true)

    def nll(temperature):
        scaled = logits / temperature
        log_z = np.log(np.exp(scaled - scaled.max(1, keepdims=True)).sum(1)) + scaled.max(1)
        return float((log_z - scaled[np.arange(40), true]).mean())

    assert 0.01 * (1 - 1e-9) <= fitted <= 100 * (1 + 1e-9)
    for neighbour in (fitted * 0.9, fitted * 1.1):
        if 0.01 <= neighbour <= 100:
            assert nll(fitted) <= nll(neighbour) + 1e-9


def test_no_rows_means_no_temperature():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)) == 1.0


def test_ece_by_hand():
    # confidences 0.9 (right), 0.9 (wrong), 0.5 (right): bins (0.867, 0.933] and (0.467, 0.533]
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5]])
    true = np.array([0, 1, 0])
    expected = (2 / 3) * abs(0.5 - 0.9) + (1 / 3) * abs(1.0 - 0.5)
    assert expected_calibration_error(probabilities, true) == pytest.approx(expected)
    bins = reliability_bins(probabilities, true)
    assert len(bins["count"]) == 15 and sum(bins["count"]) == 3
    assert bins["count"][13] == 2 and bins["count"][7] == 1  # 0.9 -> (13/15, 14/15]; 0.5 -> (7/15, 8/15]


def test_bins_are_closed_on_the_right():
    probabilities = np.array([[1 / 15 * 2, 1 - 2 / 15]])  # top-1 confidence 13/15 exactly
    assert reliability_bins(probabilities, np.array([1]))["count"][12] == 1


def test_a_calibrated_forecaster_has_small_ece():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(50_000, 4))
    true = sample_labels(logits, rng)
    assert expected_calibration_error(softmax(logits), true) < 0.01
    assert expected_calibration_error(softmax(3 * logits), true) > 0.05  # over-confident


def test_calibration_rows_are_a_stable_share():
    names = [f"Name{i}" for i in range(5000)]
    labels = ["Czech"] * 5000
    rows = calibration_rows(names, labels, 0.1)
    assert 400 < rows.sum() < 600
    assert np.array_equal(calibration_rows(names[::-1], labels, 0.1), rows[::-1])  # order does not matter
    assert not calibration_rows(names, labels, 0.0).any()
