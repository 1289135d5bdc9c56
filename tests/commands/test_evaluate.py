"""``vdualib-evaluate`` end to end on small saved models and a 500-example MNIST split (the
``saved_models`` and ``run`` fixtures of tests/conftest.py): what it writes and what it refuses."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from vdualib import evaluation, metrics, reports, zoo
from vdualib.commands import evaluate as evaluate_command


def _load(path):
    """A saved model and what an evaluation records of it."""
    model = zoo.load(path)
    return model, zoo.describe(path, model)[0]


@pytest.mark.slow
def test_writes_valid_json_with_every_metric(run, saved_models, mnist):
    with open(run / "metrics.json", encoding="utf-8") as f:
        results = json.load(f, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert results["dataset"] == "mnist" and results["split"] == "test[:500]" and results["num_examples"] == 500
    assert results["prediction"] == "samples"
    assert results["provenance"]["vdualib_version"]
    assert results["corruptions"] == ["gaussian_noise", "rotate"] and results["severities"] == [1, 4]
    vib, plain = results["models"]
    assert (vib["label"], vib["method"], plain["label"], plain["method"]) == ("small-vib", "vib", "small-plain", "keras")
    assert vib["sha256"] == reports.sha256_file(saved_models["vib"])
    assert vib["num_samples_used"] == 4 and plain["num_samples_used"] == 1
    for model in (vib, plain):
        assert set(model["clean"]) == {"accuracy", "nll", "brier", "ece", "mce", "adaptive_ece", "classwise_ece"}
        assert sum(model["reliability"]["count"]) == 500
        for name in ("gaussian_noise", "rotate"):
            assert set(model["corruptions"][name]) == {"1", "4"}
            assert {"accuracy", "ece", "ece_temperature_scaled"} <= set(model["corruptions"][name]["4"])
        assert model["temperature_scaling"]["fit_examples"] + model["temperature_scaling"]["eval_examples"] == 500
        for ood_name in ("fashion_mnist", "uniform"):
            for score in model["ood"][ood_name].values():
                assert 0.0 <= score["auroc"] <= 1.0 and 0.0 <= score["aupr"] <= 1.0
                assert sum(score["histogram"]["in"]) == 500 and sum(score["histogram"]["out"]) == 500
    assert set(vib["ood"]["uniform"]) == {"max_probability", "entropy", "mutual_information", "rate"}
    assert set(plain["ood"]["uniform"]) == {"max_probability", "entropy"}
    # the per-example record beside it gives back every measure the comparison gives an interval
    labels, scores, _ = evaluation.examples.read_examples(run / "examples.npz")
    assert labels.size == 500
    for model in (vib, plain):
        record = scores[model["label"]]
        for name in ("accuracy", "nll", "brier", "ece"):
            assert evaluation.examples.measure(record, name) == pytest.approx(model["clean"][name], abs=1e-12)
        for name in ("accuracy", "nll", "ece"):  # over both corruptions and both severities
            assert evaluation.examples.measure(record, f"shift_{name}") == pytest.approx(model["corruption_summary"]["mean"][name])
        assert record["shift_condition_confidence"].shape == (4, record["shift_correct"].size)  # 2 corruptions x 2 severities
        for ood_set in ("fashion_mnist", "uniform"):
            auroc = evaluation.examples.measure(record, f"auroc_{ood_set}_entropy")
            assert auroc == pytest.approx(model["ood"][ood_set]["entropy"]["auroc"])
    assert evaluation.examples.interval_available("auroc_uniform_rate", scores["small-vib"])
    # T was fitted on half of the test split, so the ECE after TS has no per-example record
    assert not evaluation.examples.interval_available("ece_after_ts", scores["small-vib"])
    # The plain model is deterministic: its clean metrics must equal a direct computation.
    _, (x_test, y_test) = mnist
    probs = zoo.load(saved_models["plain"]).predict(x_test[:500], verbose=0)
    assert plain["clean"]["accuracy"] == pytest.approx(metrics.accuracy(probs, y_test[:500]))
    assert plain["clean"]["ece"] == pytest.approx(metrics.expected_calibration_error(probs, y_test[:500]), abs=1e-6)
    assert plain["clean"]["accuracy"] > 0.6  # trained a little: far above chance


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--corruptions", "saturate"], "do not apply"),
        (["--ood", "cifar10"], "same shape"),
        (["--ood", "svhn"], "Unknown out-of-distribution set"),
        (["--num-bins", "0"], "num_bins"),
        (["--severities", "7"], "severities"),
        (["--batch-size", "0"], "batch_size"),
        (["--prediction", "mu", "--num-samples", "4"], "contradicts prediction='mu'"),
    ],
)
def test_bad_arguments_exit_with_a_clear_error(tmp_path, saved_models, capsys, extra, message):
    argv = ["--model", saved_models["plain"], "--dataset", "mnist", "--limit", "50", "--out", str(tmp_path), *extra]
    assert evaluate_command.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "metrics.json")


@pytest.mark.slow
def test_missing_model_and_unknown_prediction(tmp_path, saved_models, capsys):
    missing = str(tmp_path / "missing.keras")
    assert evaluate_command.main(["--model", missing, "--dataset", "mnist", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_command.main(["--model", saved_models["plain"], "--prediction", "median", "--out", str(tmp_path)])
    assert "invalid choice: 'median'" in capsys.readouterr().err
    model, info = _load(saved_models["plain"])
    with pytest.raises(ValueError, match="prediction must be 'mu' .* or 'samples'"):
        evaluation.evaluate([(model, info)], "mnist", prediction="median", progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_unwritable_out_fails_before_any_model_is_loaded(tmp_path, saved_models, capsys, monkeypatch, kind):
    def refuse(*args, **kwargs):
        raise AssertionError("the output folder must be checked before any model is loaded or evaluated")

    monkeypatch.setattr(zoo, "load", refuse)
    monkeypatch.setattr(evaluation, "evaluate", refuse)
    existing = tmp_path / "taken"
    existing.write_text("a file, not a folder")
    out = existing if kind == "file" else existing / "report"
    assert evaluate_command.main(["--model", saved_models["plain"], "--dataset", "mnist", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err


def test_help_and_what_is_refused_before_any_model_is_read(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_command.main(["--help"])
    assert exit_info.value.code == 0
    assert "--compare" in capsys.readouterr().out
    assert evaluate_command.main(["--model", str(tmp_path / "missing.keras"), "--dataset", "mnist", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_command.main(["--model", "mnist-vib-mlp", "--prediction", "median", "--out", str(tmp_path)])
    assert "invalid choice: 'median'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "metrics.json")


_EVALUATE = """
import sys
from vdualib.commands import evaluate
sys.exit(evaluate.main(["--model", "mnist-dualib-mlp", "--prediction", sys.argv[2], "--limit", "1000",
                        "--corruptions", "gaussian_noise", "--severities", "3", "--corruption-limit", "500",
                        "--no-progress", "--out", sys.argv[1]]))
