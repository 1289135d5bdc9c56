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

Iterates are kept in log space (log-sum-exp normalisation) so that beta up to 1e4
and p(y|x) near 0 or 1 stay finite. The engine is batched over betas (arrays
[B, |X|, N]): one iteration is a handful of matrix products for all of them.
Distortions are in nats internally; every information quantity returned is in bits.
Written on numpy because no scipy/sklearn routine solves these fixed-point equations.
"""

import contextlib
import dataclasses
import functools

import numpy as np
from scipy.special import xlogy

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # optional: without it BLAS keeps its default thread count
    ThreadpoolController = None

from vdualib import checks
from vdualib.ib.joint import entropy_bits, validate_joint

__all__ = ["IBSolution", "solve", "METHODS"]

METHODS = ("ib", "dualib")
DEFAULT_SEED = 0  # the default start encoder, so that results are the same in every process
_LN2 = np.log(2.0)
_TINY = np.finfo(np.float64).tiny
_LOG_FLUSH = -600.0  # e^-600 ~ 1e-261: smaller probabilities are set to 0
_MAX_STEP = 1e4  # largest SQUAREM step length |alpha|


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

    Example:
        >>> s = solve([[0.4, 0.1], [0.1, 0.4]], 10.0)
        >>> s.ixt, s.ity     # (0.997, 0.278) bits
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


def log_normalize(logits):
    """logits - logsumexp(logits) over the last axis (max-shifted; cheaper than scipy's for small arrays)."""
    shift = logits.max(axis=-1, keepdims=True)
    return logits - (shift + np.log(np.exp(logits - shift).sum(axis=-1, keepdims=True)))


def normalize(logits):
    """Softmax over the last axis in one exponential pass: (log p, p, log Z) with Z = sum exp(logits).

    Entries of p below e^-600 are flushed to 0: arithmetic on denormal floats is many
    times slower, and such a probability changes no returned quantity.
    """
    shift = logits.max(axis=-1, keepdims=True)
    shifted = logits - shift
    weights = np.exp(shifted, out=np.zeros_like(shifted), where=shifted > _LOG_FLUSH)
    log_total = weights.sum(axis=-1, keepdims=True)
    weights /= log_total
    np.log(log_total, out=log_total)
    shifted -= log_total
    return shifted, weights, (shift + log_total)[..., 0]


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
    """IB decoder (arithmetic mean of p(y|x)) and distortion KL(p(y|x) || p(y|x_hat)) in nats."""

    method = "ib"

    def __init__(self, py_x):
        self.py_x = py_x
        self._neg_entropy = xlogy(py_x, py_x).sum(axis=1)[None, :, None]

    def decode(self, inverse):
        """inverse p(x|x_hat) [B, N, |X|] -> (decoder [B, N, |Y|], distortion [B, |X|, N])."""
        decoder = stacked_matmul(inverse, self.py_x)
        # Empty clusters have decoder 0; clipping keeps their (unused) distortion finite.
        log_decoder = np.log(np.maximum(decoder, _TINY))
        return decoder, self._neg_entropy - stacked_matmul(log_decoder, self.py_x.T).swapaxes(1, 2)


class DualIBChannel:
    """dualIB decoder (normalised geometric mean) and distortion KL(p(y|x_hat) || p(y|x)) in nats.

    Needs p(y|x) > 0 everywhere.
    """

    method = "dualib"

    def __init__(self, py_x):
        self.log_py_x = np.log(py_x)

    def decode(self, inverse):
        log_decoder = log_normalize(stacked_matmul(inverse, self.log_py_x))
        decoder = np.exp(log_decoder)
        neg_entropy = (decoder * log_decoder).sum(axis=-1)[:, None, :]
        return decoder, neg_entropy - stacked_matmul(decoder, self.log_py_x.T).swapaxes(1, 2)


def posterior(encoder, px):
    """(marginal p(x_hat) [B,N], inverse p(x|x_hat) [B,N,X]) of an encoder [B,X,N]; empty clusters get inverse 0."""
    weight = encoder * px[:, None]
    marginal = weight.sum(axis=1)
    inverse = weight.swapaxes(1, 2) / np.where(marginal > 0, marginal, 1.0)[:, :, None]
    return marginal, inverse


def fixed_point_map(channel, px, betas, encoder):
    """One application of the self-consistent equations to an encoder [B, |X|, N].

    p(x_hat) and p(x|x_hat) from the encoder, the channel's decoder and distortion d, then
    log p(x_hat|x) = log p(x_hat) - beta d - log Z(x). Returns (log encoder, encoder, free energy [B])
    with the free energy -sum_x p(x) log Z(x) in nats: the IB/dualIB functional after this
    alternating-minimisation step, which never increases along plain iterations.
    """
    marginal, inverse = posterior(encoder, px)
    _, distortion = channel.decode(inverse)
    with np.errstate(divide="ignore"):  # log p(x_hat) = -inf for empty clusters keeps them empty
        logits = np.log(marginal)[:, None, :] - betas[:, None, None] * distortion
    log_encoder, new_encoder, log_z = normalize(logits)
    return log_encoder, new_encoder, -(log_z @ px)


def _squarem_point(encoders, px):
    """SQUAREM extrapolation (Varadhan & Roland 2008, scheme S3) of three plain iterates, per batch item.

    With r = E1 - E0 and v = E2 - 2 E1 + E0 (encoders), the step length alpha = -|r| / |v|
    (at most -1) cancels the slowest geometric mode exactly; the point is E0 - 2 alpha r + alpha^2 v,
    clipped at 0 and renormalised. The norms are chi-square (Fisher) norms sum_x p(x) sum_x_hat
    r^2 / E1, so that neither a few vanishing entries nor the bulk sets alpha alone. Measured:
    in log-encoder space SQUAREM stalls (vanishing clusters' log-probabilities fall linearly, v = 0);
    Anderson mixing (memory 3-8) took ~40% fewer map evaluations on the 256 x 16 sweep but more time,
    its history of |X| N-sized vectors being streamed through memory at every step.
    """
    encoder0, encoder1, encoder2 = encoders
    r = encoder1 - encoder0
    v = encoder2 - encoder1
    v -= r
    metric = np.maximum(encoder1, _TINY)
    np.divide(px[:, None], metric, out=metric)
    r_norm = np.sqrt(np.einsum("bxn,bxn,bxn->b", metric, r, r))
    v_norm = np.sqrt(np.einsum("bxn,bxn,bxn->b", metric, v, v))
    alpha = -np.clip(r_norm / np.where(v_norm > 0, v_norm, np.inf), 1.0, _MAX_STEP)[:, None, None]
    point = r * (-2 * alpha)
    point += encoder0
    point += v * alpha**2
    np.maximum(point, 0.0, out=point)
    point /= point.sum(axis=-1, keepdims=True)
    return point


def _squarem_step(channel, px, betas, encoders, free_energy1):
    """One map evaluation at the SQUAREM point of the encoders (E0, E1, E2).

    Kept per batch item when its free energy is no larger than at E1 (whose map gave
    ``free_energy1``); otherwise the item stays at E2.
    Returns (kept [B, 1, 1], log encoder, encoder) of the extrapolated step.
    """
    log_encoder3, encoder3, free_energy3 = fixed_point_map(channel, px, betas, _squarem_point(encoders, px))
    better = (free_energy3 <= free_energy1 + 1e-13 * np.abs(free_energy1))[:, None, None]
    return better, log_encoder3, encoder3


def iterate(channel, px, betas, log_encoder, tol, max_iter, accelerate=True):
    """Iterate the self-consistent equations for a batch of betas until each encoder moves less than ``tol``.

    ``log_encoder`` is [B, |X|, N]. With ``accelerate`` every two plain steps are followed by a
    SQUAREM extrapolation, kept only when the free energy (the functional the plain iteration
    decreases) is no larger there than after the first plain step; otherwise the second plain
    step is kept. Convergence is always judged on a plain step, so a returned encoder E satisfies
    max |F(E_prev) - E_prev| < tol as without acceleration. Each batch item leaves the batch
    once converged, so items are solved exactly as they would be one at a time.
    Returns (log encoder [B, |X|, N], map evaluations used [B], converged [B]).
    """
    log_encoder, encoder, _ = normalize(log_encoder)
    result = log_encoder.copy()
    n_iter = np.zeros(len(betas), dtype=np.int64)
    converged = np.zeros(len(betas), dtype=bool)
    active = np.arange(len(betas))
    count = 0

    def plain_step(current):
        """One map evaluation of the active items; items that move less than ``tol`` are recorded."""
        nonlocal count
        new_log, new, free_energy = fixed_point_map(channel, px, betas[active], current)
        count += 1
        done = (np.abs(new - current).max(axis=(1, 2)) < tol) & ~converged[active]
        result[active[done]], n_iter[active[done]], converged[active[done]] = new_log[done], count, True
        return new_log, new, free_energy

    def running():
        return count < max_iter and not converged[active].all()

    while active.size and count < max_iter:
        encoder0 = encoder
        log_encoder, encoder, _ = plain_step(encoder)
        if accelerate and running():
            encoder1 = encoder
            log_encoder, encoder, free_energy1 = plain_step(encoder)
            if running():
                better, log_encoder3, encoder3 = _squarem_step(channel, px, betas[active],
                                                               (encoder0, encoder1, encoder), free_energy1)
                log_encoder, encoder = np.where(better, log_encoder3, log_encoder), np.where(better, encoder3, encoder)
                count += 1
        unfinished = ~converged[active]
        active, log_encoder, encoder = active[unfinished], log_encoder[unfinished], encoder[unfinished]
    result[active], n_iter[active] = log_encoder, count
    return result, n_iter, converged


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
        init = np.asarray(init, dtype=np.float64)
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
    """Validate the shared solver settings; return n_clusters (default |X|)."""
    checks.finite_float("tol", tol, low=0.0, low_open=True)
    checks.positive_int("max_iter", max_iter)
    return n_x if n_clusters is None else checks.positive_int("n_clusters", n_clusters)


def check_betas(betas):
    """Return betas as a 1-D float array; ValueError unless all are finite and > 0."""
    betas = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    if betas.ndim != 1 or betas.size == 0 or not np.all(np.isfinite(betas)) or np.any(betas <= 0):
        raise ValueError("beta values must be finite and > 0 (a scalar or a 1-D array).")
    return betas


def solve_channel(channel, px, py_x, beta, n_clusters, init, tol, max_iter, seed, accelerate=True):
    """Solve at one beta with any channel; shared by :func:`solve` and the exponential-family variant."""
    if np.ndim(beta) != 0:
        raise ValueError(
            f"solve takes one beta (a scalar); got shape {np.shape(beta)}. Use vdualib.ib.curve for a sweep."
        )
    (beta_value,) = check_betas(beta)
    n_clusters = check_settings(px.size, n_clusters, tol, max_iter)
    betas = np.array([beta_value])
    log_encoder = initial_log_encoder(px.size, n_clusters, init, seed)[None]
    with single_threaded_blas():
        log_encoder, n_iter, converged = iterate(channel, px, betas, log_encoder, tol, max_iter, accelerate)
        summary = summarize(channel, px, py_x, betas, log_encoder)
    return IBSolution(
        beta=beta_value,
        method=channel.method,
        n_iter=int(n_iter[0]),
        converged=bool(converged[0]),
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
        tol: stop when max |Δ p(x_hat|x)| between successive iterates is below ``tol``.
        max_iter: cap on applications of the equations (convergence slows down near critical betas).
        seed: seed of the default initialisation (default 0: the same solution in every process;
            ``None`` draws fresh entropy).
        accelerate: extrapolate the iterates with SQUAREM (safeguarded by the free energy; same
            fixed points, far fewer iterations near critical betas). ``False``: plain iteration.

    Returns:
        :class:`IBSolution` (information in bits).

    Raises:
        ValueError: an invalid ``pxy``, method, beta or setting.

    Example:
        >>> solve([[0.4, 0.1], [0.1, 0.4]], 10.0, method="dualib").encoder.shape     # (2, 2)
    """
    channel, px, py_x = make_channel(pxy, method)
    return solve_channel(channel, px, py_x, beta, n_clusters, init, tol, max_iter, seed, accelerate)
