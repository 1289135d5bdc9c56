"""vdualib.ib.plots draws exactly the numbers of a study record, and saves its figures as PNG (a small
hand-written record here; the study's own record is drawn in tests/scripts/test_ib_study.py)."""

import os

import numpy as np
import pytest
from PIL import Image

from vdualib import plotting
from vdualib.ib import plots

BETAS = [8.0, 4.0, 2.0]


def sweep(scale):
    """A method's sweep record over BETAS: information in bits, prediction measures and decoders."""
    return {"ixt": [1.5 * scale, 0.8 * scale, 0.0], "ity": [0.3 * scale, 0.2 * scale, 0.0], "hx": 2.0, "ixy": 0.4,
            "ib_distortion": [0.1, 0.2, 0.4], "dual_distortion": [0.12, 0.25, 0.5], "accuracy": [0.8, 0.7, 0.5 * scale],
            "cluster_p_y1": [[0.2, 0.5, 0.8], [0.3, 0.7], [0.5]], "critical_betas": [2.8 * scale, 5.6]}


@pytest.fixture
def toy():
    return {"betas": BETAS, "ib_beta0_one_over_rho_squared": 3.0, "ib": sweep(1.0), "dualib": sweep(0.9)}


@pytest.fixture
def twelve_bit():
    def problem(label_noise):
        return {"betas": BETAS, "label_noise": label_noise, "n_clusters": 3, "ib": sweep(1.0), "dualib": sweep(0.5)}

    return {"label-noise": problem(0.01), "logistic": problem(None)}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plotting.pyplot().close("all")


def test_toy_information_figure_draws_the_normalised_curves_distortions_and_accuracy(toy):
    curves, distortions, accuracy = plots.toy_information_figure(toy).axes
    for line, method in zip(curves.lines, ("ib", "dualib")):
        np.testing.assert_allclose(line.get_xdata(), np.divide(toy[method]["ixt"], 2.0))
        np.testing.assert_allclose(line.get_ydata(), np.divide(toy[method]["ity"], 0.4))
        assert line.get_label() == plots.LABELS[method] and line.get_color() == plots.COLORS[method]
    drawn = [(line.get_linestyle(), list(line.get_ydata())) for line in distortions.lines]
    assert drawn == [(style, toy[method][key]) for method in ("ib", "dualib") for key, style in (
        ("dual_distortion", "-"), ("ib_distortion", "--"))]
    assert [list(line.get_ydata()) for line in accuracy.lines] == [toy["ib"]["accuracy"], toy["dualib"]["accuracy"]]
    assert all(list(line.get_xdata()) == BETAS for line in distortions.lines + accuracy.lines)
    assert curves.get_xscale() == "linear" and distortions.get_xscale() == accuracy.get_xscale() == "log"


def test_toy_bifurcation_figure_draws_each_cluster_and_the_transitions(toy):
    figure = plots.toy_bifurcation_figure(toy)
    assert len(figure.axes) == 2
    for ax, method in zip(figure.axes, ("ib", "dualib")):
        points = ax.lines[0]
        np.testing.assert_allclose(points.get_xdata(), [8.0] * 3 + [4.0] * 2 + [2.0])
        np.testing.assert_allclose(points.get_ydata(), [0.2, 0.5, 0.8, 0.3, 0.7, 0.5])
        vertical = [line.get_xdata()[0] for line in ax.lines[1:]]
        np.testing.assert_allclose(vertical, toy[method]["critical_betas"] + [3.0])
        assert [line.get_linestyle() for line in ax.lines[1:]] == [":", ":", "--"]


def test_twelve_bit_figure_has_an_axis_per_construction_and_one_of_accuracies(twelve_bit):
    *curve_axes, accuracy = plots.twelve_bit_figure(twelve_bit).axes
    assert len(curve_axes) == 2
    for ax, (conditional, problem) in zip(curve_axes, twelve_bit.items()):
        assert [list(line.get_xdata()) for line in ax.lines[:2]] == [problem["ib"]["ixt"], problem["dualib"]["ixt"]]
        assert [list(line.get_ydata()) for line in ax.lines[:2]] == [problem["ib"]["ity"], problem["dualib"]["ity"]]
        assert list(ax.lines[2].get_ydata()) == [0.4, 0.4]  # I(X;Y)
        assert conditional in ax.get_title()
    assert "ε = 0.01" in curve_axes[0].get_title() and "ε" not in curve_axes[1].get_title()
    assert [line.get_label() for line in accuracy.lines] == [
        "IB, label-noise", "dualIB, label-noise", "IB, logistic", "dualIB, logistic"]
    assert [line.get_linestyle() for line in accuracy.lines] == ["-", "-", "--", "--"]
    assert list(accuracy.lines[3].get_ydata()) == twelve_bit["logistic"]["dualib"]["accuracy"]


