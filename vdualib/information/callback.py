"""``InformationPlane``: a Keras 3 callback recording the information plane and gradient signal-to-noise.

On each recorded epoch the callback

1. runs one batched forward pass over a fixed data set (x, y) through a probe
   model that outputs the watched layers, hands each batch's activations to the
   estimator's ``summarize`` (bin codes for binning, so float activations of a
   big set are never all held) and then estimates I(X;T) and I(T;Y) per layer;
2. optionally (``gradient_stats=True``) runs a separate pass of per-batch
   gradients of the batch-mean loss over ``gradient_data`` (default: the same
   fixed set; pass the training set to measure the training gradient), in mini-batches of
   ``gradient_batch_size``, with ``tf.GradientTape`` on each watched layer's
   trainable weights. This is a measurement pass, not a hook on the optimizer:
   it sees the weights as they are at the end of the epoch, costs one extra
   forward+backward pass over the set, and leaves training untouched. With
   g_b the flattened gradient of a layer on batch b (B batches),

       grad_mean = || mean_b g_b ||,
       grad_std  = sqrt( trace Cov_b(g) ) = sqrt( mean_b || g_b - mean_b g ||^2 ),
       snr       = grad_mean / grad_std,

   the drift phase of Shwartz-Ziv & Tishby has snr > 1 and the diffusion
   phase snr < 1.

The rows (epoch, layer, ixt, ity, grad_mean, grad_std, snr, ...) are in
``callback.rows`` and the wall time spent measuring in ``callback.seconds``;
``callback.save(path)`` writes them as CSV or JSON and
:func:`vdualib.information.table.load_table` reads them back. ``epoch`` counts
completed epochs; epoch 0 (before training) is recorded at ``on_train_begin``
if scheduled and not yet recorded. Information is in bits (``units="bits"``) unless ``units="nats"``; gradient
statistics are in the loss's units (nats for cross-entropy) per weight unit.

Example:
    >>> from vdualib.datasets import load_ib_12bit
    >>> from vdualib.information.network import build_mlp
    >>> x, y = load_ib_12bit()
    >>> model = build_mlp(12, seed=0)
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> plane = InformationPlane(x[:512], y[:512], gradient_stats=True)   # binning over observed ranges
    >>> history = model.fit(x, y, epochs=2, batch_size=512, verbose=0, callbacks=[plane])
    >>> plane.save("plane.csv")
    >>> [(row["epoch"], row["layer"]) for row in plane.rows][:2]
    [(0, 'hidden_1'), (0, 'hidden_2')]
    >>> list(plane.rows[0])[:7]
    ['epoch', 'layer', 'ixt', 'ity', 'grad_mean', 'grad_std', 'snr']
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from vdualib import checks
from vdualib.information.binning import BinningEstimator
from vdualib.information.kde import KDEEstimator
from vdualib.information.table import save_table
from vdualib.information.units import check_units

__all__ = ["InformationPlane", "epoch_schedule", "watched_layers"]

_WATCHED_TYPES = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def epoch_schedule(num_epochs, every_epoch_until=20, points_per_decade=30):
    """Epochs to record: 0, 1, ..., ``every_epoch_until``, then about
    ``points_per_decade`` log-spaced epochs per decade up to ``num_epochs`` (always included).

    Args:
        num_epochs: the last epoch, >= 0.
        every_epoch_until: record every epoch up to this one, >= 0.
        points_per_decade: log-spaced epochs per decade after that, >= 1.

    Returns:
        A sorted list of ints.

    Raises:
        ValueError: a negative count or ``points_per_decade < 1``.

    Example:
        >>> epoch_schedule(100, every_epoch_until=20, points_per_decade=5)[-5:]
        [20, 30, 45, 67, 100]
    """
    if num_epochs < 0 or every_epoch_until < 0 or points_per_decade < 1:
        raise ValueError("epoch_schedule needs num_epochs >= 0, every_epoch_until >= 0 and points_per_decade >= 1.")
    epochs = set(range(min(num_epochs, every_epoch_until) + 1))
    if num_epochs > every_epoch_until:
        start = max(every_epoch_until, 1)
        count = max(2, int(math.ceil(points_per_decade * math.log10(num_epochs / start))) + 1)
        epochs.update(int(round(e)) for e in np.geomspace(start, num_epochs, count))
    epochs.add(num_epochs)
    return sorted(epochs)


def watched_layers(model, layers=None):
    """The layers to watch: the given names/layers, or every top-level Dense/EinsumDense/Conv layer of ``model``.

    Args:
        model: a built ``keras.Model``.
        layers: layer names or layer objects, or ``None`` for every top-level Dense/EinsumDense/Conv layer.

    Returns:
        A list of ``keras.layers.Layer``.

    Raises:
        ValueError: an unknown name, an empty list, or a model without such layers.

    Example:
        >>> from vdualib.information.network import build_mlp
        >>> [layer.name for layer in watched_layers(build_mlp(12, widths=(10, 7)))]
        ['hidden_1', 'hidden_2', 'output']
    """
    if layers is None:
        found = [layer for layer in model.layers if isinstance(layer, _WATCHED_TYPES)]
        if not found:
            raise ValueError("the model has no Dense or Conv layer to watch; pass layers=[...] explicitly.")
        return found
    resolved = []
    for layer in layers:
        if isinstance(layer, str):
            try:
                layer = model.get_layer(layer)
            except ValueError as error:
                raise ValueError(f"no layer named {layer!r} in the model; choose from {[l.name for l in model.layers]}.") from error
        resolved.append(layer)
    if not resolved:
        raise ValueError("layers is empty; pass None to watch every Dense/Conv layer.")
    return resolved


def _resolve_estimator(estimator):
    if estimator == "binning":
        return BinningEstimator()
    if estimator == "kde":
        return KDEEstimator(noise_variance=1e-3)
    if hasattr(estimator, "summarize") and hasattr(estimator, "information"):
        return estimator
    raise ValueError(
        "estimator must be 'binning', 'kde', or an object with summarize(activations) and "
        f"information(summaries, labels, units) such as BinningEstimator(...); got {estimator!r}."
    )


class InformationPlane(keras.callbacks.Callback):
    """Record I(X;T), I(T;Y) and gradient signal-to-noise per watched layer on scheduled epochs.

    Args:
        x, y: the fixed data set (numpy). ``y`` holds integer class ids or
            one-hot rows; it is also the target of the gradient pass, so give it
            in the form the model's loss expects.
        layers: layer names or layers to watch; default every Dense/Conv layer
            (their outputs include the activation).
        estimator: ``"binning"`` (30 bins over each layer's observed range at each
            recording; for a bounded activation pass ``BinningEstimator(30, (-1, 1))``
            so that every epoch shares the bins), ``"kde"`` (noise
            variance 1e-3, the value of Saxe et al.'s code) or an estimator instance (``BinningEstimator``,
            ``KDEEstimator``).
        epochs: the epochs to record (completed-epoch counts), or ``None`` for
            :func:`epoch_schedule` over the ``epochs`` given to ``fit``.
        gradient_stats: also record grad_mean, grad_std and snr.
        gradient_data: ``(x, y)`` for the gradient pass; default the fixed set.
            Only full mini-batches are used (the remainder is dropped).
        loss: loss for the gradient pass, default the compiled ``model.loss``.
        batch_size: batch size of the forward pass.
        gradient_batch_size: mini-batch size of the gradient pass.
        units: ``"bits"`` or ``"nats"`` for the information values.
        verbose: print one line per recorded epoch.

    Example:
        >>> from vdualib.datasets import load_ib_12bit
        >>> from vdualib.information.network import build_mlp
        >>> x, y = load_ib_12bit()
        >>> model = build_mlp(12, widths=(10, 7), seed=0)
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> plane = InformationPlane(x, y, estimator=BinningEstimator(30, (-1, 1)))
        >>> history = model.fit(x, y, epochs=3, batch_size=512, verbose=0, callbacks=[plane])
        >>> plane.save("plane.csv")     # one row per (epoch, layer); ixt, ity in bits
        >>> len(plane.rows), sorted({row["epoch"] for row in plane.rows})
        (12, [0, 1, 2, 3])
    """

    def __init__(
        self,
        x,
        y,
        layers=None,
        estimator="binning",
        epochs=None,
        gradient_stats=False,
        gradient_data=None,
        loss=None,
        batch_size=1024,
        gradient_batch_size=128,
        units="bits",
        verbose=0,
    ):
        super().__init__()
        x, y = np.asarray(x), np.asarray(y)
        if x.shape[0] != y.shape[0] or x.shape[0] < 2:
            raise ValueError(f"x and y must hold the same number (>= 2) of examples; got {x.shape[0]} and {y.shape[0]}.")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise ValueError("x contains NaN or infinite values; clean or drop them.")
        batch_size = checks.positive_int("batch_size", batch_size)
        gradient_batch_size = checks.positive_int("gradient_batch_size", gradient_batch_size)
        gradient_x, gradient_y = (x, y) if gradient_data is None else (np.asarray(v) for v in gradient_data)
        if gradient_x.shape[0] != gradient_y.shape[0]:
            raise ValueError(f"gradient_data x and y differ in length: {gradient_x.shape[0]} and {gradient_y.shape[0]}.")
        if gradient_stats and gradient_x.shape[0] < 2 * gradient_batch_size:
            raise ValueError(
                f"gradient statistics need at least two mini-batches: lower gradient_batch_size "
                f"(now {gradient_batch_size}) below N / 2 = {gradient_x.shape[0] // 2}."
            )
        self.x, self.y = x, y
        self.gradient_x, self.gradient_y = gradient_x, gradient_y
        self.labels = checks.class_labels("y", y, size=x.shape[0])
        self.layer_spec = layers
        self.estimator = _resolve_estimator(estimator)
        self.epochs = None if epochs is None else sorted({int(e) for e in epochs})
        self.gradient_stats = gradient_stats
        self.loss = loss
        self.batch_size = int(batch_size)
        self.gradient_batch_size = int(gradient_batch_size)
        self.units = check_units(units)
        self.verbose = verbose
        self.rows = []
        self._recorded_epochs = set()
        self.seconds = 0.0  # wall time spent in record(): the callback's cost to training
        self._probe = None

    # -- keras hooks ---------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._layers = watched_layers(self.model, self.layer_spec)
        try:
            outputs = [layer.output for layer in self._layers]
        except (AttributeError, ValueError) as error:
            raise ValueError(
                "InformationPlane needs a functional or Sequential model whose layers have symbolic outputs; "
                "build the model (call it on an Input) first."
            ) from error
        inputs = self.model.inputs
        self._probe = keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs)
        self._forward = tf.function(lambda batch: self._probe(batch, training=False))
        if self.gradient_stats:
            frozen = [layer.name for layer in self._layers if not layer.trainable_weights]
            if frozen:
                raise ValueError(f"gradient_stats=True needs trainable weights; layers {frozen} have none: watch other layers.")
            self._loss_fn = self._resolve_loss()
            self._gradient_moments, self._num_gradient_batches = self._build_gradient_pass()
        self._schedule = set(self.epochs if self.epochs is not None else epoch_schedule(self.params.get("epochs") or 0))
        self._record_if_scheduled(0)

    def on_epoch_end(self, epoch, logs=None):
        # Keras counts epochs from ``initial_epoch``, so a resumed fit() continues the count.
        self._record_if_scheduled(epoch + 1)

    # -- measurement ---------------------------------------------------------
    def _record_if_scheduled(self, epoch):
        if epoch in self._schedule and epoch not in self._recorded_epochs:
            self.record(epoch)

    def _resolve_loss(self):
        loss = self.loss if self.loss is not None else getattr(self.model, "loss", None)
        if loss is None:
            raise ValueError("gradient_stats=True needs a loss: compile the model or pass loss=... to InformationPlane.")
        return keras.losses.get(loss) if isinstance(loss, str) else loss

    def _batch_gradients(self, x, y):
        with tf.GradientTape() as tape:
            # mean over the batch whether the loss returns a scalar or per-example values.
            loss = tf.reduce_mean(self._loss_fn(y, self.model(x, training=False)))
        weights = [layer.trainable_weights for layer in self._layers]
        gradients = tape.gradient(loss, weights)
        return [tf.concat([tf.reshape(g, [-1]) for g in layer_grads], axis=0) for layer_grads in gradients]

    def activation_information(self):
        """One forward pass over the fixed set; returns a list (per layer) of estimator dicts.

        Returns:
            A list with one dict per watched layer, from the estimator's ``information``: at least
            ``ixt`` and ``ity``, in ``self.units``.

        Example:
            >>> from vdualib.datasets import load_ib_12bit
            >>> from vdualib.information.network import build_mlp, fit_in_segments
            >>> x, y = load_ib_12bit()
            >>> plane = InformationPlane(x, y)
            >>> history = fit_in_segments(build_mlp(12, widths=(10, 7)), x, y, stops=[0], callbacks=[plane])
            >>> [round(d["ixt"], 2) for d in plane.activation_information()]     # bits, one per layer
            [12.0, 12.0, 4.56]
        """
        summaries = [[] for _ in self._layers]
        for start in range(0, self.x.shape[0], self.batch_size):
            outputs = self._forward(self.x[start : start + self.batch_size])
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for summary, activations in zip(summaries, outputs):
                summary.append(self.estimator.summarize(np.asarray(activations)))
        return [self.estimator.information(summary, self.labels, units=self.units) for summary in summaries]

    def _build_gradient_pass(self):
        """One ``tf.function`` summing per-batch gradients and their squared norms over all mini-batches."""
        batch = self.gradient_batch_size
        num_batches = self.gradient_x.shape[0] // batch  # equal-size batches only; the remainder is dropped
        x = tf.constant(self.gradient_x[: num_batches * batch])
        y = tf.constant(self.gradient_y[: num_batches * batch])
        sizes = [sum(int(np.prod(w.shape)) for w in layer.trainable_weights) for layer in self._layers]

        @tf.function
        def moments():
            sums = [tf.zeros([size], tf.float64) for size in sizes]
            squares = [tf.zeros([], tf.float64) for _ in sizes]
            for b in tf.range(num_batches):
                gradients = self._batch_gradients(x[b * batch : (b + 1) * batch], y[b * batch : (b + 1) * batch])
                gradients = [tf.cast(g, tf.float64) for g in gradients]
                sums = [s + g for s, g in zip(sums, gradients)]
                squares = [q + tf.reduce_sum(tf.square(g)) for q, g in zip(squares, gradients)]
            return sums, squares

        return moments, num_batches

    def gradient_statistics(self):
        """Per layer (grad_mean, grad_std, snr) over mini-batches of ``gradient_data`` (see the module doc).

        Returns:
            A list with one ``(grad_mean, grad_std, snr)`` tuple of floats per watched layer: the norm of
            the mean gradient, the root-mean-square deviation from it, and their ratio (``inf`` when
            grad_std is 0).

        Example:
            >>> from vdualib.datasets import load_ib_12bit
            >>> from vdualib.information.network import build_mlp, fit_in_segments
            >>> x, y = load_ib_12bit()
            >>> plane = InformationPlane(x, y, gradient_stats=True)
            >>> history = fit_in_segments(build_mlp(12, widths=(10, 7)), x, y, stops=[0], callbacks=[plane])
            >>> grad_mean, grad_std, snr = plane.gradient_statistics()[0]
            >>> bool(snr == grad_mean / grad_std)
            True
        """
        sums, squares = self._gradient_moments()
        statistics = []
        for total, total_squared in zip(sums, squares):
            mean = np.asarray(total) / self._num_gradient_batches
            grad_mean = float(np.linalg.norm(mean))
            grad_std = math.sqrt(max(float(total_squared) / self._num_gradient_batches - grad_mean**2, 0.0))
            snr = grad_mean / grad_std if grad_std > 0 else math.inf
            statistics.append((grad_mean, grad_std, snr))
        return statistics

    def record(self, epoch):
        """Measure now and append one row per watched layer for ``epoch``.

        Args:
            epoch: the completed-epoch count to store in the rows.

        Example:
            >>> from vdualib.datasets import load_ib_12bit
            >>> from vdualib.information.network import build_mlp, fit_in_segments
            >>> x, y = load_ib_12bit()
            >>> plane = InformationPlane(x, y, epochs=[10])
            >>> history = fit_in_segments(build_mlp(12, widths=(10, 7)), x, y, stops=[0], callbacks=[plane])
            >>> len(plane.rows)     # epoch 0 is not scheduled
            0
            >>> plane.record(0)     # before training; fit records the scheduled epochs itself
            >>> [(row["epoch"], row["layer"]) for row in plane.rows]
            [(0, 'hidden_1'), (0, 'hidden_2'), (0, 'output')]
        """
        start = time.perf_counter()
        self._recorded_epochs.add(int(epoch))
        information = self.activation_information()
        gradients = self.gradient_statistics() if self.gradient_stats else [(math.nan,) * 3] * len(self._layers)
        for layer, info, (grad_mean, grad_std, snr) in zip(self._layers, information, gradients):
            row = {"epoch": int(epoch), "layer": layer.name, "ixt": info["ixt"], "ity": info["ity"]}
            row.update(grad_mean=grad_mean, grad_std=grad_std, snr=snr)
            row.update({key: value for key, value in info.items() if key not in ("ixt", "ity")})
            self.rows.append(row)
        self.seconds += time.perf_counter() - start
        if self.verbose:
            summary = ", ".join(f"{layer.name}: ({info['ixt']:.2f}, {info['ity']:.2f})" for layer, info in zip(self._layers, information))
            print(f"InformationPlane epoch {epoch}: (I(X;T), I(T;Y)) [{self.units}] {summary}")

    def save(self, path):
        """Write the rows to ``path`` (.csv or .json); reload with ``table.load_table``.

        Args:
            path: a ``.csv`` or ``.json`` path, written atomically.

        Raises:
            ValueError: another extension.

        Example:
            >>> from vdualib.datasets import load_ib_12bit
            >>> from vdualib.information.network import build_mlp, fit_in_segments
            >>> x, y = load_ib_12bit()
            >>> plane = InformationPlane(x, y)
            >>> history = fit_in_segments(build_mlp(12, widths=(10, 7)), x, y, stops=[0], callbacks=[plane])
            >>> plane.save("plane.json")
            >>> os.path.isfile("plane.json")
            True
        """
        save_table(self.rows, path)
