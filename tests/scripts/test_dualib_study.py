import json
import math
import os

import numpy as np
import pytest

from scripts.lab import dualib_study
from vdualib import corruptions, datasets, recipes, reports, training

#: what the arms table decides for each ablation: the fields of the one ingredient it drops
INGREDIENT_FIELDS = {
    "dualib-smoothing": {"label_noise", "label_smoothing"},
    "dualib-standard-prior": {"prior"},
    "dualib-no-warmup": {"distortion_warmup", "distortion_warmup_steps"},
}
TINY = {"epochs": 1, "train_size": 200, "validation_size": 100, "batch_size": 50, "latent_dim": 16}


def _differing(a, b):
    return {key for key in set(a) | set(b) if a.get(key) != b.get(key)}


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_arms_table_gives_the_recipes_of_the_issue(dataset):
    recipe = {arm: dualib_study.arm_recipe(arm, dataset, seed=2) for arm in dualib_study.ARM_NAMES}
    paper = recipe["dualib-paper"]
    assert paper["method"] == "dualib" and paper["label_noise"] == "confusion" and paper["prior"] == "class_conditional"
    assert paper["distortion_warmup"] == 0.1 and paper["beta"] == 1e-3 and paper["seed"] == 2
    reference = {"mnist": "mnist-deterministic-mlp", "fashion_mnist": "fashion-mnist-deterministic-convnet"}[dataset]
    assert paper["label_noise_reference"] == reference
    # the warm-up lasts a quarter of the run's steps
    examples = paper["train_size"] or 55000
    steps = paper["epochs"] * (examples // paper["batch_size"])
    assert paper["distortion_warmup_steps"] == round(0.25 * steps)
    # each ablation differs from the paper's recipe in exactly its ingredient
    for arm, fields in INGREDIENT_FIELDS.items():
        assert _differing(recipe[arm], paper) == fields, arm
    assert recipe["dualib-smoothing"]["label_smoothing"] == 0.02
    assert recipe["dualib-standard-prior"]["prior"] == "standard_normal"
    assert recipe["dualib-no-warmup"]["distortion_warmup"] == 0.0
    # the VIB on the same p~ shares p~, its reference, the prior and beta; it has no warm-up
    same = recipe["vib-same-noise"]
    for key in ("label_noise", "label_noise_reference", "label_noise_mixing", "prior", "beta"):
        assert same[key] == paper[key], key
    assert _differing(same, paper) == {"method", "distortion_warmup", "distortion_warmup_steps"}
    assert recipe["vib"]["label_noise"] == "none" and recipe["vib"]["prior"] == "standard_normal"
    assert recipe["vib"]["beta"] == paper["beta"] and recipe["deterministic"]["method"] == "deterministic"
    # one schedule shared by every arm
    for key, value in dualib_study.SCHEDULES[dataset].items():
        assert {json.dumps(r[key]) for r in recipe.values()} == {json.dumps(value)}, key
    for key in ("optimizer", "learning_rate", "batch_size", "augment", "backbone_width", "latent_dim"):
        assert len({json.dumps(r[key]) for r in recipe.values()}) == 1, key


def test_the_full_schedule_is_the_zoo_recipe_of_each_arm():
    zoo_names = {"deterministic": "deterministic", "vib": "vib", "dualib-paper": "dualib"}
    for arm in dualib_study.FULL_ARMS:
        recipe = dualib_study.arm_recipe(arm, "fashion_mnist", seed=0, schedule=dualib_study.FULL)
        assert recipe["epochs"] == 40 and recipe["backbone_width"] == 2.0 and recipe["augment"] == "crop_flip"
        if arm in zoo_names:  # seed 0 of these arms is the zoo model
            zoo_recipe = recipes.get_recipe(f"fashion-mnist-{zoo_names[arm]}-convnet")
            assert recipes.differences(recipe, zoo_recipe) == {}, arm
    paper = dualib_study.arm_recipe("dualib-paper", "fashion_mnist", seed=2, schedule=dualib_study.FULL)
    assert paper["distortion_warmup_steps"] * paper["batch_size"] == 4000 * 64 and paper["seed"] == 2
    same = dualib_study.arm_recipe("vib-same-noise", "fashion_mnist", seed=1, schedule=dualib_study.FULL)
    assert (same["method"], same["label_noise"], same["prior"], same["distortion_warmup"]) == ("vib", "confusion", "class_conditional", 0.0)
    assert same["label_noise_reference"] == "fashion-mnist-deterministic-convnet"
    with pytest.raises(ValueError, match="full schedule is run on"):
        dualib_study.arm_recipe("vib", "mnist", schedule=dualib_study.FULL)
    with pytest.raises(ValueError, match="full schedule runs the arms"):
        dualib_study.arm_recipe("dualib-no-warmup", "fashion_mnist", schedule=dualib_study.FULL)


def test_arms_table_refuses_what_it_does_not_decide():
    with pytest.raises(ValueError, match="Unknown arm"):
        dualib_study.arm_recipe("dualib-paper-v2", "mnist")
    with pytest.raises(ValueError, match="may not set"):
        dualib_study.arm_recipe("vib", "mnist", schedule={"epochs": 1, "prior": "mixture"})
    with pytest.raises(ValueError, match="no schedule"):
        dualib_study.arm_recipe("vib", "cifar10")
    # a p~ reference of one's own reaches only the arms with confusion noise
    assert dualib_study.arm_recipe("dualib-paper", "mnist", reference="r/model.keras")["label_noise_reference"] == "r/model.keras"
    assert dualib_study.arm_recipe("vib", "mnist", reference="r/model.keras")["label_noise_reference"] == ""
    # the shift corruptions apply to grayscale and colour images alike (MNIST and CIFAR-10 rows)
    for grayscale in (True, False):
        assert set(dualib_study.SHIFT_CORRUPTIONS) <= set(corruptions.corruption_names(grayscale))


class _StubModel:
    """Predicts class ``image[0, 0] % 10`` with probability ``image[0, 1] / 255``, the rest spread evenly."""

    def predict(self, images, batch_size=None, verbose=0):
        images = np.asarray(images)
        predicted, confidence = images[:, 0, 0] % 10, images[:, 0, 1] / 255.0
        probs = np.repeat(((1 - confidence) / 9)[:, None], 10, axis=1)
        probs[np.arange(len(images)), predicted] = confidence
        return probs


def _images(rng, n):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, 0, 1] = rng.choice([128, 230, 250], n)  # confidence 0.50, 0.90, 0.98
    return images


