"""Fixtures shared by several test files: the real data in ``VDUALIB_DATA_DIR`` (``.ci/run`` points
it at ../shared/data), a tiny MLP backbone, two correlated models' predictions (``two_models``),
and two small saved models with one ``vdualib-evaluate`` run of them (``saved_models``, ``run``:
made once per session, for tests/commands/test_evaluate.py and tests/evaluation/)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _data_dir():
    env = os.environ.get("VDUALIB_DATA_DIR")
    if env:
        return env
    here = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    return os.path.abspath(here)


if os.path.isdir(_data_dir()):
    # code under test that reads data without a data_dir argument finds it too
    os.environ.setdefault("VDUALIB_DATA_DIR", _data_dir())


@pytest.fixture(scope="session")
def data_dir():
    path = _data_dir()
    if not os.path.isdir(path):
        raise FileNotFoundError(f"test data not found at {path}; set VDUALIB_DATA_DIR to the shared data folder.")
    return path


@pytest.fixture(scope="session")
def mnist(data_dir):
    from vdualib import datasets

    return datasets.load("mnist", data_dir=data_dir, download=False)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """2,000 training and 1,000 test examples of MNIST (uint8)."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:2000], y_train[:2000]), (x_test[:1000], y_test[:1000])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny_backbone():
    def make():
        import keras

        inputs = keras.Input((28, 28), dtype="uint8")
        x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(32, activation="relu")(x))

    return make


def _probs(noise, labels, signal):
    logits = noise.copy()
    logits[np.arange(labels.size), labels] += signal
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def two_models():
    """Two correlated models, as two networks on one test set are: the same hard examples, one weaker."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 4000)
    noise = rng.normal(size=(labels.size, 10))
    return labels, _probs(noise, labels, 3.0), _probs(noise + 0.3 * rng.normal(size=noise.shape), labels, 2.6)


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory, mnist):
    """A small VIB classifier and a plain Keras softmax network, briefly trained and saved."""
    import keras

    import vdualib
    from vdualib import models

    (x_train, y_train), _ = mnist
    folder = tmp_path_factory.mktemp("models")
    vib = vdualib.build_classifier(models.mlp_backbone(units=(32,)), 10, method="vib", latent_dim=8, num_samples=4, seed=0)
    vib.compile(optimizer=keras.optimizers.Adam(0.01))
    vib.fit(x_train[:1000], y_train[:1000], epochs=5, batch_size=100, verbose=0)
    plain = keras.Sequential(
        [
            keras.Input((28, 28), dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="plain_softmax",
    )
    plain.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    plain.fit(x_train[:1000], y_train[:1000], epochs=3, batch_size=100, verbose=0)
    paths = {"vib": str(folder / "small-vib.keras"), "plain": str(folder / "small-plain.keras")}
    vib.save(paths["vib"])
    plain.save(paths["plain"])
    return paths


@pytest.fixture(scope="session")
def run(tmp_path_factory, saved_models):
    from vdualib.commands import evaluate as evaluate_command

    out = tmp_path_factory.mktemp("evaluation")
    argv = [
        "--compare", saved_models["vib"], saved_models["plain"], "--dataset", "mnist", "--limit", "500",
        "--corruptions", "gaussian_noise", "rotate", "--severities", "1", "4", "--ood", "fashion_mnist", "uniform",
        "--batch-size", "128", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert evaluate_command.main(argv) == 0
    return out


# -- the Keras backend under test (KERAS_BACKEND=tensorflow or jax) ---------------------------


@pytest.fixture(scope="session")
def runtime_error():
    """The exceptions a failed run-time input check raises on this backend (vdualib.checks.assert_*):
    TensorFlow's InvalidArgumentError; on JAX a ValueError, wrapped in a runtime error under jax.jit."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.errors.InvalidArgumentError
    import jax

    return (ValueError, jax.errors.JaxRuntimeError) if hasattr(jax.errors, "JaxRuntimeError") else (ValueError, RuntimeError)


@pytest.fixture(scope="session")
def gradient():
    """``gradient(loss_fn, variable)``: d loss_fn() / d variable as a numpy array, on the backend in use
    (TensorFlow's GradientTape; on JAX, jax.grad of loss_fn run in a keras.StatelessScope)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        def tensorflow_gradient(loss_fn, variable):
            with tf.GradientTape() as tape:
                loss = loss_fn()
            return tape.gradient(loss, variable).numpy()

        return tensorflow_gradient
    import jax

    def jax_gradient(loss_fn, variable):
        def loss_of(value):
            with keras.StatelessScope(state_mapping=[(variable, value)]):
                return loss_fn()

        return np.asarray(jax.grad(loss_of)(variable.value))

    return jax_gradient


@pytest.fixture(scope="session")
def imported_modules():
    """``imported_modules(module)``: every module a source file imports, at its top or inside functions."""

    def imported(module):
        """Every module a source file imports, at its top or inside functions."""
        import ast

        tree = ast.parse(open(module.__file__, encoding="utf-8").read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
                found.add(node.module)
        return found

    return imported
