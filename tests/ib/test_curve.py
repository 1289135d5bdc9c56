"""vdualib.ib.curve returns, reproducibly, at every beta the best of the solutions it compares, each a fixed
point of the equations; its sweeps (directions, chains, merging, strides, batches) agree with one another.

Random joints are sampled as embo's tests sample them (the ``embo_joint`` fixture of tests/ib/conftest.py).
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from vdualib import ib
from vdualib.ib.solver import make_channel, summarize

REFERENCE = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "scripts", "results", "ib",
                         "benchmark_ib_reference.json")

SHAPES = [(4, 3), (8, 3), (6, 4), (12, 2)]
BETAS = np.geomspace(1e-2, 1e3, 30)


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


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_information_bounds_along_curve(method, random_joint):
    pxy = random_joint(8, 3, seed=7)
    result = ib.curve(pxy, np.geomspace(0.5, 500, 25), method=method, seed=0, max_iter=2_000)
    hx = -np.sum(pxy.sum(axis=1) * np.log2(pxy.sum(axis=1)))
    assert result.hx == pytest.approx(hx)
    assert np.all(result.ixt <= hx + 1e-9)
    assert np.all(result.ity <= result.ixy + 1e-9)
    assert np.all(result.ity <= result.ixt + 1e-9)  # data processing: X_hat - X - Y


def test_ib_curve_is_monotone_and_concave(toy_joint):
    result = ib.curve(toy_joint, 2 ** np.linspace(6, 1, 50), seed=0, max_iter=20_000)
    order = np.argsort(result.betas)
    ixt, ity = result.ixt[order], result.ity[order]
    assert np.all(np.diff(ixt) >= -1e-9) and np.all(np.diff(ity) >= -1e-9)
    moving = np.flatnonzero(np.diff(ixt) > 1e-4)
    slopes = np.diff(ity)[moving] / np.diff(ixt)[moving]
    assert np.all(np.diff(slopes) <= 1e-6), "I(X_hat;Y) against I(X;X_hat) must be concave"
    # The IB curve's slope dI_Y/dI_X is 1/beta: chords lie between 1/beta_high and 1/beta_low.
    betas = result.betas[order]
    assert np.all(slopes >= 1 / betas[moving + 1] - 1e-3) and np.all(slopes <= 1 / betas[moving] + 1e-3)


def test_invalid_curve_settings_raise(toy_joint):
    for kwargs in (dict(direction="sideways"), dict(chains=0), dict(chains=5), dict(perturbation=-1.0)):
        with pytest.raises(ValueError):
            ib.curve(toy_joint, [1.0, 2.0, 3.0], **kwargs)


def test_curve_directions_and_chains_agree_away_from_transitions(toy_joint):
    pxy = toy_joint
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


@pytest.mark.parametrize("direction", ["down", "up"])
@pytest.mark.parametrize("name", ["toy", "random"])
def test_reduced_sweep_matches_the_full_sweep(direction, name, toy_joint, random_joint, encoder_from_equations):
    # (On rugged problems the two sweeps can end in different local optima; these two do not.)
    pxy, betas = (toy_joint, 2 ** np.linspace(6, 1, 40)) if name == "toy" else (random_joint(12, 3, seed=1),
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


def test_batched_betas_are_solved_as_one_at_a_time(random_joint):
    pxy, betas = random_joint(7, 3, seed=8), np.array([0.7, 3.0, 9.0, 40.0])
    # One run (direction="down"), each beta from the start encoder.
    batched = ib.curve(pxy, betas, direction="down", chains=betas.size, merge_tol=None, seed=5, tol=1e-10)
    for k, beta in enumerate(betas):
        alone = ib.solve(pxy, beta, seed=5, tol=1e-10, max_iter=10_000)
        assert batched.n_iter[k] == alone.n_iter and batched.converged[k] == alone.converged
        np.testing.assert_allclose(batched.encoders[k], alone.encoder, atol=1e-13)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_strided_sweep_matches_plain_annealing(method, toy_joint, encoder_from_equations):
    pxy, betas = toy_joint, 2 ** np.linspace(6, 1, 97)
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


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: f"{shape[0]}x{shape[1]}")
def test_curve_is_no_worse_than_reverse_annealing_or_a_single_solve(shape, embo_joint):
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
def test_best_is_the_lowest_lagrangian_of_the_runs_it_compares(method, embo_joint):
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


def test_curve_starts_at_the_origin_and_reaches_the_mutual_information(embo_joint):
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


@pytest.mark.slow  # fresh Python processes
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


@pytest.mark.parametrize("kwargs, message", [
    (dict(tol=float("inf")), "tol"),
    (dict(perturbation=float("inf")), "perturbation"),
    (dict(max_iter=float("nan")), "max_iter"),
    (dict(max_iter=float("inf")), "max_iter"),
    (dict(n_clusters=float("inf")), "n_clusters"),
    (dict(chains=float("inf")), "chains"),
    (dict(tol=1.0), "tol"),  # every iterate would count as converged
    (dict(perturbation=0.0), "perturbation"),  # up-annealing could never split a cluster
    (dict(seed=1.5), "seed"),
    (dict(seed=-1), "seed"),
    (dict(seed="abc"), "seed"),
    (dict(seed=True), "seed"),
    (dict(accelerate="no"), "accelerate"),
    (dict(progress=2), "progress"),
    (dict(extrapolate="False"), "extrapolate"),
    (dict(seed=[1, -2]), "seed"),
    (dict(seed=np.random.default_rng(1)), "seed"),
])
def test_bad_settings_are_refused_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ib.curve(ib.toy_problem().joint(), [1.0, 2.0, 3.0], **kwargs)


def test_settings_numpy_and_python_spell_alike_are_taken(toy_joint):
    # 0-d arrays, numpy integers and bools, None for a switch that is off, seeds as a list of integers (as numpy's
    # SeedSequence takes them), an unused perturbation of 0 (annealing down), betas as fractions in an object array
    from fractions import Fraction

    betas = [1.0, 2.0, 4.0]
    base = ib.curve(toy_joint, betas, seed=3, direction="down")
    for kwargs in (dict(seed=np.int64(3)), dict(seed=np.array(3)), dict(progress=None, extrapolate=np.bool_(False)),
                   dict(perturbation=0.0), dict(max_iter=np.array(10_000)), dict(tol=np.float32(1e-10))):
        np.testing.assert_array_equal(ib.curve(toy_joint, betas, **{"seed": 3, "direction": "down", **kwargs}).objective,
                                      base.objective)
    fractions = ib.curve(toy_joint, np.array([Fraction(1), Fraction(2), Fraction(4)], dtype=object), seed=3,
                         direction="down")
    np.testing.assert_array_equal(fractions.objective, base.objective)
    assert ib.curve(toy_joint, betas, seed=[1, 2]).objective.shape == (3,)
    with pytest.raises(ValueError, match="perturbation"):  # annealing up needs it to split clusters
        ib.curve(toy_joint, betas, perturbation=0.0, direction="up")


@pytest.mark.parametrize("betas", ["5", ["1", "2"], True, [True, False], 5 + 0j, None, [[1.0, 2.0]]])
def test_betas_that_are_not_positive_numbers_are_refused(betas):
    with pytest.raises(ValueError, match="beta"):
        ib.curve(ib.toy_problem().joint(), betas)
    with pytest.raises(ValueError, match="beta"):
        ib.solve(ib.toy_problem().joint(), betas)


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


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_toy_curve_is_no_higher_than_the_previous_default(method, encoder_from_equations):
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
        recomputed, _ = encoder_from_equations(ib.toy_problem().joint(), result.encoders[k], betas[k], method)
        change = np.abs(recomputed - result.encoders[k]).max()
        assert change < settings["tol"], (betas[k], change)


@pytest.mark.parametrize("method", ["ib", "dualib"])
def test_large_problems_return_the_down_run_or_a_better_finished_run(method, embo_joint):
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
def test_summaries_padded_after_the_fact_match_the_padded_summaries(method, embo_joint):
    # Solutions of several widths are summarised at their own width and padded afterwards: the same
    # arrays as summarising the padded encoders (empty clusters: decoder 0 for the IB, uniform for the dualIB).
    pxy = embo_joint(8, 3, np.random.default_rng(4), method)
    result = ib.curve(pxy, BETAS, method=method)
    assert len(set(result.n_clusters_effective)) > 2
    channel, px, py_x = make_channel(pxy, method)
    with np.errstate(divide="ignore"):
        padded = summarize(channel, px, py_x, BETAS, np.log(result.encoders))
    for key, value in (("encoders", "encoder"), ("decoders", "decoder"), ("marginals", "marginal"), ("ixt", "ixt"),
                       ("ity", "ity"), ("objective", "objective")):
        np.testing.assert_allclose(getattr(result, key), padded[value], rtol=0, atol=1e-12, err_msg=key)


def test_betas_stopped_above_their_ceiling_are_not_summarised_and_cannot_win(random_joint):
    # A run stopped at a beta above the down run's Lagrangian is left out of the summaries: objective
    # +inf there (never kept as the best), every other beta summarised exactly as without skipping.
    import importlib

    curve_module = importlib.import_module("vdualib.ib.curve")
    pxy = random_joint(8, 3, seed=5)
    channel, px, py_x = make_channel(pxy, "ib")
    betas = np.geomspace(1.0, 50.0, 6)
    sweep = ib.curve(pxy, betas, direction="down")
    solutions = curve_module._Solutions(betas.size)
    with np.errstate(divide="ignore"):  # log of the empty clusters' zeros: -inf, as the solver keeps them
        log_encoders = [np.log(encoder) for encoder in sweep.encoders]
    solutions.record(np.arange(betas.size), log_encoders, np.ones(betas.size, int), np.ones(betas.size, bool),
                     np.zeros(betas.size), np.array([True, False, True, False, False, True]))
    with np.errstate(divide="ignore"):
        full = solutions.fields(channel, px, py_x, betas)
        skipped = solutions.fields(channel, px, py_x, betas, skip_stopped=True)
    np.testing.assert_array_equal(skipped["objective"][solutions.stopped], np.inf)
    for key in ("objective", "ixt", "ity"):
        np.testing.assert_array_equal(skipped[key][~solutions.stopped], full[key][~solutions.stopped], err_msg=key)
    for key in ("encoder", "decoder", "marginal"):
        for i in range(betas.size):
            if solutions.stopped[i]:
                assert skipped[key][i] is None
            else:
                np.testing.assert_array_equal(skipped[key][i], full[key][i], err_msg=key)
    best = curve_module._keep_better({key: value.copy() for key, value in full.items()}, skipped)
    np.testing.assert_array_equal(best["objective"], full["objective"])
    # Padded to n_clusters columns, the kept solutions are the sweep's, with its effective cardinalities.
    padded = curve_module._padded(best, channel, px, 8)
    np.testing.assert_allclose(padded["encoder"], sweep.encoders, rtol=0, atol=1e-15)
    np.testing.assert_allclose(padded["decoder"], sweep.decoders, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(padded["n_clusters_effective"], sweep.n_clusters_effective)
    solutions.stopped[:] = True  # all stopped: still every field, all +inf
    assert np.isinf(solutions.fields(channel, px, py_x, betas, skip_stopped=True)["objective"]).all()
