"""vdualib.ib.critical: effective cardinalities, the brackets of critical betas, and the IB's first transition
1/rho^2 against the sweeps (the joints of tests/ib/conftest.py)."""

import types

import numpy as np
import pytest

from vdualib import ib
from vdualib.ib.critical import effective_cardinalities


def first_transition(pxy, betas, direction):
    critical = ib.critical_betas(ib.curve(pxy, betas, direction=direction, tol=1e-8, seed=0, max_iter=20_000))
    assert critical.clusters_below[0] == 1 and critical.clusters_above[0] >= 2
    return critical.lower[0], critical.upper[0]


def test_ib_first_transition_closed_form():
    # Binary symmetric channel with uniform input: rho = |1 - 2 eps|, beta_0 = 1 / rho^2.
    eps = 0.2
    pxy = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
    assert ib.ib_first_transition(pxy) == pytest.approx(1 / (1 - 2 * eps) ** 2)
    assert ib.ib_first_transition(np.full((2, 2), 0.25)) == np.inf


@pytest.mark.parametrize("direction", ["up", "down"])
def test_first_ib_transition_is_one_over_rho_squared_on_the_toy(direction, toy_joint):
    pxy = toy_joint
    beta0 = ib.ib_first_transition(pxy)
    lower, upper = first_transition(pxy, beta0 * (1 + 0.01 * (np.arange(-6, 6) + 0.5)), direction)
    assert lower <= beta0 <= upper


def test_one_cluster_becomes_unstable_at_one_over_rho_squared(random_joint):
    # Annealing up leaves the one-cluster solution where it turns locally unstable, at 1/rho^2;
    # annealing down follows the global optimum, which leaves it no later (1/s* <= 1/rho^2,
    # s* >= rho^2 the hypercontractivity coefficient), here strictly earlier.
    pxy = random_joint(6, 3, seed=11)
    beta0 = ib.ib_first_transition(pxy)
    betas = beta0 * np.linspace(0.505, 1.205, 71)
    lower, upper = first_transition(pxy, betas, "up")
    assert lower <= beta0 <= upper
    lower, upper = first_transition(pxy, betas, "down")
    assert upper < 0.9 * beta0


def test_dualib_first_transition_comes_earlier_on_the_toy(toy_joint):
    pxy = toy_joint
    betas = 2 ** np.linspace(3, 1, 60)
    ib_first = ib.critical_betas(ib.curve(pxy, betas, seed=0)).first
    dual_first = ib.critical_betas(ib.curve(pxy, betas, method="dualib", seed=0)).first
    assert ib_first == pytest.approx(ib.ib_first_transition(pxy), rel=0.01)
    assert dual_first < 0.9 * ib_first


def test_critical_betas_reports_brackets(toy_joint):
    result = ib.curve(toy_joint, 2 ** np.linspace(6, 1, 80), seed=0, max_iter=5_000)
    critical = ib.critical_betas(result)
    assert np.all(np.diff(critical.betas) > 0)
    assert np.all((critical.lower < critical.betas) & (critical.betas < critical.upper))
    assert np.all(critical.clusters_above > critical.clusters_below)  # clusters only split as beta grows


def test_critical_betas_bracket_every_change_of_cardinality_in_increasing_beta():
    # A sweep passed from high to low beta, whose cardinality goes 1, 2, 2, 4, 3 in increasing beta.
    sweep = types.SimpleNamespace(betas=np.array([16.0, 8.0, 4.0, 2.0, 1.0]),
                                  n_clusters_effective=np.array([3, 4, 2, 2, 1]))
    critical = ib.critical_betas(sweep)
    np.testing.assert_array_equal(critical.lower, [1.0, 4.0, 8.0])
    np.testing.assert_array_equal(critical.upper, [2.0, 8.0, 16.0])
    np.testing.assert_allclose(critical.betas, [np.sqrt(2.0), np.sqrt(32.0), np.sqrt(128.0)])
    np.testing.assert_array_equal(critical.clusters_below, [1, 2, 4])
    np.testing.assert_array_equal(critical.clusters_above, [2, 4, 3])
    assert critical.first == pytest.approx(np.sqrt(2.0))
    flat = ib.critical_betas(types.SimpleNamespace(betas=np.array([1.0, 2.0]), n_clusters_effective=[2, 2]))
    assert flat.betas.size == 0 and flat.lower.size == 0 and np.isnan(flat.first)


