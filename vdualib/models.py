"""Backbones and the bottlenecked classifier.

``build_classifier`` wires ``backbone -> GaussianEncoder -> z samples -> decoder -> logits``
into an :class:`IBClassifier`, a ``keras.Model`` that trains with plain ``compile`` + ``fit``:

    model = vdualib.build_classifier("mlp", 10, method="dualib", beta=1e-3)
    model.compile(optimizer="adam")
    model.fit(x_train, y_train, epochs=1, batch_size=100)
    probs = model.predict(x_test)          # [N, C], mean of softmax over num_samples draws of z

Methods (the same network, only the bottleneck and the objective differ):

* ``"deterministic"``: z = mu(x), loss = cross-entropy.
* ``"vib"``: loss = E_z[-log q(y|z)] + beta * KL(e(z|x) || r(z)).
* ``"dualib"``: loss = E_z[KL(q(y|z) || p~(y|x))] + beta * KL(e(z|x) || r(z)).

``beta`` multiplies the rate (the VIB convention; the IB papers' beta is its inverse).
``fit`` and ``evaluate`` log, in nats: ``loss``, ``rate`` (an upper bound on I(X;Z)),
``distortion`` (the method's own distortion) and ``izy`` (the lower bound
H(Y) - E[-log q(y|z)] on I(Z;Y), with H(Y) from ``class_prior``, uniform by default), and the
compiled metrics (``accuracy`` by default) on the Monte Carlo averaged probabilities.

Models take raw uint8 images as :func:`vdualib.datasets.load` returns them: preprocessing
(x / 127.5 - 1) is inside the built-in backbones. Calling the model, ``model(x)``, returns a dict
of tensors (``probs``, ``logits`` [S, B, C], ``z``, ``mu`` and, for stochastic methods,
``sigma``); ``predict`` returns the probabilities only.
"""

import math

import keras
import numpy as np
import tensorflow as tf

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


def mlp_backbone(input_shape=(28, 28), units=(1024, 1024)):
    """The VIB paper's MNIST encoder trunk: flatten, then Dense(1024, relu) x 2."""
    inputs = _inputs(input_shape)
    x = _rescale(keras.layers.Flatten(name="flatten")(inputs))
    for i, n in enumerate(units):
        x = keras.layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
    return keras.Model(inputs, x, name="mlp")


def convnet_backbone(input_shape=(28, 28), filters=(32, 64, 128), units=256, dropout=0.3):
    """A small CNN for 28 x 28 images: per stage a 3x3 convolution + batch norm + relu and 2x2
    max pooling (none after the last stage), global average pooling, then Dense(units, relu)
    with dropout."""
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


def resnet20_backbone(input_shape=(32, 32, 3), depth=20, weight_decay=1e-4):
    """ResNet-20 for CIFAR (He et al. 2016): a 3x3 conv, three stages of (depth - 2) / 6 basic
    blocks with 16, 32, 64 filters (stride 2 between stages, 1x1 projection shortcuts), global
    average pooling to 64 features. L2 weight decay on the convolutions."""
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
    x = keras.layers.ReLU(name="stem_relu")(bn(conv(_rescale(inputs), 16, 3, 1, "stem_conv"), "stem_bn"))
    for stage, filters in enumerate((16, 32, 64)):
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
    """A built-in backbone by name (``mlp``, ``convnet``, ``resnet20``) for ``input_shape``
    (default: 28 x 28 for mlp/convnet, 32 x 32 x 3 for resnet20)."""
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; use one of {sorted(BACKBONES)} or pass a keras.Model.")
    factory, default_shape = BACKBONES[name]
    shape = tuple(input_shape) if input_shape is not None else default_shape
    if not shape or any((not isinstance(d, (int, np.integer))) or d <= 0 for d in shape):
        raise ValueError(f"input_shape must be positive integers, e.g. (28, 28), got {input_shape}.")
    return factory(shape, **kwargs)


# ---------------------------------------------------------------------------------------------
# The classifier


