"""Tests of the analytical IB / dualIB solvers (vdualib.ib)."""

import numpy as np
import pytest

from vdualib import ib

LOG2 = np.log(2.0)


def toy_joint():
    """The dualIB paper's toy problem: x in linspace(-1, 0.6, 5), y in {-1, 1}, p(y|x) ∝ exp(-y x)."""
    x, y = np.linspace(-1, 0.6, 5), np.array([-1.0, 1.0])
    py_x = np.exp(-np.outer(x, y))
    py_x /= py_x.sum(axis=1, keepdims=True)
    return py_x / 5


def random_joint(n_x=8, n_y=3, seed=0):
    rng = np.random.default_rng(seed)
    pxy = rng.dirichlet(np.ones(n_x * n_y)).reshape(n_x, n_y)
    return pxy


def encoder_from_equations(pxy, encoder, beta, method):
    """One application of the self-consistent equations, written as plain loops over x, x_hat, y."""
    n_x, n_y = pxy.shape
    n_t = encoder.shape[1]
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    marginal = np.array([sum(px[x] * encoder[x, t] for x in range(n_x)) for t in range(n_t)])
    new = np.zeros_like(encoder)
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
            new[x, t] = marginal[t] * np.exp(-beta * d)
    return new / new.sum(axis=1, keepdims=True), marginal


@pytest.mark.parametrize("method", ["ib", "dualib"])
@pytest.mark.parametrize("beta", [2.0, 8.0, 25.0, 300.0])
def test_self_consistency_at_returned_solution(method, beta):
    pxy = toy_joint()
    solution = ib.solve(pxy, beta, method=method, seed=1)
    assert solution.converged
    recomputed, marginal = encoder_from_equations(pxy, solution.encoder, beta, method)
    np.testing.assert_allclose(recomputed, solution.encoder, atol=1e-8, rtol=0)
    np.testing.assert_allclose(marginal, solution.marginal, atol=1e-12)
    np.testing.assert_allclose(solution.encoder.sum(axis=1), 1.0, atol=1e-12)


def test_self_consistency_random_problem_few_clusters():
    pxy = random_joint(10, 4, seed=3)
    for method in ("ib", "dualib"):
        solution = ib.solve(pxy, 6.0, method=method, n_clusters=3, seed=2)
        assert solution.encoder.shape == (10, 3) and solution.decoder.shape == (3, 4)
        recomputed, _ = encoder_from_equations(pxy, solution.encoder, 6.0, method)
        np.testing.assert_allclose(recomputed, solution.encoder, atol=1e-8, rtol=0)


def test_information_values_match_direct_formulas():
    pxy = random_joint(6, 3, seed=5)
    solution = ib.solve(pxy, 5.0, seed=0)
    px = pxy.sum(axis=1)
    joint_xt = solution.encoder * px[:, None]
    ixt = sum(
        joint_xt[x, t] * np.log2(solution.encoder[x, t] / solution.marginal[t])
        for x in range(6) for t in range(6) if joint_xt[x, t] > 0
    )
    joint_ty = solution.encoder.T @ pxy
    pt, py = joint_ty.sum(axis=1), joint_ty.sum(axis=0)
    ity = sum(
        joint_ty[t, y] * np.log2(joint_ty[t, y] / (pt[t] * py[y]))
        for t in range(6) for y in range(3) if joint_ty[t, y] > 0
    )
    assert solution.ixt == pytest.approx(ixt, abs=1e-10)
    assert solution.ity == pytest.approx(ity, abs=1e-10)
    assert solution.objective == pytest.approx(solution.ixt + 5.0 * solution.distortion, abs=1e-12)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_information_bounds_along_curve(method):
    pxy = random_joint(8, 3, seed=7)
    result = ib.curve(pxy, np.geomspace(0.5, 500, 25), method=method, seed=0, max_iter=2_000)
    hx = -np.sum(pxy.sum(axis=1) * np.log2(pxy.sum(axis=1)))
    assert result.hx == pytest.approx(hx)
    assert np.all(result.ixt <= hx + 1e-9)
    assert np.all(result.ity <= result.ixy + 1e-9)
    assert np.all(result.ity <= result.ixt + 1e-9)  # data processing: X_hat - X - Y


