"""Distortions, the VIB and VdualIB objectives, noisy label distributions and beta schedules.

All quantities in nats.

Conventions. ``beta`` multiplies the rate, as in the VIB paper:

    VIB:     L = E_{z~e(z|x)}[-log q(y|z)]                 + beta * KL(e(z|x) || r(z))
    VdualIB: L = E_{z~e(z|x)}[KL(q(y|z) || p~(y|x))]       + beta * KL(e(z|x) || r(z))

The IB papers (and :mod:`vdualib.ib`) write the trade-off the other way round, multiplying
the distortion: their beta is ``1 / beta`` here.

p(y|x) of a training example is one-hot and KL(q || one-hot) is infinite, so the VdualIB needs
a noisy label distribution p~(y|x) with full support: :class:`LabelSmoothing`,
:class:`ConfusionNoise` (a row-stochastic K x K matrix) or :class:`TeacherNoise` (a teacher's
softmax), chosen with :func:`get_label_noise`.
"""

import math

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "ib_distortion",
    "dual_distortion",
    "cross_entropy",
    "objective",
    "METHODS",
    "LabelSmoothing",
    "ConfusionNoise",
    "TeacherNoise",
    "get_label_noise",
    "confusion_matrix",
    "BetaScheduler",
]

METHODS = ("deterministic", "vib", "dualib")


def _log_probs(targets):
    # xlogy convention: 0 * log 0 = 0. Where p = 0 the log is -inf, used only where multiplied by 0.
    return tf.math.log(targets)


def ib_distortion(targets, logits):
    """The IB distortion KL(p(y|x) || q(y|z)) per example, in nats.

    ``targets``: probability vectors p(y|x), ``[..., C]`` (one-hot allowed: 0 log 0 = 0).
    ``logits``: decoder logits with q = softmax(logits), shape broadcastable to ``targets``
    (e.g. ``[S, B, C]`` against ``[B, C]``). Returns ``[...]`` (the broadcast shape without C).
    """
    targets = tf.cast(targets, tf.float32)
    log_q = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    return tf.reduce_sum(tf.math.xlogy(targets, targets) - targets * log_q, axis=-1)


def dual_distortion(targets, logits):
    """The dualIB distortion KL(q(y|z) || p(y|x)) per example, in nats: the IB's two
    distributions with the arguments swapped.

    ``targets`` p(y|x) must have full support wherever q > 0 (q = softmax is never 0), or the
    value is +inf: use a noisy label distribution (see :func:`get_label_noise`).
    Shapes as in :func:`ib_distortion`.
    """
    targets = tf.cast(targets, tf.float32)
    log_q = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    return tf.reduce_sum(tf.exp(log_q) * (log_q - _log_probs(targets)), axis=-1)


def cross_entropy(targets, logits):
    """H(p, q) = -sum_y p(y|x) log q(y|z) per example, in nats (= KL(p || q) + H(p))."""
    targets = tf.cast(targets, tf.float32)
    return -tf.reduce_sum(targets * tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1), axis=-1)


def objective(method, targets, logits, rate, beta):
    """Per-example objective and its parts, in nats.

    Args:
        method: ``"deterministic"``, ``"vib"`` or ``"dualib"``.
        targets: p(y|x) for the VIB and the deterministic model (cross-entropy), p~(y|x) for
            the VdualIB, ``[B, C]``.
        logits: ``[S, B, C]`` decoder logits for S encoder samples.
        rate: per-example KL(e(z|x) || r(z)), ``[B]`` (ignored for the deterministic model).
        beta: the rate's weight.

    Returns:
        ``(loss, distortion)``, each ``[B]``: distortion is E_z of the method's distortion
        (cross-entropy for VIB/deterministic, KL(q || p~) for VdualIB) averaged over the S samples.
    """
    if method == "dualib":
        distortion = tf.reduce_mean(dual_distortion(targets, logits), axis=0)
    else:
        distortion = tf.reduce_mean(cross_entropy(targets, logits), axis=0)
    if method == "deterministic":
        return distortion, distortion
    return distortion + tf.cast(beta, tf.float32) * rate, distortion


# ---------------------------------------------------------------------------------------------
# Noisy label distributions p~(y|x)


class _LabelNoise:
    """Maps integer labels (and the inputs) to label distributions p~(y|x), ``[B, C]``."""

    def __call__(self, labels, inputs=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="vdualib")
