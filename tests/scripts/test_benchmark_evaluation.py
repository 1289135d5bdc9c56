"""Tests of ``python -m scripts.benchmark_evaluation``: its help and defaults (the committed run's settings),
the table re-rendered from the committed record, the table of a hand-made record, and a measurement with
the model, the data and the evaluation replaced (the split of the wall time and the target it checks)."""

import json
import os
import shutil

import pytest

import vdualib
from scripts import benchmark_evaluation as bench
from vdualib import reports

DEFAULT_OUT = bench.build_parser().parse_args([]).out
COMMITTED = os.path.join(DEFAULT_OUT, "benchmark.json")


def _record(**changes):
    record = {
        "config": {"method": "vib", "num_examples": 2000, "num_samples": 4, "severity": 5, "batch_size": 128,
                   "data_source": "canonical"},
        "timings_seconds": {"total": 10.0, "forward": 8.0, "metrics": 0.5, "corruptions": 1.0, "other": 0.5},
        "per_corruption_seconds": {"gaussian_noise": 0.25, "fog": 0.75},
        "metrics_and_corruptions_share": 0.15,
        "load_average_1min": {"before": 1.25, "after": 2.0},
        "provenance": {"machine": "x86_64, 8 CPU cores"},
    }
    record.update(changes)
    return record


def test_help_describes_the_benchmark(help_text):
    out = help_text(bench.main)
    assert out.startswith("usage: benchmark_evaluation")
    assert "Benchmark: where the time of a full evaluation goes." in out
    for option in ("--num-examples", "--num-samples", "--severity", "--batch-size", "--data-dir", "--render", "--out"):
        assert option in out


def test_the_defaults_are_the_committed_runs_settings():
    args = bench.build_parser().parse_args([])
    recorded = reports.read_json(COMMITTED)["config"]
    for key in ("num_examples", "num_samples", "severity", "batch_size"):
        assert getattr(args, key) == recorded[key], key
    assert DEFAULT_OUT == os.path.join(os.path.dirname(os.path.abspath(bench.__file__)), "results", "evaluation")


def test_a_severity_outside_1_to_5_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.build_parser().parse_args(["--severity", "6"])
    assert exit_info.value.code == 2 and "argument --severity: invalid choice: 6" in capsys.readouterr().err


def test_render_reproduces_the_committed_table(tmp_path, capsys):
    shutil.copy(COMMITTED, tmp_path / "benchmark.json")
    assert bench.main(["--render", "--out", str(tmp_path)]) == 0
    with open(os.path.join(DEFAULT_OUT, "benchmark.md"), encoding="utf-8") as committed:
        expected = committed.read()
    assert (tmp_path / "benchmark.md").read_text(encoding="utf-8") == expected
    assert expected in capsys.readouterr().out


def test_render_without_a_json_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark.json does not exist"):
        bench.main(["--render", "--out", str(tmp_path)])


def test_the_table_of_a_hand_made_record():
    text = bench.render_markdown(_record())
    assert text.startswith(
        "ResNet-20 VIB, 2,000 CIFAR-10 test images (canonical), 4 samples, clean + 2 corruptions at severity 5, "
        "batch 128, on x86_64, 8 CPU cores (shared, load average 1.2 before / 2.0 after). "
        "Metrics + corruptions: **15.0%** of the total (target < 10%).\n\n"
    )
    for line in ("| model forward passes (4 samples) | 8.000 | 80.0% |", "| metrics (incl. temperature scaling) | 0.500 | 5.0% |",
                 "| corruptions (2 families) | 1.000 | 10.0% |", "| other (data, bookkeeping) | 0.500 | 5.0% |",
                 "| total | 10.000 | 100.0% |", "| gaussian_noise | 0.25 |", "| fog | 0.75 |"):
        assert line in text.splitlines()


def test_an_older_record_without_method_or_load_renders_as_the_dualib_benchmark():
    record = _record(load_average_1min=None)
    del record["config"]["method"]
    record["config"]["data_source"] = "jpeg"
    text = bench.render_markdown(record)
    assert text.startswith("ResNet-20 VdualIB, 2,000 CIFAR-10 test images (the JPEG rendition),")
    assert "on x86_64, 8 CPU cores (shared). Metrics" in text


def test_measure_splits_the_wall_time_and_checks_the_target(tmp_path, monkeypatch):
    from vdualib import datasets

    clock = {"now": 100.0}
    loads = iter([1.5, 2.5])
    seen = {}

    class Model:
        def save(self, path):
            seen["saved"] = os.path.basename(path)
            open(path, "wb").close()

    def build_classifier(backbone, num_classes, method, num_samples, seed):
        seen["built"] = (backbone, num_classes, method, num_samples, seed)
        return Model()

    def evaluate(models, dataset, **settings):
        seen["evaluated"] = (models, dataset, settings)
        clock["now"] += 10.0
        return {
            "models": [{"timings_seconds": {"forward": 8.0, "metrics": 0.25}, "parameters": 309243}],
            "timings_seconds": {"corruptions": 0.5, "per_corruption": {"gaussian_noise": 0.125, "fog": 0.375}},
            "num_examples": 64, "data_source": "jpeg", "split": "test[:64]",
        }

    monkeypatch.setattr(datasets, "load", lambda name, data_dir=None: seen.setdefault("loaded", (name, data_dir)))
    monkeypatch.setattr(vdualib, "build_classifier", build_classifier)
    monkeypatch.setattr(bench.zoo, "load", lambda path: "untrained model")
    monkeypatch.setattr(bench.zoo, "describe", lambda path, model: ({"label": os.path.basename(path)}, None))
    monkeypatch.setattr(bench.evaluation, "evaluate", evaluate)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock["now"])
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (next(loads), 0.0, 0.0))
    args = bench.build_parser().parse_args(["--num-examples", "64", "--num-samples", "2", "--severity", "1",
                                            "--batch-size", "32", "--data-dir", "data", "--out", str(tmp_path)])
    bench.measure(args)
    assert seen["loaded"] == ("cifar10", "data")
    assert seen["built"] == ("resnet20", 10, "dualib", 2, 0) and seen["saved"] == "cifar10-dualib-resnet20-untrained.keras"
    models, dataset, settings = seen["evaluated"]
    assert models == [("untrained model", {"label": "cifar10-dualib-resnet20-untrained.keras"})] and dataset == "cifar10"
    assert settings == {"corruption_names": "all", "severities": [1], "num_samples": 2, "batch_size": 32, "limit": 64,
                        "data_dir": "data"}
    record = json.loads((tmp_path / "benchmark.json").read_text(encoding="utf-8"))
    assert record["timings_seconds"] == {"total": 10.0, "forward": 8.0, "metrics": 0.25, "corruptions": 0.5, "other": 1.25}
    assert record["metrics_and_corruptions_share"] == 0.075 and record["target_met"] is True
    assert record["target_share"] == 0.1
    assert record["config"] == {"model": "build_classifier('resnet20', 10, method='dualib')", "method": "dualib",
                                "parameters": 309243, "num_examples": 64, "num_samples": 2, "severity": 1,
                                "batch_size": 32, "data_source": "jpeg"}
    assert record["per_corruption_seconds"] == {"gaussian_noise": 0.125, "fog": 0.375}
    assert record["load_average_1min"] == {"before": 1.5, "after": 2.5}
    assert record["provenance"]["split"] == "test[:64]"
    assert "**7.5%** of the total" in bench.render_markdown(record)
