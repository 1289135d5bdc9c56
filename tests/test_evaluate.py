"""``vdualib-evaluate`` end to end on small saved models and a 500-example MNIST split, and the
evaluation library's pieces: prediction modes, one forward pass, input checks, the figures."""

import json
import os

import numpy as np
import pytest

from vdualib import datasets, evaluation, metrics, plotting, reports, zoo
from vdualib.commands import evaluate as evaluate_command

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"



def _load(path):
    """A saved model and what an evaluation records of it."""
    model = zoo.load(path)
    return model, zoo.describe(path, model)[0]


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, mnist):
    """A small VIB classifier and a plain Keras softmax network, briefly trained and saved."""
    import keras

    import vdualib
    from vdualib import models

    (x_train, y_train), _ = mnist
    folder = tmp_path_factory.mktemp("models")
    vib = vdualib.build_classifier(models.mlp_backbone(units=(32,)), 10, method="vib", latent_dim=8, num_samples=4, seed=0)
    vib.compile(optimizer=keras.optimizers.Adam(0.01))
    vib.fit(x_train[:1000], y_train[:1000], epochs=5, batch_size=100, verbose=0)
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
        "--compare", saved_models["vib"], saved_models["plain"], "--dataset", "mnist", "--limit", "500",
        "--corruptions", "gaussian_noise", "rotate", "--severities", "1", "4", "--ood", "fashion_mnist", "uniform",
        "--batch-size", "128", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert evaluate_command.main(argv) == 0
    return out


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
        for name in ("accuracy", "nll"):  # over both corruptions and both severities
            assert evaluation.examples.measure(record, f"shift_{name}") == pytest.approx(model["corruption_summary"]["mean"][name])
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


def test_report_and_pngs_are_rendered_from_json(run):
    for name in ("reliability", "corruption_accuracy", "corruption_ece", "ood_fashion_mnist", "ood_uniform"):
        with open(run / f"{name}.png", "rb") as f:
            assert f.read(8) == PNG_SIGNATURE
    report = (run / "report.md").read_text()
    assert "| small-vib | vib | 4 |" in report and "## Out-of-distribution detection" in report
    assert "Prediction (`samples`)" in report
    assert "regenerated" in report  # the corruption note
    assert "JPEG" not in report  # the CIFAR-10 note is for cifar10 only
    # Re-rendering from the JSON alone gives the same report.
    assert evaluation.render_report(run / "metrics.json", run) == report