def test_twelve_bit_figure_refuses_a_record_without_a_construction():
    with pytest.raises(ValueError, match="no 12-bit task"):
        plots.twelve_bit_figure({})


@pytest.mark.parametrize("with_twelve_bit", [False, True])
def test_save_study_figures_writes_one_png_per_figure(toy, twelve_bit, with_twelve_bit, tmp_path):
    record = {"toy": toy, "twelve_bit": twelve_bit if with_twelve_bit else {}}
    paths = plots.save_study_figures(record, tmp_path)
    expected = ["toy_information", "toy_bifurcation"] + (["twelve_bit"] if with_twelve_bit else [])
    assert list(paths) == expected
    assert paths == {key: os.path.join(tmp_path, plots.FIGURE_NAMES[key]) for key in expected}
    assert sorted(os.listdir(tmp_path)) == sorted(plots.FIGURE_NAMES[key] for key in expected)
    for path in paths.values():
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 600


def _broken(toy, method, key, value):
    broken = {**toy, method: {**toy[method], key: value}}
    return broken


@pytest.mark.parametrize("change, message", [
    (lambda toy: _broken(toy, "ib", "ixt", [0.1, np.nan, 0.0]), "NaN"),
    (lambda toy: _broken(toy, "ib", "accuracy", [0.8, 0.7]), "one value per beta"),
    (lambda toy: _broken(toy, "dualib", "hx", 0.0), "hx"),
    (lambda toy: {key: value for key, value in toy.items() if key != "ib"}, "'ib'"),
    (lambda toy: {**toy, "betas": [8.0, -4.0, 2.0]}, "betas"),
])
def test_toy_information_figure_refuses_a_broken_record(toy, change, message):
    with pytest.raises(ValueError, match=message):
        plots.toy_information_figure(change(toy))


@pytest.mark.parametrize("change, message", [
    (lambda toy: _broken(toy, "ib", "cluster_p_y1", [[0.2], [0.3]]), "one list per beta"),
    (lambda toy: _broken(toy, "ib", "cluster_p_y1", [[0.2], [1.3], [0.5]]), r"\[0, 1\]"),
    (lambda toy: _broken(toy, "dualib", "critical_betas", [np.nan]), "NaN"),
    (lambda toy: {**toy, "ib_beta0_one_over_rho_squared": -1.0}, "ib_beta0"),
])
def test_toy_bifurcation_figure_refuses_a_broken_record(toy, change, message):
    with pytest.raises(ValueError, match=message):
        plots.toy_bifurcation_figure(change(toy))


def test_toy_bifurcation_figure_of_independent_variables_has_no_transition_line(toy):
    figure = plots.toy_bifurcation_figure({**toy, "ib_beta0_one_over_rho_squared": float("inf")})
    assert all(np.isfinite(line.get_xdata()).all() for ax in figure.axes for line in ax.lines)


def test_twelve_bit_figure_refuses_a_broken_record(twelve_bit):
    broken = {**twelve_bit, "logistic": {**twelve_bit["logistic"], "betas": [1.0]}}
    with pytest.raises(ValueError, match="one value per beta"):
        plots.twelve_bit_figure(broken)


def test_save_study_figures_needs_a_record_and_a_folder(toy, tmp_path):
    with pytest.raises(ValueError, match="'toy'"):
        plots.save_study_figures({"twelve_bit": {}}, tmp_path)
    with pytest.raises(ValueError, match="folder path"):
        plots.save_study_figures({"toy": toy, "twelve_bit": {}}, None)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        plots.save_study_figures({"toy": toy, "twelve_bit": {}}, tmp_path / "a-file")
    assert os.listdir(tmp_path) == ["a-file"]  # nothing drawn or written before the checks
    written = plots.save_study_figures({"toy": toy, "twelve_bit": {}}, tmp_path / "new" / "figures")
    assert all(os.path.isfile(path) for path in written.values())  # a missing folder is created
