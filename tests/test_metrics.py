"""Calibration, accuracy and OOD metrics, the top-label ECE of per-example scores, the Keras ECE metric.

The Keras metric's tests take numpy inputs and read results with ``float`` or
``keras.ops.convert_to_numpy``, so they run on TensorFlow (the default) and on JAX
(``KERAS_BACKEND=jax``); the compiled ones run the metric inside the backend's compiler
(``tf.function``, or ``jax.jit`` on its stateless update as JAX's ``fit`` does).
"""

import math

import keras
import numpy as np
import pytest
import sklearn.metrics

from vdualib import metrics

BACKEND = keras.backend.backend()

# A hand-worked example with 5 equal-width bins (width 0.2):
#   bin 2 [0.4, 0.6): C (0.50, correct), D (0.55, wrong), E (0.50, correct)
#   bin 4 [0.8, 1.0]: A (0.95, correct), B (0.85, wrong), F (1.00, correct, the closed upper edge)
HAND_PROBS = np.array(
    [
        [0.95, 0.03, 0.02],  # A, label 0
        [0.85, 0.10, 0.05],  # B, label 1
        [0.30, 0.50, 0.20],  # C, label 1
        [0.10, 0.55, 0.35],  # D, label 2
        [0.50, 0.30, 0.20],  # E, label 0
        [1.00, 0.00, 0.00],  # F, label 0
    ]
)
HAND_LABELS = np.array([0, 1, 1, 2, 0, 0])


