"""Tests of ``python -m scripts.benchmark_information``: its help and defaults (the committed run's settings),
the two tables re-rendered from the committed record, and runs with the estimator study, the timings and
the 12-bit data replaced by stand-ins (what the JSON records, and what ``--skip-errors`` keeps)."""

import copy
import json
import os
import shutil

import numpy as np
import pytest

from scripts import benchmark_information as bench
from scripts.lab import information_benchmark
from vdualib import datasets, reports
from vdualib.information import estimator_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bench.__file__)))
RESULTS = os.path.join(ROOT, bench.DEFAULT_OUTPUT)
COMMITTED = reports.read_json(os.path.join(RESULTS, bench.JSON_NAME))


def _arguments(monkeypatch, argv):
    """The parsed arguments ``main`` hands to its work."""
    captured = []
    monkeypatch.setattr(bench, "work", captured.append)
    assert bench.main(argv) == 0
    return captured[0]


@pytest.fixture
def stand_ins(monkeypatch):
    """The expensive parts replaced: each call is recorded, and returns rows or timings of the committed record."""
    calls = {}

    def default_cases(noise_variance, truth_draws):
        calls["cases"] = (noise_variance, truth_draws)
        return ["case"]

    def fake_error(cases, sizes, repeats, progress=False):
        calls["errors"] = (cases, sizes, repeats)
        return copy.deepcopy(COMMITTED["errors"][:2])

    def fake_speed(repeats):
        calls["speed"] = repeats
        return {key: dict(value) for key, value in COMMITTED["speed"].items() if key != "twelve_bit_study"}

    def fake_overhead(x, y, epochs, repeats):
        calls["study"] = (x.shape, y.shape, epochs, repeats)
        return dict(COMMITTED["speed"]["twelve_bit_study"])

    def fake_load(data_dir=None):
        calls["data_dir"] = data_dir
        return np.zeros((16, 12), np.uint8), np.zeros(16, np.uint8)

    monkeypatch.setattr(estimator_error, "default_cases", default_cases)
    monkeypatch.setattr(estimator_error, "estimator_error", fake_error)
    monkeypatch.setattr(information_benchmark, "estimator_speed", fake_speed)
    monkeypatch.setattr(information_benchmark, "callback_overhead", fake_overhead)
    monkeypatch.setattr(datasets, "load_ib_12bit", fake_load)
    return calls


def test_help_describes_the_benchmark(help_text):
    out = help_text(bench.main)
    assert out.startswith("usage: benchmark_information")
    for option in ("--output-dir", "--sizes", "--repeats", "--skip-errors", "--render-only", "--study-epochs"):
        assert option in out


def test_the_defaults_are_the_committed_runs_settings(monkeypatch):
    args = _arguments(monkeypatch, [])
    recorded = {key: value for key, value in vars(args).items() if key not in ("output_dir", "data_dir", "render_only")}
    assert recorded == COMMITTED["config"]
    assert args.output_dir == os.path.join("scripts", "results", "information")


def test_render_reproduces_the_committed_tables(tmp_path):
    shutil.copy(os.path.join(RESULTS, bench.JSON_NAME), tmp_path)
    assert bench.main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    for name in ("estimator_error.md", "benchmark_information.md"):
        with open(os.path.join(RESULTS, name), encoding="utf-8") as committed:
            assert (tmp_path / name).read_text(encoding="utf-8") == committed.read(), name


def test_render_without_a_json_says_so(tmp_path, capsys):
    assert bench.main(["--render-only", "--output-dir", str(tmp_path)]) == 2
    assert "benchmark_information.json does not exist" in capsys.readouterr().err


def test_a_run_records_its_settings_results_and_tables(tmp_path, stand_ins):
    argv = ["--output-dir", str(tmp_path), "--data-dir", "data", "--sizes", "100", "--repeats", "2",
            "--noise-variance", "0.5", "--truth-draws", "1", "--timing-repeats", "1", "--study-epochs", "7",
            "--study-repeats", "1"]
    assert bench.main(argv) == 0
    assert stand_ins == {"cases": (0.5, 1), "errors": (["case"], [100], 2), "data_dir": "data", "speed": 1,
                         "study": ((16, 12), (16,), 7, 1)}
    data = json.loads((tmp_path / bench.JSON_NAME).read_text(encoding="utf-8"))
    assert data["config"] == {"sizes": [100], "repeats": 2, "noise_variance": 0.5, "truth_draws": 1, "timing_repeats": 1,
                              "study_epochs": 7, "study_repeats": 1, "skip_errors": False}
    assert data["errors"] == COMMITTED["errors"][:2] and data["speed"] == COMMITTED["speed"]
    assert data["provenance"]["data_split"] == "synthetic distributions; ib-12bit.npz for the study timing"
    errors = (tmp_path / "estimator_error.md").read_text(encoding="utf-8")
    assert errors == estimator_error.error_markdown(COMMITTED["errors"][:2], 2)
    assert errors.startswith("Estimator error against ground truth (bits; 2 seeds per row;")
    speed = (tmp_path / "benchmark_information.md").read_text(encoding="utf-8")
    assert speed == information_benchmark.speed_markdown(COMMITTED["speed"])


def test_skip_errors_keeps_the_error_rows_and_the_settings_they_were_measured_with(tmp_path, stand_ins):
    shutil.copy(os.path.join(RESULTS, bench.JSON_NAME), tmp_path)
    argv = ["--output-dir", str(tmp_path), "--skip-errors", "--repeats", "9", "--sizes", "50", "--timing-repeats", "2",
            "--study-epochs", "7"]
    assert bench.main(argv) == 0
    assert "errors" not in stand_ins and stand_ins["speed"] == 2 and stand_ins["study"][2] == 7
    data = json.loads((tmp_path / bench.JSON_NAME).read_text(encoding="utf-8"))
    assert data["errors"] == COMMITTED["errors"]
    for key in ("sizes", "repeats", "noise_variance", "truth_draws"):
        assert data["config"][key] == COMMITTED["config"][key], key
    assert (data["config"]["timing_repeats"], data["config"]["study_epochs"], data["config"]["skip_errors"]) == (2, 7, True)
    with open(os.path.join(RESULTS, "estimator_error.md"), encoding="utf-8") as committed:
        assert (tmp_path / "estimator_error.md").read_text(encoding="utf-8") == committed.read()


def test_skip_errors_without_a_previous_run_says_so(tmp_path, stand_ins, capsys):
    assert bench.main(["--output-dir", str(tmp_path), "--skip-errors"]) == 2
    assert "benchmark_information.json does not exist" in capsys.readouterr().err
    assert stand_ins == {} and not (tmp_path / bench.JSON_NAME).exists()
