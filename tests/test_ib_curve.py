"""vdualib.ib.curve returns, reproducibly, at every beta the best of the solutions it compares.

Random joints are sampled as embo's tests sample them: p(x) ~ Dirichlet(1000), p(y|x) ~
Dirichlet(0.1) (nearly deterministic, often with zeros). The dualIB needs p(y|x) > 0, so its
joints mix p(y|x) with 0.1% of the uniform distribution.
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from vdualib import ib
from vdualib.ib.critical import effective_cardinalities

REFERENCE = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "results", "ib", "benchmark_ib_reference.json")

SHAPES = [(4, 3), (8, 3), (6, 4), (12, 2)]
BETAS = np.geomspace(1e-2, 1e3, 30)


def embo_joint(n_x, n_y, rng, method="ib"):
    """p(x, y) [n_x, n_y] with p(x) ~ Dirichlet(1000) and p(y|x) ~ Dirichlet(0.1) (smoothed for the dualIB)."""
    px = rng.dirichlet(np.full(n_x, 1000.0))
    py_x = rng.dirichlet(np.full(n_y, 0.1), size=n_x)
    if method == "dualib":
        py_x = 0.999 * py_x + 0.001 / n_y
    pxy = px[:, None] * py_x
    return pxy / pxy.sum()


def reverse_annealed(pxy, betas, method, seed):
    """Objectives [B] of plain annealing from the highest beta down: each beta's ``solve`` starts
    from the previous beta's encoder (no merging, no prediction), the first from the seeded start."""
    objectives, encoder = np.zeros(betas.size), None
    for k in np.argsort(betas)[::-1]:
        solution = ib.solve(pxy, betas[k], method=method, init=encoder, seed=seed, max_iter=10_000)
        objectives[k], encoder = solution.objective, solution.encoder
    return objectives


def at_most(values, reference, rel=1e-9):
    """Whether ``values <= reference`` up to a relative 1e-9 (the solutions converge to 1e-10)."""
    return values <= reference + rel * np.maximum(1.0, np.abs(reference))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: f"{shape[0]}x{shape[1]}")
def test_curve_is_no_worse_than_reverse_annealing_or_a_single_solve(shape):
    rng = np.random.default_rng(sum(shape))
    for method in ("ib", "dualib"):
        for seed in (None, 1, 2):  # None: the curve's and solve's default seed
            pxy = embo_joint(*shape, rng, method)
            settings = {} if seed is None else {"seed": seed}
            result = ib.curve(pxy, BETAS, method=method, **settings)
            reference = reverse_annealed(pxy, BETAS, method, seed=settings.get("seed", 0))
            single = np.array([ib.solve(pxy, beta, method=method, max_iter=10_000, **settings).objective
                               for beta in BETAS])
            context = (method, seed)
            assert np.all(at_most(result.objective, reference)), (context, BETAS[~at_most(result.objective, reference)])
            assert np.all(at_most(result.objective, single)), (context, BETAS[~at_most(result.objective, single)])
            assert result.converged.all()


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_best_is_the_lowest_lagrangian_of_the_runs_it_compares(method):
    pxy = embo_joint(8, 3, np.random.default_rng(5), method)  # on its IB, down and up both win somewhere
    runs = {direction: ib.curve(pxy, BETAS, method=method, direction=direction) for direction in ("down", "up")}
    runs["solve"] = ib.curve(pxy, BETAS, method=method, direction="down", chains=BETAS.size, merge_tol=None)
    best = ib.curve(pxy, BETAS, method=method)
    lowest = np.min([run.objective for run in runs.values()], axis=0)
    # The two sweeps run as one batch inside "best" (and "both"): alone they agree with it to rounding.
    np.testing.assert_allclose(best.objective, lowest, rtol=0, atol=1e-12)
    both = ib.curve(pxy, BETAS, method=method, direction="both")
    np.testing.assert_array_equal(best.objective, np.minimum(both.objective, runs["solve"].objective))
    for k, origin in enumerate(best.origin):
        same_run = runs["solve"] if origin == "solve" else both
        assert origin == "solve" or both.origin[k] == origin
        assert best.objective[k] == same_run.objective[k]
        np.testing.assert_array_equal(best.encoders[k], same_run.encoders[k])
        assert best.ity[k] == same_run.ity[k] and best.converged[k] == same_run.converged[k]
        assert abs(best.objective[k] - runs[origin].objective[k]) < 1e-12
    # Map evaluations are counted once per beta: the fresh solves also start (and guide) the sweeps.
    np.testing.assert_array_equal(best.n_iter, both.n_iter)
    assert np.all(best.n_iter > runs["solve"].n_iter)
    # The Lagrangian in bits: I(X; X_hat) + beta E[d]; for the IB, E[d] = I(X; Y) - I(X_hat; Y).
    np.testing.assert_allclose(best.objective, best.ixt + BETAS * best.distortion, rtol=1e-12)
    if method == "ib":
        np.testing.assert_allclose(best.distortion, best.ixy - best.ity, atol=1e-9)
    # With stride > 1 the single solves still run at every beta.
    strided = ib.curve(pxy, BETAS, method=method, stride=4)
    assert np.all(strided.objective <= runs["solve"].objective)
    if method == "ib":  # each annealing direction is strictly best somewhere: neither could be dropped
        for name in ("down", "up"):
            others = np.min([run.objective for other, run in runs.items() if other != name], axis=0)
            assert np.max(others - runs[name].objective) > 1e-2, name