def _validate_float(name, value, low=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < low:
        raise ValueError(f"{name} must be a finite number >= {low}, got {value}.")
    return value


@keras.saving.register_keras_serializable(package="vdualib")
class IBClassifier(keras.Model):
    """A classifier with an information bottleneck: see the module docstring.

    Build it with :func:`build_classifier`. Extra inference helpers, all batched and returning
    numpy arrays: :meth:`predict_samples` ([S, N, C] per-sample probabilities),
    :meth:`per_example_rate` ([N] KL(e(z|x) || r(z)) in nats) and :meth:`encode` (mu, sigma).
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
        num_samples=12,
        train_samples=1,
        class_prior=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if method not in vlosses.METHODS:
            raise ValueError(f"Unknown method {method!r}; use one of {list(vlosses.METHODS)}.")
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if not isinstance(backbone, keras.Model) or not backbone.inputs:
            raise ValueError("backbone must be a built keras.Model with an Input (functional or Sequential).")
        self.backbone = backbone
        self.num_classes = vlayers._check_positive_int("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.method = method
        self.latent_dim = vlayers._check_positive_int("latent_dim", latent_dim)
        self.initial_beta = _validate_float("beta", beta)
        for name, value in (("num_samples", num_samples), ("train_samples", train_samples)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (0 means decoder(mu)), got {value!r}.")
        self.num_samples = int(num_samples)
        self.train_samples = int(train_samples)
        self.seed = seed
        if class_prior is None:
            self.class_prior = None
            self.label_entropy = math.log(num_classes)
        else:
            p = np.asarray(class_prior, dtype=np.float64)
            if p.shape != (num_classes,) or np.any(p < 0) or abs(p.sum() - 1) > 1e-6:
                raise ValueError(f"class_prior must be {num_classes} non-negative numbers summing to 1.")
            self.class_prior = p.tolist()
            self.label_entropy = float(-np.sum(p[p > 0] * np.log(p[p > 0])))

        self.stochastic = method != "deterministic"
        if self.stochastic:
            self.encoder = vlayers.GaussianEncoder(latent_dim, seed=seed, name="encoder")
            self.prior = vlayers.get_prior(prior, num_classes=num_classes)
        else:
            self.encoder = keras.layers.Dense(latent_dim, dtype="float32", name="encoder")
            self.prior = None
        self.decoder = keras.layers.Dense(num_classes, kernel_initializer="zeros", dtype="float32", name="decoder")
        if method == "dualib" and label_noise is None:
            label_noise = "smoothing"
        self.label_noise = vlosses.get_label_noise(label_noise, num_classes)
        self.beta = self.add_weight(
            name="beta", shape=(), initializer=keras.initializers.Constant(self.initial_beta), trainable=False
        )
        self.rate_tracker = keras.metrics.Mean(name="rate")
        self.distortion_tracker = keras.metrics.Mean(name="distortion")
        self.izy_tracker = keras.metrics.Mean(name="izy")
        self._step_functions = {}
        self.build((None,) + self.image_shape)

    # -- structure ---------------------------------------------------------------------------

    @property
    def image_shape(self):
        """Shape of one input image, e.g. ``(28, 28)``."""
        return tuple(self.backbone.inputs[0].shape[1:])

    def build(self, input_shape):
        features = tuple(self.backbone.outputs[0].shape)
        if len(features) != 2:
            raise ValueError(f"the backbone must output flat features [batch, d], got shape {features}.")
        # sublayers restored from a config may already be built
        for layer, shape in ((self.encoder, features), (self.decoder, (None, self.latent_dim)), (self.prior, (None, self.latent_dim))):
            if layer is not None and not layer.built:
                layer.build(shape)
        self.built = True

    def get_config(self):
        return {
            "name": self.name,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "method": self.method,
            "latent_dim": self.latent_dim,
            "beta": self.initial_beta,
            "prior": keras.saving.serialize_keras_object(self.prior) if self.prior is not None else None,
            "label_noise": keras.saving.serialize_keras_object(self.label_noise) if self.label_noise else None,
            "num_samples": self.num_samples,
            "train_samples": self.train_samples,
            "class_prior": self.class_prior,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("prior") is None:
            config["prior"] = "standard_normal"
        return cls(**config)

    # -- forward -----------------------------------------------------------------------------

    def forward(self, inputs, training=None, num_samples=None, logit_space=False):
        """Everything the objective and the predictions need, as a dict of tensors.

        ``num_samples`` defaults to ``train_samples`` in training and ``num_samples`` otherwise;
        0 decodes the mean, z = mu. ``logit_space=True`` draws the logits directly (see
        :meth:`sample_logits`; same distribution, no ``z`` in the output) when
        ``latent_dim >= num_classes``, and samples z otherwise.
        """
        features = self.backbone(inputs, training=training)
        if not self.stochastic:
            mu = self.encoder(features)
            z = mu[None]
            outputs = {"mu": mu}
        else:
            mu, sigma = self.encoder.moments(features)
            if num_samples is None:
                num_samples = self.train_samples if training else self.num_samples
            outputs = {"mu": mu, "sigma": sigma}
            if logit_space and num_samples > 0 and self.latent_dim >= self.num_classes:
                logits = self.sample_logits(mu, sigma, num_samples)
                return dict(outputs, logits=logits, probs=tf.reduce_mean(tf.nn.softmax(logits, axis=-1), axis=0))
            z = mu[None] if num_samples == 0 else self.encoder.sample(mu, sigma, num_samples)
        logits = self.decoder(z)
        outputs.update(z=z, logits=logits, probs=tf.reduce_mean(tf.nn.softmax(logits, axis=-1), axis=0))
        return outputs

    def sample_logits(self, mu, sigma, num_samples):
        """``num_samples`` draws of the logits ``[S, batch, C]`` without sampling z.

        The decoder is affine, logits = W^T z + b, so under e(z|x) = N(mu, diag(sigma^2)) they are
        exactly Gaussian: N(W^T mu + b, W^T diag(sigma^2) W), a C x C covariance. Drawing C
        normals per sample instead of K (K = latent_dim >= C) makes S-sample prediction cost
        little more than one sample. A jitter of 1e-6 of the mean logit variance keeps the
        Cholesky factor defined when W is rank-deficient (e.g. the zero-initialised decoder).
        """
        kernel = tf.cast(self.decoder.kernel, tf.float32)
        mean = self.decoder(mu)
        covariance = tf.einsum("kc,bk,kd->bcd", kernel, tf.square(sigma), kernel)
        scale = tf.linalg.trace(covariance) / self.num_classes
        jitter = (1e-6 * scale + 1e-12)[:, None, None] * tf.eye(self.num_classes, dtype=covariance.dtype)
        cholesky = tf.linalg.cholesky(covariance + jitter)
        seed = tf.cast(self.encoder.seed_generator.next(), tf.int32)
        shape = tf.concat([[num_samples], tf.shape(mean)], axis=0)
        noise = tf.random.stateless_normal(shape, seed=seed, dtype=mean.dtype)
        return mean[None] + tf.einsum("bcd,sbd->sbc", cholesky, noise)

    def call(self, inputs, training=None):
        return self.forward(inputs, training=training)

    # -- training ----------------------------------------------------------------------------

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """``compile`` without a loss: the model computes its own objective. ``metrics`` default
        to ``["accuracy"]`` and see the Monte Carlo averaged probabilities."""
        if loss is not None:
            raise ValueError(
                "vdualib classifiers compute their own objective (set by method= and beta=); "
                "call compile() without loss=."
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

    def _labels_and_targets(self, y, inputs):
        """Integer labels (None when y is given as distributions) and the p(y|x) the objective
        uses: the noisy p~ for the VdualIB, the labels (one-hot, or the given distributions)
        otherwise."""
        if y.shape.rank == 2 and y.shape[-1] == self.num_classes and y.dtype.is_floating:
            targets = tf.cast(y, tf.float32)
            return None, targets, targets
        labels = tf.cast(tf.reshape(y, [-1]), tf.int32)
        onehot = tf.one_hot(labels, self.num_classes)
        if self.label_noise is not None:
            return labels, onehot, self.label_noise(labels, inputs)
        return labels, onehot, onehot

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels, onehot, targets = self._labels_and_targets(y, x)
        logits = y_pred["logits"]
        if self.stochastic:
            rate = self.prior.rate(y_pred["mu"], y_pred["sigma"], z=y_pred["z"], labels=labels)
        else:
            rate = tf.zeros(tf.shape(logits)[1:2])
        per_example, distortion = vlosses.objective(self.method, targets, logits, rate, self.beta)
        nll = tf.reduce_mean(vlosses.cross_entropy(onehot, logits), axis=0)

        weights = None if sample_weight is None else tf.cast(tf.reshape(sample_weight, [-1]), tf.float32)

        def mean(values):
            if weights is None:
                return tf.reduce_mean(values)
            return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1e-12)

        self.rate_tracker.update_state(rate, sample_weight=weights)
        self.distortion_tracker.update_state(distortion, sample_weight=weights)
        self.izy_tracker.update_state(self.label_entropy - nll, sample_weight=weights)
        loss = mean(per_example)
        if self.losses:
            loss = loss + tf.add_n([tf.cast(tf.reduce_sum(v), tf.float32) for v in self.losses])
        # Keras reports the per-replica loss times the number of replicas; match its scaling.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / replicas if replicas > 1 else loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y.shape.rank == 2 and y.shape[-1] == self.num_classes and y.dtype.is_floating:
            y = tf.argmax(y, axis=-1)
        return super().compute_metrics(x, y, y_pred["probs"], sample_weight=sample_weight)

    def predict_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self.forward(x, training=False, logit_space=True)["probs"]

    # -- input checks at the public boundary -------------------------------------------------

    def _check_images(self, x):
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
            if not tf.TensorShape(spec.shape[1:]).is_compatible_with(self.image_shape):
                raise ValueError(
                    f"the dataset yields images of shape {tuple(spec.shape[1:])}, but this model takes "
                    f"{self.image_shape}; reshape the images or build the model with input_shape={tuple(spec.shape[1:])}."
                )
            return x
        if isinstance(x, (np.ndarray, tf.Tensor, list)):
            array = np.asarray(x)
            if array.shape[1:] != self.image_shape:
                raise ValueError(
                    f"images have shape {array.shape[1:]} (batch {array.shape[:1]}), but this model takes "
                    f"{self.image_shape}; reshape them or build the model with input_shape={array.shape[1:]}."
                )
            if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
                raise ValueError("images contain NaN or infinite values; clean or drop those examples.")
            if np.issubdtype(array.dtype, np.floating) and (array.min() < 0 or array.max() > 255):
                raise ValueError("images must be raw pixel values in [0, 255] (the model rescales them itself).")
        return x

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_images(x)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_images(x)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_images(x)
        return super().predict(x, *args, **kwargs)

    # -- batched inference helpers -----------------------------------------------------------

    def _map_batches(self, key, fn, x, batch_size, axis):
        """Run ``fn`` (a tf.function cached under ``key``) over batches of x and concatenate."""
        self._check_images(x)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        if key not in self._step_functions:
            self._step_functions[key] = tf.function(fn, reduce_retracing=True)
        step = self._step_functions[key]
        x = np.asarray(x)
        outputs = [step(tf.constant(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        if isinstance(outputs[0], tuple):
            return tuple(np.concatenate([o[j].numpy() for o in outputs], axis=axis) for j in range(len(outputs[0])))
        return np.concatenate([o.numpy() for o in outputs], axis=axis)

    def predict_samples(self, x, num_samples=None, batch_size=256):
        """Per-sample class probabilities softmax(decoder(z_s)), numpy ``[S, N, C]``, with the
        logits drawn directly from their Gaussian law (:meth:`sample_logits`).

        S defaults to ``num_samples``; the deterministic model (and ``num_samples=0``) gives S = 1.
        """
        s = self.num_samples if num_samples is None else int(num_samples)
        if s < 0:
            raise ValueError(f"num_samples must be >= 0, got {s}.")

        def fn(batch):
            return tf.nn.softmax(self.forward(batch, training=False, num_samples=s, logit_space=True)["logits"], axis=-1)

        return self._map_batches(("samples", s), fn, x, batch_size, axis=1)

    def per_example_rate(self, x, batch_size=256, num_samples=None):
        """Per-example KL(e(z|x) || r(z)) in nats, numpy ``[N]``; ``None`` for the deterministic
        model. Priors without a closed form (and the class-conditional prior, marginalised over
        classes since the label is unknown) use ``num_samples`` Monte Carlo draws."""
        if not self.stochastic:
            return None
        s = max(self.num_samples if num_samples is None else int(num_samples), 1)

        def fn(batch):
            out = self.forward(batch, training=False, num_samples=s)
            return self.prior.rate(out["mu"], out["sigma"], z=out["z"], labels=None)

        return self._map_batches(("rate", s), fn, x, batch_size, axis=0)

    def encode(self, x, batch_size=256):
        """``(mu, sigma)`` of e(z|x), numpy ``[N, latent_dim]`` each (sigma is zeros for the
        deterministic model, whose z = mu(x))."""

        def fn(batch):
            out = self.forward(batch, training=False, num_samples=0)
            return out["mu"], out.get("sigma", tf.zeros_like(out["mu"]))

        return self._map_batches(("encode",), fn, x, batch_size, axis=0)


def build_classifier(backbone, num_classes, method="dualib", input_shape=None, name=None, **kwargs):
    """Build a bottlenecked classifier (see the module docstring).

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
            ``prior="standard_normal"`` (or ``"mixture"``, ``"class_conditional"``, a prior layer);
            ``label_noise=None`` (p~(y|x): ``"smoothing"``, the default for ``dualib`` with
            epsilon = 0.01, or a ``LabelSmoothing``/``ConfusionNoise``/``TeacherNoise`` object;
            plain labels for VIB and deterministic when None);
            ``num_samples=12`` (encoder samples S averaged by ``predict``; 0 = decoder(mu));
            ``train_samples=1``; ``class_prior=None`` (p(y) for H(Y) in ``izy``, uniform);
            ``seed=None`` (the encoder's sample stream).
    """
    if isinstance(backbone, str):
        backbone = build_backbone(backbone, input_shape)
    elif input_shape is not None:
        raise ValueError("input_shape applies to named backbones only; a keras.Model backbone has its own Input.")
    if name is not None:
        kwargs["name"] = name
    return IBClassifier(backbone, num_classes, method=method, **kwargs)
