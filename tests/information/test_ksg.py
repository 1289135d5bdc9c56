"""The KSG estimator against correlated Gaussians, and its checks."""

import math

import numpy as np
import pytest

from vdualib.information import ksg_mi


LOG2 = math.log(2.0)


def gaussian_mi_bits(covariance, dx):
    """I = 1/2 log(det S_x det S_y / det S), in bits."""
    _, logdet = np.linalg.slogdet(covariance)
    _, logdet_x = np.linalg.slogdet(covariance[:dx, :dx])
    _, logdet_y = np.linalg.slogdet(covariance[dx:, dx:])
    return 0.5 * (logdet_x + logdet_y - logdet) / LOG2


def correlated_gaussian(n, dim, rho, seed):
    """X, Y each ``dim``-dimensional with corr(X_k, Y_k) = rho; returns x, y and the covariance."""
    covariance = np.block([[np.eye(dim), rho * np.eye(dim)], [rho * np.eye(dim), np.eye(dim)]])
    samples = np.random.default_rng(seed).multivariate_normal(np.zeros(2 * dim), covariance, size=n)
    return samples[:, :dim], samples[:, dim:], covariance


@pytest.mark.parametrize(
    "x, y, k, match",
    [
        (np.arange(10.0), np.r_[np.arange(9.0), np.nan], 3, "NaN or infinite"),
        (np.arange(10.0), np.arange(10.0) ** 2, 0, "positive integer"),
        (np.arange(10.0), np.arange(10.0) ** 2, 1.5, "positive integer"),
        (np.arange(10.0), np.arange(10.0) ** 2, True, "positive integer"),
        (np.array([1.0]), np.array([2.0]), 1, "at least 2"),
        (np.arange(3.0), np.arange(3.0) ** 2, 3, "too few samples"),
    ],
)
def test_ksg_refuses_bad_input(x, y, k, match):
    with pytest.raises(ValueError, match=match):
        ksg_mi(x, y, k=k)


@pytest.mark.parametrize("dim, rho", [(1, 0.9), (2, 0.6)])
def test_ksg_correlated_gaussians(dim, rho):
    x, y, covariance = correlated_gaussian(4000, dim, rho, seed=dim)
    truth = gaussian_mi_bits(covariance, dim)
    assert ksg_mi(x, y, k=3) == pytest.approx(truth, abs=0.05)
    assert ksg_mi(x, y, k=3, units="nats") == pytest.approx(truth * LOG2, abs=0.05)


def test_ksg_independent_is_near_zero():
    rng = np.random.default_rng(6)
    assert abs(ksg_mi(rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)))) < 0.03


def test_ksg_rejects_bad_input():
    with pytest.raises(ValueError, match="same number"):
        ksg_mi(np.zeros((5, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="k must"):
        ksg_mi(np.arange(5.0), np.arange(5.0), k=5)
    with pytest.raises(ValueError, match="duplicates"):
        ksg_mi(np.repeat(np.arange(5.0), 10), np.repeat(np.arange(5.0), 10))
    with pytest.raises(ValueError, match="2-D"):
        ksg_mi(np.zeros((5, 1, 1)), np.zeros((5, 1)))
