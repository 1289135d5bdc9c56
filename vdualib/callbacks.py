"""Keras callbacks of the bottleneck models: schedules, exact checkpoints and a divergence stop.

* :class:`BetaScheduler` anneals every :class:`~vdualib.layers.GaussianEncoder`'s ``beta``.
* :class:`DistortionWarmup` anneals the cross-entropy warm-up weight of the model's
  :class:`~vdualib.losses.VIBLoss` / :class:`~vdualib.losses.DualIBLoss` to 0.
* :class:`EpochCheckpoint` saves the model, its optimizer and every layer's random state after
  each epoch, so a resumed run continues exactly.
* :class:`StopOnNonFinite` ends training with a ``ValueError`` as soon as the loss is NaN or
  infinite, instead of training on and saving a NaN model.

Schedules read the step from the optimizer's ``iterations``, so a resumed run picks up where it
stopped without any state of their own.
"""

import math
import os
import time

import keras
import numpy as np

from vdualib import checks, layers, registration, reports, runs

__all__ = [
    "BetaScheduler",
    "DistortionWarmup",
    "EpochCheckpoint",
    "StopOnNonFinite",
    "random_states",
    "restore_random_states",
]


def _all_layers(layer):
    """``layer`` and every layer inside it, depth first (nested models included)."""
    found = [layer]
    for child in getattr(layer, "layers", ()):
        found.extend(_all_layers(child))
    return found


class _StepSchedule(keras.callbacks.Callback):
    """Sets some variables of the model to ``value(step)`` before every training batch and logs
    the value per epoch under ``log_name``."""

    log_name = None

    def __init__(self, start, end, steps, schedule="linear"):
        super().__init__()
        if schedule not in ("linear", "log"):
            raise ValueError(f"schedule must be 'linear' or 'log', got {schedule!r}.")
        self.start = checks.finite_float("start", start, low=0.0)
        self.end = checks.finite_float("end", end, low=0.0)
        if schedule == "log" and (self.start <= 0 or self.end <= 0):
            raise ValueError("a log schedule needs start > 0 and end > 0.")
        self.steps = checks.positive_int("steps", steps)
        self.schedule = schedule
        self._step = 0
        self._variables = []
        self._assigned = None

    def value(self, step):
        """The scheduled value after ``step`` training steps:
        linear: start + (end - start) t; log: exp(log start + (log end - log start) t),
        with t = min(step / steps, 1)."""
        t = min(step / self.steps, 1.0)
        if self.schedule == "linear":
            return self.start + (self.end - self.start) * t
        return math.exp(math.log(self.start) + (math.log(self.end) - math.log(self.start)) * t)

    def _targets(self, model):
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        self._variables = self._targets(self.model)
        iterations = getattr(self.model.optimizer, "iterations", None)
        self._step = int(iterations.numpy()) if iterations is not None else 0
        self._assigned = None

    def on_train_batch_begin(self, batch, logs=None):
        value = self.value(self._step)
        self._step += 1
        if value == self._assigned:
            return  # held at the end of the ramp: nothing to write
        # Reading self.model first: on JAX, Keras then writes the compiled loop's state back into
        # the model's variables and reads them again before the next step, so the assignment reaches it.
        _ = self.model
        for variable in self._variables:
            variable.assign(value)
        self._assigned = value

    def on_epoch_end(self, epoch, logs=None):
        _ = self.model  # on JAX, the variables hold their values again (see on_train_batch_begin)
        if logs is not None and self._variables:
            logs[self.log_name] = float(self._variables[0].numpy())

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps, "schedule": self.schedule}


