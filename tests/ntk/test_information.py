"""Information bounds of the ensemble's outputs and the KL to the prior against closed forms."""

import math

import numpy as np
import pytest
import scipy.integrate

from vdualib.information import infonce_bounds
from vdualib.ntk import KernelEnsemble, kernels
from vdualib.ntk.information import information_curve, output_information, prior_kl


HYPER = dict(depth=2, activation="relu", w_std=1.3, b_std=0.2)


def binary_gaussian_channel_bits(separation, noise_std):
    """I(Y;Z) for Y uniform on {-a, a}, Z = Y + N(0, s^2), by quadrature, in bits."""

    def integrand(z):
        densities = np.exp(-0.5 * ((z - np.array([-separation, separation])) / noise_std) ** 2)
        densities /= noise_std * math.sqrt(2 * math.pi)
        mixture = densities.mean()
        return sum(0.5 * d * math.log2(d / mixture) for d in densities if d > 0)

    return scipy.integrate.quad(integrand, -separation - 12 * noise_std, separation + 12 * noise_std, limit=200)[0]


@pytest.mark.slow
def test_output_information_gaussian_channel():
    """X ~ N(0, 1), Z = X + N(0, s^2): I(X;Z) = log2(1 + 1/s^2) / 2; bounds bracket it closely."""
    rng = np.random.default_rng(4)
    mean = rng.standard_normal(1500)
    labels = (mean > 0).astype(int)
    noise = 0.5
    bounds = output_information(mean, np.zeros(1500), labels, noise, num_draws=4, seed=5)
    exact = 0.5 * math.log2(1 + 1 / noise)
    assert bounds.ixz_lower <= bounds.ixz_upper and bounds.izy_lower <= bounds.izy_upper
    assert abs(bounds.ixz_lower - exact) < 0.03 and abs(bounds.ixz_upper - exact) < 0.03
    assert bounds.izy_upper <= bounds.ixz_upper + 1e-12
    p = np.mean(labels)
    assert bounds.label_entropy == pytest.approx(-p * math.log2(p) - (1 - p) * math.log2(1 - p))


@pytest.mark.slow
def test_output_information_binary_channel_is_label_information():
    """Means +-a by class: X carries nothing beyond Y, so both I(X;Z) and I(Z;Y) equal the binary channel's."""
    labels = np.repeat([0, 1], 600)
    separation, noise = 1.0, 0.8
    mean = np.where(labels == 1, separation, -separation)
    bounds = output_information(mean, np.zeros(1200), labels, noise**2, num_draws=4, seed=6)
    exact = binary_gaussian_channel_bits(separation, noise)
    for value in bounds[:4]:
        assert abs(value - exact) < 0.03
    nats = output_information(mean, np.zeros(1200), labels, noise**2, num_draws=4, seed=6, units="nats")
    np.testing.assert_allclose(np.array(nats), np.array(bounds) * math.log(2), rtol=1e-12)


def test_output_information_uses_the_shared_bounds():
    """One draw with variance v: the I(X;Z) bounds are infonce_bounds of the exact Gaussian log densities."""
    rng = np.random.default_rng(7)
    mean, variance, noise = rng.normal(size=(30, 3)), rng.uniform(0, 1, size=30), 0.2
    labels = np.arange(30) % 3
    bounds = output_information(mean, variance, labels, noise, num_draws=1, seed=8)
    std = np.sqrt(variance + noise)[:, None]
    z = mean + std * np.random.default_rng(8).standard_normal(mean.shape)
    log_density = np.zeros((30, 30))
    for i in range(30):
        for j in range(30):
            log_density[i, j] = np.sum(-0.5 * ((z[i] - mean[j]) / std[j]) ** 2 - np.log(std[j] * math.sqrt(2 * math.pi)))
    assert (bounds.ixz_lower, bounds.ixz_upper) == pytest.approx(infonce_bounds(log_density), abs=1e-10)


def test_prior_kl_closed_form():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    covariance, prior = a @ a.T, b @ b.T + np.eye(4)
    mean, noise = rng.normal(size=(4, 2)), 0.3
    q, p = covariance + noise * np.eye(4), prior + noise * np.eye(4)
    log_det_ratio = np.linalg.slogdet(p)[1] - np.linalg.slogdet(q)[1]
    per_unit = [0.5 * (np.trace(np.linalg.solve(p, q)) - 4 + m @ np.linalg.solve(p, m) + log_det_ratio) for m in mean.T]
    assert prior_kl(mean, covariance, prior, noise, units="nats") == pytest.approx(sum(per_unit), rel=1e-10)
    assert prior_kl(mean, covariance, prior, noise) == pytest.approx(sum(per_unit) / math.log(2), rel=1e-10)
    assert prior_kl(np.zeros(4), prior, prior, noise) == pytest.approx(0.0, abs=1e-10)


def test_information_curve_over_time(problem):
    rng = np.random.default_rng(10)
    x_train, x_test = rng.normal(size=(40, 4)), rng.normal(size=(20, 4))
    labels_train, labels_test = rng.integers(0, 2, 40), rng.integers(0, 2, 20)
    k, theta = kernels(x_train, None, **HYPER)
    k_cross, theta_cross = kernels(x_test, x_train, **HYPER)
    model = KernelEnsemble(k, theta, np.eye(2)[labels_train] - 0.5, k_cross, theta_cross, kernels(x_test, None, **HYPER)[0])
    curve = information_curve(model, [0.0, 10.0, np.inf], labels_train, labels_test, noise_variance=0.05, seed=1)
    assert curve["prior_kl"][0] == pytest.approx(0.0, abs=1e-9)
    assert curve["prior_kl"][0] < curve["prior_kl"][1] < curve["prior_kl"][2]
    direct = model.predict(10.0)  # the curve's KL is taken in Theta's eigenbasis; here in the original one
    assert curve["prior_kl"][1] == pytest.approx(prior_kl(direct.mean_train, direct.cov_train, k, 0.05), rel=1e-8)
    assert curve["test"]["ixz_lower"][1] == pytest.approx(
        output_information(direct.mean_test, np.diag(direct.cov_test), labels_test, 0.05, seed=1).ixz_lower
    )
    assert curve["train"]["accuracy"][2] == 1.0
    for split in ("train", "test"):
        assert np.all(np.array(curve[split]["ixz_lower"]) <= np.array(curve[split]["ixz_upper"]))
        assert np.all(np.array(curve[split]["izy_lower"]) <= np.array(curve[split]["izy_upper"]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(noise_variance=0.0), "noise_variance"),
        (dict(labels=np.array([0, 0, 0, 1])), "at least 2 points"),
        (dict(labels=np.array([0.0, 0.5, 1.0, 1.0])), "whole numbers"),
        (dict(variance=np.ones(3)), "variance"),
        (dict(num_draws=0), "num_draws"),
        (dict(units="shannons"), "units"),
    ],
)
def test_output_information_bad_input(kwargs, message):
    arguments = dict(mean=np.zeros((4, 2)), variance=np.ones(4), labels=np.array([0, 0, 1, 1]), noise_variance=0.1)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        output_information(**arguments)


def test_prior_kl_bad_input():
    with pytest.raises(ValueError, match="positive definite"):
        prior_kl(np.zeros(2), -np.eye(2) * 5, np.eye(2), 0.1)
    with pytest.raises(ValueError, match=r"\[2, 2\]"):
        prior_kl(np.zeros(2), np.eye(3), np.eye(2), 0.1)
