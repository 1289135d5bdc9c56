"""vdualib.models on the Keras backend in use (run under KERAS_BACKEND=tensorflow and jax; tf.data
inputs, which Keras takes on both, need TensorFlow installed)."""

import importlib.util
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import vdualib
from vdualib import layers, losses, models

numpy = keras.ops.convert_to_numpy
softmax = keras.ops.softmax


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dualib", "vib", "deterministic"])
def test_fit_on_2000_mnist_examples_beats_85_percent(method, mnist_small):
    (x_train, y_train), (x_test, y_test) = mnist_small
    keras.utils.set_random_seed(0)
    model = vdualib.build_classifier("mlp", 10, method=method, beta=1e-3, seed=0)
    epochs = 8
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, epochs * 40)))
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=50, verbose=0)
    keys = ("loss", "accuracy", "distortion", "izy") + (("rate",) if method != "deterministic" else ())
    for key in keys:
        assert key in history.history and np.all(np.isfinite(history.history[key]))
    result = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert result["accuracy"] > 0.85
    if method == "deterministic":
        assert "rate" not in result
        assert result["loss"] == pytest.approx(result["distortion"], rel=1e-5)
    else:
        assert result["rate"] > 0
    # izy = H(Y) - E[-log q(y|z)] <= H(Y) = log 10 nats
    assert 0 < result["izy"] < np.log(10)


@pytest.mark.slow
def test_logged_quantities_match_a_direct_computation(mnist_small, tiny_backbone):
    (x, y), _ = mnist_small
    x, y = x[:64], y[:64]
    model = models.build_classifier(tiny_backbone(), 10, method="vib", latent_dim=8, beta=0.1, num_samples=0)
    model.compile(optimizer="adam")
    kernel = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
    model.decoder.kernel.assign(kernel)  # the decoder starts at zero (uniform q): make it informative
    result = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    out = model(x, training=False)  # num_samples=0: z = mu, deterministic
    logits = numpy(out["logits"])[0]
    log_q = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    ce = -log_q[np.arange(64), y].mean()
    mu, sigma = numpy(out["mu"]), numpy(out["sigma"])
    rate = (0.5 * (mu**2 + sigma**2 - 1 - 2 * np.log(sigma)).sum(1)).mean()
    assert result["distortion"] == pytest.approx(ce, rel=1e-4)
    assert result["rate"] == pytest.approx(rate, rel=1e-4)
    assert result["loss"] == pytest.approx(ce + 0.1 * rate, rel=1e-4)
    assert result["izy"] == pytest.approx(np.log(10) - ce, rel=1e-4)


@pytest.mark.slow
def test_weighted_dual_loss_with_warmup_matches_a_direct_computation(mnist_small, tiny_backbone):
    (x, y), _ = mnist_small
    x, y = x[:64], y[:64]
    weights = np.random.default_rng(1).uniform(0.2, 3.0, size=64).astype(np.float32)
    model = models.build_classifier(
        tiny_backbone(), 10, method="dualib", label_noise="smoothing", latent_dim=8, beta=0.1, num_samples=0, warmup_weight=0.3
    )
    model.compile(optimizer="adam")
    model.decoder.kernel.assign(np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32))
    result = model.evaluate(x, y, sample_weight=weights, batch_size=64, verbose=0, return_dict=True)
    logits = numpy(model(x, training=False)["logits"])[0]
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    epsilon = losses.LabelSmoothing(10).epsilon
    p = (1 - epsilon) * np.eye(10)[y] + epsilon / 10
    dual = np.sum(q * np.log(q / p), 1)
    cross_entropy = -np.sum(p * np.log(q), 1)
    assert result["distortion"] == pytest.approx(np.average(dual, weights=weights), rel=1e-4)
    # Keras' sum_over_batch_size: the weighted sum over the batch size, plus beta times the rate
    expected = np.sum((dual + 0.3 * cross_entropy) * weights) / 64 + 0.1 * result["rate"]
    assert result["loss"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.slow
def test_prediction_averages_probabilities_over_samples(mnist_small, tiny_backbone):
    (x, _), _ = mnist_small
    model = models.build_classifier(tiny_backbone(), 10, method="dualib", latent_dim=4, num_samples=7)
    # widen sigma so the samples differ visibly
    model.encoder.projection.bias.assign(np.r_[np.zeros(4), np.full(4, 6.0)].astype(np.float32))
    model.decoder.kernel.assign(np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32) * 3)
    out = model(x[:5], training=False)
    assert out["logits"].shape == (7, 5, 10) and out["z"].shape == (7, 5, 4)
    probs = numpy(softmax(out["logits"]))
    np.testing.assert_allclose(numpy(out["probs"]), probs.mean(0), rtol=1e-5)
    logit_average = numpy(softmax(numpy(out["logits"]).mean(0)))
    assert np.abs(numpy(out["probs"]) - logit_average).max() > 1e-3
    assert model.predict(x[:5], verbose=0).shape == (5, 10)
    assert model.predict_samples(x[:5]).shape == (7, 5, 10)
    assert model.predict_samples(x[:5], num_samples=3).shape == (3, 5, 10)
    # num_samples=0 is decoder(mu)
    mean_probs = model.predict_samples(x[:5], num_samples=0)[0]
    mu, _ = model.encode(x[:5])
    expected = numpy(softmax(model.decoder(mu)))
    np.testing.assert_allclose(mean_probs, expected, rtol=1e-5)
    assert model.per_example_rate(x[:5]).shape == (5,)


