"""Stochastic layers for Keras 3: the Gaussian encoder e(z|x) and the priors r(z).

``tfp.layers`` is Keras-2-only; these are plain Keras 3 layers whose ``call`` computes through
``keras.ops`` and ``keras.random`` and returns tensors, so they run on the TensorFlow and the
JAX backends alike; the distributions they describe (:meth:`GaussianEncoder.distribution`,
``prior.distribution()``) are ``tfp.distributions`` objects of the TFP substrate that matches the
backend (:mod:`vdualib.backend`). Their math runs in float32 whatever the global dtype policy
(they default to ``dtype="float32"``), so a ``mixed_bfloat16`` backbone feeds a float32
bottleneck.

Shapes: ``mu`` and ``sigma`` are ``[batch, latent_dim]``; samples are ``[S, batch, latent_dim]``;
rates are per example, ``[batch]``, in nats.

The encoder is a complete VIB bottleneck on its own: given a prior and ``beta > 0`` it adds
``beta * mean_batch KL(e(z|x) || r(z))`` to the model's losses (like the Keras 2
``tfp.layers.KLDivergenceRegularizer``) and reports the rate as a metric, so any functional
model with a ``GaussianEncoder`` and a :class:`vdualib.losses.VIBLoss` is a VIB:

    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Dense(256, activation="relu")(keras.layers.Flatten()(inputs) / 255)
    z = vdualib.layers.GaussianEncoder(64, prior="standard_normal", beta=1e-3)(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(z))
    model.compile("adam", loss=vdualib.losses.VIBLoss())     # logs loss and rate (nats)
"""

import math

import keras
from keras import ops

from vdualib import backend, checks, registration

__all__ = [
    "GaussianEncoder",
    "StandardNormalPrior",
    "MixturePrior",
    "ClassConditionalPrior",
    "get_prior",
    "gaussian_posterior",
    "diagonal_gaussian_kl",
]

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def _float32_policy(kwargs):
    kwargs.setdefault("dtype", "float32")
    return kwargs


def gaussian_posterior(mu, sigma):
    """e(z|x) = N(mu, diag(sigma^2)) as a ``tfd.Independent(tfd.Normal)``, event shape ``[K]``,
    from the TFP substrate of the Keras backend (:func:`vdualib.backend.distributions`).

    Args:
        mu: means, ``[batch, K]``.
        sigma: standard deviations, ``[batch, K]``, > 0.

    Returns:
        A ``tfp.distributions.Independent`` with batch shape ``[batch]`` and event shape ``[K]``
        (its ``log_prob`` is in nats).

    Example:
        >>> zeros, ones = np.zeros((2, 4), "float32"), np.ones((2, 4), "float32")
        >>> keras.ops.convert_to_numpy(gaussian_posterior(zeros, ones).log_prob(zeros))     # -2 log(2 pi)
        array([-3.6758, -3.6758], dtype=float32)
    """
    tfd = backend.distributions()
    return tfd.Independent(tfd.Normal(loc=mu, scale=sigma), reinterpreted_batch_ndims=1)


def diagonal_gaussian_kl(mu, sigma, mean, scale):
    """KL(N(mu, diag(sigma^2)) || N(mean, diag(scale^2))) per example, in nats, through ``keras.ops``:

        sum_k [ log(scale_k / sigma_k) + (sigma_k^2 + (mu_k - mean_k)^2) / (2 scale_k^2) - 1/2 ].

    Args:
        mu, sigma: the first Gaussian's means and standard deviations (> 0), ``[batch, K]``.
        mean, scale: the second's, broadcastable to ``[batch, K]`` (``[K]`` for a shared prior).

    Returns:
        float ``[batch]``, nats.

    Example:
        >>> ones = np.ones((2, 3), "float32")
        >>> keras.ops.convert_to_numpy(diagonal_gaussian_kl(ones, ones, 0.0, 1.0))     # |mu|^2 / 2
        array([1.5, 1.5], dtype=float32)
    """
    ratio = ops.square(sigma / scale)
    return 0.5 * ops.sum(ratio + ops.square((mu - mean) / scale) - 1.0 - ops.log(ratio), axis=-1)


