"""vdualib.backend: the TFP substrate and the refusal of backends without one (run under
KERAS_BACKEND=tensorflow and jax)."""

import keras
import numpy as np
import pytest

from vdualib import backend


def test_the_backend_in_use_is_supported_and_named():
    assert backend.name() == keras.backend.backend()
    assert backend.name() in backend.SUPPORTED
    assert backend.is_tensorflow() == (keras.backend.backend() == "tensorflow")


def test_distributions_come_from_the_substrate_of_the_backend():
    tfd = backend.distributions()
    expected = "tensorflow_probability.substrates.jax" if backend.name() == "jax" else "tensorflow_probability.python"
    assert tfd.__name__.startswith(expected), tfd.__name__
    log_prob = tfd.Normal(np.float32(0.0), np.float32(2.0)).log_prob(np.float32(1.0))
    assert keras.ops.is_tensor(log_prob)  # a tensor of the backend, not a numpy value
    assert float(keras.ops.convert_to_numpy(log_prob)) == pytest.approx(-0.125 - np.log(2.0) - 0.5 * np.log(2 * np.pi))


@pytest.mark.parametrize("other", ["torch", "numpy"])
def test_a_backend_without_a_substrate_is_refused_with_what_to_set(monkeypatch, other):
    monkeypatch.setattr(keras.backend, "backend", lambda: other)
    with pytest.raises(ValueError, match=rf"GaussianEncoder needs TensorFlow Probability.*runs on '{other}'.*KERAS_BACKEND=jax"):
        backend.require_supported("GaussianEncoder")
    with pytest.raises(ValueError, match="KERAS_BACKEND"):
        backend.distributions()