def test_curve_starts_at_the_origin_and_reaches_the_mutual_information():
    # embo's own tests of its bound: (0, 0) for small beta, I(X; Y) for large beta. At a finite
    # beta the best solution may still merge two x with nearly equal p(y|x): its Lagrangian is at
    # most that of the identity encoder, H(X), so I(X; Y) - I(X_hat; Y) <= H(X) / beta.
    betas = np.geomspace(1e-4, 1e5, 60)
    rng = np.random.default_rng(12)
    for method, shape in [("ib", (4, 3))] * 5 + [("ib", (8, 3)), ("dualib", (4, 3)), ("dualib", (8, 3))]:
        pxy = embo_joint(*shape, rng, method)
        result = ib.curve(pxy, betas, method=method)
        np.testing.assert_allclose((result.ixt[0], result.ity[0]), (0.0, 0.0), atol=1e-6)
        ixy = ib.mutual_information_bits(pxy)
        assert ixy - result.hx / betas[-1] <= result.ity[-1] <= ixy + 1e-9


REPRODUCE = """
import hashlib, sys
import numpy as np
from vdualib import ib
rng = np.random.default_rng(3)
digest = hashlib.sha256()
for method in ("ib", "dualib"):
    for _ in range(2):
        px = rng.dirichlet(np.full(4, 1000.0))
        py_x = 0.99 * rng.dirichlet(np.full(3, 0.1), size=4) + 0.01 / 3
        pxy = px[:, None] * py_x
        result = ib.curve(pxy / pxy.sum(), np.geomspace(1e-4, 1e5, 60), method=method)
        for array in (result.ixt, result.ity, result.objective, result.encoders):
            digest.update(np.ascontiguousarray(array).tobytes())
print(digest.hexdigest())
"""


def test_default_curve_is_the_same_in_every_process():
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    digests = [subprocess.run([sys.executable, "-c", REPRODUCE], capture_output=True, text=True, check=True,
                              env=env).stdout.strip() for _ in range(2)]
    assert len(digests[0]) == 64 and digests[0] == digests[1]
    # ... and the same as in this process.
    captured = {}
    exec(REPRODUCE.replace("print(digest.hexdigest())", "captured['digest'] = digest.hexdigest()"),
         {"captured": captured})
    assert captured["digest"] == digests[0]


def test_default_solve_is_the_same_at_every_call():
    pxy = embo_joint(6, 4, np.random.default_rng(0))
    first, second = ib.solve(pxy, 50.0), ib.solve(pxy, 50.0)
    np.testing.assert_array_equal(first.encoder, second.encoder)
    np.testing.assert_array_equal(first.encoder, ib.solve(pxy, 50.0, seed=0).encoder)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tol=float("inf")), "tol"),
    (dict(perturbation=float("inf")), "perturbation"),
    (dict(max_iter=float("nan")), "max_iter"),
    (dict(max_iter=float("inf")), "max_iter"),
    (dict(n_clusters=float("inf")), "n_clusters"),
    (dict(chains=float("inf")), "chains"),
])
def test_bad_settings_are_refused_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ib.curve(ib.toy_problem().joint(), [1.0, 2.0, 3.0], **kwargs)


