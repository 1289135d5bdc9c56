"""The shared input checks of vdualib.checks added for images, probabilities and labels:
numpy checks that refuse eagerly and their graph-side twins (tf.debugging assertions)."""

import re

import numpy as np
import pytest

from vdualib import checks

SCALED_HINT = r"\(x \* 255\)\.round\(\)\.astype\(np\.uint8\)"


# --------------------------------------------------------------------------- pixel_images (numpy)


def test_pixel_images_accepts_raw_pixels_and_returns_uint8(rng):
    raw = rng.integers(0, 256, (4, 5, 5), dtype=np.uint8)
    assert checks.pixel_images("x", raw) is raw  # uint8 passes untouched, no copy
    for dtype in (np.int64, np.int16, np.float32, np.float64, np.float16):
        converted = checks.pixel_images("x", raw.astype(dtype))
        assert converted.dtype == np.uint8
        np.testing.assert_array_equal(converted, raw)
    assert checks.pixel_images("x", np.zeros((0, 28, 28), np.float32)).dtype == np.uint8
    assert checks.pixel_images("x", [[0, 255]]).tolist() == [[0, 255]]


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((2, 3), 0.5), r"look scaled to \[0, 1\].*" + SCALED_HINT),
        (np.array([[0.0, 0.2], [1.0, 0.7]], np.float32), r"look scaled to \[0, 1\]"),
        (np.array([[0.0, 1.0], [1.0, 0.0]], np.float32), r"look scaled to \[0, 1\]"),  # binarised: (x > 127)
        (np.zeros((2, 3)), r"look scaled to \[0, 1\]"),
        ([[0.0, 1.0], [1.0]], r"x must be a rectangular array .*pad or drop"),
        (None, "x must be an array of numbers, got None"),
        (np.array([[0, 300]]), r"must lie in 0\.\.255.*\[0, 300\].*wrap"),
        (np.array([[-1, 3]], np.int8), r"must lie in 0\.\.255"),
        (np.array([[-0.4, 1.7]]), r"must lie in 0\.\.255"),  # standardised images
        (np.array([[3.5, 200.0]]), r"whole pixel values.*3\.5"),
        (np.array([[np.nan, 3.0]]), "NaN or infinite"),
        (np.array([[np.inf, 3.0]]), "NaN or infinite"),
        (np.array([[True, False]]), "numeric pixel values, got dtype bool"),
        (np.array([["a", "b"]]), "numeric pixel values"),
        (np.array([1 + 2j, 3j]).reshape(1, 2), "numeric pixel values"),
        (np.arange(5, dtype=np.uint8), r"batch of images \[N, \.\.\.\]"),
    ],
)
def test_pixel_images_refuses_what_would_be_misread(images, message):
    with pytest.raises(ValueError, match=message):
        checks.pixel_images("x", images)


# --------------------------------------------------------------------------- probability_rows


def test_probability_rows():
    probs = checks.probability_rows("probs", np.array([[0.2, 0.8], [0.5, 0.5]], np.float32))
    assert probs.dtype == np.float64 and probs.shape == (2, 2)
    checks.probability_rows("probs", [[0.2, 0.8 + 5e-4]])  # within PROBABILITY_ATOL
    for values, message in (
        ([[0.2, 0.9]], "sum to 1"),
        ([[2.0, -1.0]], r"\[0, 1\].*softmax"),
        ([[np.nan, 1.0]], "NaN"),
        ([[np.inf, 0.0]], "NaN"),
        (np.array([[1, 0]]), "floating-point"),
        ([0.5, 0.5], "shape"),
        (np.zeros((0, 3)), "at least one example"),
        ([[1.0]], "two classes"),
    ):
        with pytest.raises(ValueError, match=message):
            checks.probability_rows("probs", values)


# --------------------------------------------------------------------------- graph-side twins


def _assert_refused(message, function, *args):
    """``function(*args)`` raises InvalidArgumentError and its message matches ``message``."""
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        function(*args)
    assert re.search(message, info.value.message, re.S), info.value.message


