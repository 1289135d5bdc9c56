"""NTK and NNGP kernels against finite random networks, textbook closed forms and their checks
(the ``inputs`` fixture of tests/ntk/conftest.py)."""

import math

import numpy as np
import pytest
from scipy.special import erf

from vdualib.ntk import kernels, standardize_inputs


ACTIVATIONS = {
    "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(u.dtype)),
    "erf": (erf, lambda u: 2.0 / math.sqrt(math.pi) * np.exp(-u * u)),
}


def finite_network_kernels(x, depth, activation, w_std, b_std, width, rng):
    """Empirical NNGP and NTK of one random MLP of the given width (NTK parameterisation).

    Forward pass h_l = phi(w_std / sqrt(n_{l-1}) h_{l-1} W_l + b_std b_l), readout
    f = w_std / sqrt(n) h_L w + b_std b. The NNGP estimate averages f f^T over the
    readout weights (w_std^2 h_L h_L^T / n + b_std^2); the NTK sums the Gram
    matrices of the hand-written parameter gradients:
    df/dW_l = w_std / sqrt(n_{l-1}) h_{l-1} (x) delta_l, df/db_l = b_std delta_l,
    delta_{l-1} = w_std / sqrt(n_{l-1}) (delta_l W_l^T) * phi'(z_{l-1}).
    """
    phi, phi_prime = ACTIVATIONS[activation]
    hidden, pre_activations, weights = [x], [], []
    for _ in range(depth):
        w = rng.standard_normal((hidden[-1].shape[1], width))
        z = w_std / math.sqrt(hidden[-1].shape[1]) * hidden[-1] @ w + b_std * rng.standard_normal(width)
        weights.append(w)
        pre_activations.append(z)
        hidden.append(phi(z))
    readout = rng.standard_normal(width)
    k = w_std**2 * hidden[-1] @ hidden[-1].T / hidden[-1].shape[1] + b_std**2
    theta = k.copy()
    delta = w_std / math.sqrt(width) * readout * phi_prime(pre_activations[-1])
    for layer in range(depth - 1, -1, -1):
        inputs = hidden[layer]
        theta += (w_std**2 * inputs @ inputs.T / inputs.shape[1] + b_std**2) * (delta @ delta.T)
        if layer:
            delta = w_std / math.sqrt(width) * (delta @ weights[layer].T) * phi_prime(pre_activations[layer - 1])
    return k, theta


