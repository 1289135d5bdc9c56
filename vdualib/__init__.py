"""vdualib: the variational and dual Information Bottleneck for Keras 3.

Light to import: the TensorFlow-backed parts (``build_classifier``, ``layers``,
``losses``, ``models``) load on first use, so the numpy-only tools
(``vdualib.ib``, ``vdualib.information`` estimators, ``vdualib.ntk``,
``vdualib.metrics``) do not pay for a TensorFlow import.
"""

import importlib

__version__ = "0.2.0"

_LAZY_ATTRIBUTES = {"build_classifier": "vdualib.models"}
_SUBMODULES = (
    "calibration",
    "callbacks",
    "checks",
    "comparison",
    "corruptions",
    "datasets",
    "distribute",
    "dualib_study",
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
    "reports",
    "sweep",
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
