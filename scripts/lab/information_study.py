"""The information-plane study: run its parts, keep one JSON, render the figures and Markdown from it.

Two parts, each optional:

* ``"twelve-bit"``: :func:`~vdualib.information.twelve_bit.twelve_bit_study`
  (tanh and ReLU networks on the 12-bit task, several seeds);
* ``"mnist"``: :func:`~vdualib.information.stochastic_layer.stochastic_layer_study`
  (I(X;Z) of VIB and VdualIB MNIST classifiers by every estimator).

Everything measured goes to ``{output_dir}/information_plane.json`` with
provenance (a part not run keeps its results from an existing JSON), each
12-bit run's full table to ``tables/{activation}_seed{n}.csv``; then
:func:`render` draws ``plane_12bit.png``, ``plane_12bit_kde.png``,
``curves_12bit_{activation}.png``, ``gradients_12bit_{activation}.png``,
``mnist_stochastic_layer.png`` and writes ``information_plane.md`` from the
JSON alone. All information values are in bits.

Example:
    >>> from scripts.lab import information_study as study
    >>> study.run_study("runs/information-plane", parts=["twelve-bit"],
    ...                 twelve_bit=TwelveBitSettings(epochs=100, seeds=1, kde=False))
    >>> study.render("runs/information-plane")        # again, from the JSON only
"""

import dataclasses
import math
import os
import time

from vdualib import datasets
from vdualib.information.plots import (
    plot_estimates,
    plot_gradient_statistics,
    plot_information_curves,
    plot_information_plane,
)
from vdualib.information.stochastic_layer import StochasticLayerSettings, stochastic_layer_study
from vdualib.information.table import table_from_json
from vdualib.information.twelve_bit import TwelveBitSettings, summary_rows, twelve_bit_study
from vdualib.plotting import pyplot, save_figure
from vdualib.reports import markdown_table, provenance, read_json, write_json, write_text

__all__ = ["PARTS", "JSON_NAME", "run_study", "render", "markdown", "MNIST_COLUMNS"]

PARTS = ("twelve-bit", "mnist")
JSON_NAME = "information_plane.json"
# The Markdown columns of the stochastic-layer table, in order.
MNIST_COLUMNS = ("method", "epoch", "accuracy", "infonce_lower", "loo_upper", "rate_upper", "binning_ixt",
                 "kde_ixt_upper", "kde_ixt_lower", "binning_ity", "kde_ity_upper", "izy_lower", "mean_sigma")
# The estimates drawn per stochastic-layer panel, with their line styles.
_MNIST_LINES = (("binning_ixt", "o-"), ("kde_ixt_upper", "s-"), ("kde_ixt_lower", "s--"),
                ("infonce_lower", "^-"), ("loo_upper", "v-"), ("rate_upper", "x:"))


def run_study(output_dir, parts=PARTS, twelve_bit=None, stochastic_layer=None, data_dir=None, progress=True):
    """Run the chosen parts, write the JSON (merged with an existing one) and render it.

    Args:
        output_dir: folder of the JSON, tables, figures and Markdown.
        parts: a subset of :data:`PARTS`.
        twelve_bit: :class:`TwelveBitSettings` (default: the published study's).
        stochastic_layer: :class:`StochasticLayerSettings` (default: the published run's).
        data_dir: data folder (default ``$VDUALIB_DATA_DIR``).
        progress: show progress bars.

    Returns:
        the path of the JSON.

    Raises:
        ValueError: an empty or unknown choice of parts.
        FileNotFoundError: the data files are missing.

    Example:
        >>> run_study("out/information_plane", parts=("twelve-bit",), twelve_bit=TwelveBitSettings(epochs=300, seeds=1))
    """

    unknown = [p for p in parts if p not in PARTS]
    if not parts or unknown:
        raise ValueError(f"parts must be a non-empty choice of {list(PARTS)}; got {list(parts)}.")
    twelve_bit = twelve_bit or TwelveBitSettings()
    stochastic_layer = stochastic_layer or StochasticLayerSettings()
    json_path = os.path.join(output_dir, JSON_NAME)
    data = read_json(json_path) if os.path.exists(json_path) else {}
    if "twelve-bit" in parts:
        x, y = datasets.load_ib_12bit(data_dir)
        start = time.perf_counter()
        data["twelve_bit"] = twelve_bit_study(x, y, twelve_bit, table_dir=os.path.join(output_dir, "tables"),
                                              progress=progress)
        data["twelve_bit_seconds"] = time.perf_counter() - start
        data["twelve_bit_config"] = dataclasses.asdict(twelve_bit)
        data["twelve_bit_provenance"] = provenance(
            data_split=f"ib-12bit.npz: {twelve_bit.train_fraction:.0%} train / rest held out per seed")
    if "mnist" in parts:
        train, test = datasets.load("mnist", data_dir)
        start = time.perf_counter()
        data["mnist"] = stochastic_layer_study(train, test, stochastic_layer, progress=progress)
        data["mnist_seconds"] = time.perf_counter() - start
        data["mnist_config"] = dataclasses.asdict(stochastic_layer)
        data["mnist_provenance"] = provenance(
            data_split=f"MNIST: first {stochastic_layer.train_size} of a seed-0 permutation of train; "
            f"{stochastic_layer.fixed_size} test images as the fixed set")
    write_json(json_path, data)
    render(output_dir)
    return json_path


