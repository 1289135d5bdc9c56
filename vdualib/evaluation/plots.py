"""The figures of an evaluation report, drawn from the results dict (``metrics.json``) alone.

Each ``*_figure`` function returns a ``matplotlib`` figure (so its content can be inspected);
:func:`plot_all` saves every figure of a report as PNG through :func:`vdualib.plotting.save_figure`.

Example:
    >>> from vdualib import reports
    >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
    >>> figure = reliability_figure(reports.read_json(metrics))     # a recorded evaluation of the zoo
    >>> plotting.save_figure(figure, "reliability.png")
    'reliability.png'
"""

import glob
import os

import numpy as np

from vdualib import plotting

__all__ = ["reliability_figure", "corruption_figure", "ood_figure", "plot_all"]

_SCORE_UNITS = {"max_probability": "1 - max probability"}


def _curve_arrays(curve):
    """Bin edges, confidence, accuracy (NaN in empty bins) and counts of a reliability curve."""
    as_float = lambda values: np.array([np.nan if v is None else v for v in values], dtype=float)  # noqa: E731
    return (
        np.asarray(curve["bin_edges"], dtype=float),
        as_float(curve["confidence"]),
        as_float(curve["accuracy"]),
        np.asarray(curve["count"], dtype=float),
    )


def reliability_figure(results):
    """Reliability diagram per model.

    Top row: per-bin accuracy bars against confidence (max probability), with the gap to the
    diagonal shaded; bottom row: the share of examples per bin. With several models a last
    column overlays their curves.

    Args:
        results: an evaluation's results dict.

    Returns:
        A ``matplotlib.figure.Figure`` with ``2 x (models + [1 if several])`` axes.

    Example:
        >>> from vdualib import reports
        >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
        >>> plotting.save_figure(reliability_figure(reports.read_json(metrics)), "reliability.png")
        'reliability.png'
    """
    plt = plotting.pyplot()
    models = results["models"]
    columns = len(models) + (len(models) > 1)
    figure, axes = plt.subplots(
        2, columns, figsize=(3.6 * columns, 5.2), squeeze=False, gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    for column, model in enumerate(models):
        edges, confidence, accuracy, count = _curve_arrays(model["reliability"])
        width, filled = np.diff(edges), count > 0
        top = axes[0, column]
        top.bar(edges[:-1][filled], accuracy[filled], width[filled], align="edge", color="tab:blue",
                edgecolor="k", lw=0.5, label="accuracy")  # fmt: skip
        gap_low, gap_high = np.minimum(accuracy, confidence), np.maximum(accuracy, confidence)
        top.bar(edges[:-1][filled], (gap_high - gap_low)[filled], width[filled], bottom=gap_low[filled],
                align="edge", color="tab:red", alpha=0.35, hatch="//", edgecolor="tab:red", lw=0.5,
                label="gap to confidence")  # fmt: skip
        top.set_title(
            f"{model['label']}\nECE {model['clean']['ece']:.3f}, acc {model['clean']['accuracy']:.3f}", fontsize=9
        )
        bottom = axes[1, column]
        bottom.bar(edges[:-1], count / count.sum(), width, align="edge", color="tab:gray", edgecolor="k", lw=0.5)
        bottom.set_ylabel("share of examples" if column == 0 else "")
    if len(models) > 1:
        top, bottom = axes[0, -1], axes[1, -1]
        for model in models:
            edges, confidence, accuracy, count = _curve_arrays(model["reliability"])
            filled = count > 0
            top.plot(confidence[filled], accuracy[filled], marker="o", ms=3, label=model["label"])
            bottom.stairs(count / count.sum(), edges, label=model["label"])
        top.set_title("all models", fontsize=9)
    for top, bottom in zip(axes[0], axes[1]):
        top.plot([0, 1], [0, 1], "k--", lw=1)
        top.set_ylim(0, 1)
        top.legend(loc="upper left", fontsize=7)
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("confidence (max probability)")
    axes[0, 0].set_ylabel("accuracy")
    figure.suptitle(f"Reliability on {results['dataset']} {results['split']}", fontsize=10)
    return figure


def corruption_figure(results, metric):
    """``metric`` against severity (0 = clean) for each corruption and their mean.

    Args:
        results: an evaluation's results dict with corruptions.
        metric: a corruption metric (``"accuracy"``, ``"nll"``, ``"brier"``, ``"ece"``).

    Returns:
        A figure with one panel a corruption (title: its name) plus ``mean``, one line a model.

    Example:
        >>> from vdualib import reports
        >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
        >>> results = reports.read_json(metrics)     # a recorded evaluation of the zoo
        >>> results["corruptions"] = results["corruptions"][:3]     # three of them, and the mean
        >>> plotting.save_figure(corruption_figure(results, "ece"), "corruption_ece.png")
        'corruption_ece.png'
    """
    plt = plotting.pyplot()
    names = list(results["corruptions"]) + ["mean"]
    columns = min(5, len(names))
    rows = int(np.ceil(len(names) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.2 * rows), squeeze=False, sharex=True, sharey=True)
    severities = [0] + list(results["severities"])
    for panel, name in zip(axes.flat, names):
        for model in results["models"]:
            source = model["corruption_summary"] if name == "mean" else model["corruptions"][name]
            values = [model["clean"][metric]] + [source[str(s)][metric] for s in results["severities"]]
            panel.plot(severities, values, marker="o", ms=3, label=model["label"])
        panel.set_title(name.replace("_", " "), fontsize=9)
        panel.grid(alpha=0.3)
    for panel in axes.flat[len(names) :]:
        panel.set_visible(False)
    for panel in axes[-1]:
        panel.set_xlabel("severity")
    for panel in axes[:, 0]:
        panel.set_ylabel(metric)
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(f"{metric} under corruption ({results['dataset']})", fontsize=10)
    figure.tight_layout()
    return figure


def ood_figure(results, ood_name):
    """Histograms of each uncertainty score on in- vs out-of-distribution data.

    Args:
        results: an evaluation's results dict.
        ood_name: one of its ``ood_sets``.

    Returns:
        A figure with one row a model and one column a score; each panel holds the normalised
        histograms of the test split and of ``ood_name``.

    Example:
        >>> from vdualib import reports
        >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
        >>> results = reports.read_json(metrics)     # a recorded evaluation of the zoo
        >>> plotting.save_figure(ood_figure(results, "fashion_mnist"), "ood_fashion_mnist.png")
        'ood_fashion_mnist.png'
    """
    plt = plotting.pyplot()
    models = results["models"]
    scores = list(dict.fromkeys(score for m in models for score in m["ood"][ood_name]))
    figure, axes = plt.subplots(len(models), len(scores), figsize=(3.0 * len(scores), 2.3 * len(models)), squeeze=False)
    for row, model in enumerate(models):
        for column, score in enumerate(scores):
            panel = axes[row, column]
            if score not in model["ood"][ood_name]:
                panel.set_visible(False)
                continue
            values = model["ood"][ood_name][score]
            edges = np.asarray(values["histogram"]["bin_edges"], dtype=float)
            for key, label in (("in", results["dataset"]), ("out", ood_name)):
                counts = np.asarray(values["histogram"][key], dtype=float)
                panel.stairs(counts / counts.sum(), edges, fill=True, alpha=0.45, label=label)
            panel.set_title(f"{model['label']}: {score}\nAUROC {values['auroc']:.3f}", fontsize=8)
            panel.set_xlabel(_SCORE_UNITS.get(score, "nats"), fontsize=8)
            if row == 0 and column == 0:
                panel.legend(fontsize=7)
    figure.tight_layout()
    return figure


#: the file names of the report's figures (see :func:`plot_all`)
_FIGURE_PATTERNS = ("reliability.png", "corruption_accuracy.png", "corruption_ece.png", "ood_*.png")


def plot_all(results, out_dir):
    """Save every figure of the report into ``out_dir`` as PNG, and remove the figures of an
    earlier report there that this one does not draw (``corruption_*.png`` without corruptions,
    ``ood_<set>.png`` of other sets).

    Returns:
        The paths written: ``reliability.png``, ``corruption_{accuracy,ece}.png`` (with
        corruptions) and ``ood_<set>.png`` per OOD set.

    Args:
        results: an evaluation's results dict (``metrics.json``).
        out_dir: the output folder.

    Example:
        >>> from vdualib import reports
        >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
        >>> results = reports.read_json(metrics)     # a recorded evaluation of the zoo
        >>> results["corruptions"] = results["corruptions"][:3]     # three of them, and the mean
        >>> plot_all(results, "out")
        ['out/reliability.png', 'out/corruption_accuracy.png', 'out/corruption_ece.png', 'out/ood_fashion_mnist.png']
    """
    paths = [plotting.save_figure(reliability_figure(results), os.path.join(out_dir, "reliability.png"))]
    if results["corruptions"]:
        for metric in ("accuracy", "ece"):
            figure = corruption_figure(results, metric)
            paths.append(plotting.save_figure(figure, os.path.join(out_dir, f"corruption_{metric}.png")))
    for ood_name in results["ood_sets"]:
        paths.append(plotting.save_figure(ood_figure(results, ood_name), os.path.join(out_dir, f"ood_{ood_name}.png")))
    # an earlier report in this folder may have drawn figures this one does not: they would not be its
    written = {os.path.abspath(p) for p in paths}
    for pattern in _FIGURE_PATTERNS:
        for stale in glob.glob(os.path.join(glob.escape(os.fspath(out_dir)), pattern)):
            if os.path.abspath(stale) not in written:
                os.remove(stale)
    return paths
