"""Tests of ``python -m scripts.benchmark_ib``: its defaults (the committed run's settings), the table it
renders from the committed record, its checks against the previous default, the scaling study's budget,
and a tiny end-to-end run (embo's timing replaced, so that the test does not need the [bench] extra)."""

import json
import os

import numpy as np
import pytest

from scripts import benchmark_ib as bench
from vdualib import ib

COMMITTED = os.path.join(bench.DEFAULT_OUT, "benchmark_ib.json")


def test_the_documented_command_repeats_the_committed_settings():
    defaults = vars(bench.build_parser().parse_args([]))
    recorded = json.load(open(COMMITTED, encoding="utf-8"))["settings"]
    for key in ("seed", "tol", "capped_max_iter", "fast_tol", "fast_max_iter", "stride", "repeats", "scaling_sizes",
                "embo_max_size", "scaling_budget"):
        assert defaults[key] == recorded[key], key


def test_render_reproduces_the_committed_table(tmp_path):
    bench.render(json.load(open(COMMITTED, encoding="utf-8")), tmp_path)
    with open(os.path.join(bench.DEFAULT_OUT, "benchmark_ib.md"), encoding="utf-8") as committed:
        assert (tmp_path / "benchmark_ib.md").read_text(encoding="utf-8") == committed.read()
    assert (tmp_path / "benchmark_ib_scaling.png").stat().st_size > 1000


def test_compare_with_reference_counts_betas_above_by_more_than_the_slack():
    previous = np.array([1.0, 2.0, 3.0])
    compared = bench.compare_with_reference(previous + np.array([-1e-3, 0.5e-9, 2e-9]), previous)
    assert compared["betas_above_previous_default"] == 1  # 0.5e-9 is within the 1e-9 bits of slack
    assert compared["lagrangian_above_previous_default_max"] == pytest.approx(2e-9)
    assert bench.compare_with_reference(previous, None) == {"lagrangian_above_previous_default_max": None,
                                                            "betas_above_previous_default": None}


def test_height_difference_is_taken_inside_the_reference_range_only():
    reference_ixt, reference_ity = np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.5, 0.6])
    points_ixt, points_ity = np.array([0.5, 1.5, 3.0, np.nan]), np.array([0.3, 0.5, 1.0, 0.2])
    np.testing.assert_allclose(bench.height_difference(reference_ixt, reference_ity, points_ixt, points_ity),
                               [0.3 - 0.25, 0.5 - 0.55])


def test_scaling_skips_a_size_predicted_to_overrun_its_budget(monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock["now"])

    def fake_curve(pxy, betas, method, settings, seed, repeats):
        seconds = 1e-4 * pxy.shape[0] ** 2 * betas.size  # the cost grows like |X|^2 per beta
        clock["now"] += seconds
        result = ib.curve(ib.toy_problem().joint(), [1.0, 2.0])
        return seconds, result

    monkeypatch.setattr(bench, "run_vdualib", fake_curve)
    monkeypatch.setattr(bench, "run_embo", lambda *args, **kwargs: (1.0, None, None))
    args = bench.build_parser().parse_args(["--scaling-sizes", "64", "128", "256", "--scaling-budget", "100",
                                            "--embo-max-size", "64"])
    rows = bench.run_scaling(args)
    assert [row["n_x"] for row in rows] == [64, 128, 256]
    # 64: 0.41 s/beta x 200 = 82 s; 128 predicted at 4x that: over the 100 s budget, so it and 256 are skipped
    assert "skipped" not in rows[0] and rows[0]["embo_seconds"] == 1.0
    assert "predicted to take" in rows[1]["skipped"] and "skipped" in rows[2]


@pytest.mark.filterwarnings("ignore:.*did not converge:RuntimeWarning")  # the capped fast row, by design
def test_a_tiny_run_writes_its_json_table_and_figure(monkeypatch, tmp_path, capsys):
    toy = ib.toy_problem().joint()
    monkeypatch.setattr(bench, "problems", lambda seed: {"toy 5x2, 12 betas": (toy, 2.0, 64.0, 12)})

    def fake_embo(pxy, beta_min, beta_max, n_betas, seed, repeats, blas_threads=None):
        sweep = ib.curve(pxy, np.linspace(beta_min, beta_max, n_betas), direction="down", seed=seed)
        return (0.5 if blas_threads is None else 0.25), sweep.ixt, sweep.ity

    monkeypatch.setattr(bench, "run_embo", fake_embo)
    monkeypatch.setattr(bench, "embo_version", lambda: "(replaced)")
    bench.main(["--out-dir", str(tmp_path), "--repeats", "1", "--scaling-sizes", "4", "8", "--embo-max-size", "4"])
    data = json.loads((tmp_path / "benchmark_ib.json").read_text(encoding="utf-8"))
    assert len(data["records"]) == 2 * len(bench.configurations(bench.build_parser().parse_args([])))
    default = next(row for row in data["records"] if row["method"] == "ib" and row["solver"].startswith("best (default)"))
    assert default["embo_seconds"] == 0.25 and default["speedup"] == pytest.approx(0.25 / default["vdualib_seconds"])
    assert default["vdualib_converged_fraction"] == 1.0 and default["unconverged"] == []
    # the same solver on embo's linear grid: its points lie on the curve, above vdualib's chords by little
    assert 0 <= default["embo_minus_vdualib_max"] < 1e-2 and default["embo_points_compared"] > 0
    assert default["betas_above_previous_default"] is None  # no reference in this folder
    assert [row["n_x"] for row in data["scaling"]] == [4, 8] and data["scaling"][1]["embo_seconds"] is None
    table = (tmp_path / "benchmark_ib.md").read_text(encoding="utf-8")
    assert "| toy 5x2, 12 betas | ib | best (default), tol 1e-08 |" in table and "### Cost against |X|" in table
    assert (tmp_path / "benchmark_ib_scaling.png").exists() and table in capsys.readouterr().out


def test_a_run_without_embo_says_how_to_install_it(monkeypatch, tmp_path):
    def missing(name):
        raise bench.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(bench.metadata, "version", missing)
    with pytest.raises(SystemExit, match=r"pip install -e '\.\[bench\]'"):
        bench.main(["--out-dir", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []  # nothing timed, nothing written
