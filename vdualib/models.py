"""Backbones and the bottlenecked classifier.

``build_classifier`` wires ``backbone -> GaussianEncoder -> z samples -> decoder -> logits``
into an :class:`IBClassifier`, a ``keras.Model`` that trains with plain ``compile`` + ``fit``:

    model = vdualib.build_classifier("mlp", 10, method="dualib", beta=1e-3)
    model.compile(optimizer="adam")
    model.fit(x_train, y_train, epochs=1, batch_size=100)
    probs = model.predict(x_test)          # [N, C], mean of softmax over num_samples draws of z

Methods (:mod:`vdualib.methods`; the same network, only the bottleneck and the objective differ):

* ``"deterministic"``: z = mu(x), loss = cross-entropy (:class:`~vdualib.losses.VIBLoss`).
* ``"vib"``: loss = E_z[H(p~, q(y|z))] + beta * KL(e(z|x) || r(z)), p~ one-hot unless a label
  noise is given.
* ``"dualib"``: loss = E_z[KL(q(y|z) || p~(y|x))] + beta * KL(e(z|x) || r(z))
  (:class:`~vdualib.losses.DualIBLoss`).

The classifier is assembled from the same pieces a user can put in any Keras model: the
:class:`~vdualib.layers.GaussianEncoder` and its prior give the rate, the method's loss the
distortion; the model adds the two in its ``compute_loss``, which runs on every Keras backend
(TensorFlow and JAX), so the labels reach a class-conditional prior there.

``beta`` multiplies the rate (the VIB convention; the IB papers' beta is its inverse).
``fit`` and ``evaluate`` log, in nats: ``loss``, ``rate`` (an upper bound on I(X;Z)),
``distortion`` (the method's own distortion) and ``izy`` (the lower bound
H(Y) - E[-log q(y|z)] on I(Z;Y), with H(Y) from ``class_prior``, uniform by default), and the
compiled metrics (``accuracy`` by default) on the Monte Carlo averaged probabilities.

Models take raw images as :func:`vdualib.datasets.load` returns them: whole pixel values 0..255
(uint8, or integer/float arrays holding whole numbers in that range); images scaled to [0, 1] and
values outside 0..255 are refused, also inside ``tf.data`` pipelines. Preprocessing
(x / 127.5 - 1) is inside the built-in backbones. Calling the model, ``model(x)``, returns a dict
of tensors (``probs``, ``logits`` [S, B, C], ``z``, ``mu`` and, for stochastic methods,
``sigma``); ``predict`` returns the probabilities only.
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf  # tf.data inputs, which Keras takes on every backend
from keras import ops

from vdualib import backend, checks, methods, registration
from vdualib import layers as vlayers
from vdualib import losses as vlosses
from vdualib.metrics import ExpectedCalibrationError  # noqa: F401  (registered for loading compiled models)

__all__ = ["BACKBONES", "build_backbone", "build_classifier", "IBClassifier"]


# ---------------------------------------------------------------------------------------------
# Backbones: functional keras.Models from raw uint8 images to a feature vector


def _inputs(input_shape, name="images"):
    return keras.Input(shape=tuple(input_shape), dtype="uint8", name=name)


def _rescale(x):
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)


def _widen(sizes, width):
    """Layer sizes times the width multiplier, rounded (at least 1)."""
    width = checks.finite_float("width", width, low=0.0, low_open=True)
    return tuple(max(1, int(round(n * width))) for n in sizes)


def mlp_backbone(input_shape=(28, 28), units=(1024, 1024), width=1):
    """The VIB paper's MNIST encoder trunk: flatten, then Dense(1024, relu) x 2 (times ``width``)."""
    inputs = _inputs(input_shape)
    x = _rescale(keras.layers.Flatten(name="flatten")(inputs))
    for i, n in enumerate(_widen(units, width)):
        x = keras.layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
    return keras.Model(inputs, x, name="mlp")


def convnet_backbone(input_shape=(28, 28), filters=(32, 64, 128), units=256, dropout=0.3, width=1):
    """A small CNN for 28 x 28 images: per stage a 3x3 convolution + batch norm + relu and 2x2
    max pooling (none after the last stage), global average pooling, then Dense(units, relu)
    with dropout. ``width`` multiplies the filters and units."""
    filters = _widen(filters, width)
    (units,) = _widen((units,), width)
    if len(input_shape) not in (2, 3):
        raise ValueError(f"convnet needs images (H, W) or (H, W, C), got input_shape {input_shape}.")
    inputs = _inputs(input_shape)
    x = inputs
    if len(input_shape) == 2:
        x = keras.layers.Reshape(tuple(input_shape) + (1,), name="add_channel")(x)
    x = _rescale(x)
    for stage, n in enumerate(filters):
        x = keras.layers.Conv2D(n, 3, padding="same", use_bias=False, name=f"conv{stage}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{stage}")(x)
        x = keras.layers.ReLU(name=f"relu{stage}")(x)
        if stage < len(filters) - 1:
            x = keras.layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(units, activation="relu", name="dense")(x)
    return keras.Model(inputs, x, name="convnet")


