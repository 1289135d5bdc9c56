"""The callbacks: beta and warm-up schedules, the epoch checkpoint's lock."""

import keras
import numpy as np
import pytest

from vdualib import layers, models, reports, runs


def test_schedules_by_step_and_their_validation():
    from vdualib import callbacks

    linear = callbacks.BetaScheduler(0.0, 1.0, 10)
    assert linear.value(0) == 0.0 and linear.value(5) == pytest.approx(0.5) and linear.value(50) == 1.0
    log = callbacks.BetaScheduler(1e-4, 1e-2, 2, schedule="log")
    assert log.value(1) == pytest.approx(1e-3)
    warmup = callbacks.DistortionWarmup(0.1, 4000)
    assert [warmup.value(s) for s in (0, 1000, 2000, 4000, 9000)] == pytest.approx([0.1, 0.075, 0.05, 0.0, 0.0])
    with pytest.raises(ValueError, match="log schedule"):
        callbacks.BetaScheduler(0.0, 1.0, 10, schedule="log")
    with pytest.raises(ValueError, match="start must be >= 0"):
        callbacks.BetaScheduler(-1.0, 1.0, 10)
    with pytest.raises(ValueError, match="start must be a finite number"):
        callbacks.BetaScheduler(float("nan"), 1.0, 10)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        callbacks.DistortionWarmup(0.1, 0)


@pytest.mark.slow
def test_beta_scheduler_drives_the_model_beta(mnist_small, tiny_backbone):
    from vdualib import callbacks

    (x, y), _ = mnist_small
    model = models.build_classifier(tiny_backbone(), 10, method="vib", latent_dim=4, beta=0.0)
    model.compile(optimizer="adam")
    history = model.fit(x[:200], y[:200], epochs=2, batch_size=50, verbose=0, callbacks=[callbacks.BetaScheduler(0.0, 1.0, 4)])
    assert float(model.beta.numpy()) == pytest.approx(1.0)
    assert history.history["beta"][0] == pytest.approx(0.75)
    # the config reports the current beta, not the one the model was built with
    assert model.get_config()["beta"] == pytest.approx(1.0)


def test_beta_scheduler_refuses_encoders_without_a_prior(rng):
    from vdualib import callbacks

    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(layers.GaussianEncoder(4)(inputs)))
    model.compile("adam", loss="mse")
    x = rng.normal(size=(8, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="GaussianEncoder that has a prior.*prior='standard_normal'"):
        model.fit(x, np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[callbacks.BetaScheduler(0.0, 1e-3, steps=4)])


class _CrashAfterFirst(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated crash after the first epoch")


@pytest.mark.slow
def test_a_checkpoint_callback_lets_go_of_its_lock_after_a_failed_fit(tmp_path):
    from vdualib import callbacks

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="m")
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    first = callbacks.EpochCheckpoint(tmp_path, {"name": "m"})
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[first, _CrashAfterFirst()])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[first])  # the same callback again: it releases, then locks
    del first
    second = callbacks.EpochCheckpoint(tmp_path, {"name": "m"})
    model.fit(x, y, epochs=1, verbose=0, callbacks=[second])
    assert reports.read_json(tmp_path / runs.STATE_FILE)["epochs_done"] == 1