def _diagonal_gaussian_log_prob(z, mean, scale):
    """log N(z; mean, diag(scale^2)) summed over the last axis (nats); shapes broadcast."""
    return -ops.sum(0.5 * ops.square((z - mean) / scale) + ops.log(scale) + _HALF_LOG_TWO_PI, axis=-1)


@keras.saving.register_keras_serializable(package="vdualib")
class GaussianEncoder(keras.layers.Layer):
    """Features -> diagonal Gaussian e(z|x) = N(mu(x), diag(sigma(x)^2)), and optionally its rate.

    One dense layer maps the features to ``[mu, rho]`` (``2 * latent_dim`` units) and
    ``sigma = softplus(rho - scale_shift) + min_scale``, the parameterisation of the VIB
    reference code (``scale_shift = 5`` starts every sigma near ``softplus(-5) ~ 0.0067``).

    With a ``prior`` the layer computes the rate KL(e(z|x) || r(z)) (nats, per example),
    reports its batch mean as the metric ``rate`` and adds ``beta * mean_batch rate`` to the
    model's losses (``add_loss``). The rate is computed in training, and at inference where it
    needs no sampling (a closed-form prior, or ``labels`` for a class-conditional one).
    ``beta`` is a non-trainable variable, so :class:`vdualib.callbacks.BetaScheduler` can
    anneal it; ``get_config`` reports its current value. The ``rate`` metric is the layer's on
    TensorFlow; Keras on JAX cannot update a layer's metric inside a compiled step (it threads
    only the trainer's state through it), so there the layer adds the loss term but logs no
    metric (:class:`vdualib.models.IBClassifier` logs ``rate`` on both backends, from its
    ``compute_loss``). Without a prior there is no rate for
    beta to weigh, so ``beta > 0`` without one is refused rather than ignored: the VIB's rate
    needs ``prior="standard_normal"`` (r(z) = N(0, I)).

    Args:
        latent_dim: K, the size of z.
        prior: ``None`` (no rate), a name (``"standard_normal"``, ``"mixture"``), a prior layer
            (``ClassConditionalPrior(num_classes)`` for b(z|y)) or a serialized prior.
        beta: weight of the rate in the loss (VIB convention), finite, >= 0; 0 without a prior.
        scale_shift: the 5 in ``softplus(rho - 5)``.
        min_scale: floor added to sigma, > 0, keeps the rate finite.
        kernel_initializer, kernel_regularizer: of the projection.
        seed: seed of the layer's sample stream (``keras.random.SeedGenerator``).
        track_rate: log the rate as the metric ``rate`` (on TensorFlow; see above). A model that
            logs the rate itself passes ``False``.

    Call arguments:
        features: ``[batch, d]``.
        training: one reparameterised sample ``[batch, K]`` in training, ``mu`` at inference
            (when ``num_samples`` is None).
        num_samples: S >= 0: S samples ``[S, batch, K]`` from one computation of mu and sigma.
        labels: integer labels ``[batch]`` for a class-conditional prior.
        return_moments: also return ``(mu, sigma)``: the call returns ``(z, mu, sigma)``.
        add_rate: ``False`` leaves the rate out of this call (no ``add_loss``, no metric update),
            for a model that adds it in its loss once the labels are known (as
            :class:`vdualib.models.IBClassifier` does for a class-conditional prior).

    Example:
        >>> features = np.random.default_rng(0).normal(size=(8, 32)).astype("float32")     # [batch, features]
        >>> encoder = GaussianEncoder(16, prior="standard_normal", beta=1e-3)
        >>> z = encoder(features, training=True)     # encoder.losses has the rate
        >>> tuple(z.shape), len(encoder.losses)
        ((8, 16), 1)
        >>> tuple(encoder(features, num_samples=12).shape)
        (12, 8, 16)
        >>> tuple(encoder.distribution(features).event_shape)     # e(z|x), a tfp.distributions object
        (16,)
        >>> GaussianEncoder(16, beta=1e-2)
        Traceback (most recent call last):
        ...
        ValueError: beta=0.01 needs a prior: without one the encoder has no rate for beta to weigh. ...

    Raises:
        ValueError: a bad ``latent_dim``, ``scale_shift``, ``min_scale`` or ``beta``, an unknown
            prior, or ``beta > 0`` without a prior.
    """

    def __init__(
        self,
        latent_dim,
        prior=None,
        beta=0.0,
        scale_shift=5.0,
        min_scale=1e-4,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        seed=None,
        track_rate=True,
        **kwargs,
    ):
        backend.require_supported(type(self).__name__)
        super().__init__(**_float32_policy(kwargs))
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        self.scale_shift = checks.finite_float("scale_shift", scale_shift)
        self.min_scale = checks.finite_float("min_scale", min_scale, low=0.0, low_open=True)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.prior = None if prior is None else get_prior(prior)
        beta = checks.finite_float("beta", beta, low=0.0)
        if beta > 0 and self.prior is None:
            raise ValueError(
                f"beta={beta:g} needs a prior: without one the encoder has no rate for beta to weigh. Pass "
                "prior='standard_normal' for the VIB's N(0, I) (or 'mixture', or a ClassConditionalPrior), or beta=0."
            )
        self.beta = self.add_weight(name="beta", shape=(), initializer=keras.initializers.Constant(beta), trainable=False)
        self.track_rate = bool(track_rate)
        tracked = self.prior is not None and self.track_rate and backend.is_tensorflow()
        self.rate_tracker = keras.metrics.Mean(name="rate") if tracked else None

    def build(self, input_shape):
        self.projection = keras.layers.Dense(
            2 * self.latent_dim,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(input_shape)
        if self.prior is not None and not self.prior.built:
            self.prior.build((None, self.latent_dim))

    def moments(self, features):
        """``(mu, sigma)`` of e(z|x), each float32 ``[batch, K]``, for features ``[batch, d]``.

        Example:
            >>> mu, sigma = GaussianEncoder(4).moments(np.ones((2, 3), "float32"))
            >>> tuple(sigma.shape)
            (2, 4)
        """
        if not self.built:
            self.build(tuple(features.shape))
        params = self.projection(features)
        mu, rho = ops.split(ops.cast(params, "float32"), 2, axis=-1)
        return mu, ops.softplus(rho - self.scale_shift) + self.min_scale

    def distribution(self, features):
        """e(z|x) for features ``[batch, d]``: a ``tfp.distributions`` object (batch shape ``[batch]``,
        event shape ``[K]``) of the TFP substrate that matches the Keras backend.

        Example:
            >>> e = GaussianEncoder(4).distribution(np.ones((2, 3), "float32"))
            >>> tuple(e.sample(5, seed=0).shape)     # TensorFlow's integer seed; JAX takes a PRNG key
            (5, 2, 4)
        """
        return gaussian_posterior(*self.moments(features))

    def _sample(self, mu, sigma, num_samples):
        # the reparameterised draw z = mu + sigma * eps, eps ~ N(0, I) from the layer's seed stream
        shape = (num_samples,) + tuple(ops.shape(mu))
        return mu[None] + sigma[None] * keras.random.normal(shape, dtype="float32", seed=self.seed_generator)

    def call(self, features, training=None, num_samples=None, labels=None, return_moments=False, add_rate=True):
        if num_samples is not None:
            num_samples = checks.non_negative_int("num_samples", num_samples)
        mu, sigma = self.moments(features)
        if num_samples == 0:
            z, samples = mu[None][:0], None  # no draw: the sample stream is not advanced
        elif num_samples is not None:
            z = samples = self._sample(mu, sigma, num_samples)
        elif training:
            samples = self._sample(mu, sigma, 1)
            z = samples[0]
        else:
            z, samples = mu, None
        if self.prior is not None and add_rate:
            self._add_rate(mu, sigma, samples, labels, training)
        return (z, mu, sigma) if return_moments else z

    def _add_rate(self, mu, sigma, samples, labels, training):
        if labels is None and self.prior.needs_labels and training:
            raise ValueError(
                f"{type(self.prior).__name__} needs the labels in training: call the encoder as "
                "encoder(features, labels=labels) (labels as a second model input)."
            )
        if samples is None and self.prior.needs_samples(labels) and not training:
            return  # at inference, a Monte Carlo rate is computed only where samples were drawn
        rate = self.prior(mu, sigma, z=samples, labels=labels)
        if self.rate_tracker is not None:
            self.rate_tracker.update_state(rate)
        self.add_loss(self.beta * ops.mean(rate))

    def compute_output_shape(self, input_shape, num_samples=None):
        """``[..., K]``, or ``[S, ..., K]`` with ``num_samples=S``."""
        shape = tuple(input_shape[:-1]) + (self.latent_dim,)
        if num_samples is not None:
            shape = (checks.non_negative_int("num_samples", num_samples),) + shape
        return shape

    def compute_output_spec(self, features, training=None, num_samples=None, labels=None, return_moments=False,
                            add_rate=True):
        z = keras.KerasTensor(self.compute_output_shape(features.shape, num_samples), dtype="float32")
        if not return_moments:
            return z
        moments = keras.KerasTensor(self.compute_output_shape(features.shape), dtype="float32")
        return z, moments, keras.KerasTensor(moments.shape, dtype="float32")

    # The sample stream and beta are saved by name, so files written before beta moved into the
    # encoder (they hold only the seed state) still load.
    def save_own_variables(self, store):
        store["seed_state"] = ops.convert_to_numpy(self.seed_generator.state)
        store["beta"] = self.beta.numpy()

    def load_own_variables(self, store):
        if "seed_state" in store.keys():
            self.seed_generator.state.assign(store["seed_state"][...])
        if "beta" in store.keys():
            self.beta.assign(store["beta"][...])

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            prior=keras.saving.serialize_keras_object(self.prior) if self.prior is not None else None,
            beta=float(self.beta.numpy()),
            scale_shift=self.scale_shift,
            min_scale=self.min_scale,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer
            else None,
            seed=self.seed,
            track_rate=self.track_rate,
        )
        return config


