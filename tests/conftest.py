"""Shared fixtures: the real data in ``VDUALIB_DATA_DIR`` (``.ci/run`` points it at ../shared/data)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _data_dir():
    env = os.environ.get("VDUALIB_DATA_DIR")
    if env:
        return env
    here = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    return os.path.abspath(here)


if os.path.isdir(_data_dir()):
    # code under test that reads data without a data_dir argument finds it too
    os.environ.setdefault("VDUALIB_DATA_DIR", _data_dir())


@pytest.fixture(scope="session")
def data_dir():
    path = _data_dir()
    if not os.path.isdir(path):
        raise FileNotFoundError(f"test data not found at {path}; set VDUALIB_DATA_DIR to the shared data folder.")
    return path


@pytest.fixture(scope="session")
def mnist(data_dir):
    from vdualib import datasets

    return datasets.load("mnist", data_dir=data_dir, download=False)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """2,000 training and 1,000 test examples of MNIST (uint8)."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:2000], y_train[:2000]), (x_test[:1000], y_test[:1000])


@pytest.fixture
def rng():
    return np.random.default_rng(0)
