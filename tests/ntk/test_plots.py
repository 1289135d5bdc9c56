"""The NTK figures draw the curves of a study's JSON (here a hand-made task of two sizes)."""

import math

import numpy as np
import pytest

from vdualib.ntk.plots import plot_size_curves, plot_time_curves, size_times, time_positions
from vdualib.plotting import pyplot

TIMES = [0.1, 1.0, 10.0, math.inf]


def _curve(n):
    """One size's curve: made-up values that differ by size, split and time."""
    split = lambda shift: {  # noqa: E731
        "ixz_lower": [n + shift, n + shift + 1, n + shift + 2, n + shift + 3],
        "ixz_upper": [n + shift + 1, n + shift + 2, n + shift + 3, n + shift + 4],
        "izy_lower": [0.1, 0.2, 0.3, 0.4],
        "izy_upper": [0.2, 0.3, 0.4, 0.5],
        "accuracy": [0.5, 0.6 + shift / 100, 0.7, 0.8],
        "label_entropy": [1.0] * 4,
    }
    return {"t": TIMES, "train": split(0), "test": split(5), "prior_kl": [0.0, n / 10, n / 5, n]}


def test_time_positions_put_infinity_one_decade_past_the_last_time():
    positions, infinity = time_positions(TIMES)
    np.testing.assert_allclose(positions, [0.1, 1.0, 10.0, 100.0])
    assert infinity == 100.0
    for bad in ([math.inf], [0.0, 1.0, math.inf]):
        with pytest.raises(ValueError, match="positive finite times"):
            time_positions(bad)
    assert size_times(TIMES) == [(1, "C0", "t=1"), (2, "C1", "t=10"), (3, "C3", "t=inf")]


@pytest.mark.slow
def test_both_figures_draw_every_size_and_time():
    task = {"sizes": [8, 16], "curves": {"8": _curve(8), "16": _curve(16)}}
    figure = plot_time_curves("toy", task)
    ixz, _, accuracy, kl = figure.axes[:4]
    assert ixz.get_title() == "I(X;Z) [bits]" and kl.get_yscale() == "log"
    assert len(accuracy.lines) == 5  # 2 sizes x (train, test), and the line before t = inf
    curve = task["curves"]["16"]
    np.testing.assert_allclose(accuracy.lines[2].get_ydata(), curve["train"]["accuracy"])
    np.testing.assert_allclose(kl.lines[1].get_ydata(), np.maximum(curve["prior_kl"], 1e-3))
    midpoints = [(a + b) / 2 for a, b in zip(curve["test"]["ixz_lower"], curve["test"]["ixz_upper"])]
    np.testing.assert_allclose(ixz.lines[3].get_ydata(), midpoints)
    pyplot().close(figure)
    figure = plot_size_curves("toy", task)
    assert len(figure.axes) == 4
    np.testing.assert_allclose(figure.axes[2].lines[0].get_xdata(), [8, 16])
    np.testing.assert_allclose(figure.axes[3].lines[0].get_ydata(), [task["curves"][str(n)]["prior_kl"][1] / n for n in (8, 16)])
    pyplot().close(figure)