class _Prior(keras.layers.Layer):
    """Base of the priors r(z): ``build`` takes ``(batch, latent_dim)``; calling the layer,
    ``prior(mu, sigma, z=None, labels=None)``, gives the per-example KL(e(z|x) || r(z)) in nats.

    The rate is in closed form when r is Gaussian and estimated from the encoder's samples
    ``z`` (``[S, batch, K]``, averaged over S) otherwise.
    """

    #: whether the rate needs the labels in training (class-conditional priors)
    needs_labels = False

    def needs_samples(self, labels=None):
        """Whether the rate is a Monte Carlo estimate (needs samples of z) given these labels."""
        return False

    def __init__(self, **kwargs):
        backend.require_supported(type(self).__name__)
        super().__init__(**_float32_policy(kwargs))

    def distribution(self, labels=None):
        """r(z) (or b(z|y) for the given labels) as a ``tfp.distributions`` object of the TFP
        substrate that matches the Keras backend."""
        raise NotImplementedError

    def rate(self, mu, sigma, z=None, labels=None):
        """The per-example rate KL(e(z|x) || r(z)), in nats (closed form or Monte Carlo).

        Args:
            mu: encoder means, ``[batch, K]``.
            sigma: encoder standard deviations, ``[batch, K]``.
            z: encoder samples ``[S, batch, K]``, needed when :meth:`needs_samples` is true (the
                estimate E_z[log e(z|x) - log r(z)] averages over S).
            labels: integer labels ``[batch]`` for a class-conditional prior, else ``None``.

        Returns:
            float32 ``[batch]``, nats.

        Raises:
            ValueError: a Monte Carlo rate without ``z``.

        Example:
                >>> rate = StandardNormalPrior()(np.zeros((2, 3), "float32"), np.ones((2, 3), "float32"))     # calls rate
            >>> keras.ops.convert_to_numpy(rate)
            array([0., 0.], dtype=float32)
        """
        raise NotImplementedError

    def call(self, mu, sigma, z=None, labels=None):
        if not self.built:
            self.build(tuple(mu.shape))
        return self.rate(mu, sigma, z=z, labels=labels)

    def _monte_carlo_rate(self, mu, sigma, z, prior):
        if z is None:
            raise ValueError(f"{type(self).__name__} estimates the rate by Monte Carlo: pass the encoder samples z.")
        return ops.mean(_diagonal_gaussian_log_prob(z, mu, sigma) - prior.log_prob(z), axis=0)


