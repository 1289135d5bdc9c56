"""Mutual-information estimators and the information-plane callback.

Estimators (numpy/scipy; bits unless ``units="nats"``):

* ``binned_information(activations, labels, num_bins=30, value_range=None)``
  -> ``(I(X;T), I(T;Y))`` of a deterministic layer by equal-width binning
  over the layer's observed range, or a fixed ``(low, high)`` that must cover
  the data (:mod:`~vdualib.information.binning`; values are never clipped).
  Bounded by log2 N; measures the binning resolution as much as information;
  I(T;Y) biased upward when symbols are sparse.
* ``kde_information(activations, labels, noise_variance)`` -> dict of the
  Kolchinsky-Tracey pairwise-distance bounds for T + N(0, sigma^2 I)
  (:mod:`~vdualib.information.kde`); exact at the extremes, loose in between.
* ``ksg_mi(x, y, k=3)`` -> KSG k-nearest-neighbour I(X;Y) for continuous
  multivariate X, Y (:mod:`~vdualib.information.ksg`); good in low dimension,
  underestimates large I and high-dimensional variables.
* ``infonce_bounds(log_density)`` -> InfoNCE lower / leave-one-out upper bound
  on I(X;Z) of a stochastic encoder from ``log e(z_i|x_j)``
  (:mod:`~vdualib.information.variational`); the lower bound saturates at log N.

``InformationPlane`` (:mod:`~vdualib.information.callback`) is a Keras 3
callback recording I(X;T), I(T;Y) and gradient signal-to-noise per layer; the
rows are a table (:mod:`~vdualib.information.table`) plotted by
:mod:`~vdualib.information.plots`. Error of every estimator against ground
truth: ``scripts/results/information/estimator_error.md``.

Experiments built on them, one module each: ``network`` (the 12-bit network and
its segmented training loop), ``twelve_bit`` (the 12-bit information-plane
experiment), ``stochastic_layer`` (I(X;Z) of VIB / VdualIB encoders by every
estimator), ``ground_truth`` and ``estimator_error`` (the estimators against
known information).

Example:
    >>> import numpy as np
    >>> from vdualib.information import binned_information, ksg_mi
    >>> binned_information(np.linspace(0, 50, 100)[:, None], np.arange(100) % 2, num_bins=1000)[0]     # log2(100) bits
    6.6439

Importing this package does not import TensorFlow: only ``infonce_bounds`` is
imported eagerly, the other names load their module on first access.
"""

import importlib

from vdualib.information.variational import infonce_bounds

_LAZY = {
    "binned_information": "vdualib.information.binning",
    "BinningEstimator": "vdualib.information.binning",
    "kde_information": "vdualib.information.kde",
    "KDEEstimator": "vdualib.information.kde",
    "ksg_mi": "vdualib.information.ksg",
    "InformationPlane": "vdualib.information.callback",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vdualib.information' has no attribute {name!r}")


__all__ = [
    "binned_information",
    "kde_information",
    "ksg_mi",
    "InformationPlane",
    "infonce_bounds",
    "BinningEstimator",
    "KDEEstimator",
]
