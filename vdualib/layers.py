"""Stochastic layers for Keras 3: the Gaussian encoder e(z|x) and the priors r(z).

``tfp.layers`` is Keras-2-only; these are plain Keras 3 layers whose ``call`` uses
``tfp.distributions`` and returns tensors. Their distribution math runs in float32 whatever
the global dtype policy (they default to ``dtype="float32"``), so a ``mixed_bfloat16`` backbone
feeds a float32 bottleneck.

Shapes: ``mu`` and ``sigma`` are ``[batch, latent_dim]``; samples are ``[S, batch, latent_dim]``;
rates are per example, ``[batch]``, in nats.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = [
    "GaussianEncoder",
    "StandardNormalPrior",
    "MixturePrior",
    "ClassConditionalPrior",
    "get_prior",
]


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


def _float32_policy(kwargs):
    kwargs.setdefault("dtype", "float32")
    return kwargs


@keras.saving.register_keras_serializable(package="vdualib")
class GaussianEncoder(keras.layers.Layer):
    """Features -> diagonal Gaussian e(z|x) = N(mu(x), diag(sigma(x)^2)).

    One dense layer maps the features to ``[mu, rho]`` (``2 * latent_dim`` units) and
    ``sigma = softplus(rho - scale_shift) + min_scale``, the parameterisation of the VIB
    reference code (``scale_shift = 5`` starts every sigma near ``softplus(-5) ~ 0.0067``).

    ``call(features, training=None, num_samples=None)`` returns:

    * ``num_samples=None``: one reparameterised sample ``[batch, latent_dim]`` in training,
      the mean ``mu`` at inference (deterministic prediction);
    * ``num_samples=S``: ``S`` reparameterised samples ``[S, batch, latent_dim]`` drawn from one
      computation of ``mu`` and ``sigma`` (nothing upstream is recomputed).

    :meth:`moments` gives ``(mu, sigma)``, :meth:`sample` draws from given moments and
    :meth:`distribution` builds the ``tfp.distributions`` object.

    Args:
        latent_dim: K, the size of z.
        scale_shift: the 5 in ``softplus(rho - 5)``.
        min_scale: floor added to sigma, keeps densities finite.
        seed: seed of the layer's sample stream (``keras.random.SeedGenerator``).
    """

    def __init__(
        self,
        latent_dim,
        scale_shift=5.0,
        min_scale=1e-4,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**_float32_policy(kwargs))
        self.latent_dim = _check_positive_int("latent_dim", latent_dim)
        if min_scale < 0:
            raise ValueError(f"min_scale must be >= 0, got {min_scale}.")
        self.scale_shift = float(scale_shift)
        self.min_scale = float(min_scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.projection = keras.layers.Dense(
            2 * self.latent_dim,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(input_shape)

    def moments(self, features):
        """``(mu, sigma)`` of e(z|x), each ``[batch, latent_dim]``, float32."""
        params = self.projection(features)
        mu, rho = tf.split(tf.cast(params, tf.float32), 2, axis=-1)
        sigma = tf.nn.softplus(rho - self.scale_shift) + self.min_scale
        return mu, sigma

    @staticmethod
    def distribution(mu, sigma):
        """e(z|x) as a ``tfd.Independent(tfd.Normal)`` with event shape ``[latent_dim]``."""
        return tfd.Independent(tfd.Normal(loc=mu, scale=sigma), reinterpreted_batch_ndims=1)

    def sample(self, mu, sigma, num_samples):
        """``num_samples`` reparameterised draws, ``[num_samples, batch, latent_dim]``."""
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        return tfd.Normal(loc=mu, scale=sigma).sample(num_samples, seed=seed)

    def call(self, features, training=None, num_samples=None):
        mu, sigma = self.moments(features)
        if num_samples is not None:
            return self.sample(mu, sigma, num_samples)
        if training:
            return self.sample(mu, sigma, 1)[0]
        return mu

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.latent_dim,)

    # The sample stream's state is saved with the weights, so a resumed run draws the same noise.
    def save_own_variables(self, store):
        store["seed_state"] = self.seed_generator.state.numpy()

    def load_own_variables(self, store):
        if "seed_state" in store.keys():
            self.seed_generator.state.assign(store["seed_state"][...])

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            scale_shift=self.scale_shift,
            min_scale=self.min_scale,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer
            else None,
            seed=self.seed,
        )
        return config


class _Prior(keras.layers.Layer):
    """Base of the priors r(z): ``build`` takes ``(batch, latent_dim)``; ``rate`` gives
    per-example KL(e(z|x) || r(z)) in nats.

    The rate is in closed form when r is Gaussian and estimated from the encoder's samples
    ``z`` (``[S, batch, K]``, averaged over S) otherwise.
    """

    #: whether ``rate`` needs the labels (class-conditional priors)
    needs_labels = False

    def __init__(self, **kwargs):
        super().__init__(**_float32_policy(kwargs))

    def distribution(self, labels=None):
        """r(z) (or b(z|y) for the given labels) as a ``tfp.distributions`` object."""
        raise NotImplementedError

    def rate(self, mu, sigma, z=None, labels=None):
        """Per-example KL(e(z|x) || r(z)) in nats, ``[batch]``."""
        raise NotImplementedError

    def call(self, mu, sigma, z=None, labels=None):
        return self.rate(mu, sigma, z=z, labels=labels)

    def _monte_carlo_rate(self, mu, sigma, z, prior):
        if z is None:
            raise ValueError(f"{type(self).__name__} estimates the rate by Monte Carlo: pass the encoder samples z.")
        posterior = GaussianEncoder.distribution(mu, sigma)
        return tf.reduce_mean(posterior.log_prob(z) - prior.log_prob(z), axis=0)


@keras.saving.register_keras_serializable(package="vdualib")
class StandardNormalPrior(_Prior):
    """r(z) = N(0, I). Rate in closed form:
    KL = 1/2 sum_k (mu_k^2 + sigma_k^2 - 1 - 2 log sigma_k) nats."""

    def build(self, input_shape):
        self.latent_dim = int(input_shape[-1])

    def distribution(self, labels=None):
        zeros = tf.zeros([self.latent_dim], tf.float32)
        return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def rate(self, mu, sigma, z=None, labels=None):
        return tfd.kl_divergence(GaussianEncoder.distribution(mu, sigma), self.distribution())


@keras.saving.register_keras_serializable(package="vdualib")
class MixturePrior(_Prior):
    """A learned mixture of diagonal Gaussians, r(z) = sum_c pi_c N(z; m_c, diag(s_c^2)).

    Means start spread as N(0, 1) draws (seeded), scales at 1, weights uniform. The KL has no
    closed form: the rate is the Monte Carlo estimate E_{z~e}[log e(z|x) - log r(z)] from the
    encoder's own samples (unbiased; one sample in training).
    """

    def __init__(self, num_components=10, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_components = _check_positive_int("num_components", num_components)
        self.seed = seed

    def build(self, input_shape):
        latent_dim = int(input_shape[-1])
        self.means = self.add_weight(
            name="means",
            shape=(self.num_components, latent_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed),
        )
        self.raw_scales = self.add_weight(
            name="raw_scales",
            shape=(self.num_components, latent_dim),
            initializer=keras.initializers.Constant(math.log(math.e - 1.0)),  # softplus^-1(1)
        )
        self.logits = self.add_weight(name="logits", shape=(self.num_components,), initializer="zeros")

    def distribution(self, labels=None):
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=self.logits),
            components_distribution=tfd.Independent(
                tfd.Normal(self.means, tf.nn.softplus(self.raw_scales) + 1e-4), reinterpreted_batch_ndims=1
            ),
        )

    def rate(self, mu, sigma, z=None, labels=None):
        return self._monte_carlo_rate(mu, sigma, z, self.distribution())

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="vdualib")
class ClassConditionalPrior(_Prior):
    """A learned Gaussian per class, b(z|y) = N(m_y, diag(s_y^2)): the conditional-entropy-
    bottleneck form used by the reference dualIB code.

    With labels the rate KL(e(z|x) || b(z|y)) is in closed form. Without labels (prediction,
    out-of-distribution scores) the prior is the class marginal r(z) = sum_y p(y) b(z|y) with
    ``class_prior`` p(y) (uniform by default) and the rate is a Monte Carlo estimate.
    """

    needs_labels = True

    def __init__(self, num_classes, class_prior=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _check_positive_int("num_classes", num_classes)
        if class_prior is not None:
            class_prior = [float(p) for p in class_prior]
            if len(class_prior) != num_classes or min(class_prior) < 0 or abs(sum(class_prior) - 1) > 1e-6:
                raise ValueError(f"class_prior must be {num_classes} non-negative numbers summing to 1.")
        self.class_prior = class_prior
        self.seed = seed

    def build(self, input_shape):
        latent_dim = int(input_shape[-1])
        self.means = self.add_weight(
            name="means",
            shape=(self.num_classes, latent_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed),
        )
        self.raw_scales = self.add_weight(
            name="raw_scales",
            shape=(self.num_classes, latent_dim),
            initializer=keras.initializers.Constant(math.log(math.e - 1.0)),
        )

    def _scales(self):
        return tf.nn.softplus(self.raw_scales) + 1e-4

    def distribution(self, labels=None):
        if labels is None:
            if self.class_prior is None:
                logits = tf.zeros([self.num_classes])
            else:
                logits = tf.math.log(tf.constant(self.class_prior, tf.float32))
            return tfd.MixtureSameFamily(
                mixture_distribution=tfd.Categorical(logits=logits),
                components_distribution=tfd.Independent(tfd.Normal(self.means, self._scales()), 1),
            )
        labels = tf.cast(labels, tf.int32)
        return tfd.Independent(
            tfd.Normal(tf.gather(self.means, labels), tf.gather(self._scales(), labels)), reinterpreted_batch_ndims=1
        )

    def rate(self, mu, sigma, z=None, labels=None):
        if labels is None:
            return self._monte_carlo_rate(mu, sigma, z, self.distribution())
        return tfd.kl_divergence(GaussianEncoder.distribution(mu, sigma), self.distribution(labels))

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
    """A prior from a name (``standard_normal``, ``mixture``, ``class_conditional``), a config
    dict (``keras.saving.serialize_keras_object`` form) or a prior layer."""
    if isinstance(prior, _Prior):
        return prior
    if isinstance(prior, dict):
        return keras.saving.deserialize_keras_object(prior)
    if isinstance(prior, str) and prior in _PRIORS:
        if prior == "class_conditional":
            if num_classes is None:
                raise ValueError("the class_conditional prior needs num_classes.")
            return ClassConditionalPrior(num_classes)
        return _PRIORS[prior]()
    raise ValueError(f"Unknown prior {prior!r}; use one of {sorted(_PRIORS)} or a prior layer.")