def test_ib_curve_is_monotone_and_concave():
    result = ib.curve(toy_joint(), 2 ** np.linspace(6, 1, 50), seed=0, max_iter=20_000)
    order = np.argsort(result.betas)
    ixt, ity = result.ixt[order], result.ity[order]
    assert np.all(np.diff(ixt) >= -1e-9) and np.all(np.diff(ity) >= -1e-9)
    moving = np.flatnonzero(np.diff(ixt) > 1e-4)
    slopes = np.diff(ity)[moving] / np.diff(ixt)[moving]
    assert np.all(np.diff(slopes) <= 1e-6), "I(X_hat;Y) against I(X;X_hat) must be concave"
    # The IB curve's slope dI_Y/dI_X is 1/beta: chords lie between 1/beta_high and 1/beta_low.
    betas = result.betas[order]
    assert np.all(slopes >= 1 / betas[moving + 1] - 1e-3) and np.all(slopes <= 1 / betas[moving] + 1e-3)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_small_beta_gives_one_cluster(method):
    pxy = toy_joint()
    solution = ib.solve(pxy, 0.05, method=method, seed=0)
    assert solution.ixt < 1e-8 and solution.ity < 1e-8
    assert ib.effective_cardinality(solution.encoder, pxy.sum(axis=1)) == 1


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_large_beta_keeps_all_information(method):
    pxy = toy_joint()
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


def test_joint_from_labels_values():
    pxy = ib.joint_from_labels(np.array([1, 0]), n_classes=3, label_noise=0.3)
    np.testing.assert_allclose(pxy, [[0.05, 0.4, 0.05], [0.4, 0.05, 0.05]])
    for bad in (dict(labels=np.array([0.5, 1.0])), dict(labels=np.array([0, 3]), n_classes=2),
                dict(labels=np.array([0, 1]), label_noise=1.5), dict(labels=np.array([0, 1]), px=[0.2, 0.2])):
        with pytest.raises(ValueError):
            ib.joint_from_labels(**bad)


@pytest.mark.parametrize(
    "pxy, message",
    [
        (np.array([[0.6, -0.1], [0.3, 0.2]]), "negative"),
        (np.array([[0.3, 0.3], [0.3, 0.3]]), "sums to"),
        (np.array([[np.nan, 0.5], [0.25, 0.25]]), "NaN"),
        (np.array([[0.5, 0.5], [0.0, 0.0]]), "all-zero rows"),
        (np.array([0.5, 0.5]), "2-D"),
    ],
)
def test_invalid_joint_raises(pxy, message):
    with pytest.raises(ValueError, match=message):
        ib.solve(pxy, 1.0)
    with pytest.raises(ValueError, match=message):
        ib.curve(pxy, [1.0, 2.0])


def test_invalid_settings_raise():
    pxy = toy_joint()
    for kwargs in (dict(beta=-1.0), dict(beta=np.inf), dict(beta=[1.0, 2.0]), dict(beta=1.0, method="vib"),
                   dict(beta=1.0, n_clusters=0),
                   dict(beta=1.0, tol=0.0), dict(beta=1.0, max_iter=0), dict(beta=1.0, init=np.ones((5, 2))),
                   dict(beta=1.0, n_clusters=2, init=np.full((5, 2), 0.6))):
        with pytest.raises(ValueError):
            ib.solve(pxy, **kwargs)
    for kwargs in (dict(direction="sideways"), dict(chains=0), dict(chains=5), dict(perturbation=-1.0)):
        with pytest.raises(ValueError):
            ib.curve(pxy, [1.0, 2.0, 3.0], **kwargs)


def test_maximal_correlation_closed_form():
    # Binary symmetric channel with uniform input: rho = |1 - 2 eps|.
    eps = 0.2
    pxy = 0.5 * np.array([[1 - eps, eps], [eps, 1 - eps]])
    assert ib.maximal_correlation(pxy) == pytest.approx(1 - 2 * eps)
    assert ib.ib_first_transition(pxy) == pytest.approx(1 / (1 - 2 * eps) ** 2)
    assert ib.ib_first_transition(np.full((2, 2), 0.25)) == np.inf


def first_transition(pxy, betas, direction):
    critical = ib.critical_betas(ib.curve(pxy, betas, direction=direction, tol=1e-8, seed=0, max_iter=20_000))
    assert critical.clusters_below[0] == 1 and critical.clusters_above[0] >= 2
    return critical.lower[0], critical.upper[0]