def test_figures_show_the_numbers_of_the_json(run):
    """Each figure draws what metrics.json holds, and each PNG is a real picture."""
    import matplotlib.image

    results = reports.read_json(run / "metrics.json")
    vib, plain = results["models"]

    figure = evaluation.reliability_figure(results)
    axes = np.array(figure.axes).reshape(2, 3)  # two models plus the overlay column
    curve = vib["reliability"]
    filled = np.asarray(curve["count"]) > 0
    bars = axes[0, 0].patches[: int(filled.sum())]  # first the accuracy bars, then the gap bars
    np.testing.assert_allclose([b.get_height() for b in bars], np.asarray(curve["accuracy"], float)[filled], atol=1e-6)
    assert f"ECE {vib['clean']['ece']:.3f}" in axes[0, 0].get_title() and plain["label"] in axes[0, 1].get_title()
    shares = [b.get_height() for b in axes[1, 0].patches]
    np.testing.assert_allclose(shares, np.asarray(curve["count"]) / 500)

    figure = evaluation.corruption_figure(results, "ece")
    panels = {axis.get_title(): axis for axis in figure.axes if axis.get_visible()}
    assert set(panels) == {"gaussian noise", "rotate", "mean"}
    rotate = panels["rotate"].get_lines()
    assert [line.get_label() for line in rotate] == ["small-vib", "small-plain"]
    np.testing.assert_allclose(rotate[0].get_xdata(), [0, 1, 4])
    expected = [vib["clean"]["ece"], vib["corruptions"]["rotate"]["1"]["ece"], vib["corruptions"]["rotate"]["4"]["ece"]]
    np.testing.assert_allclose(rotate[0].get_ydata(), expected)

    figure = evaluation.ood_figure(results, "uniform")
    rate_panel = next(axis for axis in figure.axes if axis.get_title().startswith("small-vib: rate"))
    assert f"AUROC {vib['ood']['uniform']['rate']['auroc']:.3f}" in rate_panel.get_title()
    histogram = vib["ood"]["uniform"]["rate"]["histogram"]
    in_stairs = rate_panel.patches[0]
    np.testing.assert_allclose(in_stairs.get_data().values, np.asarray(histogram["in"]) / 500)
    plotting.pyplot().close("all")  # the figures above were inspected, not saved

    image = matplotlib.image.imread(run / "reliability.png")
    assert image.shape[0] > 300 and image.shape[1] > 800  # 2 rows x 3 columns at 110 dpi
    assert image[..., :3].std() > 0.05  # not a blank canvas


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
    model = zoo.load(path)
    info, card = zoo.describe(path, model)
    assert card is None and info["label"] == "tiny-cifar" and info["method"] == "keras"
    results = evaluation.evaluate([(model, info)], "cifar10", corruption_names="none", ood=["gaussian"], limit=64, progress=False)
    report = evaluation.write_report(results, tmp_path)
    assert results["corruptions"] == [] and results["ood_sets"] == ["gaussian"]
    assert ("JPEG" in report) == (results["data_source"] == "jpeg")
    assert ("JPEG" in report) == any(os.path.isfile(os.path.join(d, "cifar10-jpeg.zip")) for d in datasets.data_dirs())
    assert not os.path.exists(tmp_path / "corruption_ece.png")
    # the per-example record beside metrics.json, for paired intervals; metrics.json stays plain JSON
    labels, scores, record = evaluation.examples.read_examples(tmp_path / "examples.npz")
    assert record["models"] == ["tiny-cifar"] and record["sha256"]["tiny-cifar"] == info["sha256"]
    assert np.mean(scores["tiny-cifar"]["correct"]) == pytest.approx(results["models"][0]["clean"]["accuracy"])
    assert labels.size == 64 and "examples" not in reports.read_json(tmp_path / "metrics.json")
    evaluation.write_report({k: v for k, v in results.items() if k != "examples"}, tmp_path)
    assert not os.path.exists(tmp_path / "examples.npz")  # no stale record beside results without one


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


