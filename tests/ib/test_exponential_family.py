"""vdualib.ib.exponential_family: the family's p(y|x), its decoder and dual distortion against direct sums,
and its solver and sweep against the general dualIB (the toy joint of tests/ib/conftest.py)."""

import numpy as np
import pytest

from vdualib import ib


@pytest.fixture
def family():
    """A random family: 6 x, 2 statistics, 4 y, non-uniform p(x)."""
    rng = np.random.default_rng(2)
    return ib.ExponentialFamily(rng.normal(size=(6, 2)), rng.normal(size=(2, 4)), px=rng.dirichlet(np.ones(6)))


def test_toy_problem_matches_its_definition(toy_joint):
    np.testing.assert_allclose(ib.toy_problem().joint(), toy_joint, atol=1e-15)


def test_conditional_and_joint_follow_the_definition(family):
    logits = -family.statistics @ family.natural_parameters
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(family.py_x, expected, rtol=1e-12)
    np.testing.assert_allclose(family.joint(), family.px[:, None] * expected, rtol=1e-12)
    assert family.joint().sum() == pytest.approx(1.0)
    uniform = ib.ExponentialFamily(family.statistics, family.natural_parameters)
    np.testing.assert_allclose(uniform.px, np.full(6, 1 / 6))


def test_decoder_is_the_geometric_mean_and_the_distortion_the_dual_divergence(family):
    rng = np.random.default_rng(5)
    inverse = rng.dirichlet(np.ones(6), size=(2, 3))  # p(x|x_hat) of 2 items with 3 clusters
    decoder, distortion = family.decode(inverse)
    assert decoder.shape == (2, 3, 4) and distortion.shape == (2, 6, 3)
    py_x = family.py_x
    for b in range(2):
        for t in range(3):
            geometric = np.prod(py_x ** inverse[b, t][:, None], axis=0)
            np.testing.assert_allclose(decoder[b, t], geometric / geometric.sum(), rtol=1e-10)
            for x in range(6):
                kl = np.sum(decoder[b, t] * np.log(decoder[b, t] / py_x[x]))
                assert distortion[b, x, t] == pytest.approx(kl, rel=1e-10, abs=1e-12)


def test_exponent_is_minus_beta_times_the_distortion(family):
    inverse = np.random.default_rng(6).dirichlet(np.ones(6), size=(1, 3))  # p(x|x_hat): one item, 3 clusters
    betas = np.array([2.5])
    _, distortion = family.decode(inverse)
    means = (inverse @ family.statistics).swapaxes(0, 1)  # A(x_hat), cluster-major [3, 1, R] as the solver has it
    coef, cluster_term = family.exponent(means, betas)
    log_normalizer = np.log(np.exp(-family.statistics @ family.natural_parameters).sum(axis=1))  # lambda_0(x)
    exponent = coef[:, 0] @ family.statistics.T + cluster_term[:, :1] - betas[0] * log_normalizer[None, :]
    np.testing.assert_allclose(exponent, -betas[0] * distortion[0].T, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(statistics=np.ones((3, 2)), natural_parameters=np.ones((3, 2))), "same R"),
    (dict(statistics=np.ones(3), natural_parameters=np.ones((1, 2))), "same R"),
    (dict(statistics=np.full((3, 1), np.inf), natural_parameters=np.ones((1, 2))), "finite"),
    (dict(statistics=np.ones((3, 1)), natural_parameters=np.ones((1, 2)), px=[0.5, 0.5]), "one entry per row"),
    (dict(statistics=np.ones((2, 1)), natural_parameters=np.ones((1, 2)), px=[1.0, 0.0]), "positive distribution"),
    (dict(statistics=np.ones((2, 1)), natural_parameters=np.ones((1, 2)), px=[0.6, 0.6]), "positive distribution"),
    (dict(statistics=np.ones((2, 1)), natural_parameters=np.ones((1, 2)), px=[np.nan, 0.5]), "NaN"),
    (dict(statistics=[[1e200], [-1e200]], natural_parameters=[[-1e200, 1e200]]), "overflows"),
    (dict(statistics=np.ones((0, 1)), natural_parameters=np.ones((1, 2))), "at least 1"),
    (dict(statistics=np.ones((2, 0)), natural_parameters=np.ones((0, 2))), "at least 1"),
    (dict(statistics=np.ones((2, 1)), natural_parameters=np.ones((1, 0))), "at least 1"),
    (dict(statistics=[["a"], ["b"]], natural_parameters=np.ones((1, 2))), "numbers"),
])
def test_bad_families_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ib.ExponentialFamily(**kwargs)


@pytest.mark.parametrize("beta", [3.0, 9.0, 40.0])
def test_exponential_family_solver_agrees_with_general_dualib(beta):
    family = ib.toy_problem()
    general = ib.solve(family.joint(), beta, method="dualib", seed=4)
    special = ib.solve_exponential_family(family, beta, seed=4)
    np.testing.assert_allclose(special.encoder, general.encoder, atol=1e-8)
    np.testing.assert_allclose(special.decoder, general.decoder, atol=1e-8)
    assert special.ity == pytest.approx(general.ity, abs=1e-9)
    assert special.objective == pytest.approx(general.objective, abs=1e-9)


def test_exponential_family_curve_agrees_on_a_random_family():
    rng = np.random.default_rng(0)
    family = ib.ExponentialFamily(rng.normal(size=(7, 2)), rng.normal(size=(2, 5)), px=rng.dirichlet(np.ones(7)))
    betas = np.geomspace(1, 100, 15)
    general = ib.curve(family.joint(), betas, method="dualib", seed=1)
    special = ib.curve_exponential_family(family, betas, seed=1)
    np.testing.assert_allclose(special.ixt, general.ixt, atol=1e-8)
    np.testing.assert_allclose(special.ity, general.ity, atol=1e-8)
    with pytest.raises(ValueError):
        ib.ExponentialFamily(np.ones((3, 2)), np.ones((3, 2)))


def test_the_family_solvers_take_only_a_family(toy_joint):
    for function in (ib.solve_exponential_family, ib.curve_exponential_family):
        with pytest.raises(ValueError, match="ExponentialFamily"):
            function(toy_joint, 2.0)
