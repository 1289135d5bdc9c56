"""Tests of vdualib.information: estimators against known mutual information, the callback, tables, plots."""

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vdualib.information import binned_information, infonce_bounds, kde_information, ksg_mi
from vdualib.information.binning import BinningEstimator
from vdualib.information.kde import KDEEstimator
from vdualib.information.table import load_table, mean_table, save_table, table_from_json, table_to_json
from vdualib.information.variational import gaussian_encoder_bounds, gaussian_log_density_matrix

LOG2 = math.log(2.0)


def gaussian_mi_bits(covariance, dx):
    """I = 1/2 log(det S_x det S_y / det S), in bits."""
    _, logdet = np.linalg.slogdet(covariance)
    _, logdet_x = np.linalg.slogdet(covariance[:dx, :dx])
    _, logdet_y = np.linalg.slogdet(covariance[dx:, dx:])
    return 0.5 * (logdet_x + logdet_y - logdet) / LOG2


def correlated_gaussian(n, dim, rho, seed):
    """X, Y each ``dim``-dimensional with corr(X_k, Y_k) = rho; returns x, y and the covariance."""
    covariance = np.block([[np.eye(dim), rho * np.eye(dim)], [rho * np.eye(dim), np.eye(dim)]])
    samples = np.random.default_rng(seed).multivariate_normal(np.zeros(2 * dim), covariance, size=n)
    return samples[:, :dim], samples[:, dim:], covariance


def twelve_bit():
    rng_patterns = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float64)
    labels = (rng_patterns.sum(axis=1) % 2).astype(np.int64)
    return rng_patterns, labels


# -- variational bounds ---------------------------------------------------------------------------


def test_infonce_bounds_match_a_loop():
    rng = np.random.default_rng(0)
    log_density = rng.normal(size=(6, 6)) * 3
    lower = np.mean([log_density[i, i] - math.log(np.mean(np.exp(log_density[i]))) for i in range(6)])
    upper = np.mean(
        [log_density[i, i] - math.log(np.mean(np.exp(np.delete(log_density[i], i)))) for i in range(6)]
    )
    got_lower, got_upper = infonce_bounds(log_density, units="nats")
    assert got_lower == pytest.approx(lower, rel=1e-12)
    assert got_upper == pytest.approx(upper, rel=1e-12)
    bits = infonce_bounds(log_density)
    assert bits[0] == pytest.approx(lower / LOG2) and bits[1] == pytest.approx(upper / LOG2)


def test_infonce_bounds_extremes():
    n = 64
    separated = np.where(np.eye(n, dtype=bool), 0.0, -1e4)  # z_i only explained by x_i
    lower, upper = infonce_bounds(separated)
    assert lower == pytest.approx(math.log2(n), abs=1e-9)
    assert upper > 1000
    same = np.full((n, n), -3.0)  # encoder ignores x
    assert infonce_bounds(same) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_gaussian_log_density_matrix_matches_scipy():
    rng = np.random.default_rng(1)
    z, mean = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    stddev = rng.uniform(0.3, 2.0, size=(4, 3))
    expected = np.array([[multivariate_normal(mean[j], np.diag(stddev[j] ** 2)).logpdf(z[i]) for j in range(4)] for i in range(5)])
    np.testing.assert_allclose(gaussian_log_density_matrix(z, mean, stddev), expected, rtol=1e-10)


def test_gaussian_encoder_bounds_bracket_the_gaussian_channel():
    # X ~ N(0, I_2), Z = X + N(0, 0.5 I): I(X;Z) = 2 * 1/2 log(1 + 1/0.5) nats.
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(2000, 2))
    stddev = np.full_like(mean, math.sqrt(0.5))
    truth = math.log2(3.0)
    lower, upper = gaussian_encoder_bounds(mean, stddev, seed=3)
    assert lower <= upper
    assert lower == pytest.approx(truth, abs=0.08)
    assert upper == pytest.approx(truth, abs=0.08)


def test_gaussian_encoder_bounds_blocks_equal_the_full_matrix():
    rng = np.random.default_rng(9)
    mean, stddev = rng.normal(size=(1500, 3)), rng.uniform(0.2, 1.0, size=(1500, 3))  # 1500 rows: several blocks
    z = mean + stddev * np.random.default_rng(4).standard_normal(mean.shape)
    full = infonce_bounds(gaussian_log_density_matrix(z, mean, stddev))
    assert gaussian_encoder_bounds(mean, stddev, seed=4) == pytest.approx(full, rel=1e-10)


