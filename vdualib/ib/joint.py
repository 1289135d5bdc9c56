"""Joint distributions p(x, y) over finite alphabets: validation, construction, basic information.

Information is returned in bits. ``pxy`` is a 2-D array with ``pxy[i, j] = p(x_i, y_j)``.
"""

import numpy as np
from scipy.special import xlogy

from vdualib import checks

__all__ = [
    "validate_joint",
    "validate_marginal",
    "joint_from_labels",
    "entropy_bits",
    "mutual_information_bits",
    "maximal_correlation",
]

_SUM_TOLERANCE = 1e-8
_MAX_JOINT_ENTRIES = 1 << 27  # entries |X| |Y| of a joint built here (1 GiB of float64)


def validate_joint(pxy, name="pxy"):
    """Return ``pxy`` as a float64 array after checking that it is a joint distribution.

    Args:
        pxy: joint p(x, y), array-like ``[|X|, |Y|]``.
        name: the argument's name in error messages.

    Returns:
        float64 ``[|X|, |Y|]``.

    Raises:
        ValueError: unless ``pxy`` is 2-D, finite, non-negative, sums to 1 (within 1e-8) and every
            x has positive probability (no all-zero row: p(y|x) is undefined there, drop the row).

    Example:
        >>> validate_joint([[0.4, 0.1], [0.1, 0.4]]).dtype
        dtype('float64')
    """
    pxy = checks.numeric_array(name, pxy, dtype=np.float64)
    if pxy.ndim != 2 or min(pxy.shape) < 1:
        raise ValueError(f"{name} must be a 2-D array [|X|, |Y|] with p(x, y); got shape {pxy.shape}.")
    if not np.all(np.isfinite(pxy)):
        raise ValueError(f"{name} contains NaN or inf; pass finite probabilities.")
    if np.any(pxy < 0):
        raise ValueError(f"{name} has negative entries (min {pxy.min():.3g}); probabilities must be >= 0.")
    total = pxy.sum()
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{name} sums to {total:.10g}, not 1; divide it by its sum first, in float64 "
                         f"(np.asarray({name}, np.float64) / its sum: float32 sums stray from 1 by about 1e-7).")
    empty = np.flatnonzero(pxy.sum(axis=1) <= 0)
    if empty.size:
        raise ValueError(
            f"{name} has all-zero rows (x indices {empty[:5].tolist()}...): p(y|x) is undefined there; "
            "remove those x values."
        )
    return pxy


def validate_marginal(px, size, name="px", positive=True, atol=_SUM_TOLERANCE):
    """Return ``px`` as a float64 array after checking that it is a distribution p(x).

    Args:
        px: p(x), array-like ``[size]``.
        size: the number of x values it must have.
        name: the argument's name in error messages.
        positive: whether every x must have probability > 0 (full support), not only >= 0.
        atol: how far its sum may stray from 1.

    Returns:
        float64 ``[size]``.

    Raises:
        ValueError: unless ``px`` is 1-D of length ``size``, finite, positive (or non-negative) and sums to 1.

    Example:
        >>> validate_marginal([0.25, 0.75], 2)
        array([0.25, 0.75])
    """
    px = checks.finite_array(name, px)
    if px.shape != (size,):
        raise ValueError(f"{name} must be a 1-D array of {size} probabilities; got shape {px.shape}.")
    what = "a positive distribution" if positive else "a distribution"
    if np.any(px <= 0) if positive else np.any(px < 0):
        raise ValueError(f"{name} must be {what}: every entry {'> 0' if positive else '>= 0'}; got min {px.min():.3g}."
                         + (" Drop the x values of probability 0." if positive else ""))
    if abs(px.sum() - 1.0) > atol:
        raise ValueError(f"{name} must be {what} summing to 1 (within {atol:g}); got sum {px.sum():.10g}. Divide it "
                         "by its sum, in float64.")
    return px


