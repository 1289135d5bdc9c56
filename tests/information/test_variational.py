"""InfoNCE / leave-one-out bounds and the Gaussian encoder's log densities."""

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vdualib.information import infonce_bounds
from vdualib.information.variational import gaussian_encoder_bounds, gaussian_log_density_matrix


LOG2 = math.log(2.0)


def test_infonce_bounds_match_a_loop():
    rng = np.random.default_rng(0)
    log_density = rng.normal(size=(6, 6)) * 3
    lower = np.mean([log_density[i, i] - math.log(np.mean(np.exp(log_density[i]))) for i in range(6)])
    upper = np.mean(
        [log_density[i, i] - math.log(np.mean(np.exp(np.delete(log_density[i], i)))) for i in range(6)]
    )
    got_lower, got_upper = infonce_bounds(log_density, units="nats")
    assert got_lower == pytest.approx(lower, rel=1e-12)
    assert got_upper == pytest.approx(upper, rel=1e-12)
    bits = infonce_bounds(log_density)
    assert bits[0] == pytest.approx(lower / LOG2) and bits[1] == pytest.approx(upper / LOG2)


def test_infonce_bounds_extremes():
    n = 64
    separated = np.where(np.eye(n, dtype=bool), 0.0, -1e4)  # z_i only explained by x_i
    lower, upper = infonce_bounds(separated)
    assert lower == pytest.approx(math.log2(n), abs=1e-9)
    assert upper > 1000
    same = np.full((n, n), -3.0)  # encoder ignores x
    assert infonce_bounds(same) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_gaussian_log_density_matrix_matches_scipy():
    rng = np.random.default_rng(1)
    z, mean = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    stddev = rng.uniform(0.3, 2.0, size=(4, 3))
    expected = np.array([[multivariate_normal(mean[j], np.diag(stddev[j] ** 2)).logpdf(z[i]) for j in range(4)] for i in range(5)])
    np.testing.assert_allclose(gaussian_log_density_matrix(z, mean, stddev), expected, rtol=1e-10)


@pytest.mark.slow
def test_gaussian_encoder_bounds_bracket_the_gaussian_channel():
    # X ~ N(0, I_2), Z = X + N(0, 0.5 I): I(X;Z) = 2 * 1/2 log(1 + 1/0.5) nats.
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(2000, 2))
    stddev = np.full_like(mean, math.sqrt(0.5))
    truth = math.log2(3.0)
    lower, upper = gaussian_encoder_bounds(mean, stddev, seed=3)
    assert lower <= upper
    assert lower == pytest.approx(truth, abs=0.08)
    assert upper == pytest.approx(truth, abs=0.08)


@pytest.mark.slow
def test_gaussian_encoder_bounds_blocks_equal_the_full_matrix():
    rng = np.random.default_rng(9)
    mean, stddev = rng.normal(size=(1500, 3)), rng.uniform(0.2, 1.0, size=(1500, 3))  # 1500 rows: several blocks
    z = mean + stddev * np.random.default_rng(4).standard_normal(mean.shape)
    full = infonce_bounds(gaussian_log_density_matrix(z, mean, stddev))
    assert gaussian_encoder_bounds(mean, stddev, seed=4) == pytest.approx(full, rel=1e-10)


@pytest.mark.parametrize(
    "log_density, match",
    [
        (np.zeros((3, 4)), "square"),
        (np.zeros((1, 1)), "N = 2"),
        (np.array([[0.0, np.nan], [0.0, 0.0]]), "NaN"),
        (np.array([[-np.inf, 0.0], [0.0, 0.0]]), "diagonal"),
    ],
)
def test_infonce_bounds_rejects_bad_input(log_density, match):
    with pytest.raises(ValueError, match=match):
        infonce_bounds(log_density)


def test_gaussian_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="positive"):
        gaussian_log_density_matrix(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        gaussian_encoder_bounds(np.zeros((3, 2)), np.ones((3, 1)), seed=0)


def test_variational_bounds_refuse_non_finite_encoders():
    mean, stddev = np.zeros((4, 2)), np.ones((4, 2))
    with pytest.raises(ValueError, match="NaN or infinite"):
        gaussian_encoder_bounds(np.where(np.eye(4, 2) > 0, np.nan, mean), stddev, seed=0)
    with pytest.raises(ValueError, match="positive"):
        gaussian_encoder_bounds(mean, np.zeros((4, 2)), seed=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gaussian_log_density_matrix(np.full((2, 2), np.inf), mean, stddev)
