"""The library's pieces in a user's own Keras model, and the classifier built from the same pieces."""

import os
import re

import keras
import numpy as np
import pytest

import vdualib
from vdualib import layers, losses

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _functional_twin(classifier, loss):
    """A functional model with the classifier's backbone, encoder and decoder weights."""
    inputs = keras.Input(classifier.image_shape, dtype="uint8")
    features = classifier.backbone(inputs)
    config = classifier.encoder.get_config()
    encoder = layers.GaussianEncoder.from_config(config)
    logits = keras.layers.Dense(classifier.num_classes, dtype="float32")(encoder(features))
    model = keras.Model(inputs, logits)
    encoder.projection.set_weights(classifier.encoder.projection.get_weights())
    model.layers[-1].set_weights(classifier.decoder.get_weights())
    encoder.seed_generator.state.assign(classifier.encoder.seed_generator.state)
    model.compile("adam", loss=loss)
    return model


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
    assert theirs["rate"] == pytest.approx(ours["rate"], rel=1e-5)
    # training mode: the same seed state draws the same z, so the same loss
    y_pred = classifier(x, training=True)
    classifier_loss = float(classifier.compute_loss(x, y, y_pred))
    logits = twin(x, training=True)
    twin_loss = float(loss(y, logits)) + sum(float(v) for v in twin.losses)
    assert twin_loss == pytest.approx(classifier_loss, rel=1e-5)
    assert ours["loss"] > ours["distortion"]  # the rate is part of both


def test_the_readme_functional_example_trains_saves_and_loads(tmp_path, monkeypatch, data_dir):
    text = open(README).read()
    blocks = re.findall(r"```python\n(# example: a functional CNN.*?)```", text, re.S)
    assert len(blocks) == 1, "the README keeps one functional-model example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0].replace("model.fit(", "history = model.fit("), "README", "exec"), namespace)
    history = namespace["history"].history
    assert history["sparse_categorical_accuracy"][-1] > 0.7  # learns (about 0.9 after 2 short epochs)
    assert history["rate"][-1] > 0 and history["warmup_weight"][-1] < 0.01
    assert (tmp_path / "vdualib-cnn.keras").exists()