def resnet20_backbone(input_shape=(32, 32, 3), depth=20, weight_decay=1e-4, width=1):
    """ResNet-20 for CIFAR (He et al. 2016): a 3x3 conv, three stages of (depth - 2) / 6 basic
    blocks with 16, 32, 64 filters (times ``width``; stride 2 between stages, 1x1 projection
    shortcuts), global average pooling to 64 features.

    The backbone carries a weight decay of its own: a coupled L2 kernel regulariser on each of its
    convolutions (He et al.'s 1e-4 by default), whose terms ``weight_decay * sum(w^2)`` reach the
    loss through ``model.losses``. If your optimizer decays the weights as well (``AdamW``,
    ``SGD(weight_decay=...)``), pass ``weight_decay=0`` here, or the kernels are decayed twice.
    Models built from a recipe (:func:`vdualib.training.build_from_recipe`) take it from the
    recipe's ``backbone_l2``, which is 0 in every recipe.

    Args:
        input_shape: ``(H, W, C)`` of the uint8 images.
        depth: 6n + 2 layers (20 for ResNet-20).
        weight_decay: the L2 factor on the convolution kernels (a loss term, nats); 0 = none.
        width: a multiplier of the filters.

    Returns:
        A functional ``keras.Model`` from images ``[B, H, W, C]`` (uint8) to features ``[B, 64 * width]``.

    Example:
        >>> backbone = resnet20_backbone(weight_decay=0)     # for an optimizer with decoupled decay
        >>> backbone.input_shape, backbone.output_shape
        ((None, 32, 32, 3), (None, 64))
    """
    stem, *stages = _widen((16, 16, 32, 64), width)
    if len(input_shape) != 3:
        raise ValueError(f"resnet20 needs images (H, W, C), got input_shape {input_shape}.")
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2, got {depth}.")
    blocks = (depth - 2) // 6
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None

    def conv(x, filters, kernel, stride, name):
        return keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=name,
        )(x)

    def bn(x, name):
        return keras.layers.BatchNormalization(name=name)(x)

    inputs = _inputs(input_shape)
    x = keras.layers.ReLU(name="stem_relu")(bn(conv(_rescale(inputs), stem, 3, 1, "stem_conv"), "stem_bn"))
    for stage, filters in enumerate(stages):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            name = f"s{stage}b{block}"
            y = keras.layers.ReLU(name=f"{name}_relu1")(bn(conv(x, filters, 3, stride, f"{name}_conv1"), f"{name}_bn1"))
            y = bn(conv(y, filters, 3, 1, f"{name}_conv2"), f"{name}_bn2")
            if stride != 1 or x.shape[-1] != filters:
                x = bn(conv(x, filters, 1, stride, f"{name}_proj"), f"{name}_proj_bn")
            x = keras.layers.ReLU(name=f"{name}_relu2")(keras.layers.Add(name=f"{name}_add")([x, y]))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, x, name="resnet20")


BACKBONES = {
    "mlp": (mlp_backbone, (28, 28)),
    "convnet": (convnet_backbone, (28, 28)),
    "resnet20": (resnet20_backbone, (32, 32, 3)),
}


def build_backbone(name, input_shape=None, **kwargs):
    """A built-in backbone by name (``mlp``, ``convnet``, ``resnet20``) for ``input_shape``.

    Args:
        name: ``"mlp"``, ``"convnet"`` or ``"resnet20"`` (the keys of ``BACKBONES``).
        input_shape: the image shape without the batch axis (default: ``(28, 28)`` for
            mlp/convnet, ``(32, 32, 3)`` for resnet20); positive integers.
        **kwargs: options of the backbone's factory (e.g. ``units``, ``width``).

    Returns:
        A functional ``keras.Model`` from raw uint8 images ``[B, *input_shape]`` to flat features
        ``[B, d]`` (preprocessing included).

    Raises:
        ValueError: an unknown name or a bad ``input_shape``.

    Example:
        >>> build_backbone("mlp", units=(256,)).output_shape
        (None, 256)
    """
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; use one of {sorted(BACKBONES)} or pass a keras.Model.")
    factory, default_shape = BACKBONES[name]
    shape = checks.shape("input_shape", input_shape) if input_shape is not None else default_shape
    return factory(shape, **kwargs)


# ---------------------------------------------------------------------------------------------
# The classifier


def _target_signature(x, y):
    """``"rank:floating"`` of the targets ``y`` (or of a dataset's second element), or ``None``."""
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            return None
        target = spec[1]
        return f"{target.shape.rank}:{target.dtype.is_floating}"
    if y is None or not hasattr(y, "shape") or not hasattr(y, "dtype"):
        return None
    return f"{len(y.shape)}:{_is_floating(y)}"


def _is_floating(tensor):
    """Whether a tensor or array (of any backend) holds floating-point values."""
    return "float" in keras.backend.standardize_dtype(tensor.dtype)


def _is_distribution_targets(y, num_classes):
    """Whether targets ``y`` are probability vectors ``[B, C]`` (not class indices)."""
    return len(y.shape) == 2 and y.shape[-1] == num_classes and _is_floating(y)


class _StopOnNonFiniteWeights(keras.callbacks.Callback):
    """Stop ``fit`` at the end of an epoch whose updates left a weight NaN or infinite (a
    ``ValueError`` naming the variables), before later callbacks save that epoch."""

    def on_epoch_end(self, epoch, logs=None):
        checks.finite_variables(self.model.weights, f"after epoch {epoch + 1}, model {self.model.name!r}")


