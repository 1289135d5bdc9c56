"""The NTK study's tasks: disjoint splits, the 12-bit task as +-1 inputs."""

import numpy as np
import pytest

from vdualib.ntk.tasks import load_task, task_from_arrays


@pytest.fixture(scope="module")
def small_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    return task_from_arrays(x, y, num_test=12, max_train=20, seed=1)


def test_task_from_arrays_splits_disjointly(small_task):
    assert small_task.x_train.shape == (20, 5) and small_task.x_test.shape == (12, 5)
    rows = {tuple(r) for r in small_task.x_train} | {tuple(r) for r in small_task.x_test}
    assert len(rows) == 32
    with pytest.raises(ValueError, match="must not exceed"):
        task_from_arrays(np.zeros((10, 2)), np.zeros(10, int), num_test=5, max_train=6, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        task_from_arrays(np.full((10, 2), np.nan), np.zeros(10, int), 2, 2, 0)


def test_load_task_12bit(data_dir):
    from vdualib.datasets import load_ib_12bit

    task = load_task("12bit", num_test=100, max_train=300, seed=0, data_dir=data_dir)
    assert set(np.unique(task.x_train)) == {-1.0, 1.0} and task.x_test.shape == (100, 12)
    x, y = load_ib_12bit(data_dir)
    index = {tuple(2.0 * row - 1.0): label for row, label in zip(x.astype(float), y)}
    assert all(index[tuple(row)] == label for row, label in zip(task.x_train, task.y_train))
    with pytest.raises(ValueError, match="task must be"):
        load_task("cifar", 10, 10, 0)
