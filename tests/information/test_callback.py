"""The InformationPlane callback against direct estimates and a gradient tape (the ``tiny_run``
fixture of tests/information/conftest.py), its checks and its epoch schedule."""

import math

import numpy as np
import pytest

from vdualib.information import binned_information, kde_information


@pytest.mark.slow
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


@pytest.mark.slow
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