def test_hand_worked_example():
    # bin 2: 2 correct, confidences sum 1.55 -> gap 0.45; bin 4: 2 correct, sum 2.80 -> gap 0.80.
    assert metrics.expected_calibration_error(HAND_PROBS, HAND_LABELS, num_bins=5) == pytest.approx(1.25 / 6)
    assert metrics.maximum_calibration_error(HAND_PROBS, HAND_LABELS, num_bins=5) == pytest.approx(0.80 / 3)
    assert metrics.accuracy(HAND_PROBS, HAND_LABELS) == pytest.approx(4 / 6)
    picked = [0.95, 0.10, 0.50, 0.35, 0.50, 1.00]
    assert metrics.nll(HAND_PROBS, HAND_LABELS) == pytest.approx(-np.mean(np.log(picked)))
    # A: 0.05^2+0.03^2+0.02^2; B: 0.85^2+0.9^2+0.05^2; C: 0.3^2+0.5^2+0.2^2;
    # D: 0.1^2+0.55^2+0.65^2; E: 0.5^2+0.3^2+0.2^2; F: 0.
    brier = [0.0038, 1.535, 0.38, 0.735, 0.38, 0.0]
    assert metrics.brier(HAND_PROBS, HAND_LABELS) == pytest.approx(np.mean(brier))
    curve = metrics.reliability_curve(HAND_PROBS, HAND_LABELS, num_bins=5)
    np.testing.assert_array_equal(curve["count"], [0, 0, 3, 0, 3])
    np.testing.assert_allclose(curve["confidence"][[2, 4]], [1.55 / 3, 2.80 / 3])
    np.testing.assert_allclose(curve["accuracy"][[2, 4]], [2 / 3, 2 / 3])
    assert np.isnan(curve["accuracy"][[0, 1, 3]]).all()
    np.testing.assert_allclose(curve["bin_edges"], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    # Equal-mass bins of two, by sorted confidence: {C, E} {D, B} {A, F}:
    # |2 - 1.0| + |0 - 1.4| + |2 - 1.95| = 2.45.
    assert metrics.adaptive_calibration_error(HAND_PROBS, HAND_LABELS, num_bins=3) == pytest.approx(2.45 / 6)


def _loop_ece(probs, labels, num_bins):
    """ECE, MCE and per-bin counts with a plain loop over the examples."""
    counts = [0] * num_bins
    conf_sums = [0.0] * num_bins
    correct_sums = [0.0] * num_bins
    for row, label in zip(probs, labels):
        confidence = max(row)
        prediction = list(row).index(confidence)
        b = min(int(confidence * num_bins), num_bins - 1)
        counts[b] += 1
        conf_sums[b] += confidence
        correct_sums[b] += prediction == label
    ece = sum(abs(correct_sums[b] - conf_sums[b]) for b in range(num_bins)) / len(labels)
    mce = max(abs(correct_sums[b] - conf_sums[b]) / counts[b] for b in range(num_bins) if counts[b])
    return ece, mce, counts


def _loop_classwise(probs, labels, num_bins):
    total = 0.0
    for k in range(probs.shape[1]):
        sums = {}
        for row, label in zip(probs, labels):
            b = min(int(row[k] * num_bins), num_bins - 1)
            conf, event = sums.get(b, (0.0, 0.0))
            sums[b] = (conf + row[k], event + (label == k))
        total += sum(abs(event - conf) for conf, event in sums.values())
    return total / (len(labels) * probs.shape[1])


def _random_predictions(rng, num, num_classes, sharpness=1.0):
    probs = rng.dirichlet(np.full(num_classes, sharpness), size=num)
    # Labels drawn from a shifted version so the predictions are miscalibrated.
    labels = np.array([rng.choice(num_classes, p=0.5 * p + 0.5 / num_classes) for p in probs])
    return probs, labels


@pytest.mark.parametrize("num_bins", [1, 7, 15])
def test_against_straightforward_loops(num_bins):
    rng = np.random.default_rng(num_bins)
    probs, labels = _random_predictions(rng, 400, 5, sharpness=0.4)
    ece, mce, counts = _loop_ece(probs, labels, num_bins)
    assert metrics.expected_calibration_error(probs, labels, num_bins) == pytest.approx(ece)
    assert metrics.maximum_calibration_error(probs, labels, num_bins) == pytest.approx(mce)
    np.testing.assert_array_equal(metrics.reliability_curve(probs, labels, num_bins)["count"], counts)
    assert metrics.classwise_calibration_error(probs, labels, num_bins) == pytest.approx(
        _loop_classwise(probs, labels, num_bins)
    )
    brier = np.mean([sum((p[k] - (k == y)) ** 2 for k in range(5)) for p, y in zip(probs, labels)])
    assert metrics.brier(probs, labels) == pytest.approx(brier)
    assert metrics.nll(probs, labels) == pytest.approx(-np.mean([math.log(p[y]) for p, y in zip(probs, labels)]))
    # Adaptive ECE: 400 examples sorted by confidence, cut into groups of sizes differing by <= 1.
    order = sorted(range(400), key=lambda i: probs[i].max())
    sizes = [400 // num_bins + (b < 400 % num_bins) for b in range(num_bins)]
    gap, start = 0.0, 0
    for size in sizes:
        group = order[start : start + size]
        start += size
        gap += abs(sum(probs[i].argmax() == labels[i] for i in group) - sum(probs[i].max() for i in group))
    assert metrics.adaptive_calibration_error(probs, labels, num_bins) == pytest.approx(gap / 400)


def test_edge_cases():
    # All predictions in one bin: ECE = |accuracy - confidence|.
    probs = np.tile([0.7, 0.3], (10, 1))
    labels = np.array([0] * 6 + [1] * 4)
    assert metrics.expected_calibration_error(probs, labels) == pytest.approx(0.1)
    assert metrics.maximum_calibration_error(probs, labels) == pytest.approx(0.1)
    # A single example, confidence exactly 1.0 and correct: perfectly calibrated, last bin.
    one = np.array([[0.0, 1.0]])
    assert metrics.expected_calibration_error(one, [1]) == 0.0
    assert metrics.reliability_curve(one, [1], num_bins=4)["count"].tolist() == [0, 0, 0, 1]
    # ... and wrong: gap 1, NLL floored at -log(1e-12).
    assert metrics.expected_calibration_error(one, [0]) == pytest.approx(1.0)
    assert metrics.nll(one, [0]) == pytest.approx(-math.log(1e-12))
    assert metrics.brier(one, [0]) == pytest.approx(2.0)
    # More bins than examples: empty adaptive groups are skipped.
    assert metrics.adaptive_calibration_error(one, [1], num_bins=15) == 0.0


@pytest.mark.parametrize(
    "probs, labels, message",
    [
        ([[0.6, 0.6]], [0], "sum to 1"),
        ([[2.0, -1.0]], [0], "not logits"),
        ([[0.5, np.nan]], [0], "NaN"),
        ([[np.inf, 0.0]], [0], "NaN or infinite"),
        ([[1.2, -0.2]], [0], r"\[0, 1\]"),
        ([[0.5, 0.5]], [2], r"labels must be < 2 \(the number of classes\), got 2"),
        ([[0.5, 0.5]], [-1], "labels must be >= 0, got -1"),
        ([[0.5, 0.5]], [0, 1], "one label per row"),
        ([[0.5, 0.5]], [0.5], "whole numbers"),
        ([[0.5, 0.5]], [np.nan], "NaN"),
        ([[0.5, 0.5]], ["cat"], "integer class labels"),
        ([[0.5, 0.5]], [[0, 1]], "1-D array"),
        ([0.5, 0.5], [0], "shape"),
        (np.zeros((0, 2)), [], "at least one example"),
        ([[1, 0]], [0], "floating-point"),
    ],
)
def test_bad_inputs_raise(probs, labels, message):
    functions = [
        metrics.accuracy,
        metrics.nll,
        metrics.brier,
        metrics.expected_calibration_error,
        metrics.maximum_calibration_error,
        metrics.adaptive_calibration_error,
        metrics.classwise_calibration_error,
        metrics.reliability_curve,
    ]
    for function in functions:
        with pytest.raises(ValueError, match=message):
            function(np.asarray(probs), labels)


def test_bad_num_bins_raise():
    for num_bins in (0, -3, 2.5, True, np.nan, "15", None):
        for function in (metrics.expected_calibration_error, metrics.adaptive_calibration_error, metrics.reliability_curve):
            with pytest.raises(ValueError, match="num_bins"):
                function(HAND_PROBS, HAND_LABELS, num_bins)
    assert metrics.expected_calibration_error(HAND_PROBS, HAND_LABELS, 5.0) == pytest.approx(1.25 / 6)


def test_bad_inputs_to_ood_scores_raise():
    uniform = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match="sample_probs contains NaN"):
        metrics.mutual_information(np.array([[[0.5, np.nan]], [[0.5, 0.5]]]))
    with pytest.raises(ValueError, match="rows of sample_probs must sum to 1"):
        metrics.mutual_information(np.array([[[0.5, 0.7]], [[0.5, 0.5]]]))
    with pytest.raises(ValueError, match="rate contains NaN"):
        metrics.uncertainty_scores(uniform, rate=np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.predictive_entropy([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="scores_out must be numbers"):
        metrics.ood_aupr([0.1], ["high"])
    with pytest.raises(ValueError, match="scores_in contains NaN"):
        metrics.ood_auroc([np.inf], [1.0])


def test_ragged_empty_and_missing_inputs_are_named_not_left_to_numpy():
    for function in (metrics.expected_calibration_error, metrics.accuracy, metrics.reliability_curve):
        with pytest.raises(ValueError, match=r"probs must be a rectangular array .*pad or drop"):
            function([[0.5, 0.5], [1.0]], [0, 0])
        with pytest.raises(ValueError, match=r"labels must be integer class labels \[N\]: labels must be a rectangular"):
            function([[0.5, 0.5], [1.0, 0.0]], [[0], [0, 1]])
    with pytest.raises(ValueError, match="sample_probs must be a rectangular array"):
        metrics.mutual_information([[[0.5, 0.5]], [[1.0]]])
    with pytest.raises(ValueError, match="confidence must be a rectangular array"):
        metrics.top_label_ece([[0.5], [0.5, 0.7]], [[1], [0, 1]])
    with pytest.raises(ValueError, match=r"sample_probs has shape \(1, 2\)"):
        metrics.uncertainty_scores([[0.5, 0.5]], sample_probs=[[0.5, 0.5]])
    for scores_out in ([], np.zeros((0,)), [[]], 3.0):
        for function in (metrics.ood_auroc, metrics.ood_aupr, metrics.mann_whitney_auroc):
            with pytest.raises(ValueError, match="scores_out|non-empty"):
                function([0.1, 0.2], scores_out)
    with pytest.raises(ValueError, match="scores_in must be an array of numbers, got None"):
        metrics.ood_auroc(None, [0.5])


# --------------------------------------------------------------------------- OOD


def test_uncertainty_scores_closed_forms():
    uniform = np.full((3, 4), 0.25)
    np.testing.assert_allclose(metrics.predictive_entropy(uniform), np.log(4))
    np.testing.assert_allclose(metrics.max_probability_score(uniform), 0.75)
    # Two samples that disagree completely: I = H([.5, .5]) - 0 = ln 2; agreeing samples: 0.
    samples = np.array([[[1.0, 0.0], [0.3, 0.7]], [[0.0, 1.0], [0.3, 0.7]]])
    np.testing.assert_allclose(metrics.mutual_information(samples), [np.log(2), 0.0], atol=1e-12)
    scores = metrics.uncertainty_scores(samples.mean(0), samples, rate=np.array([1.0, 2.0]))
    assert set(scores) == {"max_probability", "entropy", "mutual_information", "rate"}
    assert set(metrics.uncertainty_scores(uniform, uniform[None])) == {"max_probability", "entropy"}
    with pytest.raises(ValueError, match="rate"):
        metrics.uncertainty_scores(uniform, rate=np.ones(2))
    with pytest.raises(ValueError, match="sample_probs"):
        metrics.mutual_information(uniform)


def test_ood_auroc_and_aupr_match_sklearn():
    rng = np.random.default_rng(0)
    scores_in = np.round(rng.normal(0, 1, 300), 1)  # rounding creates ties
    scores_out = np.round(rng.normal(0.8, 1, 200), 1)
    truth = np.r_[np.zeros(300), np.ones(200)]
    scores = np.r_[scores_in, scores_out]
    assert metrics.ood_auroc(scores_in, scores_out) == pytest.approx(sklearn.metrics.roc_auc_score(truth, scores))
    assert metrics.ood_aupr(scores_in, scores_out) == pytest.approx(
        sklearn.metrics.average_precision_score(truth, scores)
    )
    assert metrics.ood_auroc([0, 1], [2, 3]) == 1.0
    assert metrics.ood_auroc([2, 3], [0, 1]) == 0.0
    assert metrics.ood_auroc([1, 1], [1, 1]) == 0.5
    assert metrics.ood_aupr([0, 1], [2, 3]) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        metrics.ood_auroc([0.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        metrics.ood_aupr([], [1.0])


# --------------------------------------------------------------------------- Keras metric


def test_keras_metric_matches_numpy_across_batches():
    import keras

    rng = np.random.default_rng(3)
    probs, labels = _random_predictions(rng, 517, 10, sharpness=0.3)
    probs = probs.astype(np.float32)
    metric = metrics.ExpectedCalibrationError(num_bins=15)
    for start in range(0, 517, 100):
        metric.update_state(labels[start : start + 100], probs[start : start + 100])
    expected = metrics.expected_calibration_error(probs, labels, 15)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-5)
    # One-hot labels and [B, 1] labels give the same.
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(keras.ops.one_hot(labels, 10), probs)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-5)
    metric.reset_state()
    metric.update_state(labels[:, None], probs)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-5)
    # Integer sample weights act as repeated examples.
    weights = rng.integers(0, 3, size=517)
    metric.reset_state()
    metric.update_state(labels, probs, sample_weight=weights)
    repeated = np.repeat(np.arange(517), weights)
    assert float(metric.result()) == pytest.approx(
        metrics.expected_calibration_error(probs[repeated], labels[repeated]), abs=1e-5
    )
    restored = metrics.ExpectedCalibrationError.from_config(metric.get_config())
    assert restored.num_bins == 15 and restored.name == "ece"
    with pytest.raises(ValueError, match="num_bins"):
        metrics.ExpectedCalibrationError(num_bins=0)


@pytest.mark.slow
def test_keras_metric_in_compile_evaluate():
    import keras

    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[metrics.ExpectedCalibrationError()]
    )
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    logs = model.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    expected = metrics.expected_calibration_error(model.predict(x, verbose=0), y)
    assert logs["ece"] == pytest.approx(expected, abs=1e-5)


def _errors():
    """What a failed run-time check raises: ``(eagerly, compiled)`` for the backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.errors.InvalidArgumentError, tf.errors.InvalidArgumentError
    if BACKEND == "jax":
        import jax

        return ValueError, jax.errors.JaxRuntimeError
    pytest.skip(f"no compiled test for the {BACKEND} backend")


def _compiled_update(metric):
    """``metric.update_state`` compiled by the backend: ``tf.function`` on TensorFlow; on JAX
    ``jax.jit`` of the stateless update (as JAX's ``fit`` runs it), written back to the metric."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(metric.update_state)
    if BACKEND == "jax":
        import jax

        step = jax.jit(metric.stateless_update_state)

        def update(y_true, y_pred, sample_weight=None):
            values = step([v.value for v in metric.variables], y_true, y_pred, sample_weight)
            for variable, value in zip(metric.variables, values):
                variable.assign(value)

        return update
    pytest.skip(f"no compiled test for the {BACKEND} backend")


def _keras_metric_refusal(y_true, y_pred, sample_weight=None):
    """The error message of update_state, eagerly and compiled (tf.function or jax.jit)."""
    messages = []
    for compiled, error in zip((False, True), _errors()):
        metric = metrics.ExpectedCalibrationError(num_bins=10)
        update = _compiled_update(metric) if compiled else metric.update_state
        with pytest.raises(error) as info:
            update(y_true, y_pred, sample_weight)
        messages.append(str(info.value))
    return messages


@pytest.mark.slow
@pytest.mark.parametrize(
    "y_true, y_pred, sample_weight",
    [
        ([0, 15], [[0.9, 0.1], [0.2, 0.8]], None),  # label out of range
        ([0, -1], [[0.9, 0.1], [0.2, 0.8]], None),  # negative label
        ([0.0, 1.5], [[0.9, 0.1], [0.2, 0.8]], None),  # fractional label
        ([0.0, np.nan], [[0.9, 0.1], [0.2, 0.8]], None),  # NaN label
        ([0, 1], [[np.nan, 0.1], [0.2, 0.8]], None),  # NaN probability
        ([0, 1], [[np.inf, 0.0], [0.2, 0.8]], None),
        ([0, 1], [[2.0, -1.0], [0.2, 0.8]], None),  # logits
        ([0, 1], [[0.9, 0.3], [0.2, 0.8]], None),  # a row not summing to 1
        ([[0.0, 2.0], [1.0, 0.0]], [[0.9, 0.1], [0.2, 0.8]], None),  # one-hot rows that are not
        ([0, 1], [[0.9, 0.1], [0.2, 0.8]], [1.0, -1.0]),  # negative weight
    ],
)
def test_keras_metric_refuses_invalid_labels_and_probabilities(y_true, y_pred, sample_weight):
    import re

    arrays = [np.asarray(v, np.float32) if v is not None else None for v in (y_true, y_pred, sample_weight)]
    for message in _keras_metric_refusal(*arrays):
        assert re.search(r"y_pred must be probabilities \[batch, 2\].*y_true class indices in \[0, 2\)", message, re.S)


def test_keras_metric_refuses_wrong_ranks_at_trace_time():
    metric = metrics.ExpectedCalibrationError()
    with pytest.raises(ValueError, match="y_pred = class probabilities"):
        metric.update_state(np.zeros(4), np.full((2, 2, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match="y_true = class indices"):
        metric.update_state(np.zeros((2, 3)), np.full((2, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match="class indices"):
        metric.update_state(np.array(["a", "b"]), np.full((2, 2), 0.5, np.float32))
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        metric.update_state(np.array([0, 1, 1]), np.full((2, 2), 0.5, np.float32))


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="a batch size unknown until run time needs a tf.function input signature; JAX traces static shapes, "
    "so there the mismatch is refused at trace time (test_compiled_keras_metric_matches_numpy_and_refuses_shapes)",
)
def test_keras_metric_refuses_label_count_mismatch_known_only_at_run_time():
    import tensorflow as tf

    metric = metrics.ExpectedCalibrationError()
    update = tf.function(metric.update_state, input_signature=[tf.TensorSpec([None]), tf.TensorSpec([None, 2])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="one per row"):
        update(np.array([0.0, 1.0, 1.0]), np.full((2, 2), 0.5, np.float32))


@pytest.mark.slow
@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="TensorFlow's XLA (jit_compile=True) drops assertion ops, which leaves the NaN poison tested here; under "
    "jax.jit the assertions run (test_keras_metric_refuses_invalid_labels_and_probabilities)",
)
def test_keras_metric_under_xla_turns_invalid_input_into_nan():
    """XLA drops assertion ops; the metric then reports NaN rather than a plausible number."""
    import tensorflow as tf

    probs = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    metric = metrics.ExpectedCalibrationError(num_bins=10)
    update = tf.function(metric.update_state, jit_compile=True)
    update(np.array([0, 1]), probs)
    assert float(metric.result()) == pytest.approx(0.15)
    update(np.array([0, 15]), probs)
    assert np.isnan(float(metric.result()))
    metric.reset_state()
    update(np.array([0, 1]), probs)
    assert float(metric.result()) == pytest.approx(0.15)


@pytest.mark.slow
def test_keras_metric_refuses_bad_labels_in_evaluate():
    _, error = _errors()

    x = np.random.default_rng(5).normal(size=(8, 3)).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    # a loss that never looks at the labels, so only the metric can notice them
    model.compile(loss=lambda y_true, y_pred: keras.ops.mean(y_pred), metrics=[metrics.ExpectedCalibrationError()])
    assert np.isfinite(model.evaluate(x, np.arange(8) % 2, verbose=0, return_dict=True)["ece"])
    with pytest.raises(error, match="y_true class indices"):
        model.evaluate(x, np.full(8, 7), verbose=0)


@pytest.mark.slow
def test_keras_metric_is_a_registered_module_level_class_that_saved_models_keep(tmp_path):
    import keras

    metric_class = metrics.ExpectedCalibrationError
    assert metric_class.__qualname__ == "ExpectedCalibrationError" and metric_class.__module__ == "vdualib.metrics"
    assert keras.saving.get_registered_object("vdualib>ExpectedCalibrationError") is metric_class
    assert issubclass(metric_class, keras.metrics.Metric)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[metric_class(num_bins=7)])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    before = model.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)["ece"]
    model.save(tmp_path / "compiled.keras")
    loaded = keras.saving.load_model(tmp_path / "compiled.keras", safe_mode=True)
    after = loaded.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)["ece"]
    assert after == pytest.approx(before, abs=1e-6)
    assert after == pytest.approx(metrics.expected_calibration_error(loaded.predict(x, verbose=0), y, 7), abs=1e-5)


def test_top_label_ece_bins_each_row_on_its_own(two_models):
    labels, probs_a, probs_b = two_models
    a, b = metrics.per_example_scores(probs_a, labels), metrics.per_example_scores(probs_b, labels)
    stacked = metrics.top_label_ece(np.stack([a["confidence"], b["confidence"]]), np.stack([a["correct"], b["correct"]]))
    assert stacked.shape == (2,)
    assert stacked[0] == pytest.approx(metrics.expected_calibration_error(probs_a, labels))
    assert stacked[1] == pytest.approx(metrics.expected_calibration_error(probs_b, labels))
    assert float(metrics.top_label_ece([0.9, 0.6], [True, False])) == pytest.approx(0.35)
    for confidence, correct in (([0.5, np.nan], [1, 0]), ([1.2], [1]), ([0.5], [2]), ([0.5, 0.4], [1]), ([], [])):
        with pytest.raises(ValueError):
            metrics.top_label_ece(confidence, correct)


def test_metrics_module_imports_no_tensorflow(imported_modules):
    """The Keras metric computes through keras.ops only, so it runs on model tensors of any backend."""
    assert not {m for m in imported_modules(metrics) if m == "tensorflow" or m.startswith("tensorflow.")}


def test_compiled_keras_metric_matches_numpy_and_refuses_shapes():
    rng = np.random.default_rng(7)
    probs, labels = _random_predictions(rng, 120, 4, sharpness=0.5)
    probs = probs.astype(np.float32)
    metric = metrics.ExpectedCalibrationError(num_bins=6)
    update = _compiled_update(metric)
    for start in range(0, 120, 40):  # one trace, three batches accumulated
        update(labels[start : start + 40].astype(np.int32), probs[start : start + 40])
    assert float(metric.result()) == pytest.approx(metrics.expected_calibration_error(probs, labels, 6), abs=1e-5)
    weights = rng.integers(0, 3, size=120).astype(np.float32)
    metric.reset_state()
    update(labels.astype(np.int32), probs, weights)
    repeated = np.repeat(np.arange(120), weights.astype(int))
    expected = metrics.expected_calibration_error(probs[repeated], labels[repeated], 6)
    assert float(keras.ops.convert_to_numpy(metric.result())) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        _compiled_update(metrics.ExpectedCalibrationError())(np.array([0, 1, 1]), np.full((2, 2), 0.5, np.float32))


@pytest.mark.slow
def test_keras_metric_in_a_functional_model_fit_matches_numpy():
    """fit and evaluate run the metric compiled (on JAX: the jitted stateless update); its value
    after an epoch is expected_calibration_error of the epoch's predictions."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inputs)))
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.0),  # fixed weights: predict gives the epoch's predictions
        loss="sparse_categorical_crossentropy",
        metrics=[metrics.ExpectedCalibrationError(num_bins=8)],
    )
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    expected = metrics.expected_calibration_error(model.predict(x, verbose=0), y, 8)
    np.testing.assert_allclose(history.history["ece"], [expected, expected], atol=1e-5)
    assert model.evaluate(x, y, batch_size=40, return_dict=True, verbose=0)["ece"] == pytest.approx(expected, abs=1e-5)