@pytest.mark.slow
def test_logit_space_sampling_has_the_law_of_decoded_latent_samples(mnist_small, tiny_backbone):
    (x, _), _ = mnist_small
    model = models.build_classifier(tiny_backbone(), 10, method="vib", latent_dim=16, num_samples=4000, seed=1)
    rng = np.random.default_rng(0)
    model.encoder.projection.bias.assign(np.r_[rng.normal(size=16), np.full(16, 5.5)].astype(np.float32))
    model.decoder.kernel.assign(rng.normal(size=(16, 10)).astype(np.float32))
    model.decoder.bias.assign(rng.normal(size=10).astype(np.float32))
    mu, sigma = model.encode(x[:3])
    logits = numpy(model.sample_logits(mu, sigma, 4000))
    assert logits.shape == (4000, 3, 10)
    kernel = model.decoder.kernel.numpy()
    for b in range(3):
        # mean W^T mu + b and covariance W^T diag(sigma^2) W, within Monte Carlo error
        expected_cov = kernel.T @ np.diag(sigma[b] ** 2) @ kernel
        std = np.sqrt(np.diag(expected_cov))
        np.testing.assert_allclose(logits[:, b].mean(0), numpy(model.decoder(mu))[b], atol=0.1 * std.max())
        np.testing.assert_allclose(np.cov(logits[:, b].T), expected_cov, atol=0.1 * std.max() ** 2)
    # predict (logit space) agrees with averaging the decoded latent samples
    latent = model.forward(x[:3], training=False)
    assert "z" in latent and latent["logits"].shape == (4000, 3, 10)
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), numpy(latent["probs"]), atol=0.02)
    samples = model.predict_samples(x[:3], num_samples=5)
    assert samples.shape == (5, 3, 10) and np.all(np.std(samples, axis=0) > 0)
    np.testing.assert_allclose(samples.sum(-1), 1.0, rtol=1e-5)
    # a zero decoder (as initialised) has a singular covariance: still finite, all logits = bias
    model.decoder.kernel.assign(np.zeros((16, 10), np.float32))
    flat = numpy(model.sample_logits(mu, sigma, 3))
    np.testing.assert_allclose(flat, np.broadcast_to(model.decoder.bias.numpy(), flat.shape), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, prior",
    [("dualib", "standard_normal"), ("vib", "mixture"), ("vib", "class_conditional"), ("deterministic", None)],
)
def test_save_load_round_trip_gives_identical_predictions(method, prior, tmp_path, mnist_small, tiny_backbone):
    (x, y), _ = mnist_small
    keras.utils.set_random_seed(1)
    matrix = losses.confusion_matrix(np.arange(100) % 10, (np.arange(100) + (np.arange(100) % 7 == 0)) % 10, 10, 1e-3)
    noise = losses.ConfusionNoise(matrix) if method != "deterministic" else None
    model = vdualib.build_classifier(
        tiny_backbone(), 10, method=method, latent_dim=8, prior=prior or "standard_normal", num_samples=3, beta=0.01,
        label_noise=noise, warmup_weight=0.05,
    )
    model.compile(optimizer="adam")
    model.fit(x[:200], y[:200], epochs=1, batch_size=50, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, models.IBClassifier)
    assert loaded.method == method and loaded.num_samples == 3
    assert float(loaded.objective.warmup_weight.numpy()) == pytest.approx(0.05)
    np.testing.assert_array_equal(loaded.predict_samples(x[:50], num_samples=0), model.predict_samples(x[:50], num_samples=0))
    if method != "deterministic":
        # p~ and the prior survive: the same matrix, the same learned prior parameters
        assert isinstance(loaded.label_noise, losses.ConfusionNoise)
        np.testing.assert_allclose(loaded.label_noise.matrix, matrix)
        assert type(loaded.prior) is type(model.prior)
        assert len(loaded.prior.weights) == len(model.prior.weights) == {"standard_normal": 0, "mixture": 3, "class_conditional": 2}[prior]
        for a, b in zip(loaded.prior.weights, model.prior.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(loaded.encoder.seed_generator.state.numpy(), model.encoder.seed_generator.state.numpy())
        assert float(loaded.beta.numpy()) == pytest.approx(0.01)
    # the reloaded model keeps training from its saved optimizer state: same step count, finite loss, weights move
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 4
    before = loaded.decoder.kernel.numpy().copy()
    history = loaded.fit(x[:100], y[:100], epochs=1, batch_size=50, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and int(loaded.optimizer.iterations.numpy()) == 6
    assert not np.allclose(loaded.decoder.kernel.numpy(), before)


@pytest.mark.slow
def test_label_noise_sets_the_dual_objective(mnist_small, tiny_backbone):
    (x, y), _ = mnist_small
    x, y = x[:64], y[:64]
    backbone = tiny_backbone()
    for epsilon in (0.01, 0.3):
        model = models.build_classifier(
            backbone, 10, method="dualib", latent_dim=4, num_samples=0, label_noise=losses.LabelSmoothing(10, epsilon)
        )
        model.decoder.kernel.assign(np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32))
        model.compile(optimizer="adam")
        distortion = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["distortion"]
        logits = numpy(model(x, training=False)["logits"])[0]
        q = np.exp(logits - logits.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        p = np.full((64, 10), epsilon / 10) + (1 - epsilon) * np.eye(10)[y]
        assert distortion == pytest.approx(np.mean(np.sum(q * np.log(q / p), axis=1)), rel=1e-4)


@pytest.mark.slow
def test_backbones_build_and_map_raw_images_to_features():
    for name, shape, width in (("convnet", (28, 28), 256), ("resnet20", (32, 32, 3), 64)):
        backbone = models.build_backbone(name)
        assert backbone.input_shape[1:] == shape
        assert backbone(np.zeros((2,) + shape, np.uint8)).shape == (2, width)
    resnet = models.build_backbone("resnet20")
    convs = [layer for layer in resnet.layers if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)]
    assert len(convs) == 19  # 1 stem + 18 in the 9 basic blocks; + the readout = 20 layers


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"beta": float("nan")}, "beta must be a finite number"),
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"method": "ceb"}, "Unknown method 'ceb'"),
        ({"label_noise": "gaussian"}, "Unknown label noise 'gaussian'"),
        ({"prior": "laplace"}, "Unknown prior 'laplace'"),
        ({"num_samples": -1}, "num_samples must be an integer >= 0"),
        ({"class_prior": [float("nan")] + [0.1] * 9}, "class_prior contains NaN"),
        ({"label_noise": losses.LabelSmoothing(5, 0.1)}, "made for 5 classes, but the model has 10"),
        ({"prior": layers.ClassConditionalPrior(5)}, "made for 5 classes"),
        ({"num_classes": 1}, "num_classes must be >= 2"),
        ({"latnt_dim": 3}, "Unrecognized keyword arguments"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, message):
    arguments = {"num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        vdualib.build_classifier("mlp", **arguments)


def test_unknown_backbone_and_bad_inputs(mnist_small, tiny_backbone):
    (x, y), _ = mnist_small
    with pytest.raises(ValueError, match="Unknown backbone"):
        vdualib.build_classifier("vgg", 10)
    model = models.build_classifier(tiny_backbone(), 10, method="vib", latent_dim=4)
    with pytest.raises(ValueError, match="without loss"):
        model.compile(optimizer="adam", loss="mse")
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"images have shape \(32, 32, 3\).*takes \(28, 28\)"):
        model.predict(np.zeros((2, 32, 32, 3), np.uint8))
    bad = x[:4].astype(np.float32)
    bad[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y[:4], verbose=0)
    with pytest.raises(ValueError, match=r"must lie in 0..255"):
        model.predict(x[:4].astype(np.float32) / 255.0 - 0.5)
    with pytest.raises(ValueError, match=r"look scaled to \[0, 1\]"):
        model.predict(x[:4].astype(np.float32) / 255.0)
    assert model.predict(x[:0]).shape == (0, 10)
    assert model.predict_samples(x[:0], num_samples=3).shape == (3, 0, 10)


