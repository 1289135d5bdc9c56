"""Pairwise-distance (KDE) bounds on I(X;T) and I(T;Y) for T plus Gaussian noise.

Following Saxe et al. 2018, a deterministic layer is read as T + Z with
Z ~ N(0, sigma^2 I_d), so T + Z given X = x_i is N(t_i, sigma^2 I) and, with X
uniform over the N rows, T + Z is an equal-weight Gaussian mixture. The
Kolchinsky & Tracey (2017) bounds on a mixture's entropy use a pairwise
divergence D between components:

    H(T+Z) ~ H(T+Z | X) - mean_i log mean_j exp(-D(p_i || p_j)),
    H(T+Z | X) = d/2 (ln 2 pi sigma^2 + 1),

an upper bound with D = KL = ||t_i - t_j||^2 / (2 sigma^2) and a lower bound
with D = Bhattacharyya = ||t_i - t_j||^2 / (8 sigma^2). Hence

    I(X;T) in [ -mean_i log mean_j exp(-||t_i-t_j||^2 / (8 sigma^2)),
                -mean_i log mean_j exp(-||t_i-t_j||^2 / (2 sigma^2)) ]

and I(T;Y) = H(T+Z) - sum_y p(y) H(T+Z | Y=y) from the class-conditional
mixtures (the ``ity_upper`` / ``ity_lower`` values are that difference with
each entropy replaced by its upper / lower bound, as in Saxe et al.; a
difference of bounds is an estimate, not a guaranteed bound).

Bias and regime: both I(X;T) bounds lie in [0, ln N] and meet at the
extremes (points much further apart than sigma: ln N; all points equal: 0), so
sigma sets the resolution exactly like a bin width. In between they bracket
the truth loosely: for N -> infinity points drawn from N(0, I_d) the truth is
d/2 ln(1 + 1/sigma^2) nats, the KL bound tends to that plus d / (2 (1 + sigma^2))
and the Bhattacharyya bound to d/2 ln(1 + 1/(4 sigma^2)) + d / (2 (1 + 4 sigma^2))
(for d = 2, sigma^2 = 0.1: 3.46 bits between 2.84 and 4.77; measured in
``scripts/results/information/estimator_error.md``). Cost O(N^2 d) time and
O(block N) memory: rows are processed in blocks with BLAS matrix products
(numpy rather than TensorFlow, so estimators never import TF). Values in bits
by default.

Example:
    >>> import numpy as np
    >>> bounds = kde_information(np.random.default_rng(0).normal(size=(500, 2)), np.arange(500) % 2, 0.1)
    >>> bool(bounds["ixt_lower"] <= bounds["ixt_upper"] <= np.log2(500))
    True
"""


import numpy as np

from vdualib import checks
from vdualib.information.units import check_units, from_nats

__all__ = ["KDEEstimator", "kde_information", "pairwise_mixture_information"]

# Pairwise divergence between N(t_i, s^2 I) and N(t_j, s^2 I), as a multiple of ||t_i - t_j||^2 / s^2.
_KL_SCALE = 1.0 / 2.0
_BHATTACHARYYA_SCALE = 1.0 / 8.0


