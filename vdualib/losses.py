"""Distortions, the VIB and VdualIB objectives as Keras losses, and noisy label distributions.

All quantities in nats.

Conventions. ``beta`` multiplies the rate, as in the VIB paper:

    VIB:     L = E_{z~e(z|x)}[H(p~(y|x), q(y|z))]          + beta * KL(e(z|x) || r(z))
    VdualIB: L = E_{z~e(z|x)}[KL(q(y|z) || p~(y|x))]       + beta * KL(e(z|x) || r(z))

The distortion is a ``keras.losses.Loss`` (:class:`VIBLoss`, :class:`DualIBLoss`); the rate is
added by :class:`vdualib.layers.GaussianEncoder` through ``add_loss``. The IB papers (and
:mod:`vdualib.ib`) write the trade-off the other way round, multiplying the distortion: their
beta is ``1 / beta`` here.

p(y|x) of a training example is one-hot and KL(q || one-hot) is infinite, so the VdualIB needs
a noisy label distribution p~(y|x) with full support: :class:`LabelSmoothing`,
:class:`ConfusionNoise` (a row-stochastic K x K matrix, e.g. a reference model's validation
confusion matrix) or :class:`TeacherNoise` (a teacher's softmax), chosen with
:func:`get_label_noise`.

Backends. Everything here computes through ``keras.ops`` and needs no TensorFlow Probability,
so nothing refuses a backend at construction. It runs on the TensorFlow and JAX backends of
Keras, eagerly and inside ``tf.function`` or ``jax.jit`` (both tested); the PyTorch backend runs
the same ``keras.ops`` code but is not tested. Invalid labels and probabilities are refused at
run time by :mod:`vdualib.checks`' assertions (``tf.errors.InvalidArgumentError`` on
TensorFlow, a ``ValueError`` on JAX, carried by an ``XlaRuntimeError`` under ``jax.jit``).
"""

import contextlib
import contextvars
import os

import keras
import numpy as np
from keras import ops

from vdualib import backend, checks, methods, registration

__all__ = [
    "ib_distortion",
    "dual_distortion",
    "cross_entropy",
    "VIBLoss",
    "DualIBLoss",
    "LabelSmoothing",
    "ConfusionNoise",
    "TeacherNoise",
    "get_label_noise",
    "opening_teacher_files",
    "confusion_matrix",
    "loss_class",
]


def _log_probs(targets):
    # Where p = 0 the log is -inf: KL(q || p) is then +inf, as it should be.
    return ops.log(targets)


def _xlogx(p):
    """p log p elementwise with 0 log 0 = 0 (``tf.math.xlogy(p, p)``), gradient-safe at 0."""
    zero = ops.equal(p, 0.0)
    return ops.where(zero, 0.0, p * ops.log(ops.where(zero, 1.0, p)))


def _float32(values):
    return ops.cast(ops.convert_to_tensor(values), "float32")


def ib_distortion(targets, logits):
    """The IB distortion KL(p(y|x) || q(y|z)) per example, in nats.

    KL(p || q) = sum_y p(y|x) log(p(y|x) / q(y|z)), with q = softmax(logits) and 0 log 0 = 0.

    Args:
        targets: probability vectors p(y|x), ``[..., C]`` (one-hot allowed).
        logits: decoder logits, shape broadcastable to ``targets`` (e.g. ``[S, B, C]`` against
            ``[B, C]``).

    Returns:
        float32 ``[...]`` (the broadcast shape without C), nats.

    Example:
        >>> d = ib_distortion(np.eye(3)[[0, 2]], np.zeros((2, 3)))     # one-hot targets, uniform q
        >>> keras.ops.convert_to_numpy(d)     # [log 3, log 3]
        array([1.0986, 1.0986], dtype=float32)
    """
    targets = _float32(targets)
    log_q = ops.log_softmax(_float32(logits), axis=-1)
    return ops.sum(_xlogx(targets) - targets * log_q, axis=-1)


