"""Tests of the ground truths, the estimator-error study and the information benchmark functions."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from scripts.lab.information_benchmark import best_and_median, callback_overhead, estimator_speed, speed_markdown
from vdualib.information.estimator_error import ERROR_COLUMNS, ErrorCase, default_cases, error_markdown, estimator_error
from vdualib.information.ground_truth import (
    gaussian_channel_information,
    gaussian_information,
    gaussian_mixture_label_information,
    mixture_index_information,
)


def test_gaussian_truths_match_closed_forms():
    rho = 0.9
    covariance = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_information(covariance, 1) == pytest.approx(-0.5 * math.log2(1 - rho**2))
    block = np.block([[np.eye(4), 0.6 * np.eye(4)], [0.6 * np.eye(4), np.eye(4)]])
    assert gaussian_information(block, 4) == pytest.approx(-2.0 * math.log2(1 - 0.36))
    assert gaussian_channel_information(2, 0.25) == pytest.approx(math.log2(5.0))
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_information(-np.eye(2), 1)
    with pytest.raises(ValueError, match="noise_variance"):
        gaussian_channel_information(2, 0.0)


def test_mixture_label_information_against_a_grid_integral():
    t = np.linspace(-14, 14, 200_001)
    density = 0.5 * norm.pdf(t, 1.0, 1.0) + 0.5 * norm.pdf(t, -1.0, 1.0)
    q = norm.pdf(t, 1.0, 1.0) * 0.5 / density
    conditional = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    expected = 1.0 - np.sum(density * conditional) * (t[1] - t[0])
    assert gaussian_mixture_label_information(1.0, 1.0) == pytest.approx(expected, abs=1e-6)
    assert gaussian_mixture_label_information(0.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_mixture_label_information(30.0, 1.0) == pytest.approx(1.0, abs=1e-9)


def test_mixture_index_information_limits():
    far = np.arange(32.0)[:, None] * 100.0
    value, error = mixture_index_information(far, 1.0, draws=2, seed=0)
    assert value == pytest.approx(5.0, abs=1e-9) and error == pytest.approx(0.0, abs=1e-9)
    same, _ = mixture_index_information(np.zeros((32, 2)), 1.0, draws=2, seed=0)
    assert same == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        mixture_index_information(np.array([[np.nan]]), 1.0, 1, 0)


def test_estimator_error_statistics():
    fixed = ErrorCase("offset", "I", "toy", 1.0, lambda n, seed: {"estimate": 1.0 + seed})
    sampled = ErrorCase("bounds", "I", "toy", None,
                        lambda n, seed: {"lower": seed - 1.0, "upper": seed + 1.0, "truth": float(seed), "truth_se": 0.1 * seed})
    rows = estimator_error([fixed, sampled], sizes=[10, 20], repeats=3)
    assert [(r["estimator"], r["n"]) for r in rows] == [
        ("offset", 10), ("offset", 20), ("bounds: lower", 10), ("bounds: upper", 10), ("bounds: lower", 20), ("bounds: upper", 20)]
    first = rows[0]  # estimates 1, 2, 3 against truth 1
    assert first["bias"] == pytest.approx(1.0) and first["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert first["std"] == pytest.approx(1.0) and first["mean_estimate"] == pytest.approx(2.0)
    lower = rows[2]  # per-sample truth: the error is -1 each time
    assert lower["bias"] == pytest.approx(-1.0) and lower["rmse"] == pytest.approx(1.0)
    assert lower["truth"] == pytest.approx(1.0) and lower["truth_se"] == pytest.approx(0.2)
    text = error_markdown(rows, repeats=3)
    assert text.startswith("Estimator error against ground truth (bits; 3 seeds per row;")
    assert "standard error <= 0.200 bits" in text
    assert "| " + " | ".join(ERROR_COLUMNS) + " |" in text
    with pytest.raises(ValueError, match="repeats"):
        estimator_error([fixed], [10], repeats=0)


def test_default_cases_estimate_near_their_truths():
    cases = default_cases(noise_variance=0.1, truth_draws=1)
    assert len(cases) == 9
    rows = estimator_error([cases[0], cases[3], cases[7]], sizes=[1500], repeats=1)
    by_name = {r["estimator"]: r for r in rows}
    assert abs(by_name["KSG (k=3)"]["bias"]) < 0.1
    assert abs(by_name["binning (30 bins, observed range)"]["bias"]) < 0.1
    assert by_name["InfoNCE / leave-one-out: lower"]["mean_estimate"] <= by_name["InfoNCE / leave-one-out: upper"]["mean_estimate"]
    assert abs(by_name["InfoNCE / leave-one-out: lower"]["bias"]) < 0.1


def test_best_and_median_and_estimator_speed():
    calls = []
    best, median = best_and_median(lambda: calls.append(1), 3)
    assert len(calls) == 3 and 0 <= best <= median
    speed = estimator_speed(repeats=1, kde_points=100, kde_units=4)
    for key in ("binning_6_layers_4096", "kde_10000x256"):
        assert 0 < speed[key]["best_seconds"] <= speed[key]["median_seconds"]


def test_callback_overhead_ratios_are_consistent(data_dir):
    from vdualib.datasets import load_ib_12bit

    x, y = load_ib_12bit(data_dir)
    study = callback_overhead(x, y, epochs=2, repeats=1)
    assert study["recorded_epochs"] == 3  # epochs 0, 1, 2
    assert study["callback_overhead_ratio"] == pytest.approx(study["training_with_callback_seconds"] / study["training_only_seconds"])
    assert study["callback_overhead_ratio_same_stops"] == pytest.approx(
        study["training_with_callback_seconds"] / study["training_with_schedule_stops_seconds"])
    assert study["callback_measuring_fraction"] == pytest.approx(min(study["all_measuring_fractions"]))
    assert study["callback_measuring_fraction"] > 0
    speed = {"binning_6_layers_4096": {"median_seconds": 0.125}, "kde_10000x256": {"median_seconds": 2.5},
             "twelve_bit_study": study}
    text = speed_markdown(speed)
    assert "| binning, 6 layers x 4,096 examples (one recorded epoch) | 0.125 |" in text
    assert f"{100 * study['callback_measuring_fraction']:.1f}% of the training time" in text