@pytest.mark.parametrize(
    "values, dtype, message",
    [
        ([[0.0, 0.5]], "float32", r"look scaled to \[0, 1\].*" + SCALED_HINT),
        ([[0.0, 1.0]], "float32", r"look scaled to \[0, 1\]"),  # binarised images
        ([[0.0, 0.0]], "float64", r"look scaled to \[0, 1\]"),
        ([[0, 300]], "int32", r"must lie in 0\.\.255"),
        ([[-3, 4]], "int8", r"must lie in 0\.\.255"),
        ([[-0.5, 2.5]], "float32", r"must lie in 0\.\.255"),
        ([[np.nan, 3.0]], "float32", "NaN or infinite"),
        ([[3.5, 200.0]], "float64", "whole pixel values"),
    ],
)
def test_assert_pixel_images_refuses_in_eager_graph_and_tf_data(values, dtype, message):
    import tensorflow as tf

    bad = tf.constant(values, dtype)
    _assert_refused(message, checks.assert_pixel_images, bad)  # eager
    _assert_refused(message, tf.function(checks.assert_pixel_images), bad)  # graph
    pipeline = tf.data.Dataset.from_tensor_slices(bad[None]).map(checks.assert_pixel_images)
    _assert_refused(message, list, pipeline)  # tf.data


def test_assert_pixel_images_passes_raw_pixels_unchanged():
    import tensorflow as tf

    uint8 = tf.constant([[0, 255]], tf.uint8)
    assert checks.assert_pixel_images(uint8) is uint8
    for dtype in ("float32", "int32", "int64", "float16"):
        images = tf.constant([[0, 17, 255]], dtype)
        checked = tf.function(checks.assert_pixel_images)(images)
        assert checked.dtype == images.dtype and checked.numpy().tolist() == [[0, 17, 255]]
    with pytest.raises(ValueError, match="numeric pixel values"):
        checks.assert_pixel_images(tf.constant([["a"]]))


@pytest.mark.parametrize(
    "values, dtype, message",
    [
        ([0, 10], "int32", r"must be < 10.*10"),
        ([3, 15], "int64", r"must be < 10.*15"),
        ([200], "uint8", r"must be < 10.*200"),
        ([-1, 3], "int64", r"must be >= 0.*-1"),
        ([1.5], "float32", "whole numbers"),
        ([np.nan], "float32", "NaN or infinite"),
        ([-2.0], "float64", ">= 0"),
    ],
)
def test_assert_labels_refuses_bad_labels(values, dtype, message):
    import tensorflow as tf

    bad = tf.constant(values, dtype)
    _assert_refused(message, checks.assert_labels, bad, 10)

    @tf.function
    def in_graph(labels):
        return checks.assert_labels(labels, 10)

    _assert_refused(message, in_graph, bad)


def test_assert_labels_passes_good_labels_unchanged():
    import tensorflow as tf

    for values, dtype in (([0, 9, 3], "int32"), ([[0], [9]], "int64"), ([0.0, 9.0], "float32"), ([9], "uint8")):
        labels = tf.constant(values, dtype)
        checked = checks.assert_labels(labels, 10)
        assert checked.dtype == labels.dtype and checked.numpy().tolist() == labels.numpy().tolist()
    # without num_classes only the lower bound is checked
    assert checks.assert_labels(tf.constant([1000]), None).numpy().tolist() == [1000]
    with pytest.raises(ValueError, match="num_classes"):
        checks.assert_labels(tf.constant([1]), 0)
    with pytest.raises(ValueError, match="class indices"):
        checks.assert_labels(tf.constant(["cat"]), 10)


# --------------------------------------------------------------------------- arrays, names, shapes, weights


