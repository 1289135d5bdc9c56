"""Error of the mutual-information estimators against ground truth (bits).

Each :class:`ErrorCase` names an estimator, the quantity it estimates, a
distribution with known information (:mod:`vdualib.information.ground_truth`)
and a function ``run(n, seed) -> {label: estimate}`` that samples n points and
estimates. :func:`estimator_error` runs every case at every sample size over
several seeds and reports bias, RMSE and spread; :func:`default_cases` are the
cases of the README's table:

* KSG on correlated Gaussians (1+1-D, 4+4-D) and on independent Gaussians;
* binning I(T;Y) for a binary Gaussian mixture T | Y ~ N(+-e_1, I_d), d = 1 and 4;
* the KDE pairwise bounds on I(X; T+Z) (X uniform over N points ~ N(0, I_2); the
  truth is a Monte Carlo value per sample) and on I(T+Z; Y) for the mixture;
* the InfoNCE / leave-one-out bounds for the Gaussian channel, below and above log N.

Example:
    >>> rows = estimator_error(default_cases(), sizes=[256], repeats=2)
    >>> print(error_markdown(rows, repeats=2).splitlines()[2])     # and one row per estimate
    | estimator | quantity | distribution | n | truth | mean_estimate | bias | rmse | std | seconds |
    >>> rows[0]["estimator"], rows[0]["n"], round(float(rows[0]["truth"]), 4)
    ('KSG (k=3)', 256, 1.198)
"""

import math
import statistics
import time
from typing import Callable, NamedTuple, Optional

import numpy as np
from tqdm import tqdm

from vdualib import checks
from vdualib.information.binning import binned_information
from vdualib.information.ground_truth import (
    gaussian_channel_information,
    gaussian_information,
    gaussian_mixture_label_information,
    mixture_index_information,
)
from vdualib.information.kde import kde_information
from vdualib.information.ksg import ksg_mi
from vdualib.information.variational import gaussian_encoder_bounds
from vdualib.reports import markdown_table

__all__ = ["ErrorCase", "default_cases", "estimator_error", "error_markdown", "ERROR_COLUMNS"]

ERROR_COLUMNS = ("estimator", "quantity", "distribution", "n", "truth", "mean_estimate", "bias", "rmse", "std", "seconds")


class ErrorCase(NamedTuple):
    """One row group of the error table.

    ``run(n, seed)`` returns ``{label: estimate}`` (label ``"estimate"`` for a
    single value, e.g. ``"lower"`` / ``"upper"`` for bounds) and, where the truth
    depends on the sample, ``"truth"`` and ``"truth_se"``; otherwise ``truth`` is fixed.

    Attributes:
        estimator: the estimator's name in the table.
        quantity: the information quantity estimated, e.g. ``"I(X;Y)"``.
        distribution: a description of the sampled distribution.
        truth: the true value in bits, or ``None`` when ``run`` returns a per-sample truth.
        run: ``run(n, seed) -> dict`` as above (bits).

    Example:
        >>> case = ErrorCase("KSG", "I(X;Y)", "independent", 0.0,
        ...                  lambda n, s: {"estimate": ksg_mi(*np.random.default_rng(s).normal(size=(2, n, 1)))})
        >>> [row] = estimator_error([case], sizes=[500], repeats=2)
        >>> row["truth"], bool(abs(row["bias"]) < 0.1)
        (0.0, True)
    """

    estimator: str
    quantity: str
    distribution: str
    truth: Optional[float]
    run: Callable


def _correlated(n, dim, rho, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, dim))


