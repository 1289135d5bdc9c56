"""Kraskov-Stoegbauer-Grassberger (KSG) k-nearest-neighbour estimator of I(X;Y).

Algorithm 1 of Kraskov et al. 2004 with the max-norm: for each sample, eps_i
is the distance to its k-th neighbour in the joint space (X, Y); n_x(i) and
n_y(i) count the other samples strictly closer than eps_i in X and in Y alone;

    I(X;Y) = psi(k) + psi(N) - mean_i [ psi(n_x(i) + 1) + psi(n_y(i) + 1) ]   (nats).

Written here because scikit-learn's ``mutual_info_regression`` handles one
feature at a time; this one takes multivariate X and Y, using
``scipy.spatial.cKDTree`` (O(N log N) per query on low-dimensional data).

Bias and regime: nearly unbiased for independent variables (estimates
scatter around 0 and can be slightly negative; they are returned as they are)
and for low-dimensional smooth densities; it underestimates strong dependence
(large I, where eps_i is dominated by the joint's thin support) and
high-dimensional X or Y (curse of dimensionality). It assumes continuous
densities: repeated values (discrete data) make distances tie at 0 and the
estimate meaningless, so those inputs raise a ``ValueError`` unless jitter
is added by the caller. Returned in bits by default.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1000, 2))
    >>> ksg_mi(x, x + 0.1 * np.random.default_rng(1).normal(size=(1000, 2))) > 3.0   # strongly dependent
    True
"""

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from vdualib import checks
from vdualib.information.units import check_units, from_nats

__all__ = ["ksg_mi"]


def _samples(name, values):
    if np.ndim(values) > 2:
        raise ValueError(f"{name} must be a 2-D [N, d] array of samples; got shape {np.shape(values)}.")
    return checks.sample_matrix(name, values, min_rows=2)


def ksg_mi(x, y, k=3, units="bits"):
    """KSG estimate of I(X;Y) for continuous multivariate X [N, dx] and Y [N, dy].

    Args:
        x, y: paired samples (1-D arrays are read as one feature).
        k: neighbours (3 to 10 is the usual range; larger k lowers variance and raises bias).
        units: ``"bits"`` (default) or ``"nats"``.

    Returns:
        the estimate as a float in ``units``; unbiased-ish near 0, so it can be slightly negative.

    Raises:
        ValueError: NaN or infinite samples, x and y of different lengths,
            k not an integer in [1, N - 1], or exact duplicates (discrete data).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=2000)
        >>> y = 0.9 * x + np.sqrt(1 - 0.81) * rng.normal(size=2000)
        >>> abs(ksg_mi(x, y) - 1.198) < 0.1     # -1/2 log2(1 - 0.81)
        True
    """
    check_units(units)
    x, y = _samples("x", x), _samples("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of samples; got {x.shape[0]} and {y.shape[0]}.")
    n = x.shape[0]
    k = checks.positive_int("k (neighbours)", k)
    if k >= n:
        raise ValueError(f"k must be an integer with 1 <= k < N = {n} (too few samples for k = {k}); got {k}.")
    joint = np.hstack([x, y])
    # k + 1 neighbours: the query point itself comes back at distance 0.
    eps = cKDTree(joint).query(joint, k=[k + 1], p=np.inf)[0][:, 0]
    if np.any(eps == 0):
        raise ValueError(
            "some samples have k or more exact duplicates in (x, y): KSG needs continuous data; "
            "add a little noise (e.g. 1e-10 times the scale) or use a discrete estimator."
        )
    # strictly closer than eps: shrink the radius by one ulp; minus 1 removes the point itself.
    radius = np.nextafter(eps, 0)
    n_x = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True) - 1
    n_y = cKDTree(y).query_ball_point(y, radius, p=np.inf, return_length=True) - 1
    mi = digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1))
    return float(from_nats(mi, units))