def test_confident_train_errors_against_a_hand_count_on_a_stub_model():
    rng = np.random.default_rng(0)
    x_all, x_test = _images(rng, 300), _images(rng, 120)
    # the stub is right on about 70% of the examples
    y_all = np.where(rng.random(300) < 0.7, x_all[:, 0, 0] % 10, rng.integers(0, 10, 300))
    y_test = np.where(rng.random(120) < 0.7, x_test[:, 0, 0] % 10, rng.integers(0, 10, 120))
    sets = dualib_study.EvaluationSets(
        dataset="mnist",
        train=(x_all, y_all),
        test=(x_test, y_test),
        shifted={"contrast": x_test[:40]},
        shifted_labels=y_test[:40],
        ood={"fashion_mnist": _images(rng, 120)},
        description={},
    )
    recipe = dualib_study.arm_recipe("deterministic", "mnist", seed=3, schedule={"train_size": 150, "validation_size": 60})
    rows = dualib_study.evaluate_model(_StubModel(), recipe, sets, "stub")
    # by hand: the training examples are the first 150 after holding out 60 (seed 3)
    train_index, _ = datasets.validation_indices(300, 60, 3)
    train_index = train_index[:150]
    predicted, confidence = x_all[train_index, 0, 0] % 10, x_all[train_index, 0, 1] / 255.0
    expected = sum(1 for p, c, y in zip(predicted, confidence, y_all[train_index]) if p != y and c > 0.9)
    assert 0 < expected < 150
    assert [r["prediction"] for r in rows] == ["mu", "samples"]
    for row in rows:
        assert row["confident_train_errors"] == expected and row["train_examples"] == 150
        assert row["accuracy"] == pytest.approx(np.mean(x_test[:, 0, 0] % 10 == y_test))
        assert row["temperature"] is not None and row["ece_after_ts"] is not None
    assert dualib_study.count_confident_errors(np.array([[0.95, 0.05], [0.9, 0.1], [0.02, 0.98]]), [1, 1, 1]) == 1
    with pytest.raises(ValueError):
        dualib_study.count_confident_errors(np.array([[0.5, 0.5]]), [0, 1])