@pytest.mark.parametrize(
    "log_density, match",
    [
        (np.zeros((3, 4)), "square"),
        (np.zeros((1, 1)), "N = 2"),
        (np.array([[0.0, np.nan], [0.0, 0.0]]), "NaN"),
        (np.array([[-np.inf, 0.0], [0.0, 0.0]]), "diagonal"),
    ],
)
def test_infonce_bounds_rejects_bad_input(log_density, match):
    with pytest.raises(ValueError, match=match):
        infonce_bounds(log_density)


def test_units_are_validated():
    with pytest.raises(ValueError, match="units"):
        infonce_bounds(np.zeros((2, 2)), units="bans")
    with pytest.raises(ValueError, match="units"):
        ksg_mi(np.arange(10.0), np.arange(10.0) ** 2, units="hartleys")


def test_gaussian_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="positive"):
        gaussian_log_density_matrix(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        gaussian_encoder_bounds(np.zeros((3, 2)), np.ones((3, 1)), seed=0)


# -- binning --------------------------------------------------------------------------------------


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
    """Issue 12: 100 distinct ReLU activations in 0..50 carry log2(100) bits with fine bins (no clipping)."""
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


@pytest.mark.parametrize("noise", [np.nan, np.inf, -1.0, 0.0, "big"])
def test_kde_refuses_bad_noise_variance(noise):
    with pytest.raises(ValueError, match="noise_variance"):
        KDEEstimator(noise)


@pytest.mark.parametrize(
    "x, y, k, match",
    [
        (np.arange(10.0), np.r_[np.arange(9.0), np.nan], 3, "NaN or infinite"),
        (np.arange(10.0), np.arange(10.0) ** 2, 0, "positive integer"),
        (np.arange(10.0), np.arange(10.0) ** 2, 1.5, "positive integer"),
        (np.arange(10.0), np.arange(10.0) ** 2, True, "positive integer"),
        (np.array([1.0]), np.array([2.0]), 1, "at least 2"),
        (np.arange(3.0), np.arange(3.0) ** 2, 3, "too few samples"),
    ],
)
def test_ksg_refuses_bad_input(x, y, k, match):
    with pytest.raises(ValueError, match=match):
        ksg_mi(x, y, k=k)


def test_variational_bounds_refuse_non_finite_encoders():
    mean, stddev = np.zeros((4, 2)), np.ones((4, 2))
    with pytest.raises(ValueError, match="NaN or infinite"):
        gaussian_encoder_bounds(np.where(np.eye(4, 2) > 0, np.nan, mean), stddev, seed=0)
    with pytest.raises(ValueError, match="positive"):
        gaussian_encoder_bounds(mean, np.zeros((4, 2)), seed=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gaussian_log_density_matrix(np.full((2, 2), np.inf), mean, stddev)


# -- KDE ------------------------------------------------------------------------------------------


def kde_loop(points, labels, variance):
    """Straightforward double loop of the pairwise bounds, in bits."""
    n = len(points)

    def term(scale, members):
        total = 0.0
        for i in range(n):
            group = [j for j in range(n) if members(i, j)]
            d = [np.sum((points[i] - points[j]) ** 2) / variance for j in group]
            total += -math.log(np.mean(np.exp(-scale * np.array(d))))
        return total / n / LOG2

    everyone, same = (lambda i, j: True), (lambda i, j: labels[i] == labels[j])
    return {
        "ixt_upper": term(0.5, everyone),
        "ixt_lower": term(0.125, everyone),
        "ity_upper": term(0.5, everyone) - term(0.5, same),
        "ity_lower": term(0.125, everyone) - term(0.125, same),
    }


def test_kde_matches_a_loop_and_orders_bounds():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(40, 3))
    labels = rng.integers(0, 3, size=40)
    got = kde_information(points, labels, noise_variance=0.7)
    expected = kde_loop(points, labels, 0.7)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-10), key
    assert 0 <= got["ixt_lower"] <= got["ixt_upper"] <= math.log2(40)


def test_kde_limits():
    x, labels = twelve_bit()
    separated = kde_information(x, labels, noise_variance=1e-3)  # points 1 apart, sigma ~ 0.03
    assert separated["ixt_upper"] == pytest.approx(12.0, abs=1e-6)
    assert separated["ixt_lower"] == pytest.approx(12.0, abs=1e-6)
    assert separated["ity_upper"] == pytest.approx(1.0, abs=1e-6)
    collapsed = kde_information(np.zeros((50, 4)), np.arange(50) % 2, noise_variance=1.0)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in collapsed.values())