@pytest.mark.slow
def test_resnet20_called_directly_keeps_its_documented_l2():
    backbone = models.build_backbone("resnet20")
    assert len(backbone.losses) == 21  # one L2 term per convolution, as its docstring says
    assert "weight_decay=0" in models.resnet20_backbone.__doc__
    assert models.build_backbone("resnet20", weight_decay=0).losses == []


def _functional_twin(classifier, loss):
    """A functional model with the classifier's backbone, encoder and decoder weights."""
    inputs = keras.Input(classifier.image_shape, dtype="uint8")
    features = classifier.backbone(inputs)
    config = dict(classifier.encoder.get_config(), track_rate=True)  # the classifier logs the rate itself
    encoder = layers.GaussianEncoder.from_config(config)
    logits = keras.layers.Dense(classifier.num_classes, dtype="float32")(encoder(features))
    model = keras.Model(inputs, logits)
    encoder.projection.set_weights(classifier.encoder.projection.get_weights())
    model.layers[-1].set_weights(classifier.decoder.get_weights())
    # a copy: on JAX, fit and evaluate donate the state's buffers, which two variables must not share
    encoder.seed_generator.state.assign(np.array(classifier.encoder.seed_generator.state.numpy()))
    model.compile("adam", loss=loss)
    return model


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, label_noise, loss",
    [
        ("vib", None, losses.VIBLoss()),
        ("dualib", losses.LabelSmoothing(10, 0.05), losses.DualIBLoss(label_noise=losses.LabelSmoothing(10, 0.05))),
    ],
)
def test_a_functional_model_of_the_pieces_has_the_classifiers_loss(method, label_noise, loss, mnist_small):
    (x, y), _ = mnist_small
    x, y = x[:64], y[:64]
    keras.utils.set_random_seed(3)
    classifier = vdualib.build_classifier(
        "mlp", 10, method=method, latent_dim=8, beta=0.1, label_noise=label_noise, num_samples=0, seed=5
    )
    classifier.compile("adam")
    classifier.decoder.kernel.assign(np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32))
    twin = _functional_twin(classifier, loss)
    # inference: z = mu in both, the closed-form rate added by the encoder in both
    ours = classifier.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    theirs = twin.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert theirs["loss"] == pytest.approx(ours["loss"], rel=1e-5)
    if keras.backend.backend() == "tensorflow":  # Keras on JAX updates no layer metric in a compiled step
        assert theirs["rate"] == pytest.approx(ours["rate"], rel=1e-5)
    # training mode: the same seed state draws the same z, so the same loss
    y_pred = classifier(x, training=True)
    classifier_loss = float(classifier.compute_loss(x, y, y_pred))
    logits = twin(x, training=True)
    twin_loss = float(loss(y, logits)) + sum(float(v) for v in twin.losses)
    assert twin_loss == pytest.approx(classifier_loss, rel=1e-5)
    assert ours["loss"] > ours["distortion"]  # the rate is part of both