def test_unconverged_betas_are_named_with_their_residuals():
    pxy, betas = ib.toy_problem().joint(), np.geomspace(2, 64, 40)
    with pytest.warns(RuntimeWarning, match="did not converge") as record:
        capped = ib.curve(pxy, betas, max_iter=10)
    assert 0 < (~capped.converged).sum() < betas.size  # some betas converge within 10 evaluations
    named = capped.unconverged
    np.testing.assert_array_equal([beta for beta, _ in named], capped.betas[~capped.converged])
    np.testing.assert_array_equal([residual for _, residual in named], capped.residual[~capped.converged])
    assert all(residual >= capped.tol for _, residual in named)
    assert np.all(capped.residual[capped.converged] < capped.tol)
    message = str(record[0].message)
    assert f"{len(named)} of {betas.size} betas" in message and f"{named[0][0]:.6g}" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = ib.curve(pxy, betas)
    assert full.unconverged == [] and full.converged.all() and full.tol == 1e-10
    assert np.all(full.residual < full.tol)
    assert np.all(full.objective <= capped.objective + 1e-9)  # more iterations never end higher here


def test_solve_reports_its_residual():
    pxy = ib.toy_problem().joint()
    capped = ib.solve(pxy, 44.6, max_iter=4)
    assert not capped.converged and capped.residual >= 1e-10 and capped.n_iter == 4
    solved = ib.solve(pxy, 44.6)
    assert solved.converged and solved.residual < 1e-10


def test_batched_effective_cardinalities_match_one_at_a_time():
    pxy = embo_joint(8, 3, np.random.default_rng(4))
    result = ib.curve(pxy, BETAS)
    px = pxy.sum(axis=1)
    expected = [ib.effective_cardinality(encoder, px) for encoder in result.encoders]
    np.testing.assert_array_equal(effective_cardinalities(result.encoders, px), expected)
    np.testing.assert_array_equal(result.n_clusters_effective, expected)
    assert len(set(expected)) > 2  # the sweep crosses several transitions
    with pytest.raises(ValueError, match="encoders"):
        effective_cardinalities(result.encoders[0], px)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_toy_curve_is_no_higher_than_the_previous_default(method):
    # The benchmark's toy problem against the default curve of the code before batching (stored by
    # scripts/benchmark_ib.py --reference): no beta may have a higher Lagrangian (1e-9 bits of slack).
    with open(REFERENCE, encoding="utf-8") as file:
        reference = json.load(file)
    settings = reference["settings"]
    problem = reference["problems"]["toy 5x2, 1000 betas"]
    betas = np.geomspace(problem["beta_min"], problem["beta_max"], problem["n_betas"])
    result = ib.curve(ib.toy_problem().joint(), betas, method=method, tol=settings["tol"],
                      max_iter=settings["max_iter"])
    previous = np.array(problem[method]["objective"])
    assert previous.shape == betas.shape
    assert np.all(result.objective <= previous + 1e-9), betas[result.objective > previous + 1e-9]
    assert result.converged.all()
    # The slowest betas (near transitions) are fixed points of the equations to the tolerance.
    for k in np.argsort(result.n_iter)[-5:]:
        change = np.abs(one_application(ib.toy_problem().joint(), result.encoders[k], betas[k], method)
                        - result.encoders[k]).max()
        assert change < settings["tol"], (betas[k], change)


def one_application(pxy, encoder, beta, method):
    """The IB or dualIB self-consistent equations applied once to an encoder [|X|, N] (written independently
    of the solver): p(x_hat|x) proportional to p(x_hat) exp(-beta d(x, x_hat)), empty clusters staying empty."""
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    marginal = px @ encoder
    alive = marginal > 0
    inverse = (encoder[:, alive] * px[:, None] / marginal[alive]).T
    if method == "ib":
        decoder = inverse @ py_x
        with np.errstate(divide="ignore"):
            log_ratio = np.where(py_x[:, None, :] > 0, np.log(py_x[:, None, :]) - np.log(decoder[None]), 0.0)
        distortion = (py_x[:, None, :] * log_ratio).sum(axis=2)
    else:
        log_decoder = inverse @ np.log(py_x)
        log_decoder -= np.log(np.exp(log_decoder).sum(axis=1, keepdims=True))
        distortion = (np.exp(log_decoder)[None] * (log_decoder[None] - np.log(py_x)[:, None, :])).sum(axis=2)
    logits = np.log(marginal[alive]) - beta * distortion
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    new = np.zeros_like(encoder)
    new[:, alive] = weights / weights.sum(axis=1, keepdims=True)
    return new