@pytest.mark.parametrize("direction", ["up", "down"])
def test_first_ib_transition_is_one_over_rho_squared_on_the_toy(direction):
    pxy = toy_joint()
    beta0 = ib.ib_first_transition(pxy)
    lower, upper = first_transition(pxy, beta0 * (1 + 0.01 * (np.arange(-6, 6) + 0.5)), direction)
    assert lower <= beta0 <= upper


def test_one_cluster_becomes_unstable_at_one_over_rho_squared():
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


def test_dualib_first_transition_comes_earlier_on_the_toy():
    pxy = toy_joint()
    betas = 2 ** np.linspace(3, 1, 60)
    ib_first = ib.critical_betas(ib.curve(pxy, betas, seed=0)).first
    dual_first = ib.critical_betas(ib.curve(pxy, betas, method="dualib", seed=0)).first
    assert ib_first == pytest.approx(ib.ib_first_transition(pxy), rel=0.01)
    assert dual_first < 0.9 * ib_first


def test_critical_betas_reports_brackets():
    result = ib.curve(toy_joint(), 2 ** np.linspace(6, 1, 80), seed=0, max_iter=5_000)
    critical = ib.critical_betas(result)
    assert np.all(np.diff(critical.betas) > 0)
    assert np.all((critical.lower < critical.betas) & (critical.betas < critical.upper))
    assert np.all(critical.clusters_above > critical.clusters_below)  # clusters only split as beta grows


def test_curve_directions_and_chains_agree_away_from_transitions():
    pxy = toy_joint()
    betas = 2 ** np.linspace(6, 1, 30)
    settings = dict(seed=0, max_iter=5_000)
    down = ib.curve(pxy, betas, direction="down", **settings)
    up = ib.curve(pxy, betas, direction="up", **settings)
    both = ib.curve(pxy, betas, direction="both", **settings)
    chained = ib.curve(pxy, betas, direction="down", chains=6, **settings)
    assert np.all(both.objective <= np.minimum(down.objective, up.objective) + 1e-12)
    np.testing.assert_allclose(chained.ity, down.ity, atol=1e-5)
    beta0 = ib.ib_first_transition(pxy)
    np.testing.assert_allclose(up.ity[betas < 0.9 * beta0], 0.0, atol=1e-9)
    # Annealing up leaves the one-cluster solution but can lag later splits (hysteresis).
    assert np.all(up.ixt[betas > 1.1 * beta0] > 1e-3)
    assert np.all(up.ity <= down.ity + 1e-9)
    # results come back in the order of the betas passed
    assert np.all(np.diff(down.ixt) <= 1e-9)


def test_toy_problem_matches_its_definition():
    np.testing.assert_allclose(ib.toy_problem().joint(), toy_joint(), atol=1e-15)


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


def test_prediction_measures_against_loops():
    pxy = random_joint(5, 3, seed=2)
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    for method in ("ib", "dualib"):
        solution = ib.solve(pxy, 4.0, method=method, n_clusters=3, seed=0)
        measures = ib.prediction_measures(pxy, solution)
        enc, dec = solution.encoder, solution.decoder
        pairs = [(x, t) for x in range(5) for t in range(3)]
        forward = sum(px[x] * enc[x, t] * np.sum(py_x[x] * np.log2(py_x[x] / dec[t])) for x, t in pairs)
        backward = sum(px[x] * enc[x, t] * np.sum(dec[t] * np.log2(dec[t] / py_x[x])) for x, t in pairs)
        accuracy = sum(px[x] * enc[x, t] * py_x[x, np.argmax(dec[t])] for x, t in pairs)
        assert measures["ib_distortion"] == pytest.approx(forward, abs=1e-12)
        assert measures["dual_distortion"] == pytest.approx(backward, abs=1e-12)
        assert measures["accuracy"] == pytest.approx(accuracy, abs=1e-12)
        own = measures["ib_distortion" if method == "ib" else "dual_distortion"]
        assert own == pytest.approx(solution.distortion, abs=1e-10)
    result = ib.curve(pxy, [0.1, 1e3], seed=0)
    curve_measures = ib.prediction_measures(pxy, result)
    assert curve_measures["accuracy"][1] == pytest.approx(np.sum(px * py_x.max(axis=1)), abs=1e-6)  # Bayes accuracy
    with pytest.raises(ValueError):
        ib.prediction_measures(random_joint(4, 3), solution)


