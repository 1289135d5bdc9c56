"""vdualib.ib.solver: solve's fixed points against the equations written as loops, its information values,
its limits in beta, its acceleration, its refusals and its reproducibility (the joints and the loop-written
equations of tests/ib/conftest.py)."""

import numpy as np
import pytest

from vdualib import ib
from vdualib.ib.solver import initial_log_encoder, iterate, make_channel


@pytest.mark.parametrize("method", ["ib", "dualib"])
@pytest.mark.parametrize("beta", [2.0, 8.0, 25.0, 300.0])
def test_self_consistency_at_returned_solution(method, beta, toy_joint, encoder_from_equations):
    pxy = toy_joint
    solution = ib.solve(pxy, beta, method=method, seed=1)
    assert solution.converged
    recomputed, marginal = encoder_from_equations(pxy, solution.encoder, beta, method)
    np.testing.assert_allclose(recomputed, solution.encoder, atol=1e-8, rtol=0)
    np.testing.assert_allclose(marginal, solution.marginal, atol=1e-12)
    np.testing.assert_allclose(solution.encoder.sum(axis=1), 1.0, atol=1e-12)


def test_self_consistency_random_problem_few_clusters(random_joint, encoder_from_equations):
    pxy = random_joint(10, 4, seed=3)
    for method in ("ib", "dualib"):
        solution = ib.solve(pxy, 6.0, method=method, n_clusters=3, seed=2)
        assert solution.encoder.shape == (10, 3) and solution.decoder.shape == (3, 4)
        recomputed, _ = encoder_from_equations(pxy, solution.encoder, 6.0, method)
        np.testing.assert_allclose(recomputed, solution.encoder, atol=1e-8, rtol=0)


def test_information_values_match_direct_formulas(random_joint, information_bits):
    pxy = random_joint(6, 3, seed=5)
    solution = ib.solve(pxy, 5.0, seed=0)
    ixt, ity = information_bits(pxy, solution.encoder)
    assert solution.ixt == pytest.approx(ixt, abs=1e-10)
    assert solution.ity == pytest.approx(ity, abs=1e-10)
    assert solution.objective == pytest.approx(solution.ixt + 5.0 * solution.distortion, abs=1e-12)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_small_beta_gives_one_cluster(method, toy_joint):
    pxy = toy_joint
    solution = ib.solve(pxy, 0.05, method=method, seed=0)
    assert solution.ixt < 1e-8 and solution.ity < 1e-8
    assert ib.effective_cardinality(solution.encoder, pxy.sum(axis=1)) == 1


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_large_beta_keeps_all_information(method, toy_joint):
    pxy = toy_joint
    solution = ib.solve(pxy, 1e4, method=method, seed=0)
    assert np.all(np.isfinite(solution.encoder)) and np.all(np.isfinite(solution.decoder))
    assert solution.ity == pytest.approx(ib.mutual_information_bits(pxy), abs=1e-6)


def test_deterministic_labels_reach_the_minimal_sufficient_statistic():
    labels = np.array([0, 1, 2, 0, 1, 2])
    pxy = ib.joint_from_labels(labels)
    solution = ib.solve(pxy, 200.0, seed=0)
    assert solution.ity == pytest.approx(np.log2(3), abs=1e-8)
    assert solution.ixt == pytest.approx(np.log2(3), abs=1e-6)
    assert ib.effective_cardinality(solution.encoder, pxy.sum(axis=1)) == 3
    with pytest.raises(ValueError, match="label_noise"):
        ib.solve(pxy, 10.0, method="dualib")
    smoothed = ib.solve(ib.joint_from_labels(labels, label_noise=1e-3), 200.0, method="dualib", seed=0)
    assert smoothed.converged and smoothed.ity == pytest.approx(smoothed.ixt, abs=0.05)


def test_invalid_solve_settings_raise(toy_joint):
    for kwargs in (dict(beta=-1.0), dict(beta=np.inf), dict(beta=[1.0, 2.0]), dict(beta=1.0, method="vib"),
                   dict(beta=1.0, n_clusters=0),
                   dict(beta=1.0, tol=0.0), dict(beta=1.0, max_iter=0), dict(beta=1.0, init=np.ones((5, 2))),
                   dict(beta=1.0, n_clusters=2, init=np.full((5, 2), 0.6)), dict(beta=1.0, init="uniform"),
                   dict(beta=1.0, tol=1.0), dict(beta=1.0, seed=0.5), dict(beta=1.0, accelerate="yes")):
        with pytest.raises(ValueError):
            ib.solve(toy_joint, **kwargs)