def _rows(dataset, arm, measure_values, prediction="mu"):
    """One row per seed; ``measure_values`` maps a measure to the per-seed values."""
    seeds = len(next(iter(measure_values.values())))
    base = {m: 0.5 for m in dualib_study.MEASURES}
    return [
        dict(base, dataset=dataset, arm=arm, seed=s, prediction=prediction, **{m: v[s] for m, v in measure_values.items()})
        for s in range(seeds)
    ]


def test_verdict_rule_on_hand_made_rows():
    rows = (
        # ECE: 0.02 +- 0.01 against 0.05 +- 0.01: the gap 0.03 exceeds the spread 0.02: better
        # accuracy: 0.95 +- 0.01 against 0.98 +- 0.01: worse; nll: a gap of 0.1 within the spread 0.2: undecided
        _rows("mnist", "dualib-paper", {"ece": [0.01, 0.02, 0.03], "accuracy": [0.94, 0.95, 0.96], "nll": [0.2, 0.3, 0.4]})
        + _rows("mnist", "vib-same-noise", {"ece": [0.04, 0.05, 0.06], "accuracy": [0.97, 0.98, 0.99], "nll": [0.3, 0.4, 0.5]})
        + _rows("mnist", "dualib-no-warmup", {"ece": [0.05, 0.06, 0.07], "accuracy": [0.94, 0.95, 0.96], "nll": [0.2, 0.3, 0.4]})
        + _rows("mnist", "dualib-smoothing", {"ece": [0.01, 0.02, 0.03], "accuracy": [0.97, 0.98, 0.99], "nll": [0.2, 0.3, 0.4]})
    )
    summary = dualib_study.summarize(rows)
    stats = summary["mnist"]["mu"]
    assert stats["dualib-paper"]["ece"]["mean"] == pytest.approx(0.02) and stats["dualib-paper"]["ece"]["std"] == pytest.approx(0.01)
    assert dualib_study.verdict(stats["dualib-paper"]["ece"], stats["vib-same-noise"]["ece"], "ece") == "better"
    assert dualib_study.verdict(stats["dualib-paper"]["accuracy"], stats["vib-same-noise"]["accuracy"], "accuracy") == "worse"
    assert dualib_study.verdict(stats["vib-same-noise"]["accuracy"], stats["dualib-paper"]["accuracy"], "accuracy") == "better"
    assert dualib_study.verdict(stats["dualib-paper"]["nll"], stats["vib-same-noise"]["nll"], "nll") == "undecided"
    # the rule is strict: a gap of exactly the spread (numbers exact in binary) is undecided
    a, b = {"mean": 0.25, "std": 0.25, "n": 3}, {"mean": 0.75, "std": 0.25, "n": 3}
    assert dualib_study.verdict(a, b, "nll") == "undecided"
    assert dualib_study.verdict(dict(a, mean=0.2), b, "nll") == "better"
    assert dualib_study.verdict(dict(a, mean=0.2), b, "accuracy") == "worse"
    one_seed = {"mean": 0.0, "std": None, "n": 1}
    assert dualib_study.verdict(one_seed, {"mean": 1.0, "std": None, "n": 1}, "ece") == "undecided"
    found = dualib_study.verdicts(summary, "mnist", "mu")
    assert found["pair"] == ["dualib-paper", "vib-same-noise"]
    assert found["measures"]["ece"]["main"] == "better" and found["measures"]["accuracy"]["main"] == "worse"
    # dropping the warm-up raises the ECE beyond the spread; smoothing changes nothing there
    assert found["measures"]["ece"]["ablations"] == {"dualib-smoothing": "undecided", "dualib-no-warmup": "better"}
    assert found["carried_by"]["ece"] == ["cross-entropy warm-up"]
    # the accuracy lost to vib-same-noise comes back with smoothing instead of confusion p~
    assert found["measures"]["accuracy"]["ablations"] == {"dualib-smoothing": "worse", "dualib-no-warmup": "undecided"}
    assert found["carried_by"]["accuracy"] == ["confusion p~"] and found["carried_by"]["nll"] == []
    assert dualib_study.verdicts(summary, "mnist", "samples") is None
    block = dualib_study.readme_block({"runs": rows})
    assert "better on ece 0.0200 ± 0.0100 vs 0.0500 ± 0.0100, carried by cross-entropy warm-up" in block
    assert "worse on accuracy 0.9500 ± 0.0100 vs 0.9800 ± 0.0100, carried by confusion p~." in block
    assert "Within the seed spread: nll" in block


