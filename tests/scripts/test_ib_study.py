"""The analytical study (vdualib.ib.study), its figures (vdualib.ib.plots) and the python -m scripts.analytic_toy command."""

import json
import os

import numpy as np
import pytest

from scripts import analytic_toy
from scripts.lab import ib_study as study
from vdualib import ib, plotting
from vdualib.ib import plots

N_BETAS = 48


@pytest.fixture(scope="module")
def record():
    """The study of the toy problem alone, on a coarse grid."""
    return study.run_study(n_betas=N_BETAS, conditionals=())


@pytest.mark.slow
def test_toy_record_holds_the_solvers_values(record):
    toy, pxy = record["toy"], ib.toy_problem().joint()
    betas = study.toy_betas(N_BETAS)
    np.testing.assert_allclose(toy["betas"], betas, rtol=1e-6)
    assert toy["maximal_correlation"] == pytest.approx(ib.maximal_correlation(pxy))
    assert toy["ib_beta0_one_over_rho_squared"] == pytest.approx(1 / ib.maximal_correlation(pxy) ** 2)
    for method in ("ib", "dualib"):
        sweep = ib.curve(pxy, betas, method=method)
        entry = toy[method]
        np.testing.assert_allclose(entry["ixt"], sweep.ixt, atol=5e-7)
        np.testing.assert_allclose(entry["ity"], sweep.ity, atol=5e-7)
        assert entry["n_clusters_effective"] == sweep.n_clusters_effective.tolist()
        assert entry["critical_betas"] == ib.critical_betas(sweep).betas.tolist()
        measures = ib.prediction_measures(pxy, sweep)
        np.testing.assert_allclose(entry["accuracy"], measures["accuracy"], atol=5e-6)
        assert sum(entry["origins"].values()) == N_BETAS and set(entry["origins"]) <= {"down", "up", "solve"}
        assert entry["hx"] == pytest.approx(np.log2(5)) and entry["ixy"] == pytest.approx(ib.mutual_information_bits(pxy))
    # beta = 2 (last) is below both first transitions: one cluster, whose decoder is the IB's
    # arithmetic mean p(y) or the dualIB's normalised geometric mean of p(y|x).
    py_x = pxy / pxy.sum(axis=1, keepdims=True)
    geometric = np.exp(np.log(py_x).mean(axis=0))
    assert toy["ib"]["cluster_p_y1"][-1] == [round(pxy.sum(axis=0)[1], 5)]
    assert toy["dualib"]["cluster_p_y1"][-1] == [round(geometric[1] / geometric.sum(), 5)]
    assert toy["ib"]["ixt"][-1] == 0.0 and toy["ib"]["n_clusters_effective"][-1] == 1
    # The IB's first split is at 1/rho^2 on this problem; the dualIB's comes earlier.
    lower, upper = toy["ib"]["critical_brackets"][0]
    assert lower <= toy["ib_beta0_one_over_rho_squared"] <= upper
    transitions = toy["first_transitions"]
    assert transitions["dualib_relative_to_ib"] == "earlier" and transitions["dualib"] < 0.9 * transitions["ib"]
    assert record["twelve_bit"] == {} and record["provenance"]["data_sha256"] is None
    assert record["settings"] == {"direction": "best", "max_iter": 10_000, "seed": 0}


def test_compare_first_transitions():
    def records(ib_first, dual_first):
        return {"ib": {"first_critical_beta": ib_first}, "dualib": {"first_critical_beta": dual_first}}

    assert study.compare_first_transitions(records(4.0, 3.0))["dualib_relative_to_ib"] == "earlier"
    assert study.compare_first_transitions(records(4.0, 5.0))["dualib_relative_to_ib"] == "later"
    assert study.compare_first_transitions(records(4.0, 4.0))["dualib_relative_to_ib"] == "at the same beta"
    assert study.compare_first_transitions(records(None, 4.0))["dualib_relative_to_ib"].startswith("undetermined")


