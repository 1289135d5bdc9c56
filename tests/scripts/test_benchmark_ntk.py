"""Tests of ``python -m scripts.benchmark_ntk``: its help and defaults (the committed run's settings), the
table re-rendered from the committed record, and a tiny end-to-end run on stand-in MNIST arrays (the
measurement functions themselves are tested in tests/scripts/test_ntk_study.py)."""

import json
import os
import shutil

import numpy as np

from scripts import benchmark_ntk as bench
from scripts.lab import ntk_benchmark
from vdualib import datasets, reports

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bench.__file__)))
RESULTS = os.path.join(ROOT, bench.DEFAULT_OUTPUT)


def test_help_describes_the_benchmark(help_text):
    out = help_text(bench.main)
    assert out.startswith("usage: benchmark_ntk")
    for option in ("--kernel-points", "--ensemble-points", "--num-times", "--peak-size", "--render-only", "--output-dir"):
        assert option in out


def test_the_defaults_are_the_committed_runs_settings(monkeypatch):
    captured = []
    monkeypatch.setattr(bench, "work", captured.append)
    assert bench.main([]) == 0
    recorded = reports.read_json(os.path.join(RESULTS, bench.JSON_NAME))["settings"]
    defaults = {key: value for key, value in vars(captured[0]).items() if key not in ("output_dir", "render_only")}
    assert defaults == recorded
    assert captured[0].output_dir == os.path.join("scripts", "results", "ntk")


def test_render_reproduces_the_committed_table(tmp_path):
    shutil.copy(os.path.join(RESULTS, bench.JSON_NAME), tmp_path)
    assert bench.main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    with open(os.path.join(RESULTS, "benchmark_ntk.md"), encoding="utf-8") as committed:
        assert (tmp_path / "benchmark_ntk.md").read_text(encoding="utf-8") == committed.read()


def test_render_without_a_json_says_so(tmp_path, capsys):
    assert bench.main(["--render-only", "--output-dir", str(tmp_path)]) == 2
    assert "benchmark_ntk.json does not exist" in capsys.readouterr().err


def test_a_tiny_run_writes_the_json_and_the_table(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40) % 10)
    test = (rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), np.arange(30) % 10)
    loaded = []
    monkeypatch.setattr(datasets, "load", lambda name, data_dir=None: loaded.append((name, data_dir)) or (train, test))
    argv = ["--kernel-points", "12", "--depth", "2", "--ensemble-points", "20", "--test-points", "8", "--num-times", "4",
            "--peak-size", "32", "--repeats", "1", "--seed", "3", "--data-dir", "data", "--output-dir", str(tmp_path)]
    assert bench.main(argv) == 0
    assert loaded == [("mnist", "data")]
    data = json.loads((tmp_path / bench.JSON_NAME).read_text(encoding="utf-8"))
    assert data["settings"] == {"kernel_points": 12, "depth": 2, "ensemble_points": 20, "test_points": 8, "num_times": 4,
                                "peak_size": 32, "repeats": 1, "seed": 3, "data_dir": "data"}
    assert [(row["dtype"], row["points"], row["input_dimension"], row["depth"]) for row in data["kernels"]] == [
        ("float64", 12, 784, 2), ("float32", 12, 784, 2)]
    assert [(row["covariance"], row["train_points"], row["test_points"], row["times"]) for row in data["ensemble"]["rows"]] == [
        ("diagonal", 20, 8, 4), ("full", 20, 8, 4)]
    for dtype in ("float64", "float32"):
        assert data["reference_gflops"][dtype] == max(data["peak"][dtype]["gflops"], data["peak_after"][dtype]["gflops"])
    assert all(row["gram_share_of_peak"] > 0 for row in data["kernels"])
    assert data["provenance"]["script"] == "scripts/benchmark_ntk.py"
    assert data["ensemble"]["direct_vs_eigen_max_abs_difference"] < 1e-6
    text = (tmp_path / "benchmark_ntk.md").read_text(encoding="utf-8")
    assert text == ntk_benchmark.benchmark_markdown(data)
    assert "| float32 | 12 | 2 |" in text and "| diagonal | 20 | 8 | 4 |" in text
