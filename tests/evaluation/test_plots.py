"""The evaluation figures draw the numbers of metrics.json (the ``run`` fixture of tests/conftest.py)."""

import os

import numpy as np
import pytest

from vdualib import evaluation, plotting, reports


@pytest.mark.slow
def test_figures_show_the_numbers_of_the_json(run):
    """Each figure draws what metrics.json holds, and each PNG is a real picture."""
    import matplotlib.image

    results = reports.read_json(run / "metrics.json")
    vib, plain = results["models"]

    figure = evaluation.reliability_figure(results)
    axes = np.array(figure.axes).reshape(2, 3)  # two models plus the overlay column
    curve = vib["reliability"]
    filled = np.asarray(curve["count"]) > 0
    bars = axes[0, 0].patches[: int(filled.sum())]  # first the accuracy bars, then the gap bars
    np.testing.assert_allclose([b.get_height() for b in bars], np.asarray(curve["accuracy"], float)[filled], atol=1e-6)
    assert f"ECE {vib['clean']['ece']:.3f}" in axes[0, 0].get_title() and plain["label"] in axes[0, 1].get_title()
    shares = [b.get_height() for b in axes[1, 0].patches]
    np.testing.assert_allclose(shares, np.asarray(curve["count"]) / 500)

    figure = evaluation.corruption_figure(results, "ece")
    panels = {axis.get_title(): axis for axis in figure.axes if axis.get_visible()}
    assert set(panels) == {"gaussian noise", "rotate", "mean"}
    rotate = panels["rotate"].get_lines()
    assert [line.get_label() for line in rotate] == ["small-vib", "small-plain"]
    np.testing.assert_allclose(rotate[0].get_xdata(), [0, 1, 4])
    expected = [vib["clean"]["ece"], vib["corruptions"]["rotate"]["1"]["ece"], vib["corruptions"]["rotate"]["4"]["ece"]]
    np.testing.assert_allclose(rotate[0].get_ydata(), expected)

    figure = evaluation.ood_figure(results, "uniform")
    rate_panel = next(axis for axis in figure.axes if axis.get_title().startswith("small-vib: rate"))
    assert f"AUROC {vib['ood']['uniform']['rate']['auroc']:.3f}" in rate_panel.get_title()
    histogram = vib["ood"]["uniform"]["rate"]["histogram"]
    in_stairs = rate_panel.patches[0]
    np.testing.assert_allclose(in_stairs.get_data().values, np.asarray(histogram["in"]) / 500)
    plotting.pyplot().close("all")  # the figures above were inspected, not saved

    image = matplotlib.image.imread(run / "reliability.png")
    assert image.shape[0] > 300 and image.shape[1] > 800  # 2 rows x 3 columns at 110 dpi
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_the_reliability_figure_draws_a_recorded_evaluation():
    import os

    from vdualib import zoo

    results = reports.read_json(os.path.join(zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json"))
    figure = evaluation.reliability_figure(results)
    try:
        curve = results["models"][0]["reliability"]
        filled = np.asarray(curve["count"]) > 0
        bars = figure.axes[0].patches[: int(filled.sum())]  # first the accuracy bars, then the gap bars
        np.testing.assert_allclose([b.get_height() for b in bars], np.asarray(curve["accuracy"], float)[filled], atol=1e-6)
        assert f"ECE {results['models'][0]['clean']['ece']:.3f}" in figure.axes[0].get_title()
    finally:
        plotting.pyplot().close(figure)


def test_a_report_folder_keeps_only_the_figures_of_its_latest_report(tmp_path):
    from vdualib import reports, zoo
    from vdualib.evaluation import plots as evaluation_plots

    metrics = os.path.join(zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
    results = reports.read_json(metrics)
    results["corruptions"] = results["corruptions"][:2]
    (tmp_path / "ood_from_another_program.txt").write_text("kept")
    (tmp_path / "mine.png").write_bytes(b"kept")
    first = evaluation_plots.plot_all(results, str(tmp_path))
    assert (tmp_path / "corruption_ece.png").exists() and (tmp_path / "ood_fashion_mnist.png").exists()
    again = dict(results, corruptions=[], ood_sets=[])
    assert evaluation_plots.plot_all(again, str(tmp_path)) == [str(tmp_path / "reliability.png")]
    assert sorted(os.listdir(tmp_path)) == ["mine.png", "ood_from_another_program.txt", "reliability.png"]
    assert len(first) == 4
