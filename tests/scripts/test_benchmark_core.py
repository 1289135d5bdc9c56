"""Tests of ``python -m scripts.benchmark_core``: its help, its table re-rendered from the committed record
(whatever machine renders it), the interleaved rounds that keep each variant's fastest, and a whole
measurement with the timers replaced, so that no model is built."""

import json
import os
import shutil

import pytest

from scripts import benchmark_core as bench
from vdualib import reports

COMMITTED = os.path.join(bench.OUT, "benchmark.json")


def test_help_describes_the_ratios_and_render(help_text):
    out = help_text(bench.main)
    assert out.startswith("usage: benchmark_core")
    assert "--rounds" in out and "--render" in out and "target <= 1.10" in out


def test_a_run_measures_the_committed_number_of_rounds_and_writes_the_json_and_the_table(tmp_path, monkeypatch):
    record = reports.read_json(COMMITTED)
    asked = []
    monkeypatch.setattr(bench, "measure", lambda rounds: asked.append(rounds) or record)
    monkeypatch.setattr(bench, "OUT", str(tmp_path))
    assert bench.main([]) == 0
    assert asked == [record["rounds"]] == [5]
    assert json.loads((tmp_path / "benchmark.json").read_text(encoding="utf-8")) == record
    assert (tmp_path / "benchmark.md").read_text(encoding="utf-8") == bench.render(record)


def test_render_reproduces_the_committed_table(tmp_path, monkeypatch, capsys):
    shutil.copy(COMMITTED, tmp_path / "benchmark.json")
    monkeypatch.setattr(bench, "OUT", str(tmp_path))
    assert bench.main(["--render"]) == 0
    with open(os.path.join(os.path.dirname(COMMITTED), "benchmark.md"), encoding="utf-8") as committed:
        expected = committed.read()
    assert (tmp_path / "benchmark.md").read_text(encoding="utf-8") == expected
    assert expected in capsys.readouterr().out


def test_render_states_the_cores_of_the_measuring_machine(monkeypatch):
    record = reports.read_json(COMMITTED)
    assert record["provenance"]["machine"] == "x86_64, 2 CPU cores"
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert bench.render(record).endswith("Load average when the run started: 1.5 on 2 cores.\n")


def test_interleaved_rounds_alternate_the_variants_and_keep_each_fastest():
    calls = []
    seconds = {"a": iter([3.0, 1.0, 2.0]), "b": iter([0.5, 0.7, 0.6])}

    def timer(name):
        def run(work):
            calls.append((name, work))
            return next(seconds[name])

        return run

    assert bench._interleaved({"a": timer("a"), "b": timer("b")}, 3, 7) == {"a": 1.0, "b": 0.5}
    assert calls == [("a", 7), ("b", 7)] * 3


def test_measure_computes_the_ratios_from_the_fastest_rounds(monkeypatch):
    step = {
        ("mlp", "deterministic"): 0.010, ("mlp", "vib"): 0.011, ("mlp", "dualib"): 0.012,
        ("resnet20", "deterministic"): 0.20, ("resnet20", "vib"): 0.22, ("resnet20", "dualib"): 0.25,
    }
    variants = {("float32", False): 0.25, ("float32", True): 0.5, ("mixed_bfloat16", False): 0.2}
    built = []

    def train_step_timer(backbone, method, shape, batch, precision="float32", jit=False):
        built.append((backbone, method, shape, batch, precision, jit))
        seconds = step[backbone, method] if (precision, jit) == ("float32", False) else variants[precision, jit]
        rounds = iter([2 * seconds, seconds] * 10)  # the first round of each is disturbed
        return (lambda work: next(rounds)), {"deterministic": 100, "vib": 110, "dualib": 130}[method]

    def predict_timer(backbone, shape, batch, num_samples):
        seconds = {"mlp": 0.02, "resnet20": 0.25}[backbone] * (1.25 if num_samples == 12 else 1.0)
        return lambda work: seconds

    monkeypatch.setattr(bench, "_train_step_timer", train_step_timer)
    monkeypatch.setattr(bench, "_predict_timer", predict_timer)
    record = bench.measure(rounds=2)
    assert record["rounds"] == 2 and len(record["load_average_start"]) == 3
    mlp, resnet = record["train_step"]
    assert (mlp["backbone"], mlp["batch"], resnet["backbone"], resnet["batch"]) == ("mlp", 100, "resnet20", 128)
    assert mlp["deterministic_step_s"] == 0.010 and mlp["dualib_step_s"] == 0.012
    assert mlp["dualib_over_deterministic"] == pytest.approx(1.2)
    assert mlp["vib_over_deterministic"] == pytest.approx(1.1)
    assert resnet["dualib_over_deterministic"] == pytest.approx(1.25)
    assert (mlp["deterministic_graph_ops"], mlp["dualib_graph_ops"]) == (100, 130)
    assert record["prediction"] == [
        {"backbone": "mlp", "batch": 1000, "one_sample_s": 0.02, "twelve_samples_s": 0.025, "ratio": pytest.approx(1.25)},
        {"backbone": "resnet20", "batch": 500, "one_sample_s": 0.25, "twelve_samples_s": 0.3125, "ratio": pytest.approx(1.25)},
    ]
    assert record["resnet20_precision"] == [
        {"variant": "float32", "step_s": 0.25, "speed_vs_float32": 1.0},
        {"variant": "float32_jit", "step_s": 0.5, "speed_vs_float32": 0.5},
        {"variant": "mixed_bfloat16", "step_s": 0.2, "speed_vs_float32": 1.25},
    ]
    assert record["native_bfloat16"] in (True, False)
    assert ("mlp", "dualib", (28, 28), 100, "float32", False) in built
    assert ("resnet20", "dualib", (32, 32, 3), 128, "mixed_bfloat16", False) in built
    text = bench.render(record)
    assert "| mlp | 100 | 0.010 | 0.011 | 0.012 | 1.200 | 1.100 | 100 | 130 |" in text
    assert "| float32_jit | 0.500 | 0.500 |" in text
    assert ("lacks native bfloat16 arithmetic" in text) != record["native_bfloat16"]
    for native, said in ((True, "has native bfloat16 arithmetic"), (False, "TensorFlow emulates mixed_bfloat16 there")):
        assert said in bench.render(dict(record, native_bfloat16=native))