def dual_distortion(targets, logits):
    """The dualIB distortion KL(q(y|z) || p(y|x)) per example, in nats: the IB's two
    distributions with the arguments swapped.

    KL(q || p) = sum_y q(y|z) log(q(y|z) / p(y|x)), with q = softmax(logits). ``targets`` must have
    full support wherever q > 0 (q = softmax is never 0), or the value is +inf: use a noisy label
    distribution (see :func:`get_label_noise`).

    Args:
        targets: probability vectors p(y|x), ``[..., C]``, all entries > 0.
        logits: decoder logits, shape broadcastable to ``targets`` (e.g. ``[S, B, C]`` against
            ``[B, C]``).

    Returns:
        float32 ``[...]`` (the broadcast shape without C), nats.

    Example:
        >>> keras.ops.convert_to_numpy(dual_distortion(np.array([[0.25, 0.75]]), np.zeros((1, 2))))
        array([0.1438], dtype=float32)
    """
    targets = _float32(targets)
    log_q = ops.log_softmax(_float32(logits), axis=-1)
    return ops.sum(ops.exp(log_q) * (log_q - _log_probs(targets)), axis=-1)


def cross_entropy(targets, logits):
    """H(p, q) = -sum_y p(y|x) log q(y|z) per example, in nats (= KL(p || q) + H(p)).

    Args:
        targets: probability vectors p(y|x), ``[..., C]``.
        logits: decoder logits with q = softmax(logits), shape broadcastable to ``targets``.

    Returns:
        float32 ``[...]`` (the broadcast shape without C), nats.

    Example:
        >>> keras.ops.convert_to_numpy(cross_entropy(np.array([[0.0, 1.0]]), np.zeros((1, 2))))     # [log 2]
        array([0.6931], dtype=float32)
    """
    targets = _float32(targets)
    return -ops.sum(targets * ops.log_softmax(_float32(logits), axis=-1), axis=-1)


# ---------------------------------------------------------------------------------------------
# Noisy label distributions p~(y|x)


class _LabelNoise:
    """Maps integer labels (and the inputs) to label distributions p~(y|x), ``[B, C]``.

    ``num_classes`` is C; ``full_support`` says whether every p~(y|x) is positive (which the
    dual distortion KL(q || p~) needs).
    """

    num_classes = None
    full_support = True

    def __call__(self, labels, inputs=None):
        raise NotImplementedError

    def mix(self, probs):
        """p~ for a distribution over the true label, ``probs`` ``[B, C]``: the noise applied to
        each label, averaged with weights ``probs``."""
        raise ValueError(f"{type(self).__name__} needs integer labels, not label distributions.")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _TransitionNoise(_LabelNoise):
    """Label noise given by a row-stochastic C x C transition matrix T: p~(.|x) = T[y], and for a
    label distribution p, p~ = p T."""

    def transition_matrix(self):
        """T, a float32 tensor ``[C, C]`` of the Keras backend."""
        raise NotImplementedError

    def __call__(self, labels, inputs=None):
        """p~(.|x) = T[y] for integer labels ``[B]`` (or ``[B, 1]``): float32 ``[B, C]``."""
        labels = checks.assert_labels(labels, self.num_classes)
        return ops.take(self.transition_matrix(), ops.cast(ops.reshape(labels, (-1,)), "int32"), axis=0)

    def mix(self, probs):
        """p~ = p T for label distributions ``probs`` ``[B, C]``: float32 ``[B, C]``."""
        return ops.matmul(_float32(probs), self.transition_matrix())


@keras.saving.register_keras_serializable(package="vdualib")
class LabelSmoothing(_TransitionNoise):
    """p~(y|x) = (1 - epsilon) onehot(y) + epsilon / C; 0 < epsilon <= 1 gives full support.

    Args:
        num_classes: C.
        epsilon: the smoothing weight (default ``vdualib.methods.SMOOTHING_EPSILON``, 0.01).

    Example:
        >>> keras.ops.convert_to_numpy(LabelSmoothing(4, epsilon=0.2)(np.array([1])))     # [B, C]
        array([[0.05, 0.85, 0.05, 0.05]], dtype=float32)
    """

    def __init__(self, num_classes, epsilon=methods.SMOOTHING_EPSILON):
        self.num_classes = checks.positive_int("num_classes", num_classes)
        self.epsilon = checks.finite_float("epsilon", epsilon, low=0.0, high=1.0, low_open=True)

    def transition_matrix(self):
        c = self.num_classes
        return ops.convert_to_tensor(((1.0 - self.epsilon) * np.eye(c) + self.epsilon / c).astype(np.float32))

    def get_config(self):
        return {"num_classes": self.num_classes, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="vdualib")