@pytest.mark.slow
def test_record_round_trips_through_compact_json(record, tmp_path):
    path = study.write_record(record, tmp_path)
    assert path == os.path.join(tmp_path, study.RECORD_NAME)
    text = open(path, encoding="utf-8").read()
    assert text.count("\n") == 1 and '": ' not in text  # compact: one line, no spaces after keys
    assert json.loads(text) == study.read_record(tmp_path)
    assert study.read_record(tmp_path) == record  # every value is a plain JSON value
    with pytest.raises(FileNotFoundError, match="run the study first"):
        study.read_record(tmp_path / "empty")
    with pytest.raises(ValueError):  # JSON has no NaN: a NaN in a record is refused, not written
        study.write_record({"value": float("nan")}, tmp_path / "nan")
    assert not os.path.exists(tmp_path / "nan" / study.RECORD_NAME)


def test_logistic_conditional_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + rng.logistic(size=300) > 0).astype(int)
    l2 = 1e-2
    ours = study.logistic_conditional(x, y, l2=l2)
    # scikit-learn minimises C sum(log-loss) + |w|^2 / 2, with an unpenalised intercept (lbfgs).
    reference = LogisticRegression(C=1 / (2 * l2 * len(y)), tol=1e-12, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(ours, reference.predict_proba(x), atol=1e-5)
    for bad in (dict(x=x, y=y + 1), dict(x=x, y=y[:10]), dict(x=x, y=y, l2=float("nan"))):
        with pytest.raises(ValueError):
            study.logistic_conditional(**bad)


def test_twelve_bit_joints():
    from vdualib import datasets

    x, y = datasets.load_ib_12bit()
    noisy = study.twelve_bit_joint("label-noise", label_noise=0.01)
    expected = np.full((4096, 2), 0.005)
    expected[np.arange(4096), y] += 0.99
    np.testing.assert_allclose(noisy, expected / 4096, rtol=1e-12)
    logistic = study.twelve_bit_joint("logistic")
    np.testing.assert_allclose(logistic.sum(axis=1), 1 / 4096, rtol=1e-12)
    np.testing.assert_allclose(logistic * 4096, study.logistic_conditional(x, y), rtol=1e-12)
    assert np.all(logistic > 0)
    with pytest.raises(ValueError, match="conditional"):
        study.twelve_bit_joint("sigmoid")
    with pytest.raises(ValueError, match="label_noise"):
        study.twelve_bit_joint("label-noise", label_noise=0.0)
    with pytest.raises(ValueError, match="conditionals"):
        study.run_study(conditionals=("sigmoid",))


@pytest.mark.slow
def test_toy_figures_plot_the_record(record):
    toy = record["toy"]
    figure = plots.toy_information_figure(toy)
    curves, distortions, accuracy = figure.axes
    for line, method in zip(curves.lines, ("ib", "dualib")):
        np.testing.assert_allclose(line.get_xdata(), np.divide(toy[method]["ixt"], toy[method]["hx"]))
        np.testing.assert_allclose(line.get_ydata(), np.divide(toy[method]["ity"], toy[method]["ixy"]))
    np.testing.assert_allclose(distortions.lines[0].get_ydata(), toy["ib"]["dual_distortion"])
    np.testing.assert_allclose(distortions.lines[1].get_ydata(), toy["ib"]["ib_distortion"])
    np.testing.assert_allclose(accuracy.lines[1].get_ydata(), toy["dualib"]["accuracy"])
    np.testing.assert_allclose(accuracy.lines[1].get_xdata(), toy["betas"])
    plotting.pyplot().close(figure)

    figure = plots.toy_bifurcation_figure(toy)
    for ax, method in zip(figure.axes, ("ib", "dualib")):
        points = ax.lines[0]
        values = [value for values in toy[method]["cluster_p_y1"] for value in values]
        np.testing.assert_allclose(points.get_ydata(), values)
        assert points.get_xdata()[0] == toy["betas"][0]
        vertical = [line.get_xdata()[0] for line in ax.lines[1:]]
        np.testing.assert_allclose(vertical, toy[method]["critical_betas"] + [toy["ib_beta0_one_over_rho_squared"]])
    plotting.pyplot().close(figure)


def test_twelve_bit_figure_plots_each_construction():
    labels = np.array([0, 1, 1, 0, 1, 0])
    entry = study.problem_record(ib.joint_from_labels(labels, label_noise=0.01), np.geomspace(0.5, 50, 12),
                                 n_clusters=3, description={"conditional": "label-noise", "label_noise": 0.01})
    assert entry["n_clusters"] == 3 and entry["conditional"] == "label-noise"
    figure = plots.twelve_bit_figure({"label-noise": entry})
    curve_axis, accuracy_axis = figure.axes
    np.testing.assert_allclose(curve_axis.lines[0].get_xdata(), entry["ib"]["ixt"])
    np.testing.assert_allclose(curve_axis.lines[1].get_ydata(), entry["dualib"]["ity"])
    binary_entropy = -(0.005 * np.log2(0.005) + 0.995 * np.log2(0.995))
    assert curve_axis.lines[2].get_ydata()[0] == pytest.approx(1 - binary_entropy)  # I(X;Y): balanced labels, eps 0.01
    assert entry["ib"]["ity"][-1] == pytest.approx(entry["ib"]["ixy"], abs=1e-4)  # saturates at two clusters
    np.testing.assert_allclose(accuracy_axis.lines[0].get_ydata(), entry["ib"]["accuracy"])
    assert max(entry["ib"]["accuracy"]) == pytest.approx(0.995, abs=1e-5)  # Bayes accuracy 1 - eps/2
    plotting.pyplot().close(figure)
    with pytest.raises(ValueError, match="12-bit"):
        plots.twelve_bit_figure({})


@pytest.mark.slow
def test_save_study_figures_writes_pngs(record, tmp_path):
    from PIL import Image

    paths = plots.save_study_figures(record, tmp_path)
    assert set(paths) == {"toy_information", "toy_bifurcation"}  # no 12-bit task in this record
    for key, path in paths.items():
        assert os.path.basename(path) == plots.FIGURE_NAMES[key]
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 800 and image.height > 300
    assert sorted(os.listdir(tmp_path)) == sorted(plots.FIGURE_NAMES[key] for key in paths)  # no temporary files


@pytest.mark.slow
def test_command_runs_the_toy_study(tmp_path, capsys):
    out = tmp_path / "toy"
    assert analytic_toy.main(["--out", str(out), "--conditionals", "--n-betas", "24"]) == 0
    written = study.read_record(out)
    assert len(written["toy"]["betas"]) == 24 and written["toy"]["first_transitions"]["dualib_relative_to_ib"] == "earlier"
    assert sorted(os.listdir(out)) == sorted([study.RECORD_NAME, *list(plots.FIGURE_NAMES.values())[:2]])
    assert "1/rho^2 = 4.3655" in capsys.readouterr().out
    # --render-only redraws from the JSON without solving.
    os.remove(out / plots.FIGURE_NAMES["toy_bifurcation"])
    assert analytic_toy.main(["--out", str(out), "--render-only"]) == 0
    assert os.path.isfile(out / plots.FIGURE_NAMES["toy_bifurcation"])


def test_command_refuses_bad_output_before_work(tmp_path, capsys):
    existing = tmp_path / "file.txt"
    existing.write_text("not a folder")
    assert analytic_toy.main(["--out", str(existing)]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert analytic_toy.main(["--out", str(tmp_path / "empty"), "--render-only"]) == 2
    assert "run the study first" in capsys.readouterr().err
    assert analytic_toy.main(["--out", str(tmp_path / "x"), "--conditionals", "--n-betas", "0"]) == 2
    assert "n_betas" in capsys.readouterr().err


def test_command_help_and_default_output(capsys):
    with pytest.raises(SystemExit) as exit_info:
        analytic_toy.main(["--help"])
    assert exit_info.value.code == 0 and "--out" in capsys.readouterr().out


def test_the_command_writes_into_the_results_folder_by_default():
    assert analytic_toy.build_parser().parse_args([]).out == analytic_toy.DEFAULT_OUT
    assert analytic_toy.DEFAULT_OUT.endswith(os.path.join("scripts", "results", "ib"))