def _block_rows(n, max_entries=2**20):
    return max(1, min(n, max_entries // max(n, 1)))


def pairwise_mixture_information(points, noise_variance, groups=None):
    """-mean_i log mean_{j} exp(-D_ij) for KL and Bhattacharyya D, in nats, overall and within groups.

    Args:
        points: [N, d] float array, the mixture centres t_i.
        noise_variance: sigma^2 > 0.
        groups: optional N integer ids (class labels).

    Returns:
        dict with ``kl`` and ``bhattacharyya`` (j over all rows: the upper and
        lower bound on the information between the mixture index and T + Z)
        and, when ``groups`` is given, ``kl_within`` and ``bhattacharyya_within``
        (j over the i-th row's own group; outer mean still over all rows).

    Example:
        >>> bounds = pairwise_mixture_information(np.array([[0.0], [10.0]]), 0.01)
        >>> {key: round(float(value), 4) for key, value in bounds.items()}     # log 2 each
        {'kl': 0.6931, 'bhattacharyya': 0.6931}
    """
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    group_ids = np.zeros(n, dtype=np.int64) if groups is None else np.unique(groups, return_inverse=True)[1].ravel()
    # sort rows by group so each group's columns are one contiguous range (summed with reduceat).
    order = np.argsort(group_ids, kind="stable")
    points, group_ids = points[order], group_ids[order]
    group_sizes = np.bincount(group_ids)
    group_starts = np.concatenate([[0], np.cumsum(group_sizes)[:-1]])
    squared_norms = np.sum(points**2, axis=1)
    totals = dict.fromkeys(("kl", "bhattacharyya", "kl_within", "bhattacharyya_within"), 0.0)
    block = _block_rows(n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        distances = squared_norms[start:stop, None] - 2.0 * points[start:stop] @ points.T + squared_norms[None, :]
        np.maximum(distances, 0.0, out=distances)
        rows = np.arange(stop - start)
        for name, scale in (("kl", _KL_SCALE), ("bhattacharyya", _BHATTACHARYYA_SCALE)):
            kernel = np.exp(distances * (-scale / noise_variance))
            per_group = np.add.reduceat(kernel, group_starts, axis=1)
            # the diagonal term exp(0) = 1 keeps every sum >= 1: no log 0.
            totals[name] += np.sum(np.log(n) - np.log(per_group.sum(axis=1)))
            within = per_group[rows, group_ids[start:stop]]
            totals[name + "_within"] += np.sum(np.log(group_sizes[group_ids[start:stop]]) - np.log(within))
    keys = ("kl", "bhattacharyya") if groups is None else tuple(totals)
    return {key: totals[key] / n for key in keys}


class KDEEstimator:
    """Kolchinsky-Tracey pairwise-distance bounds for T + N(0, noise_variance I).

    ``summarize(batch)`` keeps the float32 activations (the pairwise bounds need
    all rows); ``information(summaries, labels, units)`` returns a dict with
    ``ixt_upper``, ``ixt_lower``, ``ity_upper``, ``ity_lower`` and, for the
    information-plane table, ``ixt`` / ``ity`` = the upper values (the curves
    Saxe et al. plot).

    Args:
        noise_variance: sigma^2 > 0 of the Gaussian noise added to T, in the units of T squared.

    Raises:
        ValueError: a noise variance that is not a finite number > 0.

    Example:
        >>> points, labels = np.array([[0.0], [0.0], [10.0], [10.0]]), [0, 0, 1, 1]     # two far clusters
        >>> estimator = KDEEstimator(noise_variance=0.01)
        >>> estimator.information([estimator.summarize(points)], labels)["ixt_upper"]     # bits
        1.0
    """

    name = "kde"

    def __init__(self, noise_variance):
        self.noise_variance = checks.finite_float("noise_variance (sigma^2 of the added noise)", noise_variance, low=0.0, low_open=True)

    def get_config(self):
        return {"noise_variance": self.noise_variance}

    def summarize(self, activations):
        """The float32 activations [B, d] of a batch (checked finite).

        Args:
            activations: ``[B, ...]`` finite activations (higher ranks flattened to ``[B, d]``).

        Returns:
            float32 ``[B, d]``.

        Raises:
            ValueError: non-finite activations.

        Example:
            >>> KDEEstimator(0.01).summarize(np.zeros((8, 2, 3))).shape
            (8, 6)
        """
        return checks.sample_matrix("activations", activations).astype(np.float32)

    def information(self, summaries, labels, units="bits"):
        """The bounds (dict, in ``units``) from the summaries of all N rows (a list of batches or one array).

        Args:
            summaries: the outputs of :meth:`summarize` for all N rows, a list of batches or one array.
            labels: N integer class ids (or ``[N, C]`` one-hot).
            units: ``"bits"`` or ``"nats"``.

        Returns:
            A dict of floats in ``units``: ``ixt_upper``, ``ixt_lower``, ``ity_upper``, ``ity_lower``,
            and ``ixt`` / ``ity`` (the upper bounds).

        Raises:
            ValueError: an unknown unit, non-finite activations or labels of the wrong length.

        Example:
            >>> KDEEstimator(0.01).information(np.array([[0.0], [0.0], [10.0], [10.0]]), [0, 0, 1, 1])["ixt"]
            1.0
        """
        check_units(units)
        points = np.concatenate(summaries, axis=0) if isinstance(summaries, (list, tuple)) else summaries
        points = checks.sample_matrix("activations", points)
        labels = checks.class_labels("labels", labels, size=points.shape[0])
        terms = pairwise_mixture_information(points, self.noise_variance, groups=labels)
        # I(T;Y) = H(T+Z) - H(T+Z|Y); the shared H(T+Z|X) term cancels, so
        # I(T;Y) = I(X;T) - I(X;T | Y) with the within-class mixtures.
        result = {
            "ixt_upper": terms["kl"],
            "ixt_lower": terms["bhattacharyya"],
            "ity_upper": terms["kl"] - terms["kl_within"],
            "ity_lower": terms["bhattacharyya"] - terms["bhattacharyya_within"],
        }
        result = {key: float(from_nats(value, units)) for key, value in result.items()}
        result["ixt"], result["ity"] = result["ixt_upper"], result["ity_upper"]
        return result


def kde_information(activations, labels, noise_variance, units="bits"):
    """Pairwise-distance bounds on I(X;T) and I(T;Y) for T + N(0, noise_variance I).

    Args:
        activations: [N, d] (higher ranks flattened), row n = T(x_n) for N
            distinct, equiprobable inputs.
        labels: N integer class ids (or [N, C] one-hot).
        noise_variance: sigma^2 of the Gaussian noise added to T, in the units of T squared.
        units: ``"bits"`` (default) or ``"nats"``.

    Returns:
        dict with ``ixt_upper``, ``ixt_lower``, ``ity_upper``, ``ity_lower`` in ``units``.

    Raises:
        ValueError: NaN or infinite activations, labels of the wrong length or
            kind, or a noise variance that is not a finite number > 0.

    Example:
        >>> points = np.array([[0.0], [0.0], [10.0], [10.0]])       # two far clusters
        >>> bounds = kde_information(points, [0, 0, 1, 1], noise_variance=0.01)
        >>> round(bounds["ixt_upper"], 6), round(bounds["ity_lower"], 6)  # 1 bit each
        (1.0, 1.0)
    """
    result = KDEEstimator(noise_variance).information(activations, labels, units=units)
    return {key: result[key] for key in ("ixt_upper", "ixt_lower", "ity_upper", "ity_lower")}