@pytest.mark.parametrize("pxy, message", [
    (np.array([[0.4, 0.1], [0.1, 0.4]], dtype=complex), "complex"),
    ([["0.5", "0"], ["0", "0.5"]], "numbers"),
    (None, "None"),
    (np.full((2, 2), 0.25, dtype=np.float32) * np.float32(1 + 3e-7), "float64"),  # the advice names the fix
])
def test_joints_that_are_not_real_probabilities_are_refused(pxy, message):
    with pytest.raises(ValueError, match=message):
        ib.solve(pxy, 2.0)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_acceleration_reaches_the_plain_fixed_point_in_fewer_iterations(method, toy_joint):
    pxy = toy_joint
    beta = ib.ib_first_transition(pxy) * 1.1  # just above the first split: plain iteration is slow
    plain = ib.solve(pxy, beta, method=method, seed=3, tol=1e-12, accelerate=False)
    fast = ib.solve(pxy, beta, method=method, seed=3, tol=1e-12)
    assert plain.converged and fast.converged
    # Coincident clusters may share their mass differently; E[p(y|x_hat) | x] does not depend on that.
    np.testing.assert_allclose(fast.encoder @ fast.decoder, plain.encoder @ plain.decoder, atol=1e-9)
    for name in ("ixt", "ity", "objective"):
        assert getattr(fast, name) == pytest.approx(getattr(plain, name), abs=1e-10)
    assert fast.n_iter < plain.n_iter / 3


def test_default_solve_is_the_same_at_every_call(embo_joint):
    pxy = embo_joint(6, 4, np.random.default_rng(0))
    first, second = ib.solve(pxy, 50.0), ib.solve(pxy, 50.0)
    np.testing.assert_array_equal(first.encoder, second.encoder)
    np.testing.assert_array_equal(first.encoder, ib.solve(pxy, 50.0, seed=0).encoder)


def test_solve_reports_its_residual():
    pxy = ib.toy_problem().joint()
    with pytest.warns(RuntimeWarning, match=r"did not converge to tol=1e-10 within max_iter=4 .* beta 44\.6"):
        capped = ib.solve(pxy, 44.6, max_iter=4)
    assert not capped.converged and capped.residual >= 1e-10 and capped.n_iter == 4
    solved = ib.solve(pxy, 44.6)
    assert solved.converged and solved.residual < 1e-10


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_a_stopped_solve_is_provably_above_its_ceiling(method, embo_joint, lagrangian_bits):
    # The ceiling stops an item once its free energy (a lower bound of the current point's Lagrangian)
    # is above it: the returned, unconverged point's Lagrangian is then above the ceiling too.
    pxy = embo_joint(12, 3, np.random.default_rng(7), method)
    channel, px, _ = make_channel(pxy, method)
    betas = np.array([3.0, 30.0])
    start = np.repeat(initial_log_encoder(12, 12, seed=0)[None], 2, axis=0)
    free, free_iterations, done, _, stopped_items = iterate(channel, px, betas, start, 1e-10, 10_000)
    assert done.all() and not stopped_items.any()
    optimum = np.array([lagrangian_bits(pxy, np.exp(free[k]), betas[k], method) for k in range(2)])
    ceiling = np.array([optimum[0] - 1e-3, optimum[1] + 1.0])  # below the first one's fixed point only
    stopped, iterations, done, residual, stopped_items = iterate(channel, px, betas, start, 1e-10, 10_000,
                                                                 ceiling=ceiling * np.log(2))
    assert stopped_items.tolist() == [True, False]
    assert not done[0] and residual[0] >= 1e-10 and iterations[0] < free_iterations[0]
    assert lagrangian_bits(pxy, np.exp(stopped[0]), betas[0], method) > ceiling[0]
    assert done[1] and iterations[1] == free_iterations[1]  # never above its ceiling: solved as without one
    np.testing.assert_array_equal(stopped[1], free[1])


def test_sizes_and_betas_beyond_what_float64_and_memory_hold_are_refused():
    pxy = np.eye(4) / 4
    for bad in (1e306, [1.0, 1e101]):
        with pytest.raises(ValueError, match=r"must be at most 1e\+100, got 1e\+(306|101): beyond it beta times a distortion can overflow"):
            ib.solve(pxy, bad) if np.ndim(bad) == 0 else ib.curve(pxy, bad)
    hard = ib.solve(pxy, ib.solver.MAX_BETA)  # the largest accepted beta gives the hard encoder, finite
    assert np.isfinite(hard.objective) and np.allclose(np.sort(hard.encoder, axis=1)[:, -1], 1.0)
    with pytest.raises(ValueError, match=r"n_clusters must be at most \|X\| \+ 1 = 5, got 6: .*Witsenhausen"):
        ib.solve(pxy, 3.0, n_clusters=6)
    with pytest.raises(ValueError, match="n_clusters must be at most"):
        ib.curve(pxy, [1.0, 3.0], n_clusters=10**6)
    assert ib.solve(pxy, 3.0, n_clusters=5).encoder.shape == (4, 5)
    with pytest.raises(ValueError, match="max_iter must be at most 1e\\+12"):
        ib.solve(pxy, 2.0, max_iter=2**63)
    with pytest.raises(ValueError, match="relabel sparse ones with np.unique"):
        ib.joint_from_labels(np.array([0, 10**9]))
    with pytest.raises(ValueError, match=r"unknown options \['method'\].*vdualib.ib.curve\(pxy, betas, method=...\)"):
        ib.curve_exponential_family(ib.toy_problem(), [1.0], method="dualib")
