"""Distributions with known mutual information, to measure the estimators against (bits).

* :func:`gaussian_information`: I(X;Y) of jointly Gaussian X, Y from the covariance;
* :func:`gaussian_channel_information`: I(X;Z) for Z = X + N(0, s^2 I_d), X ~ N(0, I_d);
* :func:`gaussian_mixture_label_information`: I(T;Y) for Y uniform on {0, 1} and
  T | Y ~ N(+-mu, variance), by quadrature (scipy);
* :func:`mixture_index_information`: I(X; T+Z) for X uniform over N points t_i and
  Z ~ N(0, s^2 I), a Monte Carlo average with the exact mixture density.

Example:
    >>> round(gaussian_channel_information(dim=2, noise_variance=0.25), 6)   # log2(1 + 1/0.25)
    2.321928
"""

import math

import numpy as np
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import norm

from vdualib import checks

__all__ = [
    "gaussian_information",
    "gaussian_channel_information",
    "gaussian_mixture_label_information",
    "mixture_index_information",
]

_LOG2 = math.log(2.0)


def gaussian_information(covariance, dx):
    """I(X;Y) = 1/2 log2(det S_x det S_y / det S) for (X, Y) ~ N(0, S), X the first ``dx`` coordinates.

    Args:
        covariance: S, a positive-definite [dx + dy, dx + dy] matrix.
        dx: the dimension of X (>= 1, < the size of S).

    Returns:
        bits.

    Raises:
        ValueError: a non-finite, non-square or not positive-definite covariance, or a bad ``dx``.

    Example:
        >>> float(gaussian_information([[1.0, 0.6], [0.6, 1.0]], 1))     # -1/2 log2(1 - 0.36)
        0.3219
    """
    covariance = checks.finite_array("covariance", covariance)
    dx = checks.positive_int("dx", dx)
    if covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1] or not dx < covariance.shape[0]:
        raise ValueError(f"covariance must be square and larger than dx = {dx}; got shape {covariance.shape}.")
    logdets = [np.linalg.slogdet(m) for m in (covariance, covariance[:dx, :dx], covariance[dx:, dx:])]
    if any(sign <= 0 for sign, _ in logdets):
        raise ValueError("covariance must be positive definite.")
    (_, joint), (_, x), (_, y) = logdets
    return 0.5 * (x + y - joint) / _LOG2


def gaussian_channel_information(dim, noise_variance):
    """I(X;Z) = d/2 log2(1 + 1/s^2) for X ~ N(0, I_d), Z = X + N(0, s^2 I_d), in bits.

    Args:
        dim: d, a positive integer.
        noise_variance: s^2 > 0.

    Returns:
        A float, bits.

    Raises:
        ValueError: a non-positive ``dim`` or ``noise_variance``.

    Example:
        >>> gaussian_channel_information(2, 1.0)
        1.0
    """
    dim = checks.positive_int("dim", dim)
    noise_variance = checks.finite_float("noise_variance", noise_variance, low=0.0, low_open=True)
    return 0.5 * dim * math.log2(1.0 + 1.0 / noise_variance)


def gaussian_mixture_label_information(mu, variance):
    """I(T;Y) in bits for Y uniform on {0, 1}, T | Y ~ N(+-mu, variance) (the informative direction).

    Computed as H(Y) - E_T H(Y|T) = 1 - integral p(t) H2(sigmoid(2 mu t / variance)) dt by
    ``scipy.integrate.quad`` over mu +- 12 standard deviations. Extra dimensions independent of Y
    add nothing, so it is also the truth for T | Y ~ N(+-mu e_1, variance I_d).

    Args:
        mu: the class means' distance from 0 along the informative direction, finite.
        variance: the per-class variance, > 0.

    Returns:
        A float in [0, 1], bits.

    Raises:
        ValueError: a non-finite ``mu`` or a non-positive ``variance``.

    Example:
        >>> gaussian_mixture_label_information(1.0, 1.0)     # 1.0 for well separated classes
        0.4859
    """
    mu = checks.finite_float("mu", mu)
    variance = checks.finite_float("variance", variance, low=0.0, low_open=True)
    scale = math.sqrt(variance)

    def integrand(t):
        p = 0.5 * norm.pdf(t, mu, scale) + 0.5 * norm.pdf(t, -mu, scale)
        q = 0.5 * (1.0 + math.tanh(mu * t / variance))  # p(y = 1 | t), overflow-free sigmoid(2 mu t / variance)
        h = -sum(v * math.log2(v) for v in (q, 1.0 - q) if v > 0)
        return p * h

    bound = abs(mu) + 12 * scale
    conditional, _ = integrate.quad(integrand, -bound, bound, limit=200)
    return 1.0 - conditional


def mixture_index_information(points, noise_variance, draws, seed):
    """Monte Carlo I(X; T+Z), X uniform over the rows t_i of ``points``, Z ~ N(0, s^2 I).

    Averages log p(t_i + z | i) - log (1/N) sum_j p(t_i + z | j) over ``draws`` noise draws per
    point (the Gaussian normaliser cancels), in blocks of 1,024 rows.

    Args:
        points: [N, d] finite.
        noise_variance: s^2 > 0.
        draws: noise draws per point.
        seed: seed of the noise.

    Returns:
        ``(bits, standard error)``.

    Raises:
        ValueError: non-finite points, a non-positive variance or number of draws.

    Example:
        >>> bits, standard_error = mixture_index_information(np.array([[0.0], [100.0]]), 1.0, draws=10, seed=0)
        >>> bits, standard_error < 1e-6
        (1.0, True)
    """
    points = checks.sample_matrix("points", points)
    noise_variance = checks.finite_float("noise_variance", noise_variance, low=0.0, low_open=True)
    draws = checks.positive_int("draws", draws)
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    squared_norms = np.sum(points**2, axis=1)
    samples = []
    for _ in range(draws):
        noisy = points + math.sqrt(noise_variance) * rng.standard_normal(points.shape)
        for start in range(0, n, 1024):
            block = noisy[start : start + 1024]
            distances = np.sum(block**2, axis=1)[:, None] - 2 * block @ points.T + squared_norms[None, :]
            own = np.sum((block - points[start : start + 1024]) ** 2, axis=1)
            samples.append(-own / (2 * noise_variance) - logsumexp(-distances / (2 * noise_variance), axis=1) + math.log(n))
    values = np.concatenate(samples) / _LOG2
    return float(values.mean()), float(values.std() / math.sqrt(values.size))
