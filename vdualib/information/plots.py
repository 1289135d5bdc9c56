"""Plots of an information-plane table (see :mod:`vdualib.information.table`) and of estimator curves.

* :func:`plot_information_plane`: I(X;T) against I(T;Y), one point per layer
  per recorded epoch, the layers of one epoch joined by a line, coloured by
  epoch (log colour scale) with a colour bar;
* :func:`plot_information_curves`: I(X;T) and I(T;Y) per layer against epoch;
* :func:`plot_gradient_statistics`: gradient mean and standard deviation per
  layer against epoch on log axes, with the drift-to-diffusion transition
  (:func:`~vdualib.information.table.drift_diffusion_epoch`) marked;
* :func:`plot_estimates`: several estimates of one quantity against epoch.

Each function takes the rows and an optional ``ax`` / ``axes`` and returns the
figure; :func:`vdualib.plotting.save_figure` writes it atomically. Axis labels
carry ``units``. matplotlib is imported on first use (``vdualib.plotting.pyplot``);
its backend is never switched.

Example:
    >>> from vdualib import plotting
    >>> rows = [{"epoch": epoch, "layer": layer, "ixt": 12.0 - epoch / width, "ity": 0.2 * epoch}
    ...         for epoch in range(5) for layer, width in (("hidden_1", 1), ("hidden_2", 2))]
    >>> plotting.save_figure(plot_information_plane(rows), "plane.png")
    'plane.png'
"""

import numpy as np

from vdualib.information.table import drift_diffusion_epoch, series
from vdualib.plotting import pyplot, save_figure

__all__ = [
    "plot_information_plane",
    "plot_information_curves",
    "plot_gradient_statistics",
    "plot_estimates",
    "save_figure",
]


def _layers(rows):
    return list(dict.fromkeys(row["layer"] for row in rows))


def _check_rows(rows, columns):
    if not rows:
        raise ValueError("no rows to plot; record an information plane first.")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(f"rows lack the columns {missing}; pass an information-plane table.")


def _axes(ax, ncols=1, size=(5.5, 4.2)):
    if ax is not None:
        return ax.figure if ncols == 1 else np.ravel(ax)[0].figure, ax
    fig, axes = pyplot().subplots(1, ncols, figsize=(size[0] * ncols, size[1]), constrained_layout=True)
    return fig, axes


def plot_information_plane(rows, ax=None, title=None, units="bits", colorbar=True):
    """I(X;T) (x) against I(T;Y) (y): points per (layer, epoch), layers joined per epoch, coloured by epoch.

    Args:
        rows: an information-plane table (dicts with ``epoch``, ``layer``, ``ixt``, ``ity``).
        ax: an existing axis, or ``None`` for a new figure.
        title: optional axis title.
        units: the unit shown on the axes.
        colorbar: draw the epoch colour bar.

    Returns:
        the ``matplotlib`` figure; one line and one scatter per recorded epoch.

    Raises:
        ValueError: an empty table or rows without the needed columns.

    Example:
        >>> from vdualib.information.table import load_table, save_table
        >>> save_table([{"epoch": epoch, "layer": "h", "ixt": 12.0 - epoch, "ity": 0.2 * epoch} for epoch in range(5)], "plane.csv")
        >>> save_figure(plot_information_plane(load_table("plane.csv"), title="tanh"), "plane.png")
        'plane.png'
    """
    from matplotlib.colors import SymLogNorm

    plt = pyplot()
    _check_rows(rows, ("epoch", "layer", "ixt", "ity"))
    fig, ax = _axes(ax)
    layers = _layers(rows)
    epochs = sorted({row["epoch"] for row in rows})
    norm = SymLogNorm(linthresh=1.0, vmin=0, vmax=max(epochs[-1], 1))
    cmap = plt.get_cmap("viridis")
    by_key = {(row["epoch"], row["layer"]): row for row in rows}
    for epoch in epochs:
        points = np.array([(by_key[(epoch, l)]["ixt"], by_key[(epoch, l)]["ity"]) for l in layers if (epoch, l) in by_key])
        colour = cmap(norm(epoch))
        ax.plot(points[:, 0], points[:, 1], "-", color=colour, alpha=0.35, linewidth=0.8)
        ax.scatter(points[:, 0], points[:, 1], color=colour, s=14, zorder=3, edgecolors="none")
    if colorbar:
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="epoch")
    ax.set_xlabel(f"I(X;T) [{units}]")
    ax.set_ylabel(f"I(T;Y) [{units}]")
    if title:
        ax.set_title(title)
    return fig