def test_effective_cardinality_ignores_light_clusters_and_counts_coincident_ones_once():
    px = np.array([0.5, 0.3, 0.2])
    # Clusters 0 and 1 have the same p(x|x_hat) (proportional columns); cluster 3 carries 3e-8 of the mass.
    encoder = np.array([[0.2, 0.4, 0.4, 0.0],
                        [0.2, 0.4, 0.4 - 1e-7, 1e-7],
                        [0.1, 0.2, 0.7, 0.0]])
    assert ib.effective_cardinality(encoder, px) == 2
    assert ib.effective_cardinality(encoder, px, mass_tol=1e-9) == 3
    # Two clusters 8.4e-4 apart in total variation: one cluster at the default tol 1e-3, two at 1e-4.
    shifted = np.array([[0.5, 0.5], [0.501, 0.499], [0.5, 0.5]])
    inverse = (shifted * px[:, None] / (px @ shifted)).T
    assert 0.5 * np.abs(inverse[0] - inverse[1]).sum() == pytest.approx(8.4e-4)
    assert ib.effective_cardinality(shifted, px) == 1
    assert ib.effective_cardinality(shifted, px, tol=1e-4) == 2
    assert ib.effective_cardinality(np.ones((3, 1)), px) == 1


def test_batched_effective_cardinalities_match_one_at_a_time(embo_joint):
    pxy = embo_joint(8, 3, np.random.default_rng(4))
    result = ib.curve(pxy, np.geomspace(1e-2, 1e3, 30))
    px = pxy.sum(axis=1)
    expected = [ib.effective_cardinality(encoder, px) for encoder in result.encoders]
    np.testing.assert_array_equal(effective_cardinalities(result.encoders, px), expected)
    np.testing.assert_array_equal(result.n_clusters_effective, expected)
    assert len(set(expected)) > 2  # the sweep crosses several transitions
    with pytest.raises(ValueError, match="encoders"):
        effective_cardinalities(result.encoders[0], px)


@pytest.mark.parametrize("encoder, px, message", [
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), [0.5, 0.5], "NaN"),
    (np.array([[1.0, 0.0], [0.5, 0.5]]), [np.nan, 0.5], "NaN"),
    (np.array([[1.0, 0.0], [0.5, 0.5]]), [0.5, 0.25], "summing to 1"),
    (np.array([[1.0, 0.0], [0.5, 0.5]]), [1.5, -0.5], ">= 0"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), [0.5, 0.5], "non-negative rows summing to 1"),
    (np.array([[0.7, 0.7], [0.5, 0.5]]), [0.5, 0.5], "non-negative rows summing to 1"),
    (np.array([[1.0, 0.0], [0.5, 0.5]]), [1.0], "one entry per row"),
])
def test_effective_cardinality_refuses_what_is_not_an_encoder(encoder, px, message):
    with pytest.raises(ValueError, match=message):
        ib.effective_cardinality(encoder, px)
    with pytest.raises(ValueError, match=message):
        effective_cardinalities(encoder[None], px)
    with pytest.raises(ValueError, match=r"\[\|X\|, N\]"):
        ib.effective_cardinality(np.array([0.5, 0.5]), [0.5, 0.5])


def test_effective_cardinality_takes_x_values_of_probability_zero_and_float32_px():
    assert ib.effective_cardinality(np.eye(2), [1.0, 0.0]) == 1  # the second cluster carries no mass
    assert ib.effective_cardinality(np.eye(7), np.ones(7, np.float32) / 7) == 7


def test_critical_betas_takes_a_sweep():
    for wrong in (None, {"betas": [1.0]}, ib.solve([[0.4, 0.1], [0.1, 0.4]], 2.0)):
        with pytest.raises(ValueError, match="IBCurve"):
            ib.critical_betas(wrong)
    for betas, clusters, message in (([1.0, np.nan], [1, 2], "betas"), ([1.0, 2.0], [1, np.nan], "NaN"),
                                     ([1.0, 2.0], [1], "one count per beta"), ([-1.0, 2.0], [1, 2], "betas")):
        with pytest.raises(ValueError, match=message):
            ib.critical_betas(types.SimpleNamespace(betas=np.array(betas), n_clusters_effective=clusters))
