"""vdualib.ib.curve returns, reproducibly, at every beta the best of the solutions it compares.

Random joints are sampled as embo's tests sample them: p(x) ~ Dirichlet(1000), p(y|x) ~
Dirichlet(0.1) (nearly deterministic, often with zeros). The dualIB needs p(y|x) > 0, so its
joints mix p(y|x) with 0.1% of the uniform distribution.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from vdualib import ib

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
    np.testing.assert_array_equal(best.objective, lowest)
    for k, origin in enumerate(best.origin):
        assert best.objective[k] == runs[origin].objective[k]
        np.testing.assert_array_equal(best.encoders[k], runs[origin].encoders[k])
        assert best.ity[k] == runs[origin].ity[k] and best.converged[k] == runs[origin].converged[k]
    np.testing.assert_array_equal(best.n_iter, sum(run.n_iter for run in runs.values()))
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