"""


@pytest.mark.slow
@pytest.mark.cross_backend
def test_the_evaluation_of_a_zoo_model_is_the_same_on_jax(tmp_path):
    """``vdualib-evaluate`` on Keras' JAX backend: at mu (deterministic) the clean and corrupted
    metrics of TensorFlow's evaluation to 1e-5; with 12 encoder samples (other random draws) the
    accuracy within two points and the ECE within its sampling noise."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed in this environment (pip install '.[jax]'); CI runs this test in its JAX one")
    results = {}
    for keras_backend in ("tensorflow", "jax"):
        for prediction in ("mu", "samples"):
            out = tmp_path / f"{keras_backend}-{prediction}"
            done = subprocess.run([sys.executable, "-c", _EVALUATE, str(out), prediction], capture_output=True,
                                  text=True, env=dict(os.environ, KERAS_BACKEND=keras_backend))
            assert done.returncode == 0, done.stderr[-3000:]
            with open(out / "metrics.json", encoding="utf-8") as handle:
                (results[keras_backend, prediction],) = json.load(handle)["models"]
    for name in ("accuracy", "nll", "brier", "ece"):
        for part in ("clean", "corruption_summary"):
            on_tf, on_jax = results["tensorflow", "mu"][part], results["jax", "mu"][part]
            if part == "corruption_summary":
                on_tf, on_jax = on_tf["3"], on_jax["3"]
            assert on_jax[name] == pytest.approx(on_tf[name], abs=1e-5), (part, name)
    on_tf, on_jax = results["tensorflow", "samples"]["clean"], results["jax", "samples"]["clean"]
    assert on_jax["accuracy"] == pytest.approx(on_tf["accuracy"], abs=0.02)
    assert on_jax["ece"] == pytest.approx(on_tf["ece"], abs=0.02)
