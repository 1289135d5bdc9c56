"""Information curves: the IB or dualIB over a sweep of betas, keeping at each beta the best solution found.

Annealing (warm-starting each beta from its neighbour's solution) follows one branch of
solutions; the IB and dualIB have several coexisting local optima, so a branch followed down in
beta, one followed up, and a solution started afresh can all differ (hysteresis, and clusters that
merge and never split again). :func:`curve` runs, by default, all three and keeps per beta the
one with the lowest Lagrangian (``direction="best"``).
"""

import dataclasses
import functools

import numpy as np
from tqdm.auto import tqdm

from vdualib import checks
from vdualib.ib.critical import effective_cardinality
from vdualib.ib.joint import entropy_bits, mutual_information_bits
from vdualib.ib.reduction import duplicate_clusters, merge_clusters, pad_clusters
from vdualib.ib.solver import (
    DEFAULT_SEED,
    check_betas,
    check_settings,
    initial_log_encoder,
    iterate,
    log_normalize,
    make_channel,
    posterior,
    single_threaded_blas,
    summarize,
)

__all__ = ["IBCurve", "curve", "curve_channel", "DIRECTIONS"]

# The runs each ``direction`` combines; "solve" is :func:`vdualib.ib.solve` at every beta.
_RUNS = {"best": ("down", "up", "solve"), "both": ("down", "up"), "down": ("down",), "up": ("up",)}
DIRECTIONS = tuple(_RUNS)
_MASS_TOL = 1e-12  # clusters with p(x_hat) below this are dropped from a sweep's warm starts
_BATCH_ENTRIES = 1 << 16  # encoder entries per batch of independently solved betas (bounds memory)
# Degree of the polynomial predicting the next solution from the last ones. Linear: a quadratic
# predictor saved iterations but overshot near merges into worse local optima (measured).
_PREDICTOR_ORDER = 1


@dataclasses.dataclass(frozen=True)
class IBCurve:
    """A sweep of solutions; every array is indexed like the ``betas`` passed to :func:`curve`.

    Attributes:
        betas: [B] trade-off values (multiplying the distortion in the exponent).
        method: ``"ib"``, ``"dualib"`` or ``"dualib-expfamily"``.
        ixt, ity: [B] I(X; X_hat), I(X_hat; Y) in bits (ity through the Markov decoder).
        distortion, objective: [B] E[d] and the Lagrangian I(X; X_hat) + beta E[d], in bits.
        n_clusters_effective: [B] number of distinct clusters carrying mass.
        encoders: [B, |X|, N] p(x_hat|x); decoders: [B, N, |Y|] the method's p(y|x_hat);
        marginals: [B, N] p(x_hat).
        n_iter: [B] map evaluations spent on each beta, summed over the runs compared there.
        converged: [B] bool, whether the returned solution converged.
        hx, ixy: H(X) and I(X; Y) in bits (the curve's normalisers).
        origin: [B] which run gave each returned solution: ``"down"`` (annealing from high beta),
            ``"up"`` (annealing from low beta) or ``"solve"`` (solved afresh at that beta).

    Example:
        >>> result = curve([[0.4, 0.1], [0.1, 0.4]], np.geomspace(1, 10, 8))
        >>> result.n_clusters_effective     # [1 1 1 1 2 2 2 2]
    """

    betas: np.ndarray
    method: str
    ixt: np.ndarray
    ity: np.ndarray
    distortion: np.ndarray
    objective: np.ndarray
    n_clusters_effective: np.ndarray
    encoders: np.ndarray
    decoders: np.ndarray
    marginals: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    hx: float
    ixy: float
    origin: np.ndarray = None


@dataclasses.dataclass(frozen=True)
class _Settings:
    """The solver settings every run of one :func:`curve` call shares (validated)."""

    n_clusters: int
    chains: int
    stride: int
    init: object
    perturbation: float
    extrapolate: bool
    merge_tol: object
    tol: float
    max_iter: int
    seed: object
    accelerate: bool
    progress: bool