class ConfusionNoise(_TransitionNoise):
    """p~(y|x) = row y of a row-stochastic C x C matrix with positive entries, e.g. a reference
    model's confusion matrix on held-out data (see :func:`confusion_matrix`).

    Args:
        matrix: ``[C, C]``, rows summing to 1, entries > 0 (finite).
        num_classes: C, checked against the matrix when given.

    Example:
        >>> keras.ops.convert_to_numpy(ConfusionNoise([[0.9, 0.1], [0.2, 0.8]])(np.array([1])))     # [B, C]
        array([[0.2, 0.8]], dtype=float32)
    """

    def __init__(self, matrix, num_classes=None):
        self.matrix = checks.stochastic_matrix("the confusion matrix", matrix, num_classes, positive=True)
        self.num_classes = self.matrix.shape[0]

    def transition_matrix(self):
        return ops.convert_to_tensor(self.matrix.astype(np.float32))

    def get_config(self):
        return {"matrix": self.matrix.tolist()}


#: How a TeacherNoise config that names its teacher by path (files of earlier versions) gets that
#: teacher: ``None`` refuses the config; a function ``path -> keras.Model`` opens the file. Set for
#: the length of one load by :func:`opening_teacher_files`.
_TEACHER_OPENER = contextvars.ContextVar("vdualib_teacher_opener", default=None)


@contextlib.contextmanager
def opening_teacher_files(open_teacher):
    """Let TeacherNoise configs that name their teacher by path open it, in this context only.

    Model files of earlier versions stored a TeacherNoise's teacher as the path of its own
    ``.keras`` file. Loading such a file opens that second file only inside this context, with
    ``open_teacher``; everywhere else the config is refused, so loading a model never opens
    another file unasked. The teacher itself is opened with such configs refused again, so a
    file naming itself cannot recurse. :func:`vdualib.zoo.load` with ``teacher_files=True`` is the
    usual way in.

    Args:
        open_teacher: a function ``path -> keras.Model`` (e.g. ``vdualib.zoo.load``), or
            ``None`` to refuse teacher paths.

    Yields:
        ``None``; load the model file inside the ``with`` block.

    Raises:
        ValueError: ``open_teacher`` is neither callable nor ``None``.

    Example:
        >>> inputs = keras.Input((3,))
        >>> keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs)).save("teacher.keras")
        >>> teacher = vdualib.zoo.load("teacher.keras")
        >>> config = dict(TeacherNoise(teacher).get_config(), teacher="teacher.keras")     # as earlier versions saved it
        >>> TeacherNoise.from_config(config)
        Traceback (most recent call last):
        ...
        ValueError: ...names the teacher by path...
        >>> with opening_teacher_files(vdualib.zoo.load):     # or keras.saving.load_model("old-student.keras")
        ...     noise = TeacherNoise.from_config(config)
        >>> noise.teacher.output_shape
        (None, 2)
    """
    if open_teacher is not None and not callable(open_teacher):
        raise ValueError(f"open_teacher must be a function path -> keras.Model or None, got {open_teacher!r}.")
    token = _TEACHER_OPENER.set(open_teacher)
    try:
        yield
    finally:
        _TEACHER_OPENER.reset(token)


