"""The pairwise-distance (KDE) bounds against a loop and their limits."""

import math

import numpy as np
import pytest

from vdualib.information import kde_information
from vdualib.information.kde import KDEEstimator


LOG2 = math.log(2.0)


def twelve_bit():
    rng_patterns = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float64)
    labels = (rng_patterns.sum(axis=1) % 2).astype(np.int64)
    return rng_patterns, labels


@pytest.mark.parametrize("noise", [np.nan, np.inf, -1.0, 0.0, "big"])
def test_kde_refuses_bad_noise_variance(noise):
    with pytest.raises(ValueError, match="noise_variance"):
        KDEEstimator(noise)


def kde_loop(points, labels, variance):
    """Straightforward double loop of the pairwise bounds, in bits."""
    n = len(points)

    def term(scale, members):
        total = 0.0
        for i in range(n):
            group = [j for j in range(n) if members(i, j)]
            d = [np.sum((points[i] - points[j]) ** 2) / variance for j in group]
            total += -math.log(np.mean(np.exp(-scale * np.array(d))))
        return total / n / LOG2

    everyone, same = (lambda i, j: True), (lambda i, j: labels[i] == labels[j])
    return {
        "ixt_upper": term(0.5, everyone),
        "ixt_lower": term(0.125, everyone),
        "ity_upper": term(0.5, everyone) - term(0.5, same),
        "ity_lower": term(0.125, everyone) - term(0.125, same),
    }


def test_kde_matches_a_loop_and_orders_bounds():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(40, 3))
    labels = rng.integers(0, 3, size=40)
    got = kde_information(points, labels, noise_variance=0.7)
    expected = kde_loop(points, labels, 0.7)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-10), key
    assert 0 <= got["ixt_lower"] <= got["ixt_upper"] <= math.log2(40)


@pytest.mark.slow
def test_kde_limits():
    x, labels = twelve_bit()
    separated = kde_information(x, labels, noise_variance=1e-3)  # points 1 apart, sigma ~ 0.03
    assert separated["ixt_upper"] == pytest.approx(12.0, abs=1e-6)
    assert separated["ixt_lower"] == pytest.approx(12.0, abs=1e-6)
    assert separated["ity_upper"] == pytest.approx(1.0, abs=1e-6)
    collapsed = kde_information(np.zeros((50, 4)), np.arange(50) % 2, noise_variance=1.0)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in collapsed.values())


def test_kde_rejects_bad_noise_and_input():
    with pytest.raises(ValueError, match="noise_variance"):
        kde_information(np.zeros((4, 1)), [0, 1, 0, 1], noise_variance=0.0)
    with pytest.raises(ValueError, match="labels"):
        kde_information(np.zeros((4, 1)), [0, 1], noise_variance=1.0)
