"""Shared by the kernel, ensemble and information tests: small inputs and a small regression problem."""

import numpy as np
import pytest


@pytest.fixture
def inputs():
    return np.random.default_rng(0).normal(size=(5, 8))


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    return rng.normal(size=(6, 4)), rng.normal(size=(6, 2)), rng.normal(size=(3, 4))