def plot_information_curves(rows, axes=None, title=None, units="bits"):
    """Two panels: I(X;T) and I(T;Y) per layer against epoch (symlog epoch axis); shaded +-std when present.

    Args:
        rows: an information-plane table (dicts with ``epoch``, ``layer``, ``ixt``, ``ity`` and
            optionally ``ixt_std``, ``ity_std``, as from :func:`vdualib.information.table.mean_table`).
        axes: two existing axes, or ``None`` for a new figure.
        title: optional figure title.
        units: the unit shown on the axes.

    Returns:
        The figure; each panel has one line per layer, labelled with the layer's name.

    Raises:
        ValueError: an empty table or rows without the needed columns.

    Example:
        >>> from vdualib.information.table import mean_table
        >>> tables = [[{"epoch": epoch, "layer": "h", "ixt": 12.0 - epoch + seed, "ity": 0.2 * epoch} for epoch in range(5)]
        ...           for seed in range(2)]
        >>> save_figure(plot_information_curves(mean_table(tables)), "curves.png")
        'curves.png'
    """
    _check_rows(rows, ("epoch", "layer", "ixt", "ity"))
    fig, axes = _axes(axes, ncols=2, size=(5.0, 3.8))
    for ax, column, label in zip(axes, ("ixt", "ity"), ("I(X;T)", "I(T;Y)")):
        for layer in _layers(rows):
            epochs, values = series(rows, layer, column)
            (line,) = ax.plot(epochs, values, label=layer)
            if f"{column}_std" in rows[0]:
                _, spread = series(rows, layer, f"{column}_std")
                ax.fill_between(epochs, values - spread, values + spread, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{label} [{units}]")
    axes[-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    return fig


def plot_gradient_statistics(rows, ax=None, title=None):
    """Gradient mean (solid) and std (dashed) per layer against epoch, log-log, transition marked (dotted).

    Args:
        rows: an information-plane table with ``grad_mean`` and ``grad_std``.
        ax: an existing axis, or ``None`` for a new figure.
        title: optional axis title.

    Returns:
        The figure.

    Raises:
        ValueError: the table has no gradient statistics.

    Example:
        >>> rows = [{"epoch": epoch, "layer": "h", "grad_mean": 1.0 / epoch, "grad_std": 0.3} for epoch in range(1, 6)]
        >>> save_figure(plot_gradient_statistics(rows), "snr.png")
        'snr.png'
    """
    _check_rows(rows, ("epoch", "layer", "grad_mean", "grad_std"))
    if all(np.isnan(row["grad_mean"]) for row in rows):
        raise ValueError("the table has no gradient statistics; record with InformationPlane(..., gradient_stats=True).")
    fig, ax = _axes(ax, size=(6.0, 4.2))
    for layer in _layers(rows):
        epochs, means = series(rows, layer, "grad_mean")
        _, stds = series(rows, layer, "grad_std")
        keep = epochs > 0
        (line,) = ax.plot(epochs[keep], means[keep], "-", label=f"{layer} mean")
        ax.plot(epochs[keep], stds[keep], "--", color=line.get_color(), label=f"{layer} std")
        transition = drift_diffusion_epoch(rows, layer)
        if transition is not None:
            ax.axvline(transition, color=line.get_color(), linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm (per layer)")
    ax.legend(fontsize=6, ncol=2, loc="best")
    if title:
        ax.set_title(title + " (dotted: mean < std)")
    return fig


def plot_estimates(rows, keys, ax=None, title=None, ylabel="I(X;Z) [bits]", reference=None):
    """Several estimates of one quantity against epoch, one line per key, on a symlog axis.

    Args:
        rows: dicts with ``epoch`` and every key of ``keys``.
        keys: ``[(key, matplotlib style), ...]``; each becomes a line labelled ``key``.
        ax: an existing axis, or ``None``.
        title, ylabel: axis texts.
        reference: optional ``(value, label)`` drawn as a dashed horizontal line (e.g. log2 N).

    Returns:
        the figure.

    Raises:
        ValueError: no rows.

    Example:
        >>> rows = [{"epoch": epoch, "lower": 8.0 + epoch, "upper": 12.0} for epoch in range(3)]
        >>> figure = plot_estimates(rows, [("lower", "o-"), ("upper", "s--")], reference=(math.log2(4096), "log2 N"))
        >>> [line.get_label() for line in figure.axes[0].lines][:2]
        ['lower', 'upper']
    """
    if not rows:
        raise ValueError("no rows to plot.")
    fig, ax = _axes(ax)
    epochs = [r["epoch"] for r in rows]
    for key, style in keys:
        ax.plot(epochs, [r[key] for r in rows], style, label=key, markersize=4)
    if reference is not None:
        ax.axhline(reference[0], color="grey", linewidth=0.8, linestyle="--", label=reference[1])
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xticks(epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6)
    return fig
