"""The distortions, the label noise and the VIB / dual IB losses, on the Keras backend in use.

Inputs are numpy arrays and outputs are read with ``keras.ops.convert_to_numpy``, so every test
runs on TensorFlow (the default) and on JAX (``KERAS_BACKEND=jax``); the run-time checks raise
the backend's error (:data:`RUN_TIME_ERROR`). The ``compiled`` tests run the same code inside
the backend's compiler (``tf.function`` or ``jax.jit``) and take gradients with the backend's
autodiff.
"""

import keras
import numpy as np
import pytest

from vdualib import losses, metrics, zoo

BACKEND = keras.backend.backend()


def _run_time_error():
    """What a failed run-time check raises eagerly: ``tf.errors.InvalidArgumentError`` on TensorFlow,
    ``ValueError`` on JAX."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.errors.InvalidArgumentError
    return ValueError


RUN_TIME_ERROR = _run_time_error()


def _compiled(function):
    """``function`` compiled by the backend, and what a failed run-time check raises inside it."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(function), tf.errors.InvalidArgumentError
    if BACKEND == "jax":
        import jax

        return jax.jit(function), jax.errors.JaxRuntimeError
    pytest.skip(f"no compiled test for the {BACKEND} backend")


def _gradient(function, x):
    """d function(x) / dx of a scalar function at the numpy array x, with the backend's autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = function(x)
        return tape.gradient(value, x).numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(function)(x))
    pytest.skip(f"no gradient test for the {BACKEND} backend")


def _np(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _random_case(rng, batch=7, classes=5):
    targets = rng.dirichlet(np.ones(classes), size=batch).astype(np.float32)
    logits = rng.normal(size=(batch, classes)).astype(np.float32) * 2
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    return targets, logits, q


def test_distortions_match_numpy_and_differ(rng):
    targets, logits, q = _random_case(rng)
    ib = _np(losses.ib_distortion(targets, logits))
    dual = _np(losses.dual_distortion(targets, logits))
    np.testing.assert_allclose(ib, np.sum(targets * (np.log(targets) - np.log(q)), axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dual, np.sum(q * (np.log(q) - np.log(targets)), axis=1), rtol=1e-5, atol=1e-6)
    assert ib.shape == dual.shape == (7,)
    assert np.all(ib >= 0) and np.all(dual >= 0)
    assert np.max(np.abs(ib - dual)) > 1e-2  # KL is not symmetric


def test_distortions_broadcast_over_samples_and_zero_at_equality(rng):
    targets, logits, q = _random_case(rng)
    stacked = np.stack([logits, logits + 3.0])  # a constant shift leaves softmax unchanged
    out = _np(losses.dual_distortion(targets, stacked))
    assert out.shape == (2, 7)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5)
    np.testing.assert_allclose(_np(losses.ib_distortion(q, logits)), 0, atol=1e-5)
    np.testing.assert_allclose(_np(losses.dual_distortion(q, logits)), 0, atol=1e-5)


def test_one_hot_targets_ib_finite_dual_infinite():
    onehot = np.eye(3, dtype=np.float32)[[0, 2]]
    logits = np.zeros((2, 3), np.float32)
    np.testing.assert_allclose(_np(losses.ib_distortion(onehot, logits)), np.log(3), rtol=1e-6)
    assert np.all(np.isinf(_np(losses.dual_distortion(onehot, logits))))


def _softmax(logits):
    q = np.exp(logits - logits.max(-1, keepdims=True))
    return q / q.sum(-1, keepdims=True)


@pytest.mark.parametrize("samples", [None, 3])
def test_vib_and_dual_losses_match_numpy_on_labels_and_distributions(samples, rng):
    batch, classes = 6, 4
    shape = (batch, classes) if samples is None else (samples, batch, classes)
    logits = (rng.normal(size=shape) * 2).astype(np.float32)
    q = _softmax(logits if samples else logits[None])
    labels = rng.integers(0, classes, size=batch)
    weights = rng.uniform(0.5, 2.0, size=batch).astype(np.float32)
    matrix = losses.confusion_matrix(rng.integers(0, classes, 40), np.arange(40) % classes, classes, smoothing=0.05)
    p_smooth = 0.9 * np.eye(classes)[labels] + 0.1 / classes
    p_confusion = matrix[labels]
    cases = [
        (losses.VIBLoss(), labels, -np.log(q[:, np.arange(batch), labels])),
        (losses.VIBLoss(label_noise=losses.LabelSmoothing(classes, 0.1)), labels, -np.sum(p_smooth * np.log(q), -1)),
        (losses.DualIBLoss(label_noise=losses.ConfusionNoise(matrix)), labels, np.sum(q * np.log(q / p_confusion), -1)),
        (losses.DualIBLoss(label_noise="smoothing"), labels, np.sum(q * np.log(q / (0.99 * np.eye(classes)[labels] + 0.0025)), -1)),
        # probability vectors as y_true: the noise mixes them, p~ = p T
        (losses.DualIBLoss(label_noise=losses.ConfusionNoise(matrix)), np.eye(classes)[labels], np.sum(q * np.log(q / p_confusion), -1)),
        (losses.DualIBLoss(label_noise=None), p_smooth, np.sum(q * np.log(q / p_smooth), -1)),
    ]
    for loss, y_true, per_sample in cases:
        per_example = per_sample.mean(axis=0)  # averaged over the S samples
        np.testing.assert_allclose(float(loss(y_true, logits)), per_example.mean(), rtol=1e-5)
        np.testing.assert_allclose(float(loss(y_true, logits, sample_weight=weights)), np.mean(per_example * weights), rtol=1e-5)
        summed = type(loss).from_config(dict(loss.get_config(), reduction="sum"))
        np.testing.assert_allclose(float(summed(y_true, logits)), per_example.sum(), rtol=1e-5)
        unreduced = type(loss).from_config(dict(loss.get_config(), reduction=None))
        np.testing.assert_allclose(_np(unreduced(y_true, logits)), per_example, rtol=1e-5)


def test_the_warmup_adds_lambda_times_the_cross_entropy(rng):
    logits = rng.normal(size=(5, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    q = _softmax(logits)
    p = 0.97 * np.eye(3)[labels] + 0.01
    loss = losses.DualIBLoss(label_noise=losses.LabelSmoothing(3, 0.03), warmup_weight=0.1)
    expected = np.sum(q * np.log(q / p), -1) + 0.1 * -np.sum(p * np.log(q), -1)
    np.testing.assert_allclose(float(loss(labels, logits)), expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(loss.distortion(labels, logits)), np.sum(q * np.log(q / p), -1), rtol=1e-5)


def test_losses_serialize_and_refuse_what_they_cannot_compute():
    loss = losses.DualIBLoss(label_noise=losses.ConfusionNoise([[0.9, 0.1], [0.3, 0.7]]), warmup_weight=0.2)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, losses.DualIBLoss) and float(_np(clone.warmup_weight)) == pytest.approx(0.2)
    np.testing.assert_allclose(clone.label_noise.matrix, [[0.9, 0.1], [0.3, 0.7]])
    logits = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="made for 2 classes"):
        losses.DualIBLoss(label_noise=losses.ConfusionNoise([[0.9, 0.1], [0.3, 0.7]]))([0, 1], np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="label_noise=None needs full-support"):
        losses.DualIBLoss(label_noise=None)([0, 1], logits)
    with pytest.raises(RUN_TIME_ERROR, match="zero probabilities"):
        losses.DualIBLoss(label_noise=None)(np.eye(2, dtype=np.float32), logits)
    with pytest.raises(ValueError, match="inputs x that TeacherNoise needs"):
        losses.VIBLoss(label_noise="teacher")
    # a name is refused when the loss is made, not at its first batch: only smoothing has defaults
    for name in ("confusion", "gaussian"):
        with pytest.raises(ValueError, match="by name needs arguments"):
            losses.DualIBLoss(label_noise=name)
    with pytest.raises(RUN_TIME_ERROR, match="labels must be < 2"):
        losses.VIBLoss()([0, 2], logits)
    with pytest.raises(RUN_TIME_ERROR, match="whole numbers"):
        losses.VIBLoss()(np.array([0.5, 1.0], np.float32), logits)
    with pytest.raises(RUN_TIME_ERROR, match="must sum to 1"):
        losses.VIBLoss()(np.array([[0.5, 0.6], [1.0, 0.0]], np.float32), logits)
    with pytest.raises(ValueError, match="logits \\[B, C\\] or \\[S, B, C\\]"):
        losses.VIBLoss()([0, 1], np.zeros((2,), np.float32))
    with pytest.raises(ValueError, match="warmup_weight must be a finite number"):
        losses.DualIBLoss(warmup_weight=float("nan"))


def test_label_smoothing_and_confusion_noise():
    smooth = losses.get_label_noise("smoothing", 4, epsilon=0.2)
    out = _np(smooth(np.array([1, 3])))
    np.testing.assert_allclose(out[0], [0.05, 0.85, 0.05, 0.05], rtol=1e-6)
    matrix = losses.confusion_matrix(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 2, smoothing=0.1)
    # class 0: one of two predicted 0; class 1: both predicted 1
    np.testing.assert_allclose(matrix, [[0.5, 0.5], [0.05, 0.95]], rtol=1e-6)
    noise = losses.get_label_noise("confusion", 2, matrix=matrix)
    np.testing.assert_allclose(_np(noise(np.array([1, 0]))), matrix[[1, 0]], rtol=1e-6)


def test_teacher_noise_uses_teacher_softmax(tmp_path):
    inputs = keras.Input((3,))
    teacher = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    noise = losses.get_label_noise("teacher", 2, teacher=teacher, epsilon=0.0)
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(_np(noise(np.array([0, 1, 0, 1]), x)), _np(teacher(x)), rtol=1e-6)
    teacher.save(tmp_path / "teacher.keras")
    # a path is refused: the noise takes a model, and building it opens no file
    with pytest.raises(ValueError, match=r"takes the teacher model, not the path .*zoo.load\(path_or_name\)"):
        losses.TeacherNoise(str(tmp_path / "teacher.keras"))
    from_path = losses.TeacherNoise(keras.saving.load_model(tmp_path / "teacher.keras"), epsilon=0.0)
    np.testing.assert_allclose(_np(from_path(np.array([0, 1, 0, 1]), x)), _np(teacher(x)), rtol=1e-5)
    # the config holds the teacher's architecture, never a path; its weights come with the model file
    config = from_path.get_config()
    assert isinstance(config["teacher"], dict) and "compile_config" not in config["teacher"]
    rebuilt = losses.TeacherNoise.from_config(config)
    with pytest.raises(ValueError, match="without its teacher's weights"):
        rebuilt(np.array([0]), x[:1])
    rebuilt.restore_teacher(teacher.get_weights())
    np.testing.assert_allclose(_np(rebuilt(np.array([0, 1, 0, 1]), x)), _np(teacher(x)), rtol=1e-5)
    with pytest.raises(ValueError, match="do not fit the teacher's architecture"):
        rebuilt.restore_teacher(teacher.get_weights()[:1])
    # a config of an earlier version names a path: restoring it opens no file
    with pytest.raises(ValueError, match="names the teacher by path .*teacher_files=True"):
        losses.TeacherNoise.from_config(dict(config, teacher=str(tmp_path / "teacher.keras")))
    forgotten = losses.TeacherNoise.from_config(dict(config, teacher=None))
    with pytest.raises(ValueError, match="has no teacher"):
        forgotten(np.array([0]), x[:1])
    with pytest.raises(ValueError, match="teacher must be a keras.Model"):
        losses.TeacherNoise(lambda images: images)


def test_a_teacher_named_by_path_opens_only_inside_opening_teacher_files(tmp_path):
    """Configs of earlier versions name the teacher's file; the opener is given by the loader."""
    inputs = keras.Input((3,))
    teacher = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    config = dict(losses.TeacherNoise(teacher, epsilon=0.0).get_config(), teacher="old/teacher.keras")
    opened = []

    def open_teacher(path):
        opened.append(path)
        # the teacher's own file may not name another teacher: refused while it is opened
        with pytest.raises(ValueError, match="names the teacher by path"):
            losses.TeacherNoise.from_config(config)
        return teacher

    with pytest.raises(ValueError, match="names the teacher by path"):
        losses.TeacherNoise.from_config(config)
    with losses.opening_teacher_files(open_teacher):
        noise = losses.TeacherNoise.from_config(config)
    assert opened == ["old/teacher.keras"] and noise.teacher is teacher and not noise.awaiting_weights
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(_np(noise(np.array([0, 1]), x)), _np(teacher(x)), rtol=1e-6)
    with pytest.raises(ValueError, match="names the teacher by path"):  # the context is over
        losses.TeacherNoise.from_config(config)
    with pytest.raises(ValueError, match="open_teacher must be a function"):
        with losses.opening_teacher_files("teacher.keras"):
            pass
    # the zoo's loader opens the named file, with its checks
    teacher.save(tmp_path / "teacher.keras")
    with losses.opening_teacher_files(zoo.load):
        loaded = losses.TeacherNoise.from_config(dict(config, teacher=str(tmp_path / "teacher.keras")))
        with pytest.raises(FileNotFoundError, match="does not exist"):
            losses.TeacherNoise.from_config(dict(config, teacher=str(tmp_path / "missing.keras")))
    np.testing.assert_allclose(_np(loaded(np.array([0, 1]), x)), _np(teacher(x)), rtol=1e-6)