@keras.saving.register_keras_serializable(package="vdualib")
class BetaScheduler(_StepSchedule):
    """Anneal ``beta`` (the rate's weight) of every :class:`~vdualib.layers.GaussianEncoder` with
    a prior in the model from ``start`` to ``end`` over ``steps`` training steps, then hold it at
    ``end``. Logs ``beta`` per epoch.

    Args:
        start, end: finite, >= 0 (> 0 for ``schedule="log"``).
        steps: training steps of the ramp.
        schedule: ``"linear"`` or ``"log"`` (see :meth:`value`).

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), layers.GaussianEncoder(2, prior="standard_normal"), keras.layers.Dense(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 3
        >>> steps_per_epoch = 2     # 32 examples, batches of 16
        >>> history = model.fit(x, y, batch_size=16, epochs=4, verbose=0,
        ...                     callbacks=[BetaScheduler(0.0, 1e-3, steps=3 * steps_per_epoch)])
        >>> [round(beta / 1e-3, 3) for beta in history.history["beta"]]     # in units of the end value
        [0.167, 0.5, 0.833, 1.0]
    """

    log_name = "beta"

    def _targets(self, model):
        encoders = [layer for layer in _all_layers(model) if isinstance(layer, layers.GaussianEncoder)]
        found = [encoder.beta for encoder in encoders if encoder.prior is not None]
        if not found:
            raise ValueError(
                "BetaScheduler needs a model with a GaussianEncoder that has a prior (its beta weighs the rate)"
                + ("; the model's encoders have none: build them with prior='standard_normal'." if encoders else ".")
            )
        return found


@keras.saving.register_keras_serializable(package="vdualib")
class DistortionWarmup(_StepSchedule):
    """Anneal the cross-entropy warm-up weight lambda_t of the model's bottleneck loss linearly
    from ``start`` to 0 over ``steps`` training steps (the dual IB reference code: 0.1 over the
    first 4,000 steps at batch 64). Logs ``warmup_weight`` per epoch.

    The loss is the model's ``objective`` (:class:`~vdualib.models.IBClassifier`) or the
    ``loss`` given to ``compile`` (a :class:`~vdualib.losses.VIBLoss` / ``DualIBLoss``).

    Args:
        start: lambda_0, finite, >= 0.
        steps: training steps until lambda reaches 0.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])     # logits
        >>> model.compile("adam", loss=vdualib.losses.DualIBLoss(warmup_weight=0.1))
        >>> x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 3
        >>> history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[DistortionWarmup(0.1, steps=4)])
        >>> [round(weight, 6) for weight in history.history["warmup_weight"]]
        [0.075, 0.025]
    """

    log_name = "warmup_weight"

    def __init__(self, start, steps, end=0.0, schedule="linear"):
        super().__init__(start, end, steps, schedule=schedule)

    def _targets(self, model):
        loss = getattr(model, "objective", None) or getattr(model, "loss", None)
        if not isinstance(getattr(loss, "warmup_weight", None), keras.Variable):
            raise ValueError("DistortionWarmup needs a model compiled with a VIBLoss or DualIBLoss (or an IBClassifier).")
        return [loss.warmup_weight]

    def get_config(self):
        return {"start": self.start, "steps": self.steps, "end": self.end, "schedule": self.schedule}


