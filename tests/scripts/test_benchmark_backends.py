"""Tests of ``python -m scripts.benchmark_backends``: its arguments, the table and sentences it
renders from a hand-made record, and (slow) a real run with tiny settings."""

import importlib.util
import json
import re
import sys

import pytest

from scripts import benchmark_backends as bb
from vdualib import reports


def _raw(tf_seconds=(0.02, 0.01), jax_seconds=(0.03, 0.005)):
    """A record as :func:`bb.measure` returns it: the MLP, two rounds per backend, the second
    the faster; training steps of the seconds given, predictions twice as long."""

    def worker(first_train, first_predict):
        return {
            "backend": "?", "dtype_policy": "float32", "jit_compile": {"mlp": False}, "python": "3.11.7",
            "packages": {"keras": "3.15.1", "tensorflow": "2.21.0", "jax": None, "jaxlib": None},
            "first_call_s": {"mlp": {"train_step": first_train, "prediction": first_predict}},
        }

    rounds = []
    for number in range(2):
        for backend, seconds in (("tensorflow", tf_seconds), ("jax", jax_seconds)):
            step = seconds[number]
            rounds.append({"round": number, "backend": backend, "load_average": 1.5,
                           "seconds": {"mlp": {"train_step": step, "prediction": 2 * step}}})
    return {
        "settings": {"backbones": ["mlp"], "warmup": 2, "cases": {"mlp": {"train_batch": 100, "predict_batch": 1000}},
                     "rounds": 2, "num_samples": 12, "method": "dualib", "latent_dim": 64, "dtype": "float32"},
        "workers": {"tensorflow": worker(1.0, 0.5), "jax": worker(4.0, 2.0)},
        "rounds": rounds,
        "load_average_start": [1.3, 1.0, 0.5],
        "load_average_end": [2.0, 1.5, 0.7],
        "cpu_count": 2,
        "elapsed_s": 90.0,
    }


def test_summarize_keeps_the_fastest_round_of_each_backend():
    train, predict = bb.summarize(_raw())
    assert train == {
        "backbone": "mlp", "measure": "train_step", "batch": 100,
        "tensorflow_s": 0.01, "tensorflow_median_s": pytest.approx(0.015), "tensorflow_first_call_extra_s": pytest.approx(0.99),
        "jax_s": 0.005, "jax_median_s": pytest.approx(0.0175), "jax_first_call_extra_s": pytest.approx(3.995),
        "jax_over_tensorflow": pytest.approx(0.5), "median_jax_over_tensorflow": pytest.approx(0.0175 / 0.015),
    }
    assert predict["batch"] == 1000 and predict["tensorflow_s"] == 0.02 and predict["jax_s"] == 0.01


@pytest.mark.parametrize(
    "ratio, sentence",
    [
        (0.25, "MLP training step: JAX is 4.00 times as fast as TensorFlow (JAX / TensorFlow = 0.250)."),
        (1.6, "MLP training step: TensorFlow is 1.60 times as fast as JAX (JAX / TensorFlow = 1.600)."),
        (1.0002, "MLP training step: the two backends take the same time (JAX / TensorFlow = 1.000)."),
        (None, "MLP training step: one backend measured, no ratio."),
    ],
)
def test_the_comparison_follows_the_ratio(ratio, sentence):
    assert bb.comparison({"backbone": "mlp", "measure": "train_step", "jax_over_tensorflow": ratio}) == sentence


def test_the_comparison_says_when_the_median_rounds_disagree():
    row = {"backbone": "resnet20", "measure": "prediction", "jax_over_tensorflow": 0.9, "median_jax_over_tensorflow": 0.95}
    assert bb.comparison(row) == "ResNet-20 12-sample prediction: JAX is 1.11 times as fast as TensorFlow (JAX / TensorFlow = 0.900)."
    row["median_jax_over_tensorflow"] = 1.2
    assert bb.comparison(row).endswith(
        "(JAX / TensorFlow = 0.900). The median rounds' ratio (1.200) says the opposite: the run does not tell them apart."
    )