class LabelSmoothing(_LabelNoise):
    """p~(y|x) = (1 - epsilon) onehot(y) + epsilon / C; 0 < epsilon <= 1 gives full support."""

    def __init__(self, num_classes, epsilon=0.01):
        if not 0 < epsilon <= 1:
            raise ValueError(f"epsilon must be in (0, 1] for a full-support label distribution, got {epsilon}.")
        self.num_classes = int(num_classes)
        self.epsilon = float(epsilon)

    def __call__(self, labels, inputs=None):
        onehot = tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)
        return (1.0 - self.epsilon) * onehot + self.epsilon / self.num_classes

    def get_config(self):
        return {"num_classes": self.num_classes, "epsilon": self.epsilon}


def _validate_stochastic_matrix(matrix, num_classes, name):
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square K x K matrix, got shape {matrix.shape}.")
    if num_classes is not None and matrix.shape[0] != num_classes:
        raise ValueError(f"{name} is {matrix.shape[0]} x {matrix.shape[0]} but the model has {num_classes} classes.")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} has NaN or infinite entries.")
    if np.any(matrix < 0):
        raise ValueError(f"{name} has negative entries; rows must be probability distributions.")
    sums = matrix.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-5):
        bad = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"{name}: row {bad} sums to {sums[bad]:.6f}, not 1; normalise the rows.")
    if np.any(matrix == 0):
        raise ValueError(
            f"{name} has zero entries, which make KL(q || p~) infinite; mix it with uniform noise "
            "(confusion_matrix(..., smoothing=...))."
        )
    return matrix


@keras.saving.register_keras_serializable(package="vdualib")
class ConfusionNoise(_LabelNoise):
    """p~(y|x) = row y of a row-stochastic K x K matrix, e.g. a reference model's validation
    confusion matrix (see :func:`confusion_matrix`). Entries must be positive."""

    def __init__(self, matrix, num_classes=None):
        self.matrix = _validate_stochastic_matrix(matrix, num_classes, "the confusion matrix")
        self.num_classes = self.matrix.shape[0]

    def __call__(self, labels, inputs=None):
        return tf.gather(tf.constant(self.matrix, tf.float32), tf.cast(labels, tf.int32))

    def get_config(self):
        return {"matrix": self.matrix.tolist()}


@keras.saving.register_keras_serializable(package="vdualib")
class TeacherNoise(_LabelNoise):
    """p~(y|x) from a teacher model's softmax, optionally tempered and mixed with uniform noise:
    p~ = (1 - epsilon) softmax(log p_teacher / temperature) + epsilon / C.

    ``teacher`` is a Keras model returning class probabilities (as a vdualib classifier's
    ``predict`` does, or a dict with a ``"probs"`` entry) or the path of a ``.keras`` file,
    loaded with ``safe_mode=True``. Its parameters are not trained. The config keeps the path;
    a teacher given as an in-memory model is not saved with the student (its config records
    ``teacher=None``, and using the restored object asks for the teacher again).
    """

    def __init__(self, teacher, num_classes=None, temperature=1.0, epsilon=1e-3):
        self.teacher_path = None
        if isinstance(teacher, str):
            self.teacher_path = teacher
            teacher = keras.saving.load_model(teacher, safe_mode=True)
        if teacher is not None and not callable(teacher):
            raise ValueError("teacher must be a Keras model returning class probabilities, or a .keras path.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}.")
        self.teacher = teacher
        self.num_classes = num_classes
        self.temperature = float(temperature)
        self.epsilon = float(epsilon)

    def __call__(self, labels, inputs=None):
        if self.teacher is None:
            raise ValueError("this TeacherNoise was restored without its teacher; pass the teacher model again.")
        if inputs is None:
            raise ValueError("TeacherNoise needs the inputs x to run the teacher.")
        probs = self.teacher(inputs, training=False)
        if isinstance(probs, dict):
            probs = probs["probs"]
        probs = tf.stop_gradient(tf.cast(probs, tf.float32))
        if self.temperature != 1.0:
            probs = tf.nn.softmax(tf.math.log(probs + 1e-12) / self.temperature, axis=-1)
        num_classes = tf.cast(tf.shape(probs)[-1], tf.float32)
        return (1.0 - self.epsilon) * probs + self.epsilon / num_classes

    def get_config(self):
        return {
            "teacher": self.teacher_path,
            "num_classes": self.num_classes,
            "temperature": self.temperature,
            "epsilon": self.epsilon,
        }


_LABEL_NOISE = {"smoothing": LabelSmoothing, "confusion": ConfusionNoise, "teacher": TeacherNoise}


