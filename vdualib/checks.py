"""Input checks shared by the public API: one place for the rules, one wording for the errors.

Every public function and class validates its arguments here, at the boundary, and raises a
``ValueError`` that names the argument, shows the value and says what to pass instead. NaN and
infinity are bad input everywhere: ``x < 0`` is False for NaN, so these checks test what a value
*is* (finite, in range) instead of what it is not. Internal helpers trust their callers.

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

import numpy as np

__all__ = [
    "finite_float",
    "positive_int",
    "non_negative_int",
    "probability_vector",
    "stochastic_matrix",
    "integer_labels",
    "finite_array",
]


def finite_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a Python float, refusing NaN, infinity, non-numbers and values out of range.

    Args:
        name: the argument's name, for the message.
        value: a real number (bools are refused).
        low, high: optional bounds; ``low_open`` / ``high_open`` make them strict.

    Returns:
        ``float(value)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}.")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}.")
    return value


def _integer(name, value, low, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be {what}, got {value!r}.")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be {what}, got {value}.")
    return value


def positive_int(name, value):
    """``value`` as an int >= 1 (whole floats such as ``3.0`` are accepted; bools are not)."""
    return _integer(name, value, 1, "a positive integer")


def non_negative_int(name, value):
    """``value`` as an int >= 0."""
    return _integer(name, value, 0, "an integer >= 0")


def finite_array(name, values, dtype=np.float64):
    """``values`` as a numpy array of ``dtype``, refusing NaN and infinity."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers: {err}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or drop them.")
    return array


def probability_vector(name, values, size=None, atol=1e-6):
    """A probability vector: finite, non-negative, summing to 1 (within ``atol``), of ``size``.

    Returns:
        float64 array ``[size]``.
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
    negative values and values >= ``num_classes`` are refused.
    """
    array = np.asarray(labels)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be integer class labels, got dtype {array.dtype}.")
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