def test_kde_rejects_bad_noise_and_input():
    with pytest.raises(ValueError, match="noise_variance"):
        kde_information(np.zeros((4, 1)), [0, 1, 0, 1], noise_variance=0.0)
    with pytest.raises(ValueError, match="labels"):
        kde_information(np.zeros((4, 1)), [0, 1], noise_variance=1.0)


# -- KSG ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim, rho", [(1, 0.9), (2, 0.6)])
def test_ksg_correlated_gaussians(dim, rho):
    x, y, covariance = correlated_gaussian(4000, dim, rho, seed=dim)
    truth = gaussian_mi_bits(covariance, dim)
    assert ksg_mi(x, y, k=3) == pytest.approx(truth, abs=0.05)
    assert ksg_mi(x, y, k=3, units="nats") == pytest.approx(truth * LOG2, abs=0.05)


def test_ksg_independent_is_near_zero():
    rng = np.random.default_rng(6)
    assert abs(ksg_mi(rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)))) < 0.03


def test_ksg_rejects_bad_input():
    with pytest.raises(ValueError, match="same number"):
        ksg_mi(np.zeros((5, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="k must"):
        ksg_mi(np.arange(5.0), np.arange(5.0), k=5)
    with pytest.raises(ValueError, match="duplicates"):
        ksg_mi(np.repeat(np.arange(5.0), 10), np.repeat(np.arange(5.0), 10))
    with pytest.raises(ValueError, match="2-D"):
        ksg_mi(np.zeros((5, 1, 1)), np.zeros((5, 1)))


# -- table ----------------------------------------------------------------------------------------


def test_table_round_trip_and_mean(tmp_path):
    rows = [
        {"epoch": 0, "layer": "a", "ixt": 1.5, "ity": 0.25, "grad_mean": math.nan, "grad_std": math.nan, "snr": math.inf},
        {"epoch": 5, "layer": "a", "ixt": 2.0, "ity": 0.5, "grad_mean": 0.1, "grad_std": 0.2, "snr": 0.5, "ixt_lower": 1.0},
    ]
    for name in ("t.csv", "t.json"):
        save_table(rows, tmp_path / name)
        loaded = load_table(tmp_path / name)
        assert loaded[1]["ixt_lower"] == 1.0 and loaded[0]["epoch"] == 0 and loaded[0]["layer"] == "a"
        assert math.isnan(loaded[0]["grad_mean"]) and loaded[0]["snr"] == math.inf
    other = [dict(row, ixt=row["ixt"] + 1.0) for row in rows]
    averaged = mean_table([rows, other])
    assert averaged[1]["ixt"] == pytest.approx(2.5) and averaged[1]["ixt_std"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same"):
        mean_table([rows, rows[:1]])
    with pytest.raises(ValueError, match=".csv or .json"):
        save_table(rows, tmp_path / "t.txt")
    with pytest.raises(FileNotFoundError):
        load_table(tmp_path / "missing.csv")
    rounded = table_from_json(table_to_json(rows, significant_digits=2))
    assert rounded[1]["ixt_lower"] == 1.0 and rounded[0]["ixt"] == 1.5 and math.isnan(rounded[0]["grad_mean"])


@pytest.mark.parametrize("estimator", [BinningEstimator(10, None), BinningEstimator(10, (-5, 5)), KDEEstimator(0.3)])
def test_streamed_summaries_equal_the_whole_layer(estimator):
    rng = np.random.default_rng(8)
    activations, labels = rng.normal(size=(300, 3)), rng.integers(0, 4, 300)
    streamed = [estimator.summarize(activations[i : i + 64]) for i in range(0, 300, 64)]
    whole = estimator.information(estimator.summarize(activations), labels)
    assert estimator.information(streamed, labels) == pytest.approx(whole, rel=1e-6)


def test_estimators_do_not_import_tensorflow():
    code = "import sys, vdualib.information as i; i.binned_information; i.kde_information; i.ksg_mi; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- callback, training loop, plots (TensorFlow) --------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run():
    import keras

    from vdualib.information import InformationPlane

    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="h"),
                              keras.layers.Dense(2, activation="softmax", name="out")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    plane = InformationPlane(x, y, estimator=BinningEstimator(8, (-1, 1)), epochs=[0, 1, 3],
                             gradient_stats=True, gradient_batch_size=16, batch_size=20)
    kde = InformationPlane(x, y, layers=["h"], estimator=KDEEstimator(0.05), epochs=[3])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[plane, kde])
    return model, x, y, plane, kde


def test_callback_matches_direct_estimates(tiny_run):
    import keras

    model, x, y, plane, kde = tiny_run
    assert [(r["epoch"], r["layer"]) for r in plane.rows] == [(e, l) for e in (0, 1, 3) for l in ("h", "out")]
    for name in ("h", "out"):
        activations = np.asarray(keras.Model(model.inputs[0], model.get_layer(name).output)(x))
        row = next(r for r in plane.rows if r["epoch"] == 3 and r["layer"] == name)
        expected = binned_information(activations, y, num_bins=8, value_range=(-1, 1))
        assert (row["ixt"], row["ity"]) == pytest.approx(expected, abs=1e-12)
    (kde_row,) = kde.rows
    hidden = np.asarray(keras.Model(model.inputs[0], model.get_layer("h").output)(x))
    expected = kde_information(hidden, y, 0.05)
    assert kde_row["ixt"] == pytest.approx(expected["ixt_upper"], rel=1e-5)
    assert kde_row["ixt_lower"] == pytest.approx(expected["ixt_lower"], rel=1e-5)


def test_callback_gradient_statistics_match_a_tape_loop(tiny_run):
    import keras
    import tensorflow as tf

    model, x, y, plane, _ = tiny_run
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for name in ("h", "out"):
        layer = model.get_layer(name)
        gradients = []
        for start in range(0, 64, 16):
            with tf.GradientTape() as tape:
                loss = loss_fn(y[start : start + 16], model(x[start : start + 16], training=False))
            grads = tape.gradient(loss, layer.trainable_weights)
            gradients.append(np.concatenate([np.ravel(g) for g in grads]).astype(np.float64))
        gradients = np.array(gradients)
        mean = gradients.mean(axis=0)
        std = math.sqrt(np.sum(gradients.var(axis=0)))
        row = next(r for r in plane.rows if r["epoch"] == 3 and r["layer"] == name)
        assert row["grad_mean"] == pytest.approx(np.linalg.norm(mean), rel=1e-4)
        assert row["grad_std"] == pytest.approx(std, rel=1e-4)
        assert row["snr"] == pytest.approx(np.linalg.norm(mean) / std, rel=1e-4)


def test_callback_save_and_plots(tiny_run, tmp_path):
    from matplotlib.image import imread

    from vdualib.information import plots
    from vdualib.plotting import save_figure

    _, _, _, plane, _ = tiny_run
    plane.save(tmp_path / "plane.csv")
    rows = load_table(tmp_path / "plane.csv")
    assert len(rows) == len(plane.rows)
    assert [r["ixt"] for r in rows] == pytest.approx([r["ixt"] for r in plane.rows], abs=1e-12)

    # the plane: one line per recorded epoch through the layers' (I(X;T), I(T;Y)) points
    figure = plots.plot_information_plane(rows)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "I(X;T) [bits]" and ax.get_ylabel() == "I(T;Y) [bits]"
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # epochs 0, 1, 3
    for line, epoch in zip(ax.lines, (0, 1, 3)):
        expected = [(r["ixt"], r["ity"]) for r in rows if r["epoch"] == epoch]
        np.testing.assert_allclose(np.column_stack(line.get_data()), expected)
    save_figure(figure, tmp_path / "plane.png")
    image = imread(tmp_path / "plane.png")
    assert image.shape[0] > 100 and image[..., :3].std() > 0.05  # decoded, not blank

    # the curves: per panel one line per layer, the values of the table
    figure = plots.plot_information_curves(rows)
    for ax, column in zip(figure.axes[:2], ("ixt", "ity")):
        assert [line.get_label() for line in ax.lines] == ["h", "out"]
        for line in ax.lines:
            np.testing.assert_allclose(line.get_ydata(), [r[column] for r in rows if r["layer"] == line.get_label()])
    assert figure.axes[0].get_ylabel() == "I(X;T) [bits]"
    save_figure(figure, tmp_path / "curves.png")

    # gradient statistics: mean and std per layer at epochs > 0
    figure = plots.plot_gradient_statistics(rows)
    labels = [line.get_label() for line in figure.axes[0].lines if not line.get_label().startswith("_")]
    assert labels == ["h mean", "h std", "out mean", "out std"]
    mean_line = figure.axes[0].lines[0]
    np.testing.assert_allclose(mean_line.get_xdata(), [1, 3])
    np.testing.assert_allclose(mean_line.get_ydata(), [r["grad_mean"] for r in rows if r["layer"] == "h" and r["epoch"] > 0])
    save_figure(figure, tmp_path / "gradients.png")

    no_gradients = [dict(r, grad_mean=math.nan, grad_std=math.nan) for r in rows]
    with pytest.raises(ValueError, match="gradient_stats"):
        plots.plot_gradient_statistics(no_gradients)
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_information_plane([])


def test_plot_estimates_draws_each_estimate():
    from vdualib.information import plots

    rows = [{"epoch": e, "a": 1.0 + e, "b": 2.0 * e} for e in range(3)]
    figure = plots.plot_estimates(rows, [("a", "o-"), ("b", "s--")], reference=(4.0, "log2 N"))
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b", "log2 N"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.0, 2.0, 4.0])
    np.testing.assert_allclose(ax.lines[2].get_ydata(), [4.0, 4.0])
    assert ax.get_ylabel() == "I(X;Z) [bits]"
    pyplot_close(figure)


def pyplot_close(figure):
    from vdualib.plotting import pyplot

    pyplot().close(figure)


def test_plots_module_does_not_switch_the_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import vdualib.information.plots as p; "
            "import matplotlib.pyplot as plt; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"


def test_drift_diffusion_epoch():
    from vdualib.information.table import drift_diffusion_epoch

    rows = [{"epoch": e, "layer": "a", "grad_mean": m, "grad_std": 1.0} for e, m in [(0, 0.1), (1, 3.0), (10, 2.0), (100, 0.5), (300, 2.0)]]
    assert drift_diffusion_epoch(rows, "a") == 100
    assert drift_diffusion_epoch([dict(r, grad_mean=5.0) for r in rows], "a") is None
    early_dip = [{"epoch": e, "layer": "a", "grad_mean": m, "grad_std": 1.0} for e, m in [(1, 0.5), (10, 3.0), (50, 0.8)]]
    assert drift_diffusion_epoch(early_dip, "a") == 50


def test_callback_rejects_bad_configuration():
    import keras

    from vdualib.information import InformationPlane

    x, y = np.zeros((8, 2), "float32"), np.zeros(8, "int64")
    with pytest.raises(ValueError, match="estimator"):
        InformationPlane(x, y, estimator="histogram")
    with pytest.raises(ValueError, match="two mini-batches"):
        InformationPlane(x, y, gradient_stats=True, gradient_batch_size=8)
    with pytest.raises(ValueError, match="same number"):
        InformationPlane(x, y[:4])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="d")])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="no layer named"):
        model.fit(x, np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[InformationPlane(x, y, layers=["nope"])])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2), keras.layers.Activation("tanh", name="act")])
    model.compile("sgd", "mse")
    frozen = InformationPlane(x, y, layers=["act"], gradient_stats=True, gradient_batch_size=2)
    with pytest.raises(ValueError, match="trainable weights"):
        model.fit(x, np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[frozen])


