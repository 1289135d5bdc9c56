"""Binning (plug-in) estimator of I(X;T) and I(T;Y) for a deterministic layer.

Each unit of a layer's activation T is discretised into ``num_bins`` equal-width
bins over ``value_range`` (values outside are clipped into the edge bins); the
discretised vector of a row is one symbol. Every row of ``activations`` is T
for one distinct input x and X is uniform over the rows (Shwartz-Ziv & Tishby
2017), so T is a function of X and

    I(X;T) = H(T_binned),      I(T;Y) = H(T_binned) - H(T_binned | Y),

both computed from symbol counts (``np.unique`` over packed rows, no Python loop
over examples) and returned in bits by default.

Bias and regime: I(X;T) is bounded by log2 N and by the number of occupied
bins; it measures the binning's resolution as much as information (a
deterministic injective continuous layer has I(X;T) = log N for fine enough
bins). With few examples per symbol, the plug-in I(T;Y) is biased upward
(roughly (S - 1)(C - 1) / (2 N ln 2) bits for S occupied symbols and C classes),
which makes wide layers look informative about Y until N >> S.
"""

import numpy as np

from vdualib.information.checks import check_activations, check_labels
from vdualib.information.units import check_units, from_nats

__all__ = ["BinningEstimator", "binned_information", "entropy_from_counts"]


def entropy_from_counts(counts):
    """Plug-in entropy -sum p log p, in nats, of a vector of non-negative counts."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


class BinningEstimator:
    """Equal-width binning estimator; callable on a whole layer or streamed per batch.

    Args:
        num_bins: bins per unit (>= 2). 30 on [-1, 1] reproduces the tanh study.
        value_range: ``(low, high)`` binning range, or ``None`` for the observed
            [min, max] over all units and rows of the layer.

    ``summarize(batch)`` reduces a batch of activations to what the estimate
    needs: uint8/uint16 bin codes for a fixed range (so a callback never keeps
    float activations), or the activations themselves when the range is the
    observed one. ``information(summaries, labels, units)`` returns a dict with
    ``ixt`` and ``ity``.
    """

    name = "binning"

    def __init__(self, num_bins=30, value_range=(-1.0, 1.0)):
        if not isinstance(num_bins, (int, np.integer)) or num_bins < 2 or num_bins > 65535:
            raise ValueError(f"num_bins must be an integer in [2, 65535]; got {num_bins!r}.")
        if value_range is not None:
            if len(value_range) != 2 or not np.all(np.isfinite(value_range)) or not value_range[0] < value_range[1]:
                raise ValueError(f"value_range must be (low, high) with finite low < high, or None; got {value_range!r}.")
            value_range = (float(value_range[0]), float(value_range[1]))
        self.num_bins = int(num_bins)
        self.value_range = value_range

    def get_config(self):
        return {"num_bins": self.num_bins, "value_range": self.value_range}

    def codes(self, activations, value_range=None):
        """Bin index of every entry, shape [N, units], smallest unsigned dtype."""
        low, high = value_range or self.value_range
        width = (high - low) / self.num_bins
        index = np.floor((np.asarray(activations, dtype=np.float64) - low) / width) if high > low else np.zeros(np.shape(activations))
        dtype = np.uint8 if self.num_bins <= 256 else np.uint16
        return np.clip(index, 0, self.num_bins - 1).astype(dtype)

    def summarize(self, activations):
        activations = check_activations(activations)
        if self.value_range is None:
            return activations.astype(np.float32)
        return self.codes(activations)

    def information(self, summaries, labels, units="bits"):
        check_units(units)
        summary = np.concatenate(summaries, axis=0) if isinstance(summaries, (list, tuple)) else summaries
        labels = check_labels(labels, summary.shape[0])
        if self.value_range is None:
            observed = (float(summary.min()), float(summary.max()))
            summary = self.codes(summary, observed)
        symbols = _row_symbols(summary, self.num_bins)
        h_t = entropy_from_counts(np.bincount(symbols))
        _, label_ids = np.unique(labels, return_inverse=True)
        joint = symbols.astype(np.int64) * (label_ids.max() + 1) + label_ids.ravel()
        h_y = entropy_from_counts(np.bincount(label_ids.ravel()))
        i_ty = h_t + h_y - entropy_from_counts(np.unique(joint, return_counts=True)[1])
        return {"ixt": float(from_nats(h_t, units)), "ity": float(from_nats(max(i_ty, 0.0), units))}


def _row_symbols(codes, num_bins):
    """Integer id of each distinct row of a 2-D code array.

    Rows become one int64 key in base ``num_bins`` when that fits in 63 bits
    (a fast integer sort), otherwise packed bytes; then ``np.unique``.
    """
    codes = np.ascontiguousarray(codes)
    if codes.shape[1] * np.log2(num_bins) < 63:
        keys = codes.astype(np.int64) @ (num_bins ** np.arange(codes.shape[1], dtype=np.int64))
    else:
        keys = codes.view(np.dtype((np.void, codes.dtype.itemsize * codes.shape[1]))).ravel()
    return np.unique(keys, return_inverse=True)[1].ravel()


def binned_information(activations, labels, num_bins=30, value_range=(-1, 1), units="bits"):
    """Binned I(X;T) and I(T;Y) of a deterministic layer, in bits (or nats).

    Args:
        activations: [N, units] (higher ranks are flattened), row n = T(x_n) for
            N distinct, equiprobable inputs.
        labels: N integer class ids (or [N, C] one-hot).
        num_bins: equal-width bins per unit.
        value_range: ``(low, high)`` or ``None`` for the observed range.
        units: ``"bits"`` or ``"nats"``.

    Returns:
        ``(ixt, ity)``: I(X;T) = H(T_binned) and I(T;Y) = H(T_binned) - H(T_binned|Y).
    """
    estimator = BinningEstimator(num_bins=num_bins, value_range=value_range)
    result = estimator.information(estimator.summarize(activations), labels, units=units)
    return result["ixt"], result["ity"]