def test_rows_that_are_not_the_studys_are_refused():
    good = {"dataset": "mnist", "arm": "vib", "seed": 0, "prediction": "mu", "accuracy": 0.9, "ece_after_ts": None}
    assert dualib_study.summarize([good])["mnist"]["mu"]["vib"]["accuracy"]["mean"] == 0.9
    bad_rows = {
        "must be a list": None,
        "must be a dict": ["row"],
        "lacks \\['prediction'\\]": [{k: v for k, v in good.items() if k != "prediction"}],
        "prediction must be one of": [dict(good, prediction="median")],
        "seed": [dict(good, seed=-1)],
        "non-empty strings": [dict(good, arm="")],
        "accuracy must be a finite number": [dict(good, accuracy=float("nan"))],
        "ece must be a finite number": [dict(good, ece="0.1")],
    }
    for message, rows in bad_rows.items():
        with pytest.raises(ValueError, match=message):
            dualib_study.summarize(rows)
    for study in (None, {}, {"runs": [good]}):
        with pytest.raises(ValueError, match="study's record"):
            dualib_study.report_markdown(study)
        with pytest.raises(ValueError, match="study's record"):
            dualib_study.study_figure(study)


def test_report_renders_and_the_figure_draws_the_seed_spread(tmp_path):
    rows = []
    for prediction in dualib_study.PREDICTIONS:
        rows += _rows("mnist", "dualib-paper", {"accuracy": [0.97, 0.98, 0.99], "ece": [0.01, 0.03, 0.05]}, prediction)
        rows += _rows("mnist", "vib-same-noise", {"accuracy": [0.96, 0.97, 0.98], "ece": [0.02, 0.02, 0.02]}, prediction)
        rows += _rows("cifar10", "dualib", {"accuracy": [0.9], "ece": [0.05]}, prediction)
        rows += _rows("cifar10", "vib", {"accuracy": [0.91], "ece": [0.03]}, prediction)
    study = {"runs": rows, "datasets": {}, "protocol": dualib_study.protocol(), "provenance": reports.provenance()}
    reports.write_json(tmp_path / "study.json", study)
    study = reports.read_json(tmp_path / "study.json")
    text = dualib_study.render_report(study, tmp_path)
    assert (tmp_path / "study.png").stat().st_size > 0
    assert (tmp_path / "study.md").read_text() == text
    assert (tmp_path / "readme.md").read_text() == dualib_study.readme_block(study) + "\n"
    assert "| dualib-paper | 3 | 0.9800 ± 0.0100 |" in text
    assert "| ece | 0.0300 ± 0.0200 | 0.0200 ± 0.0000 | within seed spread |" in text
    assert "`dualib` against `vib`: one seed, so no difference can be judged" in text  # the CIFAR-10 rows
    assert "paired bootstrap interval over the test examples" in text  # and where their test-set noise is
    figure = dualib_study.study_figure(study)
    try:
        axes = figure.axes
        assert len(axes) == 4  # (mu, samples) x (mnist, cifar10)
        mnist_mu = axes[0]
        assert "mnist" in mnist_mu.get_title() and "mu" in mnist_mu.get_title()
        bars = {c.get_label(): c for c in mnist_mu.containers}
        paper = bars["dualib-paper (n=3)"]
        (x_bars, y_bars) = paper.lines[2]
        (x0, y0), (x1, y1) = x_bars.get_segments()[0]
        assert (x0, x1) == pytest.approx((0.97, 0.99)) and y0 == y1 == pytest.approx(0.03)
        (x0, y0), (x1, y1) = y_bars.get_segments()[0]
        assert (y0, y1) == pytest.approx((0.01, 0.05)) and x0 == x1 == pytest.approx(0.98)
        single = {c.get_label(): c for c in axes[1].containers}["dualib (n=1)"]
        (x0, _), (x1, _) = single.lines[2][0].get_segments()[0]
        assert x0 == x1 == pytest.approx(0.9)  # one seed: no spread drawn
    finally:
        from vdualib import plotting

        plotting.pyplot().close(figure)