@pytest.fixture(scope="module")
def small_model():
    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
    backbone = keras.Model(inputs, keras.layers.Dense(16, activation="relu")(x))
    model = vdualib.build_classifier(backbone, 10, method="vib", latent_dim=4, num_samples=2)
    model.compile("adam")
    return model


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


@pytest.mark.slow
def test_tf_data_pipelines_are_checked_inside_the_graph(small_model, mnist_small, runtime_error):
    (x, y), _ = mnist_small
    labels = tf.data.Dataset.from_tensor_slices((x[:8], np.full(8, 15))).batch(4)
    with pytest.raises(runtime_error, match="labels must be < 10"):
        small_model.fit(labels, verbose=0)
    scaled = tf.data.Dataset.from_tensor_slices((x[:8].astype(np.float32) / 255, y[:8])).batch(4)
    with pytest.raises(runtime_error, match=r"scaled to \[0, 1\]"):
        small_model.fit(scaled, verbose=0)
    wrapped = tf.data.Dataset.from_tensor_slices(x[:8].astype(np.int32) + 300).batch(4)
    with pytest.raises(runtime_error, match="0..255"):
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("as_float", [lambda x: (x > 127).astype("float32"), lambda x: np.zeros(x.shape, "float64")])
def test_float_images_all_in_the_unit_range_are_refused_as_scaled(small_model, mnist_small, as_float, runtime_error):
    """Binarised images are whole 0s and 1s: read as pixel values they are black, and a zoo model
    scores 0.134 on them against 0.992 on the uint8 images."""
    (x, y), _ = mnist_small
    binary = as_float(x[:8])
    for call in (small_model.predict, small_model.predict_samples, small_model.encode):
        with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
            call(binary)
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        small_model.fit(binary, y[:8], verbose=0)
    with pytest.raises(runtime_error, match=r"scaled to \[0, 1\]"):
        small_model.predict(tf.data.Dataset.from_tensor_slices(binary).batch(4), verbose=0)
    # binarised into integers other than uint8: refused the same way, eagerly and graph-side
    for dtype in ("int64", "int32"):
        with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
            small_model.predict(binary.astype(dtype), verbose=0)
    with pytest.raises(runtime_error, match=r"scaled to \[0, 1\]"):
        small_model.predict(tf.data.Dataset.from_tensor_slices(binary.astype("int32")).batch(4), verbose=0)
    # whole-number floats with pixels above 1 are still the same images as uint8
    np.testing.assert_array_equal(vdualib.checks.pixel_images("x", x[:8].astype("float32")), x[:8])


