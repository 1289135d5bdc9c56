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