@keras.saving.register_keras_serializable(package="vdualib")
class IBClassifier(keras.Model):
    """A classifier with an information bottleneck: see the module docstring.

    Assembled from the library's pieces: ``backbone -> GaussianEncoder(prior, beta) -> decoder``,
    its objective the method's loss (:class:`~vdualib.losses.VIBLoss` or
    :class:`~vdualib.losses.DualIBLoss`, from :mod:`vdualib.methods`) on p~(y|x) from
    ``label_noise``, and its rate KL(e(z|x) || r(z)) from the encoder's prior, added in
    :meth:`compute_loss`. Build it with
    :func:`build_classifier`. Inference helpers, all batched and returning numpy arrays:
    :meth:`predict_samples` (``[S, N, C]`` per-sample probabilities, optionally with the rate),
    :meth:`per_example_rate` (``[N]`` nats) and :meth:`encode` (mu, sigma).

    A class-conditional prior b(z|y) gets the labels in ``fit`` and ``evaluate`` through
    :meth:`compute_loss` (which adds its rate, on every backend); without labels (``predict``,
    :meth:`per_example_rate`) its rate marginalises over the classes.

    A :class:`~vdualib.losses.TeacherNoise`'s teacher is saved with the model (its weights beside
    the model's own), so the file is self-contained; it is not one of the model's layers: it is
    not trained and ``count_params`` does not count it.

    Args:
        backbone: a built ``keras.Model`` with an Input, mapping raw images to features ``[B, d]``
            (or its serialized config).
        num_classes: C >= 2.
        method: ``"dualib"``, ``"vib"`` or ``"deterministic"`` (:mod:`vdualib.methods`).
        latent_dim: K, the size of z.
        beta: the rate's weight (VIB convention), finite, >= 0.
        prior: a prior name or layer (see :func:`vdualib.layers.get_prior`); stochastic methods only.
        label_noise: p~(y|x) (see :func:`vdualib.losses.get_label_noise`); ``None`` means one-hot
            for ``vib``/``deterministic`` and the method table's default for ``dualib``.
        warmup_weight: lambda_0 of the cross-entropy warm-up of the objective, >= 0.
        num_samples: S >= 0 samples averaged at inference (0: the decoder at mu).
        train_samples: samples per example in training, >= 0.
        class_prior: p(y) ``[C]`` for H(Y) in the logged ``izy``; ``None`` for uniform.
        seed: seed of the encoder's sample stream.
        **kwargs: ``keras.Model`` arguments (``name``).

    Raises:
        ValueError: a bad option (unknown method, C < 2, a prior or label noise made for another C,
            a label noise without full support for ``dualib``, ...).

    Example:
        >>> model = IBClassifier(build_backbone("mlp"), 10, method="vib", beta=1e-3)
        >>> model.compile(optimizer="adam")
        >>> probs = model.predict(x_test, verbose=0)     # 200 MNIST test images
        >>> probs.shape, bool(np.allclose(probs.sum(axis=1), 1.0, atol=1e-5))     # [N, 10] probabilities
        ((200, 10), True)
    """

    def __init__(
        self,
        backbone,
        num_classes,
        method="dualib",
        latent_dim=256,
        beta=1e-3,
        prior="standard_normal",
        label_noise=None,
        warmup_weight=0.0,
        num_samples=12,
        train_samples=1,
        class_prior=None,
        seed=None,
        **kwargs,
    ):
        backend.require_supported(type(self).__name__)
        super().__init__(**kwargs)
        self.method_info = methods.get(method)
        self.method = self.method_info.name
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if not isinstance(backbone, keras.Model) or not backbone.inputs:
            raise ValueError("backbone must be a built keras.Model with an Input (functional or Sequential).")
        self.backbone = backbone
        self.num_classes = checks.positive_int("num_classes", num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        beta = checks.finite_float("beta", beta, low=0.0)
        self.num_samples = checks.non_negative_int("num_samples", num_samples)
        self.train_samples = checks.non_negative_int("train_samples", train_samples)
        self.seed = seed
        if class_prior is None:
            self.class_prior = None
            self.label_entropy = math.log(self.num_classes)
        else:
            p = checks.probability_vector("class_prior", class_prior, size=self.num_classes)
            self.class_prior = p.tolist()
            self.label_entropy = float(-np.sum(p[p > 0] * np.log(p[p > 0])))

        self.stochastic = self.method_info.stochastic
        if self.stochastic:
            prior = vlayers.get_prior("standard_normal" if prior is None else prior, num_classes=self.num_classes)
            if getattr(prior, "num_classes", self.num_classes) != self.num_classes:
                raise ValueError(f"the prior is made for {prior.num_classes} classes, but the model has {self.num_classes}.")
            # the model logs the rate itself (from compute_loss, on every backend)
            self.encoder = vlayers.GaussianEncoder(
                latent_dim, prior=prior, beta=beta, seed=seed, track_rate=False, name="encoder"
            )
        else:
            self.encoder = keras.layers.Dense(latent_dim, dtype="float32", name="encoder")
        self.decoder = keras.layers.Dense(num_classes, kernel_initializer="zeros", dtype="float32", name="decoder")
        if label_noise is None:
            label_noise = self.method_info.default_label_noise
        self.label_noise = vlosses.get_label_noise(label_noise, self.num_classes)
        if self.method_info.needs_full_support and not self.label_noise.full_support:
            raise ValueError(f"method {self.method!r} needs a label noise with full support (p~ > 0 for every class).")
        # p~ is computed here (TeacherNoise needs the inputs), so the objective gets distributions
        self.objective = vlosses.loss_class(self.method_info)(label_noise=None, warmup_weight=warmup_weight)
        self.distortion_tracker = keras.metrics.Mean(name="distortion")
        self.izy_tracker = keras.metrics.Mean(name="izy")
        self.rate_tracker = keras.metrics.Mean(name="rate") if self.stochastic else None
        self._step_functions = {}
        self._predicting = False
        self.build((None,) + self.image_shape)

    # -- structure ---------------------------------------------------------------------------

    @property
    def image_shape(self):
        """Shape of one input image, e.g. ``(28, 28)``."""
        return tuple(self.backbone.inputs[0].shape[1:])

    @property
    def prior(self):
        """The encoder's prior layer (``None`` for the deterministic model)."""
        return self.encoder.prior if self.stochastic else None

    @property
    def beta(self):
        """The rate's weight, the encoder's ``beta`` variable (``None`` for the deterministic model)."""
        return self.encoder.beta if self.stochastic else None

    def build(self, input_shape):
        features = tuple(self.backbone.outputs[0].shape)
        if len(features) != 2:
            raise ValueError(f"the backbone must output flat features [batch, d], got shape {features}.")
        # sublayers restored from a config may already be built
        for layer, shape in ((self.encoder, features), (self.decoder, (None, self.latent_dim))):
            if not layer.built:
                layer.build(shape)
        self.built = True

    def get_config(self):
        return {
            "name": self.name,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "method": self.method,
            "latent_dim": self.latent_dim,
            "beta": float(self.beta.numpy()) if self.stochastic else 0.0,
            "prior": keras.saving.serialize_keras_object(self.prior) if self.stochastic else None,
            "label_noise": keras.saving.serialize_keras_object(self.label_noise) if self.label_noise else None,
            "warmup_weight": float(self.objective.warmup_weight.numpy()),
            "num_samples": self.num_samples,
            "train_samples": self.train_samples,
            "class_prior": self.class_prior,
            "seed": self.seed,
        }

    # A TeacherNoise's teacher is not one of the model's layers (it is neither trained nor counted
    # in its parameters), but a saved model must hold it: its weights are stored beside the
    # model's own variables, under these keys, so that a model file is self-contained.
    _TEACHER_KEY = "teacher_"

    def _teacher_noise(self):
        noise = self.label_noise
        return noise if isinstance(noise, vlosses.TeacherNoise) and noise.teacher is not None else None

    def save_own_variables(self, store):
        super().save_own_variables(store)
        noise = self._teacher_noise()
        if noise is None:
            return
        if noise.awaiting_weights:
            raise ValueError(
                "this model's TeacherNoise was rebuilt from a config without its teacher's weights, so saving it "
                "would store an untrained teacher; load the model from its file, or give the teacher model again."
            )
        for index, value in enumerate(noise.teacher.get_weights()):
            store[f"{self._TEACHER_KEY}{index}"] = value

    def load_own_variables(self, store):
        prefix = self._TEACHER_KEY
        teacher_keys = sorted((k for k in store.keys() if k.startswith(prefix)), key=lambda k: int(k[len(prefix) :]))
        own = {k: store[k] for k in store.keys() if not k.startswith(prefix)}
        noise = self._teacher_noise()
        if teacher_keys:
            if noise is None:
                raise ValueError("the file holds a teacher's weights, but its config has no TeacherNoise; the file is damaged.")
            noise.restore_teacher([store[k][...] for k in teacher_keys])
        elif noise is not None and noise.awaiting_weights:
            raise ValueError("the file holds a TeacherNoise's architecture but not its teacher's weights; the file is damaged.")
        # Files written before beta moved into the encoder keep it as the model's one variable.
        if len(own) == 1 and not self._trainable_variables + self._non_trainable_variables:
            if self.stochastic:
                self.encoder.beta.assign(own["0"][...])
            return
        super().load_own_variables(own)

    # -- forward -----------------------------------------------------------------------------

    @staticmethod
    def _split_inputs(inputs):
        if isinstance(inputs, dict) and "images" in inputs:
            return inputs["images"], inputs.get("labels")
        return inputs, None

    def forward(self, inputs, training=None, num_samples=None, logit_space=False, labels=None):
        """Everything the objective and the predictions need, as a dict of tensors.

        Args:
            inputs: raw images ``[B, ...]`` (whole pixel values 0..255).
            training: training mode (one sample per ``train_samples``; the rate is added).
            num_samples: S; defaults to ``train_samples`` in training and ``num_samples``
                otherwise; 0 decodes the mean, z = mu.
            logit_space: draw the logits directly (see :meth:`sample_logits`; same law, no
                ``z`` in the output) when ``latent_dim >= num_classes``.
            labels: integer labels ``[B]`` for a class-conditional prior.

        Returns:
            ``{"mu", "sigma" (stochastic), "z" [S, B, K] (unless logit_space), "logits"
            [S, B, C], "probs" [B, C] (mean of the S softmaxes), "rate" [B] (nats; stochastic
            models, where the prior's rate needs no labels it was not given, and no samples it
            did not draw)}``.

        Example:
            >>> out = model.forward(x_test[:8], num_samples=4)     # the zoo's mnist-dualib-mlp
            >>> tuple(out["logits"].shape), tuple(out["probs"].shape)     # [S, B, C], [B, C]
            ((4, 8, 10), (8, 10))
        """
        images = checks.assert_pixel_images(inputs)
        features = self.backbone(images, training=training)
        if not self.stochastic:
            mu = self.encoder(features)
            z = mu[None]
            outputs = {"mu": mu, "z": z}
            logits = self.decoder(z)
        else:
            if num_samples is None:
                num_samples = self.train_samples if training else self.num_samples
            in_logit_space = logit_space and num_samples > 0 and self.latent_dim >= self.num_classes
            z, mu, sigma = self.encoder(
                features,
                training=training,
                num_samples=0 if in_logit_space else num_samples,
                return_moments=True,
                add_rate=False,  # the model adds the rate in compute_loss (see _rate)
            )
            outputs = {"mu": mu, "sigma": sigma}
            rate = self._rate(mu, sigma, z if num_samples > 0 and not in_logit_space else None, labels)
            if rate is not None:
                outputs["rate"] = rate
            if in_logit_space:
                logits = self.sample_logits(mu, sigma, num_samples)
            else:
                z = mu[None] if num_samples == 0 else z
                outputs["z"] = z
                logits = self.decoder(z)
        return dict(outputs, logits=logits, probs=ops.mean(ops.softmax(logits, axis=-1), axis=0))

    def _rate(self, mu, sigma, samples, labels):
        """The per-example rate KL(e(z|x) || r(z)) ``[B]`` (nats) that the objective adds, or ``None``:
        for a class-conditional prior without ``labels`` it is computed in :meth:`compute_loss`
        from the targets, and a Monte Carlo rate needs ``samples`` ``[S, B, K]``."""
        if labels is not None:
            labels = self._prior_labels(labels)
        elif self.prior.needs_labels:
            return None
        if samples is None and self.prior.needs_samples(labels):
            return None
        return self.prior(mu, sigma, z=samples, labels=labels)

    @staticmethod
    def _prior_labels(labels):
        """Integer labels ``[B]`` for a class-conditional prior, from ``[B]`` or ``[B, 1]``."""
        if len(labels.shape) != 1 and not (len(labels.shape) == 2 and labels.shape[-1] == 1):
            raise ValueError("a class-conditional prior needs integer labels [B], not label distributions.")
        return ops.reshape(labels, (-1,))

    def sample_logits(self, mu, sigma, num_samples):
        """``num_samples`` draws of the logits ``[S, batch, C]`` without sampling z.

        The decoder is affine, logits = W^T z + b, so under e(z|x) = N(mu, diag(sigma^2)) they are
        exactly Gaussian: N(W^T mu + b, W^T diag(sigma^2) W), a C x C covariance. Drawing C
        normals per sample instead of K (K = latent_dim >= C) makes S-sample prediction cost
        little more than one sample. A jitter of 1e-6 of the mean logit variance keeps the
        Cholesky factor defined when W is rank-deficient (e.g. the zero-initialised decoder).

        Args:
            mu: encoder means ``[batch, K]``.
            sigma: encoder standard deviations ``[batch, K]``.
            num_samples: S >= 1.

        Returns:
            float32 logits ``[S, batch, C]``.

        Example:
            >>> out = model.forward(x_test[:8], num_samples=0)     # the zoo's mnist-dualib-mlp
            >>> tuple(model.sample_logits(out["mu"], out["sigma"], 12).shape)     # [S, B, C]
            (12, 8, 10)
        """
        kernel = ops.cast(self.decoder.kernel, "float32")
        mean = self.decoder(mu)
        covariance = ops.einsum("kc,bk,kd->bcd", kernel, ops.square(sigma), kernel)
        scale = ops.trace(covariance, axis1=1, axis2=2) / self.num_classes
        jitter = (1e-6 * scale + 1e-12)[:, None, None] * ops.eye(self.num_classes, dtype="float32")
        cholesky = ops.cholesky(covariance + jitter)
        shape = (num_samples,) + tuple(ops.shape(mean))
        noise = keras.random.normal(shape, dtype="float32", seed=self.encoder.seed_generator)
        return mean[None] + ops.einsum("bcd,sbd->sbc", cholesky, noise)

    def call(self, inputs, training=None):
        images, labels = self._split_inputs(inputs)
        return self.forward(images, training=training, labels=labels, logit_space=self._predicting)

    # -- training ----------------------------------------------------------------------------

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """``compile`` without a loss: the objective is the method's (``self.objective``).
        ``metrics`` default to ``["accuracy"]`` and see the Monte Carlo averaged probabilities."""
        if loss is not None:
            raise ValueError(
                "an IBClassifier's objective is set by method=, label_noise= and beta=; call compile() without "
                "loss=, or build your own functional model from vdualib.layers.GaussianEncoder and vdualib.losses."
            )
        super().compile(optimizer=optimizer, metrics=["accuracy"] if metrics is None else metrics, **kwargs)

    def compile_from_config(self, config):
        """Re-compile a loaded model (optimizer, its schedule and metrics), then build the
        optimizer so its saved state (moments, iteration count) loads into it."""
        config = keras.saving.deserialize_keras_object(config)
        config.pop("loss", None)
        self.compile(**config)
        if self.optimizer is not None:
            self.optimizer.build(self.trainable_variables)

    def _targets(self, y, images):
        """``(targets, observed, labels)``: p~(y|x) the objective uses (the label noise applied to
        integer labels; given distributions as they are), p(y|x) of the data (one-hot or given) and
        the integer labels ``[B]`` (``None`` for given distributions)."""
        y = ops.convert_to_tensor(y)
        if _is_distribution_targets(y, self.num_classes):
            observed = checks.assert_probabilities(ops.cast(y, "float32"))
            return observed, observed, None
        labels = checks.assert_labels(ops.reshape(y, (-1,)), self.num_classes)
        observed = ops.one_hot(ops.cast(labels, "int32"), self.num_classes)
        if self.label_noise is None:
            return observed, observed, labels
        return self.label_noise(labels, images), observed, labels

    def _rate_term(self, y_pred, labels):
        """beta times the batch mean of the rate (nats; a class-conditional prior's from the labels,
        see :meth:`_rate`), logged as ``rate``; 0 for the deterministic model or without a rate."""
        if not self.stochastic:
            return 0.0
        rate = y_pred.get("rate")
        if rate is None and self.prior.needs_labels:
            if labels is None:
                raise ValueError("a class-conditional prior needs integer labels [B], not label distributions.")
            rate = self._rate(y_pred["mu"], y_pred["sigma"], None, labels)
        if rate is None:
            return 0.0
        self.rate_tracker.update_state(rate)
        return self.encoder.beta * ops.mean(rate)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The objective on a batch (nats): the method's distortion on p~ (plus the warm-up's
        cross-entropy), weighted and averaged as Keras averages a loss, plus the rate and the
        regularisers; also updates the ``distortion``, ``izy`` and ``rate`` metrics. Runs in
        ``fit`` and ``evaluate`` on every backend, so it is where the labels reach a
        class-conditional prior."""
        images, _ = self._split_inputs(x)
        targets, observed, labels = self._targets(y, images)
        logits = y_pred["logits"]
        # one pass over p~ for the loss and the distortion metric; the loss reduced as Keras
        # reduces the objective ("sum_over_batch_size": weighted sum / batch size / replicas)
        distortion, warmup = self.objective.terms(targets, logits)
        per_example = distortion + self.objective.current_warmup_weight(logits) * warmup
        weights = None
        if sample_weight is not None:
            weights = checks.assert_sample_weights(ops.cast(ops.reshape(sample_weight, (-1,)), "float32"))
        weighted = per_example if weights is None else per_example * weights
        loss = ops.sum(weighted) / ops.cast(ops.size(per_example), "float32")
        nll = ops.mean(vlosses.cross_entropy(observed, logits), axis=0)
        self.distortion_tracker.update_state(distortion, sample_weight=weights)
        self.izy_tracker.update_state(self.label_entropy - nll, sample_weight=weights)
        loss = loss + self._rate_term(y_pred, labels)
        for value in self.losses:  # regularisers, and any loss a custom backbone adds
            loss = loss + ops.sum(ops.cast(value, "float32"))
        if backend.is_tensorflow():
            loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if _is_distribution_targets(y, self.num_classes):
            y = ops.argmax(y, axis=-1)
        return super().compute_metrics(x, y, y_pred["probs"], sample_weight=sample_weight)

    def predict_step(self, *args):
        """Keras' predict step of the backend (TensorFlow's takes the batch, JAX's the state and the
        batch), with the logits drawn in logit space (:meth:`sample_logits`) and the outputs
        reduced to the probabilities ``[B, C]``."""
        self._predicting = True  # read by call() while Keras traces the step
        try:
            result = super().predict_step(*args)
        finally:
            self._predicting = False
        if backend.name() == "jax":
            outputs, state = result
            return outputs["probs"], state
        return result["probs"]

    # -- input checks at the public boundary -------------------------------------------------

    def _check_images(self, x):
        """Eager checks of images given as arrays (shape, whole pixel values 0..255) or of a
        dataset's element spec; tensors flowing through ``forward`` are checked graph-side.
        Returns ``x``, with a (nested) Python list made a numpy array and, on JAX, a dataset
        checked as it is read (:meth:`_checked_dataset`)."""
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
            if not tf.TensorShape(spec.shape[1:]).is_compatible_with(self.image_shape):
                raise ValueError(
                    f"the dataset yields images of shape {tuple(spec.shape[1:])}, but this model takes "
                    f"{self.image_shape}; reshape the images or build the model with input_shape={tuple(spec.shape[1:])}."
                )
            return self._checked_dataset(x)
        if isinstance(x, (list, tuple)):
            x = checks.pixel_images("images", x)
        if isinstance(x, np.ndarray) or keras.ops.is_tensor(x):
            array = np.asarray(ops.convert_to_numpy(x))
            if array.shape[1:] != self.image_shape:
                raise ValueError(
                    f"images have shape {array.shape[1:]} (batch {array.shape[:1]}), but this model takes "
                    f"{self.image_shape}; reshape them or build the model with input_shape={array.shape[1:]}."
                )
            checks.pixel_images("images", array)
        return x

    def _checked_dataset(self, dataset):
        """``dataset`` (any other input as it is) with each element's images, targets and sample
        weights checked as ``tf.data`` reads it, on JAX: a failure there raises before the compiled
        step, whose state buffers JAX donates (a failure inside the step would leave the model's
        variables deleted). On TensorFlow the dataset is returned as it is; the step checks."""
        if not isinstance(dataset, tf.data.Dataset) or backend.is_tensorflow():
            return dataset
        structured = isinstance(dataset.element_spec, tuple)

        def check(images, *rest):
            checked = [checks.assert_pixel_images(images)]
            if rest:
                targets = rest[0]
                checked.append(checks.assert_probabilities(targets) if _is_distribution_targets(targets, self.num_classes)
                               else checks.assert_labels(targets, self.num_classes))
            if len(rest) > 1:
                checked.append(checks.assert_sample_weights(tf.cast(rest[1], "float32")))
            return (*checked, *rest[2:]) if structured else checked[0]

        return dataset.map(check)

    def _check_labels(self, x, y):
        """Eager check of labels given as an array: class ids in ``0..num_classes - 1`` or float
        probability vectors ``[N, C]`` (a dataset's labels are checked graph-side). Returns ``y``."""
        if y is None or isinstance(x, tf.data.Dataset):
            return y
        y = checks.numeric_array("labels", y)
        if not (y.ndim == 2 and y.shape[-1] == self.num_classes and np.issubdtype(y.dtype, np.floating)):
            checks.integer_labels("labels", y, self.num_classes)
        return y

    @contextlib.contextmanager
    def _variables_kept_on_error(self):
        """Keep the model usable when a Keras loop raises, on every backend.

        Keras' JAX loops detach each variable's value while a compiled step holds the state and
        reattach the state after the loop; an error inside a step (a failed graph-side check of a
        dataset's labels, say) skips the reattachment and leaves the variables without values. On
        an error this reattaches the last state a step returned, then the values detached before
        it (recorded by :meth:`_get_jax_state`). Nothing to do on TensorFlow.
        """
        self._loop_depth = getattr(self, "_loop_depth", 0) + 1
        try:
            yield
        except BaseException:
            if getattr(self, "_jax_state", None):
                self.jax_state_sync()
                self._jax_state = None
            for variable, value in getattr(self, "_detached_values", {}).values():
                if variable._value is None:
                    variable._value = value
            raise
        finally:
            self._loop_depth -= 1
            if not self._loop_depth:
                self.__dict__["_detached_values"] = {}  # a plain dict, which Keras' attribute tracking leaves alone

    def _get_jax_state(self, *args, purge_model_variables=False, **kwargs):
        """Keras' JAX trainer's state getter, recording each variable's value before it is detached
        (see :meth:`_variables_kept_on_error`); called on the JAX backend only."""
        if purge_model_variables:
            optimizer = getattr(self, "optimizer", None)
            variables = [*self.variables, *self.metrics_variables, *(optimizer.variables if optimizer else ())]
            recorded = self.__dict__.setdefault("_detached_values", {})
            for variable in variables:
                if variable._value is not None:
                    recorded.setdefault(id(variable), (variable, variable._value))
        return super()._get_jax_state(*args, purge_model_variables=purge_model_variables, **kwargs)

    def _check_weights(self):
        """Refuse a model whose weights hold NaN or infinity (its predictions would be NaN)."""
        checks.finite_variables(self.weights, f"model {self.name!r}")

    def _check_sample_weights(self, x, kwargs):
        """Check ``sample_weight`` and ``class_weight`` in ``kwargs`` (finite, >= 0), in place."""
        if kwargs.get("sample_weight") is not None:
            size = None if isinstance(x, tf.data.Dataset) or x is None else len(x)
            kwargs["sample_weight"] = checks.sample_weights("sample_weight", kwargs["sample_weight"], size)
        if kwargs.get("class_weight") is not None:
            if not isinstance(kwargs["class_weight"], dict):
                raise ValueError(f"class_weight must be a dict {{class: weight}}, got {kwargs['class_weight']!r}.")
            checks.sample_weights("class_weight values", list(kwargs["class_weight"].values()))

    def _retrace_for_targets(self, which, x, y):
        """Drop the traced ``which`` (train or test) step when the targets change kind.

        Keras keeps one traced step across calls and, when the targets' rank changes (class ids
        ``[N]``, then distributions ``[N, C]``), relaxes it to an unknown rank that the objective
        cannot branch on; a new kind of targets gets a fresh trace instead.
        """
        signature = _target_signature(x, y)
        if signature is not None and signature != getattr(self, f"_{which}_targets", None):
            setattr(self, f"{which}_function", None)
            setattr(self, f"_{which}_targets", signature)

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``, after checking the images (shape, whole pixel values 0..255) and labels.

        Args:
            x: raw images ``[N, ...]`` or a ``tf.data.Dataset`` of ``(images, labels)``.
            y: integer labels ``[N]`` or probability vectors ``[N, C]`` (float).
            *args, **kwargs: as for ``keras.Model.fit``.

        Returns:
            The ``keras.callbacks.History``; its logs are in nats (``loss``, ``rate``, ``distortion``,
            ``izy``) plus the compiled metrics.

        Raises:
            ValueError: images of another shape, outside 0..255 or scaled to [0, 1]; labels out of
                range; a NaN, infinite or negative ``sample_weight`` or ``class_weight``; weights
                that are (or become, at the end of an epoch) NaN or infinite: training stops before
                later callbacks see that epoch, and the message names the variables.

        Example:
            >>> model = vdualib.zoo.load("mnist-dualib-mlp")
            >>> model.compile(optimizer="adam")
            >>> history = model.fit(x_train, y_train, epochs=1, batch_size=100, verbose=0)     # 200 MNIST images
            >>> len(history.history["rate"]), bool(history.history["rate"][0] > 0)     # nats
            (1, True)
        """
        x = self._check_images(x)
        y = self._check_labels(x, y)
        self._check_sample_weights(x, kwargs)
        self._check_weights()
        self._retrace_for_targets("train", x, y)
        validation = kwargs.get("validation_data")
        if isinstance(validation, tf.data.Dataset):
            validation = kwargs["validation_data"] = self._check_images(validation)
        if isinstance(validation, (tuple, list)) and len(validation) >= 2:
            validation = (self._check_images(validation[0]), self._check_labels(validation[0], validation[1]),
                          *validation[2:])
            kwargs["validation_data"] = validation
            self._retrace_for_targets("test", validation[0], validation[1])
        elif validation is not None:
            self._retrace_for_targets("test", validation, None)
        elif kwargs.get("validation_split"):
            self._retrace_for_targets("test", x, y)
        callbacks = kwargs.get("callbacks")
        if not isinstance(callbacks, keras.callbacks.CallbackList):
            # first, so a diverged epoch stops before a checkpoint callback saves it
            kwargs["callbacks"] = [_StopOnNonFiniteWeights(), *(callbacks or [])]
        if isinstance(x, tf.data.Dataset) and len(args) < 7:  # shuffle not given by position
            # a pipeline shuffles itself: Keras ignores fit's shuffle (True by default) for it, and warns
            kwargs.setdefault("shuffle", False)
        with self._variables_kept_on_error():
            history = super().fit(x, y, *args, **kwargs)
        self._check_weights()
        return history

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate``, after checking the images (shape, whole pixel values 0..255).

        Args:
            x: raw images ``[N, ...]`` or a ``tf.data.Dataset`` of ``(images, labels)``.
            y: integer labels ``[N]`` or probability vectors ``[N, C]``.
            *args, **kwargs: as for ``keras.Model.evaluate``.

        Returns:
            As ``keras.Model.evaluate``: the loss and metrics (nats for ``loss``, ``rate``,
            ``distortion``, ``izy``), a list or, with ``return_dict=True``, a dict.

        Raises:
            ValueError: images of another shape or not whole pixel values 0..255; labels out of
                range; a NaN, infinite or negative ``sample_weight``; NaN or infinite model weights
                (named).

        Example:
            >>> model = vdualib.zoo.load("mnist-dualib-mlp")
            >>> model.compile(optimizer="adam")
            >>> results = model.evaluate(x_test, y_test, return_dict=True, verbose=0)     # 200 MNIST images
            >>> bool(results["accuracy"] > 0.9), sorted(results)
            (True, ['accuracy', 'distortion', 'izy', 'loss', 'rate'])
        """
        x = self._check_images(x)
        y = self._check_labels(x, y)
        self._check_sample_weights(x, kwargs)
        self._check_weights()
        if not kwargs.get("_use_cached_eval_dataset"):  # fit's validation: fit chose the trace
            self._retrace_for_targets("test", x, y)
        with self._variables_kept_on_error():
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """Class probabilities ``[N, C]``: the mean of softmax over ``num_samples`` draws (the
        decoder at mu when ``num_samples`` is 0). Zero images give a ``(0, C)`` array.

        Args:
            x: raw images ``[N, ...]`` (whole pixel values 0..255) or a ``tf.data.Dataset`` of them.
            *args, **kwargs: as for ``keras.Model.predict`` (``batch_size``, ``verbose``).

        Returns:
            float32 numpy ``[N, C]``, rows summing to 1.

        Raises:
            ValueError: images of another shape or not whole pixel values 0..255 (a ragged list
                included); NaN or infinite model weights (named).

        Example:
            >>> model.predict(x_test[:8], batch_size=256, verbose=0).argmax(axis=1)     # predicted classes [N]
            array([7, 2, 1, 0, 4, 1, 4, 9])
            >>> y_test[:8]
            array([7, 2, 1, 0, 4, 1, 4, 9], dtype=uint8)
        """
        x = self._check_images(x)
        self._check_weights()
        if not isinstance(x, tf.data.Dataset) and len(np.asarray(x)) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        with self._variables_kept_on_error():
            return super().predict(x, *args, **kwargs)

    # -- batched inference helpers -----------------------------------------------------------

    def _map_batches(self, key, fn, x, batch_size, empty):
        """Run ``fn`` (compiled for the backend by :func:`vdualib.backend.function`, cached under
        ``key``) over batches of x (an array or a ``tf.data.Dataset`` of images or of
        ``(images, ...)`` tuples) and concatenate each output along its batch axis (given by
        ``empty``, the outputs for zero images)."""
        x = self._check_images(x)
        self._check_weights()
        if isinstance(x, tf.data.Dataset):
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in x)
            if not backend.is_tensorflow():
                batches = (np.asarray(batch) for batch in batches)
        else:
            batch_size = checks.positive_int("batch_size", batch_size)
            x = np.asarray(x)
            batches = (x[i : i + batch_size] for i in range(0, len(x), batch_size))
            if backend.is_tensorflow():
                batches = (tf.constant(batch) for batch in batches)
        if key not in self._step_functions:
            self._step_functions[key] = backend.function(fn, self.variables)
        step = self._step_functions[key]
        outputs = [step(batch) for batch in batches]
        if not outputs:
            return empty
        axes = [int(np.argmax(np.asarray(e.shape) == 0)) if e is not None else None for e in empty]
        return tuple(
            None if axis is None else np.concatenate([ops.convert_to_numpy(o[j]) for o in outputs], axis=axis)
            for j, axis in enumerate(axes)
        )

    def predict_samples(self, x, num_samples=None, batch_size=256, return_rate=False):
        """Per-sample class probabilities softmax(decoder(z_s)), numpy ``[S, N, C]``, with the
        logits drawn directly from their Gaussian law (:meth:`sample_logits`), from one pass of
        the backbone.

        Args:
            x: raw images ``[N, ...]``.
            num_samples: S (default ``self.num_samples``); 0 gives the decoder at mu, S = 1.
                The deterministic model gives S = 1.
            batch_size: images per step.
            return_rate: also return the per-example rate KL(e(z|x) || r(z)) ``[N]`` in nats
                (``None`` for the deterministic model), from the same pass (a Monte Carlo rate
                uses ``num_samples`` draws, or the model's ``num_samples`` when predicting at mu).

        Returns:
            ``sample_probs``, or ``(sample_probs, rate)`` with ``return_rate=True``.

        Raises:
            ValueError: images of another shape or pixel range, or a negative ``num_samples``.

        Example:
            >>> probs, rate = model.predict_samples(x_test, num_samples=12, return_rate=True)
            >>> probs.shape, rate.shape     # rate in nats
            ((12, 200, 10), (200,))
        """
        s = self.num_samples if num_samples is None else checks.non_negative_int("num_samples", num_samples)
        with_rate = bool(return_rate) and self.stochastic
        rate_samples = with_rate and self.prior.needs_samples()
        # a Monte Carlo rate needs draws of z even when the prediction is the decoder at mu
        draws = max(self.num_samples, 1) if (rate_samples and s == 0) else s

        def fn(batch):
            out = self.forward(batch, training=False, num_samples=draws, logit_space=not rate_samples)
            logits = self.decoder(out["mu"][None]) if (s == 0 and self.stochastic) else out["logits"]
            probs = ops.softmax(logits, axis=-1)
            if not with_rate:
                return probs, None
            return probs, self.prior(out["mu"], out["sigma"], z=out.get("z") if rate_samples else None)

        s_out = 1 if (s == 0 or not self.stochastic) else s
        empty = (np.zeros((s_out, 0, self.num_classes), np.float32), np.zeros((0,), np.float32) if with_rate else None)
        probs, rate = self._map_batches(("samples", s, with_rate), fn, x, batch_size, empty)
        return (probs, rate) if return_rate else probs

    def per_example_rate(self, x, batch_size=256, num_samples=None):
        """Per-example KL(e(z|x) || r(z)) in nats, numpy ``[N]``; ``None`` for the deterministic
        model. Priors without a closed form (and the class-conditional prior, marginalised over
        classes since the label is unknown) use ``num_samples`` Monte Carlo draws (at least 1).

        Args:
            x: raw images ``[N, ...]`` or a ``tf.data.Dataset`` of them.
            batch_size: images per step.
            num_samples: Monte Carlo draws for a rate without closed form (default ``self.num_samples``).

        Returns:
            float32 numpy ``[N]`` in nats, or ``None`` for the deterministic model.

        Example:
            >>> rate = model.per_example_rate(x_test)     # the zoo's mnist-dualib-mlp on 200 test images
            >>> rate.shape, bool(rate.mean() > 0)     # the test-set rate, nats
            ((200,), True)
        """
        if not self.stochastic:
            return None
        s = max(self.num_samples if num_samples is None else checks.non_negative_int("num_samples", num_samples), 1)
        return self.predict_samples(x, num_samples=s, batch_size=batch_size, return_rate=True)[1]

    def encode(self, x, batch_size=256):
        """``(mu, sigma)`` of e(z|x), numpy ``[N, latent_dim]`` each (sigma is zeros for the
        deterministic model, whose z = mu(x)).

        Args:
            x: raw images ``[N, ...]`` or a ``tf.data.Dataset`` of them.
            batch_size: images per step.

        Returns:
            ``(mu, sigma)``, float32 numpy arrays ``[N, K]``.

        Example:
            >>> mu, sigma = model.encode(x_test)     # [N, K] each
            >>> mu.shape, sigma.shape
            ((200, 256), (200, 256))
        """

        def fn(batch):
            out = self.forward(batch, training=False, num_samples=0)
            return out["mu"], out.get("sigma", ops.zeros_like(out["mu"]))

        empty = (np.zeros((0, self.latent_dim), np.float32),) * 2
        return self._map_batches(("encode",), fn, x, batch_size, empty)


