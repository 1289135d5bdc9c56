"""Sweeps of the variational models: one short run per (method, value of a recipe field).

Each run trains a recipe with one field overridden and reports, on the test split, the rate
(upper bound on I(X;Z)) and izy (lower bound on I(Z;Y)) in bits, accuracy, NLL (nats) and the
15-bin ECE. Two fields are swept:

* ``beta`` (the VIB convention: beta weighs the rate), :func:`beta_sweep`;
* ``label_smoothing``, the epsilon of p~(y|x) = (1 - eps) one-hot + eps / C. For VdualIB it sets
  the confidence of the decoder: minimising E_y[KL(q || p~_y)] gives the normalised geometric
  mean q(c) ∝ exp(E_y[log p~_y(c)]), so two classes with probabilities p and p' get the odds
  exp((p - p') L) with L = log((1 - eps + eps/C) / (eps/C)) (L = 6.9 nats at eps = 0.01, C = 10):
  on ambiguous inputs a small eps makes VdualIB more confident than the data. The VIB's
  cross-entropy gives the arithmetic mean E_y[p~_y] instead. On inputs it fits, both methods'
  confidence is capped near 1 - eps + eps/C, so a large eps makes both underconfident.

:func:`plot_sweep` draws both families on the information plane and accuracy/ECE against the
swept value.
"""

import math
import os

import numpy as np
from tqdm.auto import tqdm

from vdualib import checks, datasets, methods, metrics, plotting, recipes, reports, training, zoo

__all__ = ["SWEEPS", "recipe_sweep", "beta_sweep", "sweep_figure", "plot_sweep"]

_LN2 = math.log(2.0)

#: sweepable field -> (axis label, log-scaled axis, extra recipe overrides every run needs)
SWEEPS = {
    "beta": ("beta (weight of the rate)", True, ()),
    "label_smoothing": ("label smoothing epsilon of p~(y|x)", True, ("label_noise=smoothing",)),
}


def _check_values(parameter, values):
    if parameter not in SWEEPS:
        raise ValueError(f"Unknown sweep {parameter!r}; choose one of {sorted(SWEEPS)}.")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{parameter} values must be a non-empty list of numbers >= 0; got {values!r}.")
    values = [checks.finite_float(f"each {parameter} value", v, low=0.0) for v in values]
    if not values:
        raise ValueError(f"{parameter} values must be a non-empty list of numbers >= 0; got {values}.")
    if parameter == "label_smoothing" and (min(values) <= 0 or max(values) >= 1):
        raise ValueError(f"label_smoothing values must lie in (0, 1) (VdualIB's KL to a one-hot is infinite); got {values}.")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{parameter} values {repeated} are repeated; each value is one run, so list it once.")
    return values


def _stochastic_methods():
    return tuple(name for name in methods.names() if methods.get(name).stochastic)


def recipe_sweep(parameter, values, method_names=None, base="mnist-{method}-mlp", overrides=(), out_dir="runs/sweep", data_dir=None, progress=True):
    """Train and measure one run per (method, value of ``parameter``); a list of dicts, one a run.

    Args:
        parameter: a key of :data:`SWEEPS`.
        values: the values of ``parameter``.
        method_names: methods of :mod:`vdualib.methods` (default: the stochastic ones, which
            have a rate).
        base: the recipe name, with ``{method}`` in it.
        overrides: further recipe overrides ``"key=value"``.
        out_dir: folder of the runs, one ``{method}-{parameter}{value!r}`` each (``vib-beta0.001``).
        data_dir: folder with the data files.
        progress: show a progress bar.

    Returns:
        A list of dicts with ``method``, ``parameter``, the swept value under its own name, the
        rate and izy in bits, accuracy, NLL (nats), 15-bin ECE, mean confidence and the recipe.
        Runs already finished in ``out_dir`` are reused (their ``train.json`` exists);
        interrupted ones resume from their checkpoint.

    Raises:
        ValueError: an unknown parameter or method, values that are not finite numbers in the
            parameter's range or are repeated, a bad override, or an ``out_dir`` run folder
            holding a finished run of another recipe.

    Example:
        >>> records = recipe_sweep("beta", [1e-4, 1e-3, 1e-2], overrides=["epochs=2"])
        >>> plot_sweep(records, "runs/sweep/beta.png")
    """

    values = _check_values(parameter, values)
    method_names = _stochastic_methods() if method_names is None else [methods.get(m).name for m in method_names]
    # every recipe before any training, so a bad override fails at once
    runs = [
        (method, value, recipes.get_recipe(base.format(method=method), [*SWEEPS[parameter][2], *overrides, f"{parameter}={value!r}"]))
        for method in method_names
        for value in values
    ]
    records = []
    for method, value, recipe in tqdm(runs, desc=f"{parameter} sweep", disable=not progress):
        run_dir = os.path.join(out_dir, f"{method}-{parameter}{value!r}")
        if os.path.exists(os.path.join(run_dir, "train.json")):
            if reports.read_json(os.path.join(run_dir, "train.json")).get("recipe") != recipe:
                raise ValueError(f"{run_dir} holds a run of another recipe; choose another out_dir or delete it.")
        else:
            resume = os.path.exists(os.path.join(run_dir, "checkpoint.json"))
            training.train(recipe, run_dir, resume=resume, data_dir=data_dir, verbose=0)
        model = zoo.load(os.path.join(run_dir, "model.keras"))
        _, (x_test, y_test) = datasets.load(recipe["dataset"], data_dir=data_dir)
        logged = model.evaluate(x_test, y_test, batch_size=1000, verbose=0, return_dict=True)
        probs = model.predict(x_test, batch_size=1000, verbose=0)
        records.append(
            {
                "method": method,
                "parameter": parameter,
                parameter: value,
                "rate_bits": logged["rate"] / _LN2,
                "izy_bits": logged["izy"] / _LN2,
                "accuracy": metrics.accuracy(probs, y_test),
                "nll": metrics.nll(probs, y_test),
                "ece": metrics.expected_calibration_error(probs, y_test, num_bins=15),
                "mean_confidence": float(np.mean(np.max(probs, axis=-1))),
                "recipe": recipe,
            }
        )
    return records


