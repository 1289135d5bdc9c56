"""Self-consistent iterative solver for the IB and the dualIB on a known discrete p(x, y).

For a cluster variable x_hat with N values both methods iterate (Blahut-Arimoto style)

    encoder   p(x_hat|x) = p(x_hat) exp(-beta d(x, x_hat)) / Z(x, beta)
    marginal  p(x_hat)   = sum_x p(x) p(x_hat|x),   inverse p(x|x_hat) = p(x_hat|x) p(x) / p(x_hat)

and differ only in the decoder and the distortion:

    IB      d = KL(p(y|x) || p(y|x_hat)),   p(y|x_hat) = sum_x p(y|x) p(x|x_hat)          (arithmetic mean)
    dualIB  d = KL(p(y|x_hat) || p(y|x)),   p(y|x_hat) ∝ prod_x p(y|x)^{p(x|x_hat)}      (geometric mean)

``beta`` here is the IB papers' trade-off parameter: it multiplies the distortion
inside the exponent (large beta = little compression). The variational models
(``vdualib.losses``) use the inverse convention, a beta that multiplies the rate.

The logits log p(x_hat) - beta d are normalised in log space (max-shifted softmax), so that
beta up to 1e4 and p(y|x) near 0 or 1 stay finite. The engine is batched over betas: encoders
are stored cluster-major, [N, B, |X|], and one application of the equations to all of them is
two matrix products and a softmax over x_hat (see :class:`_Kernel`). Plain iteration converges
slowly near critical betas (the map's Jacobian has eigenvalues close to 1); :func:`iterate`
accelerates it (SQUAREM, Anderson mixing, saddle-free Newton steps on small problems) and
reports per beta whether the solution converged and its residual max |Δ p(x_hat|x)|.
Distortions are in nats internally; every information quantity returned is in bits.
Written on numpy because no scipy/sklearn routine solves these fixed-point equations.
"""

import contextlib
import dataclasses
import functools
import warnings

import numpy as np
from scipy.special import xlogy

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # optional: without it BLAS keeps its default thread count
    ThreadpoolController = None

from vdualib import checks
from vdualib.ib.joint import entropy_bits, validate_joint
from vdualib.ib.reduction import merge_clusters

__all__ = ["IBSolution", "solve", "METHODS"]

METHODS = ("ib", "dualib")
DEFAULT_SEED = 0  # the default start encoder, so that results are the same in every process
_LN2 = np.log(2.0)
_TINY = np.finfo(np.float64).tiny
#: largest beta accepted: beta times a distortion (at most a few thousand nats for float64
#: probabilities) stays far inside float64's range
MAX_BETA = 1e100
#: largest max_iter accepted (evaluation counts are int64)
MAX_ITER = 10**12
_MAX_STEP = 1e4  # largest SQUAREM step length |alpha|
# Anderson mixing combines this many past points, from this many map evaluations on. Measured on the
# 256 x 16 sweep annealed down: memory 16 took 7.1k map evaluations where 3 took 13.4k (its slowest
# betas 2-4 times fewer), at the same Lagrangians; 24 and 32 gained nothing more. An earlier start (30)
# saved a quarter of the dualIB's evaluations but drew 3 betas to other fixed points, up to 3e-6 bits higher.
_ANDERSON_MEMORY = 16
_ANDERSON_AFTER = 60
_HISTORY_ENTRIES = 1 << 25  # bound on the entries an Anderson history holds (its memory shrinks on huge batches)
_ANDERSON_RIDGE = 1e-14  # ridge of its least-squares problem, relative to the largest squared residual
_PRUNE_AFTER = 10  # map evaluations an item runs before its ceiling (see iterate) applies
_MERGE_AFTER = 12  # map evaluations an item runs before coincident clusters are merged within the iteration
_MERGE_MASS = 1e-12  # ... and clusters whose p(x_hat) fell to this dropped
_NEWTON_SIZE = 64  # items with at most this many encoder entries |X| N finish with Newton's method ...
_NEWTON_AFTER = 48  # ... once they have used this many map evaluations,
_NEWTON_MASS = 1e-6  # and have no cluster with a mass in (0, _NEWTON_MASS) (dying: no interior fixed point)
_NEWTON_SCALES = (1.0, 0.25, 1 / 16, 1 / 64)  # fractions of the Newton step tried at once ...
_ESCAPES = (1.0, 16.0, 256.0)  # ... with its part along unstable directions also multiplied by these
_FD_STEP = 1e-7  # forward-difference step, relative to the entry ...
_FD_FLOOR = 1e-3  # ... or to this, if larger
_UNSTABLE = 1e-6  # eigenvalues of modulus above 1 + _UNSTABLE are unstable directions
# |1 - eigenvalue| below this: a direction Newton's step leaves alone (the free split of mass between
# coincident clusters). 1e-6 also left alone the slow critical mode next to a split: on the toy IB at
# beta 4.365 a solve then crawled for 100,000 evaluations (residual 3.8e-9); with 1e-8 it converges in
# 249, to a Lagrangian 1.4e-9 bits lower, and no beta of the toy's sweeps ends higher.
_SINGULAR = 1e-8


