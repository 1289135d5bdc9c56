"""The ground truths of the estimator-error study against closed forms and integrals."""

import math

import numpy as np
import pytest
from scipy.stats import norm

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