@pytest.mark.parametrize("tf_seconds, jax_seconds, faster", [((0.02, 0.01), (0.03, 0.005), "JAX"), ((0.02, 0.01), (0.03, 0.04), "TensorFlow")])
def test_the_markdown_is_rendered_from_the_json(tmp_path, tf_seconds, jax_seconds, faster):
    record = bb.assemble(_raw(tf_seconds, jax_seconds))
    text = bb.write_outputs(tmp_path, record)
    saved = reports.read_json(tmp_path / "benchmark.json")
    assert (tmp_path / "benchmark.md").read_text() == text == bb.render(saved)
    for row in saved["results"]:
        cells = [row["backbone"], row["measure"], str(row["batch"])] + [
            f"{row[key]:.3f}" for key in ("tensorflow_s", "jax_s", "jax_over_tensorflow", "median_jax_over_tensorflow",
                                          "tensorflow_first_call_extra_s", "jax_first_call_extra_s")
        ]
        assert "| " + " | ".join(cells) + " |" in text
        ratio = row["jax_over_tensorflow"]
        assert f"{faster} is {max(ratio, 1 / ratio):.2f} times as fast" in text
    assert "fastest of 2 interleaved rounds" in text
    assert "1.3, 1.0, 0.5 before and 2.0, 1.5, 0.7 after, on 2 CPU cores; 1.5 minutes" in text
    assert saved["provenance"]["script"] == "scripts/benchmark_backends.py"
    # --render reads the JSON back and writes the same Markdown
    assert bb.main(["--render", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "benchmark.md").read_text() == text


def test_one_backend_renders_without_a_ratio(tmp_path):
    raw = _raw()
    raw["workers"].pop("jax")
    raw["rounds"] = [r for r in raw["rounds"] if r["backend"] == "tensorflow"]
    text = bb.render(bb.assemble(raw))
    assert "JAX" not in text.split("\n\n")[1]  # the table has TensorFlow's columns only
    assert "one backend measured, no ratio" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rounds", "0"], "benchmark_backends: error: --rounds must be a positive integer, got 0."),
        (["--warmup", "-1"], "benchmark_backends: error: --warmup must be a positive integer, got -1."),
    ],
)
def test_counts_below_one_are_refused_before_any_work(tmp_path, argv, message, capsys):
    assert bb.main([*argv, "--output-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rounds", "two"], "argument --rounds: invalid int value: 'two'"),
        (["--backends", "torch"], "argument --backends: invalid choice: 'torch'"),
        (["--backbones", "vgg"], "argument --backbones: invalid choice: 'vgg'"),
    ],
)
def test_bad_arguments_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bb.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_interpreter_without_the_backend_is_refused_before_any_work(tmp_path, capsys):
    missing = tmp_path / "python"
    assert bb.main(["--jax-python", str(missing), "--output-dir", str(tmp_path)]) == 2
    assert f"--jax-python '{missing}' is not an executable file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cannot import keras, no_such_backend and vdualib"):
        bb.check_interpreter(sys.executable, "no_such_backend")


def test_render_without_a_json_says_so(tmp_path, capsys):
    assert bb.main(["--render", "--output-dir", str(tmp_path)]) == 2
    assert "benchmark.json does not exist" in capsys.readouterr().err


def test_help_describes_the_benchmark(help_text):
    out = help_text(bb.main)
    assert "JAX time" in out and "--jax-python" in out and "--render" in out and "--worker" not in out


@pytest.mark.slow
def test_a_tiny_run_writes_the_json_and_the_markdown(tmp_path, capsys):
    backends = ["tensorflow", "jax"] if importlib.util.find_spec("jax") else ["tensorflow"]
    argv = ["--rounds", "2", "--warmup", "1", "--backbones", "mlp", "--backends", *backends, "--output-dir", str(tmp_path)]
    assert bb.main(argv) == 0
    record = json.loads((tmp_path / "benchmark.json").read_text())
    assert [r["backend"] for r in record["rounds"]] == (backends + backends[::-1])[: 2 * len(backends)]
    assert set(record["workers"]) == set(backends)
    assert record["workers"]["tensorflow"]["jit_compile"] == {"mlp": False}
    assert record["workers"]["tensorflow"]["packages"]["keras"]
    (train, predict) = record["results"]
    for row in (train, predict):
        assert row["tensorflow_s"] > 0 and row["tensorflow_first_call_extra_s"] > 0
    text = (tmp_path / "benchmark.md").read_text()
    assert re.search(r"\| mlp \| train_step \| 100 \| \d+\.\d{3} \|", text)
    assert text in capsys.readouterr().out