def test_losses_and_methods_sit_below_the_zoo_and_training(imported_modules):
    from vdualib import methods

    assert not {"vdualib.zoo", "vdualib.training"} & imported_modules(losses)
    assert not {m for m in imported_modules(methods) if m.startswith("vdualib")}  # the lowest floor


def test_loss_class_follows_the_method_table():
    assert losses.loss_class("dualib") is losses.DualIBLoss
    assert losses.loss_class("vib") is losses.loss_class("deterministic") is losses.VIBLoss
    with pytest.raises(ValueError, match="Unknown method"):
        losses.loss_class("ib")


@pytest.mark.parametrize(
    "matrix, message",
    [
        ([[0.5, 0.6], [0.5, 0.5]], "sums to"),
        ([[1.2, -0.2], [0.5, 0.5]], "negative"),
        ([[1.0, 0.0], [0.5, 0.5]], "zero entries"),
        ([[0.5, 0.5, 0.0]], "square"),
        (np.full((3, 3), 1 / 3), "3 x 3 but the model has 2"),
    ],
)
def test_confusion_noise_rejects_bad_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        losses.ConfusionNoise(matrix, num_classes=2)


def test_label_noise_rejects_bad_names_and_values():
    with pytest.raises(ValueError, match="Unknown label noise"):
        losses.get_label_noise("gaussian", 10)
    with pytest.raises(ValueError, match="epsilon"):
        losses.LabelSmoothing(10, epsilon=0.0)
    with pytest.raises(ValueError, match="temperature must be a finite number"):
        losses.TeacherNoise(None, temperature=float("nan"))
    with pytest.raises(ValueError, match="matrix"):
        losses.get_label_noise("confusion", 10)
    with pytest.raises(ValueError, match="at least one example"):
        losses.confusion_matrix(np.zeros((0, 3)), np.zeros((0,), int), 3)


