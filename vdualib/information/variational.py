"""Variational bounds on I(X;Z) for a stochastic encoder with a known density.

For an encoder e(z|x) that can evaluate its own density (the Gaussian encoder
of VIB / VdualIB models), draw one z_i ~ e(z|x_i) for each of N inputs and
form the matrix ``log_density[i, j] = log e(z_i | x_j)``. The aggregate
posterior p(z) = mean_j e(z|x_j) is then approximated by a mixture over the
batch, which brackets the mutual information (Poole et al. 2019, "On
variational bounds of mutual information"):

* InfoNCE lower bound:   mean_i [ log e(z_i|x_i) - log mean_j e(z_i|x_j) ]
  (never exceeds ln N, so it saturates when I(X;Z) approaches log N);
* leave-one-out upper bound: mean_i [ log e(z_i|x_i) - log mean_{j!=i} e(z_i|x_j) ]
  (an upper bound in expectation; can be loose, even infinite, when
  encoders barely overlap).

Both are computed with ``scipy.special.logsumexp`` so large negative
log-densities do not underflow. The rate KL(e(z|x) || r(z)) that VIB models
log is a third, looser upper bound: the same quantity with the learned
marginal r(z) in place of the batch mixture.

Example:
    >>> import numpy as np
    >>> mean = np.random.default_rng(0).normal(size=(2000, 2))       # Z = X + N(0, 0.25 I_2)
    >>> lower, upper = gaussian_encoder_bounds(mean, np.full_like(mean, 0.5), seed=1)
    >>> bool(abs(lower - np.log2(5.0)) < 0.1 and abs(upper - np.log2(5.0)) < 0.1)
    True
"""

import math

import numpy as np
from scipy.special import logsumexp

from vdualib import checks
from vdualib.information.units import check_units, from_nats

__all__ = ["infonce_bounds", "gaussian_log_density_matrix", "gaussian_encoder_bounds"]


def infonce_bounds(log_density, units="bits"):
    """InfoNCE lower and leave-one-out upper bounds on I(X;Z).

    Args:
        log_density: array [N, N], ``log_density[i, j] = log e(z_i | x_j)`` in
            nats, where z_i was sampled from e(z | x_i). N >= 2.
        units: ``"bits"`` (default) or ``"nats"`` for the returned values.

    Returns:
        ``(lower, upper)`` floats in ``units``:
        lower = mean_i[log e(z_i|x_i) - log mean_j e(z_i|x_j)] <= I(X;Z) (in expectation), at most log N;
        upper = mean_i[log e(z_i|x_i) - log mean_{j!=i} e(z_i|x_j)] >= I(X;Z) (in expectation).

    Raises:
        ValueError: a non-square matrix, N < 2, NaN or +inf entries, or a non-finite diagonal.

    Example:
        >>> infonce_bounds([[0.0, -10.0], [-10.0, 0.0]])     # lower <= log2 N = 1 bit
        (0.9999, 14.427)
    """
    check_units(units)
    log_density = np.asarray(log_density, dtype=np.float64)
    if log_density.ndim != 2 or log_density.shape[0] != log_density.shape[1]:
        raise ValueError(
            f"log_density must be a square [N, N] matrix of log e(z_i|x_j); got shape {log_density.shape}."
        )
    n = log_density.shape[0]
    if n < 2:
        raise ValueError("infonce_bounds needs at least N = 2 samples (the leave-one-out bound uses j != i).")
    if np.isnan(log_density).any() or np.isposinf(log_density).any():
        raise ValueError("log_density contains NaN or +inf; pass finite log-densities (-inf is allowed off the diagonal).")
    if not np.isfinite(np.diagonal(log_density)).all():
        raise ValueError("log_density has a non-finite diagonal: log e(z_i|x_i) must be finite for a sample of e(z|x_i).")
    lower, upper = _row_terms(log_density, np.arange(n))
    return float(from_nats(lower.mean(), units)), float(from_nats(upper.mean(), units))


