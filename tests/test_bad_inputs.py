"""Careless and hostile inputs to the model, the recipes and the training command: each is refused
with a message that says what to change, never a silent wrong answer, a NaN or a partial file."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import vdualib
from vdualib import recipes, training


@pytest.fixture(scope="module")
def small_model():
    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
    backbone = keras.Model(inputs, keras.layers.Dense(16, activation="relu")(x))
    model = vdualib.build_classifier(backbone, 10, method="vib", latent_dim=4, num_samples=2)
    model.compile("adam")
    return model


@pytest.mark.parametrize(
    "override, message",
    [
        ("weight_decay=nan", "weight_decay must be a finite number"),
        ("learning_rate=inf", "learning_rate must be a finite number"),
        ("learning_rate=0", "learning_rate must be > 0"),
        ("momentum=nan", "momentum must be a finite number"),
        ("momentum=1.0", "momentum must be < 1"),
        ("beta=-inf", "beta must be a finite number"),
        ("label_smoothing=nan", "label_smoothing must be a finite number"),
        ("distortion_warmup=nan", "distortion_warmup must be a finite number"),
        ("weight_ema=1", "weight_ema must be < 1"),
        ("backbone_width=0", "backbone_width must be > 0"),
        ("dataset=cifar10", "part of the recipe's name"),
        ("method=dualib", "use --recipe mnist-dualib-mlp"),
    ],
)
def test_recipes_refuse_nan_infinite_and_renaming_overrides(override, message):
    with pytest.raises(ValueError, match=message):
        recipes.get_recipe("mnist-vib-mlp", [override])


def test_the_train_command_refuses_a_nan_setting_before_any_work(tmp_path, capsys):
    from vdualib.commands import train as command

    status = command.main(["--recipe", "mnist-vib-mlp", "--set", "weight_decay=nan", "--out", str(tmp_path / "run")])
    assert status == 2
    assert "weight_decay must be a finite number" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.keras").exists()
    (tmp_path / "file").write_text("x")
    assert command.main(["--recipe", "mnist-vib-mlp", "--out", str(tmp_path / "file")]) == 2
    assert "is an existing file" in capsys.readouterr().err


def test_a_training_set_smaller_than_a_batch_is_refused(tmp_path, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", ["train_size=50", "batch_size=100"])
    with pytest.raises(ValueError, match="make no full batch of 100"):
        training.train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.full(4, 15), "labels must be < 10"),
        (np.array([0, -1, 2, 3]), "labels must be >= 0"),
        (np.array([0.0, 0.5, 1.0, 2.0]), "whole numbers"),
        (np.array([0.0, np.nan, 1.0, 2.0]), "NaN"),
    ],
)
def test_fit_refuses_labels_out_of_range_negative_fractional_or_nan(labels, message, small_model, mnist_small):
    (x, _), _ = mnist_small
    with pytest.raises(ValueError, match=message):
        small_model.fit(x[:4], labels, verbose=0)


def test_tf_data_pipelines_are_checked_inside_the_graph(small_model, mnist_small):
    (x, y), _ = mnist_small
    labels = tf.data.Dataset.from_tensor_slices((x[:8], np.full(8, 15))).batch(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < 10"):
        small_model.fit(labels, verbose=0)
    scaled = tf.data.Dataset.from_tensor_slices((x[:8].astype(np.float32) / 255, y[:8])).batch(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"scaled to \[0, 1\]"):
        small_model.fit(scaled, verbose=0)
    wrapped = tf.data.Dataset.from_tensor_slices(x[:8].astype(np.int32) + 300).batch(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="0..255"):
        small_model.predict(wrapped, verbose=0)
    # whole-number floats in 0..255 are the same images as uint8
    as_float = small_model.predict_samples(x[:8].astype(np.float32), num_samples=0)
    np.testing.assert_allclose(as_float, small_model.predict_samples(x[:8], num_samples=0), atol=1e-6)


def test_every_inference_helper_refuses_scaled_images(small_model, mnist_small):
    (x, _), _ = mnist_small
    scaled = x[:4].astype(np.float32) / 255
    for call in (small_model.predict, small_model.predict_samples, small_model.per_example_rate, small_model.encode):
        with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
            call(scaled)
    with pytest.raises(ValueError, match="must lie in 0..255"):
        small_model.predict(x[:4].astype(np.int64) - 1)


def test_a_tf_data_dataset_goes_through_the_inference_helpers(small_model, mnist_small):
    (x, y), _ = mnist_small
    dataset = tf.data.Dataset.from_tensor_slices((x[:10], y[:10])).batch(4)
    rate = small_model.per_example_rate(dataset, num_samples=2)
    assert rate.shape == (10,) and np.all(np.isfinite(rate))
    np.testing.assert_allclose(rate, small_model.per_example_rate(x[:10], num_samples=2), rtol=1e-5)


def test_empty_inputs_give_empty_outputs(small_model, mnist_small):
    (x, _), _ = mnist_small
    assert small_model.predict(x[:0]).shape == (0, 10)
    probs, rate = small_model.predict_samples(x[:0], num_samples=2, return_rate=True)
    assert probs.shape == (2, 0, 10) and rate.shape == (0,)
    mu, sigma = small_model.encode(x[:0])
    assert mu.shape == sigma.shape == (0, 4)


def test_the_mean_prediction_and_the_rate_come_from_one_pass(small_model, mnist_small):
    (x, _), _ = mnist_small
    probs, rate = small_model.predict_samples(x[:6], num_samples=0, return_rate=True)
    assert probs.shape == (1, 6, 10)
    mu, sigma = small_model.encode(x[:6])
    expected = 0.5 * np.sum(mu**2 + sigma**2 - 1 - 2 * np.log(sigma), axis=1)
    np.testing.assert_allclose(rate, expected, rtol=1e-4)
    assert all(math.isfinite(v) for v in rate)


def _fresh_model(**options):
    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
    backbone = keras.Model(inputs, keras.layers.Dense(16, activation="relu")(x))
    return vdualib.build_classifier(backbone, 10, **{"method": "vib", "latent_dim": 4, "num_samples": 2, **options})


@pytest.mark.parametrize("as_float", [lambda x: (x > 127).astype("float32"), lambda x: np.zeros(x.shape, "float64")])
def test_float_images_all_in_the_unit_range_are_refused_as_scaled(small_model, mnist_small, as_float):
    """Binarised images are whole 0s and 1s: read as pixel values they are black, and a zoo model
    scores 0.134 on them against 0.992 on the uint8 images."""
    (x, y), _ = mnist_small
    binary = as_float(x[:8])
    for call in (small_model.predict, small_model.predict_samples, small_model.encode):
        with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
            call(binary)
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        small_model.fit(binary, y[:8], verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"scaled to \[0, 1\]"):
        small_model.predict(tf.data.Dataset.from_tensor_slices(binary).batch(4), verbose=0)
    # binarised into integers other than uint8: refused the same way, eagerly and graph-side
    for dtype in ("int64", "int32"):
        with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
            small_model.predict(binary.astype(dtype), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"scaled to \[0, 1\]"):
        small_model.predict(tf.data.Dataset.from_tensor_slices(binary.astype("int32")).batch(4), verbose=0)
    # whole-number floats with pixels above 1 are still the same images as uint8
    np.testing.assert_array_equal(vdualib.checks.pixel_images("x", x[:8].astype("float32")), x[:8])


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.r_[np.nan, np.ones(99)], "NaN or infinite"),
        (np.full(100, np.inf), "NaN or infinite"),
        (-np.ones(100), "must be >= 0"),
        (np.ones(7), "must hold 100 weights"),
        (np.full(100, 1e300), "infinite in float32"),
        (np.ones(100) * (1 + 1j), "complex values"),
    ],
)
def test_fit_and_evaluate_refuse_bad_sample_weights(mnist_small, weights, message):
    (x, y), _ = mnist_small
    model = _fresh_model()
    model.compile("adam")
    before = [w.numpy().copy() for w in model.weights]
    for call in (model.fit, model.evaluate):
        with pytest.raises(ValueError, match=message) as caught:
            call(x[:100], y[:100], sample_weight=weights, verbose=0)
        assert str(caught.value).startswith("sample_weight")
    with pytest.raises(ValueError, match="class_weight values"):
        model.fit(x[:100], y[:100], class_weight={0: np.nan, 1: 1.0}, verbose=0)
    for kept, original in zip(model.weights, before):
        np.testing.assert_array_equal(kept.numpy(), original)
    if message in ("NaN or infinite", "must be >= 0"):  # weights inside a pipeline: checked on every batch
        dataset = tf.data.Dataset.from_tensor_slices((x[:100], y[:100], weights.astype("float32"))).batch(50)
        with pytest.raises(tf.errors.InvalidArgumentError, match="sample weights"):
            model.fit(dataset, verbose=0)


def test_a_model_whose_weights_became_non_finite_stops_and_refuses_to_predict(mnist_small):
    (x, y), _ = mnist_small
    model = _fresh_model(beta=1e30)
    model.compile(keras.optimizers.Adam(1e3))
    with pytest.raises(ValueError, match=r"after epoch 1, .* non-finite weights \(NaN or inf\) in .*kernel"):
        model.fit(x[:200], y[:200], epochs=3, batch_size=100, verbose=0)
    for call in (model.predict, model.predict_samples, model.per_example_rate, model.encode):
        with pytest.raises(ValueError, match="non-finite weights .*lower learning rate or beta"):
            call(x[:4])
    with pytest.raises(ValueError, match="non-finite weights"):
        model.evaluate(x[:4], y[:4], verbose=0)


def test_targets_may_change_kind_between_calls(mnist_small):
    """Float class ids, then probability vectors, then ids again: each kind gets its own trace."""
    (x, y), _ = mnist_small
    model = _fresh_model(num_samples=0)
    model.compile("adam")
    model.fit(x[:100], y[:100].astype("float32"), batch_size=50, verbose=0)
    model.fit(x[:100], np.eye(10, dtype="float32")[y[:100]], batch_size=50, verbose=0)
    model.fit(x[:100], y[:100, None], batch_size=50, verbose=0)
    results = [
        model.evaluate(x[:100], targets, verbose=0, return_dict=True)["accuracy"]
        for targets in (y[:100], np.eye(10, dtype="float32")[y[:100]], y[:100].astype("float32"))
    ]
    assert results[0] == results[1] == results[2]


def test_predict_takes_a_list_and_names_a_ragged_one(small_model, mnist_small):
    (x, y), _ = mnist_small
    np.testing.assert_allclose(
        small_model.predict_samples(x[:3].tolist(), num_samples=0), small_model.predict_samples(x[:3], num_samples=0)
    )
    assert small_model.predict(x[:3].tolist(), verbose=0).shape == (3, 10)
    ragged = [x[0].tolist(), x[1][:5].tolist()]
    for call in (small_model.predict, small_model.predict_samples):
        with pytest.raises(ValueError, match="images must be a rectangular array .* pad or drop") as caught:
            call(ragged)
        assert len(str(caught.value)) < 300  # the pixels are not printed
    with pytest.raises(ValueError, match="labels must be a rectangular array"):
        small_model.fit(x[:2], [[1, 2], [3]], verbose=0)


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_quickstart_refuses_epochs_below_one(epochs, tmp_path, capsys, monkeypatch):
    from vdualib import datasets
    from vdualib.commands import quickstart

    monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("the data were read before the settings were checked"))
    assert quickstart.main(["--epochs", epochs]) == 2
    err = capsys.readouterr().err
    assert f"--epochs must be a positive integer, got {epochs}" in err and "test accuracy" not in err
