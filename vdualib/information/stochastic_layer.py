"""I(X;Z) of the stochastic layer of VIB and VdualIB classifiers, by every estimator, during training.

A Gaussian encoder e(z|x) = N(mu(x), diag sigma(x)^2) knows its own density, so
I(X;Z) on a fixed set of N inputs is bracketed by the InfoNCE lower and
leave-one-out upper bounds (:func:`~vdualib.information.variational.gaussian_encoder_bounds`).
Set beside them are what the layer estimators of deterministic layers report when
given the encoder mean mu: binning (observed range) and the KDE bounds with the
encoder's mean variance as the noise, and what the model itself logs: the rate
KL(e(z|x) || r(z)), an upper bound, and its ``izy`` lower bound on I(Z;Y).
All values are in bits. The study trains :mod:`vdualib.models` classifiers, so importing this
module imports TensorFlow; :func:`encoder_information` itself is numpy.

Example:
    >>> mu = np.random.default_rng(0).normal(size=(200, 4))     # mu, sigma [N, K]
    >>> sigma, labels = np.full_like(mu, 0.5), (mu[:, 0] > 0).astype(int)
    >>> values = encoder_information(mu, sigma, labels, seed=0)
    >>> values["infonce_lower"] <= values["loo_upper"]
    True
"""

import dataclasses
import math

import numpy as np
from tqdm import tqdm

from vdualib import checks, models
from vdualib.information.binning import binned_information
from vdualib.information.kde import kde_information
from vdualib.information.variational import gaussian_encoder_bounds

__all__ = ["StochasticLayerSettings", "encoder_information", "stochastic_layer_study", "METHODS"]

METHODS = ("vib", "dualib")


@dataclasses.dataclass(frozen=True)
class StochasticLayerSettings:
    """Settings of the stochastic-layer study (defaults: the published run).

    Args:
        epochs: training epochs; the layer is measured before training and after each.
        train_size: training images (the first of a seed-0 permutation of the training split).
        fixed_size: test images of the fixed measurement set (a seed-0 permutation).
        latent_dim: K, the size of z.
        betas: rate weights; each gives a VIB and a VdualIB run.
        backbone: the zoo backbone of the classifiers.
        batch_size: training mini-batch size.
        num_bins: bins per unit of the binning estimate.

    Raises:
        ValueError: a non-positive size, ``fixed_size < 2``, no betas or a negative beta.

    Example:
        >>> settings = StochasticLayerSettings(epochs=1, train_size=1000, betas=(1e-2,))
        >>> settings.epochs, settings.train_size, settings.fixed_size, settings.betas
        (1, 1000, 1000, (0.01,))
    """

    epochs: int = 4
    train_size: int = 10000
    fixed_size: int = 1000
    latent_dim: int = 32
    betas: tuple = (1e-3, 1e-1)
    backbone: str = "mlp"
    batch_size: int = 100
    num_bins: int = 30

    def __post_init__(self):
        checks.non_negative_int("epochs", self.epochs)
        for name in ("train_size", "latent_dim", "batch_size", "num_bins"):
            checks.positive_int(name, getattr(self, name))
        if checks.positive_int("fixed_size", self.fixed_size) < 2:
            raise ValueError("fixed_size must be at least 2 (the leave-one-out bound needs two inputs).")
        if not self.betas:
            raise ValueError("betas must hold at least one rate weight.")
        object.__setattr__(self, "betas", tuple(checks.finite_float("betas", b, low=0.0) for b in self.betas))