def test_numeric_array_names_ragged_missing_and_non_numeric_values():
    assert checks.numeric_array("x", [[1, 2], [3, 4]]).shape == (2, 2)
    for values, message in (
        ([[1, 2], [3]], "x must be a rectangular array of numbers"),
        (None, "x must be an array of numbers, got None"),
        (["a", "b"], "x must be numbers, got an array of dtype <U1"),
        ([{"a": 1}], "x must be numbers"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            checks.numeric_array("x", values)
    with pytest.raises(ValueError, match="rate must be a rectangular array"):
        checks.finite_array("rate", [[1.0], [2.0, 3.0]])


@pytest.mark.parametrize("name", ["../../x", "..", ".", "", "a/b", "a\\b", "/etc/passwd", "a\0b", " x", 3, None])
def test_plain_name_refuses_path_parts(name):
    with pytest.raises(ValueError, match="must be a plain name"):
        checks.plain_name("a zoo name", name)


def test_plain_name_and_shape_accept_what_they_should():
    assert checks.plain_name("a zoo name", "mnist-vib-mlp.v2") == "mnist-vib-mlp.v2"
    assert checks.shape("shape", [28, 28.0]) == (28, 28)
    for bad in ((-1, 28), (28, 0), (2.5,), (), 28, ("28",), (True, 3)):
        with pytest.raises(ValueError, match="shape must"):
            checks.shape("shape", bad)


def test_sample_weights():
    np.testing.assert_array_equal(checks.sample_weights("w", [[1.0], [0.0]]), [1.0, 0.0])
    for weights, message in (
        ([1.0, np.nan], "NaN or infinite"),
        ([np.inf, 1.0], "NaN or infinite"),
        ([1.0, -0.5], "must be >= 0"),
        ([[1.0, 2.0]], "one weight per example"),
        ([1.0], "must hold 2 weights"),
    ):
        with pytest.raises(ValueError, match=message):
            checks.sample_weights("w", weights, size=2)


def test_assert_sample_weights():
    import tensorflow as tf

    good = tf.constant([1.0, 0.0])
    np.testing.assert_array_equal(checks.assert_sample_weights(good).numpy(), [1.0, 0.0])
    _assert_refused("NaN or infinite", checks.assert_sample_weights, tf.constant([1.0, np.nan]))
    _assert_refused("must be >= 0", tf.function(checks.assert_sample_weights), tf.constant([1.0, -1.0]))


def test_finite_variables_names_the_bad_ones():
    import keras

    good, bad = keras.Variable(np.ones(3), name="good"), keras.Variable([1.0, np.inf], name="bad")
    checks.finite_variables([good, keras.Variable(np.int32(5), name="count")])
    with pytest.raises(ValueError, match=r"model 'm' has non-finite weights \(NaN or inf\) in bad: training diverged"):
        checks.finite_variables([good, bad], "model 'm'")


def test_run_time_checks_refuse_bad_values_of_the_keras_backend_also_when_compiled(runtime_error):
    """The assert_* checks on the backend's own tensors: eagerly, and inside the backend's compiled
    functions (tf.function on TensorFlow, jax.jit on JAX)."""
    import keras

    bad_labels = keras.ops.convert_to_tensor(np.array([3, 0], "int32"))
    bad_weights = keras.ops.convert_to_tensor(np.array([1.0, -1.0], "float32"))
    good = keras.ops.convert_to_tensor(np.array([2, 0], "int32"))
    if keras.backend.backend() == "jax":
        import jax

        compile_ = jax.jit
    else:
        import tensorflow as tf

        compile_ = tf.function
    for run in (lambda f: f, compile_):
        labels = run(lambda y: checks.assert_labels(y, 3))
        with pytest.raises(runtime_error, match="labels must be < 3"):
            keras.ops.convert_to_numpy(labels(bad_labels))
        weights = run(checks.assert_sample_weights)
        with pytest.raises(runtime_error, match="sample weights must be >= 0"):
            keras.ops.convert_to_numpy(weights(bad_weights))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(labels(good)), [2, 0])


def test_numeric_array_converts_machine_learning_floats_and_refuses_text():
    import ml_dtypes
    from fractions import Fraction

    np.testing.assert_array_equal(
        checks.numeric_array("confidence", np.array([0.5, 0.25], dtype=ml_dtypes.bfloat16), dtype=np.float64), [0.5, 0.25])
    np.testing.assert_array_equal(checks.numeric_array("beta", np.array([Fraction(1, 2)], dtype=object), dtype=np.float64),
                                  [0.5])
    for text in (["1", "2"], np.array(["2020-01-01"], dtype="datetime64[D]"), [b"1"]):
        with pytest.raises(ValueError, match="must be numbers"):
            checks.numeric_array("values", text, dtype=np.float64)


def test_flag_and_seed():
    assert checks.flag("progress", None) is False and checks.flag("progress", np.bool_(True)) is True
    assert checks.flag("progress", np.array(1)) is True
    for bad in ("no", 2, 0.5, [True]):
        with pytest.raises(ValueError, match="progress must be True or False"):
            checks.flag("progress", bad)
    assert checks.seed("seed", np.int64(4)) == 4 and checks.seed("seed", (1, 2)) == [1, 2]
    assert checks.seed("seed", np.array([3, 5])) == [3, 5] and checks.seed("seed", None) is None
    for bad in (1.5, -1, True, "0", [], [1, -1], np.random.default_rng(0)):
        with pytest.raises(ValueError, match="seed must be None"):
            checks.seed("seed", bad)


def test_scalar_checks_take_zero_dimensional_arrays():
    assert checks.finite_float("beta", np.array(0.5)) == 0.5
    assert checks.positive_int("epochs", np.array(3)) == 3
    with pytest.raises(ValueError, match="real number"):
        checks.finite_float("beta", np.array([0.5]))
