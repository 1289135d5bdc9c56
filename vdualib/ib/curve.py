"""Information curves: the IB or dualIB over a sweep of betas, keeping at each beta the best solution found.

Annealing (warm-starting each beta from its neighbour's solution) follows one branch of
solutions; the IB and dualIB have several coexisting local optima, so a branch followed down in
beta, one followed up, and a solution started afresh can all differ (hysteresis, and clusters that
merge and never split again). :func:`curve` runs, by default, all three and keeps per beta the
one with the lowest Lagrangian (``direction="best"``).

The runs are batched across betas. The fresh solves are independent, many betas iterated as one
array. Annealing is sequential in beta, but each beta needs only its predecessor's solution:
on small problems every beta of a path is solved at once from its predecessor's fresh solve, and
solved again only where the predecessor's annealed solution turned out to be another fixed point
than its fresh solve (see :class:`_Annealing`); on large problems, where each beta's iterations
rather than per-step overhead set the cost, the paths are annealed one beta after another, the
down run first: the fresh solves and the up run then stop at a beta as soon as they are provably
above the down run's Lagrangian there (their free energy, a lower bound of their Lagrangian, is
above it), so that they cost their full iterations only where they can still win.
Convergence is reported per beta (``IBCurve.converged``, ``residual``, ``unconverged``).
"""

import dataclasses
import warnings

import numpy as np
from tqdm.auto import tqdm