def encoder_information(mean, stddev, labels, seed, num_bins=30):
    """I(X;Z) (and I(Z;Y)) of a Gaussian encoder on N fixed inputs, by each estimator, in bits.

    Args:
        mean, stddev: mu(x_i) and sigma(x_i), [N, K] each (stddev > 0).
        labels: N integer class ids.
        seed: seed of the one z sample per input of the variational bounds.
        num_bins: bins per unit for the binning estimate of mu.

    Returns:
        dict with ``infonce_lower``, ``loo_upper`` (the variational bounds),
        ``binning_ixt``, ``binning_ity`` (binning of mu, observed range),
        ``kde_ixt_upper``, ``kde_ixt_lower``, ``kde_ity_upper`` (KDE of mu with
        noise variance mean(sigma^2)) and ``mean_sigma``.

    Raises:
        ValueError: non-finite or mismatched arrays, N < 2, or labels of the wrong length.

    Example:
        >>> mu, sigma = model.encode(x_test)     # the zoo's mnist-dualib-mlp, 200 test images
        >>> values = encoder_information(mu, sigma, y_test, seed=0)
        >>> bool(values["infonce_lower"] <= np.log2(len(x_test)))     # bits, at most log2 N
        True
        >>> sorted(values)
        ['binning_ity', 'binning_ixt', 'infonce_lower', 'kde_ity_upper', 'kde_ixt_lower', 'kde_ixt_upper', 'loo_upper', 'mean_sigma']
    """
    mean = checks.sample_matrix("mean", mean, min_rows=2)
    stddev = checks.sample_matrix("stddev", stddev, min_rows=2)
    labels = checks.class_labels("labels", labels, size=mean.shape[0])
    lower, upper = gaussian_encoder_bounds(mean, stddev, seed=seed)
    ixt_bin, ity_bin = binned_information(mean, labels, num_bins=num_bins, value_range=None)
    kde = kde_information(mean, labels, noise_variance=float(np.mean(stddev**2)))
    return {
        "infonce_lower": lower, "loo_upper": upper,
        "binning_ixt": ixt_bin, "binning_ity": ity_bin,
        "kde_ixt_upper": kde["ixt_upper"], "kde_ixt_lower": kde["ixt_lower"], "kde_ity_upper": kde["ity_upper"],
        "mean_sigma": float(np.mean(stddev)),
    }


def stochastic_layer_study(train, test, settings=None, progress=True):
    """Train a VIB and a VdualIB classifier per beta and measure I(X;Z) after every epoch.

    Args:
        train, test: ``(x, y)`` pairs (uint8 images, integer labels), e.g. MNIST's splits.
        settings: a :class:`StochasticLayerSettings`.
        progress: show a progress bar.

    Returns:
        ``{"config": {...}, "methods": {"vib, beta=0.001": [row per epoch], ...}}``; a row is
        ``{"epoch", "accuracy", "rate_upper", "izy_lower"}`` (bits, from the model's own
        metrics) plus the :func:`encoder_information` values.

    Raises:
        ValueError: ``train_size`` or ``fixed_size`` larger than the splits.

    Example:
        >>> settings = StochasticLayerSettings(epochs=1, train_size=200, fixed_size=100, betas=(1e-2,))
        >>> study = stochastic_layer_study((x_train, y_train), (x_test, y_test), settings, progress=False)
        >>> list(study["methods"])
        ['vib, beta=0.01', 'dualib, beta=0.01']
        >>> [row["epoch"] for row in study["methods"]["vib, beta=0.01"]]
        [0, 1]
    """
    settings = settings or StochasticLayerSettings()
    (x_train, y_train), (x_test, y_test) = train, test
    if settings.train_size > len(x_train) or settings.fixed_size > len(x_test):
        raise ValueError(f"train_size and fixed_size must not exceed the {len(x_train)} training and "
                         f"{len(x_test)} test examples.")
    rng = np.random.default_rng(0)
    chosen = rng.permutation(len(x_train))[: settings.train_size]
    fixed = rng.permutation(len(x_test))[: settings.fixed_size]
    x_fit, y_fit = x_train[chosen], y_train[chosen]
    x_fixed, labels = x_test[fixed], checks.integer_labels("test labels", y_test[fixed])
    bits = 1.0 / math.log(2.0)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    methods = {}
    jobs = [(beta, method) for beta in settings.betas for method in METHODS]
    for beta, method in tqdm(jobs, desc="stochastic layer", disable=not progress):
        model = models.build_classifier(settings.backbone, num_classes, method=method,
                                         latent_dim=settings.latent_dim, beta=beta, seed=0)
        model.compile(optimizer="adam")
        rows = []
        for epoch in range(settings.epochs + 1):
            if epoch > 0:
                model.fit(x_fit, y_fit, batch_size=settings.batch_size, epochs=1, verbose=0)
            logged = model.evaluate(x_fixed, labels, batch_size=250, verbose=0, return_dict=True)
            mu, sigma = model.encode(x_fixed, batch_size=250)
            rows.append({
                "epoch": epoch, "accuracy": float(logged["accuracy"]),
                "rate_upper": float(logged["rate"]) * bits, "izy_lower": float(logged["izy"]) * bits,
                **encoder_information(mu, sigma, labels, seed=epoch, num_bins=settings.num_bins),
            })
        methods[f"{method}, beta={beta:g}"] = rows
    config = dataclasses.asdict(settings)
    config["kde_noise_variance"] = "mean of sigma^2 over the fixed set"
    return {"config": config, "methods": methods}
