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

import dataclasses

import numpy as np
from scipy.special import xlogy

from vdualib.ib.joint import entropy_bits, validate_joint

__all__ = ["IBSolution", "solve", "METHODS"]

METHODS = ("ib", "dualib")
_LN2 = np.log(2.0)
_TINY = np.finfo(np.float64).tiny


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
        n_iter: iterations used.
        converged: whether max |Δ p(x_hat|x)| between the last two iterates fell below ``tol``.
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


class IBChannel:
    """IB decoder (arithmetic mean of p(y|x)) and distortion KL(p(y|x) || p(y|x_hat)) in nats."""

    method = "ib"

    def __init__(self, py_x):
        self.py_x = py_x
        self._neg_entropy = xlogy(py_x, py_x).sum(axis=1)[None, :, None]

    def decode(self, inverse):
        """inverse p(x|x_hat) [B, N, |X|] -> (decoder [B, N, |Y|], distortion [B, |X|, N])."""
        decoder = inverse @ self.py_x
        # Empty clusters have decoder 0; clipping keeps their (unused) distortion finite.
        log_decoder = np.log(np.maximum(decoder, _TINY))
        return decoder, self._neg_entropy - self.py_x @ log_decoder.swapaxes(1, 2)


class DualIBChannel:
    """dualIB decoder (normalised geometric mean) and distortion KL(p(y|x_hat) || p(y|x)) in nats.

    Needs p(y|x) > 0 everywhere.
    """

    method = "dualib"

    def __init__(self, py_x):
        self.log_py_x = np.log(py_x)

    def decode(self, inverse):
        log_decoder = log_normalize(inverse @ self.log_py_x)
        decoder = np.exp(log_decoder)
        neg_entropy = (decoder * log_decoder).sum(axis=-1)[:, None, :]
        return decoder, neg_entropy - self.log_py_x @ decoder.swapaxes(1, 2)


def _posterior(encoder, px):
    """(marginal p(x_hat) [B,N], inverse p(x|x_hat) [B,N,X]) of an encoder [B,X,N]; empty clusters get inverse 0."""
    marginal = px @ encoder
    inverse = (encoder * px[:, None]).swapaxes(1, 2) / np.where(marginal > 0, marginal, 1.0)[:, :, None]
    return marginal, inverse


def iterate(channel, px, betas, log_encoder, tol, max_iter):
    """Iterate the self-consistent equations for a batch of betas until the encoders move less than ``tol``.

    ``log_encoder`` is [B, |X|, N]. One step: p(x_hat), p(x|x_hat) from the encoder, the
    channel's decoder and distortion, then log p(x_hat|x) = log p(x_hat) - beta d - log Z.
    Returns (log encoder, iterations used, converged [B]).
    """
    encoder = np.exp(log_encoder)
    change = np.full(len(betas), np.inf)
    n_iter = 0
    with np.errstate(divide="ignore"):  # log p(x_hat) = -inf for empty clusters keeps them empty
        while n_iter < max_iter:
            marginal, inverse = _posterior(encoder, px)
            _, distortion = channel.decode(inverse)
            log_encoder = log_normalize(np.log(marginal)[:, None, :] - betas[:, None, None] * distortion)
            new_encoder = np.exp(log_encoder)
            change = np.abs(new_encoder - encoder).max(axis=(1, 2))
            encoder = new_encoder
            n_iter += 1
            if change.max() < tol:
                break
    return log_encoder, n_iter, change < tol


def summarize(channel, px, py_x, betas, log_encoder):
    """Batched summary of solutions: dict of encoder, decoder, marginal, ixt, ity, distortion, objective.

    Information and distortion in bits.
    """
    encoder = np.exp(log_encoder)
    marginal, inverse = _posterior(encoder, px)
    decoder, distortion = channel.decode(inverse)
    weight = encoder * px[:, None]
    # Mask on p(x, x_hat) > 0, not on the encoder: a denormal encoder entry times p(x) can underflow to 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(weight > 0, log_encoder - np.log(marginal)[:, None, :], 0.0)
        expected_distortion = np.where(weight > 0, weight * distortion, 0.0).sum(axis=(1, 2)) / _LN2
    ixt = (weight * log_ratio).sum(axis=(1, 2)) / _LN2
    markov_decoder = inverse @ py_x
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
    n_clusters = n_x if n_clusters is None else n_clusters
    if int(n_clusters) != n_clusters or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer; got {n_clusters!r}.")
    if not tol > 0:
        raise ValueError(f"tol must be > 0; got {tol!r}.")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}.")
    return int(n_clusters)


def check_betas(betas):
    """Return betas as a 1-D float array; ValueError unless all are finite and > 0."""
    betas = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    if betas.ndim != 1 or betas.size == 0 or not np.all(np.isfinite(betas)) or np.any(betas <= 0):
        raise ValueError("beta values must be finite and > 0 (a scalar or a 1-D array).")
    return betas


def solve_channel(channel, px, py_x, beta, n_clusters, init, tol, max_iter, seed):
    """Solve at one beta with any channel; shared by :func:`solve` and the exponential-family variant."""
    if np.ndim(beta) != 0:
        raise ValueError(
            f"solve takes one beta (a scalar); got shape {np.shape(beta)}. Use vdualib.ib.curve for a sweep."
        )
    (beta_value,) = check_betas(beta)
    n_clusters = check_settings(px.size, n_clusters, tol, max_iter)
    betas = np.array([beta_value])
    log_encoder = initial_log_encoder(px.size, n_clusters, init, seed)[None]
    log_encoder, n_iter, converged = iterate(channel, px, betas, log_encoder, tol, max_iter)
    summary = summarize(channel, px, py_x, betas, log_encoder)
    return IBSolution(
        beta=beta_value,
        method=channel.method,
        n_iter=n_iter,
        converged=bool(converged[0]),
        **{key: value[0] if np.ndim(value) > 1 else float(value[0]) for key, value in summary.items()},
    )


def solve(pxy, beta, method="ib", n_clusters=None, init=None, tol=1e-10, max_iter=100_000, seed=None):
    """Solve the IB (``method="ib"``) or dualIB (``"dualib"``) self-consistent equations at one beta.

    Args:
        pxy: joint p(x, y), shape [|X|, |Y|], summing to 1 with no all-zero row.
        beta: trade-off > 0 multiplying the distortion in the exponent (IB papers' convention;
            the variational models' beta is its inverse, it multiplies the rate).
        n_clusters: number of values N of x_hat (default |X|).
        init: starting encoder p(x_hat|x) [|X|, N]; default a seeded near-identity encoder.
        tol: stop when max |Δ p(x_hat|x)| between successive iterates is below ``tol``.
        max_iter: iteration cap (convergence slows down near critical betas).
        seed: seed of the default initialisation.

    Returns:
        :class:`IBSolution` (information in bits).
    """
    channel, px, py_x = make_channel(pxy, method)
    return solve_channel(channel, px, py_x, beta, n_clusters, init, tol, max_iter, seed)