def joint_from_labels(labels, n_classes=None, label_noise=0.0, px=None):
    """Joint p(x, y) for a data set where every x has one label.

    ``p(y|x) = (1 - label_noise) * onehot(label_x) + label_noise / n_classes`` and
    ``p(x)`` is ``px`` (default uniform over the rows). ``label_noise > 0`` gives
    every p(y|x) full support, which the dualIB needs (its decoder is a geometric
    mean of p(y|x) and its distortion KL(p(y|x_hat) || p(y|x)) is infinite where
    p(y|x) = 0).

    Args:
        labels: integer labels ``[|X|]``, >= 0, one per x.
        n_classes: |Y| >= 2 (default: the largest label + 1).
        label_noise: the uniform mixing weight, in [0, 1].
        px: p(x), ``[|X|]``, positive, summing to 1 (default uniform).

    Returns:
        float64 p(x, y), ``[|X|, n_classes]``.

    Raises:
        ValueError: labels that are not a non-empty 1-D non-negative integer array, ``n_classes``
            too small, ``label_noise`` outside [0, 1] or a bad ``px``.

    Example:
        >>> joint_from_labels(np.array([0, 1]), label_noise=0.1)
        array([[0.475, 0.025],
               [0.025, 0.475]])
    """
    labels = checks.numeric_array("labels", labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a non-empty 1-D integer array; got dtype {labels.dtype}, shape {labels.shape}."
        )
    if labels.min() < 0:
        raise ValueError("labels must be >= 0.")
    n_classes = int(labels.max()) + 1 if n_classes is None else checks.positive_int("n_classes", n_classes)
    if labels.max() >= n_classes or n_classes < 2:
        raise ValueError(f"n_classes={n_classes} must be >= 2 and larger than every label (max {labels.max()}).")
    if labels.size * n_classes > _MAX_JOINT_ENTRIES:
        raise ValueError(
            f"{labels.size} labels of {n_classes} classes make a joint of {labels.size * n_classes:.3g} entries "
            f"({labels.size * n_classes * 8 / 2**30:.3g} GiB), more than {_MAX_JOINT_ENTRIES:.3g}: labels are class "
            "indices 0..C-1; relabel sparse ones with np.unique(labels, return_inverse=True)[1]."
        )
    label_noise = checks.finite_float("label_noise", label_noise)
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1]; got {label_noise}.")
    px = np.full(labels.size, 1.0 / labels.size) if px is None else validate_marginal(px, labels.size,
                                                                                    "px (one entry per label)")
    py_x = np.full((labels.size, n_classes), label_noise / n_classes)
    py_x[np.arange(labels.size), labels] += 1.0 - label_noise
    return px[:, None] * py_x


def entropy_bits(p, axis=-1):
    """Shannon entropy -sum p log2 p along ``axis``, in bits (0 log 0 = 0).

    Args:
        p: an array of probabilities (not validated: normalise it first).
        axis: the axis summed over.

    Returns:
        The entropies in bits, ``p``'s shape without ``axis`` (a numpy scalar for 1-D ``p``).

    Example:
        >>> entropy_bits(np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]))     # one entropy per row; 0 log 0 = 0
        array([1. , 1.5])
    """
    return -xlogy(p, p).sum(axis=axis) / np.log(2)


def mutual_information_bits(pxy):
    """I(X;Y) of a joint distribution, in bits.

    I(X;Y) = H(X) + H(Y) - H(X, Y).

    Args:
        pxy: joint p(x, y), shape ``[|X|, |Y|]``, summing to 1 with no all-zero row.

    Returns:
        A float, bits, in [0, min(log2 |X|, log2 |Y|)].

    Raises:
        ValueError: ``pxy`` is not a valid joint (see :func:`validate_joint`).

    Example:
        >>> mutual_information_bits([[0.5, 0.0], [0.0, 0.5]])
        1.0
    """
    pxy = validate_joint(pxy)
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    return max(0.0, float(entropy_bits(px) + entropy_bits(py) - entropy_bits(pxy.ravel())))  # not below 0 by rounding


def maximal_correlation(pxy):
    """Hirschfeld-Gebelein-Renyi maximal correlation rho of X and Y (dimensionless, in [0, 1]).

    rho is the second-largest singular value of ``p(x, y) / sqrt(p(x) p(y))`` (the
    largest is 1, with singular vectors sqrt(p(x)), sqrt(p(y))). The IB's trivial
    one-cluster solution stops being optimal at beta_0 = 1 / rho**2. Values below 1e-12
    (rounding noise of independent X, Y) are returned as 0.

    Args:
        pxy: joint p(x, y), shape ``[|X|, |Y|]``, summing to 1 with no all-zero row.

    Returns:
        rho, a float in [0, 1].

    Raises:
        ValueError: ``pxy`` is not a valid joint (see :func:`validate_joint`).

    Example:
        >>> maximal_correlation([[0.4, 0.1], [0.1, 0.4]])     # 1 - 2 * 0.2
        0.6
    """
    pxy = validate_joint(pxy)
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    keep = py > 0
    q = pxy[:, keep] / np.outer(np.sqrt(px), np.sqrt(py[keep]))  # the roots first: p(x) p(y) can underflow
    try:
        singular = np.linalg.svd(q, compute_uv=False)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the SVD of p(x, y) / sqrt(p(x) p(y)) did not converge: the joint's entries span too many orders of "
            "magnitude (entries near 1e-300 beside ones near 1); set entries that small to 0 and renormalise."
        ) from None
    rho = float(singular[1]) if singular.size > 1 else 0.0
    return rho if rho > 1e-12 else 0.0