def _seed_states(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def random_states(model):
    """Every random-stream state of ``model``'s layers (Keras ``SeedGenerator`` states, e.g. of
    ``Dropout``), as a list of int lists in the order of ``model.variables``. Keras does not
    save them in ``.keras`` files; their names are numbered per process, so the order is the key.

    Args:
        model: a ``keras.Model``.

    Returns:
        A list with one list of ints per ``SeedGenerator`` state (JSON-ready).

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, seed=0)])
        >>> states = random_states(model)     # saved in checkpoint.json
        >>> len(states)
        1
    """
    return [np.asarray(v.numpy()).tolist() for v in _seed_states(model)]


def restore_random_states(model, states):
    """Assign the states saved by :func:`random_states`; a different number of streams is an error.

    Args:
        model: a ``keras.Model`` with the same random streams as the one saved.
        states: the list :func:`random_states` returned.

    Raises:
        ValueError: the model has another number of random streams.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, seed=0)])
        >>> reports.write_json("checkpoint.json", {"random_states": random_states(model)})
        >>> first = model(np.ones((1, 4)), training=True)
        >>> restore_random_states(model, reports.read_json("checkpoint.json")["random_states"])
        >>> bool(np.all(model(np.ones((1, 4)), training=True) == first))     # the same random stream again
        True
    """
    current = _seed_states(model)
    if len(current) != len(states):
        raise ValueError(
            f"the checkpoint holds {len(states)} random states but the model has {len(current)}; "
            "was it written by another model?"
        )
    for variable, value in zip(current, states):
        variable.assign(np.asarray(value, dtype=variable.dtype))


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch, commit the run's checkpoint: ``checkpoint.keras`` (model + optimizer
    state), ``checkpoint.json`` (finished epochs, history, the run's identity and every layer's
    random state) and ``log.csv``, as one consistent set (:class:`vdualib.runs.RunFolder`).

    The folder's lock is taken for the length of ``fit`` unless the caller already holds it, so
    a second run on the same folder is refused instead of mixing its files with this one's.

    Args:
        out_dir: the run folder (a path, or a locked :class:`vdualib.runs.RunFolder`).
        identity: a JSON-able dict (the recipe, its name, the precision) that a resume must match.
        elapsed: seconds of training before this process (by the processes that ran it before a resume).

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 3
        >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[EpochCheckpoint("runs/a", {"name": "a"}), StopOnNonFinite()])
        >>> sorted(os.listdir("runs/a")), reports.read_json("runs/a/checkpoint.json")["epochs_done"]
        (['checkpoint.json', 'checkpoint.keras', 'checkpoint.previous.keras', 'log.csv'], 2)
    """

    def __init__(self, out_dir, identity, elapsed=0.0):
        super().__init__()
        self.folder = out_dir if isinstance(out_dir, runs.RunFolder) else runs.RunFolder(out_dir)
        self.identity = identity
        self.elapsed = float(elapsed)
        self._epoch_start = None
        self._own_lock = None

    def on_train_begin(self, logs=None):
        self._release()  # Keras skips on_train_end when fit fails: a lock this callback kept goes now
        if not self.folder.locked:
            self._own_lock = self.folder.lock()
            self._own_lock.__enter__()

    def on_train_end(self, logs=None):
        self._release()

    def _release(self):
        if self._own_lock is not None:
            self._own_lock.__exit__(None, None, None)
            self._own_lock = None

    def __del__(self):
        self._release()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        values = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for v in values.values()):
            return  # StopOnNonFinite reports it; never checkpoint a diverged model
        self.elapsed += time.time() - self._epoch_start
        state_path = self.folder.file(runs.STATE_FILE)
        state = reports.read_json(state_path) if os.path.exists(state_path) else {"history": []}
        state.update(
            self.identity,
            history=[h for h in state["history"] if h["epoch"] <= epoch] + [{"epoch": epoch + 1, **values}],
            epochs_done=epoch + 1,
            train_seconds=self.elapsed,
            random_states=random_states(self.model),
        )
        state.pop("model_path", None)
        self.folder.commit(self.model, state)


class StopOnNonFinite(keras.callbacks.Callback):
    """Raise ``ValueError`` when a training batch's loss is NaN or infinite, naming the epoch
    and batch and what to change (learning rate, beta, the data).

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.full((32, 4), np.nan), np.arange(32) % 3     # data with NaN
        >>> model.fit(x, y, verbose=0, callbacks=[StopOnNonFinite()])
        Traceback (most recent call last):
        ...
        ValueError: the training loss became nan at epoch 1, batch 1; nothing was saved for this epoch. ...
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise ValueError(
                f"the training loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}; "
                "nothing was saved for this epoch. Lower the learning rate or beta, or check the data for "
                "NaN or extreme values."
            )


registration.register()  # the other serializable modules, now that this one is complete
