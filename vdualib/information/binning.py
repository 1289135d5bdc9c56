"""Binning (plug-in) estimator of I(X;T) and I(T;Y) for a deterministic layer.

Each unit of a layer's activation T is discretised into ``num_bins`` equal-width
bins; the discretised vector of a row is one symbol. Every row of ``activations``
is T for one distinct input x and X is uniform over the rows (Shwartz-Ziv & Tishby
2017), so T is a function of X and

    I(X;T) = H(T_binned),      I(T;Y) = H(T_binned) - H(T_binned | Y),

both computed from symbol counts (``np.unique`` over packed rows, no Python loop
over examples) and returned in bits by default.

Bin edges, one policy: the bins always cover the data.

* ``value_range=None`` (the default): ``num_bins`` equal bins over the observed
  [min, max] of the layer (all units and rows together), so an unbounded layer
  (ReLU, linear) is binned at the resolution of its own spread.
* ``value_range=(low, high)``: fixed bins, as in the tanh study (30 bins on
  [-1, 1]) where every epoch must share the same bins. Activations outside
  [low, high] raise ``ValueError``; they are never clipped into the edge bins,
  which would merge distinct values and under-report I(X;T).

Bias and regime: I(X;T) is bounded by log2 N and by the number of occupied
bins; it measures the binning's resolution as much as information (a
deterministic injective continuous layer has I(X;T) = log N for fine enough
bins). With few examples per symbol, the plug-in I(T;Y) is biased upward
(roughly (S - 1)(C - 1) / (2 N ln 2) bits for S occupied symbols and C classes),
which makes wide layers look informative about Y until N >> S.

Example:
    >>> import numpy as np
    >>> relu = np.linspace(0.0, 50.0, 100)[:, None]        # 100 distinct inputs, one unit
    >>> round(binned_information(relu, np.arange(100) % 2, num_bins=1000)[0], 6)   # log2(100) bits
    6.643856
"""

import numpy as np

from vdualib import checks
from vdualib.information.units import check_units, from_nats

__all__ = ["BinningEstimator", "binned_information", "entropy_from_counts"]


def entropy_from_counts(counts):
    """Plug-in entropy -sum p log p, in nats, of a vector of non-negative counts.

    Args:
        counts: non-negative counts ``[M]`` (zeros are skipped); at least one positive.

    Returns:
        A float, nats, with p = counts / sum(counts).

    Example:
        >>> entropy_from_counts([2, 2])     # log 2 nats
        0.6931
    """
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


