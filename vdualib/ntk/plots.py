"""Figures of NTK information curves over training time and training-set size, drawn from their JSON.

* :func:`plot_time_curves`: four panels against training time t (log axis, t = inf
  drawn one decade past the largest finite time): the I(X;Z) and I(Z;Y) bounds
  (shaded between lower and upper, the midpoint drawn), the accuracy of the
  ensemble mean and the KL to the prior; one colour per training-set size, solid
  for training points and dashed for test points.
* :func:`plot_size_curves`: the same four quantities against the training-set
  size n at two finite times and t = inf (the KL divided by n).

Information is in bits. matplotlib is imported on first use (``vdualib.plotting.pyplot``).

Example:
    >>> from vdualib import plotting
    >>> from vdualib.ntk import KernelEnsemble, information_curve, kernels
    >>> rng = np.random.default_rng(0)
    >>> x, labels = rng.normal(size=(24, 3)), np.arange(24) % 2     # 16 training and 8 test points
    >>> def curve(n):     # as the lab's NTK study computes one task's curves
    ...     model = KernelEnsemble(*kernels(x[:n]), np.eye(2)[labels[:n]] - 0.5, *kernels(x[16:], x[:n]), kernels(x[16:])[0])
    ...     return information_curve(model, [1.0, 10.0, 100.0, np.inf], labels[:n], labels[16:], noise_variance=0.1)
    >>> task = {"sizes": [8, 16], "curves": {"8": curve(8), "16": curve(16)}}
    >>> plotting.save_figure(plot_time_curves("toy", task), "toy_time.png")
    'toy_time.png'
    >>> plotting.save_figure(plot_size_curves("toy", task), "toy_size.png")
    'toy_size.png'
"""

import numpy as np

from vdualib.plotting import pyplot

__all__ = ["plot_time_curves", "plot_size_curves", "time_positions", "size_times"]

SPLITS = ("train", "test")
_STYLES = dict(zip(SPLITS, ("-", "--")))


def time_positions(times):
    """Plot positions of ``times``: t = inf is placed one decade past the largest finite time.

    Returns:
        ``(positions, position of inf)``.

    Args:
        times: training times, finite ones positive, ``inf`` allowed.

    Raises:
        ValueError: no positive finite time, or a non-positive one.

    Example:
        >>> positions, infinity = time_positions([1.0, 100.0, float("inf")])
        >>> positions, float(infinity)
        (array([   1.,  100., 1000.]), 1000.0)
    """
    times = np.array([float(t) for t in times])
    finite = times[np.isfinite(times)]
    if not finite.size or (finite <= 0).any():
        raise ValueError("times must include positive finite times to place t = inf on a log axis.")
    return np.where(np.isfinite(times), times, finite.max() * 10.0), finite.max() * 10.0