@pytest.mark.slow
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
def test_fit_and_evaluate_refuse_bad_sample_weights(mnist_small, weights, message, runtime_error):
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
        with pytest.raises(runtime_error, match="sample weights"):
            model.fit(dataset, verbose=0)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_fit_on_a_pipeline_leaves_keras_no_shuffle_to_ignore(small_model, mnist_small):
    """A tf.data pipeline shuffles itself: fit passes shuffle=False, so Keras has nothing to warn about."""
    import warnings

    (x, y), _ = mnist_small
    dataset = tf.data.Dataset.from_tensor_slices((x[:8], y[:8])).batch(4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_model.fit(dataset, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)], [str(w.message) for w in caught]


@pytest.mark.slow
def test_predicting_with_one_model_after_another_is_not_reported_as_retracing(mnist_small, tiny_backbone, caplog):
    """Each model traces its own prediction step once: TensorFlow's retracing detector must not
    count the steps of several models together (as it did while they shared one key)."""
    import logging

    (x, _), _ = mnist_small
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for seed in range(6):
            model = models.build_classifier(tiny_backbone(), 10, method="vib", latent_dim=4, num_samples=2, seed=seed)
            model.predict_samples(x[:10])
            model.encode(x[:10])
    assert not [r.getMessage() for r in caplog.records if "retracing" in r.getMessage()]


@pytest.mark.parametrize("call", ["fit", "evaluate", "validation", "evaluate_array", "predict_dataset"])
def test_a_refused_input_leaves_the_model_as_it_was(call):
    """Bad labels or images, given as arrays or inside a dataset, are refused with a message that
    names them, and the model predicts as before and trains on (on JAX too, whose compiled loops
    detach the variables and donate their buffers)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 28, 28)).astype(np.uint8)
    y = np.arange(64) % 3
    model = vdualib.build_classifier(models.mlp_backbone(units=(8,)), 3, method="vib", latent_dim=2, num_samples=2, seed=0)
    model.compile(optimizer="adam")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    before = model.predict_samples(x[:4], num_samples=0)[0]
    bad_labels = tf.data.Dataset.from_tensor_slices((x, np.where(np.arange(64) < 32, 7, 1))).batch(32)  # the first batch
    bad_images = tf.data.Dataset.from_tensor_slices(np.full((8, 28, 28), 0.5, np.float32)).batch(4)
    calls = {
        "fit": lambda: model.fit(bad_labels, epochs=1, verbose=0),
        "evaluate": lambda: model.evaluate(bad_labels, verbose=0),
        "validation": lambda: model.fit(x, y, validation_data=bad_labels, epochs=1, verbose=0),
        "evaluate_array": lambda: model.evaluate(x, np.full(64, 7), verbose=0),
        "predict_dataset": lambda: model.predict(bad_images, verbose=0),
    }
    with pytest.raises(Exception, match="labels must be|images look scaled") as caught:
        calls[call]()
    assert isinstance(caught.value, (ValueError, tf.errors.InvalidArgumentError)), type(caught.value)
    if call != "validation":  # (the validation case trained one epoch before its validation failed)
        np.testing.assert_allclose(model.predict_samples(x[:4], num_samples=0)[0], before, atol=1e-6)
    assert np.isfinite(model.fit(x, y, epochs=1, batch_size=32, verbose=0).history["loss"][0])


# ---------------------------------------------------------------------------------------------
# Files move between backends

_TRAIN_AND_SAVE = """
import sys
import keras
import numpy as np
import vdualib
from vdualib import losses
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (64, 28, 28)).astype(np.uint8)
y = np.arange(64) % 10
inputs = keras.Input((28, 28), dtype="uint8")
features = keras.layers.Dense(16, activation="relu")(keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs)))
model = vdualib.build_classifier(keras.Model(inputs, features), 10, method="dualib", latent_dim=4, num_samples=2,
                                 prior="class_conditional", label_noise=losses.ConfusionNoise(0.9 * np.eye(10) + 0.01))