@dataclasses.dataclass(frozen=True)
class IBSolution:
    """One solution of the IB or dualIB equations at one beta.

    Attributes:
        beta: trade-off parameter multiplying the distortion in the exponent.
        method: ``"ib"``, ``"dualib"`` or ``"dualib-expfamily"``.
        encoder: p(x_hat|x), shape [|X|, N].
        decoder: the method's decoder p(y|x_hat), shape [N, |Y|] (geometric mean for the dualIB).
        marginal: p(x_hat), shape [N].
        ixt: I(X; X_hat) in bits.
        ity: I(X_hat; Y) in bits, always through the Markov decoder sum_x p(y|x) p(x|x_hat),
            so IB and dualIB are scored on the same footing.
        distortion: E_{p(x, x_hat)}[d(x, x_hat)] in bits.
        objective: ixt + beta * distortion, in bits (the functional the iteration decreases).
        n_iter: applications of the self-consistent equations (map evaluations) used.
        converged: whether max |Δ p(x_hat|x)| between the last two iterates fell below ``tol``.
        residual: that max |Δ p(x_hat|x)| (a probability) at the returned encoder: below ``tol``
            when converged, otherwise how far from converged it was left.

    Example:
        >>> s = solve([[0.4, 0.1], [0.1, 0.4]], 10.0)
        >>> s.ixt, s.ity     # bits
        (0.997, 0.278)
        >>> s.converged, s.residual < 1e-10
        (True, True)
    """

    beta: float
    method: str
    encoder: np.ndarray
    decoder: np.ndarray
    marginal: np.ndarray
    ixt: float
    ity: float
    distortion: float
    objective: float
    n_iter: int
    converged: bool
    residual: float


def log_normalize(logits):
    """logits - logsumexp(logits) over the last axis (max-shifted; cheaper than scipy's for small arrays)."""
    shift = logits.max(axis=-1, keepdims=True)
    return logits - (shift + np.log(np.exp(logits - shift).sum(axis=-1, keepdims=True)))


def single_threaded_blas():
    """Context manager limiting BLAS to one thread (a no-op without ``threadpoolctl``).

    The products here are small (|X| N |Y| multiply-adds, at most ~1e7): BLAS threads cost more
    in start-up and spin-waiting than they save, and on a loaded machine far more (measured:
    a 256x256 by 256x16 product takes 0.07 ms on one thread, >10 ms with two contended threads).
    """
    if ThreadpoolController is None:
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller():
    """The process's threadpoolctl controller (finding the loaded libraries takes about a millisecond)."""
    return ThreadpoolController()


def stacked_matmul(stack, matrix):
    """``stack [..., K] @ matrix [K, M]`` as one 2-D BLAS product.

    numpy's broadcasting matmul of a 3-D by a 2-D array runs an order of magnitude slower.
    """
    return (stack.reshape(-1, stack.shape[-1]) @ matrix).reshape(stack.shape[:-1] + (matrix.shape[1],))


class IBChannel:
    """IB decoder (arithmetic mean of p(y|x)) and distortion KL(p(y|x) || p(y|x_hat)) in nats.

    Besides :meth:`decode`, a channel describes its distortion for the solver's fast path:
    ``-beta d(x, x_hat) = coef[x_hat] . basis[x] + cluster_term[x_hat] + beta offset[x]``, where
    ``coef`` and ``cluster_term`` come from :meth:`exponent` of the cluster means
    sum_x p(x|x_hat) statistics[x] (here the Markov decoder p(y|x_hat) itself).
    """

    method = "ib"

    def __init__(self, py_x):
        self.py_x = py_x
        self._neg_entropy = xlogy(py_x, py_x).sum(axis=1)
        self.statistics = py_x
        self.basis = py_x
        self.offset = -self._neg_entropy

    def decode(self, inverse):
        """inverse p(x|x_hat) [B, N, |X|] -> (decoder [B, N, |Y|], distortion [B, |X|, N])."""
        decoder = stacked_matmul(inverse, self.py_x)
        # Empty clusters have decoder 0; clipping keeps their (unused) distortion finite.
        log_decoder = np.log(np.maximum(decoder, _TINY))
        return decoder, self._neg_entropy[None, :, None] - stacked_matmul(log_decoder, self.py_x.T).swapaxes(1, 2)

    def exponent(self, means, betas):
        """Cluster means (decoders p(y|x_hat) [..., B, |Y|]) and betas [B] -> (coef beta log p(y|x_hat), no cluster term)."""
        coef = np.log(np.maximum(means, _TINY))
        coef *= betas[:, None]
        return coef, None


class DualIBChannel:
    """dualIB decoder (normalised geometric mean) and distortion KL(p(y|x_hat) || p(y|x)) in nats.

    Needs p(y|x) > 0 everywhere. The cluster means are sum_x p(x|x_hat) log p(y|x), the
    unnormalised log decoder (see :class:`IBChannel` for the fast-path attributes).
    """

    method = "dualib"

    def __init__(self, py_x):
        self.log_py_x = np.log(py_x)
        self.statistics = self.log_py_x
        self.basis = self.log_py_x
        self.offset = np.zeros(py_x.shape[0])

    def decode(self, inverse):
        """inverse p(x|x_hat) [B, N, |X|] -> (decoder [B, N, |Y|], distortion [B, |X|, N])."""
        log_decoder = log_normalize(stacked_matmul(inverse, self.log_py_x))
        decoder = np.exp(log_decoder)
        neg_entropy = (decoder * log_decoder).sum(axis=-1)[:, None, :]
        return decoder, neg_entropy - stacked_matmul(decoder, self.log_py_x.T).swapaxes(1, 2)

    def exponent(self, means, betas):
        """Cluster means [..., B, |Y|] and betas [B] -> (coef beta p(y|x_hat), cluster term -beta sum_y p log p(y|x_hat))."""
        log_decoder = log_normalize(means)
        decoder = np.exp(log_decoder)
        neg_entropy = (decoder * log_decoder).sum(axis=-1)
        decoder *= betas[:, None]
        return decoder, -betas * neg_entropy


def posterior(encoder, px):
    """(marginal p(x_hat) [B,N], inverse p(x|x_hat) [B,N,X]) of an encoder [B,X,N]; empty clusters get inverse 0."""
    weight = encoder * px[:, None]
    marginal = weight.sum(axis=1)
    inverse = weight.swapaxes(1, 2) / np.where(marginal > 0, marginal, 1.0)[:, :, None]
    return marginal, inverse


