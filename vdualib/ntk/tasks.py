"""The data of the NTK information study, as kernel inputs: the 12-bit task and an MNIST subset.

* ``"12bit"``: the 4,096 patterns of the 12-bit task mapped to +-1; a seeded
  permutation gives ``num_test`` test patterns and, after them, the training pool.
* ``"mnist"``: the first ``max_train`` of a seeded permutation of MNIST's training
  images and ``num_test`` of its test images, each image standardised to mean 0
  and variance 1 (:func:`~vdualib.ntk.kernels.standardize_inputs`).

Training sets of several sizes are the prefixes of the pool, so they are nested.

Example:
    >>> task = load_task("12bit", num_test=1024, max_train=2048, seed=0)
    >>> task.x_train.shape, task.x_test.shape
    ((2048, 12), (1024, 12))
"""

from typing import NamedTuple

import numpy as np

from vdualib import checks, datasets
from vdualib.ntk.kernels import standardize_inputs

__all__ = ["TASKS", "Task", "load_task", "task_from_arrays"]

TASKS = ("12bit", "mnist")


class Task(NamedTuple):
    """Float inputs ``[N, d]`` and int labels ``[N]`` of the training pool and the test set, and
    a sentence saying where they come from (``split``).

    Attributes:
        x_train: float training inputs ``[N, d]``.
        y_train: integer training labels ``[N]``.
        x_test: float test inputs ``[M, d]``.
        y_test: integer test labels ``[M]``.
        split: where the rows come from.

    Example:
        >>> task = load_task("12bit", num_test=1000, max_train=2048, seed=0)
        >>> task.x_train.shape, task.x_test.shape
        ((2048, 12), (1000, 12))
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: str


def task_from_arrays(x, y, num_test, max_train, seed, split="seeded split of one set"):
    """A :class:`Task` from one set ``(x, y)``: ``num_test`` test rows first, then ``max_train``
    training rows, from a seeded permutation (no row is in both).

    Args:
        x: inputs ``[N, ...]`` (flattened to ``[N, d]``), finite.
        y: integer labels ``[N]``.
        num_test: test rows M, a positive integer.
        max_train: training rows, a positive integer; ``num_test + max_train <= N``.
        seed: seed of the permutation.
        split: the sentence stored in ``Task.split``.

    Returns:
        A :class:`Task`.

    Raises:
        ValueError: non-finite inputs, bad labels, mismatched lengths or too few rows.

    Example:
        >>> task_from_arrays(np.eye(10), np.arange(10) % 2, num_test=4, max_train=6, seed=0).x_train.shape
        (6, 10)
    """
    x = checks.sample_matrix("x", x)
    y = checks.integer_labels("y", y)
    num_test = checks.positive_int("num_test", num_test)
    max_train = checks.positive_int("max_train", max_train)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of rows; got {x.shape[0]} and {y.shape[0]}.")
    if num_test + max_train > x.shape[0]:
        raise ValueError(f"the set has {x.shape[0]} rows; num_test + the largest training size must not exceed it.")
    order = np.random.default_rng(seed).permutation(x.shape[0])
    test, train = order[:num_test], order[num_test : num_test + max_train]
    return Task(x[train], y[train], x[test], y[test], split)


def load_task(name, num_test, max_train, seed, data_dir=None):
    """Load a task of :data:`TASKS` (see the module docstring).

    Args:
        name: ``"12bit"`` or ``"mnist"``.
        num_test: test points.
        max_train: the largest training-set size (the pool).
        seed: seed of the permutations.
        data_dir: data folder (default ``$VDUALIB_DATA_DIR``).

    Returns:
        a :class:`Task`.

    Raises:
        ValueError: an unknown task or sizes larger than the data.
        FileNotFoundError: the data files are missing.

    Example:
        >>> task = load_task("mnist", num_test=500, max_train=1000, seed=0)
        >>> task.split, task.x_train.shape
        ('MNIST train (subsets) / MNIST test (subset)', (1000, 784))
    """
    if name not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {name!r}.")
    if name == "12bit":
        x, y = datasets.load_ib_12bit(data_dir)
        return task_from_arrays(2.0 * x.astype(np.float64) - 1.0, y, num_test, max_train, seed,
                                split="all 4096 patterns, seeded split")
    num_test = checks.positive_int("num_test", num_test)
    max_train = checks.positive_int("max_train", max_train)
    (x_train, y_train), (x_test, y_test) = datasets.load("mnist", data_dir)
    if max_train > x_train.shape[0] or num_test > x_test.shape[0]:
        raise ValueError(f"MNIST has {x_train.shape[0]} training and {x_test.shape[0]} test images; ask for fewer.")
    rng = np.random.default_rng(seed)
    train = rng.permutation(x_train.shape[0])[:max_train]
    test = rng.permutation(x_test.shape[0])[:num_test]
    return Task(standardize_inputs(x_train[train]), y_train[train].astype(int), standardize_inputs(x_test[test]),
                y_test[test].astype(int), "MNIST train (subsets) / MNIST test (subset)")