model.compile("adam")
model.fit(x, y, epochs=1, batch_size=32, verbose=0)
model.save(sys.argv[1])
np.save(sys.argv[2], model.predict_samples(x[:8], num_samples=0)[0])
"""

_LOAD_AND_PREDICT = """
import sys
import keras
import numpy as np
import vdualib  # registers the classes, as for any file of the library
x = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(np.uint8)
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
np.save(sys.argv[2], model.predict_samples(x[:8], num_samples=0)[0])
model.compile("adam")
assert np.isfinite(model.fit(x, np.arange(64) % 10, epochs=1, batch_size=32, verbose=0).history["loss"][0])
"""


def _run_on(keras_backend, script, *args):
    env = dict(os.environ, KERAS_BACKEND=keras_backend)
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.cross_backend
@pytest.mark.parametrize("saved_on, loaded_on", [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_a_model_saved_on_one_backend_loads_predicts_and_trains_on_the_other(saved_on, loaded_on, tmp_path):
    """A classifier with a class-conditional prior and a confusion-matrix p~, trained and saved on one
    backend, loads on the other with safe_mode=True, predicts the same at mu (1e-5) and trains on."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed in this environment (pip install '.[jax]'); CI runs this test in its JAX one")
    _run_on(saved_on, _TRAIN_AND_SAVE, tmp_path / "model.keras", tmp_path / "saved.npy")
    _run_on(loaded_on, _LOAD_AND_PREDICT, tmp_path / "model.keras", tmp_path / "loaded.npy")
    np.testing.assert_allclose(np.load(tmp_path / "loaded.npy"), np.load(tmp_path / "saved.npy"), atol=1e-5)



# ---------------------------------------------------------------------------------------------
# Several devices on JAX

_TRAIN_ON_DEVICES = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax
import keras
import numpy as np
import pytest
import vdualib
from vdualib import losses
if sys.argv[2] == "2":
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (64, 28, 28)).astype(np.uint8)
inputs = keras.Input((28, 28), dtype="uint8")
features = keras.layers.Dense(16, activation="relu")(keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs)))
model = vdualib.build_classifier(keras.Model(inputs, features), 10, method="dualib", latent_dim=4, num_samples=2,
                                 prior="class_conditional", label_noise=losses.ConfusionNoise(0.9 * np.eye(10) + 0.01),
                                 seed=0)
model.compile("adam")
history = model.fit(x, np.arange(64) % 10, epochs=2, batch_size=32, verbose=0).history
with pytest.raises(Exception, match="images must lie in 0..255"):  # the input checks run on every device
    model.predict(np.full((4, 28, 28), 300.0), verbose=0)
np.savez(sys.argv[1], loss=history["loss"], rate=history["rate"], mu=model.predict_samples(x[:8], num_samples=0)[0])
"""


@pytest.mark.slow
@pytest.mark.cross_backend
def test_data_parallel_on_two_jax_devices_trains_as_on_one(tmp_path):
    """keras.distribution.DataParallel over two host devices (XLA_FLAGS): the classifier, its prior's
    labels, p~ and input checks run sharded, and two epochs give one device's losses and predictions."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed in this environment (pip install '.[jax]'); CI runs this test in its JAX one")
    for devices in ("1", "2"):
        _run_on("jax", _TRAIN_ON_DEVICES, tmp_path / f"{devices}.npz", devices)
    with np.load(tmp_path / "1.npz") as one, np.load(tmp_path / "2.npz") as two:
        for key in ("loss", "rate", "mu"):
            np.testing.assert_allclose(two[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)
