"""The 12-bit study's network and its segmented training loop."""

import numpy as np
import pytest


def twelve_bit():
    rng_patterns = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float64)
    labels = (rng_patterns.sum(axis=1) % 2).astype(np.int64)
    return rng_patterns, labels


@pytest.mark.slow
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


def test_the_network_is_seeded_and_refuses_what_it_cannot_train():
    from vdualib.information.network import build_mlp, fit_in_segments

    first, second = build_mlp(12, seed=3), build_mlp(12, seed=3)
    assert [w.shape for w in first.get_weights()][::2] == [(12, 10), (10, 7), (7, 5), (5, 4), (4, 3), (3, 2)]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="activation"):
        build_mlp(12, activation="gelu")
    x = np.zeros((8, 12), "float32")
    with pytest.raises(ValueError, match="stops"):
        fit_in_segments(first, x, np.zeros(8, "int64"), stops=[5, 2])