def test_epoch_schedule():
    from vdualib.information.callback import epoch_schedule

    schedule = epoch_schedule(3000, every_epoch_until=20, points_per_decade=10)
    assert schedule[:21] == list(range(21)) and schedule[-1] == 3000
    assert schedule == sorted(set(schedule))
    late = np.array(schedule[21:], dtype=float)
    assert np.all(np.diff(np.log10(late)) < 0.15)  # about 10 a decade
    assert epoch_schedule(5) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        epoch_schedule(-1)


def test_study_network_and_training_loop():
    from vdualib.information.network import build_mlp, fit_in_segments

    x, labels = twelve_bit()
    first, second = build_mlp(12, seed=3), build_mlp(12, seed=3)
    assert [w.shape for w in first.get_weights()][::2] == [(12, 10), (10, 7), (7, 5), (5, 4), (4, 3), (3, 2)]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    target = x[:, 0].astype("int64")  # an easy task: the first bit
    history = fit_in_segments(first, x[:512], target[:512], stops=[0, 5, 40], batch_size=128, learning_rate=1e-2)
    assert [h["epoch"] for h in history] == [0, 5, 40]
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["accuracy"] > 0.95
    with pytest.raises(ValueError, match="activation"):
        build_mlp(12, activation="gelu")
    with pytest.raises(ValueError, match="stops"):
        fit_in_segments(first, x[:8], target[:8], stops=[5, 2])