from vdualib import checks
from vdualib.ib.critical import batched_cardinalities
from vdualib.ib.joint import entropy_bits, mutual_information_bits
from vdualib.ib.reduction import coincident_labels, duplicate_clusters, merge_clusters, pad_clusters
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
_BATCH_ENTRIES = 1 << 16  # encoder entries |X| N per batch of betas iterated together (bounds memory)
_MERGE_TOL = 1e-6  # total variation below which two clusters count as one when merge_tol is None
# Two solutions at one beta are the same fixed point when their predictions agree within this many tol
# (a converged solution lies about tol / (1 - rate) from its fixed point, the rate up to ~0.999 near splits).
_SAME_SOLUTION = 1e3
# Paths are annealed by relaxation (see _Annealing) below this many encoder entries |X| N, and one beta
# after another above: there each beta's own iterations, not the per-step overhead, set the cost.
_RELAXED_ENTRIES = 4096
_BROADCAST = 8  # positions a relaxation round re-solves from a solution that left its guess's branch
_NOISE_ENTRIES = 1 << 22  # up to this many entries, the up-annealing noise of all betas is drawn at once
_UNCONVERGED_LISTED = 10  # betas named in the warning about unconverged solutions
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
        n_iter: [B] map evaluations spent on each beta, summed over the runs compared there and over
            every time a run solved it (a fresh solve that also starts or guides a sweep counts once).
        converged: [B] bool, whether the returned solution converged: max |Δ p(x_hat|x)| at its
            last application of the equations below ``tol``.
        hx, ixy: H(X) and I(X; Y) in bits (the curve's normalisers).
        origin: [B] which run gave each returned solution: ``"down"`` (annealing from high beta),
            ``"up"`` (annealing from low beta) or ``"solve"`` (solved afresh at that beta).
        residual: [B] that max |Δ p(x_hat|x)| (a probability) of each returned solution.
        tol: the tolerance the solutions were iterated to.

    :attr:`unconverged` names the betas whose solution did not converge, with their residuals
    (:func:`curve` also warns about them).

    Example:
        >>> result = curve([[0.4, 0.1], [0.1, 0.4]], np.geomspace(1, 10, 8))
        >>> result.n_clusters_effective
        array([1, 1, 1, 1, 2, 2, 2, 2])
        >>> result.unconverged     # each beta converged to tol
        []
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
    residual: np.ndarray = None
    tol: float = None

    @property
    def unconverged(self):
        """``[(beta, residual), ...]`` for each beta whose solution did not converge to ``tol``, in the order of
        ``betas`` (the residual is max |Δ p(x_hat|x)|, a probability)."""
        return [(float(beta), float(residual)) for beta, residual, done in zip(self.betas, self.residual, self.converged)
                if not done]


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


def _perturb(log_encoder, scale, noise):
    """Multiply the encoder by exp(scale * noise) and renormalise (symmetry breaking); noise is N(0, 1), same shape."""
    return log_normalize(log_encoder + scale * noise)


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


def _stack(log_encoders):
    """Stack log encoders [|X|, K_i] into one [B, |X|, max K_i], padding with empty (-inf) columns."""
    widths = [log_encoder.shape[1] for log_encoder in log_encoders]
    if min(widths) == max(widths):
        return np.stack(log_encoders)
    stacked = np.full((len(log_encoders), log_encoders[0].shape[0], max(widths)), -np.inf)
    for item, (log_encoder, width) in enumerate(zip(log_encoders, widths)):
        stacked[item, :, :width] = log_encoder
    return stacked


def _trimmed(log_encoders):
    """The log encoders of a batch [B, |X|, K] without their trailing empty (all -inf) columns (at least one
    column kept): a list of B views [|X|, K_i]."""
    live = np.isfinite(log_encoders).any(axis=1)
    widths = np.maximum(1, live.shape[1] - np.argmax(live[:, ::-1], axis=1))
    return [log_encoder[:, :width] for log_encoder, width in zip(log_encoders, widths.tolist())]


class _Solutions:
    """Per beta of a run: its latest solution (a log encoder [|X|, K]), the map evaluations spent on it
    (summed over every time it was solved), whether its latest solution converged, its residual,
    whether it was stopped above a ceiling (it cannot be the best solution there), and whether its
    start kept the columns of its predecessor's solution (annealing)."""

    def __init__(self, n_betas):
        self.log_encoders = [None] * n_betas
        self.n_iter = np.zeros(n_betas, dtype=np.int64)
        self.converged = np.zeros(n_betas, dtype=bool)
        self.residual = np.full(n_betas, np.inf)
        self.stopped = np.zeros(n_betas, dtype=bool)
        self.kept = np.ones(n_betas, dtype=bool)

    def record(self, index, log_encoders, iterations, converged, residual, stopped=False):
        for i, log_encoder in zip(index.tolist(), log_encoders):
            self.log_encoders[i] = log_encoder
        self.n_iter[index] += iterations
        self.converged[index], self.residual[index], self.stopped[index] = converged, residual, stopped

    def copy_from(self, other, index):
        """Take ``other``'s solutions at ``index`` as they are (a shared computation, counted once per run)."""
        self.record(index, [other.log_encoders[i] for i in index.tolist()], other.n_iter[index],
                    other.converged[index], other.residual[index], other.stopped[index])

    def fields(self, channel, px, py_x, betas, skip_stopped=False):
        """Dict of the summaries of :func:`summarize` (bits) as [len(betas)] arrays, ``n_iter``, ``converged``,
        ``residual``, and, per beta, its solution's ``encoder`` [|X|, K], ``decoder`` [K, |Y|] and ``marginal``
        [K] at its own width K (lists; :func:`_padded` pads them). With ``skip_stopped`` the betas stopped
        above their ceiling are not summarised: their ``objective`` is +inf (they cannot be the best there),
        their other summaries 0 and their solution arrays None.

        The betas are summarised in batches of one width (their solutions' columns), so that narrow
        solutions cost their own width only.
        """
        n_betas = betas.size
        fields = {"n_iter": self.n_iter.copy(), "converged": self.converged.copy(), "residual": self.residual.copy()}
        fields.update({key: np.zeros(n_betas) for key in _SUMMARIES})
        fields.update({key: [None] * n_betas for key in _SOLUTION_ARRAYS})
        widths = np.array([log_encoder.shape[1] for log_encoder in self.log_encoders])
        order = np.argsort(widths, kind="stable")
        if skip_stopped:
            order = order[~self.stopped[order]]
        first = 0
        while first < order.size:
            width = widths[order[first]]
            batch = max(1, _BATCH_ENTRIES // (px.size * width))
            count = np.searchsorted(widths[order], width, side="right") - first
            index = order[first: first + min(batch, count)]
            first += index.size
            summary = summarize(channel, px, py_x, betas[index], _stack([self.log_encoders[i] for i in index]))
            for key in _SUMMARIES:
                fields[key][index] = summary[key]
            for key in _SOLUTION_ARRAYS:
                for i, value in zip(index.tolist(), summary[key]):
                    fields[key][i] = value
        if skip_stopped:
            fields["objective"][self.stopped] = np.inf
        return fields


_SUMMARIES = ("ixt", "ity", "distortion", "objective")  # per beta, in bits
_SOLUTION_ARRAYS = ("encoder", "decoder", "marginal")  # per beta, at the solution's own width


def _padded(fields, channel, px, n_clusters):
    """``fields`` (see :meth:`_Solutions.fields`) with the solution arrays stacked and padded to ``n_clusters``
    columns with what an empty cluster gives (encoder and marginal 0, the decoder of an empty cluster), and
    ``n_clusters_effective`` [B] (:func:`vdualib.ib.critical.effective_cardinalities`, computed at each solution's width)."""
    encoders = fields["encoder"]
    n_betas = len(encoders)
    empty = channel.decode(np.zeros((1, 1, px.size)))[0][0, 0]  # the decoder row of an empty cluster
    padded = dict(fields)
    padded["encoder"] = np.zeros((n_betas, px.size, n_clusters))
    padded["marginal"] = np.zeros((n_betas, n_clusters))
    padded["decoder"] = np.empty((n_betas, n_clusters, empty.size))
    padded["decoder"][:] = empty
    for i, (encoder, decoder, marginal) in enumerate(zip(encoders, fields["decoder"], fields["marginal"])):
        width = encoder.shape[1]
        padded["encoder"][i, :, :width] = encoder
        padded["decoder"][i, :width] = decoder
        padded["marginal"][i, :width] = marginal
    widths = np.array([encoder.shape[1] for encoder in encoders])
    cardinality = np.zeros(n_betas, dtype=np.int64)
    for width in np.unique(widths):
        index = np.flatnonzero(widths == width)
        batch = max(1, _BATCH_ENTRIES // (px.size * width))
        for part in np.array_split(index, -(-index.size // batch)):
            cardinality[part] = batched_cardinalities(np.stack([encoders[i] for i in part]), px)
    padded["n_clusters_effective"] = cardinality
    return padded


def _iterate_starts(channel, px, betas, index, starts, settings, desc=None, merge=False, ceiling=None):
    """Iterate each beta ``betas[index[k]]`` from the log start encoder ``starts[k]`` ([|X|, K_k]), many at once
    in batches of bounded size. With ``merge``, coincident clusters are merged within the iteration too
    (``settings.merge_tol``); with ``ceiling`` ([len(betas)] Lagrangians in bits), a beta is stopped at a
    point whose Lagrangian is provably above its ceiling (see :func:`vdualib.ib.solver.iterate`).

    Items of a batch leave it once converged (see :func:`vdualib.ib.solver.iterate`), so each beta is
    solved exactly as it would be alone. Returns (the solutions, a list of log encoders without their
    trailing empty columns; map evaluations [B]; converged [B]; residuals [B]; stopped [B]).
    """
    width = max(start.shape[1] for start in starts)
    batch = max(1, _BATCH_ENTRIES // (px.size * width))
    solved, outcomes = [], []
    for first in tqdm(range(0, len(starts), batch), desc=desc, disable=desc is None or not settings.progress):
        part = index[first: first + batch]
        log_encoder, *outcome = iterate(
            channel, px, betas[part], _stack(starts[first: first + batch]), settings.tol, settings.max_iter,
            settings.accelerate, settings.merge_tol if merge else None,
            None if ceiling is None else ceiling[part] * np.log(2.0))
        solved += _trimmed(log_encoder)
        outcomes.append(outcome)
    return (solved, *(np.concatenate(column) for column in zip(*outcomes)))


def _solve(channel, px, betas, index, starts, settings, solutions, desc=None, merge=False, ceiling=None):
    """:func:`_iterate_starts`, recording the solutions in ``solutions``; returns the list of solutions."""
    solved, iterations, done, residual, stopped = _iterate_starts(channel, px, betas, index, starts, settings, desc,
                                                                  merge, ceiling)
    solutions.record(index, solved, iterations, done, residual, stopped)
    return solved


def _merge(channel, px, merge_tol, log_encoder):
    """:func:`merge_clusters` of a log encoder [B, |X|, N] on its channel's decoder: (log encoder, bool [B] columns kept)."""
    encoder = np.exp(log_encoder)
    merged, kept = merge_clusters(encoder, channel.decode(posterior(encoder, px)[1])[0], px, merge_tol, _MASS_TOL)
    return (log_encoder, kept) if merged is None else (merged, kept)


class _Annealing:
    """Annealing along paths of betas (each a sequence of indices into ``betas``), for one direction.

    Annealing solves a path's first beta from the start encoder and each next beta from the
    previous solution: merged (``merge_tol``) and, annealing up, with each cluster given a twin and
    the whole perturbed, so that clusters can split. Done one beta after another this costs
    len(path) sequential steps of small array operations. On small problems (|X| N below
    ``_RELAXED_ENTRIES``) it is done by relaxation instead, from the fresh solves of
    :func:`vdualib.ib.solve` at every beta as first guesses:

    1. every beta of every path is solved from its predecessor's guess, all as one batch;
    2. where a beta's solution is another fixed point than its guess (another number of distinct
       clusters, or predictions sum_x_hat p(x_hat|x) p(y|x_hat) apart by more than
       ``_SAME_SOLUTION`` times tol, or times the residual of an unconverged solution), its
       successor is solved again from that solution, and the ``_BROADCAST`` betas after it are
       solved from it too, as guesses to verify; and so on until no solution changes (see
       :func:`_relax`, which runs the rounds of both directions as one batch).

    Every solution is then the fixed point reached from its predecessor's solution, as when
    annealing one beta after another: a sweep costs one batched pass plus a few small ones per
    stretch of betas over which a branch persists that the guesses do not follow (hysteresis).
    Up-annealing's perturbation of a beta's start is drawn per beta from ``seed`` (not in solving
    order).
    """

    def __init__(self, channel, px, betas, direction, settings, solutions, fresh, ceiling=None):
        self.channel, self.px, self.betas = channel, px, betas
        self.direction, self.settings, self.solutions, self.fresh = direction, settings, solutions, fresh
        self.ceiling = ceiling  # per beta, a Lagrangian (bits) above which a solve is not pursued, or None
        self.noise_table = None
        self.entropy = np.random.SeedSequence(settings.seed).entropy

    def solve_firsts(self, paths):
        """Solve the first beta of each path (arrays of indices into ``betas``) from the start encoder; with
        fresh solves, take theirs (they are that computation; their evaluations are counted with them)."""
        firsts = np.array([path[0] for path in paths])
        if self.fresh is not None:
            self.solutions.copy_from(self.fresh, firsts)
            self.solutions.n_iter[firsts] = 0
        else:
            start = initial_log_encoder(self.px.size, self.settings.n_clusters, self.settings.init, self.settings.seed)
            _solve(self.channel, self.px, self.betas, firsts, [start] * firsts.size, self.settings, self.solutions)

    def held(self, i):
        """The latest solution at beta ``i``, or its first guess (the fresh solve) if it was not solved yet."""
        latest = self.solutions.log_encoders[i]
        return self.fresh.log_encoders[i] if latest is None else latest

    def in_order(self, paths, progress):
        """Anneal the paths one beta after another (batched across paths), each start predicted from the
        path's last solutions with ``extrapolate``."""
        history = [[(self.solutions.log_encoders[path[0]], np.log(self.betas[path[0]]))] for path in paths]
        for position in range(1, max(len(path) for path in paths)):
            live = [c for c, path in enumerate(paths) if position < len(path)]
            index = np.array([paths[c][position] for c in live])
            solved = self.step(index, [self.predict(history[c], self.betas[i]) for c, i in zip(live, index)])
            for c, solution, columns_kept, i in zip(live, solved, self.solutions.kept[index], index):
                # Solutions enter the predictor's history while their columns match (merging keeps a prefix).
                earlier = history[c][-_PREDICTOR_ORDER:] if columns_kept else []
                history[c] = [(h[:, : solution.shape[1]], log_b) for h, log_b in earlier]
                history[c].append((solution, np.log(self.betas[i])))
            progress.update()

    def predict(self, history, beta):
        """The start at ``beta`` from a path's history [(log encoder [|X|, K], log beta), ...], oldest first:
        with ``extrapolate`` and enough history the predictor's extrapolation, otherwise the last solution."""
        if not self.settings.extrapolate or len(history) <= _PREDICTOR_ORDER:
            return history[-1][0]
        solutions, log_betas = zip(*history)
        width = min(h.shape[1] for h in solutions)
        return _extrapolate([h[None, :, :width] for h in solutions], [np.array([b]) for b in log_betas],
                            np.log([beta]))[0]

    def step(self, index, previous):
        """Solve the betas ``index`` [B] from the previous solutions of their paths (B log encoders [|X|, K]),
        prepared as warm starts (merged; twinned and perturbed annealing up). Returns the solutions."""
        return _solve(self.channel, self.px, self.betas, index, self.starts(index, previous), self.settings,
                      self.solutions, merge=True, ceiling=self.ceiling)

    def starts(self, index, previous):
        """The warm starts (a list of log encoders) of the betas ``index`` [B] from their predecessors' solutions
        ``previous``, in chunks of bounded size; records whether each kept its predecessor's columns."""
        chunk = max(1, _BATCH_ENTRIES // (self.px.size * self.settings.n_clusters))
        starts = []
        for first in range(0, len(index), chunk):
            part = index[first: first + chunk]
            start, kept = self.prepare(part, _stack(previous[first: first + chunk]))
            self.solutions.kept[part] = kept
            starts += list(start)
        return starts

    def prepare(self, index, start):
        """Warm starts [B, |X|, K'] of the betas ``index`` from their predecessors' log encoders ``start`` [B, |X|, K],
        and bool [B] whether each kept its predecessor's columns (a prefix, nothing merged or twinned)."""
        settings = self.settings
        kept = np.ones(len(index), dtype=bool)
        if settings.merge_tol is not None:
            start, kept = _merge(self.channel, self.px, settings.merge_tol, start)
            if self.direction == "up":
                start, twinned = duplicate_clusters(start, self.px, settings.n_clusters)
                kept &= ~twinned
        if self.direction == "up":
            start = _perturb(start, settings.perturbation, self.noise(index, start.shape[2]))
        return start, kept

    def noise(self, index, width):
        """N(0, 1) noise [B, |X|, width] for the betas ``index``, drawn per beta from ``seed``."""
        shape = (self.px.size, self.settings.n_clusters)
        if self.betas.size * shape[0] * shape[1] <= _NOISE_ENTRIES:
            if self.noise_table is None:
                self.noise_table = np.random.default_rng(self.entropy).standard_normal((self.betas.size,) + shape)
            return self.noise_table[index, :, :width]
        return np.stack([np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(int(i),)))
                         .standard_normal(shape)[:, :width] for i in index])

    def same(self, first, second, residual):
        """Per pair of solutions at one beta (two lists of log encoders [|X|, K]): whether they are the same fixed
        point, i.e. have as many distinct live clusters and predictions within ``_SAME_SOLUTION`` times the larger
        of ``tol`` and ``residual`` [B] (the first solutions' residuals: unconverged ones are compared more loosely)."""
        width = max(p.shape[1] for p in first + second)
        chunk = max(1, _BATCH_ENTRIES // (2 * self.px.size * width))
        return np.concatenate([self._same(first[i: i + chunk], second[i: i + chunk], residual[i: i + chunk])
                               for i in range(0, len(first), chunk)])

    def _same(self, first, second, residual):
        encoder = np.exp(_stack(first + second))
        marginal, inverse = posterior(encoder, self.px)
        decoder = self.channel.decode(inverse)[0]
        merge_tol = self.settings.merge_tol or _MERGE_TOL
        counts = coincident_labels(decoder, marginal > _MASS_TOL, merge_tol).max(axis=1)
        prediction = np.einsum("bxn,bny->bxy", encoder, decoder)
        n = len(first)
        distance = np.abs(prediction[:n] - prediction[n:]).max(axis=(1, 2))
        return (counts[:n] == counts[n:]) & (distance <= _SAME_SOLUTION * np.maximum(self.settings.tol, residual))


def _relax(runs, progress):
    """Anneal by relaxation from the fresh solves, for every (annealing, paths) pair of ``runs`` (one per
    direction), their rounds solved together as one batch (see :class:`_Annealing`).

    Each round solves, per run, a batch of (path, position) pairs: verifications, each from the latest
    solution (or guess) of its predecessor, and broadcasts, each from the new solution of an earlier
    position. A verification that lands on another fixed point than the position held queues its
    successor and broadcasts its solution to the next ``_BROADCAST`` positions, so that a branch the
    guesses missed advances ``_BROADCAST`` positions per two rounds rather than one per round;
    broadcast solutions are verified in the next round.
    """
    first = runs[0][0]
    channel, px, betas, settings = first.channel, first.px, first.betas, first.settings
    work = [(sorted((c, position) for c, path in enumerate(paths) for position in range(1, len(path))), {})
            for _, paths in runs]
    while any(verify or broadcast for verify, broadcast in work):
        rounds = []
        for (annealing, paths), (verify, broadcast) in zip(runs, work):
            jobs = verify + sorted(broadcast)
            sources = [position - 1 for _, position in verify] + [broadcast[job] for job in sorted(broadcast)]
            index = np.array([paths[c][position] for c, position in jobs], dtype=np.int64)
            previous = [annealing.held(int(paths[c][source])) for (c, _), source in zip(jobs, sources)]
            starts = annealing.starts(index, previous) if jobs else []
            rounds.append((jobs, index, starts, [annealing.held(i) for i in index.tolist()]))
        solved, iterations, done, residual, _ = _iterate_starts(
            channel, px, betas, np.concatenate([index for _, index, _, _ in rounds]),
            [start for _, _, starts, _ in rounds for start in starts], settings, merge=True)
        offset = 0
        for k, ((annealing, paths), (verify, _), (jobs, index, _, reference)) in enumerate(zip(runs, work, rounds)):
            part = slice(offset, offset + len(jobs))
            offset += len(jobs)
            if not jobs:
                continue
            annealing.solutions.record(index, solved[part], iterations[part], done[part], residual[part])
            moved = ~annealing.same(solved[part], reference, residual[part])
            next_verify, next_broadcast = set(), {}
            for j, ((c, position), changed) in enumerate(zip(jobs, moved)):
                if j >= len(verify):
                    next_verify.add((c, position))  # solved from an earlier position: check it against its predecessor
                if changed and position + 1 < len(paths[c]):
                    next_verify.add((c, position + 1))
                    if j < len(verify):
                        for later in range(position + 2, min(position + 2 + _BROADCAST, len(paths[c]))):
                            next_broadcast[(c, later)] = position
            work[k] = (sorted(next_verify),
                       {job: source for job, source in next_broadcast.items() if job not in next_verify})
        progress.update()


def _sweeps(channel, px, py_x, betas, directions, settings, fresh, relaxed, ceiling=None):
    """Anneal through ``betas`` in each of ``directions`` (``"down"`` from high to low, ``"up"`` from low to
    high): a dict direction -> :class:`_Solutions`.

    The sorted betas are cut into ``settings.chains`` contiguous blocks, each annealed from the
    initial encoder through every ``stride``-th of its betas (see :class:`_Annealing`; ``fresh``,
    the fresh solves or None, gives the first betas' solutions and the relaxation's guesses; with
    ``relaxed`` the directions are annealed by relaxation together); the betas in between are then
    solved in batches (see :func:`_fill_in`). With ``merge_tol`` only the distinct live clusters are
    carried (see :mod:`vdualib.ib.reduction`): they are merged at the start of each beta and,
    annealing up, given perturbed twins so that they can split. With ``ceiling`` ([len(betas)]
    Lagrangians in bits, for paths annealed one beta after another), a beta's solve stops once it is
    provably above its ceiling (see :func:`vdualib.ib.solver.iterate`; the path goes on from where
    it stopped).
    """
    order = np.argsort(betas)
    annealings, paths, blocks = {}, {}, {}
    for direction in directions:
        blocks[direction] = np.array_split(order[::-1] if direction == "down" else order, settings.chains)
        paths[direction] = [block[:: settings.stride] for block in blocks[direction]]
        annealings[direction] = _Annealing(channel, px, betas, direction, settings, _Solutions(betas.size), fresh,
                                           ceiling)
        annealings[direction].solve_firsts(paths[direction])
    progress = tqdm(desc=f"{channel.method} beta sweeps ({', '.join(directions)})", disable=not settings.progress)
    if relaxed and directions:
        _relax([(annealings[direction], paths[direction]) for direction in directions], progress)
    else:
        for direction in directions:
            annealings[direction].in_order(paths[direction], progress)
    progress.close()
    for direction in directions:
        if settings.stride > 1:
            _fill_in(channel, px, betas, blocks[direction], annealings[direction].solutions, settings)
    return {direction: annealings[direction].solutions for direction in directions}


def _fill_in(channel, px, betas, blocks, solutions, settings):
    """Solve the betas between anchors, in batches of bounded size.

    A beta between anchors p and q (consecutive in annealing order) starts from the interpolation,
    linear in log beta, of their log encoders when q's start kept p's columns and they have as many
    distinct clusters, and otherwise from the anchor at the higher beta (a solution with all the
    clusters this beta may need: interpolating across a merge can land on the merged branch where
    the split one is better).
    """
    stride, solved = settings.stride, solutions.log_encoders
    anchors = np.concatenate([block[::stride] for block in blocks])
    cardinality = dict(zip(anchors.tolist(), batched_cardinalities(
        np.exp(pad_clusters(_stack([solved[i] for i in anchors]), settings.n_clusters)), px).tolist()))
    index, starts = [], []
    for block in blocks:
        for position in range(len(block)):
            base = position - position % stride
            if base == position:
                continue
            before = int(block[base])
            log_p = solved[before]
            index.append(block[position])
            if base + stride >= len(block):
                starts.append(log_p)
                continue
            after = int(block[base + stride])
            log_q = solved[after]
            if solutions.kept[after] and cardinality[before] == cardinality[after] and log_q.shape[1] <= log_p.shape[1]:
                neighbours = [log_p[None, :, : log_q.shape[1]], log_q[None]]
                log_betas = [np.log(betas[[before]]), np.log(betas[[after]])]
                starts.append(_extrapolate(neighbours, log_betas, np.log(betas[[block[position]]]))[0])
            else:
                starts.append(log_p if betas[before] > betas[after] else log_q)
    if index:
        _solve(channel, px, betas, np.array(index), starts, settings, solutions, merge=True)


def _fresh_solves(channel, px, betas, settings, ceiling=None):
    """:func:`vdualib.ib.solve` at every beta, each from the initial encoder, batched: a :class:`_Solutions`
    (with ``ceiling``, [len(betas)] Lagrangians in bits, each stopped once provably above its ceiling)."""
    start = initial_log_encoder(px.size, settings.n_clusters, settings.init, settings.seed)
    solutions = _Solutions(betas.size)
    _solve(channel, px, betas, np.arange(betas.size), [start] * betas.size, settings, solutions,
           desc=f"{channel.method} single solves", ceiling=ceiling)
    return solutions


def _keep_better(best, candidate):
    """Per beta, the candidate's solution where its objective is strictly lower (``best``'s arrays and lists
    updated in place, and returned)."""
    better = candidate["objective"] < best["objective"]
    for key, value in best.items():
        if isinstance(value, list):
            for i in np.flatnonzero(better).tolist():
                value[i] = candidate[key][i]
        else:
            value[better] = candidate[key][better]
    return best


def _best_of_runs(channel, px, py_x, betas, direction, settings):
    """Fields of each run of ``direction`` (see ``_RUNS``), keeping per beta the lowest objective, then padded
    (see :func:`_padded`): only the kept solutions are stacked. ``n_iter`` counts every map evaluation spent
    on each beta (a computation shared by runs once)."""
    runs = _RUNS[direction]
    relaxed = px.size * settings.n_clusters < _RELAXED_ENTRIES and not settings.extrapolate
    down = None  # the down run's fields, when computed before the other runs
    if relaxed or "down" not in runs:
        fresh = _fresh_solves(channel, px, betas, settings) if relaxed or "solve" in runs else None
        sweeps = _sweeps(channel, px, py_x, betas, [run for run in runs if run != "solve"], settings, fresh, relaxed)
    else:
        # Large problems: the down run first; the fresh solves and the up run then stop, at each beta, once
        # provably above its Lagrangian there (they could not be the best one).
        sweeps = _sweeps(channel, px, py_x, betas, ["down"], settings, None, False)
        down = sweeps["down"].fields(channel, px, py_x, betas)
        ceiling = down["objective"]
        fresh = _fresh_solves(channel, px, betas, settings, ceiling) if "solve" in runs else None
        if "up" in runs:
            sweeps.update(_sweeps(channel, px, py_x, betas, ["up"], settings, None, False, ceiling))
    n_iter = np.zeros(betas.size, dtype=np.int64) if fresh is None else fresh.n_iter.copy()
    best = None
    for run in runs:
        solutions = fresh if run == "solve" else sweeps[run]
        if run != "solve":
            n_iter += solutions.n_iter
        # (a run stopped above the down run's Lagrangian at a beta cannot be the best there: not summarised)
        fields = down if run == "down" and down is not None else solutions.fields(
            channel, px, py_x, betas, skip_stopped=down is not None)
        fields["origin"] = np.full(betas.size, run, dtype=f"<U{max(len(name) for name in runs)}")
        best = fields if best is None else _keep_better(best, fields)
    best["n_iter"] = n_iter
    return _padded(best, channel, px, settings.n_clusters)


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
        >>> from vdualib.ib import toy_problem
        >>> family = toy_problem()
        >>> curve_channel(family, family.px, family.py_x, [1.0, 10.0]).ixt.tolist()     # bits
        [0.0, 0.716]
    """
    betas = check_betas(betas)
    n_clusters = check_settings(px.size, n_clusters, tol, max_iter)
    seed = checks.seed("seed", seed)
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
        perturbation=checks.finite_float("perturbation (> 0: up-annealing splits clusters by it)", perturbation,
                                         low=0.0, low_open="up" in _RUNS[direction]),
        extrapolate=checks.flag("extrapolate", extrapolate),
        merge_tol=merge_tol,
        tol=tol,
        max_iter=int(max_iter),
        seed=seed,
        accelerate=checks.flag("accelerate", accelerate),
        progress=checks.flag("progress", progress),
    )
    with single_threaded_blas():
        fields = _best_of_runs(channel, px, py_x, betas, direction, settings)
    pxy = px[:, None] * py_x
    result = IBCurve(
        betas=betas,
        method=channel.method,
        ixt=fields["ixt"],
        ity=fields["ity"],
        distortion=fields["distortion"],
        objective=fields["objective"],
        n_clusters_effective=fields["n_clusters_effective"],
        encoders=fields["encoder"],
        decoders=fields["decoder"],
        marginals=fields["marginal"],
        n_iter=fields["n_iter"],
        converged=fields["converged"],
        hx=float(entropy_bits(px)),
        ixy=mutual_information_bits(pxy / pxy.sum()),
        origin=fields["origin"],
        residual=fields["residual"],
        tol=float(tol),
    )
    if result.unconverged:
        listed = ", ".join(f"{beta:.6g} ({residual:.2g})" for beta, residual in result.unconverged[:_UNCONVERGED_LISTED])
        more = len(result.unconverged) - _UNCONVERGED_LISTED
        warnings.warn(f"{len(result.unconverged)} of {betas.size} betas did not converge to tol={tol:g} within "
                      f"max_iter={max_iter} map evaluations; beta (residual max |Δ p(x_hat|x)|): {listed}"
                      + (f" and {more} more" if more > 0 else "") + ". See IBCurve.unconverged; raise max_iter.",
                      RuntimeWarning, stacklevel=3)
    return result


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
    runs; ``direction="down"`` is the fastest single run. On large problems (|X| n_clusters >= 4096)
    the down run goes first, and the single solves and the up run are stopped at a beta once, after
    a few map evaluations, their free energy -sum_x p(x) log Z(x) (a lower bound of the Lagrangian
    of their current point) is above the down run's Lagrangian there: such a run could still have
    gone on to a lower fixed point, so there the result is no worse than the down run and than each
    other run as far as it was pursued.

    The runs are batched across betas (see the module docstring): the fresh solves iterate many
    betas as one array; on small problems (|X| n_clusters < 4096) the sweeps are annealed by
    relaxation from the fresh solves, which gives the same fixed points as annealing one beta
    after another at the cost of a few batched passes; larger problems are annealed one beta after
    another. Convergence is reported, not assumed: ``converged`` and ``residual`` say for each beta
    whether its returned solution moved less than ``tol`` at its last application of the equations,
    :attr:`IBCurve.unconverged` names the betas that did not with their residuals, and a
    ``RuntimeWarning`` lists them.

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
            (log-scale noise, > 0) so clusters can split.
        chains: cut the sorted betas into this many contiguous blocks annealed side by side in
            one batch (1 = a single annealing path; ``len(betas)`` = every beta solved
            independently from the start encoder). More chains: fewer Python steps, less warm start.
        extrapolate: start each beta from the linear extrapolation (in log beta) of the two previous
            solutions of its chain instead of the previous solution (a predictor-corrector
            continuation: fewer iterations per beta, but on a coarse grid the prediction can land
            on a worse branch, which plain annealing would not have left).
        init, tol, max_iter, seed: as in :func:`vdualib.ib.solve` (``max_iter`` map evaluations each
            time a beta is solved; ``seed`` also draws the up-annealing's perturbations; ``None`` is
            not reproducible).
        progress: show tqdm progress bars.
        merge_tol: before each beta, merge clusters whose decoders p(y|x_hat) differ by less than
            this in total variation and drop clusters with p(x_hat) < 1e-12, so the iteration runs
            on the effective clusters only (annealing up, each cluster gets a perturbed twin so it
            can split). ``None``: always iterate all ``n_clusters``. Returned arrays have
            ``n_clusters`` columns either way (merged-away clusters are empty).
        accelerate: accelerated iteration (SQUAREM, Anderson mixing, Newton steps on small
            problems), as in :func:`vdualib.ib.solve`.
        stride: anneal through every ``stride``-th beta only; each beta in between is then solved,
            many at once as one batch, from the interpolation (linear in log beta) of its two
            neighbouring solutions, or from the one at higher beta where clusters merged or split
            between them. Fewer Python-level steps for dense sweeps; 1 = plain annealing.

    Returns:
        :class:`IBCurve` (information in bits), arrays in the order of ``betas``; its ``origin``
        says which run each solution came from, ``unconverged`` which betas did not converge.

    Raises:
        ValueError: an invalid ``pxy`` (NaN, inf, negative, not summing to 1, wrong shape), method,
            beta grid or setting.

    Example:
        >>> import numpy as np
        >>> from vdualib import ib
        >>> sweep = ib.curve(ib.toy_problem().joint(), np.geomspace(1, 100, 50))
        >>> bool(sweep.ity[-1] <= sweep.ixy + 1e-9), sweep.unconverged
        (True, [])
    """
    channel, px, py_x = make_channel(pxy, method)
    return curve_channel(channel, px, py_x, betas, n_clusters, direction, chains, perturbation, extrapolate,
                         init, tol, max_iter, seed, progress, merge_tol, accelerate, stride)