class _Kernel:
    """The self-consistent map of one channel and p(x) on cluster-major encoders ``[N, B, |X|]``
    (p(x_hat|x) of batch item b at [x_hat, b, x]), as two 2-D BLAS products and a softmax over x_hat.

    With the channel's cluster means mu(x_hat) = sum_x p(x|x_hat) statistics[x] (one product of the
    encoder with [p(x) statistics, p(x)], whose last column is p(x_hat)), the logits

        log p(x_hat) + cluster_term(x_hat) + coef(x_hat) . basis[x]

    are a second product, of [coef, log p(x_hat) + cluster_term] with [basis, 1]^T; the channel's
    term beta offset[x] is the same for every x_hat and only enters the normaliser Z(x). In this
    layout every reduction over x_hat adds whole [B, |X|] slices, which is fast for many small items
    and for one large item alike.
    """

    def __init__(self, channel, px):
        self.channel, self.px = channel, px
        self.moments = np.concatenate([px[:, None] * channel.statistics, px[:, None]], axis=1)
        self.basis = np.ascontiguousarray(np.concatenate([channel.basis, np.ones((px.size, 1))], axis=1).T)
        self.mean_offset = float(px @ channel.offset)

    def step(self, betas, encoder):
        """One application of the equations to ``encoder`` [N, B, |X|]: (new encoder [N, B, |X|], free energy [B]
        in nats, -sum_x p(x) log Z(x), which plain iterations never increase).

        Empty clusters (p(x_hat) = 0) stay empty.
        """
        moments = stacked_matmul(encoder, self.moments)
        marginal = moments[..., -1]
        means = moments[..., :-1]
        means /= np.where(marginal > 0, marginal, 1.0)[..., None]
        coef, cluster_term = self.channel.exponent(means, betas)
        with np.errstate(divide="ignore"):
            log_marginal = np.log(marginal)
        if cluster_term is not None:
            log_marginal += cluster_term
        logits = stacked_matmul(np.concatenate([coef, log_marginal[..., None]], axis=-1), self.basis)
        shift = logits.max(axis=0)
        logits -= shift
        new = np.exp(logits, out=logits)
        total = new.sum(axis=0)
        new *= 1.0 / total
        np.log(total, out=total)
        total += shift
        total *= self.px
        return new, -total.sum(axis=1) - betas * self.mean_offset


def _max_change(new, old):
    """max |new - old| per batch item of two [N, B, |X|] arrays."""
    difference = new - old
    np.abs(difference, out=difference)
    return difference.max(axis=0).max(axis=1)


def _normalized(point):
    """``point`` [N, B, |X|] clipped at 0 and renormalised over x_hat (axis 0), in place."""
    np.maximum(point, 0.0, out=point)
    point *= 1.0 / point.sum(axis=0)
    return point


def _squarem_point(encoders, px, alpha=None):
    """SQUAREM extrapolation (Varadhan & Roland 2008, scheme S3) of three plain iterates, per batch item.

    With r = E1 - E0 and v = E2 - 2 E1 + E0 (encoders [N, B, |X|]), the step length
    alpha = -|r| / |v| (at most -1) cancels the slowest geometric mode exactly; the point is
    E0 - 2 alpha r + alpha^2 v, clipped at 0 and renormalised (alpha = -1 gives E2). The norms are
    chi-square (Fisher) norms sum_x p(x) sum_x_hat r^2 / E1, so that neither a few vanishing entries
    nor the bulk sets alpha alone. ``alpha`` [B] given: that step length instead.
    Returns (point [N, B, |X|], alpha [B]).
    """
    encoder0, encoder1, encoder2 = encoders
    r = encoder1 - encoder0
    v = encoder2 - encoder1
    v -= r
    if alpha is None:
        weight = np.maximum(encoder1, _TINY)
        np.divide(px, weight, out=weight)
        # Reductions in a fixed order per item (first over x_hat, then over x), whatever the batch.
        weighted = weight * r
        weighted *= r
        r_norm = np.sqrt(weighted.sum(axis=0).sum(axis=1))
        np.multiply(weight, v, out=weighted)
        weighted *= v
        v_norm = np.sqrt(weighted.sum(axis=0).sum(axis=1))
        alpha = -np.clip(r_norm / np.where(v_norm > 0, v_norm, np.inf), 1.0, _MAX_STEP)
    r *= -2 * alpha[:, None]
    r += encoder0
    v *= (alpha**2)[:, None]
    r += v
    return _normalized(r), alpha