def test_confusion_matrix_averages_probabilities_and_refuses_logits():
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.1, 0.9]])
    matrix = losses.confusion_matrix(probs, [0, 0, 1], 2, smoothing=0.1)
    np.testing.assert_allclose(matrix, 0.9 * np.array([[0.7, 0.3], [0.1, 0.9]]) + 0.05)
    with pytest.raises(ValueError, match="softmax"):
        losses.confusion_matrix(np.log(probs) + 3.0, [0, 0, 1], 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        losses.confusion_matrix(np.array([[1.5, -0.5], [0.5, 0.5]]), [0, 1], 2)
    with pytest.raises(ValueError, match="NaN"):
        losses.confusion_matrix(np.array([[np.nan, 1.0], [0.5, 0.5]]), [0, 1], 2)
    with pytest.raises(ValueError, match=r"\[N, 2\] probabilities"):
        losses.confusion_matrix(np.full((2, 3), 1 / 3), [0, 1], 2)
    with pytest.raises(ValueError, match="at least two classes"):
        losses.confusion_matrix(np.ones((2, 1)), [0, 0], 1)


# ---------------------------------------------------------------------------------------------
# On the backend's compiler and autodiff (tf.function / jax.jit, GradientTape / jax.grad)


def test_losses_module_imports_no_tensorflow(imported_modules):
    """The losses compute through keras.ops only, so they run on model tensors of any backend."""
    assert not {m for m in imported_modules(losses) if m == "tensorflow" or m.startswith("tensorflow.")}


def test_compiled_losses_match_numpy(rng):
    samples, batch, classes = 3, 5, 4
    logits = (rng.normal(size=(samples, batch, classes)) * 2).astype(np.float32)
    q = _softmax(logits)
    labels = rng.integers(0, classes, size=batch).astype(np.float32)
    p_smooth = (0.9 * np.eye(classes)[labels.astype(int)] + 0.1 / classes).astype(np.float32)
    dual_loss = losses.DualIBLoss(label_noise=losses.LabelSmoothing(classes, 0.1), warmup_weight=0.3)
    vib_loss = losses.VIBLoss()
    dual, error = _compiled(lambda y, z: dual_loss(y, z))
    vib, _ = _compiled(lambda y, z: vib_loss(y, z))
    terms, _ = _compiled(lambda y, z: dual_loss.terms(y, z))
    kl = np.sum(q * np.log(q / p_smooth), -1).mean(0)
    ce = -np.sum(p_smooth * np.log(q), -1).mean(0)
    np.testing.assert_allclose(float(dual(labels, logits)), np.mean(kl + 0.3 * ce), rtol=1e-5)
    np.testing.assert_allclose(float(vib(labels, logits)), np.mean(-np.log(q[:, np.arange(batch), labels.astype(int)]).mean(0)), rtol=1e-5)
    distortion, warmup = terms(labels, logits)
    np.testing.assert_allclose(_np(distortion), kl, rtol=1e-5)
    np.testing.assert_allclose(_np(warmup), ce, rtol=1e-5)
    # distributions as y_true: with label_noise=None they are used as they are
    full = losses.DualIBLoss(label_noise=None)
    on_distributions, _ = _compiled(lambda y, z: full(y, z))
    np.testing.assert_allclose(float(on_distributions(p_smooth, logits)), np.mean(np.sum(q * np.log(q / p_smooth), -1).mean(0)), rtol=1e-5)


def test_compiled_losses_refuse_bad_labels_and_probabilities_with_a_message():
    logits = np.zeros((2, 2), np.float32)
    vib_loss, dual_loss, noise_of = losses.VIBLoss(), losses.DualIBLoss(label_noise=None), losses.LabelSmoothing(3, 0.1)
    vib, error = _compiled(lambda y, z: vib_loss(y, z))
    with pytest.raises(error, match="labels must be < 2"):
        _np(vib(np.array([0.0, 2.0], np.float32), logits))
    with pytest.raises(error, match="whole numbers"):
        _np(vib(np.array([0.0, 0.5], np.float32), logits))
    with pytest.raises(error, match="must sum to 1"):
        _np(vib(np.array([[0.5, 0.6], [1.0, 0.0]], np.float32), logits))
    dual, error = _compiled(lambda y, z: dual_loss(y, z))
    with pytest.raises(error, match="zero probabilities"):
        _np(dual(np.eye(2, dtype=np.float32), logits))
    noise, error = _compiled(lambda y: noise_of(y))
    with pytest.raises(error, match="labels must be >= 0"):
        _np(noise(np.array([0, -1], np.int32)))


def test_gradients_of_the_distortions_match_their_closed_forms(rng):
    """d/dz of each distortion (z the logits, q = softmax z) and d/dp of the IB's, which stays
    finite at one-hot targets (0 log 0 = 0 with gradient 0)."""
    targets, logits, q = _random_case(rng)
    kl_dual = np.sum(q * np.log(q / targets), -1, keepdims=True)
    cases = [
        (losses.ib_distortion, q - targets),
        (losses.cross_entropy, q - targets),
        (losses.dual_distortion, q * (np.log(q / targets) - kl_dual)),
    ]
    for distortion, expected in cases:
        gradient = _gradient(lambda z: keras.ops.sum(distortion(targets, z)), logits)
        np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-5)
    onehot = np.eye(5, dtype=np.float32)[[0, 3, 4, 1, 2, 2, 0]]
    gradient = _gradient(lambda p: keras.ops.sum(losses.ib_distortion(p, logits)), onehot)
    expected = np.where(onehot > 0, np.log(np.where(onehot > 0, onehot, 1.0)) + 1.0, 0.0) - np.log(q)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-5)