def _perturb(log_encoder, scale, rng):
    """Multiply the encoder by exp(scale * N(0, 1)) noise and renormalise (symmetry breaking)."""
    return log_normalize(log_encoder + scale * rng.standard_normal(log_encoder.shape))


def _extrapolate(history, log_betas, log_beta):
    """Predictor step of the continuation: polynomial extra- (or inter-)polation of log p(x_hat|x) in log beta.

    ``history`` holds the last solutions [B, |X|, K] (same columns, oldest first) solved at
    ``log_betas`` (each [B]); the Lagrange polynomial through them (degree ``len(history) - 1``)
    is evaluated at ``log_beta`` [B]. Entries that are -inf (underflowed) in any solution are
    taken from the newest one.
    """
    extrapolated = np.zeros_like(history[-1])
    finite = np.ones(history[-1].shape, dtype=bool)
    for j, solution in enumerate(history):
        weight = np.ones_like(log_beta)
        for m in range(len(history)):
            if m != j:
                weight *= (log_beta - log_betas[m]) / (log_betas[j] - log_betas[m])
        finite &= np.isfinite(solution)
        with np.errstate(invalid="ignore"):
            extrapolated += weight[:, None, None] * solution
    return log_normalize(np.where(finite, extrapolated, history[-1]))


def _merge(channel, px, merge_tol, log_encoder):
    """:func:`merge_clusters` of a log encoder [B, |X|, N] on its channel's decoder: (log encoder, columns kept)."""
    encoder = np.exp(log_encoder)
    merged, kept = merge_clusters(encoder, channel.decode(posterior(encoder, px)[1])[0], px, merge_tol, _MASS_TOL)
    return (log_encoder, True) if merged is None else (merged, kept)


def _sweep(channel, px, py_x, betas, direction, settings):
    """Anneal through ``betas`` (``"down"`` from high to low, ``"up"`` from low to high).

    The sorted betas are cut into ``settings.chains`` contiguous blocks annealed side by side as
    one batch; each block starts from the initial encoder and anneals through every ``stride``-th
    of its betas (the anchors); the betas in between are then solved in batches (see
    :func:`_fill_in`). With ``merge_tol`` only the distinct live clusters are carried (see
    :mod:`vdualib.ib.reduction`): they are merged at the start of each beta and, annealing up,
    given perturbed twins so that they can split. Returns a dict of [len(betas), ...] arrays,
    padded back to ``n_clusters`` columns.
    """
    s = settings
    order = np.argsort(betas)
    if direction == "down":
        order = order[::-1]
    blocks = np.array_split(order, s.chains)
    anchors = [block[:: s.stride] for block in blocks]
    rng = np.random.default_rng(s.seed)
    log_encoder = np.repeat(initial_log_encoder(px.size, s.n_clusters, s.init, s.seed)[None], s.chains, axis=0)
    merge = None if s.merge_tol is None else functools.partial(_merge, channel, px, s.merge_tol)
    # Predictor history: (solution, log beta) of the last anchors of each chain, same columns, oldest first.
    history = []
    # Per anchor beta: its solution [|X|, K] and the "column epoch", which changes when columns are merged.
    solutions, epoch = {}, 0
    fields = {}
    for step in tqdm(range(len(anchors[0])), desc=f"{channel.method} beta sweep ({direction})", disable=not s.progress):
        n_active = sum(len(block) > step for block in anchors)
        index = np.array([block[step] for block in anchors[:n_active]])
        log_beta = np.log(betas[index])
        history = [(solution[:n_active], previous_log_beta[:n_active]) for solution, previous_log_beta in history]
        start = log_encoder[:n_active]
        if s.extrapolate and len(history) > 1:
            start = _extrapolate(*zip(*history), log_beta)
        if merge is not None and step > 0:
            start, kept = merge(start)
            if not kept:
                history, epoch = [], epoch + 1
            if direction == "up" and start.shape[2] < s.n_clusters:
                start, history, epoch = duplicate_clusters(start, px, s.n_clusters), [], epoch + 1
        if direction == "up" and step > 0:
            start = _perturb(start, s.perturbation, rng)
        solved, iterations, done = iterate(channel, px, betas[index], start, s.tol, s.max_iter, s.accelerate)
        log_encoder = solved
        # Solutions enter the predictor's history while their columns match (merging keeps a prefix).
        history = [(solution[:, :, : solved.shape[2]], previous_log_beta)
                   for solution, previous_log_beta in history[len(history) - _PREDICTOR_ORDER:]] + [(solved, log_beta)]
        solutions.update({int(i): (solution, epoch) for i, solution in zip(index, solved)})
        _store(fields, betas.size, index, summarize(channel, px, py_x, betas[index], pad_clusters(solved, s.n_clusters)),
               iterations, done)
    if s.stride > 1:
        _fill_in(channel, px, py_x, betas, blocks, solutions, settings, fields)
    return fields


