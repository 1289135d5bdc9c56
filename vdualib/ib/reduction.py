"""Working at the effective cardinality: merge coincident clusters, drop empty ones, pad back, split.

Two clusters with the same decoder p(y|x_hat) have the same distortion d(x, x_hat) for every x,
so at a fixed point their encoder columns are proportional: replacing them by one cluster whose
column is their sum leaves p(x|x_hat), the decoder, I(X; X_hat) and I(X_hat; Y) unchanged and is
again a solution of the self-consistent equations. A cluster with p(x_hat) = 0 stays empty under
the equations. A sweep therefore carries, from one beta to the next, only the distinct live
clusters: an iteration costs O(|X| K |Y|) for the K effective clusters instead of O(|X| N |Y|)
(on a random 256 x 16 joint, K falls from 256 to 1 across the sweep).

Annealing down in beta, clusters only merge. Annealing up they must be able to split again:
:func:`duplicate_clusters` gives each cluster a twin for the perturbed warm start; twins that
do not separate are merged again at the next beta.
"""

import numpy as np
from scipy.spatial.distance import pdist, squareform

__all__ = ["coincident_groups", "merge_clusters", "duplicate_clusters", "pad_clusters"]

_BROADCAST_LIMIT = 1 << 16  # pairwise distances of at most this many entries are computed with numpy


def coincident_groups(rows, tol):
    """Group label of each row of ``rows`` [K, D]: rows closer than ``tol`` in total variation
    (half the L1 distance) are linked, and groups are the connected components of those links,
    numbered 0, 1, ... in order of their first row (so rows that link to nothing keep their order).

    Components by min-label propagation rather than ``scipy.sparse.csgraph``: this runs before
    every beta of a sweep on a handful of rows, where the sparse-graph set-up dominates.

    Args:
        rows: ``[K, D]`` distributions (e.g. decoders p(y|x_hat)).
        tol: total-variation distance below which two rows are linked.

    Returns:
        int64 ``[K]`` group labels 0, 1, ...

    Example:
        >>> coincident_groups(np.array([[1, 0], [0.9995, 0.0005], [0, 1]]), 1e-3)     # [0, 0, 1]
    """
    if len(rows) <= 1:
        return np.zeros(len(rows), dtype=np.int64)
    if rows.size * len(rows) <= _BROADCAST_LIMIT:  # small: skip pdist's per-call overhead
        linked = 0.5 * np.abs(rows[:, None, :] - rows[None, :, :]).sum(axis=-1) < tol
    else:
        linked = 0.5 * squareform(pdist(rows, metric="cityblock")) < tol
    labels = np.arange(len(rows))
    if linked.sum() == len(rows):  # only the diagonal: every row is its own group
        return labels
    while True:
        spread = np.where(linked, labels[None, :], len(rows)).min(axis=1)
        if np.array_equal(spread, labels):
            return np.unique(labels, return_inverse=True)[1]
        labels = spread


def merge_clusters(encoder, decoder, px, merge_tol, mass_tol):
    """Merge clusters with coincident decoders and drop clusters without mass, per batch item.

    Args:
        encoder: p(x_hat|x) [B, |X|, N].
        decoder: the method's decoder p(y|x_hat) [B, N, |Y|], compared in total variation.
        px: p(x) [|X|].
        merge_tol: clusters whose decoders differ by less than this (total variation) are merged:
            their encoder columns add.
        mass_tol: clusters with p(x_hat) <= mass_tol are dropped and the rows renormalised.

    Returns:
        (log encoder [B, |X|, K] with K the largest number of merged clusters in the batch
        (items with fewer get empty -inf columns), or None when there is nothing to merge or drop;
        whether the result is just the input's first K columns, i.e. nothing merged and only
        empty trailing columns dropped).

    Example:
        >>> log_encoder, prefix = merge_clusters(encoder, decoder, px, merge_tol=1e-6, mass_tol=1e-12)
    """
    marginal = np.einsum("x,bxn->bn", px, encoder)
    groups = []
    for item_decoder, item_marginal in zip(decoder, marginal):
        alive = np.flatnonzero(item_marginal > mass_tol)
        if alive.size == 0:  # nothing above mass_tol: keep the heaviest cluster
            alive = np.array([np.argmax(item_marginal)])
        groups.append((alive, coincident_groups(item_decoder[alive], merge_tol)))
    if all(labels.size == encoder.shape[2] and labels[-1] == labels.size - 1 for _, labels in groups):
        return None, True  # every column alive and distinct (labels are increasing)
    merged, kept_prefix = [], True
    for item_encoder, (alive, labels) in zip(encoder, groups):
        kept_prefix &= bool(np.array_equal(alive, np.arange(alive.size)) and np.array_equal(labels, alive))
        columns = item_encoder[:, alive]
        if labels.max() + 1 < alive.size:  # sum the columns of each group
            columns = columns @ (labels[:, None] == np.arange(labels.max() + 1))
        total = columns.sum(axis=1, keepdims=True)
        merged.append(np.where(total > 0, columns / np.where(total > 0, total, 1.0), 1.0 / columns.shape[1]))
    width = max(columns.shape[1] for columns in merged)
    reduced = np.zeros(encoder.shape[:2] + (width,))
    for item, columns in enumerate(merged):
        reduced[item, :, : columns.shape[1]] = columns
    with np.errstate(divide="ignore"):
        return np.log(reduced), kept_prefix


def duplicate_clusters(log_encoder, px, n_clusters):
    """Give the heaviest clusters an identical twin (half the encoder mass each), up to ``n_clusters`` columns.

    The twins only separate once the warm start is perturbed; this is what lets clusters split
    when annealing up in beta.

    Args:
        log_encoder: log p(x_hat|x), ``[B, |X|, K]``.
        px: p(x), ``[|X|]``.
        n_clusters: the largest number of columns N.

    Returns:
        The log encoder ``[B, |X|, min(2K, n_clusters)]`` (the input itself when K >= n_clusters).

    Example:
        >>> duplicate_clusters(np.zeros((1, 2, 1)), np.array([0.5, 0.5]), 2).shape     # (1, 2, 2)
    """
    width = log_encoder.shape[2]
    n_twins = min(width, n_clusters - width)
    if n_twins <= 0:
        return log_encoder
    marginal = np.einsum("x,bxn->bn", px, np.exp(log_encoder))
    heaviest = np.argsort(-marginal, axis=1)[:, :n_twins]
    twins = np.take_along_axis(log_encoder, heaviest[:, None, :], axis=2) - np.log(2.0)
    halved = log_encoder.copy()
    np.put_along_axis(halved, heaviest[:, None, :], twins, axis=2)
    return np.concatenate([halved, twins], axis=2)


def pad_clusters(log_encoder, n_clusters):
    """Append empty (-inf) columns to a log encoder [B, |X|, K] up to ``n_clusters`` columns.

    Args:
        log_encoder: log p(x_hat|x), ``[B, |X|, K]``.
        n_clusters: N >= K.

    Returns:
        ``[B, |X|, N]`` (the input itself when K = N).

    Example:
        >>> pad_clusters(np.zeros((1, 2, 1)), 3).shape     # (1, 2, 3)
    """
    missing = n_clusters - log_encoder.shape[2]
    if missing == 0:
        return log_encoder
    return np.concatenate([log_encoder, np.full(log_encoder.shape[:2] + (missing,), -np.inf)], axis=2)
