"""The network of the 12-bit information-plane study and a fast training loop for it.

``build_mlp`` builds the 12-10-7-5-4-3-2 network of Shwartz-Ziv & Tishby
(2017). ``fit_in_segments`` trains any Keras model on in-memory data with
mini-batch Adam, running all the epochs between two "stops" inside one
``tf.function`` (a graph loop over epochs and shuffled mini-batches), because
``model.fit`` spends milliseconds of Python per epoch, which dominates a
4,096-example task run for thousands of epochs. Callbacks are called
(``on_train_begin``, ``on_epoch_end``, ``on_train_end``) at the stops only, so
it suits scheduled recorders such as :class:`InformationPlane` whose
schedule is the stops.

Example:
    >>> from vdualib.datasets import load_ib_12bit
    >>> x, y = load_ib_12bit()
    >>> history = fit_in_segments(build_mlp(12, seed=0), x, y, stops=[0, 10, 100])
    >>> history[-1]["epoch"], history[-1]["accuracy"] > history[0]["accuracy"]
    (100, True)
"""

import keras
import numpy as np
import tensorflow as tf

from vdualib import checks

__all__ = ["build_mlp", "fit_in_segments"]


def build_mlp(input_dim, widths=(10, 7, 5, 4, 3), num_classes=2, activation="tanh", seed=0):
    """A Sequential MLP ``input_dim - widths... - num_classes`` (softmax output).

    Weights are initialised from ``seed`` (Glorot-uniform kernels, zero biases),
    so two calls with one seed give identical networks.

    Args:
        input_dim: number of inputs (12 for the 12-bit task).
        widths: hidden-layer widths; the layers are named ``hidden_1``, ...
        num_classes: softmax outputs (layer ``output``).
        activation: ``"tanh"``, ``"relu"``, ``"sigmoid"`` or ``"linear"``.
        seed: initialisation seed.

    Returns:
        a ``keras.Sequential`` model mapping [B, input_dim] to probabilities [B, num_classes].

    Example:
        >>> model = build_mlp(12, activation="relu", seed=0)
        >>> [layer.units for layer in model.layers]     # 12-10-7-5-4-3-2
        [10, 7, 5, 4, 3, 2]
    """
    input_dim = checks.positive_int("input_dim", input_dim)
    widths = [checks.positive_int("widths", w) for w in widths]
    num_classes = checks.positive_int("num_classes", num_classes)
    if activation not in ("tanh", "relu", "sigmoid", "linear"):
        raise ValueError(f"activation must be 'tanh', 'relu', 'sigmoid' or 'linear'; got {activation!r}.")
    layers = [keras.Input((input_dim,))]
    for i, width in enumerate(widths):
        init = keras.initializers.GlorotUniform(seed=seed * 1000 + i)
        layers.append(keras.layers.Dense(width, activation=activation, kernel_initializer=init, name=f"hidden_{i + 1}"))
    init = keras.initializers.GlorotUniform(seed=seed * 1000 + len(widths))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=init, name="output"))
    return keras.Sequential(layers, name=f"mlp_{activation}")


def fit_in_segments(model, x, y, stops, batch_size=512, learning_rate=4e-4, callbacks=(), seed=0):
    """Train ``model`` with Adam on sparse categorical cross-entropy, stopping at ``stops``.

    Args:
        model: a Keras model with softmax outputs.
        x, y: training inputs and integer labels (numpy).
        stops: increasing completed-epoch counts; training runs to the last one.
            At each stop the callbacks get ``on_epoch_end(stop - 1, logs)``.
        batch_size: mini-batch size (the last batch of an epoch may be smaller).
        learning_rate: Adam step size.
        callbacks: Keras callbacks.
        seed: seed of the per-epoch shuffling.

    Returns:
        a list of dicts ``{"epoch", "loss", "accuracy"}`` measured on (x, y) at
        each stop (loss in nats).

    Example:
        >>> x, y = vdualib.datasets.load_ib_12bit()
        >>> history = fit_in_segments(build_mlp(12), x, y, stops=[0, 2, 5])
        >>> [h["epoch"] for h in history]
        [0, 2, 5]
    """
    stops = [checks.non_negative_int("stops", s) for s in stops]
    if not stops or stops != sorted(set(stops)):
        raise ValueError(f"stops must be increasing non-negative epoch counts; got {stops[:5]}...")
    x = checks.sample_matrix("x", x, dtype=np.float32)
    y = checks.integer_labels("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of examples; got {x.shape[0]} and {y.shape[0]}.")
    batch_size = checks.positive_int("batch_size", batch_size)
    learning_rate = checks.finite_float("learning_rate", learning_rate, low=0.0, low_open=True)
    x_t = tf.constant(x)
    y_t = tf.constant(y)
    n = int(x_t.shape[0])
    num_batches = -(-n // batch_size)
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=loss_fn)
    optimizer.build(model.trainable_variables)
    generator = tf.random.Generator.from_seed(seed)

    @tf.function
    def train_epochs(num_epochs):
        for _ in tf.range(num_epochs):
            order = tf.argsort(generator.uniform([n]))
            for b in tf.range(num_batches):
                index = order[b * batch_size : (b + 1) * batch_size]
                with tf.GradientTape() as tape:
                    loss = loss_fn(tf.gather(y_t, index), model(tf.gather(x_t, index), training=True))
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    @tf.function
    def evaluate():
        probabilities = model(x_t, training=False)
        correct = tf.equal(tf.argmax(probabilities, axis=1), y_t)
        return loss_fn(y_t, probabilities), tf.reduce_mean(tf.cast(correct, tf.float32))

    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model, epochs=stops[-1], verbose=0)
    callback_list.on_train_begin()
    history, done = [], 0
    for stop in stops:
        if stop > done:
            train_epochs(tf.constant(stop - done))
            done = stop
        loss, accuracy = (float(v) for v in evaluate())
        logs = {"loss": loss, "accuracy": accuracy}
        history.append({"epoch": stop, **logs})
        if stop > 0:
            callback_list.on_epoch_end(stop - 1, logs)
    callback_list.on_train_end()
    return history
