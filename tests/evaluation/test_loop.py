"""The evaluation loop: prediction modes, one forward pass, input checks, temperature scaling,
corruption limits and the options object (on the ``saved_models`` of tests/conftest.py)."""

import json
import os

import numpy as np
import pytest

from vdualib import evaluation, metrics, reports, zoo
from vdualib.commands import evaluate as evaluate_command


def _load(path):
    """A saved model and what an evaluation records of it."""
    model = zoo.load(path)
    return model, zoo.describe(path, model)[0]


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_models_with_one_label_are_refused_before_any_work():
    from vdualib import evaluation

    pairs = [(object(), {"label": "model"}), (object(), {"label": "model"})]  # two run folders' model.keras
    with pytest.raises(ValueError, match=r"the models' labels \['model'\] repeat: .*give the files distinct names"):
        evaluation.evaluate(pairs, "mnist")