@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_unwritable_out_fails_before_any_model_is_loaded(tmp_path, saved_models, capsys, monkeypatch, kind):
    def refuse(*args, **kwargs):
        raise AssertionError("the output folder must be checked before any model is loaded or evaluated")

    monkeypatch.setattr(zoo, "resolve", refuse)
    monkeypatch.setattr(evaluation, "evaluate", refuse)
    existing = tmp_path / "taken"
    existing.write_text("a file, not a folder")
    out = existing if kind == "file" else existing / "report"
    assert evaluate_command.main(["--model", saved_models["plain"], "--dataset", "mnist", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err


def test_prediction_mu_is_the_decoder_at_the_mean(tmp_path, saved_models, mnist):
    """--prediction mu scores softmax(decoder(mu)) (S = 1) and says so in the JSON and the report."""
    _, (x_test, y_test) = mnist
    model, info = _load(saved_models["vib"])
    results = evaluation.evaluate(
        [(model, info)], "mnist", corruption_names="none", limit=300, prediction="mu", progress=False
    )
    scored = results["models"][0]
    assert results["prediction"] == "mu" and scored["num_samples_used"] == 1
    at_mu = model.predict_samples(x_test[:300], num_samples=0)[0]
    assert scored["clean"]["nll"] == pytest.approx(metrics.nll(at_mu, y_test[:300]), rel=1e-5)
    averaged = evaluation.evaluate([(model, info)], "mnist", corruption_names="none", limit=300, progress=False)
    assert averaged["models"][0]["num_samples_used"] == 4 and averaged["prediction"] == "samples"
    assert "Prediction (`mu`): softmax(decoder(mu(x)))" in evaluation.write_report(results, tmp_path)
    argv = ["--model", saved_models["vib"], "--dataset", "mnist", "--limit", "100", "--corruptions", "none",
            "--prediction", "mu", "--no-progress", "--out", str(tmp_path / "cli")]  # fmt: skip
    assert evaluate_command.main(argv) == 0
    assert reports.read_json(tmp_path / "cli" / "metrics.json")["prediction"] == "mu"


def test_zero_samples_is_never_recorded_as_the_sampling_mode(tmp_path, saved_models, capsys):
    """S = 0 is the decoder at mu: --num-samples 0 (or a model of its own num_samples=0) with
    --prediction samples is refused, not recorded as "samples" with the figures of "mu"."""
    argv = ["--model", saved_models["vib"], "--dataset", "mnist", "--limit", "100", "--corruptions", "none",
            "--no-progress", "--out", str(tmp_path), "--num-samples", "0"]  # fmt: skip
    assert evaluate_command.main(argv) == 2
    err = capsys.readouterr().err
    assert "num_samples=0 is the decoder at mu" in err and "--prediction mu" in err
    assert not os.path.exists(tmp_path / "metrics.json")
    model, info = _load(saved_models["vib"])
    model.num_samples = 0
    with pytest.raises(ValueError, match="small-vib predicts with the decoder at mu .*prediction='mu'"):
        evaluation.evaluate([(model, info)], "mnist", corruption_names="none", limit=50, progress=False)
    at_mu = evaluation.evaluate([(model, info)], "mnist", corruption_names="none", limit=50, prediction="mu", progress=False)
    assert at_mu["prediction"] == "mu"


def test_probabilities_and_rate_come_from_one_forward_pass(saved_models, mnist, monkeypatch):
    _, (x_test, _) = mnist
    model, _ = _load(saved_models["vib"])
    rate = model.per_example_rate(x_test[:200], num_samples=4)
    calls = []
    original = model.predict_samples

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "predict_samples", counted)
    out = evaluation.predict(model, x_test[:200], with_rate=True)
    assert len(calls) == 1 and calls[0]["return_rate"] is True
    assert out["sample_probs"].shape == (4, 200, 10) and out["probs"].shape == (200, 10)
    np.testing.assert_allclose(out["rate"], rate, rtol=1e-5)  # closed-form KL to N(0, I): no sampling noise
    np.testing.assert_allclose(out["probs"], out["sample_probs"].mean(0))


def test_images_scaled_to_unit_range_are_refused_not_misread(saved_models, mnist):
    """The images reach the model unchanged, so its pixel check refuses x / 255 instead of
    scoring it as near-black images."""
    (x_train, y_train), (x_test, _) = mnist
    model, info = _load(saved_models["vib"])
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        evaluation.predict(model, x_test[:50] / 255.0)
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        evaluation.evaluate(
            [(model, info)], "mnist", corruption_names="none", limit=50, progress=False,
            validation=(x_train[:100] / 255.0, y_train[:100]),
        )  # fmt: skip
    with pytest.raises(ValueError, match="validation labels"):
        evaluation.evaluate(
            [(model, info)], "mnist", corruption_names="none", limit=50, progress=False,
            validation=(x_train[:100], y_train[:100] - 1.5),
        )  # fmt: skip


def test_temperature_scaling_fitted_on_a_validation_split():
    from vdualib import calibration

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(600, 4)) * 3
    labels = np.array([rng.choice(4, p=np.exp(l) / np.exp(l).sum()) for l in logits / 3])  # true T = 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    result = evaluation.temperature_baseline(probs[200:], labels[200:], 15, 0, validation=(probs[:200], labels[:200]))
    assert result["fit_on"] == "validation"
    assert result["fit_examples"] == 200 and result["eval_examples"] == 400
    assert result["temperature"] == pytest.approx(calibration.fit_temperature(probs[:200], labels[:200]))
    assert 2.0 < result["temperature"] < 4.5
    assert result["after"]["ece"] < result["before"]["ece"]
    halves = evaluation.temperature_baseline(probs, labels, 15, 0)
    assert halves["fit_on"] == "half of test" and halves["eval_examples"] == 300
    # every prediction right: no temperature exists; the baseline says so instead of failing the evaluation
    perfect = np.eye(4)[labels] * 0.9 + 0.025
    unfitted = evaluation.temperature_baseline(perfect, labels, 15, 0)
    assert unfitted["temperature"] is None and unfitted["after"] is None
    assert "all 300 predictions are correct" in unfitted["not_fitted"]
    assert unfitted["before"]["accuracy"] == 1.0