class _History:
    """The last ``size`` pairs (residual r = F(E) - E, image F(E)) of each batch item, for Anderson mixing, with
    the Gram matrix <r_i, r_j> of the residuals in the p(x)-weighted norm sum_x p(x) sum_x_hat r_i r_j.

    Arrays are [B, size, N |X|] (item-major, so that each item's pairs are one matrix); the Gram
    matrix [B, size, size] is updated as pairs are added, so that a mixing step reads the history once.
    """

    def __init__(self, n_items, shape, size, px):
        self.residuals = self.images = None  # allocated when the first pair is added
        self.gram = np.zeros((n_items, size, size))
        self.count = np.zeros(n_items, dtype=np.int64)  # pairs stored so far
        self.size, self.px, self.entries = size, px, shape[0] * shape[1]

    def add(self, items, points, images):
        """Store (image - point, image) for each of ``items`` (indices into the batch; points and images
        [N, len(items), |X|]) over its oldest pair."""
        if not len(items):
            return
        if self.residuals is None:
            self.residuals = np.zeros((len(self.count), self.size, self.entries))
            self.images = np.zeros((len(self.count), self.size, self.entries))
        slots = self.count[items] % self.size
        residual = (images - points).swapaxes(0, 1).reshape(len(items), -1)
        self.residuals[items, slots] = residual
        self.images[items, slots] = images.swapaxes(0, 1).reshape(len(items), -1)
        stored = self.residuals if len(items) == len(self.count) else self.residuals[items]
        weighted = (residual.reshape(len(items), -1, self.px.size) * self.px).reshape(len(items), -1, 1)
        products = np.matmul(stored, weighted)[..., 0]
        self.gram[items, slots, :] = products
        self.gram[items, :, slots] = products
        self.count[items] += 1

    def keep(self, mask):
        """Drop the items where ``mask`` [B] is False."""
        if self.residuals is not None:
            self.residuals, self.images = self.residuals[mask], self.images[mask]
        self.gram, self.count = self.gram[mask], self.count[mask]

    def anderson_point(self, items, shape):
        """Anderson mixing (type II) of the stored pairs of ``items``: the combination sum_i w_i F(E_i) with
        sum_i w_i = 1 whose combined residual sum_i w_i r_i has the least norm (for a linear map, the fixed
        point of the secant model through the stored points), clipped at 0 and renormalised. Returns
        [N, len(items), |X|] for encoders of ``shape`` (N, |X|)."""
        size = self.size
        valid = np.arange(size) < np.minimum(self.count[items], size)[:, None]
        gram = np.where(valid[:, :, None] & valid[:, None, :], self.gram[items], 0.0)
        scale = np.maximum(np.max(np.diagonal(gram, axis1=1, axis2=2), axis=1), _TINY)
        # A ridge relative to the largest residual; unused slots get a prohibitive one (weight ~0).
        gram += np.eye(size) * (np.where(valid, _ANDERSON_RIDGE, 1e12) * scale[:, None])[:, :, None]
        try:
            weights = np.linalg.solve(gram, np.ones((len(items), size, 1)))[..., 0]
        except np.linalg.LinAlgError:
            weights = np.linalg.pinv(gram, hermitian=True).sum(axis=2)
        weights /= weights.sum(axis=1, keepdims=True)
        images = self.images if len(items) == len(self.count) else self.images[items]
        mixed = np.matmul(weights[:, None, :], images).reshape((len(items),) + shape)
        return _normalized(np.ascontiguousarray(mixed.swapaxes(0, 1)))


