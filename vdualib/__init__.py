"""vdualib: the variational and dual Information Bottleneck for Keras 3.

Light to import: submodules load on first use, so the numpy-only tools (:mod:`vdualib.ib`,
:mod:`vdualib.ntk`, the estimators of :mod:`vdualib.information`) do not pay for importing
TensorFlow. The library's serializable classes (layers, priors, losses, label noise, the
classifier, the metric, the callbacks) are registered with Keras as soon as Keras is imported
(:mod:`vdualib.registration`), so after ``import vdualib``, ``keras.saving.load_model`` loads every
model the library saves, with ``safe_mode=True``.

Example:
    >>> import keras, vdualib
    >>> model = vdualib.build_classifier("mlp", 10, method="dualib", beta=1e-3)
    >>> model = keras.saving.load_model(vdualib.zoo.path("mnist-dualib-mlp"))
    >>> type(model).__name__, model.method
    ('IBClassifier', 'dualib')
"""

import importlib

from vdualib import registration

__version__ = "0.2.0"

registration.register_when_keras_loads()

_LAZY_ATTRIBUTES = {"build_classifier": "vdualib.models"}
_SUBMODULES = (
    "calibration",
    "callbacks",
    "checks",
    "cli",
    "corruptions",
    "datasets",
    "distribute",
    "evaluation",
    "ib",
    "information",
    "layers",
    "losses",
    "methods",
    "metrics",
    "models",
    "ntk",
    "plotting",
    "recipes",
    "registration",
    "reports",
    "runs",
    "training",
    "zoo",
)


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        return getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"vdualib.{name}")
    raise AttributeError(f"module 'vdualib' has no attribute {name!r}")


__all__ = ["__version__", "build_classifier", *_SUBMODULES]