def test_corruption_limit_corrupts_only_the_first_examples(tmp_path, saved_models, mnist):
    from vdualib import corruptions

    model, info = _load(saved_models["plain"])
    results = evaluation.evaluate(
        [(model, info)], "mnist", corruption_names=["rotate"], severities=[2], limit=300, corruption_limit=120,
        progress=False,
    )  # fmt: skip
    assert results["split"] == "test[:300]" and results["corruption_split"] == "test[:120]"
    _, (x_test, y_test) = mnist
    corrupted = corruptions.corrupt(x_test[:120], "rotate", 2, seed=0)
    expected = metrics.accuracy(model.predict(corrupted, verbose=0), y_test[:120])
    assert results["models"][0]["corruptions"]["rotate"]["2"]["accuracy"] == pytest.approx(expected)
    assert "test[:120]" in evaluation.write_report(results, tmp_path)
    with pytest.raises(ValueError, match="corruption_limit"):
        evaluation.evaluate([(model, info)], "mnist", corruption_limit=0, progress=False)


def test_an_unfittable_temperature_is_reported_not_fatal(tmp_path, saved_models):
    """30 test examples give halves of 15, below fit_temperature's minimum: the evaluation still
    reports every other metric and says why TS is missing."""
    model, info = _load(saved_models["plain"])
    results = evaluation.evaluate(
        [(model, info)], "mnist", corruption_names=["rotate"], severities=[1], limit=30, progress=False
    )
    scored = results["models"][0]
    assert scored["temperature_scaling"]["temperature"] is None
    assert scored["corruptions"]["rotate"]["1"]["ece_temperature_scaled"] is None
    assert scored["corruption_summary"]["mean"]["ece_temperature_scaled"] is None
    assert scored["corruption_summary"]["mean"]["accuracy"] == scored["corruptions"]["rotate"]["1"]["accuracy"]
    report = evaluation.write_report(results, tmp_path)
    assert "Temperature scaling of `small-plain` was not fitted: fit_temperature needs at least 20" in report


def test_prediction_at_mu_with_a_monte_carlo_rate(mnist):
    """The decoder at mu needs no samples, but a mixture prior's rate does: predict still gives both."""
    import vdualib
    from vdualib import models

    _, (x_test, _) = mnist
    model = vdualib.build_classifier(
        models.mlp_backbone(units=(16,)), 10, method="vib", latent_dim=4, num_samples=3, prior="mixture", seed=0
    )
    out = evaluation.predict(model, x_test[:64], num_samples=0, with_rate=True)
    assert out["sample_probs"].shape == (1, 64, 10) and out["rate"].shape == (64,)
    assert np.all(np.isfinite(out["rate"]))
    np.testing.assert_allclose(out["probs"], model.predict_samples(x_test[:64], num_samples=0)[0], rtol=1e-6)


@pytest.mark.slow
def test_an_options_object_and_keyword_settings_evaluate_alike(saved_models):
    import dataclasses

    model, info = _load(saved_models["plain"])
    settings = dict(corruption_names=["rotate"], severities=(2,), ood=("uniform",), limit=120, num_bins=5, progress=False)
    options = evaluation.EvaluationOptions(**settings)
    by_options = evaluation.evaluate([(model, info)], "mnist", options)
    by_keywords = evaluation.evaluate([(model, info)], "mnist", **settings)
    for key in ("num_examples", "corruptions", "severities", "ood_sets", "num_bins"):
        assert by_options[key] == by_keywords[key]
    assert by_options["num_examples"] == 120 and by_options["severities"] == [2] and by_options["num_bins"] == 5
    for part in ("clean", "corruptions", "ood"):
        same = [json.dumps(r["models"][0][part], default=lambda o: o.tolist()) for r in (by_options, by_keywords)]
        assert same[0] == same[1]
    assert list(by_options["models"][0]["corruptions"]["rotate"]) == ["2"]
    # a keyword overrides the object, which is left as it was
    fewer = evaluation.evaluate([(model, info)], "mnist", options, limit=60, corruption_names="none", ood=())
    assert fewer["num_examples"] == 60 and fewer["corruptions"] == [] and options.limit == 120
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.limit = 10
    with pytest.raises(ValueError, match="no setting num_bin; the settings are .*'num_bins'"):
        evaluation.evaluate([(model, info)], "mnist", options, num_bin=5)
    with pytest.raises(ValueError, match="options must be an EvaluationOptions, got dict"):
        evaluation.evaluate([(model, info)], "mnist", {"limit": 5})
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        evaluation.evaluate([(model, info)], "mnist", options, limit=0)