def information_bits(pxy, encoder):
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


def test_coincident_groups_links_chains_and_keeps_order():
    from vdualib.ib.reduction import coincident_groups

    rows = np.array([[0.5, 0.5], [0.2, 0.8], [0.5 + 4e-7, 0.5 - 4e-7], [0.5 + 8e-7, 0.5 - 8e-7], [0.9, 0.1]])
    np.testing.assert_array_equal(coincident_groups(rows, 1e-6), [0, 1, 0, 0, 2])  # 0-2-3 linked as a chain
    np.testing.assert_array_equal(coincident_groups(rows, 1e-7), [0, 1, 2, 3, 4])
    many = np.repeat(np.random.default_rng(0).dirichlet(np.ones(16), size=150), 2, axis=0)  # pdist path
    labels = coincident_groups(many, 1e-9)
    assert labels.max() == 149 and np.all(labels[::2] == labels[1::2])


def test_batched_labels_and_twins_match_one_item_at_a_time():
    from vdualib.ib.reduction import coincident_groups, coincident_labels, duplicate_clusters

    rng = np.random.default_rng(3)
    rows = rng.dirichlet(np.ones(3), size=(6, 7))
    rows[:, 4] = rows[:, 1]  # coincident with row 1
    rows[:, 6] = rows[:, 0] * (1 - 1e-9) + 1e-9 / 3  # within 1e-6 of row 0
    alive = rng.random((6, 7)) > 0.25
    labels = coincident_labels(rows, alive, 1e-6)
    for item in range(6):
        np.testing.assert_array_equal(labels[item, alive[item]], coincident_groups(rows[item, alive[item]], 1e-6))
        assert np.all(labels[item, ~alive[item]] == -1)
    px = rng.dirichlet(np.ones(5))
    encoder = rng.dirichlet(np.ones(3), size=(2, 5))
    encoder[1, :, 2] = 0.0  # the second item has two live clusters
    encoder[1] /= encoder[1].sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        twinned, got_twins = duplicate_clusters(np.log(encoder), px, 4)
    assert twinned.shape == (2, 5, 4) and got_twins.tolist() == [True, True]
    np.testing.assert_allclose(np.exp(twinned).sum(axis=2), 1.0, atol=1e-12)
    for item, (n_live, n_twins) in enumerate([(3, 1), (2, 2)]):
        mass = px @ encoder[item][:, :n_live]
        heaviest = np.argsort(-mass)[:n_twins]
        twin_mass = px @ np.exp(twinned[item])
        np.testing.assert_allclose(twin_mass[n_live: n_live + n_twins], mass[heaviest] / 2, atol=1e-12)
        np.testing.assert_allclose(twin_mass[heaviest], mass[heaviest] / 2, atol=1e-12)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_merging_coincident_clusters_keeps_the_solution(method):
    from vdualib.ib.reduction import merge_clusters, pad_clusters

    pxy, beta = toy_joint(), 6.0
    solution = ib.solve(pxy, beta, method=method, seed=0, tol=1e-13, accelerate=False)
    px = pxy.sum(axis=1)
    n_distinct = ib.effective_cardinality(solution.encoder, px)
    assert 1 < n_distinct < 5  # some of the 5 clusters coincide
    log_encoder, _ = merge_clusters(solution.encoder[None], solution.decoder[None], px, 1e-6, 1e-12)
    assert log_encoder.shape[2] == n_distinct
    merged = np.exp(pad_clusters(log_encoder, 5)[0])
    recomputed, _ = encoder_from_equations(pxy, merged, beta, method)
    np.testing.assert_allclose(recomputed, merged, atol=1e-8, rtol=0)
    np.testing.assert_allclose(information_bits(pxy, merged), (solution.ixt, solution.ity), atol=1e-9)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_acceleration_reaches_the_plain_fixed_point_in_fewer_iterations(method):
    pxy = toy_joint()
    beta = ib.ib_first_transition(pxy) * 1.1  # just above the first split: plain iteration is slow
    plain = ib.solve(pxy, beta, method=method, seed=3, tol=1e-12, accelerate=False)
    fast = ib.solve(pxy, beta, method=method, seed=3, tol=1e-12)
    assert plain.converged and fast.converged
    # Coincident clusters may share their mass differently; E[p(y|x_hat) | x] does not depend on that.
    np.testing.assert_allclose(fast.encoder @ fast.decoder, plain.encoder @ plain.decoder, atol=1e-9)
    for name in ("ixt", "ity", "objective"):
        assert getattr(fast, name) == pytest.approx(getattr(plain, name), abs=1e-10)
    assert fast.n_iter < plain.n_iter / 3