def size_times(times):
    """``[(index, colour, label)]`` of the three times drawn against n: two finite ones and the last (t = inf).

    Args:
        times: a curve's times, the last one ``inf``, at least two finite ones before it.

    Returns:
        A list of three ``(index, matplotlib colour, label)`` tuples.

    Example:
        >>> size_times([0.1, 1.0, 10.0, float("inf")])
        [(1, 'C0', 't=1'), (2, 'C1', 't=10'), (3, 'C3', 't=inf')]
    """
    finite = [i for i, t in enumerate(times) if float(t) != float("inf")]
    chosen = (finite[len(finite) // 3], finite[2 * len(finite) // 3], len(times) - 1)
    return [(index, color, f"t={float(times[index]):.3g}") for index, color in zip(chosen, ("C0", "C1", "C3"))]


def _time_ticks(ax, times):
    """Decade ticks over the finite times and a tick marked inf at the t = inf position."""
    positions, infinity = time_positions(times)
    finite = positions[positions < infinity]
    decades = 10.0 ** np.arange(np.floor(np.log10(finite.min())), np.log10(finite.max()) + 1e-9)
    ax.set_xticks(list(decades) + [infinity], [f"$10^{{{int(round(np.log10(d)))}}}$" for d in decades] + [r"$\infty$"])
    ax.minorticks_off()
    ax.axvline(infinity / 3.0, color="grey", linewidth=0.5)


def _band(ax, x, curve, key, color, style, label):
    lower, upper = (curve[f"{key}_{bound}"] for bound in ("lower", "upper"))
    ax.fill_between(x, lower, upper, color=color, alpha=0.3, linewidth=0)
    ax.plot(x, [(a + b) / 2 for a, b in zip(lower, upper)], style, color=color, label=label)


def plot_time_curves(name, task):
    """Information, accuracy and KL to the prior against training time (see the module docstring).

    Args:
        name: the task's name, for the title.
        task: one task of the study's JSON (``data["datasets"][name]``).

    Returns:
        the figure (2 x 2 panels).

    Example:
        >>> from vdualib.ntk import KernelEnsemble, information_curve, kernels
        >>> from vdualib.plotting import save_figure
        >>> x, labels = np.random.default_rng(0).normal(size=(24, 3)), np.arange(24) % 2     # 16 train, 8 test
        >>> model = KernelEnsemble(*kernels(x[:16]), np.eye(2)[labels[:16]] - 0.5, *kernels(x[16:], x[:16]), kernels(x[16:])[0])
        >>> curve = information_curve(model, [1.0, 10.0, np.inf], labels[:16], labels[16:], noise_variance=0.1)
        >>> save_figure(plot_time_curves("toy", {"sizes": [16], "curves": {"16": curve}}), "toy_time.png")
        'toy_time.png'
    """
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.2))
    sizes = task["sizes"]
    colors = plt.cm.viridis([i / max(len(sizes) - 1, 1) for i in range(len(sizes))])
    for color, n in zip(colors, sizes):
        curve = task["curves"][str(n)]
        x, _ = time_positions(curve["t"])
        for split in SPLITS:
            _band(axes[0, 0], x, curve[split], "ixz", color, _STYLES[split], f"n={n} {split}")
            _band(axes[0, 1], x, curve[split], "izy", color, _STYLES[split], None)
            axes[1, 0].plot(x, curve[split]["accuracy"], _STYLES[split], color=color)
        axes[1, 1].plot(x, [max(v, 1e-3) for v in curve["prior_kl"]], "-", color=color)
    entropy = task["curves"][str(sizes[-1])]["test"]["label_entropy"][0]
    axes[0, 1].axhline(entropy, color="grey", linewidth=0.8, linestyle=":", label="H(Y) (test)")
    titles = ["I(X;Z) [bits]", "I(Z;Y) [bits]", "accuracy of the ensemble mean", "KL(outputs on train || prior) [bits]"]
    for ax, title in zip(axes.flat, titles):
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("training time t")
        _time_ticks(ax, task["curves"][str(sizes[0])]["t"])
        ax.grid(alpha=0.3)
    axes[1, 1].set_yscale("log")
    axes[0, 1].legend(fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(sizes), fontsize=7)
    fig.suptitle(f"{name}: infinite NTK ensemble, bounds shaded (solid: training points, dashed: test points)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_size_curves(name, task):
    """Information, accuracy and KL to the prior per example against the training-set size.

    Args:
        name: the task's name, for the title.
        task: one task of the study's JSON.

    Returns:
        the figure (1 x 4 panels).

    Example:
        >>> from vdualib.ntk import KernelEnsemble, information_curve, kernels
        >>> from vdualib.plotting import save_figure
        >>> x, labels = np.random.default_rng(0).normal(size=(24, 3)), np.arange(24) % 2     # 16 train, 8 test
        >>> def curve(n):
        ...     model = KernelEnsemble(*kernels(x[:n]), np.eye(2)[labels[:n]] - 0.5, *kernels(x[16:], x[:n]), kernels(x[16:])[0])
        ...     return information_curve(model, [1.0, 10.0, 100.0, np.inf], labels[:n], labels[16:], noise_variance=0.1)
        >>> task = {"sizes": [8, 16], "curves": {"8": curve(8), "16": curve(16)}}
        >>> save_figure(plot_size_curves("toy", task), "toy_size.png")
        'toy_size.png'
    """
    plt = pyplot()
    sizes = task["sizes"]
    curves = [task["curves"][str(n)] for n in sizes]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for index, color, label in size_times(curves[0]["t"]):
        for split in SPLITS:
            for ax, key in zip(axes[:2], ("ixz", "izy")):
                band = {f"{key}_{b}": [c[split][f"{key}_{b}"][index] for c in curves] for b in ("lower", "upper")}
                _band(ax, sizes, band, key, color, _STYLES[split], f"{label} {split}")
            axes[2].plot(sizes, [c[split]["accuracy"][index] for c in curves], _STYLES[split], color=color, marker="o", ms=3)
        axes[3].plot(sizes, [c["prior_kl"][index] / n for c, n in zip(curves, sizes)], "-", color=color, marker="o", ms=3)
    titles = ["I(X;Z) [bits]", "I(Z;Y) [bits]", "accuracy of the ensemble mean", "KL to prior / n [bits per example]"]
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training examples n")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{name}: against the training-set size (solid: training points, dashed: test points)")
    fig.tight_layout()
    return fig