class BinningEstimator:
    """Equal-width binning estimator; callable on a whole layer or streamed per batch.

    Args:
        num_bins: bins per unit, an integer in [2, 65535].
        value_range: ``None`` (default) for bins over the observed [min, max] of
            the layer, or a fixed ``(low, high)``; data outside a fixed range
            raise ``ValueError`` (see the module docstring).

    ``summarize(batch)`` reduces a batch of activations [B, units] to what the
    estimate needs: uint8/uint16 bin codes for a fixed range (so a callback
    never keeps float activations), or the float32 activations themselves when
    the range is the observed one. ``information(summaries, labels, units)``
    returns a dict with ``ixt`` and ``ity`` in ``units``.

    Example:
        >>> estimator = BinningEstimator(num_bins=30, value_range=(-1.0, 1.0))
        >>> codes = estimator.summarize(np.tanh(np.random.default_rng(0).normal(size=(64, 3))))
        >>> estimator.information(codes, np.arange(64) % 2)["ixt"] <= 6.0
        True
    """

    name = "binning"

    def __init__(self, num_bins=30, value_range=None):
        num_bins = checks.positive_int("num_bins", num_bins)
        if not 2 <= num_bins <= 65535:
            raise ValueError(f"num_bins must be an integer in [2, 65535]; got {num_bins}.")
        if value_range is not None:
            if np.ndim(value_range) != 1 or len(value_range) != 2:
                raise ValueError(f"value_range must be (low, high) or None; got {value_range!r}.")
            low = checks.finite_float("value_range low", value_range[0])
            high = checks.finite_float("value_range high", value_range[1])
            if not low < high:
                raise ValueError(f"value_range must be (low, high) with low < high, or None; got {value_range!r}.")
            value_range = (low, high)
        self.num_bins = num_bins
        self.value_range = value_range

    def get_config(self):
        return {"num_bins": self.num_bins, "value_range": self.value_range}

    def codes(self, activations, value_range=None):
        """Bin index of every entry of ``activations`` [N, units], smallest unsigned dtype.

        ``value_range`` defaults to the estimator's fixed range; the value ``high`` falls in the
        last bin.

        Args:
            activations: ``[N, units]`` floats.
            value_range: ``(low, high)``, or ``None`` for the estimator's fixed range.

        Returns:
            ``[N, units]`` bin indices in ``[0, num_bins)``, uint8 (up to 256 bins) or uint16.

        Raises:
            ValueError: entries outside the range.

        Example:
            >>> BinningEstimator(4, (0.0, 1.0)).codes(np.array([[0.0, 0.3, 1.0]]))
            array([[0, 1, 3]], dtype=uint8)
        """
        low, high = value_range or self.value_range
        activations = np.asarray(activations, dtype=np.float64)
        if activations.size and (activations.min() < low or activations.max() > high):
            raise ValueError(
                f"activations span [{activations.min():.6g}, {activations.max():.6g}], outside the fixed "
                f"value_range ({low:g}, {high:g}); binning would clip them and merge distinct values. Pass "
                "value_range=None to bin over the observed range, or a range that covers the layer."
            )
        index = np.floor((activations - low) / ((high - low) / self.num_bins))
        dtype = np.uint8 if self.num_bins <= 256 else np.uint16
        return np.minimum(index, self.num_bins - 1).astype(dtype)

    def summarize(self, activations):
        """Bin codes (fixed range) or float32 activations (observed range) of a batch [B, ...].

        Args:
            activations: ``[B, ...]`` finite activations (higher ranks are flattened to ``[B, units]``).

        Returns:
            ``[B, units]``: uint8/uint16 codes for a fixed range, float32 activations otherwise.

        Raises:
            ValueError: non-finite activations, or entries outside a fixed range.

        Example:
            >>> BinningEstimator(4, (0.0, 1.0)).summarize(np.array([[0.1], [0.9]]))
            array([[0],
                   [3]], dtype=uint8)
        """
        activations = checks.sample_matrix("activations", activations)
        if self.value_range is None:
            return activations.astype(np.float32)
        return self.codes(activations)

    def information(self, summaries, labels, units="bits"):
        """``{"ixt", "ity"}`` in ``units`` from the summaries of all N rows (a list of batches or one array).

        Args:
            summaries: the outputs of :meth:`summarize` for all N rows, a list of batches or one array.
            labels: N integer class ids (or ``[N, C]`` one-hot rows).
            units: ``"bits"`` or ``"nats"``.

        Returns:
            ``{"ixt": H(T_binned), "ity": I(T_binned; Y)}``, floats in ``units``.

        Raises:
            ValueError: an unknown unit or labels of the wrong length or kind.

        Example:
            >>> estimator = BinningEstimator(4, (0.0, 1.0))
            >>> estimator.information([estimator.summarize(np.array([[0.1], [0.9]]))], [0, 1])     # 1 bit each
            {'ixt': 1.0, 'ity': 1.0}
        """
        check_units(units)
        summary = np.concatenate(summaries, axis=0) if isinstance(summaries, (list, tuple)) else summaries
        labels = checks.class_labels("labels", labels, size=summary.shape[0])
        if self.value_range is None:
            low, high = float(summary.min()), float(summary.max())
            summary = np.zeros(summary.shape, np.uint8) if high == low else self.codes(summary, (low, high))
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


def binned_information(activations, labels, num_bins=30, value_range=None, units="bits"):
    """Binned I(X;T) and I(T;Y) of a deterministic layer, in bits (or nats).

    Args:
        activations: [N, units] (higher ranks are flattened), row n = T(x_n) for
            N distinct, equiprobable inputs; finite.
        labels: N integer class ids (or [N, C] one-hot rows).
        num_bins: equal-width bins per unit.
        value_range: ``None`` for bins over the observed [min, max] (default), or
            a fixed ``(low, high)`` that must cover every activation.
        units: ``"bits"`` or ``"nats"``.

    Returns:
        ``(ixt, ity)``: I(X;T) = H(T_binned) and I(T;Y) = H(T_binned) - H(T_binned|Y).

    Raises:
        ValueError: NaN or infinite activations, labels of the wrong length or
            kind, or activations outside a fixed ``value_range``.

    Example:
        >>> x = 2.0 * ((np.arange(16)[:, None] >> np.arange(4)) & 1) - 1.0   # 4-bit patterns in {-1, 1}
        >>> [round(v, 6) for v in binned_information(x, x[:, 0] > 0, value_range=(-1, 1))]
        [4.0, 1.0]
    """
    estimator = BinningEstimator(num_bins=num_bins, value_range=value_range)
    result = estimator.information(estimator.summarize(activations), labels, units=units)
    return result["ixt"], result["ity"]