def _mixture(n, dim, mu, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    t = rng.standard_normal((n, dim))
    t[:, 0] += np.where(labels == 1, mu, -mu)
    return t, labels


def _channel(n, dim, variance, seed):
    mean = np.random.default_rng(seed).standard_normal((n, dim))
    return dict(zip(("lower", "upper"), gaussian_encoder_bounds(mean, np.full_like(mean, math.sqrt(variance)), seed=seed + 1)))


def _kde_index(n, seed, noise_variance, draws):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, 2))
    estimate = kde_information(points, rng.integers(0, 2, n), noise_variance)
    truth, error = mixture_index_information(points, noise_variance, draws, seed + 7)
    return {"upper": estimate["ixt_upper"], "lower": estimate["ixt_lower"], "truth": truth, "truth_se": error}


def _kde_label(n, seed, noise_variance):
    bounds = kde_information(*_mixture(n, 2, 1.0, seed), noise_variance)
    return {"upper": bounds["ity_upper"], "lower": bounds["ity_lower"]}


def _correlated_truth(dim, rho):
    covariance = np.block([[np.eye(dim), rho * np.eye(dim)], [rho * np.eye(dim), np.eye(dim)]])
    return gaussian_information(covariance, dim)


def default_cases(noise_variance=0.1, truth_draws=4):
    """The cases of the README's error table; ``noise_variance`` is the KDE's s^2 and
    ``truth_draws`` the Monte Carlo draws per point of the KDE I(X; T+Z) truth.

    Args:
        noise_variance: s^2 > 0 of the KDE's added noise.
        truth_draws: noise draws per point of the Monte Carlo truth, a positive integer.

    Returns:
        A list of :class:`ErrorCase` (KSG, binning, KDE and InfoNCE cases; bits).

    Raises:
        ValueError: a non-positive ``noise_variance`` or ``truth_draws``.

    Example:
        >>> [case.estimator for case in default_cases()][:2]
        ['KSG (k=3)', 'KSG (k=3)']
    """
    s2 = checks.finite_float("noise_variance", noise_variance, low=0.0, low_open=True)
    draws = checks.positive_int("truth_draws", truth_draws)
    ksg, binning = "KSG (k=3)", "binning (30 bins, observed range)"
    kde, variational = "KDE pairwise bounds", "InfoNCE / leave-one-out"
    mixture_truth = gaussian_mixture_label_information(1.0, 1.0)
    return [
        ErrorCase(ksg, "I(X;Y)", "Gaussian 1+1-D, rho=0.9", _correlated_truth(1, 0.9),
                  lambda n, s: {"estimate": ksg_mi(*_correlated(n, 1, 0.9, s))}),
        ErrorCase(ksg, "I(X;Y)", "Gaussian 4+4-D, rho=0.6 per pair", _correlated_truth(4, 0.6),
                  lambda n, s: {"estimate": ksg_mi(*_correlated(n, 4, 0.6, s))}),
        ErrorCase(ksg, "I(X;Y)", "independent Gaussians 4+4-D", 0.0,
                  lambda n, s: {"estimate": ksg_mi(*_correlated(n, 4, 0.0, s))}),
        ErrorCase(binning, "I(T;Y)", "T|Y ~ N(+-e1, I_1)", mixture_truth,
                  lambda n, s: {"estimate": binned_information(*_mixture(n, 1, 1.0, s), value_range=None)[1]}),
        ErrorCase(binning, "I(T;Y)", "T|Y ~ N(+-e1, I_4)", mixture_truth,
                  lambda n, s: {"estimate": binned_information(*_mixture(n, 4, 1.0, s), value_range=None)[1]}),
        ErrorCase(kde, "I(X;T+Z)", f"X uniform on N points ~ N(0, I_2), s^2={s2:g}", None,
                  lambda n, s: _kde_index(n, s, s2, draws)),
        ErrorCase(kde, "I(T+Z;Y)", f"T|Y ~ N(+-e1, I_2), s^2={s2:g}", gaussian_mixture_label_information(1.0, 1.0 + s2),
                  lambda n, s: _kde_label(n, s, s2)),
        ErrorCase(variational, "I(X;Z)", "Z = X + N(0, 0.25 I_2)", gaussian_channel_information(2, 0.25),
                  lambda n, s: _channel(n, 2, 0.25, s)),
        ErrorCase(variational, "I(X;Z)", "Z = X + N(0, 0.01 I_4) (I > log N)", gaussian_channel_information(4, 0.01),
                  lambda n, s: _channel(n, 4, 0.01, s)),
    ]