def _store(fields, n_rows, index, summary, iterations, done):
    """Write a batch of summaries, iteration counts and convergence flags at rows ``index`` of ``fields``."""
    for key, value in {**summary, "n_iter": iterations, "converged": done}.items():
        fields.setdefault(key, np.zeros((n_rows,) + value.shape[1:], dtype=value.dtype))[index] = value


def _solve_batches(channel, px, py_x, betas, starts, settings, fields, desc=None):
    """Solve each beta of ``starts`` (pairs of a row index into ``betas`` and a log start encoder
    [|X|, K]) independently, many at once in batches of bounded size; store the results in ``fields``.

    Items of a batch leave it once converged (see :func:`iterate`), so each beta is solved exactly
    as it would be alone.
    """
    batch = max(1, _BATCH_ENTRIES // (px.size * settings.n_clusters))
    for first in tqdm(range(0, len(starts), batch), desc=desc, disable=desc is None or not settings.progress):
        chunk = starts[first: first + batch]
        index = np.array([i for i, _ in chunk])
        width = max(start.shape[1] for _, start in chunk)
        start = np.stack([pad_clusters(log_start[None], width)[0] for _, log_start in chunk])
        solved, iterations, done = iterate(channel, px, betas[index], start, settings.tol, settings.max_iter,
                                           settings.accelerate)
        _store(fields, betas.size, index,
               summarize(channel, px, py_x, betas[index], pad_clusters(solved, settings.n_clusters)), iterations, done)


def _fill_in(channel, px, py_x, betas, blocks, solutions, settings, fields):
    """Solve the betas between anchors, in batches of bounded size.

    A beta between anchors p and q (consecutive in annealing order) starts from the interpolation,
    linear in log beta, of their log encoders when their columns match (same column epoch) and they
    have as many distinct clusters, and otherwise from the anchor at the higher beta (a solution with
    all the clusters this beta may need: interpolating across a merge can land on the merged branch
    where the split one is better).
    """
    stride = settings.stride

    @functools.cache
    def cardinality(anchor):
        return effective_cardinality(np.exp(solutions[int(anchor)][0]), px)

    starts = []
    for block in blocks:
        for position in range(len(block)):
            base = position - position % stride
            if base == position:
                continue
            before = block[base]
            log_p, epoch_p = solutions[int(before)]
            if base + stride >= len(block):
                starts.append((block[position], log_p))
                continue
            after = block[base + stride]
            log_q, epoch_q = solutions[int(after)]
            if epoch_p == epoch_q and cardinality(before) == cardinality(after):
                neighbours = [log_p[None, :, : log_q.shape[1]], log_q[None]]
                log_betas = [np.log(betas[[before]]), np.log(betas[[after]])]
                starts.append((block[position], _extrapolate(neighbours, log_betas, np.log(betas[[block[position]]]))[0]))
            else:
                starts.append((block[position], log_p if betas[before] > betas[after] else log_q))
    _solve_batches(channel, px, py_x, betas, starts, settings, fields)


def _single_solves(channel, px, py_x, betas, settings):
    """Fields of :func:`vdualib.ib.solve` at every beta: each solved from the initial encoder, batched."""
    start = initial_log_encoder(px.size, settings.n_clusters, settings.init, settings.seed)
    fields = {}
    _solve_batches(channel, px, py_x, betas, [(i, start) for i in range(betas.size)], settings, fields,
                   desc=f"{channel.method} single solves")
    return fields


def _keep_better(best, candidate):
    """Per beta, the candidate's solution where its objective is strictly lower; map evaluations add up."""
    better = candidate["objective"] < best["objective"]
    kept = {
        key: np.where(better.reshape((-1,) + (1,) * (value.ndim - 1)), candidate[key], value)
        for key, value in best.items()
    }
    kept["n_iter"] = best["n_iter"] + candidate["n_iter"]
    return kept


def _best_of_runs(channel, px, py_x, betas, direction, settings):
    """Fields of each run of ``direction`` (see ``_RUNS``), keeping per beta the lowest objective."""
    best = None
    for run in _RUNS[direction]:
        if run == "solve":
            fields = _single_solves(channel, px, py_x, betas, settings)
        else:
            fields = _sweep(channel, px, py_x, betas, run, settings)
        fields["origin"] = np.full(betas.size, run)
        best = fields if best is None else _keep_better(best, fields)
    return best


def curve_channel(channel, px, py_x, betas, n_clusters=None, direction="best", chains=1, perturbation=1e-2,
                  extrapolate=False, init=None, tol=1e-10, max_iter=10_000, seed=DEFAULT_SEED, progress=False,
                  merge_tol=1e-6, accelerate=True, stride=1):
    """:func:`curve` for any channel (shared with the exponential-family variant).

    Args:
        channel: the solver's channel (from ``vdualib.ib.solver.make_channel``, or an
            :class:`ExponentialFamily`), which gives the decoder and distortion of the method.
        px: p(x), ``[|X|]``.
        py_x: p(y|x), ``[|X|, |Y|]``.
        betas: ``[B]`` positive trade-off values.
        n_clusters, direction, chains, perturbation, extrapolate, init, tol, max_iter, seed,
            progress, merge_tol, accelerate, stride: as for :func:`curve`.

    Returns:
        An :class:`IBCurve` (information in bits).

    Raises:
        ValueError: a bad beta grid or setting.

    Example:
        >>> curve_channel(family, family.px, family.py_x, [1.0, 10.0])     # family = toy_problem()
    """
    betas = check_betas(betas)
    n_clusters = check_settings(px.size, n_clusters, tol, max_iter)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}.")
    chains = checks.positive_int("chains", chains)
    if chains > betas.size:
        raise ValueError(f"chains must be an integer between 1 and len(betas)={betas.size}; got {chains!r}.")
    if merge_tol is not None:
        merge_tol = checks.finite_float("merge_tol (a total variation, or None)", merge_tol, low=0.0, high=1.0,
                                        low_open=True, high_open=True)
    settings = _Settings(
        n_clusters=n_clusters,
        chains=chains,
        stride=checks.positive_int("stride", stride),
        init=init,
        perturbation=checks.finite_float("perturbation", perturbation, low=0.0),
        extrapolate=bool(extrapolate),
        merge_tol=merge_tol,
        tol=tol,
        max_iter=int(max_iter),
        seed=seed,
        accelerate=bool(accelerate),
        progress=progress,
    )
    with single_threaded_blas():
        fields = _best_of_runs(channel, px, py_x, betas, direction, settings)
    cardinality = np.array([effective_cardinality(encoder, px) for encoder in fields["encoder"]])
    pxy = px[:, None] * py_x
    return IBCurve(
        betas=betas,
        method=channel.method,
        ixt=fields["ixt"],
        ity=fields["ity"],
        distortion=fields["distortion"],
        objective=fields["objective"],
        n_clusters_effective=cardinality,
        encoders=fields["encoder"],
        decoders=fields["decoder"],
        marginals=fields["marginal"],
        n_iter=fields["n_iter"],
        converged=fields["converged"],
        hx=float(entropy_bits(px)),
        ixy=mutual_information_bits(pxy / pxy.sum()),
        origin=fields["origin"],
    )


