"""Input checks shared by the public API: one place for the rules, one wording for the errors.

Every public function and class validates its arguments here, at the boundary, and raises a
``ValueError`` that names the argument, shows the value and says what to pass instead. NaN and
infinity are bad input everywhere: ``x < 0`` is False for NaN, so these checks test what a value
*is* (finite, in range) instead of what it is not. Internal helpers trust their callers.

The graph-side twins (``assert_*``, for tensors inside ``tf.data``, ``tf.function`` and
``jax.jit``) check TensorFlow tensors with TensorFlow's assertions and other backends' tensors
through ``keras.ops``. They import Keras (and TensorFlow or JAX) when first called, not at the
top: this module is also the numpy-only :mod:`vdualib.ib`, :mod:`vdualib.information`
estimators' and :mod:`vdualib.ntk`'s, which do not pay for a TensorFlow import.

Example:
    >>> from vdualib import checks
    >>> checks.finite_float("beta", 1e-3, low=0.0)
    0.001
    >>> checks.positive_int("latent_dim", 0)
    Traceback (most recent call last):
    ...
    ValueError: latent_dim must be a positive integer, got 0.
"""

import math
import numbers
import sys

import numpy as np

__all__ = [
    "finite_float",
    "positive_int",
    "non_negative_int",
    "flag",
    "seed",
    "probability_vector",
    "stochastic_matrix",
    "integer_labels",
    "finite_array",
    "numeric_array",
    "plain_name",
    "shape",
    "sample_weights",
    "finite_variables",
    "sample_matrix",
    "class_labels",
    "PIXEL_HINT",
    "PROBABILITY_ATOL",
    "probability_rows",
    "pixel_images",
    "assert_pixel_images",
    "assert_labels",
    "assert_probabilities",
    "assert_sample_weights",
]


def finite_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a Python float, refusing NaN, infinity, non-numbers and values out of range.

    Args:
        name: the argument's name, for the message.
        value: a real number (bools are refused).
        low, high: optional bounds; ``low_open`` / ``high_open`` make them strict.

    Returns:
        ``float(value)``.

    Raises:
        ValueError: a non-number, a bool, NaN, infinity or a value out of range.

    Example:
        >>> finite_float("beta", 1e-3, low=0.0)
        0.001
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}.")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}.")
    return value


