"""vdualib: the variational and dual Information Bottleneck for Keras 3.

``import vdualib`` registers every serializable class of the library with Keras (the layers,
priors, losses, label-noise objects, the classifier, the metric and the callbacks), so
``keras.saving.load_model`` loads any model the library saves, with ``safe_mode=True``.
That imports Keras and its backend; TensorFlow's start-up banners of a machine without a GPU
(oneDNN, CUDA probes) are dropped while it loads (:func:`vdualib.cli.drop_startup_banners`), unless
``TF_CPP_MIN_LOG_LEVEL=0``. The other submodules (``vdualib.ib``, ``vdualib.ntk``,
``vdualib.information``, ``vdualib.zoo``, ...) load on first use.

Example:
    >>> import keras, vdualib
    >>> model = vdualib.build_classifier("mlp", 10, method="dualib", beta=1e-3)
    >>> model = keras.saving.load_model("models/mnist-dualib-mlp.keras")   # an IBClassifier
"""

import importlib

__version__ = "0.2.0"

from vdualib import cli  # noqa: E402

cli.drop_startup_banners()  # TensorFlow's CPU start-up banners, printed while the next line imports it

from vdualib import callbacks, layers, losses, metrics, models  # noqa: E402, F401  (registers the classes with Keras)
from vdualib.models import build_classifier  # noqa: E402

_LAZY_SUBMODULES = (
    "calibration",
    "checks",
    "corruptions",
    "datasets",
    "distribute",
    "evaluation",
    "ib",
    "information",
    "methods",
    "ntk",
    "plotting",
    "recipes",
    "reports",
    "runs",
    "training",
    "zoo",
)


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"vdualib.{name}")
    raise AttributeError(f"module 'vdualib' has no attribute {name!r}")


__all__ = [
    "__version__",
    "build_classifier",
    "cli",
    "callbacks",
    "layers",
    "losses",
    "metrics",
    "models",
    *_LAZY_SUBMODULES,
]
