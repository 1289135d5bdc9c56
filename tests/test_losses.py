import keras
import numpy as np
import pytest
import tensorflow as tf

from vdualib import losses, zoo


def _random_case(rng, batch=7, classes=5):
    targets = rng.dirichlet(np.ones(classes), size=batch).astype(np.float32)
    logits = rng.normal(size=(batch, classes)).astype(np.float32) * 2
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    return targets, logits, q


def test_distortions_match_numpy_and_differ(rng):
    targets, logits, q = _random_case(rng)
    ib = losses.ib_distortion(targets, logits).numpy()
    dual = losses.dual_distortion(targets, logits).numpy()
    np.testing.assert_allclose(ib, np.sum(targets * (np.log(targets) - np.log(q)), axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dual, np.sum(q * (np.log(q) - np.log(targets)), axis=1), rtol=1e-5, atol=1e-6)
    assert ib.shape == dual.shape == (7,)
    assert np.all(ib >= 0) and np.all(dual >= 0)
    assert np.max(np.abs(ib - dual)) > 1e-2  # KL is not symmetric


def test_distortions_broadcast_over_samples_and_zero_at_equality(rng):
    targets, logits, q = _random_case(rng)
    stacked = np.stack([logits, logits + 3.0])  # a constant shift leaves softmax unchanged
    out = losses.dual_distortion(targets, stacked).numpy()
    assert out.shape == (2, 7)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5)
    np.testing.assert_allclose(losses.ib_distortion(q, logits).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(losses.dual_distortion(q, logits).numpy(), 0, atol=1e-5)


def test_one_hot_targets_ib_finite_dual_infinite():
    onehot = np.eye(3, dtype=np.float32)[[0, 2]]
    logits = np.zeros((2, 3), np.float32)
    np.testing.assert_allclose(losses.ib_distortion(onehot, logits).numpy(), np.log(3), rtol=1e-6)
    assert np.all(np.isinf(losses.dual_distortion(onehot, logits).numpy()))


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
        np.testing.assert_allclose(unreduced(y_true, logits).numpy(), per_example, rtol=1e-5)


def test_the_warmup_adds_lambda_times_the_cross_entropy(rng):
    logits = rng.normal(size=(5, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    q = _softmax(logits)
    p = 0.97 * np.eye(3)[labels] + 0.01
    loss = losses.DualIBLoss(label_noise=losses.LabelSmoothing(3, 0.03), warmup_weight=0.1)
    expected = np.sum(q * np.log(q / p), -1) + 0.1 * -np.sum(p * np.log(q), -1)
    np.testing.assert_allclose(float(loss(labels, logits)), expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss.distortion(labels, logits).numpy(), np.sum(q * np.log(q / p), -1), rtol=1e-5)


def test_losses_serialize_and_refuse_what_they_cannot_compute():
    loss = losses.DualIBLoss(label_noise=losses.ConfusionNoise([[0.9, 0.1], [0.3, 0.7]]), warmup_weight=0.2)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, losses.DualIBLoss) and float(clone.warmup_weight.numpy()) == pytest.approx(0.2)
    np.testing.assert_allclose(clone.label_noise.matrix, [[0.9, 0.1], [0.3, 0.7]])
    logits = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="made for 2 classes"):
        losses.DualIBLoss(label_noise=losses.ConfusionNoise([[0.9, 0.1], [0.3, 0.7]]))([0, 1], np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="label_noise=None needs full-support"):
        losses.DualIBLoss(label_noise=None)([0, 1], logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match="zero probabilities"):
        losses.DualIBLoss(label_noise=None)(np.eye(2, dtype=np.float32), logits)
    with pytest.raises(ValueError, match="inputs x that TeacherNoise needs"):
        losses.VIBLoss(label_noise="teacher")
    # a name is refused when the loss is made, not at its first batch: only smoothing has defaults
    for name in ("confusion", "gaussian"):
        with pytest.raises(ValueError, match="by name needs arguments"):
            losses.DualIBLoss(label_noise=name)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < 2"):
        losses.VIBLoss()([0, 2], logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match="whole numbers"):
        losses.VIBLoss()(np.array([0.5, 1.0], np.float32), logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must sum to 1"):
        losses.VIBLoss()(np.array([[0.5, 0.6], [1.0, 0.0]], np.float32), logits)
    with pytest.raises(ValueError, match="logits \\[B, C\\] or \\[S, B, C\\]"):
        losses.VIBLoss()([0, 1], np.zeros((2,), np.float32))
    with pytest.raises(ValueError, match="warmup_weight must be a finite number"):
        losses.DualIBLoss(warmup_weight=float("nan"))


def test_label_smoothing_and_confusion_noise():
    smooth = losses.get_label_noise("smoothing", 4, epsilon=0.2)
    out = smooth(tf.constant([1, 3])).numpy()
    np.testing.assert_allclose(out[0], [0.05, 0.85, 0.05, 0.05], rtol=1e-6)
    matrix = losses.confusion_matrix(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 2, smoothing=0.1)
    # class 0: one of two predicted 0; class 1: both predicted 1
    np.testing.assert_allclose(matrix, [[0.5, 0.5], [0.05, 0.95]], rtol=1e-6)
    noise = losses.get_label_noise("confusion", 2, matrix=matrix)
    np.testing.assert_allclose(noise(tf.constant([1, 0])).numpy(), matrix[[1, 0]], rtol=1e-6)


def test_teacher_noise_uses_teacher_softmax(tmp_path):
    inputs = keras.Input((3,))
    teacher = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    noise = losses.get_label_noise("teacher", 2, teacher=teacher, epsilon=0.0)
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(noise(tf.constant([0, 1, 0, 1]), x).numpy(), teacher(x).numpy(), rtol=1e-6)
    teacher.save(tmp_path / "teacher.keras")
    # a path is refused: the noise takes a model, and building it opens no file
    with pytest.raises(ValueError, match=r"takes the teacher model, not the path .*zoo.load\(path_or_name\)"):
        losses.TeacherNoise(str(tmp_path / "teacher.keras"))
    from_path = losses.TeacherNoise(keras.saving.load_model(tmp_path / "teacher.keras"), epsilon=0.0)
    np.testing.assert_allclose(from_path(tf.constant([0, 1, 0, 1]), x).numpy(), teacher(x).numpy(), rtol=1e-5)
    # the config holds the teacher's architecture, never a path; its weights come with the model file
    config = from_path.get_config()
    assert isinstance(config["teacher"], dict) and "compile_config" not in config["teacher"]
    rebuilt = losses.TeacherNoise.from_config(config)
    with pytest.raises(ValueError, match="without its teacher's weights"):
        rebuilt(tf.constant([0]), x[:1])
    rebuilt.restore_teacher(teacher.get_weights())
    np.testing.assert_allclose(rebuilt(tf.constant([0, 1, 0, 1]), x).numpy(), teacher(x).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="do not fit the teacher's architecture"):
        rebuilt.restore_teacher(teacher.get_weights()[:1])
    # a config of an earlier version names a path: restoring it opens no file
    with pytest.raises(ValueError, match="names the teacher by path .*teacher_files=True"):
        losses.TeacherNoise.from_config(dict(config, teacher=str(tmp_path / "teacher.keras")))
    forgotten = losses.TeacherNoise.from_config(dict(config, teacher=None))
    with pytest.raises(ValueError, match="has no teacher"):
        forgotten(tf.constant([0]), x[:1])
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
    np.testing.assert_allclose(noise(tf.constant([0, 1]), x).numpy(), teacher(x).numpy(), rtol=1e-6)
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
    np.testing.assert_allclose(loaded(tf.constant([0, 1]), x).numpy(), teacher(x).numpy(), rtol=1e-6)


def _imported_modules(module):
    """Every module a source file imports, at its top or inside functions."""
    import ast

    tree = ast.parse(open(module.__file__, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
            found.add(node.module)
    return found


def test_losses_and_methods_sit_below_the_zoo_and_training():
    from vdualib import methods

    assert not {"vdualib.zoo", "vdualib.training"} & _imported_modules(losses)
    assert not {m for m in _imported_modules(methods) if m.startswith("vdualib")}  # the lowest floor


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
