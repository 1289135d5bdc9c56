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

__all__ = ["coincident_groups", "coincident_labels", "merge_clusters", "duplicate_clusters", "pad_clusters"]

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
        >>> coincident_groups(np.array([[1, 0], [0.9995, 0.0005], [0, 1]]), 1e-3)
        array([0, 0, 1])
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


def coincident_labels(rows, alive, tol):
    """:func:`coincident_groups` of the alive rows of each item of a batch.

    Args:
        rows: ``[B, K, D]`` distributions (e.g. decoders p(y|x_hat)).
        alive: bool ``[B, K]``, the rows to group.
        tol: total-variation distance below which two rows are linked.

    Returns:
        int64 ``[B, K]``: each alive row's group 0, 1, ... (numbered in order of first row), -1 elsewhere.

    Example:
        >>> coincident_labels(np.array([[[1, 0], [1, 0], [0, 1]]]), np.array([[True, True, False]]), 1e-3)
        array([[ 0,  0, -1]])
    """
    n_items, width, depth = rows.shape
    if width * width * depth > _BROADCAST_LIMIT:  # large: one item at a time, on pdist
        labels = np.full((n_items, width), -1)
        for item in range(n_items):
            labels[item, alive[item]] = coincident_groups(rows[item, alive[item]], tol)
        return labels
    chunk = max(1, _BROADCAST_LIMIT * 16 // (width * width * depth))
    if n_items > chunk:
        return np.concatenate([coincident_labels(rows[i: i + chunk], alive[i: i + chunk], tol)
                               for i in range(0, n_items, chunk)])
    linked = 0.5 * np.abs(rows[:, :, None, :] - rows[:, None, :, :]).sum(axis=-1) < tol
    linked &= alive[:, :, None] & alive[:, None, :]
    # Each row takes the smallest index it is linked to, until nothing changes: the smallest index of its component.
    smallest = np.where(alive, np.arange(width), width)
    while True:
        spread = np.where(linked, smallest[:, None, :], width).min(axis=2, initial=width)
        spread = np.minimum(spread, smallest)
        if np.array_equal(spread, smallest):
            break
        smallest = spread
    first = alive & (smallest == np.arange(width))
    group = np.cumsum(first, axis=1) - 1
    return np.where(alive, np.take_along_axis(group, np.minimum(smallest, width - 1), axis=1), -1)


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
        bool [B], per item whether its result is just its first columns, i.e. nothing merged and
        only empty trailing columns dropped).

    Example:
        >>> encoder = np.array([[[0.5, 0.5, 0.0], [0.2, 0.2, 0.6]]])     # one item: |X| = 2, N = 3
        >>> decoder = np.array([[[0.3, 0.7], [0.3, 0.7], [0.9, 0.1]]])     # clusters 0 and 1 coincide
        >>> log_encoder, prefix = merge_clusters(encoder, decoder, np.array([0.5, 0.5]), merge_tol=1e-6, mass_tol=1e-12)
        >>> np.exp(log_encoder), prefix
        (array([[[1. , 0. ],
                 [0.4, 0.6]]]), array([False]))
    """
    marginal = np.einsum("x,bxn->bn", px, encoder)
    alive = marginal > mass_tol
    # An item with nothing above mass_tol keeps its heaviest cluster.
    alive[np.arange(len(alive)), np.argmax(marginal, axis=1)] |= ~alive.any(axis=1)
    labels = coincident_labels(decoder, alive, merge_tol)
    width = encoder.shape[2]
    if np.array_equal(labels, np.broadcast_to(np.arange(width), labels.shape)):
        return None, np.ones(len(encoder), dtype=bool)  # every column alive and distinct
    n_groups = labels.max(axis=1) + 1
    position = np.arange(width)
    # Kept: the alive columns are a prefix, each its own group (nothing merged, only trailing columns dropped).
    kept_prefix = np.all(np.where(position < n_groups[:, None], labels == position, labels == -1), axis=1)
    groups = position[: n_groups.max()]
    columns = np.einsum("bxk,bkg->bxg", encoder, (labels[:, :, None] == groups).astype(encoder.dtype))
    total = columns.sum(axis=2, keepdims=True)
    fallback = np.where(groups < n_groups[:, None], 1.0 / n_groups[:, None], 0.0)[:, None, :]
    reduced = np.where(total > 0, columns / np.where(total > 0, total, 1.0), fallback)
    with np.errstate(divide="ignore"):
        return np.log(reduced), kept_prefix


def duplicate_clusters(log_encoder, px, n_clusters):
    """Give each item's heaviest clusters an identical twin (half the encoder mass each), up to ``n_clusters``.

    The twins only separate once the warm start is perturbed; this is what lets clusters split
    when annealing up in beta. Each item's live (non-empty) clusters are taken to be its first
    columns, as :func:`merge_clusters` leaves them; its twins go into the columns after them.

    Args:
        log_encoder: log p(x_hat|x), ``[B, |X|, K]``; empty columns are -inf.
        px: p(x), ``[|X|]``.
        n_clusters: the largest number of columns N.

    Returns:
        (log encoder ``[B, |X|, K']`` with K' = max over items of min(2 K_i, N) for K_i live clusters
        (the input itself when no item has room for a twin), bool ``[B]`` whether each item got twins).

    Example:
        >>> twinned, got_twins = duplicate_clusters(np.zeros((1, 2, 1)), np.array([0.5, 0.5]), 2)
        >>> np.exp(twinned), got_twins     # the one cluster halved into two
        (array([[[0.5, 0.5],
                 [0.5, 0.5]]]), array([ True]))
    """
    marginal = np.einsum("x,bxn->bn", px, np.exp(log_encoder))
    live = (marginal > 0).sum(axis=1)
    n_twins = np.minimum(live, n_clusters - live)
    if not n_twins.any():
        return log_encoder, np.zeros(len(log_encoder), dtype=bool)
    width = max(log_encoder.shape[2], int((live + n_twins).max()))
    result = np.full(log_encoder.shape[:2] + (width,), -np.inf)
    result[:, :, : log_encoder.shape[2]] = log_encoder
    # Live columns, heaviest first (stable); each item's first n_twins of them get a twin.
    order = np.argsort(np.where(np.arange(marginal.shape[1]) < live[:, None], -marginal, np.inf), axis=1,
                       kind="stable")
    items, rank = np.nonzero(np.arange(int(n_twins.max())) < n_twins[:, None])
    source, target = order[items, rank], live[items] + rank
    halved = log_encoder[items, :, source] - np.log(2.0)
    result[items, :, source] = halved
    result[items, :, target] = halved
    return result, n_twins > 0


def pad_clusters(log_encoder, n_clusters):
    """Append empty (-inf) columns to a log encoder [B, |X|, K] up to ``n_clusters`` columns.

    Args:
        log_encoder: log p(x_hat|x), ``[B, |X|, K]``.
        n_clusters: N >= K.

    Returns:
        ``[B, |X|, N]`` (the input itself when K = N).

    Example:
        >>> pad_clusters(np.zeros((1, 2, 1)), 3)
        array([[[  0., -inf, -inf],
                [  0., -inf, -inf]]])
    """
    missing = n_clusters - log_encoder.shape[2]
    if missing == 0:
        return log_encoder
    return np.concatenate([log_encoder, np.full(log_encoder.shape[:2] + (missing,), -np.inf)], axis=2)
