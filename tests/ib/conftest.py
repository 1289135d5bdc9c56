"""Shared by the tests of vdualib.ib: small joints p(x, y), and the self-consistent equations and the
information of an encoder written as plain loops, independently of the solver."""

import numpy as np
import pytest


@pytest.fixture
def toy_joint():
    """The dualIB paper's toy problem: x in linspace(-1, 0.6, 5), y in {-1, 1}, p(y|x) ∝ exp(-y x)."""
    x, y = np.linspace(-1, 0.6, 5), np.array([-1.0, 1.0])
    py_x = np.exp(-np.outer(x, y))
    py_x /= py_x.sum(axis=1, keepdims=True)
    return py_x / 5


@pytest.fixture(scope="session")
def random_joint():
    """``random_joint(n_x=8, n_y=3, seed=0)``: p(x, y) [n_x, n_y] drawn from a flat Dirichlet."""

    def joint(n_x=8, n_y=3, seed=0):
        rng = np.random.default_rng(seed)
        return rng.dirichlet(np.ones(n_x * n_y)).reshape(n_x, n_y)

    return joint


@pytest.fixture(scope="session")
def embo_joint():
    """``embo_joint(n_x, n_y, rng, method="ib")``: p(x, y) as embo's tests sample it, p(x) ~ Dirichlet(1000)
    and p(y|x) ~ Dirichlet(0.1) (nearly deterministic, often with zeros); for the dualIB, which needs
    p(y|x) > 0, p(y|x) mixed with 0.1% of the uniform distribution."""

    def joint(n_x, n_y, rng, method="ib"):
        px = rng.dirichlet(np.full(n_x, 1000.0))
        py_x = rng.dirichlet(np.full(n_y, 0.1), size=n_x)
        if method == "dualib":
            py_x = 0.999 * py_x + 0.001 / n_y
        pxy = px[:, None] * py_x
        return pxy / pxy.sum()

    return joint


def _equations(pxy, encoder, method):
    """(p(x), p(x_hat) [N], distortion d(x, x_hat) [|X|, N] in nats, 0 for empty clusters) of an encoder
    [|X|, N], by loops over x, x_hat and y: the IB's arithmetic-mean decoder and KL(p(y|x) || p(y|x_hat)),
    or the dualIB's normalised geometric mean and KL(p(y|x_hat) || p(y|x))."""
    n_x, n_y = pxy.shape
    n_t = encoder.shape[1]
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    marginal = np.array([sum(px[x] * encoder[x, t] for x in range(n_x)) for t in range(n_t)])
    distortion = np.zeros_like(encoder)
    for t in range(n_t):
        if marginal[t] == 0:
            continue
        inverse = [encoder[x, t] * px[x] / marginal[t] for x in range(n_x)]
        if method == "ib":
            decoder = np.array([sum(py_x[x, y] * inverse[x] for x in range(n_x)) for y in range(n_y)])
        else:
            decoder = np.array([np.prod([py_x[x, y] ** inverse[x] for x in range(n_x)]) for y in range(n_y)])
            decoder /= decoder.sum()
        for x in range(n_x):
            if method == "ib":
                d = sum(py_x[x, y] * np.log(py_x[x, y] / decoder[y]) for y in range(n_y) if py_x[x, y] > 0)
            else:
                d = sum(decoder[y] * np.log(decoder[y] / py_x[x, y]) for y in range(n_y) if decoder[y] > 0)
            distortion[x, t] = d
    return px, marginal, distortion


def _encoder_from_equations(pxy, encoder, beta, method):
    """One application of the self-consistent equations, p(x_hat|x) ∝ p(x_hat) exp(-beta d(x, x_hat)) (empty
    clusters staying empty): (new encoder [|X|, N], marginal p(x_hat) [N] of the given encoder)."""
    _, marginal, distortion = _equations(pxy, encoder, method)
    new = marginal[None, :] * np.exp(-beta * distortion)
    return new / new.sum(axis=1, keepdims=True), marginal


def _information_bits(pxy, encoder):
    """(I(X;X_hat), I(X_hat;Y)) in bits of an encoder, by direct sums over the joint p(x, x_hat, y)."""
    px = pxy.sum(axis=1)
    joint_xt = encoder * px[:, None]
    pt = joint_xt.sum(axis=0)
    ixt = sum(joint_xt[x, t] * np.log2(encoder[x, t] / pt[t])
              for x in range(encoder.shape[0]) for t in range(encoder.shape[1]) if joint_xt[x, t] > 0)
    joint_ty = encoder.T @ pxy
    py = joint_ty.sum(axis=0)
    ity = sum(joint_ty[t, y] * np.log2(joint_ty[t, y] / (pt[t] * py[y]))
              for t in range(joint_ty.shape[0]) for y in range(joint_ty.shape[1]) if joint_ty[t, y] > 0)
    return ixt, ity


def _lagrangian_bits(pxy, encoder, beta, method):
    """I(X; X_hat) + beta E[d] in bits of an encoder [|X|, N]."""
    px, _, distortion = _equations(pxy, encoder, method)
    return _information_bits(pxy, encoder)[0] + beta * np.sum(px[:, None] * encoder * distortion) / np.log(2.0)


@pytest.fixture(scope="session")
def encoder_from_equations():
    """``encoder_from_equations(pxy, encoder, beta, method)``: one application of the IB (``"ib"``) or dualIB
    equations to an encoder [|X|, N], written as loops; returns (new encoder, p(x_hat) of the given one)."""
    return _encoder_from_equations


@pytest.fixture(scope="session")
def information_bits():
    """``information_bits(pxy, encoder)``: (I(X;X_hat), I(X_hat;Y)) in bits, by direct sums."""
    return _information_bits


@pytest.fixture(scope="session")
def lagrangian_bits():
    """``lagrangian_bits(pxy, encoder, beta, method)``: I(X; X_hat) + beta E[d] in bits, by direct sums."""
    return _lagrangian_bits
