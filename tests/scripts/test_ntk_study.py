"""Tests of the NTK study modules, its figures, its benchmark functions and the ``python -m scripts.ntk_information`` command."""

import json
import math
import os

import numpy as np
import pytest

from scripts.lab.ntk_benchmark import add_shares, benchmark_markdown, ensemble_timings, kernel_timings, measure_peak
from scripts.lab.ntk_study import NTKStudySettings, centred_one_hot, markdown, render, study_times, task_curves
from vdualib.ntk import KernelEnsemble, kernels
from vdualib.ntk.information import information_curve
from vdualib.ntk.plots import plot_size_curves, plot_time_curves, size_times, time_positions
from vdualib.ntk.tasks import task_from_arrays

SMALL = NTKStudySettings(tasks=("12bit",), sizes={"12bit": (8, 16)}, num_test=12, num_times=3, depth=2)


@pytest.fixture(scope="module")
def small_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    return task_from_arrays(x, y, num_test=12, max_train=20, seed=1)


@pytest.fixture(scope="module")
def small_curves(small_task):
    return task_curves(small_task, (8, 16), SMALL)


def test_centred_one_hot_and_times():
    targets = centred_one_hot(np.array([0, 2, 1]), 3)
    np.testing.assert_allclose(targets.sum(axis=1), 0.0, atol=1e-15)
    assert targets[1, 2] == pytest.approx(2 / 3)
    times = study_times(NTKStudySettings(t_min=1.0, t_max=100.0, num_times=3))
    np.testing.assert_allclose(times, [1.0, 10.0, 100.0, np.inf])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sizes={"12bit": (16, 8), "mnist": (10,)}), "increasing"),
        (dict(t_min=10.0, t_max=1.0), "t_max"),
        (dict(activation="tanh"), "activation"),
        (dict(noise_variance=math.inf), "noise_variance"),
        (dict(tasks=("cifar",)), "tasks"),
    ],
)
def test_settings_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NTKStudySettings(**kwargs)


def test_task_curves_equal_a_direct_ensemble_on_each_prefix(small_task, small_curves):
    assert small_curves["sizes"] == [8, 16] and small_curves["num_classes"] == 2
    hyper = dict(depth=2, activation="relu", w_std=SMALL.w_std, b_std=SMALL.b_std)
    x, y = small_task.x_train[:16], small_task.y_train[:16]
    k, theta = kernels(x, None, **hyper)
    k_cross, theta_cross = kernels(small_task.x_test, x, **hyper)
    model = KernelEnsemble(k, theta, centred_one_hot(y, 2), k_cross, theta_cross, kernels(small_task.x_test, None, **hyper)[0])
    direct = information_curve(model, study_times(SMALL), y, small_task.y_test, noise_variance=SMALL.noise_variance,
                               num_draws=SMALL.num_draws, seed=SMALL.seed)
    curve = small_curves["curves"]["16"]
    for split in ("train", "test"):
        for key, values in direct[split].items():
            np.testing.assert_allclose(curve[split][key], values, rtol=1e-7, atol=1e-10, err_msg=f"{split} {key}")
    np.testing.assert_allclose(curve["prior_kl"], direct["prior_kl"], rtol=1e-7, atol=1e-10)
    assert curve["train"]["accuracy"][-1] == 1.0  # interpolates at t = inf
    with pytest.raises(ValueError, match="exceeds the training pool"):
        task_curves(small_task, (8, 64), SMALL)


def test_markdown_picks_best_accuracy_and_infinity(small_curves):
    data = {"settings": {"depth": 2, "noise_variance": 0.01, "activation": "relu"}, "datasets": {"toy": small_curves}}
    text = markdown(data)
    assert text.startswith("Infinite NTK ensembles (ReLU, depth 2, noise variance 0.01)")
    curve = small_curves["curves"]["8"]
    best = int(np.argmax(curve["test"]["accuracy"]))
    test = curve["test"]
    cell = f"{test['ixz_lower'][best]:.2f}-{test['ixz_upper'][best]:.2f}"
    assert f"| toy | 8 | best test accuracy | {curve['t'][best]:.3f} | {cell} |" in text
    assert "| toy | 16 | inf | inf |" in text
    assert len([line for line in text.splitlines() if line.startswith("| toy")]) == 4