def markdown(data):
    """The study's Markdown summary (bits) from its JSON: the 12-bit summary table and held-out
    accuracy, and the stochastic-layer table; a part absent from ``data`` is left out.

    Args:
        data: the study's JSON (a dict with ``twelve_bit`` and/or ``mnist``).

    Returns:
        Markdown text.

    Example:
        >>> print(markdown(read_json("out/information_plane/information_plane.json")))
    """
    lines = []
    study = data.get("twelve_bit", {})
    if study:
        lines += ["# Information plane of the 12-bit task (binning, bits)\n",
                  markdown_table(summary_rows(study), digits=3),
                  "\nMean held-out accuracy: "
                  + ", ".join(f"{a} {part['mean_test_accuracy']:.3f}" for a, part in study.items()) + "\n"]
    if "mnist" in data:
        rows = [{"method": m, **r} for m, method_rows in data["mnist"]["methods"].items() for r in method_rows]
        lines += ["\n# MNIST stochastic layer: I(X;Z) by estimator (bits)\n", markdown_table(rows, MNIST_COLUMNS, digits=3)]
    return "\n".join(lines)


def _panels(count, columns, size):
    rows = -(-count // columns)
    return pyplot().subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows),
                             constrained_layout=True, squeeze=False)


def render(output_dir):
    """Draw the figures and write ``information_plane.md`` from ``{output_dir}/information_plane.json``.

    Returns:
        the list of files written.

    Args:
        output_dir: the study folder holding ``information_plane.json``.

    Raises:
        FileNotFoundError: there is no JSON in ``output_dir``.

    Example:
        >>> render("out/information_plane")     # ['.../plane_12bit.png', ..., '.../information_plane.md']
    """
    data = read_json(os.path.join(output_dir, JSON_NAME))
    written = []

    def save(fig, name):
        written.append(save_figure(fig, os.path.join(output_dir, name)))

    study = data.get("twelve_bit", {})
    means = {a: table_from_json(part["mean_binning"]) for a, part in study.items()}
    if study:
        fig, axes = _panels(len(study), len(study), (5.5, 4.2))
        for ax, (activation, part) in zip(axes[0], study.items()):
            plot_information_plane(means[activation], ax=ax,
                                   title=f"12-bit, {activation}, binning, mean of {len(part['runs'])} seeds")
        save(fig, "plane_12bit.png")
    for activation, rows in means.items():
        save(plot_information_curves(rows, title=f"12-bit {activation}: binning, mean +- std over seeds"),
             f"curves_12bit_{activation}.png")
        save(plot_gradient_statistics(rows, title=f"12-bit {activation}: gradient mean / std"),
             f"gradients_12bit_{activation}.png")
    kde_runs = [(a, run) for a, part in study.items() for run in part["kde"]]
    if kde_runs:
        fig, axes = _panels(len(kde_runs), len(kde_runs), (5.5, 4.2))
        for ax, (activation, run) in zip(axes[0], kde_runs):
            plot_information_plane(table_from_json(run["table"]), ax=ax,
                                   title=f"12-bit, {activation}, KDE upper bound, seed {run['seed']}")
        save(fig, "plane_12bit_kde.png")
    if "mnist" in data:
        mnist = data["mnist"]
        size = mnist["config"]["fixed_size"]
        fig, axes = _panels(len(mnist["methods"]), 2, (5.5, 4.0))
        for ax, (method, rows) in zip(axes.ravel(), mnist["methods"].items()):
            plot_estimates(rows, _MNIST_LINES, ax=ax, title=f"MNIST {method}: I(X;Z), {size} test images",
                           reference=(math.log2(size), "log2 N"))
        save(fig, "mnist_stochastic_layer.png")
    written.append(os.path.join(output_dir, "information_plane.md"))
    write_text(written[-1], markdown(data))
    return written
