"""The information-plane figures draw the values of their tables."""

import subprocess
import sys

import math

import numpy as np
import pytest

from vdualib.information.table import load_table


@pytest.mark.slow
def test_callback_save_and_plots(tiny_run, tmp_path):
    from matplotlib.image import imread

    from vdualib.information import plots
    from vdualib.plotting import save_figure

    _, _, _, plane, _ = tiny_run
    plane.save(tmp_path / "plane.csv")
    rows = load_table(tmp_path / "plane.csv")
    assert len(rows) == len(plane.rows)
    assert [r["ixt"] for r in rows] == pytest.approx([r["ixt"] for r in plane.rows], abs=1e-12)

    # the plane: one line per recorded epoch through the layers' (I(X;T), I(T;Y)) points
    figure = plots.plot_information_plane(rows)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "I(X;T) [bits]" and ax.get_ylabel() == "I(T;Y) [bits]"
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # epochs 0, 1, 3
    for line, epoch in zip(ax.lines, (0, 1, 3)):
        expected = [(r["ixt"], r["ity"]) for r in rows if r["epoch"] == epoch]
        np.testing.assert_allclose(np.column_stack(line.get_data()), expected)
    save_figure(figure, tmp_path / "plane.png")
    image = imread(tmp_path / "plane.png")
    assert image.shape[0] > 100 and image[..., :3].std() > 0.05  # decoded, not blank

    # the curves: per panel one line per layer, the values of the table
    figure = plots.plot_information_curves(rows)
    for ax, column in zip(figure.axes[:2], ("ixt", "ity")):
        assert [line.get_label() for line in ax.lines] == ["h", "out"]
        for line in ax.lines:
            np.testing.assert_allclose(line.get_ydata(), [r[column] for r in rows if r["layer"] == line.get_label()])
    assert figure.axes[0].get_ylabel() == "I(X;T) [bits]"
    save_figure(figure, tmp_path / "curves.png")

    # gradient statistics: mean and std per layer at epochs > 0
    figure = plots.plot_gradient_statistics(rows)
    labels = [line.get_label() for line in figure.axes[0].lines if not line.get_label().startswith("_")]
    assert labels == ["h mean", "h std", "out mean", "out std"]
    mean_line = figure.axes[0].lines[0]
    np.testing.assert_allclose(mean_line.get_xdata(), [1, 3])
    np.testing.assert_allclose(mean_line.get_ydata(), [r["grad_mean"] for r in rows if r["layer"] == "h" and r["epoch"] > 0])
    save_figure(figure, tmp_path / "gradients.png")

    no_gradients = [dict(r, grad_mean=math.nan, grad_std=math.nan) for r in rows]
    with pytest.raises(ValueError, match="gradient_stats"):
        plots.plot_gradient_statistics(no_gradients)
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_information_plane([])


def test_plot_estimates_draws_each_estimate():
    from vdualib.information import plots

    rows = [{"epoch": e, "a": 1.0 + e, "b": 2.0 * e} for e in range(3)]
    figure = plots.plot_estimates(rows, [("a", "o-"), ("b", "s--")], reference=(4.0, "log2 N"))
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b", "log2 N"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.0, 2.0, 4.0])
    np.testing.assert_allclose(ax.lines[2].get_ydata(), [4.0, 4.0])
    assert ax.get_ylabel() == "I(X;Z) [bits]"
    pyplot_close(figure)


def pyplot_close(figure):
    from vdualib.plotting import pyplot

    pyplot().close(figure)


@pytest.mark.slow
def test_plots_module_does_not_switch_the_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import vdualib.information.plots as p; "
            "import matplotlib.pyplot as plt; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"
