"""Shared by the callback and plot tests: a tiny network trained with two InformationPlane callbacks."""

import numpy as np
import pytest

from vdualib.information.binning import BinningEstimator
from vdualib.information.kde import KDEEstimator


@pytest.fixture(scope="module")
def tiny_run():
    import keras

    from vdualib.information import InformationPlane

    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="h"),
                              keras.layers.Dense(2, activation="softmax", name="out")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    plane = InformationPlane(x, y, estimator=BinningEstimator(8, (-1, 1)), epochs=[0, 1, 3],
                             gradient_stats=True, gradient_batch_size=16, batch_size=20)
    kde = InformationPlane(x, y, layers=["h"], estimator=KDEEstimator(0.05), epochs=[3])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[plane, kde])
    return model, x, y, plane, kde