@keras.saving.register_keras_serializable(package="vdualib")
class StandardNormalPrior(_Prior):
    """r(z) = N(0, I). Rate in closed form:
    KL = 1/2 sum_k (mu_k^2 + sigma_k^2 - 1 - 2 log sigma_k) nats.

    Example:
        >>> mu, sigma = np.ones((2, 3), "float32"), np.ones((2, 3), "float32")
        >>> keras.ops.convert_to_numpy(StandardNormalPrior()(mu, sigma))     # [batch] nats: |mu|^2 / 2
        array([1.5, 1.5], dtype=float32)
    """

    def build(self, input_shape):
        self.latent_dim = int(input_shape[-1])

    def distribution(self, labels=None):
        zeros = ops.zeros([self.latent_dim], "float32")
        return gaussian_posterior(zeros, ops.ones_like(zeros))

    def rate(self, mu, sigma, z=None, labels=None):
        return diagonal_gaussian_kl(mu, sigma, 0.0, 1.0)


class _GaussianComponentsPrior(_Prior):
    """Learned diagonal Gaussians N(m_c, diag(s_c^2)), c = 1..n: the shared part of the mixture
    and the class-conditional priors. Means start as N(0, 1) draws (seeded), scales at 1."""

    def __init__(self, num_components, seed=None, **kwargs):
        super().__init__(**kwargs)
        self._num_components = checks.positive_int("num_components", num_components)
        self.seed = seed

    def build(self, input_shape):
        latent_dim = int(input_shape[-1])
        self.means = self.add_weight(
            name="means",
            shape=(self._num_components, latent_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed),
        )
        self.raw_scales = self.add_weight(
            name="raw_scales",
            shape=(self._num_components, latent_dim),
            initializer=keras.initializers.Constant(math.log(math.e - 1.0)),  # softplus^-1(1)
        )

    def _scales(self):
        return ops.softplus(ops.convert_to_tensor(self.raw_scales)) + 1e-4

    def _mixture(self, logits):
        tfd = backend.distributions()
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=logits),
            components_distribution=gaussian_posterior(ops.convert_to_tensor(self.means), self._scales()),
        )