def build_classifier(backbone, num_classes, method="dualib", input_shape=None, name=None, **kwargs):
    """Build a bottlenecked classifier (see the module docstring).

    Example:
        >>> from vdualib.losses import ConfusionNoise
        >>> matrix = 0.9 * np.eye(10) + 0.01     # p~(y'|y), rows sum to 1
        >>> model = build_classifier("mlp", 10, method="dualib", prior="class_conditional",
        ...                          label_noise=ConfusionNoise(matrix), warmup_weight=0.1)
        >>> model.compile(optimizer="adam")     # then model.fit(x, y, callbacks=[vdualib.callbacks.DistortionWarmup(0.1, steps=4000)])
        >>> model.method, model.predict(x_test[:2], verbose=0).shape
        ('dualib', (2, 10))

    Args:
        backbone: ``"mlp"``, ``"convnet"``, ``"resnet20"`` or a built ``keras.Model`` mapping raw
            images to flat features.
        num_classes: number of classes C.
        method: ``"dualib"`` (default), ``"vib"`` or ``"deterministic"``.
        input_shape: image shape for a named backbone (default 28 x 28 or 32 x 32 x 3).
        name: the model's name.
        **kwargs: the :class:`IBClassifier` options, with their defaults:
            ``latent_dim=256`` (K, the size of z; 256 in the VIB paper);
            ``beta=1e-3`` (weight of the rate KL(e(z|x) || r(z)), the VIB convention, >= 0);
            ``prior="standard_normal"`` (or ``"mixture"``, ``"class_conditional"`` for a learned
            b(z|y), a prior layer);
            ``label_noise=None`` (p~(y|x): ``"smoothing"``, a ``LabelSmoothing`` /
            ``ConfusionNoise`` / ``TeacherNoise`` object; None means one-hot labels for VIB and
            deterministic and the method table's default, smoothing, for ``dualib``);
            ``warmup_weight=0.0`` (lambda_0 of the cross-entropy warm-up, see
            :class:`vdualib.callbacks.DistortionWarmup`);
            ``num_samples=12`` (encoder samples S averaged by ``predict``; 0 = decoder(mu));
            ``train_samples=1``; ``class_prior=None`` (p(y) for H(Y) in ``izy``, uniform);
            ``seed=None`` (the encoder's sample stream).

    Returns:
        A built :class:`IBClassifier` (not compiled).

    Raises:
        ValueError: an unknown backbone or method, ``input_shape`` with a ``keras.Model`` backbone,
            or a bad option of :class:`IBClassifier`.
    """
    if isinstance(backbone, str):
        backbone = build_backbone(backbone, input_shape)
    elif input_shape is not None:
        raise ValueError("input_shape applies to named backbones only; a keras.Model backbone has its own Input.")
    if name is not None:
        kwargs["name"] = name
    return IBClassifier(backbone, num_classes, method=method, **kwargs)


registration.register()  # the other serializable modules, now that this one is complete