def finite_network_output(params, x, activation, w_std, b_std):
    phi, _ = ACTIVATIONS[activation]
    h = x
    for w, b in params[:-1]:
        h = phi(w_std / math.sqrt(h.shape[1]) * h @ w + b_std * b)
    w, b = params[-1]
    return w_std / math.sqrt(h.shape[1]) * h @ w + b_std * b


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_hand_gradients_match_finite_differences(inputs, activation):
    """The Monte Carlo NTK helper's gradients equal numerical derivatives of the forward pass."""
    depth, width, w_std, b_std = 2, 6, 1.3, 0.4
    rng = np.random.default_rng(1)
    k, theta = finite_network_kernels(inputs, depth, activation, w_std, b_std, width, rng)
    rng = np.random.default_rng(1)  # replay the same draws as parameters
    params, fan_in = [], inputs.shape[1]
    for _ in range(depth):
        params.append([rng.standard_normal((fan_in, width)), rng.standard_normal(width)])
        fan_in = width
    params.append([rng.standard_normal(width), np.zeros(())])
    jacobian = []
    for layer, pair in enumerate(params):
        for which, array in enumerate(pair):
            for index in np.ndindex(array.shape):
                shifted = [[p.copy() for p in q] for q in params]
                eps = 1e-6
                shifted[layer][which][index] += eps
                plus = finite_network_output(shifted, inputs, activation, w_std, b_std)
                shifted[layer][which][index] -= 2 * eps
                minus = finite_network_output(shifted, inputs, activation, w_std, b_std)
                jacobian.append((plus - minus) / (2 * eps))
    jacobian = np.array(jacobian).T
    np.testing.assert_allclose(jacobian @ jacobian.T, theta, rtol=1e-5, atol=1e-6)
    readout = jacobian[:, -(width + 1) :]  # the NNGP estimate is the readout parameters' share of Theta
    np.testing.assert_allclose(readout @ readout.T, k, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("depth, width, draws", [(1, 512, 200), (1, 4096, 200), (3, 2048, 12)])
def test_kernels_match_finite_networks(inputs, activation, depth, width, draws):
    """Monte Carlo over random networks; the tolerance shrinks as 1/sqrt(width * draws)."""
    w_std, b_std = 1.5, 0.2
    k, theta = kernels(inputs, None, depth, activation, w_std, b_std)
    rng = np.random.default_rng(depth * width)
    samples = [finite_network_kernels(inputs, depth, activation, w_std, b_std, width, rng) for _ in range(draws)]
    k_mc, theta_mc = (np.mean(s, axis=0) for s in zip(*samples))
    tolerance = 8.0 / math.sqrt(width * draws)
    assert np.abs(k_mc - k).max() <= tolerance * np.abs(k).max()
    assert np.abs(theta_mc - theta).max() <= tolerance * np.abs(theta).max()


def test_one_layer_relu_matches_arc_cosine_closed_form(inputs):
    """K = |x||y| (sin t + (pi - t) cos t) / (2 pi d), Theta = |x||y| (sin t + 2 (pi - t) cos t) / (2 pi d)."""
    k, theta = kernels(inputs, inputs[:3], 1, "relu", 1.0, 0.0)
    norms = np.linalg.norm(inputs, axis=1)
    cosine = np.clip(inputs @ inputs[:3].T / np.outer(norms, norms[:3]), -1, 1)
    angle = np.arccos(cosine)
    scale = np.outer(norms, norms[:3]) / inputs.shape[1] / (2 * math.pi)
    np.testing.assert_allclose(k, scale * (np.sin(angle) + (math.pi - angle) * cosine), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(theta, scale * (np.sin(angle) + 2 * (math.pi - angle) * cosine), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_kernels_blocked_symmetric_psd_and_diagonal(activation):
    x = np.random.default_rng(2).normal(size=(23, 4, 3))  # trailing dimensions are flattened
    full = kernels(x, None, 3, activation, 1.4, 0.3, batch_size=5)
    cross = kernels(x, x.copy(), 3, activation, 1.4, 0.3, batch_size=7)
    diagonal = kernels(x, None, 3, activation, 1.4, 0.3, diagonal=True)
    single = kernels(x, None, 3, activation, 1.4, 0.3, dtype=np.float32)
    for matrix, other, diag, low in zip(full, cross, diagonal, single):
        np.testing.assert_array_equal(matrix, matrix.T)
        np.testing.assert_allclose(matrix, other, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(np.diag(matrix), diag, rtol=1e-12)
        np.testing.assert_allclose(low, matrix, rtol=1e-3, atol=1e-4)
        assert np.linalg.eigvalsh(matrix).min() > -1e-10


def test_depth_zero_is_the_linear_readout(inputs):
    k, theta = kernels(inputs, None, 0, "relu", 2.0, 0.5)
    expected = 4.0 * inputs @ inputs.T / inputs.shape[1] + 0.25
    np.testing.assert_allclose(k, expected)
    np.testing.assert_allclose(theta, expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=-1), "depth"),
        (dict(depth=1.5), "depth"),
        (dict(activation="tanh"), "activation"),
        (dict(w_std=0.0), "w_std"),
        (dict(b_std=-1.0), "b_std"),
        (dict(x2=np.ones((3, 5))), "same input dimension"),
        (dict(x2=np.ones((3, 8)), diagonal=True), "x2=None"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_kernels_bad_input(inputs, kwargs, message):
    arguments = dict(x2=None, depth=1)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        kernels(inputs, **arguments)


def test_kernels_reject_non_finite_and_flat_inputs():
    with pytest.raises(ValueError, match="NaN or inf"):
        kernels(np.array([[1.0, np.nan]]), None, 1)
    with pytest.raises(ValueError, match=r"\[N, \.\.\.\]"):
        kernels(np.ones(4), None, 1)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_kernels_of_huge_finite_inputs_are_finite_or_refused_with_the_reason(inputs, activation):
    """Inputs near 1e150 give variances near 1e300, whose products overflow: the recursion takes
    square roots first. ReLU kernels are homogeneous of degree 2 without biases."""
    for scale in (1e150, 1e153):
        k, theta = kernels(inputs * scale, None, 2, activation)
        assert np.isfinite(k).all() and np.isfinite(theta).all()
        if activation == "relu":
            reference_k, reference_theta = kernels(inputs, None, 2, activation)
            np.testing.assert_allclose(k / scale**2, reference_k, rtol=1e-10)
            np.testing.assert_allclose(theta / scale**2, reference_theta, rtol=1e-10)
        assert np.isfinite(kernels(inputs * scale, inputs[:2], 2, activation)[0]).all()
    with pytest.raises(ValueError, match=r"the kernels of x1 overflow float64 \(\|x\|\^2 / d exceeds .*Rescale them"):
        kernels(inputs * 1e160, None, 2, activation)
    with pytest.raises(ValueError, match=r"the kernels of x1 overflow float32 .*dtype=np.float64"):
        kernels(inputs * 1e25, None, 2, activation, dtype=np.float32)


def test_standardize_inputs_puts_inputs_on_the_unit_sphere_of_the_input_kernel():
    images = np.random.default_rng(12).integers(0, 256, size=(4, 5, 5))
    x = standardize_inputs(images)
    np.testing.assert_allclose(np.einsum("ij,ij->i", x, x) / x.shape[1], 1.0)
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="constant input row"):
        standardize_inputs(np.ones((2, 3)))