@keras.saving.register_keras_serializable(package="vdualib")
class MixturePrior(_GaussianComponentsPrior):
    """A learned mixture of diagonal Gaussians, r(z) = sum_c pi_c N(z; m_c, diag(s_c^2)).

    Weights start uniform. The KL has no closed form: the rate is the Monte Carlo estimate
    E_{z~e}[log e(z|x) - log r(z)] from the encoder's own samples (unbiased; one sample in
    training).

    Args:
        num_components: the number of Gaussians.
        seed: seed of the means' initialisation.

    Example:
        >>> mu, sigma = np.zeros((4, 2), "float32"), np.ones((4, 2), "float32")
        >>> samples = mu + sigma * np.random.default_rng(0).normal(size=(12, 4, 2)).astype("float32")     # [S, batch, K]
        >>> tuple(MixturePrior(10, seed=0)(mu, sigma, z=samples).shape)     # [batch] nats
        (4,)
    """

    def needs_samples(self, labels=None):
        return True

    def __init__(self, num_components=10, seed=None, **kwargs):
        super().__init__(num_components, seed=seed, **kwargs)
        self.num_components = self._num_components

    def build(self, input_shape):
        super().build(input_shape)
        self.logits = self.add_weight(name="logits", shape=(self.num_components,), initializer="zeros")

    def distribution(self, labels=None):
        return self._mixture(ops.convert_to_tensor(self.logits))

    def rate(self, mu, sigma, z=None, labels=None):
        return self._monte_carlo_rate(mu, sigma, z, self.distribution())

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="vdualib")
class ClassConditionalPrior(_GaussianComponentsPrior):
    """A learned Gaussian per class, b(z|y) = N(m_y, diag(s_y^2)): the conditional-entropy-
    bottleneck form used by the reference dualIB code.

    With labels the rate KL(e(z|x) || b(z|y)) is in closed form (the training objective).
    Without labels (prediction, out-of-distribution scores) the prior is the class marginal
    r(z) = sum_y p(y) b(z|y) with ``class_prior`` p(y) (uniform by default) and the rate is a
    Monte Carlo estimate.

    Args:
        num_classes: C, one Gaussian each.
        class_prior: p(y), C non-negative numbers summing to 1, or None for uniform.
        seed: seed of the means' initialisation.

    Example:
        >>> mu, sigma = np.zeros((4, 2), "float32"), np.ones((4, 2), "float32")
        >>> samples = mu + sigma * np.random.default_rng(0).normal(size=(12, 4, 2)).astype("float32")     # [S, batch, K]
        >>> prior = ClassConditionalPrior(10, seed=0)
        >>> tuple(prior(mu, sigma, labels=np.array([0, 1, 2, 3])).shape)     # [batch] nats, closed form
        (4,)
        >>> tuple(prior(mu, sigma, z=samples).shape)     # marginal over classes, Monte Carlo
        (4,)
    """

    needs_labels = True

    def needs_samples(self, labels=None):
        return labels is None

    def __init__(self, num_classes, class_prior=None, seed=None, **kwargs):
        super().__init__(num_classes, seed=seed, **kwargs)
        self.num_classes = self._num_components
        if class_prior is not None:
            class_prior = checks.probability_vector("class_prior", class_prior, size=self.num_classes).tolist()
        self.class_prior = class_prior

    def distribution(self, labels=None):
        if labels is None:
            if self.class_prior is None:
                logits = ops.zeros([self.num_classes], "float32")
            else:
                logits = ops.log(ops.convert_to_tensor(self.class_prior, "float32"))
            return self._mixture(logits)
        return gaussian_posterior(*self._components(labels))

    def _components(self, labels):
        """(means, scales) ``[batch, K]`` of b(z|y) for integer labels ``[batch]``."""
        labels = ops.cast(checks.assert_labels(labels, self.num_classes), "int32")
        return ops.take(ops.convert_to_tensor(self.means), labels, axis=0), ops.take(self._scales(), labels, axis=0)

    def rate(self, mu, sigma, z=None, labels=None):
        if labels is None:
            return self._monte_carlo_rate(mu, sigma, z, self.distribution())
        return diagonal_gaussian_kl(mu, sigma, *self._components(ops.reshape(labels, (-1,))))

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, class_prior=self.class_prior, seed=self.seed)
        return config


