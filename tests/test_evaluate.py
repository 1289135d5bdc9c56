"""The evaluation script end to end on small saved models and a 500-example MNIST split."""

import json
import os

import numpy as np
import pytest

from vdualib import datasets, evaluation, metrics, reports
from vdualib.scripts import evaluate as evaluate_script

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mnist():
    return datasets.load("mnist")


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, mnist):
    """A small VIB classifier and a plain Keras softmax network, briefly trained and saved."""
    import keras

    import vdualib
    from vdualib import models

    (x_train, y_train), _ = mnist
    folder = tmp_path_factory.mktemp("models")
    vib = vdualib.build_classifier(
        models.mlp_backbone(units=(32,)), 10, method="vib", latent_dim=8, num_samples=4, seed=0
    )
    vib.compile(optimizer="adam")
    vib.fit(x_train[:1000], y_train[:1000], epochs=1, batch_size=100, verbose=0)
    plain = keras.Sequential(
        [
            keras.Input((28, 28), dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="plain_softmax",
    )
    plain.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    plain.fit(x_train[:1000], y_train[:1000], epochs=3, batch_size=100, verbose=0)
    paths = {"vib": str(folder / "small-vib.keras"), "plain": str(folder / "small-plain.keras")}
    vib.save(paths["vib"])
    plain.save(paths["plain"])
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory, saved_models):
    out = tmp_path_factory.mktemp("evaluation")
    argv = [
        "--compare",
        saved_models["vib"],
        saved_models["plain"],
        "--dataset",
        "mnist",
        "--limit",
        "500",
        "--corruptions",
        "gaussian_noise",
        "rotate",
        "--severities",
        "1",
        "4",
        "--ood",
        "fashion_mnist",
        "uniform",
        "--batch-size",
        "128",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert evaluate_script.main(argv) == 0
    return out


def test_writes_valid_json_with_every_metric(run, saved_models, mnist):
    with open(run / "metrics.json", encoding="utf-8") as f:
        results = json.load(f, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert results["dataset"] == "mnist" and results["split"] == "test[:500]" and results["num_examples"] == 500
    assert results["provenance"]["vdualib_version"]
    assert results["corruptions"] == ["gaussian_noise", "rotate"] and results["severities"] == [1, 4]
    vib, plain = results["models"]
    assert (vib["label"], vib["method"], plain["label"], plain["method"]) == (
        "small-vib",
        "vib",
        "small-plain",
        "keras",
    )
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
    # The plain model is deterministic: its clean metrics must equal a direct computation.
    import keras

    _, (x_test, y_test) = mnist
    probs = keras.saving.load_model(saved_models["plain"], safe_mode=True).predict(x_test[:500], verbose=0)
    assert plain["clean"]["accuracy"] == pytest.approx(metrics.accuracy(probs, y_test[:500]))
    assert plain["clean"]["ece"] == pytest.approx(metrics.expected_calibration_error(probs, y_test[:500]), abs=1e-6)
    assert plain["clean"]["accuracy"] > 0.6  # trained a little: far above chance


def test_writes_report_and_pngs_rendered_from_json(run):
    for name in ("reliability", "corruption_accuracy", "corruption_ece", "ood_fashion_mnist", "ood_uniform"):
        with open(run / f"{name}.png", "rb") as f:
            assert f.read(8) == PNG_SIGNATURE
        assert os.path.getsize(run / f"{name}.png") > 10_000
    report = (run / "report.md").read_text()
    assert "| small-vib | vib | 4 |" in report and "## Out-of-distribution detection" in report
    assert "regenerated" in report  # the corruption note
    assert "JPEG" not in report  # the CIFAR-10 note is for cifar10 only
    # Re-rendering from the JSON alone gives the same report.
    assert evaluation.render_report(run / "metrics.json", run) == report


def test_cifar10_report_names_the_jpeg_rendition(tmp_path):
    import keras

    model = keras.Sequential(
        [
            keras.Input((32, 32, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = str(tmp_path / "tiny-cifar.keras")
    model.save(path)
    results = evaluation.evaluate(
        [evaluation.load_model(path)], "cifar10", corruption_names="none", ood=["gaussian"], limit=64, progress=False
    )
    report = evaluation.write_report(results, tmp_path)
    assert results["corruptions"] == [] and results["ood_sets"] == ["gaussian"]
    assert ("JPEG" in report) == (results["data_source"] == "jpeg")
    assert ("JPEG" in report) == any(os.path.isfile(os.path.join(d, "cifar10-jpeg.zip")) for d in datasets.data_dirs())
    assert not os.path.exists(tmp_path / "corruption_ece.png")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--corruptions", "saturate"], "do not apply"),
        (["--ood", "cifar10"], "same shape"),
        (["--num-bins", "0"], "num_bins"),
    ],
)
def test_bad_arguments_exit_with_a_clear_error(tmp_path, saved_models, capsys, extra, message):
    argv = ["--model", saved_models["plain"], "--dataset", "mnist", "--limit", "50", "--out", str(tmp_path), *extra]
    assert evaluate_script.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "metrics.json")


def test_missing_model_and_bad_severity(tmp_path, saved_models, capsys):
    missing = str(tmp_path / "missing.keras")
    assert evaluate_script.main(["--model", missing, "--dataset", "mnist", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_script.main(["--model", saved_models["plain"], "--dataset", "mnist", "--severities", "7"])


def test_temperature_scaling_fitted_on_a_validation_split():
    from vdualib import calibration
    from vdualib.evaluation import _temperature_baseline

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(600, 4)) * 3
    labels = np.array([rng.choice(4, p=np.exp(l) / np.exp(l).sum()) for l in logits / 3])  # true T = 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    result = _temperature_baseline(probs[200:], labels[200:], 15, 0, validation=(probs[:200], labels[:200]))
    assert result["fit_on"] == "validation"
    assert result["fit_examples"] == 200 and result["eval_examples"] == 400
    assert result["temperature"] == pytest.approx(calibration.fit_temperature(probs[:200], labels[:200]))
    assert 2.0 < result["temperature"] < 4.5
    assert result["after"]["ece"] < result["before"]["ece"]
    halves = _temperature_baseline(probs, labels, 15, 0)
    assert halves["fit_on"] == "half of test" and halves["eval_examples"] == 300


def test_corruption_limit_corrupts_only_the_first_examples(tmp_path, saved_models, mnist):
    from vdualib import corruptions

    model, info = evaluation.load_model(saved_models["plain"])
    results = evaluation.evaluate(
        [(model, info)], "mnist", corruption_names=["rotate"], severities=[2], limit=300, corruption_limit=120,
        progress=False,
    )
    assert results["split"] == "test[:300]" and results["corruption_split"] == "test[:120]"
    _, (x_test, y_test) = mnist
    corrupted = corruptions.corrupt(x_test[:120], "rotate", 2, seed=0)
    expected = metrics.accuracy(model.predict(corrupted, verbose=0), y_test[:120])
    assert results["models"][0]["corruptions"]["rotate"]["2"]["accuracy"] == pytest.approx(expected)
    assert "test[:120]" in evaluation.write_report(results, tmp_path)
    with pytest.raises(ValueError, match="corruption_limit"):
        evaluation.evaluate([(model, info)], "mnist", corruption_limit=0, progress=False)