def lagrangian_bits(pxy, encoder, beta, method):
    """I(X; X_hat) + beta E[d] in bits of an encoder [|X|, N], written independently of the solver."""
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    marginal = px @ encoder
    alive = marginal > 0
    encoder = encoder[:, alive]
    inverse = (encoder * px[:, None] / marginal[alive]).T
    if method == "ib":
        decoder = inverse @ py_x
        distortion = (py_x[:, None, :] * (np.log(py_x)[:, None, :] - np.log(decoder)[None])).sum(axis=2)
    else:
        log_decoder = inverse @ np.log(py_x)
        log_decoder -= np.log(np.exp(log_decoder).sum(axis=1, keepdims=True))
        distortion = (np.exp(log_decoder)[None] * (log_decoder[None] - np.log(py_x)[:, None, :])).sum(axis=2)
    weight = px[:, None] * encoder
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(weight > 0, weight * np.log(encoder / marginal[alive]), 0.0).sum()
    return (rate + beta * (weight * distortion).sum()) / np.log(2.0)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_a_stopped_solve_is_provably_above_its_ceiling(method):
    # The ceiling stops an item once its free energy (a lower bound of the current point's Lagrangian)
    # is above it: the returned, unconverged point's Lagrangian is then above the ceiling too.
    from vdualib.ib.solver import initial_log_encoder, iterate, make_channel

    pxy = embo_joint(12, 3, np.random.default_rng(7), method)
    channel, px, _ = make_channel(pxy, method)
    betas = np.array([3.0, 30.0])
    start = np.repeat(initial_log_encoder(12, 12, seed=0)[None], 2, axis=0)
    free, free_iterations, done, _ = iterate(channel, px, betas, start, 1e-10, 10_000)
    assert done.all()
    optimum = np.array([lagrangian_bits(pxy, np.exp(free[k]), betas[k], method) for k in range(2)])
    ceiling = np.array([optimum[0] - 1e-3, optimum[1] + 1.0])  # below the first one's fixed point only
    stopped, iterations, done, residual = iterate(channel, px, betas, start, 1e-10, 10_000, ceiling=ceiling * np.log(2))
    assert not done[0] and residual[0] >= 1e-10 and iterations[0] < free_iterations[0]
    assert lagrangian_bits(pxy, np.exp(stopped[0]), betas[0], method) > ceiling[0]
    assert done[1] and iterations[1] == free_iterations[1]  # never above its ceiling: solved as without one
    np.testing.assert_array_equal(stopped[1], free[1])


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_large_problems_return_the_down_run_or_a_better_finished_run(method):
    # |X| N = 4096: the down run goes first, the fresh solves and the up run stop once provably above it.
    pxy = embo_joint(64, 4, np.random.default_rng(11), method)
    betas = np.geomspace(0.5, 50, 12)
    best = ib.curve(pxy, betas, method=method, tol=1e-8)
    down = ib.curve(pxy, betas, method=method, tol=1e-8, direction="down")
    fresh = ib.curve(pxy, betas, method=method, tol=1e-8, direction="down", chains=betas.size, merge_tol=None)
    assert np.all(best.objective <= down.objective) and best.converged.all()
    assert set(best.origin) <= {"down", "up", "solve"}
    kept = best.origin == "down"
    np.testing.assert_array_equal(best.encoders[kept], down.encoders[kept])
    # A fresh solve that was not stopped is the single solve itself.
    solved = best.origin == "solve"
    np.testing.assert_allclose(best.objective[solved], fresh.objective[solved], rtol=0, atol=1e-12)
    # Stopped runs cost less than the full ones.
    assert best.n_iter.sum() < down.n_iter.sum() + fresh.n_iter.sum()


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_summaries_padded_after_the_fact_match_the_padded_summaries(method):
    # Solutions of several widths are summarised at their own width and padded afterwards: the same
    # arrays as summarising the padded encoders (empty clusters: decoder 0 for the IB, uniform for the dualIB).
    from vdualib.ib.solver import make_channel, summarize

    pxy = embo_joint(8, 3, np.random.default_rng(4), method)
    result = ib.curve(pxy, BETAS, method=method)
    assert len(set(result.n_clusters_effective)) > 2
    channel, px, py_x = make_channel(pxy, method)
    with np.errstate(divide="ignore"):
        padded = summarize(channel, px, py_x, BETAS, np.log(result.encoders))
    for key, value in (("encoders", "encoder"), ("decoders", "decoder"), ("marginals", "marginal"), ("ixt", "ixt"),
                       ("ity", "ity"), ("objective", "objective")):
        np.testing.assert_allclose(getattr(result, key), padded[value], rtol=0, atol=1e-12, err_msg=key)