class _Batch:
    """The items of :func:`iterate` still running (``active``: indices into the caller's batch), with the
    latest point, residual and map evaluations of every item."""

    def __init__(self, kernel, betas, tol, max_iter, encoder, accelerate):
        self.kernel, self.betas, self.tol, self.max_iter = kernel, betas, tol, max_iter
        n_clusters, n_items, n_x = encoder.shape
        self.result = encoder.copy()
        self.n_iter = np.zeros(n_items, dtype=np.int64)
        self.converged = np.zeros(n_items, dtype=bool)
        self.residual = np.full(n_items, np.inf)
        self.stopped = np.zeros(n_items, dtype=bool)  # left above their ceiling (see iterate)
        self.active = np.arange(n_items)
        # Small items finish with Newton's method, larger ones with Anderson mixing.
        self.small = n_clusters * n_x <= _NEWTON_SIZE
        self.history = None
        memory = min(_ANDERSON_MEMORY, _HISTORY_ENTRIES // (2 * encoder.size))
        if accelerate and not self.small and memory >= 3:
            self.history = _History(n_items, (n_clusters, n_x), memory, kernel.px)

    def budget(self, items=None):
        """Map evaluations each active item (or ``items``, positions in the batch) may still use."""
        return self.max_iter - self.n_iter[self.active if items is None else self.active[items]]

    def apply(self, items, points):
        """F at ``points`` [N, len(items), |X|] of the active ``items``: (images, free energies [len(items)] in
        nats, max |F(E) - E| [len(items)])."""
        images, free_energy = self.kernel.step(self.betas[self.active[items]], points)
        index = self.active[items]
        if index.size > 1 and np.any(index[1:] <= index[:-1]):  # an item evaluated at several points
            np.add.at(self.n_iter, index, 1)
        else:
            self.n_iter[index] += 1
        return images, free_energy, _max_change(images, points)

    def settle(self, items, images, change):
        """Record ``images`` as the latest points of ``items``, with their residuals; those within ``tol`` converge."""
        index = self.active[items]
        self.residual[index] = change
        self.result[:, index] = images
        self.converged[index] = change < self.tol

    def remember(self, items, points, images):
        """Add the pairs to the Anderson history of the items that have run long enough to use it."""
        if self.history is not None:
            late = self.n_iter[self.active[items]] > _ANDERSON_AFTER
            if late.all():
                self.history.add(items, points, images)
            elif late.any():
                self.history.add(items[late], points[:, late], images[:, late])

    def retire(self, *arrays):
        """Drop converged items and those out of evaluations; returns ``arrays`` (each [N, B, |X|] or [B]) for
        the rest."""
        keep = ~self.converged[self.active] & (self.budget() > 0) & ~self.stopped[self.active]
        if keep.all():
            return list(arrays)
        self.active = self.active[keep]
        if self.history is not None:
            self.history.keep(keep)
        return [array[:, keep] if array.ndim == 3 else array[keep] for array in arrays]


def iterate(channel, px, betas, log_encoder, tol, max_iter, accelerate=True, merge_tol=None, ceiling=None):
    """Iterate the self-consistent equations for a batch of betas until each encoder moves less than ``tol``.

    ``log_encoder`` is [B, |X|, N]. Plain iteration (the map F) converges geometrically, slowly
    near critical betas, where the map's Jacobian has eigenvalues close to 1. With ``accelerate``
    each cycle is two plain steps E0 -> E1 -> E2 followed by an extrapolation:

    - SQUAREM's point (one slow mode; it also speeds the escape from a saddle), and, on items with
      more than ``_NEWTON_SIZE`` entries |X| N that have used more than ``_ANDERSON_AFTER``
      evaluations, Anderson mixing of their last ``_ANDERSON_MEMORY`` points (several slow modes).
      F is applied at these candidates and the one of lower free energy kept if that is no higher
      than after the step from E1 (the plain iteration never raises it); otherwise F is applied at E2
      and kept if it qualifies, E2 if not. (Halving the rejected step towards E2, as SQUAREM's
      authors do, and bounding |alpha| adaptively were measured: 6% fewer evaluations on the 256 x 16
      dualIB sweep, 6-10% more on the toy's, so the plain fall-back stays.);
    - on small items that have used ``_NEWTON_AFTER`` evaluations, a saddle-free Newton step from
      E2 instead (see :func:`_newton_step`).

    With ``merge_tol`` (a total variation), on small items (the Newton ones), once an item has used
    ``_MERGE_AFTER`` evaluations its clusters whose decoders come within ``merge_tol`` are merged and those whose p(x_hat) fell to
    ``_MERGE_MASS`` dropped at the start of each cycle (:func:`vdualib.ib.reduction.merge_clusters`):
    the rule annealing applies between betas, applied within one. Coincident clusters are a fixed
    point's neutral directions (their split of mass is free) and collapsing ones its slowest.

    With ``ceiling`` ([B] in nats), an item that has used ``_PRUNE_AFTER`` evaluations is stopped,
    unconverged, at a point E whose free energy -sum_x p(x) log Z(x) (after the step from E) is above
    its ceiling, and E is returned: that free energy is a lower bound of E's Lagrangian (nats).

    Convergence is always judged on an application of F at a kept point: a returned encoder is
    F(E) with max |F(E) - E| < ``tol``. Each item leaves the batch once converged, out of map
    evaluations (``max_iter``) or stopped, so items are solved exactly as they would be one at a
    time.

    Returns (log encoder [B, |X|, N], map evaluations used [B], converged [B], residual [B],
    stopped [B]): the residual is max |F(E) - E| (a probability) at the returned point's application
    of F, below ``tol`` where converged; ``stopped`` marks the items left above their ceiling.
    """
    encoder = np.exp(log_normalize(log_encoder)).transpose(2, 0, 1).copy()
    batch = _Batch(_Kernel(channel, px), betas, tol, max_iter, encoder, accelerate)
    current = encoder
    while batch.active.size:
        if merge_tol is not None and batch.small:
            current = _merged(batch, current, merge_tol)
        everyone = np.arange(batch.active.size)
        first, free_energy0, change = batch.apply(everyone, current)
        batch.settle(everyone, first, change)
        if ceiling is not None:
            index = batch.active
            stop = (batch.n_iter[index] >= _PRUNE_AFTER) & (free_energy0 > ceiling[index]) & ~batch.converged[index]
            batch.stopped[index[stop]] = True
            batch.result[:, index[stop]] = current[:, stop]  # E, whose Lagrangian is at least that free energy
        current, first = batch.retire(current, first)
        if not batch.active.size:
            break
        everyone = np.arange(batch.active.size)
        second, free_energy1, change = batch.apply(everyone, first)
        batch.settle(everyone, second, change)
        batch.remember(everyone, first, second)
        current, first, second, free_energy1 = batch.retire(current, first, second, free_energy1)
        if not accelerate or not batch.active.size:
            current = second
            continue
        newton = np.zeros(batch.active.size, dtype=bool)
        if batch.small:
            mass = (second * px).sum(axis=2)
            newton = ((batch.n_iter[batch.active] >= _NEWTON_AFTER)
                      & (batch.budget() >= second.shape[0] * second.shape[2] + 1 + len(_NEWTON_SCALES))
                      & ~np.any((mass > 0) & (mass < _NEWTON_MASS), axis=0))
        extrapolated = np.flatnonzero(~newton)
        if newton.all():
            current = _newton_step(batch, np.flatnonzero(newton), second)
        elif not newton.any():
            current = _accelerated_step(batch, px, extrapolated, (current, first, second), free_energy1)
        else:
            solved = np.flatnonzero(newton)
            next_point = second.copy()
            next_point[:, solved] = _newton_step(batch, solved, second[:, solved])
            next_point[:, extrapolated] = _accelerated_step(
                batch, px, extrapolated, tuple(e[:, extrapolated] for e in (current, first, second)),
                free_energy1[extrapolated])
            current = next_point
        (current,) = batch.retire(current)
    with np.errstate(divide="ignore"):
        return np.log(batch.result.transpose(1, 2, 0)), batch.n_iter, batch.converged, batch.residual, batch.stopped


def _merged(batch, points, merge_tol):
    """``points`` [N, B, |X|] of the active items with, for those that have used ``_MERGE_AFTER`` evaluations,
    coincident clusters merged and clusters of mass at most ``_MERGE_MASS`` dropped (merged columns first,
    the rest empty). Items whose point changes forget their Anderson history."""
    late = np.flatnonzero(batch.n_iter[batch.active] >= _MERGE_AFTER)
    if not late.size:
        return points
    px = batch.kernel.px
    encoder = points[:, late].transpose(1, 2, 0)
    merged, _ = merge_clusters(encoder, batch.kernel.channel.decode(posterior(encoder, px)[1])[0], px, merge_tol,
                               _MERGE_MASS)
    if merged is None:
        return points
    new = np.zeros_like(encoder)
    new[:, :, : merged.shape[2]] = np.exp(merged)
    # Changed: fewer live clusters than before (merged or dropped). The others keep their point exactly.
    changed = (new.sum(axis=1) > 0).sum(axis=1) < ((encoder * px[:, None]).sum(axis=1) > 0).sum(axis=1)
    if not changed.any():
        return points
    points = points.copy()
    points[:, late[changed]] = new[changed].transpose(2, 0, 1)
    if batch.history is not None:
        batch.history.count[late[changed]] = 0
    return points


def _accelerated_step(batch, px, items, encoders, free_energy1):
    """The extrapolation closing a cycle of :func:`iterate`, for the active ``items`` (positions) of ``batch``.

    ``encoders`` are their plain iterates (E0, E1, E2) [N, len(items), |X|] and ``free_energy1``
    [len(items)] the free energy after the step from E1. Returns each item's next point, F at its
    kept candidate or E2 (recorded in ``batch`` with its residual).
    """
    threshold = free_energy1 + 1e-13 * np.abs(free_energy1)
    budget = batch.budget(items)
    squarem, alpha = _squarem_point(encoders, px)
    own = np.arange(len(items))  # positions within ``items``
    mixing = own[(budget >= 2) & (batch.history.count[items] >= 3)] if batch.history is not None else own[:0]
    candidates, points = own, squarem
    if mixing.size:
        candidates = np.concatenate([own, mixing])
        points = np.concatenate([squarem, batch.history.anderson_point(items[mixing], (squarem.shape[0], squarem.shape[2]))], axis=1)
    images, free_energy, change = batch.apply(items[candidates], points)
    # Per item, the candidate of lowest free energy among those at or below the threshold.
    energy = np.where(free_energy <= threshold[candidates], free_energy, np.inf)
    best = own.copy()
    if mixing.size:
        anderson = np.arange(own.size, candidates.size)
        better = energy[anderson] < energy[mixing]
        best[mixing[better]] = anderson[better]
    best = best[np.isfinite(energy[best])]
    next_point = encoders[2]
    kept = candidates[best]
    next_point[:, kept] = images[:, best]
    batch.settle(items[kept], images[:, best], change[best])
    batch.remember(items[kept], points[:, best], images[:, best])
    pending = np.ones(own.size, dtype=bool)
    pending[kept] = False
    pending = own[pending]
    # A rejected extrapolation falls back to the plain step from E2 (SQUAREM's point at alpha = -1).
    pending = pending[(alpha[pending] < -1.0) & (batch.budget(items[pending]) > 0)]
    if pending.size:
        points, _ = _squarem_point(tuple(encoder[:, pending] for encoder in encoders), px, np.full(pending.size, -1.0))
        images, free_energy, change = batch.apply(items[pending], points)
        better = free_energy <= threshold[pending]
        kept = pending[better]
        next_point[:, kept] = images[:, better]
        batch.settle(items[kept], images[:, better], change[better])
        batch.remember(items[kept], points[:, better], images[:, better])
    return next_point


def _newton_step(batch, items, encoder):
    """A saddle-free Newton step from the points ``encoder`` [N, len(items), |X|] of the active ``items``
    (positions) of ``batch``; returns their next points (recorded in ``batch`` with their residuals).

    The Jacobian J of E -> F(E) is taken by forward differences (relative steps ``_FD_STEP``; rows
    renormalised), the N |X| perturbed encoders of all items evaluated with E itself as one batch.
    The step solves (I - J) delta = F(E) - E in J's eigenvectors: components along eigenvalues of
    modulus above 1 + ``_UNSTABLE`` are reversed, so that the step leaves a saddle rather than
    converging to it (plain iteration leaves it too, slowly when the eigenvalue is close to 1), and
    components with |1 - eigenvalue| below ``_SINGULAR`` (the free split of mass between coincident
    clusters, and empty clusters) are dropped. F is applied at E + s (delta_regular + u delta_unstable)
    for the scales s in ``_NEWTON_SCALES`` and u in ``_ESCAPES`` (clipped at 0, renormalised), and the
    point of lowest free energy kept if that is no higher than after the step from E; otherwise F(E).
    """
    n_clusters, n_items, n_x = encoder.shape
    size = n_clusters * n_x
    rows = np.arange(size)
    flat = encoder.transpose(1, 0, 2).reshape(n_items, size)
    step = _FD_STEP * np.maximum(flat, _FD_FLOOR)
    perturbed = np.repeat(flat[:, None, :], size + 1, axis=1)
    perturbed[:, rows + 1, rows] += step
    perturbed = perturbed.reshape(n_items * (size + 1), n_clusters, n_x).transpose(1, 0, 2)
    perturbed = perturbed / perturbed.sum(axis=0)
    betas = batch.betas[batch.active[items]]
    images, energy = batch.kernel.step(np.repeat(betas, size + 1), perturbed)
    batch.n_iter[batch.active[items]] += size + 1
    images = images.transpose(1, 0, 2).reshape(n_items, size + 1, size)
    image = images[:, 0].reshape(n_items, n_clusters, n_x).transpose(1, 0, 2)
    energy = energy.reshape(n_items, size + 1)[:, 0]
    batch.settle(items, image, _max_change(image, encoder))
    jacobian = ((images[:, 1:] - images[:, :1]) / step[:, :, None]).swapaxes(1, 2)
    alive = flat > 0
    jacobian *= alive[:, :, None] & alive[:, None, :]
    residual = (images[:, 0] - flat) * alive
    regular, unstable = np.zeros_like(flat), np.zeros_like(flat)
    finite = np.isfinite(jacobian).all(axis=(1, 2))
    if finite.any():
        regular[finite], unstable[finite] = _saddle_free_step(jacobian[finite], residual[finite])
    # Candidates E + s (regular + u unstable): the unstable part grows the distance from a saddle only
    # by about the distance itself (a plain step from a saddle crawls), hence the larger multipliers u.
    scales = np.array([(s, s * u) for s in _NEWTON_SCALES for u in _ESCAPES])
    moves = (scales[:, 0, None, None] * regular + scales[:, 1, None, None] * unstable).reshape(-1, n_clusters, n_x)
    origin = np.tile(flat.reshape(n_items, n_clusters, n_x), (len(scales), 1, 1)).transpose(1, 0, 2)
    points = np.maximum(origin + np.where(np.isfinite(moves), moves, 0.0).transpose(1, 0, 2), 0.0)
    # A candidate is void where clipping leaves some x no mass to renormalise (or the sum overflows): E instead.
    total = points.sum(axis=0)
    valid = np.all(np.isfinite(total) & (total > _TINY), axis=1)
    points[:, ~valid] = origin[:, ~valid]
    trial_images, trial_energy, change = batch.apply(np.tile(items, len(scales)), _normalized(points))
    threshold = energy + 1e-13 * np.abs(energy)
    trial_energy = np.where(valid & (trial_energy <= np.tile(threshold, len(scales))), trial_energy, np.inf)
    best = np.argmin(trial_energy.reshape(len(scales), n_items), axis=0) * n_items + np.arange(n_items)
    found = np.isfinite(trial_energy[best])
    next_point = image.copy()
    next_point[:, found] = trial_images[:, best[found]]
    batch.settle(items[found], trial_images[:, best[found]], change[best[found]])
    return next_point


def _saddle_free_step(jacobian, residual):
    """The Newton step for Jacobians [B, D, D] and residuals [B, D], split in two [B, D] parts: ``regular``
    solves (I - J) delta = r along J's eigenvectors of eigenvalue modulus at most 1 + ``_UNSTABLE``
    (those with |1 - eigenvalue| below ``_SINGULAR`` dropped), ``unstable`` is the reversed solution along
    the others (see :func:`_newton_step`)."""
    values = np.linalg.eigvals(jacobian)
    plain = np.all((np.abs(values) <= 1.0 + _UNSTABLE) & (np.abs(1.0 - values) >= _SINGULAR), axis=1)
    regular, unstable = np.zeros_like(residual), np.zeros_like(residual)
    if plain.any():  # every direction stable and regular: an ordinary Newton step
        regular[plain] = _solve_complex(np.eye(jacobian.shape[1]) - jacobian[plain], residual[plain]).real
    if not plain.all():
        values, vectors = np.linalg.eig(jacobian[~plain])
        coordinates = _solve_complex(vectors, residual[~plain])
        gap = 1.0 - values
        singular = np.abs(gap) < _SINGULAR
        coordinates = np.where(singular, 0.0, coordinates / np.where(singular, 1.0, gap))
        away = np.abs(values) > 1.0 + _UNSTABLE
        regular[~plain] = np.real(np.matmul(vectors, np.where(away, 0.0, coordinates)[..., None])[..., 0])
        unstable[~plain] = -np.real(np.matmul(vectors, np.where(away, coordinates, 0.0)[..., None])[..., 0])
    return regular, unstable


def _solve_complex(matrices, vectors):
    """x with matrices [B, D, D] @ x = vectors [B, D] (complex), least squares where a matrix is singular."""
    try:
        return np.linalg.solve(matrices, vectors.astype(complex)[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.matmul(np.linalg.pinv(matrices), vectors.astype(complex)[..., None])[..., 0]


def summarize(channel, px, py_x, betas, log_encoder):
    """Batched summary of solutions: dict of encoder, decoder, marginal, ixt, ity, distortion, objective.

    Information and distortion in bits.
    """
    encoder = np.exp(log_encoder)
    marginal, inverse = posterior(encoder, px)
    decoder, distortion = channel.decode(inverse)
    weight = encoder * px[:, None]
    # Mask on p(x, x_hat) > 0, not on the encoder: a denormal encoder entry times p(x) can underflow to 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(weight > 0, log_encoder - np.log(marginal)[:, None, :], 0.0)
        expected_distortion = np.where(weight > 0, weight * distortion, 0.0).sum(axis=(1, 2)) / _LN2
    ixt = (weight * log_ratio).sum(axis=(1, 2)) / _LN2
    markov_decoder = stacked_matmul(inverse, py_x)
    ity = entropy_bits(px @ py_x) - (marginal * entropy_bits(markov_decoder)).sum(axis=1)
    return {
        "encoder": encoder,
        "decoder": decoder,
        "marginal": marginal,
        "ixt": np.maximum(ixt, 0.0),
        "ity": np.maximum(ity, 0.0),
        "distortion": expected_distortion,
        "objective": ixt + betas * expected_distortion,
    }


def initial_log_encoder(n_x, n_clusters, init=None, seed=None):
    """Log of the starting encoder [|X|, N].

    ``init`` (an encoder array) is validated and used as given. Otherwise each x
    puts 0.9 of its mass on its own cluster (x mod N after a seeded permutation,
    the identity when N >= |X|: the high-beta solution) and 0.1 spread by a
    seeded Dirichlet draw, which breaks the symmetry between clusters.
    """
    if init is not None:
        init = checks.numeric_array("init", init, dtype=np.float64)
        if init.shape != (n_x, n_clusters):
            raise ValueError(f"init must be an encoder of shape ({n_x}, {n_clusters}); got {init.shape}.")
        if not np.all(np.isfinite(init)) or np.any(init < 0) or np.any(np.abs(init.sum(axis=1) - 1) > 1e-8):
            raise ValueError("init must be finite, non-negative, and each row must sum to 1 (p(x_hat|x)).")
        with np.errstate(divide="ignore"):
            return np.log(init)
    rng = np.random.default_rng(seed)
    order = np.arange(n_x) if n_clusters >= n_x else rng.permutation(n_x)
    encoder = 0.1 * rng.dirichlet(np.ones(n_clusters), size=n_x)
    encoder[np.arange(n_x), order % n_clusters] += 0.9
    return np.log(encoder)


def make_channel(pxy, method):
    """Validate ``pxy`` and ``method``; return (channel, p(x), p(y|x))."""
    pxy = validate_joint(pxy)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    if method == "ib":
        return IBChannel(py_x), px, py_x
    if np.any(py_x <= 0):
        raise ValueError(
            "method='dualib' needs p(y|x) > 0 for every x and y: its decoder is a geometric mean of p(y|x) "
            "and its distortion KL(p(y|x_hat) || p(y|x)) is infinite where p(y|x) = 0. Smooth the labels, "
            "e.g. vdualib.ib.joint_from_labels(labels, label_noise=1e-3)."
        )
    return DualIBChannel(py_x), px, py_x


def check_settings(n_x, n_clusters, tol, max_iter):
    """Validate the shared solver settings; return n_clusters (default |X|).

    ``tol`` bounds a change of probabilities, so it lies in (0, 1): from 1 on every iterate would
    count as converged. (Below about 1e-15, float64 rounding of probabilities near 1 can keep an
    iteration from converging: it then stops at ``max_iter`` and says so.)
    """
    checks.finite_float("tol (a change of probability)", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    if checks.positive_int("max_iter", max_iter) > MAX_ITER:
        raise ValueError(f"max_iter must be at most {MAX_ITER:.0e} (a count of map evaluations), got {max_iter}.")
    if n_clusters is None:
        return n_x
    n_clusters = checks.positive_int("n_clusters", n_clusters)
    if n_clusters > n_x + 1:
        raise ValueError(
            f"n_clusters must be at most |X| + 1 = {n_x + 1}, got {n_clusters}: an optimal encoder needs no more "
            "clusters than that (the cardinality bound of Witsenhausen and Wyner, 1975), and each extra cluster only "
            "costs time and memory."
        )
    return n_clusters


def check_betas(betas, name="betas"):
    """Return betas as a 1-D float array; ValueError unless all are real numbers, finite and > 0."""
    if np.asarray(betas).dtype == bool:
        raise ValueError(f"{name} must be numbers > 0, got booleans {betas!r}.")
    betas = np.atleast_1d(checks.numeric_array(name, betas, dtype=np.float64))
    if betas.ndim != 1 or betas.size == 0 or not np.all(np.isfinite(betas)) or np.any(betas <= 0):
        raise ValueError(f"{name} must be finite and > 0 (a scalar or a 1-D array); got shape {betas.shape}.")
    if np.any(betas > MAX_BETA):
        raise ValueError(
            f"{name} must be at most {MAX_BETA:g}, got {betas.max():g}: beyond it beta times a distortion can overflow "
            f"float64. Every encoder there is already hard (deterministic): use beta = {MAX_BETA:g} for that limit."
        )
    return betas


def solve_channel(channel, px, py_x, beta, n_clusters, init, tol, max_iter, seed, accelerate=True):
    """Solve at one beta with any channel; shared by :func:`solve` and the exponential-family variant."""
    if np.ndim(beta) != 0:
        raise ValueError(
            f"solve takes one beta (a scalar); got shape {np.shape(beta)}. Use vdualib.ib.curve for a sweep."
        )
    (beta_value,) = check_betas(beta, "beta")
    n_clusters = check_settings(px.size, n_clusters, tol, max_iter)
    seed = checks.seed("seed", seed)
    accelerate = checks.flag("accelerate", accelerate)
    betas = np.array([beta_value])
    log_encoder = initial_log_encoder(px.size, n_clusters, init, seed)[None]
    with single_threaded_blas():
        log_encoder, n_iter, converged, residual, _ = iterate(channel, px, betas, log_encoder, tol, max_iter, accelerate)
        summary = summarize(channel, px, py_x, betas, log_encoder)
    if not converged[0]:
        warnings.warn(f"solve did not converge to tol={tol:g} within max_iter={max_iter} map evaluations at beta "
                      f"{beta_value:.6g}: its last change max |Δ p(x_hat|x)| was {residual[0]:.2g} (IBSolution.residual); "
                      "raise max_iter.", RuntimeWarning, stacklevel=3)
    return IBSolution(
        beta=beta_value,
        method=channel.method,
        n_iter=int(n_iter[0]),
        converged=bool(converged[0]),
        residual=float(residual[0]),
        **{key: value[0] if np.ndim(value) > 1 else float(value[0]) for key, value in summary.items()},
    )


def solve(pxy, beta, method="ib", n_clusters=None, init=None, tol=1e-10, max_iter=100_000, seed=DEFAULT_SEED,
          accelerate=True):
    """Solve the IB (``method="ib"``) or dualIB (``"dualib"``) self-consistent equations at one beta.

    Args:
        pxy: joint p(x, y), shape [|X|, |Y|], summing to 1 with no all-zero row.
        beta: trade-off > 0 multiplying the distortion in the exponent (IB papers' convention;
            the variational models' beta is its inverse, it multiplies the rate).
        n_clusters: number of values N of x_hat (default |X|).
        init: starting encoder p(x_hat|x) [|X|, N]; default a seeded near-identity encoder.
        tol: stop when max |Δ p(x_hat|x)| between successive iterates is below ``tol``, in (0, 1).
        max_iter: cap on applications of the equations (convergence slows down near critical betas).
        seed: seed of the default initialisation, an integer >= 0 or a list of them (default 0: the same
            solution in every process; ``None`` draws fresh entropy).
        accelerate: extrapolate the iterates (SQUAREM; Anderson mixing on large problems, saddle-free
            Newton steps on small ones; all safeguarded by the free energy): same fixed points, far
            fewer iterations near critical betas (see :func:`iterate`). ``False``: plain iteration.

    Returns:
        :class:`IBSolution` (information in bits); ``converged`` and ``residual`` say whether (and how
        far from) the equations were satisfied to ``tol`` within ``max_iter``.

    Raises:
        ValueError: an invalid ``pxy``, method, beta or setting.

    Warns:
        RuntimeWarning: the solution did not converge to ``tol`` within ``max_iter`` (it names the residual).

    Example:
        >>> solution = solve([[0.4, 0.1], [0.1, 0.4]], 10.0, method="dualib")
        >>> solution.encoder.round(3)     # p(x_hat|x): each x nearly its own cluster
        array([[1., 0.],
               [0., 1.]])
        >>> solution.ixt, solution.ity     # bits
        (0.997, 0.278)
    """
    channel, px, py_x = make_channel(pxy, method)
    return solve_channel(channel, px, py_x, beta, n_clusters, init, tol, max_iter, seed, accelerate)