_PRIORS = {
    "standard_normal": StandardNormalPrior,
    "mixture": MixturePrior,
    "class_conditional": ClassConditionalPrior,
}


def get_prior(prior, num_classes=None):
    """A prior layer from a name, a config dict or a prior layer.

    Args:
        prior: ``"standard_normal"``, ``"mixture"``, ``"class_conditional"`` (needs
            ``num_classes``), a dict (``keras.saving.serialize_keras_object`` form) or a prior.
        num_classes: C, for the class-conditional prior.

    Returns:
        A prior layer (unbuilt when made from a name).

    Raises:
        ValueError: an unknown name, or ``"class_conditional"`` without ``num_classes``.

    Example:
        >>> prior = get_prior("class_conditional", num_classes=10)
        >>> type(prior).__name__, prior.num_classes, prior.built
        ('ClassConditionalPrior', 10, False)
    """
    if isinstance(prior, _Prior):
        return prior
    if isinstance(prior, dict):
        return keras.saving.deserialize_keras_object(prior)
    if isinstance(prior, str) and prior in _PRIORS:
        if prior == "class_conditional":
            if num_classes is None:
                raise ValueError(
                    "the class_conditional prior needs the number of classes: pass ClassConditionalPrior(num_classes)."
                )
            return ClassConditionalPrior(num_classes)
        return _PRIORS[prior]()
    raise ValueError(f"Unknown prior {prior!r}; use one of {sorted(_PRIORS)} or a prior layer.")


registration.register()  # the other serializable modules, now that this one is complete