def estimator_error(cases, sizes, repeats, progress=False):
    """Bias, RMSE and spread of each case's estimates over ``repeats`` seeds at each size.

    Args:
        cases: :class:`ErrorCase` list (e.g. :func:`default_cases`).
        sizes: sample sizes n.
        repeats: seeds 0 .. repeats - 1 per (case, n).
        progress: show a progress bar.

    Returns:
        one row per (case, n, label): ``estimator`` (``"name: label"`` for bounds),
        ``quantity``, ``distribution``, ``n``, ``truth`` (mean over seeds), ``truth_se``,
        ``mean_estimate``, ``bias`` = mean(estimate - truth), ``rmse``, ``std`` (bits) and
        ``seconds`` (wall time per seed).

    Raises:
        ValueError: a non-positive size or ``repeats``.

    Example:
        >>> rows = estimator_error(default_cases()[:1], sizes=[256, 512], repeats=2)
        >>> [(row["estimator"], row["n"]) for row in rows]
        [('KSG (k=3)', 256), ('KSG (k=3)', 512)]
        >>> sorted(rows[0])
        ['bias', 'distribution', 'estimator', 'mean_estimate', 'n', 'quantity', 'rmse', 'seconds', 'std', 'truth', 'truth_se']
    """
    sizes = [checks.positive_int("sizes", n) for n in sizes]
    repeats = checks.positive_int("repeats", repeats)
    rows = []
    for case in tqdm(cases, desc="estimator error", disable=not progress):
        for n in sizes:
            start = time.perf_counter()
            results = [case.run(n, seed) for seed in range(repeats)]
            seconds = (time.perf_counter() - start) / repeats
            for label in [k for k in results[0] if k not in ("truth", "truth_se")]:
                estimates = [r[label] for r in results]
                truths = [r.get("truth", case.truth) for r in results]  # per-sample truth where it depends on the sample
                errors = [e - t for e, t in zip(estimates, truths)]
                rows.append({
                    "estimator": case.estimator if label == "estimate" else f"{case.estimator}: {label}",
                    "quantity": case.quantity, "distribution": case.distribution, "n": n,
                    "truth": statistics.mean(truths),
                    "truth_se": max(r.get("truth_se", 0.0) for r in results),
                    "mean_estimate": statistics.mean(estimates),
                    "bias": statistics.mean(errors),
                    "rmse": math.sqrt(statistics.mean(e * e for e in errors)),
                    "std": statistics.stdev(estimates) if len(estimates) > 1 else 0.0,
                    "seconds": seconds,
                })
    return rows


def error_markdown(rows, repeats):
    """The error table as Markdown, with a header line saying how to read it.

    Args:
        rows: the rows of :func:`estimator_error`.
        repeats: the seeds per row (stated in the header).

    Returns:
        Markdown text (bits).

    Example:
        >>> text = error_markdown(estimator_error(default_cases()[:1], [256], 3), repeats=3)
        >>> print(text.splitlines()[0][:60])
        Estimator error against ground truth (bits; 3 seeds per row;
        >>> print(text.splitlines()[2])
        | estimator | quantity | distribution | n | truth | mean_estimate | bias | rmse | std | seconds |
    """
    text = (f"Estimator error against ground truth (bits; {repeats} seeds per row; "
            "bias = mean(estimate - truth); for the KDE I(X;T+Z) rows the truth is a Monte Carlo value "
            f"per sample, standard error <= {max(r['truth_se'] for r in rows):.3f} bits).\n\n")
    return text + markdown_table(rows, ERROR_COLUMNS, digits=3)
