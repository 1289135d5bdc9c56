"""The infinite ensemble's mean and covariance over training time against explicit integration
(the ``inputs`` and ``problem`` fixtures of tests/ntk/conftest.py)."""

import numpy as np
import pytest
import scipy.integrate

from vdualib.ntk import KernelEnsemble, ensemble, kernels


HYPER = dict(depth=2, activation="relu", w_std=1.3, b_std=0.2)


def test_ensemble_names_its_own_arguments(inputs):
    labels = np.arange(len(inputs)) % 2 - 0.5
    prediction = ensemble(inputs * 1e150, labels, inputs[:2] * 1e150, t=[1.0, np.inf], depth=1)
    assert np.isfinite(prediction.mean_test).all() and np.isfinite(prediction.cov_test).all()
    with pytest.raises(ValueError, match="the kernels of x_train overflow") as caught:
        ensemble(inputs * 1e160, labels, inputs[:2], t=1.0)
    assert "k_train" not in str(caught.value) and "x1" not in str(caught.value)
    with pytest.raises(ValueError, match="the kernels of x_test and x_train overflow"):
        ensemble(inputs, labels, inputs[:2] * 1e160, t=1.0)
    with pytest.raises(ValueError, match="x_test contains NaN"):
        ensemble(inputs, labels, np.full((2, inputs.shape[1]), np.nan), t=1.0)
    with pytest.raises(ValueError, match="x_train must be a rectangular array"):
        ensemble([[1.0, 2.0], [3.0]], [0.0, 1.0], t=1.0)


def test_ensemble_limits(problem):
    x_train, y_train, x_test = problem
    prediction = ensemble(x_train, y_train, x_test, [0.0, np.inf], **HYPER)
    np.testing.assert_allclose(prediction.mean_train[1], y_train, atol=1e-9)  # interpolates at t = inf
    np.testing.assert_allclose(prediction.cov_train[1], 0.0, atol=1e-9)
    assert np.all(prediction.mean_train[0] == 0) and np.all(prediction.mean_test[0] == 0)
    k_train = kernels(x_train, None, **HYPER)[0]
    k_test = kernels(x_test, None, **HYPER)[0]
    np.testing.assert_allclose(prediction.cov_train[0], k_train, atol=1e-12)  # the prior at t = 0
    np.testing.assert_allclose(prediction.cov_test[0], k_test, atol=1e-12)


def test_ensemble_matches_integrated_linear_dynamics(problem):
    """Integrate df/dt = -(eta/N) Theta(., X)(f(X) - Y) for f = M_t f_0 + c_t; cov = M_t K M_t^T."""
    x_train, y_train, x_test = problem
    eta, t_end = 0.7, 3.0
    x_all = np.concatenate([x_train, x_test])
    k_all, theta_all = kernels(x_all, None, **HYPER)
    n, total = len(x_train), len(x_all)
    drift = theta_all[:, :n] * eta / n

    def rhs(_, state):
        linear = state[: total * total].reshape(total, total)
        offset = state[total * total :].reshape(total, -1)
        return np.concatenate([(-drift @ linear[:n]).ravel(), (-drift @ (offset[:n] - y_train)).ravel()])

    start = np.concatenate([np.eye(total).ravel(), np.zeros(total * y_train.shape[1])])
    solution = scipy.integrate.solve_ivp(rhs, (0, t_end), start, rtol=1e-11, atol=1e-12, method="DOP853")
    linear = solution.y[: total * total, -1].reshape(total, total)
    offset = solution.y[total * total :, -1].reshape(total, -1)
    covariance = linear @ k_all @ linear.T
    prediction = ensemble(x_train, y_train, x_test, t_end, learning_rate=eta, **HYPER)
    np.testing.assert_allclose(prediction.mean_train, offset[:n], atol=1e-8)
    np.testing.assert_allclose(prediction.mean_test, offset[n:], atol=1e-8)
    np.testing.assert_allclose(prediction.cov_train, covariance[:n, :n], atol=1e-8)
    np.testing.assert_allclose(prediction.cov_test, covariance[n:, n:], atol=1e-8)
    diagonal = ensemble(x_train, y_train, x_test, [t_end], learning_rate=eta, covariance="diagonal", **HYPER)
    np.testing.assert_allclose(diagonal.cov_test[0], np.diag(covariance[n:, n:]), atol=1e-8)
    np.testing.assert_allclose(diagonal.cov_train[0], np.diag(covariance[:n, :n]), atol=1e-8)


def test_ensemble_scalar_labels_and_regulariser(problem):
    x_train, y_train, x_test = problem
    prediction = ensemble(x_train, y_train[:, 0], x_test, [1.0, 2.0], **HYPER)
    assert prediction.mean_train.shape == (2, 6) and prediction.mean_test.shape == (2, 3)
    assert prediction.cov_test.shape == (2, 3, 3)
    features = np.random.default_rng(11).normal(size=(6, 3))
    singular = features @ features.T  # rank 3 < 6
    with pytest.raises(ValueError, match="diag_reg"):
        KernelEnsemble(singular, singular, y_train)
    rows = singular[:2]  # test points equal to the first two training points
    model = KernelEnsemble(singular, singular, y_train, rows, rows, singular[:2, :2], diag_reg=1e-3)
    regularised = model.predict(np.inf)
    np.testing.assert_allclose(regularised.mean_train, y_train, atol=1e-8)  # the regulariser is part of the training kernel
    ridge = rows @ np.linalg.solve(singular + 1e-3 * np.mean(np.diag(singular)) * np.eye(6), y_train)
    np.testing.assert_allclose(regularised.mean_test, ridge, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(t=-1.0), "t must be >= 0|times t"),
        (dict(t=[[1.0]]), "1-D"),
        (dict(covariance="low-rank"), "covariance"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(diag_reg=-1.0), "diag_reg"),
    ],
)
def test_ensemble_bad_input(problem, kwargs, message):
    x_train, y_train, x_test = problem
    with pytest.raises(ValueError, match=message):
        ensemble(x_train, y_train, x_test, **{"t": 1.0, **kwargs})


def test_kernel_ensemble_bad_shapes(problem):
    x_train, y_train, _ = problem
    k, theta = kernels(x_train, None, 1)
    with pytest.raises(ValueError, match="y_train must have one row"):
        ensemble(x_train, y_train[:4], None)
    with pytest.raises(ValueError, match="theta_train"):
        KernelEnsemble(k, theta[:5, :5], y_train)
    with pytest.raises(ValueError, match="together"):
        KernelEnsemble(k, theta, y_train, k_test_train=k[:2])