def get_label_noise(spec, num_classes, **kwargs):
    """A label-noise object from a name, a serialized config, or an object.

    Names: ``"smoothing"`` (``epsilon=...``), ``"confusion"`` (``matrix=...``), ``"teacher"``
    (``teacher=...``); ``None`` gives ``None``. Keyword arguments go to the constructor.
    """
    if spec is None or isinstance(spec, _LabelNoise):
        return spec
    if isinstance(spec, dict):
        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, str):
        if spec not in _LABEL_NOISE:
            raise ValueError(f"Unknown label noise {spec!r}; use one of {sorted(_LABEL_NOISE)} or a label-noise object.")
        if spec == "smoothing":
            return LabelSmoothing(num_classes, **kwargs)
        if spec == "confusion":
            if "matrix" not in kwargs:
                raise ValueError("label_noise='confusion' needs matrix=... (see vdualib.losses.confusion_matrix).")
            return ConfusionNoise(num_classes=num_classes, **kwargs)
        if "teacher" not in kwargs:
            raise ValueError("label_noise='teacher' needs teacher=<a Keras model returning probabilities>.")
        return TeacherNoise(num_classes=num_classes, **kwargs)
    raise ValueError(f"label_noise must be a name {sorted(_LABEL_NOISE)}, a config dict or an object, got {spec!r}.")


def confusion_matrix(predictions, labels, num_classes, smoothing=1e-3):
    """Row-stochastic confusion matrix P[y, y'] = p(predicted y' | true y), mixed with uniform
    noise: (1 - smoothing) P + smoothing / K, so every entry is positive.

    ``predictions`` are class probabilities ``[N, K]`` (rows averaged per true class) or integer
    predicted classes ``[N]`` (counted). A class with no example gets a uniform row.
    """
    labels = np.asarray(labels).reshape(-1)
    predictions = np.asarray(predictions)
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1] so that every entry is positive, got {smoothing}.")
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels.")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}).")
    if predictions.ndim == 1:
        predictions = np.eye(num_classes)[predictions.astype(int)]
    if predictions.ndim != 2 or predictions.shape[1] != num_classes:
        raise ValueError(f"predictions must be [N] classes or [N, {num_classes}] probabilities, got {predictions.shape}.")
    if not np.all(np.isfinite(predictions)):
        raise ValueError("predictions contain NaN or infinite values.")
    totals = np.zeros((num_classes, num_classes))
    np.add.at(totals, labels.astype(int), predictions)
    counts = totals.sum(axis=1, keepdims=True)
    rows = np.where(counts > 0, totals / np.maximum(counts, 1e-300), 1.0 / num_classes)
    return (1 - smoothing) * rows + smoothing / num_classes


# ---------------------------------------------------------------------------------------------
# beta annealing


@keras.saving.register_keras_serializable(package="vdualib")
class BetaScheduler(keras.callbacks.Callback):
    """Anneal the model's ``beta`` (the rate's weight) from ``start`` to ``end`` over ``steps``
    training steps, then hold it at ``end``.

    ``schedule="linear"``: beta = start + (end - start) * t; ``"log"``: beta =
    exp(log start + (log end - log start) * t), with t = min(step / steps, 1) (both > 0 for log).
    The model must expose a ``beta`` variable (vdualib classifiers do).
    """

    def __init__(self, start, end, steps, schedule="linear"):
        super().__init__()
        if schedule not in ("linear", "log"):
            raise ValueError(f"schedule must be 'linear' or 'log', got {schedule!r}.")
        if start < 0 or end < 0:
            raise ValueError("beta must be >= 0.")
        if schedule == "log" and (start <= 0 or end <= 0):
            raise ValueError("a log schedule needs start > 0 and end > 0.")
        if steps <= 0:
            raise ValueError(f"steps must be positive, got {steps}.")
        self.start, self.end, self.steps, self.schedule = float(start), float(end), int(steps), schedule
        self._step = 0

    def value(self, step):
        """beta after ``step`` training steps."""
        t = min(step / self.steps, 1.0)
        if self.schedule == "linear":
            return self.start + (self.end - self.start) * t
        return math.exp(math.log(self.start) + (math.log(self.end) - math.log(self.start)) * t)

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "beta"):
            raise ValueError("BetaScheduler needs a model with a beta variable (a vdualib classifier).")
        iterations = getattr(self.model.optimizer, "iterations", None)
        self._step = int(iterations.numpy()) if iterations is not None else 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.beta.assign(self.value(self._step))
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = float(self.model.beta.numpy())

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps, "schedule": self.schedule}
