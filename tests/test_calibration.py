"""Temperature scaling: it recovers a known temperature, and refuses fits that mean nothing and inputs it would misread."""

import numpy as np
import pytest

from vdualib import calibration, metrics


def _predictions(rng, num, num_classes=4, temperature=1.0 / 3.0):
    """Over-confident predictions (true temperature 1/``temperature``) and labels drawn from the truth."""
    logits = rng.normal(0, 2, size=(num, num_classes))
    truth = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(num_classes, p=p) for p in truth])
    sharp = np.exp(logits / temperature)
    return sharp / sharp.sum(1, keepdims=True), labels


def test_one_example_is_refused_not_fitted(rng):
    # the old fit returned T = 0.016 here without a word
    with pytest.raises(ValueError, match="at least 20 held-out examples, got 1"):
        calibration.fit_temperature(np.array([[0.7, 0.3]]), [0])
    probs, labels = _predictions(rng, 19)
    with pytest.raises(ValueError, match="at least 20"):
        calibration.fit_temperature(probs, labels)


def test_the_minimum_size_is_enough_when_the_fit_is_meaningful(rng):
    probs, labels = _predictions(rng, 400)
    small = calibration.fit_temperature(probs[:calibration.MIN_EXAMPLES], labels[:calibration.MIN_EXAMPLES])
    assert calibration.TEMPERATURE_RANGE[0] < small < calibration.TEMPERATURE_RANGE[1]
    assert calibration.fit_temperature(probs, labels) == pytest.approx(3.0, rel=0.25)


def test_all_correct_predictions_have_no_minimum_and_are_refused():
    probs = np.tile([[0.8, 0.15, 0.05]], (50, 1))
    with pytest.raises(ValueError, match="all 50 predictions are correct"):
        calibration.fit_temperature(probs, np.zeros(50, int))


def test_a_minimum_at_the_end_of_the_range_is_refused():
    # Confident predictions whose labels are independent of them, each class equally often:
    # the NLL falls all the way to T -> infinity (uniform predictions), past the searched range.
    patterns = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    probs = np.tile(patterns, (12, 1))  # 36 rows: every (prediction, label) pair 4 times
    labels = np.tile(np.repeat([0, 1, 2], 3), 4)
    with pytest.raises(ValueError, match=r"an end of the searched range \(0\.01, 100\.0\)"):
        calibration.fit_temperature(probs, labels)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p, y: (np.where(p == p.max(), np.nan, p), y), "NaN"),
        (lambda p, y: (np.where(p == p.max(), np.inf, p), y), "NaN"),
        (lambda p, y: (np.log(p), y), r"\[0, 1\]"),
        (lambda p, y: (p * 0.9, y), "sum to 1"),
        (lambda p, y: (p[:, :1].ravel(), y), "shape"),
        (lambda p, y: (p, y[:-1]), "one label per row"),
        (lambda p, y: (p, np.where(np.arange(y.size) == 3, 4, y)), r"labels must be < 4"),
        (lambda p, y: (p, np.where(np.arange(y.size) == 3, -1, y)), r"labels must be >= 0"),
        (lambda p, y: (p, y + 0.5), "whole numbers"),
    ],
)
def test_bad_inputs_are_refused(rng, mutate, message):
    probs, labels = _predictions(rng, 60)
    with pytest.raises(ValueError, match=message):
        calibration.fit_temperature(*mutate(probs, labels))


def test_apply_temperature_validates(rng):
    probs, _ = _predictions(rng, 5)
    np.testing.assert_allclose(calibration.apply_temperature(probs, 1.0), probs, atol=1e-12)
    for bad in (0.0, -1.0, np.nan, np.inf, "2", True, None):
        with pytest.raises(ValueError, match="temperature"):
            calibration.apply_temperature(probs, bad)
    with pytest.raises(ValueError, match="NaN"):
        calibration.apply_temperature(np.array([[np.nan, 1.0]]), 2.0)


def test_temperature_scaling_recovers_known_temperature():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(6000, 6))
    true_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(6, p=p) for p in true_probs])
    overconfident = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)  # temperature 1/3
    temperature = calibration.fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.08)
    rescaled = calibration.apply_temperature(overconfident, temperature)
    assert metrics.nll(rescaled, labels) < metrics.nll(overconfident, labels)
    assert metrics.expected_calibration_error(rescaled, labels) < 0.03
    np.testing.assert_allclose(calibration.apply_temperature(true_probs, 1.0), true_probs, atol=1e-12)
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="temperature"):
            calibration.apply_temperature(true_probs, bad)
