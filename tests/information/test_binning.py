"""The binning estimator against known mutual information, its checks, streamed summaries."""

import subprocess
import sys

import math

import numpy as np
import pytest

from vdualib.information import binned_information, kde_information
from vdualib.information.binning import BinningEstimator
from vdualib.information.kde import KDEEstimator


LOG2 = math.log(2.0)


def twelve_bit():
    rng_patterns = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float64)
    labels = (rng_patterns.sum(axis=1) % 2).astype(np.int64)
    return rng_patterns, labels


def test_binning_twelve_bit_identity():
    x, labels = twelve_bit()
    ixt, ity = binned_information(2 * x - 1, labels)
    assert ixt == pytest.approx(12.0, abs=1e-9)  # X uniform over 4,096 distinct inputs, T = X
    assert ity == pytest.approx(1.0, abs=1e-9)  # parity labels: H(Y) = 1 bit


def test_binning_deterministic_discrete_mapping():
    x, _ = twelve_bit()
    # T = the last two bits (4 equiprobable symbols), Y = the last bit: I(X;T) = 2, I(T;Y) = 1.
    t = 2 * x[:, -2:] - 1
    labels = x[:, -1].astype(np.int64)
    assert binned_information(t, labels) == pytest.approx((2.0, 1.0), abs=1e-12)
    # labels independent of T (the first bit): I(T;Y) = 0.
    assert binned_information(t, x[:, 0].astype(int))[1] == pytest.approx(0.0, abs=1e-12)
    assert binned_information(t, labels, units="nats")[0] == pytest.approx(2 * LOG2)


def test_binning_matches_a_dictionary_count():
    rng = np.random.default_rng(4)
    activations = np.tanh(rng.normal(size=(500, 3)))
    labels = rng.integers(0, 3, size=500)
    edges = np.linspace(-1, 1, 6)[1:-1]  # 5 equal-width bins on [-1, 1]
    symbols = [tuple(np.searchsorted(edges, row, side="right")) for row in activations]
    counts, joint = {}, {}
    for s, y in zip(symbols, labels):
        counts[s] = counts.get(s, 0) + 1
        joint[(s, y)] = joint.get((s, y), 0) + 1
    h = lambda c: -sum(v / 500 * math.log2(v / 500) for v in c)  # noqa: E731
    h_y = h(np.bincount(labels))
    ixt, ity = binned_information(activations, labels, num_bins=5, value_range=(-1, 1))
    assert ixt == pytest.approx(h(counts.values()), abs=1e-12)
    assert ity == pytest.approx(h(counts.values()) + h_y - h(joint.values()), abs=1e-12)


def test_binning_observed_range_and_one_hot_labels():
    values = np.array([[0.0], [1.0], [2.0], [3.0]])
    one_hot = np.eye(2)[[0, 0, 1, 1]]
    assert binned_information(values, one_hot, num_bins=2, value_range=None) == pytest.approx((1.0, 1.0))
    # one bin-width over the whole range collapses everything into one symbol
    constant = np.zeros((4, 2))
    assert binned_information(constant, [0, 1, 0, 1], value_range=None) == pytest.approx((0.0, 0.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_bins": 1}, "num_bins"),
        ({"value_range": (1, -1)}, "value_range"),
        ({"labels": np.zeros(3, dtype=int)}, "labels"),
        ({"labels": np.full(4, 0.5)}, "whole numbers"),
        ({"activations": np.full((4, 1), np.nan)}, "NaN"),
    ],
)
def test_binning_rejects_bad_input(kwargs, match):
    arguments = {"activations": np.zeros((4, 1)), "labels": np.zeros(4, dtype=int)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        binned_information(**arguments)


def test_binning_covers_unbounded_relu_layers():
    """100 distinct ReLU activations in 0..50 carry log2(100) bits with fine bins (no clipping)."""
    rng = np.random.default_rng(11)
    relu = np.maximum(rng.uniform(-10.0, 50.0, size=(100, 3)), 0.0)
    assert relu.min() == 0.0 and relu.max() <= 50.0 and len(np.unique(relu, axis=0)) == 100
    labels = rng.integers(0, 3, 100)
    h_y = -sum(c / 100 * math.log2(c / 100) for c in np.bincount(labels))
    ixt, ity = binned_information(relu, labels, num_bins=1000)  # observed range: the bins cover the layer
    assert ixt == pytest.approx(math.log2(100), abs=1e-12)
    assert ity == pytest.approx(h_y, abs=1e-12)  # T is injective, so I(T;Y) = H(Y)
    # a fixed range that does not cover the data is refused, never clipped (it gave 1.1 bits)
    with pytest.raises(ValueError, match=r"outside the fixed value_range \(-1, 1\)"):
        binned_information(relu, labels, num_bins=1000, value_range=(-1, 1))
    with pytest.raises(ValueError, match="outside the fixed"):
        BinningEstimator(30, (0.0, 40.0)).summarize(relu)
    # a range that covers the data, upper edge included, keeps every row distinct
    assert binned_information(relu, labels, num_bins=1000, value_range=(0.0, 50.0))[0] == pytest.approx(math.log2(100))


@pytest.mark.parametrize(
    "activations, labels, match",
    [
        (np.array([[0.0], [np.inf], [1.0], [2.0]]), [0, 1, 0, 1], "NaN or infinite"),
        (np.array([[0.0], [np.nan], [1.0], [2.0]]), [0, 1, 0, 1], "NaN or infinite"),
        (np.zeros((4, 1)), [0, -1, 0, 1], ">= 0"),
        (np.zeros((4, 1)), np.full((4, 2), 0.5), "one-hot"),
        (np.zeros((0, 3)), [], "at least 1"),
        (np.zeros((4, 1)), [0, 1, 0], "4 labels"),
    ],
)
def test_layer_estimators_refuse_bad_activations_and_labels(activations, labels, match):
    with pytest.raises(ValueError, match=match):
        binned_information(activations, labels)
    with pytest.raises(ValueError, match=match):
        kde_information(activations, labels, noise_variance=0.1)


@pytest.mark.parametrize("estimator", [BinningEstimator(10, None), BinningEstimator(10, (-5, 5)), KDEEstimator(0.3)])
def test_streamed_summaries_equal_the_whole_layer(estimator):
    rng = np.random.default_rng(8)
    activations, labels = rng.normal(size=(300, 3)), rng.integers(0, 4, 300)
    streamed = [estimator.summarize(activations[i : i + 64]) for i in range(0, 300, 64)]
    whole = estimator.information(estimator.summarize(activations), labels)
    assert estimator.information(streamed, labels) == pytest.approx(whole, rel=1e-6)


@pytest.mark.slow
def test_estimators_do_not_import_tensorflow():
    code = "import sys, vdualib.information as i; i.binned_information; i.kde_information; i.ksg_mi; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