@pytest.mark.slow
def test_figures_draw_every_size_and_time(small_curves):
    from vdualib.plotting import pyplot

    positions, infinity = time_positions([0.1, 1.0, 10.0, math.inf])
    np.testing.assert_allclose(positions, [0.1, 1.0, 10.0, 100.0])
    assert infinity == 100.0
    figure = plot_time_curves("toy", small_curves)
    ixz, izy, accuracy, kl = figure.axes[:4]
    assert ixz.get_title() == "I(X;Z) [bits]" and kl.get_yscale() == "log"
    assert len(accuracy.lines) == 5  # 2 sizes x (train, test), and the line before t = inf
    curve = small_curves["curves"]["16"]
    np.testing.assert_allclose(accuracy.lines[2].get_ydata(), curve["train"]["accuracy"])
    np.testing.assert_allclose(kl.lines[1].get_ydata(), np.maximum(curve["prior_kl"], 1e-3))
    midpoints = [(a + b) / 2 for a, b in zip(curve["test"]["ixz_lower"], curve["test"]["ixz_upper"])]
    np.testing.assert_allclose(ixz.lines[3].get_ydata(), midpoints)
    pyplot().close(figure)
    figure = plot_size_curves("toy", small_curves)
    assert len(figure.axes) == 4
    chosen = size_times(curve["t"])
    assert [label for _, _, label in chosen][-1] == "t=inf"
    np.testing.assert_allclose(figure.axes[2].lines[0].get_xdata(), [8, 16])
    index = chosen[0][0]
    np.testing.assert_allclose(figure.axes[3].lines[0].get_ydata(),
                               [small_curves["curves"][str(n)]["prior_kl"][index] / n for n in (8, 16)])
    pyplot().close(figure)


@pytest.mark.slow
def test_command_runs_renders_and_refuses(tmp_path, capsys):
    from matplotlib.image import imread

    from scripts import ntk_information

    args = ntk_information.build_parser().parse_args([])
    assert args.output_dir == ntk_information.DEFAULT_OUTPUT and args.output_dir.endswith(os.path.join("scripts", "results", "ntk"))
    assert ntk_information.settings_from_args(args) == NTKStudySettings()
    out = tmp_path / "ntk"
    status = ntk_information.main(["--datasets", "12bit", "--sizes-12bit", "8,16", "--num-test", "16",
                                   "--num-times", "3", "--depth", "1", "--output-dir", str(out)])
    assert status == 0
    with open(out / "ntk_information.json") as f:
        data = json.load(f)
    assert list(data["datasets"]) == ["12bit"] and data["datasets"]["12bit"]["sizes"] == [8, 16]
    assert data["settings"]["depth"] == 1
    with open(out / "ntk_information.md") as f:
        assert f.read() == markdown(data)
    assert imread(out / "12bit_time.png")[..., :3].std() > 0.05
    os.remove(out / "ntk_information.md")
    assert str(out / "ntk_information.md") in [str(p) for p in render(out)]
    assert ntk_information.main(["--sizes-12bit", "16,8", "--output-dir", str(tmp_path / "x")]) == 2
    assert "increasing" in capsys.readouterr().err
    assert not (tmp_path / "x" / "ntk_information.json").exists()
    (tmp_path / "file").write_text("")
    assert ntk_information.main(["--output-dir", str(tmp_path / "file"), "--render-only"]) == 2
    assert "existing file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        ntk_information.main(["--help"])
    assert exit_info.value.code == 0


def test_benchmark_functions_on_tiny_inputs():
    rng = np.random.default_rng(2)
    peak = measure_peak(64, 1, 0)
    assert peak["float64"]["gflops"] == pytest.approx(2 * 64**3 / peak["float64"]["seconds"] / 1e9)
    rows = kernel_timings(rng.normal(size=(30, 6)), depth=1, repeats=1)
    assert [r["dtype"] for r in rows] == ["float64", "float32"]
    assert rows[0]["gram_flops"] == 2.0 * 30 * 30 * 6  # one strip, every column
    ensemble = ensemble_timings(rng.normal(size=(20, 6)), np.arange(20) % 3, rng.normal(size=(7, 6)),
                                depth=1, num_times=5, repeats=1)
    assert ensemble["direct_vs_eigen_max_abs_difference"] < 1e-8  # the two routes agree
    assert [r["covariance"] for r in ensemble["rows"]] == ["diagonal", "full"] and ensemble["rows"][0]["times"] == 5
    data = add_shares({"peak": peak, "peak_after": peak, "kernels": rows, "ensemble": ensemble,
                       "provenance": {"machine": "test machine"}})
    assert data["reference_gflops"]["float64"] == peak["float64"]["gflops"]
    assert rows[0]["gram_share_of_peak"] == pytest.approx(rows[0]["gram_flops"] / rows[0]["gram_seconds"] / 1e9 / peak["float64"]["gflops"])
    text = benchmark_markdown(data)
    assert f"float64 {peak['float64']['gflops']:.1f} GFLOP/s" in text and "| float32 | 30 | 1 |" in text