def beta_sweep(betas, **kwargs):
    """:func:`recipe_sweep` over ``beta``; runs go to ``{out_dir}/{method}-beta{beta!r}``.

    Args:
        betas: the rate weights (VIB convention), >= 0.
        **kwargs: the other arguments of :func:`recipe_sweep` (``out_dir`` defaults to
            ``"runs/beta_sweep"``).

    Returns:
        The list of run dicts of :func:`recipe_sweep` (rate and izy in bits, NLL in nats).

    Example:
        >>> beta_sweep([1e-4, 1e-3, 1e-2], method_names=["dualib"], overrides=["epochs=2"])
    """
    kwargs.setdefault("out_dir", "runs/beta_sweep")
    return recipe_sweep("beta", betas, **kwargs)


def sweep_figure(records, parameter="beta"):
    """Information plane (rate against izy, bits) and accuracy/ECE against ``parameter``, per method.

    Args:
        records: the runs of :func:`recipe_sweep` (or its JSON).
        parameter: the swept field, a key of :data:`SWEEPS`.

    Returns:
        A figure with three axes; each method present in ``records`` draws one line (labelled
        with its title, e.g. ``VdualIB``) on each, in order of the swept value.

    Example:
        >>> plotting.save_figure(sweep_figure(reports.read_json("runs/sweep/sweep.json")), "sweep.png")
    """
    axis_label, log_axis, _ = SWEEPS[parameter]
    figure, axes = plotting.pyplot().subplots(1, 3, figsize=(15, 4.2))
    markers = dict(zip(methods.names(), "^os"))
    for name in methods.names():
        rows = sorted((r for r in records if r["method"] == name), key=lambda r: r[parameter])
        if not rows:
            continue
        label, marker = methods.get(name).title, markers[name]
        value = np.array([r[parameter] for r in rows])
        rate = np.array([r["rate_bits"] for r in rows])
        izy = np.array([r["izy_bits"] for r in rows])
        line = axes[0].plot(rate, izy, marker=marker, label=label)[0]
        for v, x, y in zip(value, rate, izy):
            axes[0].annotate(f"{v:.0e}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color=line.get_color())
        axes[1].plot(value, [r["accuracy"] for r in rows], marker=marker, label=label)
        axes[2].plot(value, [r["ece"] for r in rows], marker=marker, label=label)
    axes[0].set_xscale("log")
    axes[0].set(xlabel="rate, upper bound on I(X;Z) [bits]", ylabel="izy, lower bound on I(Z;Y) [bits]", title="information plane (test)")
    axes[1].set(xlabel=axis_label, ylabel="test accuracy", title="accuracy")
    axes[2].set(xlabel=axis_label, ylabel="ECE (15 bins)", title="calibration")
    for ax in axes[1:]:
        ax.set_xscale("log" if log_axis else "linear")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    return figure


def plot_sweep(records, path, parameter="beta"):
    """Save :func:`sweep_figure` to ``path`` (PNG, atomic); returns ``path``.

    Args:
        records: the runs of :func:`recipe_sweep`.
        path: the output PNG.
        parameter: the swept field, a key of :data:`SWEEPS`.

    Returns:
        ``path``.

    Example:
        >>> plot_sweep(beta_sweep([1e-4, 1e-3]), "runs/beta_sweep/beta.png")
    """
    return plotting.save_figure(sweep_figure(records, parameter), path)