@keras.saving.register_keras_serializable(package="vdualib")
class TeacherNoise(_LabelNoise):
    """p~(y|x) from a teacher model's softmax, optionally tempered and mixed with uniform noise:
    p~ = (1 - epsilon) softmax(log p_teacher / temperature) + epsilon / C.

    ``teacher`` is a Keras model returning class probabilities (as a vdualib classifier's
    ``predict`` does, or a dict with a ``"probs"`` entry). Its parameters are not trained. A
    teacher in a file or the zoo is loaded first (``vdualib.zoo.load(path_or_name)``); a path given here is refused, so building a label noise opens no file.

    A model file holding a TeacherNoise is self-contained: the config keeps the teacher's
    architecture (never a path), and :class:`vdualib.models.IBClassifier` saves the teacher's
    weights beside its own, so loading reads that one file. A TeacherNoise rebuilt from its
    config alone has the architecture without the weights and refuses to run until the model
    file that holds it restores them. It needs the inputs x, so it is used through
    :class:`vdualib.models.IBClassifier`, which passes them. ``teacher=None`` makes a noise
    without a teacher (as files of earlier versions saved an in-memory one): using it is refused.

    Args:
        teacher: a ``keras.Model``, or ``None``.
        num_classes: C (optional; checked against the teacher's output).
        temperature: > 0.
        epsilon: uniform mixing weight in [0, 1]; > 0 for full support.

    Attributes:
        awaiting_weights: True for a noise rebuilt from its config until :meth:`restore_teacher`
            (called by the model file's loading) sets the teacher's weights.

    Raises:
        ValueError: a bad temperature, epsilon or num_classes, a teacher that is not a Keras
            model (a path included), or (from :meth:`from_config`) a config that names its
            teacher by path outside :func:`opening_teacher_files`.

    Example:
        >>> teacher = vdualib.zoo.load("mnist-deterministic-mlp")
        >>> tuple(TeacherNoise(teacher, epsilon=1e-3)(y_test[:4], x_test[:4]).shape)     # [B, C]
        (4, 10)
    """

    def __init__(self, teacher, num_classes=None, temperature=1.0, epsilon=1e-3):
        self.temperature = checks.finite_float("temperature", temperature, low=0.0, low_open=True)
        self.epsilon = checks.finite_float("epsilon", epsilon, low=0.0, high=1.0)
        self.num_classes = None if num_classes is None else checks.positive_int("num_classes", num_classes)
        self.awaiting_weights = False
        if isinstance(teacher, (str, os.PathLike)):
            raise ValueError(
                f"TeacherNoise takes the teacher model, not the path {os.fspath(teacher)!r}; load it first: "
                "TeacherNoise(vdualib.zoo.load(path_or_name))."
            )
        if isinstance(teacher, dict):
            # a serialized teacher (from a model file): the architecture; the weights follow
            teacher = keras.saving.deserialize_keras_object(teacher)
            self.awaiting_weights = True
        if teacher is not None and not isinstance(teacher, keras.Model):
            raise ValueError(
                f"teacher must be a keras.Model returning class probabilities; got {type(teacher).__name__}."
            )
        self.teacher = teacher

    @property
    def full_support(self):
        """Whether every p~(y|x) is positive: true when ``epsilon > 0``."""
        return self.epsilon > 0

    def restore_teacher(self, weights):
        """Set the teacher's weights (``teacher.get_weights()`` order), as a model file holds them.

        Args:
            weights: a list of numpy arrays.

        Raises:
            ValueError: there is no teacher, or the weights do not fit its architecture.

        Example:
            >>> teacher = vdualib.zoo.load("mnist-deterministic-mlp")
            >>> noise = TeacherNoise.from_config(TeacherNoise(teacher).get_config())     # as a model file rebuilds it
            >>> noise.awaiting_weights
            True
            >>> noise.restore_teacher(teacher.get_weights())
            >>> noise.awaiting_weights
            False
        """
        if self.teacher is None:
            raise ValueError("this TeacherNoise has no teacher to restore weights into.")
        expected = [tuple(w.shape) for w in self.teacher.weights]
        given = [tuple(np.shape(w)) for w in weights]
        if given != expected:
            raise ValueError(
                f"the saved teacher weights ({len(given)} arrays) do not fit the teacher's architecture "
                f"({len(expected)} variables); the file is damaged."
            )
        self.teacher.set_weights([np.asarray(w) for w in weights])
        self.awaiting_weights = False

    def __call__(self, labels, inputs=None):
        if self.teacher is None:
            raise ValueError(
                "this TeacherNoise has no teacher (a file of an earlier version saved it without one); "
                "build the model again with label_noise=TeacherNoise(teacher_model)."
            )
        if self.awaiting_weights:
            raise ValueError(
                "this TeacherNoise was rebuilt from a config, without its teacher's weights; load the model file "
                "that holds it (vdualib.zoo.load) or pass the teacher model again."
            )
        if inputs is None:
            raise ValueError("TeacherNoise needs the inputs x to run the teacher.")
        probs = self.teacher(inputs, training=False)
        if isinstance(probs, dict):
            probs = probs["probs"]
        probs = ops.stop_gradient(_float32(probs))
        if self.num_classes is not None and probs.shape[-1] not in (None, self.num_classes):
            raise ValueError(f"the teacher gives {probs.shape[-1]} classes, but num_classes is {self.num_classes}.")
        if self.temperature != 1.0:
            probs = ops.softmax(ops.log(probs + 1e-12) / self.temperature, axis=-1)
        num_classes = ops.cast(ops.shape(probs)[-1], "float32")
        return (1.0 - self.epsilon) * probs + self.epsilon / num_classes

    def get_config(self):
        teacher = None
        if self.teacher is not None:
            teacher = keras.saving.serialize_keras_object(self.teacher)
            teacher.pop("compile_config", None)  # the teacher is only run, never trained here
        return {
            "teacher": teacher,
            "num_classes": self.num_classes,
            "temperature": self.temperature,
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_config(cls, config):
        teacher = config.get("teacher")
        if isinstance(teacher, str):
            # files of earlier versions named the teacher by path: opened only where a load allows it
            open_teacher = _TEACHER_OPENER.get()
            if open_teacher is None:
                raise ValueError(
                    f"its TeacherNoise names the teacher by path ({teacher!r}) instead of holding it, as files saved "
                    "by earlier versions of vdualib did; loading a model opens no other file. To convert it, load it "
                    "once with vdualib.zoo.load(path, teacher_files=True), which opens that teacher file, and "
                    "save it again: the new file holds its teacher."
                )
            with opening_teacher_files(None):  # the teacher's own file may not open another one
                config = dict(config, teacher=open_teacher(teacher))
        return cls(**config)


_LABEL_NOISE = {"smoothing": LabelSmoothing, "confusion": ConfusionNoise, "teacher": TeacherNoise}


def get_label_noise(spec, num_classes, **kwargs):
    """A label-noise object from a name, a serialized config, or an object.

    Args:
        spec: ``"smoothing"`` (``epsilon=...``), ``"confusion"`` (``matrix=...``), ``"teacher"``
            (``teacher=...``), a dict (``keras.saving.serialize_keras_object`` form), an object,
            or ``None`` (gives ``None``).
        num_classes: C; an object made for another C is refused.
        **kwargs: constructor arguments for a name.

    Returns:
        A :class:`LabelSmoothing`, :class:`ConfusionNoise` or :class:`TeacherNoise` (the object
        itself when one is given), or ``None`` for ``spec=None``.

    Raises:
        ValueError: an unknown name, ``"confusion"`` without ``matrix``, ``"teacher"`` without
            ``teacher``, or an object made for another number of classes.

    Example:
        >>> noise = get_label_noise("smoothing", 10, epsilon=0.1)
        >>> type(noise).__name__, noise.num_classes, noise.epsilon
        ('LabelSmoothing', 10, 0.1)
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        spec = keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, str):
        if spec not in _LABEL_NOISE:
            raise ValueError(f"Unknown label noise {spec!r}; use one of {sorted(_LABEL_NOISE)} or a label-noise object.")
        if spec == "confusion" and "matrix" not in kwargs:
            raise ValueError("label_noise='confusion' needs matrix=... (see vdualib.losses.confusion_matrix).")
        if spec == "teacher" and "teacher" not in kwargs:
            raise ValueError("label_noise='teacher' needs teacher=<a Keras model returning probabilities>.")
        spec = _LABEL_NOISE[spec](num_classes=num_classes, **kwargs)
    if not isinstance(spec, _LabelNoise):
        raise ValueError(f"label_noise must be a name {sorted(_LABEL_NOISE)}, a config dict or an object, got {spec!r}.")
    if spec.num_classes is not None and num_classes is not None and spec.num_classes != num_classes:
        raise ValueError(
            f"the label noise {type(spec).__name__} is made for {spec.num_classes} classes, but the model has "
            f"{num_classes}; build it with num_classes={num_classes}."
        )
    return spec


def confusion_matrix(predictions, labels, num_classes, smoothing=1e-3):
    """Row-stochastic confusion matrix P[y, y'] = p(predicted y' | true y), mixed with uniform
    noise: (1 - smoothing) P + smoothing / C, so every entry is at least smoothing / C.

    Args:
        predictions: class probabilities ``[N, C]`` (rows averaged per true class) or integer
            predicted classes ``[N]`` (counted).
        labels: true classes ``[N]``.
        num_classes: C.
        smoothing: the uniform mixing weight, in (0, 1].

    Returns:
        float64 ``[C, C]``; a class with no example gets a uniform row.

    Raises:
        ValueError: fewer than two classes, no examples, mismatched lengths or shapes, labels or
            predicted classes outside [0, C), probabilities that are not probabilities (NaN,
            logits, rows not summing to 1), or a smoothing outside (0, 1].

    Example:
        >>> confusion_matrix([0, 1, 1, 1], [0, 0, 1, 1], 2, smoothing=0.1)
        array([[0.5 , 0.5 ],
               [0.05, 0.95]])
    """
    num_classes = checks.positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"confusion_matrix needs at least two classes, got num_classes={num_classes}.")
    smoothing = checks.finite_float("smoothing", smoothing, low=0.0, high=1.0, low_open=True)
    labels = checks.integer_labels("labels", labels, num_classes)
    predictions = np.asarray(predictions)
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels.")
    if not len(labels):
        raise ValueError("confusion_matrix needs at least one example; pass a non-empty validation split.")
    if predictions.ndim == 1:
        predictions = np.eye(num_classes)[checks.integer_labels("predictions", predictions, num_classes)]
    elif predictions.ndim == 2 and predictions.shape[1] == num_classes:
        predictions = checks.probability_rows("predictions", predictions)
    else:
        raise ValueError(f"predictions must be [N] classes or [N, {num_classes}] probabilities, got {predictions.shape}.")
    totals = np.zeros((num_classes, num_classes))
    np.add.at(totals, labels, predictions)
    counts = totals.sum(axis=1, keepdims=True)
    rows = np.where(counts > 0, totals / np.maximum(counts, 1e-300), 1.0 / num_classes)
    return (1 - smoothing) * rows + smoothing / num_classes


# ---------------------------------------------------------------------------------------------
# The objectives' distortions as Keras losses


class _BottleneckLoss(keras.losses.Loss):
    """Shared mechanics of :class:`VIBLoss` and :class:`DualIBLoss`.

    ``y_true``: integer labels ``[B]`` (or ``[B, 1]``), mapped to p~ by ``label_noise`` (one-hot
    without it), or probability vectors ``[B, C]`` (``label_noise`` then mixes them, p~ = p T).
    ``y_pred``: logits ``[B, C]`` or ``[S, B, C]`` for S encoder samples (per-sample distortions
    averaged over S). With ``warmup_weight`` lambda > 0 the loss adds lambda * H(p~, q), the
    cross-entropy warm-up of the dual IB reference code, annealed by
    :class:`vdualib.callbacks.DistortionWarmup`; ``get_config`` reports its current value.
    Values in nats, reduced by Keras' ``reduction`` over the batch.
    """

    def __init__(self, label_noise=None, warmup_weight=0.0, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(label_noise, dict):
            label_noise = keras.saving.deserialize_keras_object(label_noise)
        if isinstance(label_noise, TeacherNoise) or label_noise == "teacher":
            raise ValueError(
                "a Keras loss does not see the inputs x that TeacherNoise needs: pass the teacher's "
                "probabilities as y_true, or use vdualib.build_classifier(..., label_noise=TeacherNoise(...))."
            )
        if label_noise is not None and not isinstance(label_noise, (str, _LabelNoise)):
            raise ValueError(f"label_noise must be None, a name or a label-noise object, got {label_noise!r}.")
        if isinstance(label_noise, str) and label_noise != "smoothing":
            # a name carries no constructor arguments: only smoothing has usable defaults
            raise ValueError(
                f"label_noise={label_noise!r} by name needs arguments a loss cannot take; pass 'smoothing', "
                "LabelSmoothing(C, epsilon), ConfusionNoise(matrix) or None."
            )
        self.label_noise = label_noise
        self._noise = {}
        self.warmup_weight = keras.Variable(
            checks.finite_float("warmup_weight", warmup_weight, low=0.0), trainable=False, name="warmup_weight"
        )

    def _resolved_noise(self, num_classes):
        if self.label_noise is None or isinstance(self.label_noise, _LabelNoise):
            return get_label_noise(self.label_noise, num_classes)
        if num_classes not in self._noise:
            self._noise[num_classes] = get_label_noise(self.label_noise, num_classes)
        return self._noise[num_classes]

    def targets(self, y_true, num_classes):
        """p~(y|x) for ``y_true``, behind run-time checks of the labels or distributions.

        Args:
            y_true: a tensor of integer labels ``[B]`` (or ``[B, 1]``), or of probability
                vectors ``[B, C]``.
            num_classes: C.

        Returns:
            ``[B, C]`` probabilities: float32, except probability vectors without a label noise,
            which keep their dtype.
        """
        noise = self._resolved_noise(num_classes)
        if len(y_true.shape) == 2 and y_true.shape[-1] == num_classes and num_classes > 1:
            probs = checks.assert_probabilities(y_true)
            return probs if noise is None else noise.mix(probs)
        labels = checks.assert_labels(ops.reshape(y_true, (-1,)), num_classes)
        if noise is None:
            return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype="float32")
        return noise(labels)

    def current_warmup_weight(self, reference):
        """lambda, the warm-up weight, as a float32 scalar tensor read when the loss runs.

        On TensorFlow this is the variable itself (a ``tf.function`` reads it at every run). A
        JAX-compiled step reads a variable that is not part of the state the trainer passes in
        (a loss's variable is not) once, when it is traced; there the value is fetched from the
        variable at every run instead, so that :class:`vdualib.callbacks.DistortionWarmup`'s
        updates reach a compiled ``fit``. A variable that is part of the traced state is used
        as it is.

        Args:
            reference: a tensor of the computation (e.g. the logits): whether it is being traced
                by JAX decides how the weight is read.

        Returns:
            a float32 scalar tensor (dimensionless).
        """
        weight = self.warmup_weight.value
        if backend.name() == "jax":
            import jax

            if isinstance(reference, jax.core.Tracer) and not isinstance(weight, jax.core.Tracer):
                variable = self.warmup_weight
                return jax.pure_callback(
                    lambda: np.asarray(keras.ops.convert_to_numpy(variable.value), np.float32),
                    jax.ShapeDtypeStruct((), np.float32),
                )
        return ops.cast(weight, "float32")

    def _distortion(self, targets, logits):
        raise NotImplementedError

    def distortion(self, y_true, y_pred):
        """The distortion per example ``[B]`` (nats), averaged over samples, without the warm-up."""
        return self.terms(y_true, y_pred)[0]

    def terms(self, y_true, y_pred):
        """The two terms of the loss per example, each averaged over the S samples, in nats.

        The loss per example is ``distortion + warmup_weight * cross_entropy``; a trainer that
        logs the distortion as well as the loss computes p~ and both terms once with this.

        Args:
            y_true: labels ``[B]`` or distributions ``[B, C]`` (see the class docstring).
            y_pred: logits ``[B, C]`` or ``[S, B, C]``.

        Returns:
            ``(distortion, cross_entropy)``, float32 ``[B]`` each; ``cross_entropy`` is H(p~, q),
            the warm-up's term.

        Example:
            >>> logits = np.zeros((2, 10), "float32")     # [B, C] or [S, B, C]
            >>> distortion, warmup = DualIBLoss(label_noise="smoothing").terms([0, 2], logits)
            >>> keras.ops.convert_to_numpy(distortion), keras.ops.convert_to_numpy(warmup)
            (array([3.9153, 3.9153], dtype=float32), array([2.3026, 2.3026], dtype=float32))
        """
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) not in (2, 3):
            raise ValueError(f"y_pred must be logits [B, C] or [S, B, C], got shape {tuple(y_pred.shape)}.")
        logits = y_pred if len(y_pred.shape) == 3 else ops.expand_dims(y_pred, 0)
        targets = self.targets(ops.convert_to_tensor(y_true), logits.shape[-1])
        distortion = ops.mean(self._distortion(targets, logits), axis=0)
        return distortion, ops.mean(cross_entropy(targets, logits), axis=0)

    def call(self, y_true, y_pred):
        """The loss per example ``[B]`` in nats: ``distortion + warmup_weight * cross_entropy``."""
        distortion, warmup = self.terms(y_true, y_pred)
        return distortion + self.current_warmup_weight(distortion) * warmup

    def get_config(self):
        config = super().get_config()
        noise = self.label_noise
        config.update(
            label_noise=keras.saving.serialize_keras_object(noise) if isinstance(noise, _LabelNoise) else noise,
            warmup_weight=float(ops.convert_to_numpy(self.warmup_weight)),
        )
        return config


@keras.saving.register_keras_serializable(package="vdualib")
class VIBLoss(_BottleneckLoss):
    """The VIB distortion: the cross-entropy H(p~, q) = -sum_y p~(y|x) log q(y|z), in nats.

    With ``label_noise=None`` p~ is the one-hot label (plain cross-entropy); with a label noise
    it is the noisy label (the dual IB paper's VIB baseline trains on the same p~ as the
    VdualIB). Add the rate with a :class:`vdualib.layers.GaussianEncoder` (``beta > 0``).

    Args:
        label_noise: ``None``, ``"smoothing"``, a :class:`LabelSmoothing` or
            :class:`ConfusionNoise` (or a serialized one).
        warmup_weight: lambda_0 of an optional extra cross-entropy term (see the base).
        reduction, name, dtype: as for every Keras loss.

    Example:
        >>> loss = VIBLoss()
        >>> float(loss([0, 2], np.zeros((2, 10))))     # logits [2, C] or [S, 2, C]; nats: log 10
        2.3026
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)])     # logits
        >>> model.compile("adam", loss=VIBLoss(label_noise=LabelSmoothing(10, 0.1)))
    """

    def __init__(self, label_noise=None, warmup_weight=0.0, reduction="sum_over_batch_size", name="vib_loss", dtype=None):
        super().__init__(label_noise, warmup_weight, reduction=reduction, name=name, dtype=dtype)

    def _distortion(self, targets, logits):
        return cross_entropy(targets, logits)


@keras.saving.register_keras_serializable(package="vdualib")
class DualIBLoss(_BottleneckLoss):
    """The dual IB distortion KL(q(y|z) || p~(y|x)) = sum_y q log(q / p~), in nats.

    p~ must have full support (KL(q || one-hot) is infinite): with integer labels a label noise
    is required, by default the method table's (``vdualib.methods``: label smoothing with
    epsilon = ``vdualib.methods.SMOOTHING_EPSILON``). Minimised over q for a fixed x, the expected
    distortion E_y[KL(q || p~_y)] gives the normalised geometric mean of the p~_y (the dual IB
    decoder), where the VIB's cross-entropy gives their arithmetic mean.

    Args:
        label_noise: ``"smoothing"`` (default), a :class:`LabelSmoothing` or
            :class:`ConfusionNoise` (or a serialized one); ``None`` only for full-support
            probability vectors as ``y_true``.
        warmup_weight: lambda_0 of the cross-entropy warm-up lambda_t H(p~, q) of the dual IB
            reference code; anneal it with :class:`vdualib.callbacks.DistortionWarmup`.
        reduction, name, dtype: as for every Keras loss.

    Example:
        >>> matrix = 0.9 * np.eye(10) + 0.01     # rows sum to 1
        >>> loss = DualIBLoss(label_noise=ConfusionNoise(matrix), warmup_weight=0.1)
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)])     # logits
        >>> model.compile("adam", loss=loss)
        >>> x, y = np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 10
        >>> history = model.fit(x, y, verbose=0, callbacks=[vdualib.callbacks.DistortionWarmup(0.1, steps=4000)])
        >>> bool(np.isfinite(history.history["loss"][0]))
        True
    """

    def __init__(
        self,
        label_noise=methods.get("dualib").default_label_noise,
        warmup_weight=0.0,
        reduction="sum_over_batch_size",
        name="dualib_loss",
        dtype=None,
    ):
        super().__init__(label_noise, warmup_weight, reduction=reduction, name=name, dtype=dtype)
        if isinstance(self.label_noise, _LabelNoise) and not self.label_noise.full_support:
            raise ValueError("DualIBLoss needs a label noise with full support (p~ > 0 for every class).")

    def targets(self, y_true, num_classes):
        if self.label_noise is None and not (len(y_true.shape) == 2 and y_true.shape[-1] == num_classes):
            raise ValueError(
                "DualIBLoss with label_noise=None needs full-support probability vectors as y_true; with integer "
                "labels give a label noise (KL(q || one-hot) is infinite)."
            )
        targets = super().targets(y_true, num_classes)
        if self.label_noise is None:
            # a run-time assertion of the backend, as vdualib.checks' assert_* make them
            assertions = checks._ops_for(targets)
            targets = assertions.checked(
                targets,
                [(
                    assertions.all(targets > 0),
                    ["DualIBLoss: y_true has zero probabilities; KL(q || p~) would be infinite. Smallest:",
                     assertions.min(targets)],
                )],
            )
        return targets

    def _distortion(self, targets, logits):
        return dual_distortion(targets, logits)


def loss_class(method):
    """The ``keras.losses.Loss`` subclass of a method's objective (the method table's ``loss``).

    Args:
        method: a method name (``"deterministic"``, ``"vib"``, ``"dualib"``) or a
            :class:`vdualib.methods.Method`.

    Returns:
        :class:`VIBLoss` or :class:`DualIBLoss`.

    Raises:
        ValueError: an unknown method.

    Example:
        >>> loss_class("dualib")
        <class 'vdualib.losses.DualIBLoss'>
    """
    return {"VIBLoss": VIBLoss, "DualIBLoss": DualIBLoss}[methods.get(method).loss]


registration.register()  # the other serializable modules, now that this one is complete