def _script():
    from scripts import dualib_study as script

    return script


def test_tiny_study_writes_every_field_resumes_and_measures_trained_models(tmp_path, data_dir, monkeypatch):
    out = tmp_path / "study"
    schedules = {"mnist": dict(dualib_study.SCHEDULES["mnist"], **TINY)}
    arguments = dict(
        dataset_names=["mnist"],
        arms=["vib", "dualib-paper"],
        seeds=[0],
        schedules=schedules,
        limit=300,
        corruption_limit=100,
        data_dir=data_dir,
        progress=False,
    )
    study = dualib_study.run_study(out, **arguments)
    rows = reports.read_json(out / "study.json")["runs"]
    assert rows == json.loads(json.dumps(reports.read_json(out / "study.json")["runs"]))
    assert sorted((r["arm"], r["prediction"]) for r in rows) == [
        ("dualib-paper", "mu"),
        ("dualib-paper", "samples"),
        ("vib", "mu"),
        ("vib", "samples"),
    ]
    for row in rows:
        for field in ("dataset", "arm", "seed", "prediction", *dualib_study.MEASURES):
            assert field in row, field
        for measure in dualib_study.MEASURES:
            assert math.isfinite(row[measure]), (row["arm"], measure)
        assert row["test_examples"] == 300 and row["train_examples"] == 200
        assert set(row["shift_by_corruption"]) == set(dualib_study.SHIFT_CORRUPTIONS)
        assert set(row["ood_auroc_by_set"]) == {"fashion_mnist"}
    record = study["datasets"]["mnist"]
    assert record["label_noise"]["0"]["reference"] == "mnist-deterministic-mlp"
    assert record["reference"]["sha256"] == study["datasets"]["mnist"]["label_noise"]["0"]["reference_sha256"]
    assert record["schedule"] == schedules["mnist"] and "0" in record["data_splits"]
    assert study["protocol"]["shift_corruptions"] == list(dualib_study.SHIFT_CORRUPTIONS)

    # a rerun skips the finished runs
    calls = []
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append(k) or real_train(*a, **k))
    again = dualib_study.run_study(out, **arguments)
    assert calls == [] and len(again["runs"]) == 4
    # a run whose training was interrupted (a checkpoint, no model) resumes from its checkpoint
    run_dir = out / "runs" / "mnist" / "vib" / "seed0"
    os.remove(run_dir / "train.json")
    os.remove(run_dir / "model.keras")
    study_json = reports.read_json(out / "study.json")
    reports.write_json(out / "study.json", dict(study_json, runs=[r for r in study_json["runs"] if r["arm"] != "vib"]))
    again = dualib_study.run_study(out, **arguments)
    assert [c["resume"] for c in calls] == [True] and len(again["runs"]) == 4
    # a p~ reference that cannot serve the study fails before anything trains
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        dualib_study.run_study(tmp_path / "other", **dict(arguments, references={"mnist": str(tmp_path / "missing.keras")}))
    assert not (tmp_path / "other" / "runs").exists()
    # another protocol or another schedule in the same folder is refused
    stored = reports.read_json(out / "study.json")
    stored["protocol"]["shift_severity"] = 5
    reports.write_json(tmp_path / "changed" / "study.json", stored)
    with pytest.raises(ValueError, match="another protocol"):
        dualib_study.run_study(tmp_path / "changed", **arguments)
    with pytest.raises(ValueError, match="another schedule"):
        dualib_study.run_study(out, **dict(arguments, schedules={"mnist": dict(schedules["mnist"], epochs=2)}))
    # finished runs of an arm whose recipe has changed since (here: recorded before the prior was
    # kept out of weight decay, with decay on) are refused, not relabelled with today's recipe
    stored = reports.read_json(out / "study.json")
    old_recipe = dict(stored["datasets"]["mnist"]["recipes"]["dualib-paper"], weight_decay=1e-4)
    del old_recipe["prior_weight_decay"]
    stored["datasets"]["mnist"]["recipes"]["dualib-paper"] = old_recipe
    reports.write_json(tmp_path / "older" / "study.json", stored)
    with pytest.raises(ValueError, match=r"dualib-paper runs of another recipe .*prior_weight_decay.*weight_decay"):
        dualib_study.run_study(tmp_path / "older", **arguments)
    assert reports.read_json(tmp_path / "older" / "study.json") == stored

    # trained models (the CIFAR-10 zoo's way in) give rows of the same schema, arm = method
    model_rows, description = dualib_study.evaluate_models(
        [str(run_dir / "model.keras")], limit=200, corruption_limit=50, train_limit=80, data_dir=data_dir, progress=False
    )
    assert [(r["arm"], r["prediction"]) for r in model_rows] == [("vib", "mu"), ("vib", "samples")]
    assert all(r["train_examples"] == 80 and r["test_examples"] == 200 for r in model_rows)
    assert set(model_rows[0]) >= set(rows[0]) - {"train_seconds"}
    assert description["models"]["vib"]["sha256"] == reports.sha256_file(run_dir / "model.keras")
    # run_models adds them to a study.json: never over the study's own runs of that data set (its
    # deterministic and vib rows would be replaced by models of another schedule), and in
    # several calls only on the same evaluation sets, keeping every model's source
    before = reports.read_json(out / "study.json")
    measured = dict(limit=200, corruption_limit=50, train_limit=80, data_dir=data_dir, progress=False)
    with pytest.raises(ValueError, match="controlled study's own mnist runs"):
        dualib_study.run_models(out, [str(run_dir / "model.keras")], **measured)
    assert reports.read_json(out / "study.json") == before
    models_out = tmp_path / "models-study"
    dualib_study.run_models(models_out, [str(run_dir / "model.keras")], **measured)
    with pytest.raises(ValueError, match="another --train-limit"):
        dualib_study.run_models(models_out, [str(run_dir / "model.keras")], **dict(measured, train_limit=40))
    dualib_paper = str(out / "runs" / "mnist" / "dualib-paper" / "seed0" / "model.keras")
    both = dualib_study.run_models(models_out, [dualib_paper], **measured)
    assert sorted(both["datasets"]["mnist"]["models"]) == ["dualib", "vib"]
    # the report says what each model was trained towards, read from its recorded recipe
    models_line = next(line for line in dualib_study.report_markdown(both).splitlines() if line.startswith("Models:"))
    assert "(targets: one-hot)" in models_line and "(targets: confusion p~ of " in models_line
    assert sorted((r["arm"], r["prediction"]) for r in both["runs"]) == [
        ("dualib", "mu"), ("dualib", "samples"), ("vib", "mu"), ("vib", "samples")
    ]
    os.remove(run_dir / "train.json")
    with pytest.raises(FileNotFoundError, match="train.json"):
        dualib_study.evaluate_models([str(run_dir / "model.keras")], data_dir=data_dir, progress=False)

    # the script renders the report from the JSON alone
    script = _script()
    assert script.main(["--render-only", "--out", str(out)]) == 0
    assert "## mnist" in (out / "study.md").read_text() and (out / "study.png").exists()
    assert script.main(["--render-only", "--out", str(tmp_path / "empty")]) == 2


def test_script_help_and_bad_input(capsys, tmp_path):
    script = _script()
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0
    assert "--render-only" in capsys.readouterr().out
    assert script.main(["--reference", "mnist:model.keras", "--out", str(tmp_path)]) == 2
    assert "DATASET=MODEL" in capsys.readouterr().err
    assert script.main(["--out", os.path.join(os.devnull, "x")]) == 2
