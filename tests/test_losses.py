import keras
import numpy as np
import pytest
import tensorflow as tf

from vdualib import losses


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


def test_objective_vib_and_dualib(rng):
    targets, logits, q = _random_case(rng)
    rate = np.abs(rng.normal(size=7)).astype(np.float32)
    s_logits = logits[None]
    loss, distortion = losses.objective("vib", targets, s_logits, rate, 0.5)
    ce = -np.sum(targets * np.log(q), axis=1)
    np.testing.assert_allclose(distortion.numpy(), ce, rtol=1e-5)
    np.testing.assert_allclose(loss.numpy(), ce + 0.5 * rate, rtol=1e-5)
    loss, distortion = losses.objective("dualib", targets, s_logits, rate, 0.5)
    np.testing.assert_allclose(loss.numpy(), np.sum(q * np.log(q / targets), 1) + 0.5 * rate, rtol=1e-5)
    loss, _ = losses.objective("deterministic", targets, s_logits, rate, 0.5)
    np.testing.assert_allclose(loss.numpy(), ce, rtol=1e-5)


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
    from_path = losses.TeacherNoise(str(tmp_path / "teacher.keras"), epsilon=0.0)
    restored = losses.TeacherNoise.from_config(from_path.get_config())
    np.testing.assert_allclose(restored(tf.constant([0, 1, 0, 1]), x).numpy(), teacher(x).numpy(), rtol=1e-5)
    forgotten = losses.TeacherNoise.from_config(noise.get_config())
    with pytest.raises(ValueError, match="without its teacher"):
        forgotten(tf.constant([0]), x[:1])


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
    with pytest.raises(ValueError, match="matrix"):
        losses.get_label_noise("confusion", 10)


def test_beta_scheduler_values_and_validation():
    linear = losses.BetaScheduler(0.0, 1.0, 10)
    assert linear.value(0) == 0.0 and linear.value(5) == pytest.approx(0.5) and linear.value(50) == 1.0
    log = losses.BetaScheduler(1e-4, 1e-2, 2, schedule="log")
    assert log.value(1) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="log schedule"):
        losses.BetaScheduler(0.0, 1.0, 10, schedule="log")
    with pytest.raises(ValueError, match=">= 0"):
        losses.BetaScheduler(-1.0, 1.0, 10)