@pytest.mark.parametrize("direction", ["down", "up"])
@pytest.mark.parametrize("name", ["toy", "random"])
def test_reduced_sweep_matches_the_full_sweep(direction, name):
    # (On rugged problems the two sweeps can end in different local optima; these two do not.)
    pxy, betas = (toy_joint(), 2 ** np.linspace(6, 1, 40)) if name == "toy" else (random_joint(12, 3, seed=1),
                                                                               np.geomspace(0.5, 200, 30))
    settings = dict(direction=direction, seed=0, tol=1e-11, max_iter=20_000)
    full = ib.curve(pxy, betas, merge_tol=None, **settings)
    reduced = ib.curve(pxy, betas, **settings)
    n_x, n_y = pxy.shape
    assert reduced.encoders.shape == (betas.size, n_x, n_x) and reduced.decoders.shape == (betas.size, n_x, n_y)
    assert reduced.converged.all()
    if direction == "up" and name == "random":
        # Annealing up, the twins let clusters split where the full sweep may lag behind (hysteresis).
        assert np.all(reduced.objective <= full.objective + 1e-9)
    else:
        np.testing.assert_allclose(reduced.ixt, full.ixt, atol=1e-8)
        np.testing.assert_allclose(reduced.ity, full.ity, atol=1e-8)
        np.testing.assert_array_equal(reduced.n_clusters_effective, full.n_clusters_effective)
    for k in (3, 15, 27):
        recomputed, _ = encoder_from_equations(pxy, reduced.encoders[k], betas[k], "ib")
        np.testing.assert_allclose(recomputed, reduced.encoders[k], atol=1e-8, rtol=0)
    with pytest.raises(ValueError, match="merge_tol"):
        ib.curve(pxy, betas, merge_tol=0.0)


def test_batched_betas_are_solved_as_one_at_a_time():
    pxy, betas = random_joint(7, 3, seed=8), np.array([0.7, 3.0, 9.0, 40.0])
    # One run (direction="down"), each beta from the start encoder.
    batched = ib.curve(pxy, betas, direction="down", chains=betas.size, merge_tol=None, seed=5, tol=1e-10)
    for k, beta in enumerate(betas):
        alone = ib.solve(pxy, beta, seed=5, tol=1e-10, max_iter=10_000)
        assert batched.n_iter[k] == alone.n_iter and batched.converged[k] == alone.converged
        np.testing.assert_allclose(batched.encoders[k], alone.encoder, atol=1e-13)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_strided_sweep_matches_plain_annealing(method):
    pxy, betas = toy_joint(), 2 ** np.linspace(6, 1, 97)
    settings = dict(method=method, direction="down", seed=0, tol=1e-11, max_iter=20_000)
    plain = ib.curve(pxy, betas, **settings)
    strided = ib.curve(pxy, betas, stride=8, **settings)
    assert strided.converged.all()
    # The coarser anchor path may meet a first-order transition of the dualIB at another beta
    # (coexisting optima, objectives within 1e-4 bits); elsewhere the solutions are the same.
    assert np.all(strided.objective <= plain.objective + 1e-4)
    same = strided.n_clusters_effective == plain.n_clusters_effective
    assert same.mean() > 0.95
    np.testing.assert_allclose(strided.ixt[same], plain.ixt[same], atol=1e-6)
    np.testing.assert_allclose(strided.ity[same], plain.ity[same], atol=1e-6)
    for k in (1, 50, 95):  # betas between anchors
        recomputed, _ = encoder_from_equations(pxy, strided.encoders[k], betas[k], method)
        np.testing.assert_allclose(recomputed, strided.encoders[k], atol=1e-8, rtol=0)
    with pytest.raises(ValueError, match="stride"):
        ib.curve(pxy, betas, stride=0)
