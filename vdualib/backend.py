"""The Keras backend vdualib runs on, and the two things that differ between backends.

The layers, losses, metrics and the classifier compute through ``keras.ops`` and
``keras.random``, so their math is the same on every backend Keras runs. Two things are not:

* **distributions**: e(z|x), the priors and :func:`vdualib.layers.gaussian_posterior` are
  TensorFlow Probability objects from the TFP substrate that matches
  ``keras.backend.backend()``: ``tensorflow_probability`` on TensorFlow,
  ``tensorflow_probability.substrates.jax`` on JAX (:func:`distributions`);
* **compiled functions** that read and update Keras variables (a layer's seed stream), outside
  ``fit``/``predict`` (:func:`function`);
* **run-time input checks** on tensors whose values are only known when the computation runs
  (inside ``tf.function``, ``tf.data`` or ``jax.jit``): ``tf.debugging.Assert`` on TensorFlow
  tensors, a ``jax.debug.callback`` on JAX arrays (see :mod:`vdualib.checks`).

Supported: ``"tensorflow"`` and ``"jax"`` (:data:`SUPPORTED`). TFP has no PyTorch substrate,
so on ``KERAS_BACKEND=torch`` the stochastic layers, the losses that draw on them and the
classifier refuse at construction (:func:`require_supported`) instead of failing later; the
numpy tools (:mod:`vdualib.ib`, :mod:`vdualib.information` estimators, :mod:`vdualib.ntk`) and
:mod:`vdualib.metrics`' numpy functions do not use Keras and run whatever the backend.

Example:
    >>> from vdualib import backend
    >>> backend.name() in backend.SUPPORTED
    True
    >>> tfd = backend.distributions()     # the substrate's tfp.distributions
    >>> float(tfd.Normal(0.0, 1.0).log_prob(0.0))     # -log(2 pi) / 2 nats
    -0.9189...
"""

import functools

import keras

__all__ = ["SUPPORTED", "name", "require_supported", "distributions", "is_tensorflow", "function"]

#: the Keras backends vdualib's layers, losses and classifier run on
SUPPORTED = ("tensorflow", "jax")


def name():
    """The name of the Keras backend in use (``keras.backend.backend()``), e.g. ``"jax"``."""
    return keras.backend.backend()


def is_tensorflow():
    """Whether Keras runs on TensorFlow."""
    return name() == "tensorflow"


def require_supported(what):
    """Refuse to build ``what`` on a Keras backend without a TFP substrate.

    Args:
        what: the name of the object being built, for the message (e.g. ``"GaussianEncoder"``).

    Raises:
        ValueError: the backend is not one of :data:`SUPPORTED`; the message says how to choose
            another (``KERAS_BACKEND``, before Keras is imported).

    Example:
        >>> require_supported("GaussianEncoder")     # nothing on TensorFlow or JAX
    """
    if name() not in SUPPORTED:
        raise ValueError(
            f"{what} needs TensorFlow Probability, which has substrates for the TensorFlow and JAX backends of "
            f"Keras only, and Keras runs on {name()!r}. Set KERAS_BACKEND=jax (pip install 'vdualib[jax]') or "
            "KERAS_BACKEND=tensorflow before Keras is imported. keras.ops math such as "
            "vdualib.losses.ib_distortion runs on any backend."
        )


def distributions():
    """``tfp.distributions`` of the TFP substrate that matches the Keras backend.

    TensorFlow: ``tensorflow_probability.distributions``; JAX:
    ``tensorflow_probability.substrates.jax.distributions`` (imported on first use, so neither
    backend pays for the other's).

    Returns:
        the module of distributions (``Normal``, ``Independent``, ``MixtureSameFamily``, ...),
        whose objects take and return the backend's tensors.

    Raises:
        ValueError: a backend without a TFP substrate (see :func:`require_supported`).

    Example:
        >>> tfd = distributions()
        >>> float(tfd.Normal(0.0, 2.0).stddev())     # computed as a tensor of the backend
        2.0
    """
    require_supported("a TFP distribution")
    if is_tensorflow():
        import tensorflow_probability as tfp
    else:
        from tensorflow_probability.substrates import jax as tfp
    return tfp.distributions


def function(fn, variables):
    """``fn`` compiled for the Keras backend, for inference loops outside ``predict``.

    ``fn(batch)`` may read any of ``variables`` and update some (a
    ``keras.random.SeedGenerator``'s state advances at every draw). On TensorFlow it becomes a
    ``tf.function`` (variables are updated in place, as usual). On JAX, where a compiled function
    cannot update state, it is run as a pure function of the variables' values inside a
    ``keras.StatelessScope`` under ``jax.jit``, and the values it assigned are written back after
    each call; the result is the same sequence of draws as running ``fn`` eagerly.

    Args:
        fn: a function of one batch (a tensor or numpy array) returning a tuple of tensors (or
            ``None`` entries).
        variables: the Keras variables ``fn`` may read or update (e.g. ``model.variables``).

    Returns:
        A function of one batch with the outputs of ``fn``.

    Example:
        >>> layer = keras.layers.Dropout(0.5, seed=0)
        >>> step = function(lambda x: (layer(x, training=True),), layer.variables)
        >>> tuple(step(np.ones((2, 3), "float32"))[0].shape)
        (2, 3)
    """
    if is_tensorflow():
        import tensorflow as tf

        # one trace per input shape family; the partial is its own key in TensorFlow's retracing
        # detector, which otherwise counts every model's traces of a shared code object together
        return tf.function(functools.partial(fn), reduce_retracing=True)
    if name() != "jax":
        return fn
    import jax

    variables = list(variables)

    def pure(values, batch):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            outputs = fn(batch)
            updated = [scope.get_current_value(variable) for variable in variables]
        return outputs, updated

    compiled = jax.jit(pure)

    def step(batch):
        outputs, updated = compiled([variable.value for variable in variables], batch)
        for variable, value in zip(variables, updated):
            if value is not None:
                variable.assign(value)
        return outputs

    return step