def _scalar(value):
    """A 0-d numpy array as its scalar (``np.array(3)`` is a number too); anything else unchanged."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _integer(name, value, low, what):
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be {what}, got {value!r}.")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be {what}, got {value}.")
    return value


def positive_int(name, value):
    """``value`` as an int >= 1 (whole floats such as ``3.0`` are accepted; bools are not).

    Args:
        name: the argument's name, for the message.
        value: an integer, or a whole float.

    Returns:
        ``int(value)``.

    Raises:
        ValueError: a bool, a fraction, a non-number or a value < 1.

    Example:
        >>> positive_int("epochs", 3.0)
        3
    """
    return _integer(name, value, 1, "a positive integer")


def non_negative_int(name, value):
    """``value`` as an int >= 0 (whole floats accepted; bools are not).

    Args:
        name: the argument's name, for the message.
        value: an integer, or a whole float.

    Returns:
        ``int(value)``.

    Raises:
        ValueError: a bool, a fraction, a non-number or a negative value.

    Example:
        >>> non_negative_int("num_samples", 0)
        0
    """
    return _integer(name, value, 0, "an integer >= 0")


def flag(name, value):
    """``value`` as a bool: ``True``/``False`` (numpy's too), the integers 1 and 0, or ``None`` (off).

    ``bool()`` would take any object (the string ``"no"`` is true), so a switch is checked instead.

    Args:
        name: the argument's name, for the message.
        value: a bool, 0 or 1, or None.

    Returns:
        ``bool(value)``.

    Raises:
        ValueError: anything else.

    Example:
        >>> flag("progress", 0)
        False
    """
    value = _scalar(value)
    if value is None or isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {type(value).__name__} {value!r:.60}.")


def seed(name, value):
    """A random seed as numpy's ``SeedSequence`` takes it: ``None`` (fresh entropy), an integer >= 0 or a
    sequence of them (bools are refused).

    Args:
        name: the argument's name, for the message.
        value: ``None``, a non-negative integer, or a 1-D sequence of non-negative integers.

    Returns:
        ``None``, an ``int`` or a list of ``int``.

    Raises:
        ValueError: anything else (a float, a string, a negative integer, a bool, a generator object).

    Example:
        >>> seed("seed", 7), seed("seed", None), seed("seed", [1, 2])
        (7, None, [1, 2])
    """
    value = _scalar(value)
    if value is None:
        return None

    def entropy(item):
        return not isinstance(item, (bool, np.bool_)) and isinstance(item, numbers.Integral) and item >= 0

    if entropy(value):
        return int(value)
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) and all(entropy(item) for item in value):
        return [int(item) for item in value]
    raise ValueError(f"{name} must be None (fresh entropy), an integer >= 0 or a list of them; got "
                     f"{type(value).__name__} {value!r:.60}.")


def numeric_array(name, values, dtype=None):
    """``values`` as a numpy array, refusing what numpy cannot make a rectangular array of numbers.

    A ragged list (rows of different lengths), ``None``, strings and other objects get a
    ``ValueError`` naming ``name`` instead of numpy's message (which may print every value).

    Args:
        name: the argument's name, for the message.
        values: array-like numbers (an array, a tensor, nested lists of equal lengths).
        dtype: the numpy dtype of the result, or ``None`` to keep the inferred one.

    Returns:
        A numpy array (any shape) of numbers or booleans.

    Raises:
        ValueError: ``None``, a ragged list, or values that are not numbers.

    Example:
        >>> numeric_array("probs", [[0.5, 0.5], [1.0]])
        Traceback (most recent call last):
        ...
        ValueError: probs must be a rectangular array of numbers (every row the same length), got a ragged nested list...
    """
    if values is None:
        raise ValueError(f"{name} must be an array of numbers, got None.")
    not_numbers = f"{name} must be numbers, got {type(values).__name__} values that are not."
    try:
        result = np.asarray(values)
    except ValueError as err:
        if "inhomogeneous" in str(err) or "sequence" in str(err):
            raise ValueError(
                f"{name} must be a rectangular array of numbers (every row the same length), got a ragged "
                "nested list; pad or drop the short rows."
            ) from None
        raise ValueError(not_numbers) from None
    except TypeError:
        raise ValueError(not_numbers) from None
    if np.issubdtype(result.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got complex values; pass their real part or magnitude.")
    if result.dtype.kind in "USMm":  # text, dates and durations: a conversion to float would parse or count them
        raise ValueError(f"{name} must be numbers, got an array of dtype {result.dtype}.")
    if dtype is not None:
        try:
            result = result.astype(dtype)
        except (ValueError, TypeError):
            raise ValueError(not_numbers) from None
    if not (np.issubdtype(result.dtype, np.number) or result.dtype == bool):
        raise ValueError(f"{name} must be numbers, got an array of dtype {result.dtype}.")
    return result


def finite_array(name, values, dtype=np.float64):
    """``values`` as a numpy array of ``dtype``, refusing NaN and infinity.

    Args:
        name: the argument's name, for the message.
        values: array-like numbers.
        dtype: the numpy dtype of the result.

    Returns:
        A numpy array of ``dtype`` (any shape).

    Raises:
        ValueError: non-numbers, NaN or infinity.

    Example:
        >>> finite_array("rate", [0.5, 1.0]).dtype
        dtype('float64')
    """
    array = numeric_array(name, values, dtype=dtype)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or drop them.")
    return array


def probability_vector(name, values, size=None, atol=1e-6):
    """A probability vector: finite, non-negative, summing to 1 (within ``atol``), of ``size``.

    Args:
        name: the argument's name, for the message.
        values: array-like numbers.
        size: the required length, or ``None``.
        atol: tolerance on the sum.

    Returns:
        float64 array ``[size]``.

    Raises:
        ValueError: not 1-D, the wrong length, negative entries or a sum off 1.

    Example:
        >>> probability_vector("class_prior", [0.25, 0.75], size=2)
        array([0.25, 0.75])
    """
    p = finite_array(name, values)
    if p.ndim != 1 or (size is not None and p.shape[0] != size):
        expected = f"{size} numbers" if size is not None else "a 1-D list of numbers"
        raise ValueError(f"{name} must be {expected}, got shape {p.shape}.")
    if np.any(p < 0) or abs(p.sum() - 1.0) > atol:
        raise ValueError(f"{name} must be non-negative and sum to 1, got sum {p.sum():.6g}.")
    return p


def stochastic_matrix(name, matrix, num_classes=None, positive=False, atol=1e-5):
    """A square row-stochastic matrix (each row a probability distribution).

    Args:
        num_classes: the required size K, if known.
        positive: also refuse zero entries (needed where log p~ appears, as in KL(q || p~)).

    Returns:
        float64 array ``[K, K]``.

    Raises:
        ValueError: not square, the wrong size, negative entries, rows not summing to 1, or zeros
            with ``positive=True``.

    Example:
        >>> stochastic_matrix("the confusion matrix", [[0.9, 0.1], [0.2, 0.8]], 2, positive=True).shape
        (2, 2)
    """
    m = finite_array(name, matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square K x K matrix, got shape {m.shape}.")
    if num_classes is not None and m.shape[0] != num_classes:
        raise ValueError(f"{name} is {m.shape[0]} x {m.shape[0]} but the model has {num_classes} classes.")
    if np.any(m < 0):
        raise ValueError(f"{name} has negative entries; rows must be probability distributions.")
    sums = m.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=atol):
        bad = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"{name}: row {bad} sums to {sums[bad]:.6f}, not 1; normalise the rows.")
    if positive and np.any(m == 0):
        raise ValueError(
            f"{name} has zero entries, which make KL(q || p~) infinite; floor it or mix it with uniform noise "
            "(confusion_matrix(..., smoothing=...))."
        )
    return m


def integer_labels(name, labels, num_classes=None):
    """Class labels as an int64 array ``[N]``: whole numbers in ``[0, num_classes)``.

    Float labels are accepted only when every value is a whole number; NaN, infinity, fractions,
    negative values and values >= ``num_classes`` are refused. A ``[N, 1]`` column is flattened.

    Args:
        name: the argument's name, for the message.
        labels: array-like class ids ``[N]`` (or ``[N, 1]``).
        num_classes: C, or ``None`` for no upper bound.

    Returns:
        int64 ``[N]``.

    Raises:
        ValueError: non-numeric, non-1-D, non-finite, fractional, negative or too large labels.

    Example:
        >>> integer_labels("labels", [0.0, 2.0], num_classes=3)
        array([0, 2])
    """
    try:
        array = numeric_array(name, labels)
    except ValueError as err:
        raise ValueError(f"{name} must be integer class labels [N]: {err}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {array.shape}.")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contain NaN or infinite values.")
        if not np.all(np.equal(np.floor(array), array)):
            raise ValueError(f"{name} must be whole numbers (class indices), got fractional values such as {array[np.floor(array) != array][0]}.")
    array = array.astype(np.int64)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {array.min()}.")
    if num_classes is not None and array.size and array.max() >= num_classes:
        raise ValueError(f"{name} must be < {num_classes} (the number of classes), got {array.max()}.")
    return array


def sample_matrix(name, values, min_rows=1, dtype=np.float64):
    """Samples as a finite array ``[N, d]``: a 1-D array is one feature, trailing dimensions are
    flattened per row; NaN, infinity, empty arrays and fewer than ``min_rows`` rows are refused.

    Returns:
        ``dtype`` array ``[N, d]``.

    Args:
        name: the argument's name, for the message.
        values: array-like samples ``[N]``, ``[N, d]`` or ``[N, ...]``.
        min_rows: the smallest N accepted.
        dtype: the numpy dtype of the result.

    Raises:
        ValueError: NaN, infinity, a scalar, an empty array or fewer than ``min_rows`` rows.

    Example:
        >>> sample_matrix("x", np.zeros((4, 2, 3))).shape
        (4, 6)
    """
    array = finite_array(name, values, dtype=dtype)
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim == 0:
        raise ValueError(f"{name} must be an array of samples [N, d], got a single number.")
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    if array.shape[1] < 1 or array.shape[0] < max(min_rows, 1):
        raise ValueError(f"{name} must hold at least {max(min_rows, 1)} non-empty rows [N, d], got shape {array.shape}.")
    return array


def class_labels(name, labels, size=None):
    """Class labels as int64 ``[N]`` from class ids ``[N]`` or one-hot rows ``[N, C]``.

    Class ids are checked by :func:`integer_labels`; one-hot rows must be 0/1 with exactly one 1.

    Args:
        name: the argument's name, for the message.
        labels: class ids ``[N]`` or one-hot rows ``[N, C]``.
        size: the required N, or ``None``.

    Returns:
        int64 ``[N]``.

    Raises:
        ValueError: bad class ids, rows that are not one-hot, or the wrong N.

    Example:
        >>> class_labels("labels", [[0, 1], [1, 0]])
        array([1, 0])
    """
    array = numeric_array(name, labels)
    if array.ndim == 2 and array.shape[1] > 1:
        one_hot = finite_array(name, array)
        if not (np.isin(one_hot, (0.0, 1.0)).all() and (one_hot.sum(axis=1) == 1).all()):
            raise ValueError(f"{name} given as [N, C] rows must be one-hot (one 1 per row); pass class ids [N] instead.")
        array = np.argmax(one_hot, axis=1)
    array = integer_labels(name, array)
    if size is not None and array.shape[0] != size:
        raise ValueError(f"{name} must hold {size} labels (one per row of the data), got {array.shape[0]}.")
    return array


def sample_weights(name, weights, size=None):
    """Per-example weights as float64 ``[N]``: finite and >= 0 (a ``[N, 1]`` column is flattened).

    A NaN or infinite weight turns every model weight NaN, and a negative one maximises the loss
    on its example; both are refused. Zero weights are allowed (they drop an example).

    Args:
        name: the argument's name, for the message.
        weights: array-like numbers ``[N]`` (or ``[N, 1]``).
        size: the required N (the number of examples), or ``None``.

    Returns:
        float64 ``[N]``.

    Raises:
        ValueError: not numbers, not 1-D, NaN or infinity (also after the cast to float32),
            negative values, or the wrong N.

    Example:
        >>> sample_weights("sample_weight", [1.0, 0.5, 0.0])
        array([1. , 0.5, 0. ])
    """
    array = numeric_array(name, weights, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one weight per example [N], got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite weights (they make every model weight NaN); pass finite weights >= 0.")
    if array.size and np.abs(array).max() > np.finfo(np.float32).max:
        raise ValueError(
            f"{name} holds {np.abs(array).max():.3g}, which is infinite in float32 (the model's weights); pass weights "
            "that float32 holds, e.g. rescaled to a mean of 1."
        )
    if array.size and array.min() < 0:
        raise ValueError(
            f"{name} must be >= 0, got {array.min():.6g} (a negative weight maximises the loss on its example)."
        )
    if size is not None and array.shape[0] != size:
        raise ValueError(f"{name} must hold {size} weights (one per example), got {array.shape[0]}.")
    return array


def plain_name(name, value):
    """``value`` if it is a plain name: a non-empty string that is a single path component.

    Registry keys and file names become parts of paths (``cards/<name>.json``); ``"../x"``,
    ``"a/b"``, ``"a\\b"``, ``"."`` and ``".."`` would point outside their folder and are refused.

    Args:
        name: what the value is, for the message.
        value: the candidate name.

    Returns:
        ``value``.

    Raises:
        ValueError: not a string, empty, ``"."`` / ``".."``, or holding a path separator or NUL.

    Example:
        >>> plain_name("a zoo name", "mnist-vib-mlp")
        'mnist-vib-mlp'
    """
    if (
        not isinstance(value, str)
        or value in ("", ".", "..")
        or any(sep in value for sep in ("/", "\\", "\0"))
        or value != value.strip()
    ):
        raise ValueError(f"{name} must be a plain name without path separators or '..', got {value!r}.")
    return value


def shape(name, value):
    """An array shape as a tuple of positive integers (whole floats such as ``28.0`` accepted).

    Args:
        name: the argument's name, for the message.
        value: a sequence of sizes, e.g. ``(28, 28)`` or ``[32, 32, 3]``.

    Returns:
        A tuple of ints, each >= 1 (at least one).

    Raises:
        ValueError: not a sequence, empty, or a size that is not a positive integer.

    Example:
        >>> shape("input_shape", [28, 28.0])
        (28, 28)
    """
    try:
        sizes = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of positive integers, e.g. (28, 28), got {value!r}.") from None
    if not sizes:
        raise ValueError(f"{name} must hold at least one size, e.g. (28, 28), got {value!r}.")
    try:
        return tuple(positive_int(name, size) for size in sizes)
    except ValueError:
        raise ValueError(f"{name} must be positive integers, e.g. (28, 28), got {value!r}.") from None


def finite_variables(variables, what="the model"):
    """Refuse variables holding NaN or infinity, naming each one.

    Args:
        variables: Keras or TensorFlow variables (e.g. ``model.weights``); non-floating ones
            (seed states, counters) are skipped.
        what: what holds them, for the message.

    Returns:
        ``None``.

    Raises:
        ValueError: some floating variable holds NaN or infinity; the message lists their paths.

    Example:
        >>> finite_variables(model.weights, "model 'mnist-dualib-mlp'")     # no NaN or infinity: None
        >>> finite_variables([keras.Variable([1.0, np.nan], name="w")], "model 'a'")
        Traceback (most recent call last):
        ...
        ValueError: model 'a' has non-finite weights (NaN or inf) in w: training diverged. ...
    """
    bad = []
    for variable in variables:
        values = np.asarray(variable)
        if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values)):
            bad.append(getattr(variable, "path", None) or getattr(variable, "name", "?"))
    if bad:
        shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise ValueError(
            f"{what} has non-finite weights (NaN or inf) in {shown}: training diverged. Retrain with a lower "
            "learning rate or beta, or load an earlier checkpoint; its predictions would be NaN."
        )


# ---------------------------------------------------------------------------------------------
# Images, probabilities and labels: numpy checks (eager) and their graph-side twins

#: What to do with images that are not raw pixel values, quoted in every image error.
PIXEL_HINT = (
    "models take raw pixel values 0..255 (uint8, or whole numbers in 0..255); "
    "for images scaled to [0, 1] pass (x * 255).round().astype(np.uint8)"
)


#: Tolerance on the row sums of predicted probabilities: float32 softmax outputs sum to 1 within
#: about 1e-6, Monte Carlo averages of them a little worse; anything further off is not a distribution.
PROBABILITY_ATOL = 1e-3


def probability_rows(name, values, atol=PROBABILITY_ATOL):
    """Class probabilities ``[N, C]`` (N >= 1, C >= 2): floating point, finite, in [0, 1], each
    row summing to 1 within ``atol``.

    ``atol`` absorbs float32 softmax round-off and Monte Carlo averaging; logits and unnormalised
    scores are refused with a hint to apply softmax. Integer arrays are refused: they are labels
    or one-hot targets passed where predictions belong.

    Returns:
        float64 array ``[N, C]``.

    Example:
        >>> probability_rows("probs", [[0.25, 0.75]]).shape
        (1, 2)

    Args:
        name: the argument's name, for the message.
        values: array-like probabilities ``[N, C]``.
        atol: tolerance on the row sums.

    Raises:
        ValueError: the wrong shape, an integer dtype, NaN or infinity, entries outside [0, 1] or
            rows not summing to 1.
    """
    array = numeric_array(name, values)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape [num_examples, num_classes] with at least one example and two classes; "
            f"got shape {array.shape}."
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be floating-point probabilities; got dtype {array.dtype}.")
    array = finite_array(name, array)
    if np.any(array < 0) or np.any(array > 1 + atol):
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{array.min():.6g}, {array.max():.6g}]; "
            "pass probabilities (softmax of the logits), not logits."
        )
    sums = array.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > atol)
    if bad.size:
        raise ValueError(
            f"rows of {name} must sum to 1 (within {atol}); row {bad[0]} sums to {sums[bad[0]]:.6g} "
            f"({bad.size} such rows). Pass probabilities (softmax of the logits), not logits."
        )
    return array


def pixel_images(name, images):
    """Images as raw pixel values, returned as uint8: the project's image contract.

    Accepted: uint8 arrays, and integer or floating arrays whose values are whole numbers in
    0..255 with at least one above 1 (converted exactly). Refused, with :data:`PIXEL_HINT`: NaN or
    infinity; integer (other than uint8) or floating arrays whose values all lie in [0, 1] (images
    scaled to [0, 1], binarised images ``(x > 127).astype("float32")`` or ``.astype(int)`` among
    them); other
    fractional values; values outside 0..255 (a uint8 cast would wrap them); ragged lists and
    non-numeric or boolean arrays. Scaled images are refused rather than rescaled because a float
    array of 0s and 1s is ambiguous and a silent rescale would hide a pipeline that normalises
    twice.

    Args:
        name: the argument's name, for the message.
        images: array-like ``[N, ...]`` (at least two dimensions: a batch of images).

    Returns:
        uint8 array of the same shape (the input itself when it is already uint8).

    Example:
        >>> pixel_images("x", np.array([[0.0, 255.0]])).dtype
        dtype('uint8')
        >>> pixel_images("x", np.array([[0.0, 1.0]]))
        Traceback (most recent call last):
        ...
        ValueError: x look scaled to [0, 1] (values in [0, 1]: scaled, binarised or all-black images); models take raw ...
    """
    # a (ragged) list is named as such, not reported by numpy with every value
    array = numeric_array(name, images) if isinstance(images, (list, tuple)) or images is None else np.asarray(images)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must be numeric pixel values, got dtype {array.dtype}; {PIXEL_HINT}.")
    if array.ndim < 2:
        raise ValueError(f"{name} must be a batch of images [N, ...], got shape {array.shape}.")
    if array.dtype == np.uint8 or array.size == 0:
        return array.astype(np.uint8, copy=False)
    low, high = array.min(), array.max()  # NaN and inf show in these, so no separate pass
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} contain NaN or infinite values; {PIXEL_HINT}.")
    if low < 0 or high > 255:
        raise ValueError(
            f"{name} must lie in 0..255, got values in [{low:.6g}, {high:.6g}] (normalised images, or integers "
            f"that a uint8 cast would wrap); {PIXEL_HINT}."
        )
    if high <= 1:
        # whole 0s and 1s included: binarised images (x > 127).astype("float32" or "int64") are
        # scaled too; uint8, the pixel type itself, is taken as it is
        raise ValueError(
            f"{name} look scaled to [0, 1] (values in [{low:.6g}, {high:.6g}]: scaled, binarised or all-black "
            f"images); {PIXEL_HINT}."
        )
    pixels = array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating) and not np.array_equal(pixels, array):
        example = array[pixels != array].flat[0]
        raise ValueError(f"{name} must be whole pixel values, got fractional values such as {example:.6g}; {PIXEL_HINT}.")
    return pixels


class _TensorFlowOps:
    """The operations the run-time checks use, on TensorFlow tensors (eager, ``tf.function``,
    ``tf.data``): conditions become ``tf.debugging.Assert`` ops."""

    def __init__(self):
        import tensorflow as tf

        self.tf = tf

    def convert(self, values):
        return self.tf.convert_to_tensor(values)

    @staticmethod
    def dtype(tensor):
        return np.dtype(tensor.dtype.as_numpy_dtype)

    def size(self, tensor):
        return self.tf.size(tensor)

    def min(self, tensor):
        return self.tf.reduce_min(tensor)

    def max(self, tensor):
        return self.tf.reduce_max(tensor)

    def all(self, tensor):
        return self.tf.reduce_all(tensor)

    def isfinite(self, tensor):
        return self.tf.math.is_finite(tensor)

    def floor(self, tensor):
        return self.tf.floor(tensor)

    def sum(self, tensor, axis):
        return self.tf.reduce_sum(tensor, axis=axis)

    def checked(self, tensor, conditions):
        """``tensor`` behind ``tf.debugging.Assert`` ops run one after the other, so the first
        failing condition is the one reported."""
        for condition, data in conditions:
            with self.tf.control_dependencies([self.tf.debugging.Assert(condition, data, summarize=8)]):
                tensor = self.tf.identity(tensor)
        return tensor


class _KerasOps(_TensorFlowOps):
    """The same operations through ``keras.ops``, for the tensors of a Keras backend other than
    TensorFlow. On JAX the conditions are checked by a ``jax.debug.callback``, so they run inside
    ``jax.jit`` too, and a failure raises there (as an ``XlaRuntimeError`` whose text holds the
    ``ValueError``); elsewhere they are checked at once."""

    def __init__(self):
        import keras

        self.ops = keras.ops
        self.backend = keras.backend.backend()

    def convert(self, values):
        return self.ops.convert_to_tensor(values)

    @staticmethod
    def dtype(tensor):
        import keras

        return np.dtype(keras.backend.standardize_dtype(tensor.dtype))

    def size(self, tensor):
        return self.ops.size(tensor)

    def min(self, tensor):
        return self.ops.min(tensor)

    def max(self, tensor):
        return self.ops.max(tensor)

    def all(self, tensor):
        return self.ops.all(tensor)

    def isfinite(self, tensor):
        return self.ops.isfinite(tensor)

    def floor(self, tensor):
        return self.ops.floor(tensor)

    def sum(self, tensor, axis):
        return self.ops.sum(tensor, axis=axis)

    def checked(self, tensor, conditions):
        flags = [condition for condition, _ in conditions]
        values = [[part for part in data if not isinstance(part, str)] for _, data in conditions]

        def raise_first_failure(flag_values, data_values):
            for ok, (_, data), found in zip(flag_values, conditions, data_values):
                if not bool(np.asarray(ok)):
                    found = iter(found)
                    parts = [part if isinstance(part, str) else np.asarray(next(found)).tolist() for part in data]
                    raise ValueError(" ".join(str(part) for part in parts))

        if self.backend == "jax":
            import jax

            # In program order (the first failing check is reported) where the step runs on one device;
            # JAX orders no callbacks across several (keras.distribution.DataParallel).
            jax.debug.callback(raise_first_failure, flags, values, ordered=_on_one_device())
        else:
            raise_first_failure([self.ops.convert_to_numpy(flag) for flag in flags],
                                [[self.ops.convert_to_numpy(v) for v in group] for group in values])
        return tensor


def _on_one_device():
    """Whether Keras' current distribution (``keras.distribution``) spans at most one device."""
    import keras

    distribution = keras.distribution.distribution()
    return distribution is None or np.size(distribution.device_mesh.devices) <= 1


def _ops_for(values):
    """The operations for checking ``values``: TensorFlow's when Keras runs on TensorFlow or
    ``values`` is a TensorFlow tensor (inside ``tf.data`` on any backend); ``keras.ops`` otherwise."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return _TensorFlowOps()
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(values, (tf.Tensor, tf.Variable)):
        return _TensorFlowOps()
    return _KerasOps()


def assert_pixel_images(images):
    """Graph-side :func:`pixel_images`: ``images`` unchanged (same dtype), behind run-time
    assertions that run whenever the tensor is computed (``tf.data`` maps, ``tf.function``,
    ``jax.jit``, eager).

    uint8 passes without any op. Integer tensors must lie in 0..255; floating tensors must be
    finite whole numbers in 0..255, not all in [0, 1] (checked per tensor, so per batch in a
    pipeline). A failure raises ``tf.errors.InvalidArgumentError`` on TensorFlow tensors (a
    ``ValueError`` inside an ``XlaRuntimeError`` under ``jax.jit``) whose message says what to
    pass (:data:`PIXEL_HINT`). TensorFlow's XLA (``jit_compile=True``) drops assertion ops, so
    inside XLA-compiled TensorFlow code this check does nothing; check before.

    Args:
        images: a tensor of images ``[N, ...]`` (or one image).

    Returns:
        the same tensor, with the checks attached.

    Raises:
        ValueError: at trace time, for a non-numeric dtype.

    Example:
        >>> x = assert_pixel_images(np.array([[0.0, 255.0]], "float32"))
        >>> keras.ops.convert_to_numpy(x)
        array([[  0., 255.]], dtype=float32)
    """
    ops = _ops_for(images)
    images = ops.convert(images)
    dtype = ops.dtype(images)
    if dtype == np.uint8:
        return images
    floating = np.issubdtype(dtype, np.floating)
    if not (floating or np.issubdtype(dtype, np.integer)):
        raise ValueError(f"images must be numeric pixel values, got dtype {dtype.name}; {PIXEL_HINT}.")
    low, high = ops.min(images), ops.max(images)
    conditions = []
    if floating:
        conditions.append((ops.all(ops.isfinite(images)), [f"images contain NaN or infinite values; {PIXEL_HINT}."]))
    empty = ops.size(images) == 0
    conditions.append(
        (empty | (low < 0) | (high > 1), [f"images look scaled to [0, 1]; {PIXEL_HINT}. Values in", low, high])
    )
    in_range = (low >= 0) & (high <= 255) if floating or np.iinfo(dtype).max >= 255 else low >= 0
    conditions.append((in_range, [f"images must lie in 0..255 (normalised images, or integers a uint8 cast would wrap); {PIXEL_HINT}. Values in", low, high]))
    if floating:
        conditions.append((ops.all(ops.floor(images) == images), [f"images must be whole pixel values, not fractions; {PIXEL_HINT}."]))
    return ops.checked(images, conditions)


def assert_labels(labels, num_classes=None):
    """Graph-side :func:`integer_labels`: ``labels`` unchanged (same dtype and shape), behind
    run-time assertions that they are whole numbers in ``[0, num_classes)``.

    Floating labels must be finite and whole; all labels must be >= 0 and, when ``num_classes``
    is given, < ``num_classes``. A failure raises ``tf.errors.InvalidArgumentError`` on
    TensorFlow tensors (a ``ValueError`` under JAX) naming the rule and the offending range.
    TensorFlow's XLA (``jit_compile=True``) drops assertion ops.

    Args:
        labels: a tensor of class indices, any shape (``[B]`` or ``[B, 1]`` usually).
        num_classes: the number of classes C, or None to check only the lower bound.

    Returns:
        the same tensor, with the checks attached.

    Raises:
        ValueError: at trace time, for a non-numeric dtype or a bad ``num_classes``.

    Example:
        >>> y = assert_labels(np.array([0, 3, 9], "int32"), num_classes=10)
        >>> keras.ops.convert_to_numpy(y)
        array([0, 3, 9], dtype=int32)
    """
    ops = _ops_for(labels)
    labels = ops.convert(labels)
    dtype = ops.dtype(labels)
    floating = np.issubdtype(dtype, np.floating)
    if not (floating or np.issubdtype(dtype, np.integer)):
        raise ValueError(f"labels must be integer class indices, got dtype {dtype.name}.")
    if num_classes is not None:
        num_classes = positive_int("num_classes", num_classes)
    low, high = ops.min(labels), ops.max(labels)
    conditions = []
    if floating:
        conditions.append((ops.all(ops.isfinite(labels)), ["labels contain NaN or infinite values."]))
        conditions.append(
            (ops.all(ops.floor(labels) == labels), ["labels must be whole numbers (class indices), got fractions."])
        )
    if not np.issubdtype(dtype, np.unsignedinteger):
        conditions.append((low >= 0, ["labels must be >= 0; smallest label:", low]))
    if num_classes is not None and (floating or num_classes <= np.iinfo(dtype).max):
        conditions.append(
            (high < num_classes, [f"labels must be < {num_classes} (the number of classes); largest label:", high])
        )
    return ops.checked(labels, conditions)


def assert_probabilities(probs, atol=1e-3):
    """Graph-side check of probability vectors ``[..., C]``: finite, >= 0, rows summing to 1
    (within ``atol``). Returns ``probs`` unchanged behind run-time assertions (dropped under
    TensorFlow's XLA).

    Example:
        >>> p = assert_probabilities(np.array([[0.25, 0.75]], "float32"))
        >>> keras.ops.convert_to_numpy(p)
        array([[0.25, 0.75]], dtype=float32)

    Args:
        probs: a floating-point tensor ``[..., C]``.
        atol: tolerance on the row sums.

    Returns:
        ``probs`` (a tensor) with the assertions attached.

    Raises:
        ValueError: a non-floating dtype (eagerly); ``tf.errors.InvalidArgumentError`` (a
            ``ValueError`` under JAX) when an assertion fails at run time.
    """
    ops = _ops_for(probs)
    probs = ops.convert(probs)
    dtype = ops.dtype(probs)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"probability vectors must be floating point, got dtype {dtype.name}.")
    sums = ops.sum(probs, axis=-1)
    conditions = [
        (ops.all(ops.isfinite(probs)), ["probability vectors contain NaN or infinite values."]),
        (ops.all(probs >= 0), ["probability vectors have negative entries; smallest:", ops.min(probs)]),
        (
            ops.all(abs(sums - 1) <= atol),
            ["probability vectors must sum to 1 (pass probabilities, not logits or counts); sums range", ops.min(sums), ops.max(sums)],
        ),
    ]
    return ops.checked(probs, conditions)


def assert_sample_weights(weights):
    """Graph-side :func:`sample_weights`: ``weights`` unchanged behind run-time assertions
    that they are finite and >= 0 (dropped under TensorFlow's XLA).

    Args:
        weights: a floating-point tensor of per-example weights, any shape.

    Returns:
        the same tensor, with the checks attached.

    Raises:
        ``tf.errors.InvalidArgumentError`` (a ``ValueError`` under JAX) when an assertion fails
        at run time.

    Example:
        >>> w = assert_sample_weights(np.array([1.0, 0.5], "float32"))
        >>> keras.ops.convert_to_numpy(w)
        array([1. , 0.5], dtype=float32)
    """
    ops = _ops_for(weights)
    weights = ops.convert(weights)
    conditions = [
        (ops.all(ops.isfinite(weights)), ["sample weights contain NaN or infinite values; pass finite weights >= 0."]),
        (
            ops.all(weights >= 0),
            ["sample weights must be >= 0 (a negative weight maximises the loss); smallest:", ops.min(weights)],
        ),
    ]
    return ops.checked(weights, conditions)
