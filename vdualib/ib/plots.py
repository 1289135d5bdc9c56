"""Figures of analytical IB and dualIB curves, drawn from a JSON record of their sweeps.

Each ``*_figure`` function returns a matplotlib Figure drawn only from the record, so the figures
can be redrawn without solving again; :func:`save_study_figures` writes all of them as PNG through
:func:`vdualib.plotting.save_figure`. Information in bits.

Example:
    >>> from vdualib.ib import critical_betas, curve, ib_first_transition, prediction_measures, toy_problem
    >>> pxy, betas = toy_problem().joint(), np.geomspace(64, 2, 12)
    >>> def sweep(method):     # one method's sweep record, as the repository's analytic study writes it
    ...     result = curve(pxy, betas, method=method)
    ...     measures = {key: value.tolist() for key, value in prediction_measures(pxy, result).items()}
    ...     decoders = [d[m > 1e-6, -1].tolist() for d, m in zip(result.decoders, result.marginals)]
    ...     return {"ixt": result.ixt.tolist(), "ity": result.ity.tolist(), "hx": result.hx, "ixy": result.ixy,
    ...             "cluster_p_y1": decoders, "critical_betas": critical_betas(result).betas.tolist(), **measures}
    >>> toy = {"betas": betas.tolist(), "ib_beta0_one_over_rho_squared": ib_first_transition(pxy),
    ...        "ib": sweep("ib"), "dualib": sweep("dualib")}
    >>> figure = toy_bifurcation_figure(toy)     # one axis per method, the dualIB's second
    >>> [line.get_xdata()[0] for line in figure.axes[1].lines[1:]]     # its critical betas, then 1/rho^2
    [3.21, 11.31, 29.11, 39.90, 4.37]
"""

import os

import numpy as np

from vdualib import checks, plotting
from vdualib.ib.solver import METHODS

__all__ = [
    "FIGURE_NAMES",
    "toy_information_figure",
    "toy_bifurcation_figure",
    "twelve_bit_figure",
    "save_study_figures",
]

LABELS = {"ib": "IB", "dualib": "dualIB"}
COLORS = {"ib": "tab:blue", "dualib": "tab:red"}
_DISTORTION_STYLES = (("dual_distortion", "-", "p(y|x̂)‖p(y|x)"), ("ib_distortion", "--", "p(y|x)‖p(y|x̂)"))
FIGURE_NAMES = {
    "toy_information": "toy_information_curves.png",
    "toy_bifurcation": "toy_bifurcation.png",
    "twelve_bit": "twelve_bit_curves.png",
}


def _entry(record, key, where):
    """``record[key]``; ValueError naming ``where`` if ``record`` is not a dict holding ``key``."""
    if not isinstance(record, dict) or key not in record:
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"{where} must be a dict with the key {key!r} (a record as the analytic study writes it); "
                         f"got {found}.")
    return record[key]


def _betas(record, where):
    """The record's ``betas`` as a float array [B]: non-empty, finite and > 0."""
    betas = checks.finite_array(f"{where}['betas']", _entry(record, "betas", where))
    if betas.ndim != 1 or betas.size == 0 or np.any(betas <= 0):
        raise ValueError(f"{where}['betas'] must be a non-empty 1-D list of betas > 0; got shape {betas.shape}.")
    return betas


def _series(record, key, size, where, allow_inf=False):
    """``record[key]`` as a float array of one value per beta (``size``), finite (or +inf with ``allow_inf``)."""
    name = f"{where}[{key!r}]"
    values = checks.numeric_array(name, _entry(record, key, where), dtype=np.float64)
    if values.shape != (size,):
        raise ValueError(f"{name} must hold one value per beta ({size}); got shape {values.shape}.")
    if np.any(np.isnan(values) | (np.isinf(values) & ~(allow_inf & (values > 0)))):
        raise ValueError(f"{name} contains NaN or infinite values" + (" (only +inf is allowed)" if allow_inf else "")
                         + "; redo the sweep that wrote it.")
    return values