def _row_terms(rows, own_columns):
    """Per-row InfoNCE and leave-one-out terms (nats) of rows ``log e(z_i | x_j)``, j over all N inputs;
    ``own_columns[r]`` is the column i of row r's own input."""
    n = rows.shape[1]
    index = np.arange(rows.shape[0])
    own = rows[index, own_columns]
    lower = own - logsumexp(rows, axis=1) + math.log(n)
    others = rows.copy()
    others[index, own_columns] = -np.inf
    upper = own - logsumexp(others, axis=1) + math.log(n - 1)
    return lower, upper


def gaussian_log_density_matrix(z, mean, stddev):
    """``log N(z_i; mean_j, diag(stddev_j^2))`` for all pairs, in nats, shape [N, M].

    Computed as matrix products ((z^2) @ (1/s^2)^T - 2 z @ (m/s^2)^T + ...) in
    float64, so memory is O(N M), not O(N M K).

    Args:
        z: samples ``[N, K]``, finite.
        mean: means ``[M, K]``, finite.
        stddev: standard deviations ``[M, K]``, > 0.

    Returns:
        float64 ``[N, M]``, nats.

    Raises:
        ValueError: mismatched shapes, non-finite values or a non-positive ``stddev``.

    Example:
        >>> gaussian_log_density_matrix(np.zeros((1, 1)), np.zeros((1, 1)), np.ones((1, 1)))
        array([[-0.9189]])
    """
    z = checks.finite_array("z", z)
    mean = checks.finite_array("mean", mean)
    stddev = checks.finite_array("stddev", stddev)
    if z.ndim != 2 or mean.ndim != 2 or mean.shape != stddev.shape or z.shape[1] != mean.shape[1]:
        raise ValueError(
            "z must be [N, K] and mean, stddev [M, K] with the same K; "
            f"got z {z.shape}, mean {mean.shape}, stddev {stddev.shape}."
        )
    if not (stddev > 0).all():
        raise ValueError("stddev must be strictly positive everywhere.")
    precision = 1.0 / stddev**2
    squared = (z**2) @ precision.T - 2.0 * z @ (mean * precision).T + np.sum(mean**2 * precision, axis=1)
    log_normaliser = np.sum(np.log(2.0 * np.pi * stddev**2), axis=1)
    return -0.5 * (np.maximum(squared, 0.0) + log_normaliser)


def gaussian_encoder_bounds(mean, stddev, seed, units="bits"):
    """InfoNCE / leave-one-out bounds on I(X;Z) for e(z|x_i) = N(mean_i, diag stddev_i^2).

    Draws one z_i per row with ``numpy.random.default_rng(seed)`` and evaluates
    the bounds of :func:`infonce_bounds` in blocks of rows, so memory is
    O(block N) rather than O(N^2).

    Args:
        mean: encoder means ``[N, K]``, N >= 2.
        stddev: encoder standard deviations ``[N, K]``, > 0.
        seed: seed of the draws of z.
        units: ``"bits"`` (default) or ``"nats"``.

    Returns:
        ``(lower, upper)`` floats in ``units``; the lower bound is at most log N.

    Raises:
        ValueError: mismatched shapes, N < 2, non-finite values or a non-positive ``stddev``.

    Example:
        >>> gaussian_encoder_bounds(np.array([[0.0], [100.0]]), np.ones((2, 1)), seed=0)[0]
        1.0
    """
    check_units(units)
    mean = checks.finite_array("mean", mean)
    stddev = checks.finite_array("stddev", stddev)
    if mean.ndim != 2 or mean.shape != stddev.shape or mean.shape[0] < 2:
        raise ValueError(f"mean and stddev must both be [N, K] with N >= 2; got {mean.shape} and {stddev.shape}.")
    if not (stddev > 0).all():
        raise ValueError("stddev must be strictly positive everywhere (a zero scale makes log e(z|x) infinite).")
    rng = np.random.default_rng(seed)
    z = mean + stddev * rng.standard_normal(mean.shape)
    n = mean.shape[0]
    block = max(1, 2**20 // n)
    lower, upper = [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = gaussian_log_density_matrix(z[start:stop], mean, stddev)
        terms = _row_terms(rows, np.arange(start, stop))
        lower.append(terms[0])
        upper.append(terms[1])
    return float(from_nats(np.concatenate(lower).mean(), units)), float(from_nats(np.concatenate(upper).mean(), units))