def curve(pxy, betas, method="ib", n_clusters=None, direction="best", chains=1, perturbation=1e-2,
          extrapolate=False, init=None, tol=1e-10, max_iter=10_000, seed=DEFAULT_SEED, progress=False,
          merge_tol=1e-6, accelerate=True, stride=1):
    """Solve the IB or dualIB over a sweep of betas and return, at each beta, the best solution found.

    "Best" is the lowest Lagrangian, in bits,

        L_beta = I(X; X_hat) + beta E_{p(x, x_hat)}[d(x, x_hat)]

    (the returned ``objective``; ``d`` is the method's distortion, see :func:`vdualib.ib.solve`).
    For the IB, E[d] = I(X; Y) - I(X_hat; Y), so L_beta = I(X; X_hat) - beta I(X_hat; Y) plus the
    constant beta I(X; Y): the lowest L_beta is the highest point of the information curve
    reachable at that slope. With the default ``direction="best"`` three runs are compared at every
    beta: annealing down from the highest beta, annealing up from the lowest, and
    :func:`vdualib.ib.solve` started afresh at that beta with the same ``n_clusters``, ``init``,
    ``tol``, ``max_iter``, ``seed`` and ``accelerate``. The result is therefore, beta by beta, no
    worse in L_beta than either annealing direction and than that single solve. It costs the three
    runs; ``direction="down"`` is the fastest single run.

    The default ``seed=0`` makes the curve reproducible across calls and processes.

    Args:
        pxy: joint p(x, y) [|X|, |Y|].
        betas: 1-D array of trade-offs > 0 (multiplying the distortion in the exponent; the
            variational models' beta is the inverse convention).
        method: ``"ib"`` or ``"dualib"``.
        n_clusters: number of values of x_hat (default |X|).
        direction: ``"best"`` (default) the three runs above; ``"both"`` only the two annealing
            directions; ``"down"`` anneals from the highest beta down (from the near-identity start);
            ``"up"`` from the lowest beta up, perturbing each warm start by ``perturbation``
            (log-scale noise) so clusters can split.
        chains: cut the sorted betas into this many contiguous blocks annealed side by side in
            one batch (1 = a single annealing path; ``len(betas)`` = every beta solved
            independently from the start encoder). More chains: fewer Python steps, less warm start.
        extrapolate: start each beta from the linear extrapolation (in log beta) of the two previous
            solutions of its chain instead of the previous solution (a predictor-corrector
            continuation: fewer iterations per beta, but on a coarse grid the prediction can land
            on a worse branch, which plain annealing would not have left).
        init, tol, max_iter, seed: as in :func:`vdualib.ib.solve` (``max_iter`` per beta and run;
            ``seed`` also draws the up-annealing's perturbations; ``None`` is not reproducible).
        progress: show tqdm progress bars.
        merge_tol: before each beta, merge clusters whose decoders p(y|x_hat) differ by less than
            this in total variation and drop clusters with p(x_hat) < 1e-12, so the iteration runs
            on the effective clusters only (annealing up, each cluster gets a perturbed twin so it
            can split). ``None``: always iterate all ``n_clusters``. Returned arrays have
            ``n_clusters`` columns either way (merged-away clusters are empty).
        accelerate: SQUAREM-accelerated iteration, as in :func:`vdualib.ib.solve`.
        stride: anneal through every ``stride``-th beta only; each beta in between is then solved,
            many at once as one batch, from the interpolation (linear in log beta) of its two
            neighbouring solutions, or from the one at higher beta where clusters merged or split
            between them. Fewer Python-level steps for dense sweeps; 1 = plain annealing.

    Returns:
        :class:`IBCurve` (information in bits), arrays in the order of ``betas``; its ``origin``
        says which run each solution came from.

    Example:
        >>> import numpy as np
        >>> from vdualib import ib
        >>> sweep = ib.curve(ib.toy_problem().joint(), np.geomspace(1, 100, 50))
        >>> bool(sweep.ity[-1] <= sweep.ixy + 1e-9)
        True
    """
    channel, px, py_x = make_channel(pxy, method)
    return curve_channel(channel, px, py_x, betas, n_clusters, direction, chains, perturbation, extrapolate,
                         init, tol, max_iter, seed, progress, merge_tol, accelerate, stride)