def _two_headed_model(classes=3):
    """A tiny functional model with logits (for the loss) and probabilities (for the metric)."""
    inputs = keras.Input((4,))
    logits = keras.layers.Dense(classes, name="logits")(inputs)
    return keras.Model(inputs, {"logits": logits, "probs": keras.layers.Softmax(name="probs")(logits)})


@pytest.mark.slow
@pytest.mark.parametrize("loss_name", ["vib", "dualib"])
def test_fit_with_the_losses_and_the_ece_metric_follows_the_warmup_weight(loss_name, rng):
    """fit on the backend (a compiled step) computes the loss and the ECE as numpy does, and
    reads the warm-up weight a callback sets between epochs (a JAX step compiled with the
    weight's first value would log the same loss twice)."""
    classes = 3
    x = rng.normal(size=(48, 4)).astype(np.float32)
    y = np.arange(48) % classes
    noise = losses.LabelSmoothing(classes, 0.1)
    loss = losses.VIBLoss(label_noise=noise) if loss_name == "vib" else losses.DualIBLoss(label_noise=noise)
    model = _two_headed_model(classes)
    model.compile(
        keras.optimizers.SGD(learning_rate=0.0),  # the weights stay put: the losses are known
        loss={"logits": loss, "probs": None},
        metrics={"probs": [metrics.ExpectedCalibrationError(num_bins=5)]},
    )

    class Warmup(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            loss.warmup_weight.assign([0.0, 1.0, 0.25][epoch])

    history = model.fit(x, {"logits": y, "probs": y}, epochs=3, batch_size=16, verbose=0, callbacks=[Warmup()])
    out = model.predict(x, verbose=0)
    q = _softmax(out["logits"].astype(np.float64))
    p = 0.9 * np.eye(classes)[y] + 0.1 / classes
    ce = -np.sum(p * np.log(q), -1)
    distortion = ce if loss_name == "vib" else np.sum(q * np.log(q / p), -1)
    expected = [np.mean(distortion + weight * ce) for weight in (0.0, 1.0, 0.25)]
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)
    ece = metrics.expected_calibration_error(out["probs"], y, num_bins=5)
    np.testing.assert_allclose(history.history["probs_ece"], [ece] * 3, atol=1e-5)
    # and it trains: gradients reach the weights through the loss
    model.optimizer.learning_rate.assign(0.5)
    loss.warmup_weight.assign(0.0)
    trained = model.fit(x, {"logits": y, "probs": y}, epochs=4, batch_size=16, verbose=0)
    assert trained.history["loss"][-1] < expected[0] - 1e-3
    assert np.all(np.isfinite(trained.history["probs_ece"]))
