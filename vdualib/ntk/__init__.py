"""Infinite-width networks in closed form: kernels, ensembles, information.

``kernels`` gives the NNGP kernel and the neural tangent kernel of a fully
connected network (neural-tangents' ``stax`` conventions, NTK
parameterisation); ``ensemble`` the Gaussian outputs of the infinite ensemble
trained by gradient descent on the squared loss, at any training time;
``output_information``, ``prior_kl`` and ``information_curve`` bound what
those outputs carry about the inputs, the labels and the training set, in
bits. numpy/scipy only.

Also: ``tasks`` (the 12-bit task and an MNIST subset as kernel inputs) and
``plots`` (information curves over training time and training-set size).

Example:
    >>> import numpy as np
    >>> from vdualib import ntk
    >>> x = np.random.default_rng(0).normal(size=(8, 3))
    >>> k, theta = ntk.kernels(x, depth=2)
    >>> prediction = ntk.ensemble(x, np.arange(8) % 2, t=[1.0, np.inf])
    >>> k.shape, prediction.mean_train.shape
    ((8, 8), (2, 8))
"""

from vdualib.ntk.ensemble import EnsemblePrediction, KernelEnsemble, ensemble
from vdualib.ntk.information import OutputInformation, PriorKL, information_curve, output_information, prior_kl
from vdualib.ntk.kernels import kernels, standardize_inputs

__all__ = [
    "kernels",
    "standardize_inputs",
    "ensemble",
    "KernelEnsemble",
    "EnsemblePrediction",
    "output_information",
    "OutputInformation",
    "prior_kl",
    "PriorKL",
    "information_curve",
]