def _positive(record, key, where, allow_inf=False):
    """``record[key]`` as a float > 0 (finite, or +inf with ``allow_inf``)."""
    value = _entry(record, key, where)
    if allow_inf and isinstance(value, (int, float)) and value == float("inf"):
        return float(value)
    return checks.finite_float(f"{where}[{key!r}]", value, low=0.0, low_open=True)


def _log2_axis(ax):
    """Log-scale beta axis with plain numbers at powers of two."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _finish(axes):
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


def toy_information_figure(toy):
    """Normalised information curves, both distortions and the argmax accuracy against beta.

    Args:
        toy: the study record's ``"toy"`` problem record.

    Returns:
        Figure with three axes: I(X;X̂)/H(X) against I(X̂;Y)/I(X;Y) (one line per method, in
        :data:`vdualib.ib.solver.METHODS` order), the distortions against beta (two lines per
        method) and the accuracy against beta (one line per method).

    Raises:
        ValueError: a record without a key the figure draws, series that are not one finite value per beta
            (the distortions may be +inf), betas not > 0, or ``hx``/``ixy`` not > 0 (the curve is normalised
            by them: independent X and Y have none).

    Example:
        >>> sweep = {"ixt": [1.2, 0.0], "ity": [0.3, 0.0], "hx": 2.32, "ixy": 0.35, "ib_distortion": [0.05, 0.35],
        ...          "dual_distortion": [0.06, 0.37], "accuracy": [0.75, 0.6]}     # at beta = 16 and 2
        >>> figure = toy_information_figure({"betas": [16.0, 2.0], "ib": sweep, "dualib": sweep})
        >>> [len(ax.lines) for ax in figure.axes]
        [2, 4, 2]
    """
    betas = _betas(toy, "toy")
    sweeps = {}
    for method in METHODS:
        record, where = _entry(toy, method, "toy"), f"toy[{method!r}]"
        sweeps[method] = {key: _series(record, key, betas.size, where, allow_inf=key.endswith("distortion"))
                          for key in ("ixt", "ity", "accuracy") + tuple(key for key, _, _ in _DISTORTION_STYLES)}
        sweeps[method].update({key: _positive(record, key, where) for key in ("hx", "ixy")})
    plt = plotting.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for method, record in sweeps.items():
        style = dict(color=COLORS[method], label=LABELS[method])
        axes[0].plot(record["ixt"] / record["hx"], record["ity"] / record["ixy"], **style)
        for key, line, divergence in _DISTORTION_STYLES:
            axes[1].plot(betas, record[key], ls=line, color=COLORS[method],
                         label=f"{LABELS[method]}: E KL({divergence})")
        axes[2].plot(betas, record["accuracy"], **style)
    axes[0].set(xlabel="I(X;X̂) / H(X)", ylabel="I(X̂;Y) / I(X;Y)", title="Normalised information curves")
    axes[1].set(xlabel="β", ylabel="bits", title="Distortions of each method's own decoder")
    axes[2].set(xlabel="β", ylabel="accuracy", title="Accuracy of argmax p(y|x̂)")
    _finish(axes)
    for ax in axes[1:]:
        _log2_axis(ax)
    fig.suptitle("dualIB toy problem (|X| = 5, |Y| = 2)")
    fig.tight_layout()
    return fig


def toy_bifurcation_figure(toy):
    """The decoder p(y=1|x̂) of each live cluster against beta, one axis per method.

    Args:
        toy: the study record's ``"toy"`` problem record.

    Returns:
        Figure whose axis k (method ``METHODS[k]``) holds the points (beta, p(y=1|x̂)) as its first
        line, a dotted vertical line at each critical beta and a dashed one at 1/rho^2 (none when it
        is inf: X and Y independent).

    Raises:
        ValueError: a record without a key the figure draws, decoders that are not one list of
            probabilities per beta, critical betas that are not finite and > 0, or 1/rho^2 not > 0.

    Example:
        >>> sweep = {"cluster_p_y1": [[0.2, 0.8], [0.5]], "critical_betas": [5.6]}     # at beta = 16 and 2
        >>> toy = {"betas": [16.0, 2.0], "ib_beta0_one_over_rho_squared": 4.37, "ib": sweep, "dualib": sweep}
        >>> points = toy_bifurcation_figure(toy).axes[0].lines[0]
        >>> points.get_xdata().tolist(), points.get_ydata().tolist()
        ([16.0, 16.0, 2.0], [0.2, 0.8, 0.5])
    """
    betas = _betas(toy, "toy")
    beta0 = _positive(toy, "ib_beta0_one_over_rho_squared", "toy", allow_inf=True)
    sweeps = {}
    for method in METHODS:
        record, where = _entry(toy, method, "toy"), f"toy[{method!r}]"
        decoders = _entry(record, "cluster_p_y1", where)
        if not isinstance(decoders, (list, tuple)) or len(decoders) != betas.size:
            raise ValueError(f"{where}['cluster_p_y1'] must be a list of one list per beta ({betas.size}).")
        values = [checks.finite_array(f"{where}['cluster_p_y1'][{k}]", row).reshape(-1) for k, row in enumerate(decoders)]
        if any(np.any((row < 0) | (row > 1)) for row in values):
            raise ValueError(f"{where}['cluster_p_y1'] must hold probabilities p(y=1|x_hat) in [0, 1].")
        critical = checks.finite_array(f"{where}['critical_betas']", _entry(record, "critical_betas", where)).reshape(-1)
        if np.any(critical <= 0):
            raise ValueError(f"{where}['critical_betas'] must be betas > 0.")
        sweeps[method] = (values, critical)
    plt = plotting.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, method in zip(axes, METHODS):
        values, critical = sweeps[method]
        points = [(beta, value) for beta, row in zip(betas, values) for value in row]
        ax.plot(*(np.transpose(points) if points else ([], [])), ".", ms=1.5, color=COLORS[method])
        for k, beta in enumerate(critical.tolist()):
            ax.axvline(beta, color="gray", lw=0.8, ls=":", label="critical β (cluster split)" if k == 0 else None)
        if np.isfinite(beta0):  # (X and Y independent: no transition)
            ax.axvline(beta0, color="k", lw=1, ls="--", label="1/ρ² (IB first transition)")
        ax.set(xlabel="β", title=f"{LABELS[method]}: decoder p(y=1|x̂) of each cluster")
        _log2_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("p(y=1|x̂)")
    fig.tight_layout()
    return fig


def twelve_bit_figure(twelve_bit):
    """Information curves of each 12-bit construction and the accuracies against beta.

    Args:
        twelve_bit: the study record's ``"twelve_bit"`` dict ``{conditional: problem record}``
            (at least one).

    Returns:
        Figure with one axis per construction (I(X;X̂) against I(X̂;Y), one line per method, then
        a horizontal line at I(X;Y)) and a last axis of accuracy against beta.

    Raises:
        ValueError: the record has no 12-bit construction, or one without a key the figure draws, with series
            that are not one finite value per beta, a label noise outside [0, 1] or a cluster count that is not
            a positive integer.

    Example:
        >>> sweep = {"ixt": [2.0, 0.0], "ity": [0.9, 0.0], "ixy": 0.92, "accuracy": [0.99, 0.5]}     # beta = 50, 1
        >>> problem = {"betas": [50.0, 1.0], "label_noise": 0.01, "n_clusters": 4096, "ib": sweep, "dualib": sweep}
        >>> figure = twelve_bit_figure({"label-noise": problem})
        >>> [ax.get_title() for ax in figure.axes]
        ['p(y|x): label-noise, ε = 0.01', 'Accuracy of argmax p(y|x̂)']
    """
    if not isinstance(twelve_bit, dict) or not twelve_bit:
        raise ValueError("the record has no 12-bit task (a dict {conditional: problem record}); run the study with at "
                         "least one conditional.")
    for conditional, bits in twelve_bit.items():
        where = f"twelve_bit[{conditional!r}]"
        size = _betas(bits, where).size
        for method in METHODS:
            for key in ("ixt", "ity", "accuracy"):
                _series(_entry(bits, method, where), key, size, f"{where}[{method!r}]")
        _positive(_entry(bits, "ib", where), "ixy", f"{where}['ib']")
        if _entry(bits, "label_noise", where) is not None:
            checks.finite_float(f"{where}['label_noise']", bits["label_noise"], low=0.0, high=1.0)
        checks.positive_int(f"{where}['n_clusters']", _entry(bits, "n_clusters", where))
    plt = plotting.pyplot()
    conditionals = list(twelve_bit)
    fig, axes = plt.subplots(1, len(conditionals) + 1, figsize=(5 * (len(conditionals) + 1), 4.2))
    for ax, conditional in zip(axes, conditionals):
        bits = twelve_bit[conditional]
        for method in METHODS:
            record = bits[method]
            ax.plot(record["ixt"], record["ity"], color=COLORS[method], label=LABELS[method], marker=".", ms=3)
            axes[-1].plot(np.asarray(bits["betas"], dtype=float), record["accuracy"], color=COLORS[method],
                          ls="-" if conditional == conditionals[0] else "--", label=f"{LABELS[method]}, {conditional}")
        ax.axhline(bits["ib"]["ixy"], color="gray", ls=":", label="I(X;Y)")
        noise = f", ε = {bits['label_noise']}" if bits["label_noise"] is not None else ""
        ax.set(xlabel="I(X;X̂) [bits]", ylabel="I(X̂;Y) [bits]", title=f"p(y|x): {conditional}{noise}")
    axes[-1].set(xscale="log", xlabel="β", ylabel="accuracy", title="Accuracy of argmax p(y|x̂)")
    _finish(axes)
    fig.suptitle(f"12-bit task (|X| = 4096, {twelve_bit[conditionals[0]]['n_clusters']} clusters)")
    fig.tight_layout()
    return fig


def save_study_figures(record, out_dir):
    """Draw the study's figures from its record and save them as PNG in ``out_dir``.

    The 12-bit figure is drawn only when the record has a 12-bit task.

    Returns:
        dict figure key (see :data:`FIGURE_NAMES`) -> path written.

    Args:
        record: a record of the toy and 12-bit sweeps (the dict the repository's analytic study writes).
        out_dir: a writable folder (created if missing).

    Raises:
        ValueError: ``out_dir`` is not a path or is a file, or the record is broken (see the figures).

    Example:
        >>> sweep = {"ixt": [1.2, 0.0], "ity": [0.3, 0.0], "hx": 2.32, "ixy": 0.35, "ib_distortion": [0.05, 0.35],
        ...          "dual_distortion": [0.06, 0.37], "accuracy": [0.75, 0.6], "cluster_p_y1": [[0.2, 0.8], [0.5]],
        ...          "critical_betas": [5.6]}     # at beta = 16 and 2
        >>> toy = {"betas": [16.0, 2.0], "ib_beta0_one_over_rho_squared": 4.37, "ib": sweep, "dualib": sweep}
        >>> save_study_figures({"toy": toy, "twelve_bit": {}}, "out")
        {'toy_information': 'out/toy_information_curves.png', 'toy_bifurcation': 'out/toy_bifurcation.png'}
    """
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"out_dir must be a folder path; got {type(out_dir).__name__}.")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {os.fspath(out_dir)!r} is a file, not a folder; pass a folder path.")
    toy, twelve_bit = _entry(record, "toy", "record"), _entry(record, "twelve_bit", "record")
    figures = {"toy_information": toy_information_figure(toy), "toy_bifurcation": toy_bifurcation_figure(toy)}
    if twelve_bit:
        figures["twelve_bit"] = twelve_bit_figure(twelve_bit)
    return {key: plotting.save_figure(figure, os.path.join(out_dir, FIGURE_NAMES[key]))
            for key, figure in figures.items()}
