import json
import math
import os
import shutil
import types

import keras
import numpy as np
import pytest

import vdualib
from scripts.lab import dualib_study
from vdualib import corruptions, datasets, metrics, models, plotting, recipes, reports, training, zoo

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


def _rows(dataset, arm, measure_values, prediction="mu", schedule="short"):
    """One row per seed; ``measure_values`` maps a measure to the per-seed values."""
    seeds = len(next(iter(measure_values.values())))
    base = {m: 0.5 for m in dualib_study.MEASURES}
    return [
        dict(base, dataset=dataset, schedule=schedule, arm=arm, seed=s, prediction=prediction)
        | {m: v[s] for m, v in measure_values.items()}
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
    good = {"dataset": "mnist", "schedule": "short", "arm": "vib", "seed": 0, "prediction": "mu", "accuracy": 0.9, "ece_after_ts": None}
    assert dualib_study.summarize([good])["mnist"]["mu"]["vib"]["accuracy"]["mean"] == 0.9
    bad_rows = {
        "must be a list": None,
        "must be a dict": ["row"],
        "lacks \\['prediction'\\]": [{k: v for k, v in good.items() if k != "prediction"}],
        "lacks \\['schedule'\\]": [{k: v for k, v in good.items() if k != "schedule"}],
        "schedule must be one of": [dict(good, schedule="long")],
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
        rows += _rows("cifar10", "dualib", {"accuracy": [0.9], "ece": [0.05]}, prediction, schedule="models")
        rows += _rows("cifar10", "vib", {"accuracy": [0.91], "ece": [0.03]}, prediction, schedule="models")
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
        assert len(axes) == 4  # (mu, samples) x (short mnist, models cifar10)
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
        plotting.pyplot().close(figure)


def _script():
    from scripts import dualib_study as script

    return script


@pytest.mark.slow
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
    assert {r["schedule"] for r in rows} == {"short"}
    for arm in ("vib", "dualib-paper"):  # each run's per-example test scores, beside study.json
        labels, scores, identity = dualib_study.read_scores(out / "scores" / "short" / "mnist" / f"{arm}-seed0.npz")
        row = next(r for r in rows if r["arm"] == arm and r["prediction"] == "mu")
        assert labels.shape == (300,) and identity == row["model_sha256"] and set(scores) == {"mu", "samples"}
        assert scores["mu"]["correct"].mean() == pytest.approx(row["accuracy"])
    record = study["schedules"]["short"]["mnist"]
    assert record["label_noise"]["0"]["reference"] == "mnist-deterministic-mlp"
    assert record["reference"]["sha256"] == record["label_noise"]["0"]["reference_sha256"]
    assert record["overrides"] == schedules["mnist"] and record["smoke"] is None and "0" in record["data_splits"]
    assert record["bootstrap"] is None  # vib-same-noise was not run
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
    old_recipe = dict(stored["schedules"]["short"]["mnist"]["recipes"]["dualib-paper"], weight_decay=1e-4)
    del old_recipe["prior_weight_decay"]
    stored["schedules"]["short"]["mnist"]["recipes"]["dualib-paper"] = old_recipe
    reports.write_json(tmp_path / "older" / "study.json", stored)
    with pytest.raises(ValueError, match=r"dualib-paper runs of another recipe .*prior_weight_decay.*weight_decay"):
        dualib_study.run_study(tmp_path / "older", **dict(arguments, runs_dir=out / "runs"))  # the study's runs
    with pytest.raises(ValueError, match="runs trained in .*study/runs, not .*older/runs: pass --runs"):
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
    # run_models adds them to a study.json under the schedule "models", beside (never over) the
    # study's own runs of that data set, and in several calls only on the same evaluation sets,
    # keeping every model's source
    before = reports.read_json(out / "study.json")
    measured = dict(limit=200, corruption_limit=50, train_limit=80, data_dir=data_dir, progress=False)
    beside = dualib_study.run_models(out, [str(run_dir / "model.keras")], **measured)
    assert [r for r in beside["runs"] if r["schedule"] == "short"] == before["runs"]
    assert sorted((r["schedule"], r["arm"]) for r in beside["runs"] if r["schedule"] == "models") == [("models", "vib")] * 2
    assert beside["schedules"]["short"] == before["schedules"]["short"]
    models_out = tmp_path / "models-study"
    dualib_study.run_models(models_out, [str(run_dir / "model.keras")], **measured)
    with pytest.raises(ValueError, match="another --train-limit"):
        dualib_study.run_models(models_out, [str(run_dir / "model.keras")], **dict(measured, train_limit=40))
    dualib_paper = str(out / "runs" / "mnist" / "dualib-paper" / "seed0" / "model.keras")
    both = dualib_study.run_models(models_out, [dualib_paper], **measured)
    assert sorted(both["schedules"]["models"]["mnist"]["models"]) == ["dualib", "vib"]
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
    assert "### mnist" in (out / "study.md").read_text() and (out / "study.png").exists()
    assert script.main(["--render-only", "--out", str(tmp_path / "empty")]) == 2


def test_script_help_and_bad_input(capsys, tmp_path):
    script = _script()
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--render-only" in help_text and "--schedule {full,short}" in help_text and "--no-baselines" in help_text
    assert script.main(["--reference", "mnist:model.keras", "--out", str(tmp_path)]) == 2
    assert "DATASET=MODEL" in capsys.readouterr().err
    assert script.main(["--out", os.path.join(os.devnull, "x")]) == 2


# ---------------------------------------------------------------------------------------------
# Two schedules, baselines from the same runs, the pooled paired bootstrap

COMMITTED = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "results", "dualib_study", "study.json")
#: a full-schedule run of seconds: the zoo recipe with a small convnet on few examples
TINY_FULL = {
    "epochs": 1,
    "train_size": 200,
    "validation_size": 100,
    "batch_size": 50,
    "backbone_width": 0.25,
    "latent_dim": 16,
}


def test_a_study_json_of_the_earlier_layout_is_read_as_the_short_schedule(tmp_path):
    old = reports.read_json(COMMITTED)
    assert "format" not in old and all("schedule" not in r for r in old["runs"])
    study = dualib_study.migrate_study(old)
    assert study["format"] == 2 and "datasets" not in study
    assert set(study["schedules"]) == {"short", "models"}
    assert set(study["schedules"]["short"]) == {"mnist", "fashion_mnist"} and set(study["schedules"]["models"]) == {
        "cifar10"
    }
    record = study["schedules"]["short"]["fashion_mnist"]
    assert record["overrides"] == dualib_study.SCHEDULES["fashion_mnist"] and record["smoke"] is None
    assert {(r["dataset"], r["schedule"]) for r in study["runs"]} == {
        ("mnist", "short"),
        ("fashion_mnist", "short"),
        ("cifar10", "models"),
    }
    # the rows keep every number; the protocol keeps what it measured and states today's rules
    assert [dict(r, schedule=None) for r in study["runs"]] == [dict(r, schedule=None) for r in old["runs"]]
    assert study["protocol"]["shift_severity"] == old["protocol"]["shift_severity"]
    assert "pooled paired bootstrap" in study["protocol"]["decision_rule"]
    assert dualib_study.migrate_study(study) is study  # today's layout passes through
    with pytest.raises(ValueError, match="format 7"):
        dualib_study.migrate_study(dict(study, format=7))
    # the script renders it as it is committed: the short study (the ablation study) and the models
    (tmp_path / "study.json").write_text(open(COMMITTED).read())
    assert _script().main(["--render-only", "--out", str(tmp_path)]) == 0
    text, block = (tmp_path / "study.md").read_text(), (tmp_path / "readme.md").read_text()
    assert "## Short schedule: the ablation study" in text and "## Trained models, one seed each" in text
    assert (
        "## Full schedule" not in text and "### mnist (our addition; the paper's own data set is Fashion-MNIST)" in text
    )
    assert "| dualib-paper | 3 | 0.8690 ± 0.0021 |" in text  # the numbers are the committed ones
    # beside confident_train_errors: p~ caps the count on the classes where p~(y|y) <= 0.9
    assert "Here p~(y|y) <= 0.9 on 3 of 10 classes (class 0: 0.8973, class 2: 0.9, class 6: 0.8167" in text
    assert "so the cap does not bind" in text  # MNIST's p~
    assert block.startswith("**Short schedule: the ablation study**")
    assert "the paper's objective and p~, on the convnet at width 1, 6 epochs" in block
    assert "(capped by p~ on 3 classes: see the report)" in block and "VdualIB" not in block
    assert (tmp_path / "study.json").read_text() == open(COMMITTED).read()  # rendering never rewrites the JSON


def test_the_full_schedule_refuses_other_arms_data_sets_and_schedules(tmp_path, capsys):
    for kwargs, message in (
        (
            {"schedule": "full", "arms": ["vib", "dualib-no-warmup"]},
            r"full schedule runs the arms .*\['dualib-no-warmup'\]",
        ),
        (
            {"schedule": "full", "dataset_names": ["mnist"]},
            r"full schedule is run on \['fashion_mnist'\], not \['mnist'\]",
        ),
        ({"schedule": "full", "schedules": {"fashion_mnist": {"epochs": 1}}}, "smoke=, not schedules="),
        ({"schedule": "long"}, "Unknown schedule 'long'"),
        ({"schedule": "full", "smoke": {"prior": "mixture"}}, "may not set \\['prior'\\]"),
    ):
        with pytest.raises(ValueError, match=message):
            dualib_study.run_study(tmp_path / "study", **kwargs)
    assert not (tmp_path / "study").exists()  # refused before anything is read or written
    script = _script()
    assert script.main(["--schedule", "full", "--arms", "dualib-smoothing", "--out", str(tmp_path / "s")]) == 2
    assert "full schedule runs the arms" in capsys.readouterr().err
    assert script.main(["--schedule", "full", "--models", "cifar10-vib-resnet20", "--out", str(tmp_path / "s")]) == 2
    # the recipe of a smoke run is the zoo's with the smoke fields laid over it
    recipe = dualib_study.arm_recipe("dualib-paper", "fashion_mnist", 1, dualib_study.FULL, smoke=TINY_FULL)
    full = dualib_study.arm_recipe("dualib-paper", "fashion_mnist", 1, dualib_study.FULL)
    assert (
        _differing(recipe, full) == set(TINY_FULL)
        and recipe["distortion_warmup_steps"] == full["distortion_warmup_steps"]
    )


def _register(folder, name, model_path, card):
    """Put a model file and its card into a zoo folder's registry (the tiny_zoo way of tests/test_zoo.py)."""
    os.makedirs(folder / "cards", exist_ok=True)
    target = folder / f"{name}.keras"
    shutil.copyfile(model_path, target)
    digest = reports.sha256_file(target)
    registry_path = folder / zoo.REGISTRY_FILE
    registry = (
        reports.read_json(registry_path) if registry_path.exists() else {"base_url": "file:///nowhere/", "models": {}}
    )
    registry["models"][name] = {
        "file": target.name,
        "sha256": digest,
        "bytes": os.path.getsize(target),
        "url": "file:///nowhere/x",
    }
    reports.write_json(registry_path, registry)
    reports.write_json(
        folder / "cards" / f"{name}.json", dict(card, name=name, sha256=digest, file_bytes=os.path.getsize(target))
    )
    return digest


def test_zoo_match_reuses_only_an_identical_recipe(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    model = vdualib.build_classifier("convnet", 10, method="deterministic", latent_dim=16)
    model.save(tmp_path / "model.keras")
    recipe = dualib_study.arm_recipe("deterministic", "fashion_mnist", 0, dualib_study.FULL, smoke=TINY_FULL)
    float32 = {"precision": "float32"}
    _register(folder, "fashion-mnist-deterministic-convnet", tmp_path / "model.keras", {"recipe": recipe, "training": float32})
    same_noise = dualib_study.arm_recipe("vib-same-noise", "fashion_mnist", 0, dualib_study.FULL, smoke=TINY_FULL)
    objective = {"label_noise": {"kind": "confusion", "reference_sha256": "a" * 64}}
    _register(
        folder, "fashion-mnist-vib-convnet", tmp_path / "model.keras",
        {"recipe": same_noise, "objective": objective, "training": float32},
    )  # fmt: skip
    monkeypatch.setenv("VDUALIB_MODELS_DIR", str(folder))
    assert dualib_study.zoo_match("deterministic", "fashion_mnist", recipe) == (
        "fashion-mnist-deterministic-convnet",
        "fashion-mnist-deterministic-convnet has the identical recipe",
    )
    name, reason = dualib_study.zoo_match("deterministic", "fashion_mnist", dict(recipe, seed=1))
    assert name is None and "only seed 0" in reason
    name, reason = dualib_study.zoo_match("deterministic", "fashion_mnist", dict(recipe, epochs=2))
    assert name is None and "another recipe (it differs in ['epochs'])" in reason
    name, reason = dualib_study.zoo_match(
        "dualib-paper",
        "fashion_mnist",
        dualib_study.arm_recipe("dualib-paper", "fashion_mnist", 0, dualib_study.FULL, smoke=TINY_FULL),
    )
    assert name is None and reason == "the zoo has no fashion-mnist-dualib-convnet"
    # an arm trained towards p~ also needs the p~ of the same reference file
    ours = {"reference_sha256": "a" * 64}
    assert dualib_study.zoo_match("vib-same-noise", "fashion_mnist", same_noise, ours)[0] == "fashion-mnist-vib-convnet"
    name, reason = dualib_study.zoo_match("vib-same-noise", "fashion_mnist", same_noise, {"reference_sha256": "b" * 64})
    assert name is None and "another reference file" in reason
    # a model trained in another precision than the study's runs does not stand in for seed 0
    _register(
        folder, "fashion-mnist-deterministic-convnet", tmp_path / "model.keras",
        {"recipe": recipe, "training": {"precision": "mixed_bfloat16"}},
    )  # fmt: skip
    name, reason = dualib_study.zoo_match("deterministic", "fashion_mnist", recipe)
    assert name is None and reason.endswith("was trained in mixed_bfloat16, the study's runs in float32")
    _register(folder, "fashion-mnist-deterministic-convnet", tmp_path / "model.keras", {"recipe": recipe})
    assert "an unrecorded precision" in dualib_study.zoo_match("deterministic", "fashion_mnist", recipe)[1]
    # the plain VIB arm is another recipe than the zoo's VIB card here
    vib = dualib_study.arm_recipe("vib", "fashion_mnist", 0, dualib_study.FULL, smoke=TINY_FULL)
    assert dualib_study.zoo_match("vib", "fashion_mnist", vib)[0] is None


def _classifier(backbone, method="deterministic", seed=0):
    model = vdualib.build_classifier(backbone, 10, method=method, latent_dim=8, seed=seed)
    rng = np.random.default_rng(seed)
    model.decoder.kernel.assign(rng.normal(size=model.decoder.kernel.shape).astype("float32"))
    return model


def test_mc_dropout_view_drops_at_test_time_shares_weights_and_keeps_batch_norm_in_inference():
    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    model = _classifier(models.build_backbone("convnet", width=0.25, dropout=0.5))
    assert dualib_study.has_dropout(model)
    view = dualib_study.MCDropout(model, num_samples=4, seed=3)
    passes = view.sample_probs(images, batch_size=16)
    assert passes.shape == (4, 40, 10) and np.allclose(passes.sum(axis=-1), 1.0, atol=1e-5)
    assert np.abs(passes[0] - passes[1]).max() > 1e-3  # each pass draws other masks
    mean = view.predict(images, batch_size=16)
    np.testing.assert_allclose(mean, passes.mean(axis=0), atol=1e-6)  # the mean of the passes, reproducibly
    np.testing.assert_allclose(dualib_study.MCDropout(model, 4, seed=3).predict(images, batch_size=16), mean, atol=1e-6)
    assert np.abs(dualib_study.MCDropout(model, 4, seed=4).predict(images, batch_size=16) - mean).max() > 1e-4
    assert np.abs(mean - model.predict(images, verbose=0)).max() > 1e-4
    # the view is the model's own layers: its weights are the model's, not copies
    own = {id(v) for v in model.trainable_weights}
    assert view.network.trainable_weights and all(id(v) in own for v in view.network.trainable_weights)
    # without dropout (rate 0, or no Dropout layer at all) the view is the plain prediction: batch
    # normalization uses its moving statistics (set far from the batch's here), not the batch's
    quiet = _classifier(models.build_backbone("convnet", width=0.25, dropout=0.0), seed=1)
    for layer in quiet.backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, "float32"))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 4.0, "float32"))
    plain = quiet.predict(images, verbose=0)
    np.testing.assert_allclose(dualib_study.MCDropout(quiet, 3).predict(images), plain, atol=1e-5)
    mlp = _classifier(models.build_backbone("mlp", units=(32,)), seed=2)
    assert not dualib_study.has_dropout(mlp)
    np.testing.assert_allclose(
        dualib_study.MCDropout(mlp, 2).predict(images), mlp.predict(images, verbose=0), atol=1e-5
    )
    with pytest.raises(ValueError, match="deterministic"):
        dualib_study.MCDropout(_classifier(models.build_backbone("mlp", units=(32,)), method="vib"))
    with pytest.raises(ValueError, match="pixel"):
        view.predict(images / 255.0)


def test_mc_dropout_runs_the_layers_before_the_dropout_once_and_matches_the_whole_network(monkeypatch):
    images = np.random.default_rng(1).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    model = _classifier(models.build_backbone("convnet", width=0.25, dropout=0.5))
    view = dualib_study.MCDropout(model, num_samples=3, seed=5)
    assert view.features is not None and view.features.output.shape[1:] == model.backbone.get_layer("pool").output.shape[1:]
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in view.head.layers)  # passes skip the convolutions
    cut = view.sample_probs(images, batch_size=16)
    monkeypatch.setattr(dualib_study, "_cut_before", lambda backbone, layer: None)
    whole = dualib_study.MCDropout(model, num_samples=3, seed=5)
    assert whole.features is None
    np.testing.assert_allclose(cut, whole.sample_probs(images, batch_size=16), atol=1e-6)  # the same masks, the same passes
    monkeypatch.undo()
    # a skip connection around the dropout: the rest needs a tensor from before the cut, so every pass runs it all
    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(keras.ops.cast(inputs, "float32") / 255.0))
    y = keras.layers.Dense(16, activation="relu")(x)
    skip = keras.Model(inputs, keras.layers.Add()([keras.layers.Dropout(0.5)(y), x]))
    view = dualib_study.MCDropout(_classifier(skip, seed=3), num_samples=2, seed=0)
    assert view.features is None
    passes = view.sample_probs(images)
    assert passes.shape == (2, 40, 10) and np.abs(passes[0] - passes[1]).max() > 1e-4
    # a Sequential backbone is cut too, with the same passes as the whole network
    sequential = keras.Sequential([keras.Input((28, 28), dtype="uint8"), keras.layers.Rescaling(1 / 255.0),
                                   keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                                   keras.layers.Dropout(0.5), keras.layers.Dense(16, activation="relu")])
    model = _classifier(sequential, seed=4)
    view = dualib_study.MCDropout(model, num_samples=2, seed=1)
    assert view.features is not None
    cut = view.sample_probs(images, batch_size=16)
    monkeypatch.setattr(dualib_study, "_cut_before", lambda backbone, layer: None)
    np.testing.assert_allclose(cut, dualib_study.MCDropout(model, 2, seed=1).sample_probs(images, batch_size=16), atol=1e-6)
    monkeypatch.undo()
    # features larger than the bound per image: whole passes (the features of every image are not kept)
    inputs = keras.Input((28, 28), dtype="uint8")
    early = keras.Model(inputs, keras.layers.Dense(16)(keras.layers.Dropout(0.2)(keras.layers.Flatten()(
        keras.layers.Dense(8)(keras.ops.cast(inputs, "float32"))))))  # 28 x 8 = 224 entries: cut
    assert dualib_study.MCDropout(_classifier(early, seed=6), 2).features is not None
    monkeypatch.setattr(dualib_study, "_MAX_CUT_FEATURES", 100)
    assert dualib_study.MCDropout(_classifier(early, seed=6), 2).features is None
    # channel-wise dropout is not MC dropout's element-wise masks: refused by name
    spatial = keras.Sequential([keras.Input((28, 28), dtype="uint8"), keras.layers.Reshape((28, 28, 1)),
                                keras.layers.Rescaling(1 / 255.0), keras.layers.Conv2D(4, 3),
                                keras.layers.SpatialDropout2D(0.3), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match="SpatialDropout2D"):
        dualib_study.MCDropout(_classifier(spatial, seed=7))


def _scores(rng, n, accuracy, confidence):
    """Per-example scores of a model right on about ``accuracy`` of n examples with top probability ``confidence``."""
    labels = rng.integers(0, 10, n)
    predicted = np.where(rng.random(n) < accuracy, labels, (labels + 1) % 10)
    probs = np.full((n, 10), (1 - confidence) / 9)
    probs[np.arange(n), predicted] = confidence
    return labels, probs


def test_pooled_paired_bootstrap_pools_seeds_on_shared_indices(tmp_path):
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(3):
        labels, probs = _scores(rng, 400, 0.8, 0.95)  # overconfident: an ECE of about 0.15
        runs.append(
            dict(
                metrics.per_example_scores(probs, labels),
                ts_confidence=np.full(400, 0.8),
                ts_correct=probs.argmax(1) == labels,
            )
        )
    # identical arms: the same indices for both arms (and every seed) give a difference of exactly 0
    for measure in dualib_study.INTERVAL_MEASURES:
        same = dualib_study.pooled_interval(runs, [dict(r) for r in runs], measure, num_resamples=300)
        assert same["difference"] == same["low"] == same["high"] == 0.0 and not same["beyond_noise"], measure
        assert dualib_study.interval_verdict(same, measure) == "undecided"
    # an arm always right with confidence 0.97: better on accuracy, NLL and ECE (about 0.03)
    better = []
    for run in runs:
        correct = np.ones_like(run["correct"])
        better.append(dict(run, correct=correct, nll=run["nll"] * 0 + 0.05, confidence=np.full(400, 0.97)))
    for measure in ("accuracy", "nll", "ece"):
        result = dualib_study.pooled_interval(better, runs, measure, num_resamples=300)
        assert result["beyond_noise"] and result["seeds"] == 3 and result["examples"] == 400, measure
        assert dualib_study.interval_verdict(result, measure) == "better", measure
        assert (
            dualib_study.interval_verdict(
                dualib_study.pooled_interval(runs, better, measure, num_resamples=300), measure
            )
            == "worse"
        )
    # the point difference is the measure of the pooled seeds: accuracy over all 3 x 400 examples
    result = dualib_study.pooled_interval(better, runs, "accuracy", num_resamples=50)
    assert result["difference"] == pytest.approx(1.0 - np.mean(np.concatenate([r["correct"] for r in runs])))
    assert result["low"] <= result["difference"] <= result["high"]
    # the rules combine: better only when both say so
    assert dualib_study.headline_verdict("better", "better") == "better"
    assert dualib_study.headline_verdict("better", "undecided") == "undecided"
    assert dualib_study.headline_verdict("worse", "better") == "undecided"
    assert dualib_study.headline_verdict("worse", None) == "worse"
    for args, message in (
        ((runs, runs[:2], "accuracy"), "same number"),
        ((runs, [dict(r, correct=r["correct"][:10]) for r in runs], "accuracy"), "same test examples"),
        ((runs, runs, "ood_auroc"), "pooled bootstrap measures"),
        ((runs, [dict(r, nll=r["nll"] * np.nan) for r in runs], "nll"), "finite"),
        (([{k: v for k, v in r.items() if not k.startswith("ts_")} for r in runs], runs, "ece_after_ts"), "holding"),
    ):
        with pytest.raises(ValueError, match=message):
            dualib_study.pooled_interval(*args)
    with pytest.raises(ValueError, match="unknown bootstrap options"):
        dualib_study.pooled_interval(runs, runs, "nll", resamples=10)
    # the per-run score files: plain arrays, read back without pickles; bad files are refused
    path = tmp_path / "scores" / "vib-seed0.npz"
    dualib_study.write_scores(path, labels, {"mu": runs[2], "samples": runs[2]}, identity="ab" * 32)
    read_labels, scores, identity = dualib_study.read_scores(path)
    np.testing.assert_array_equal(read_labels, labels)
    assert identity == "ab" * 32 and set(scores) == {"mu", "samples"} and scores["mu"]["ts_correct"].dtype == bool
    np.testing.assert_array_equal(scores["samples"]["nll"], runs[2]["nll"])
    with pytest.raises(ValueError, match="non-finite"):
        dualib_study.write_scores(path, labels, {"mu": dict(runs[0], nll=np.full(400, np.nan))}, identity="x")
    with pytest.raises(ValueError, match="incomplete"):
        dualib_study.write_scores(
            path, labels, {"mu": {k: v for k, v in runs[0].items() if k != "ts_correct"}}, identity="x"
        )
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    os.replace(tmp_path / "objects.npy", tmp_path / "objects.npz")
    for bad in (tmp_path / "objects.npz",):
        with pytest.raises(ValueError, match="not a score file"):
            dualib_study.read_scores(bad)
    with pytest.raises(FileNotFoundError):
        dualib_study.read_scores(tmp_path / "missing.npz")


def _interval(difference, low, high):
    return {"difference": difference, "low": low, "high": high, "beyond_noise": low > 0 or high < 0}


def test_report_and_readme_answer_per_schedule_full_first(tmp_path):
    rows = []
    for prediction in dualib_study.PREDICTIONS:
        for schedule, paper_ece in (("full", [0.01, 0.02, 0.03]), ("short", [0.02, 0.03, 0.04])):
            values = {"ece": paper_ece, "accuracy": [0.90, 0.91, 0.92], "nll": [0.20, 0.21, 0.22]}
            rows += _rows("fashion_mnist", "dualib-paper", values, prediction, schedule)
            values = {"ece": [0.05, 0.06, 0.07], "accuracy": [0.93, 0.94, 0.95], "nll": [0.30, 0.31, 0.32]}
            rows += _rows("fashion_mnist", "vib-same-noise", values, prediction, schedule)
        ensemble = _rows(
            "fashion_mnist",
            "deep-ensemble",
            {"ece": [0.015], "ece_after_ts": [None], "confident_train_errors": [None]},
            prediction,
            "full",
        )
        rows += [dict(r, members=[0, 1, 2]) for r in ensemble]
    intervals = {
        "ece": _interval(-0.04, -0.05, -0.03),  # both rules: better
        "accuracy": _interval(-0.03, -0.05, 0.01),  # the seed rule says worse, the interval holds 0: undecided
        "nll": _interval(-0.1, -0.12, -0.08),  # both: better
    }
    bootstrap = {
        "pair": ["dualib-paper", "vib-same-noise"],
        "seeds": [[0, 0], [1, 1], [2, 2]],
        "by_prediction": {"mu": intervals, "samples": intervals},
    }
    study = {
        "format": 2,
        "runs": rows,
        "schedules": {"full": {"fashion_mnist": {"overrides": {}, "smoke": None, "bootstrap": bootstrap}}},
        "protocol": dualib_study.protocol(),
        "provenance": reports.provenance(),
    }
    found = dualib_study.verdicts(dualib_study.summarize(rows, "full"), "fashion_mnist", "mu", bootstrap)
    assert found["measures"]["ece"]["headline"] == "better" and found["measures"]["nll"]["headline"] == "better"
    assert found["measures"]["accuracy"]["main"] == "worse" and found["measures"]["accuracy"]["headline"] == "undecided"
    assert found["measures"]["shift_ece"]["interval"] is None
    with pytest.raises(ValueError, match="summarize one at a time"):
        dualib_study.summarize(rows)
    block = dualib_study.readme_block(study)
    full, short = (
        block.index("**Full schedule: each arm's zoo recipe**"),
        block.index("**Short schedule: the ablation study**"),
    )
    assert full < short
    assert "better on nll 0.2100 ± 0.0100 vs 0.3100 ± 0.0100 (pooled difference -0.1000 [-0.1200, -0.0800])" in block
    assert "Undecided: accuracy" in block and "(seed rule only: no per-example test scores were kept)" in block[short:]
    assert "worse on accuracy" in block[short:] and "worse on" not in block[:short]
    text = dualib_study.render_report(study, tmp_path)
    assert text.index("## Full schedule") < text.index("## Short schedule: the ablation study")
    assert "Decision rule: Fixed before any full-schedule run" in text and "Bootstrap rule: " in text
    assert "| deep-ensemble | 1 |" in text  # the baseline's row beside the arms
    assert (
        "| accuracy | 0.9100 ± 0.0100 | 0.9400 ± 0.0100 | worse | -0.0300 [-0.0500, +0.0100] | holds 0 | undecided |"
        in text
    )
    assert (
        "| shift_ece | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 | within seed spread | - | - | undecided (seed rule only) |"
        in text
    )
    # one seed: the seed rule cannot decide, so there is no headline, but the intervals are shown
    one_seed = dict(study, runs=[r for r in rows if r["seed"] == 0 and r["schedule"] == "full"])
    block = dualib_study.readme_block(one_seed)
    assert "over 1 seed: one seed, so no headline (the seed rule cannot decide); pooled bootstrap differences: " in block
    assert "ece -0.0400 [-0.0500, -0.0300]" in block and "better on" not in block
    figure = dualib_study.study_figure(study)
    try:
        assert [ax.get_title() for ax in figure.axes[:2]] == [
            "fashion-mnist (full), prediction: mu",
            "fashion-mnist (short), prediction: mu",
        ]
    finally:
        plotting.pyplot().close(figure)


@pytest.mark.slow
def test_tiny_full_schedule_reuses_the_zoo_adds_baselines_scores_and_the_pooled_bootstrap(
    tmp_path, data_dir, monkeypatch
):
    # a tiny zoo whose deterministic convnet has exactly the seed-0 recipe of the smoke run: it is
    # measured instead of trained, and it is also the p~ reference of the confusion arms
    reference = dualib_study.arm_recipe("deterministic", "fashion_mnist", 0, dualib_study.FULL, smoke=TINY_FULL)
    trained = training.train(reference, tmp_path / "reference", data_dir=data_dir, verbose=0)
    folder = tmp_path / "models"
    card = {"dataset": "fashion_mnist", "recipe": trained["recipe"], "training": {"seconds": 12.5, "precision": "float32"}}
    _register(folder, "fashion-mnist-deterministic-convnet", tmp_path / "reference" / "model.keras", card)
    monkeypatch.setenv("VDUALIB_MODELS_DIR", str(folder))
    out = tmp_path / "study"
    arguments = dict(
        schedule="full",
        arms=["deterministic", "vib-same-noise", "dualib-paper"],
        seeds=[0, 1],
        smoke=TINY_FULL,
        limit=300,
        corruption_limit=100,
        data_dir=data_dir,
        progress=False,
    )
    study = dualib_study.run_study(out, **arguments)
    rows = study["runs"]
    assert {r["schedule"] for r in rows} == {"full"}
    arms = sorted({(r["arm"], r["seed"]) for r in rows})
    assert arms == sorted(
        [(a, s) for a in ("deterministic", "vib-same-noise", "dualib-paper", "mc-dropout") for s in (0, 1)]
        + [("deep-ensemble", 0)]
    )
    assert len(rows) == 2 * len(arms)
    by = {(r["arm"], r["seed"], r["prediction"]): r for r in rows}
    # seed 0 of the deterministic arm is the zoo model; everything else trained under runs/full
    zoo_row = by["deterministic", 0, "mu"]
    assert zoo_row["source"] == "zoo:fashion-mnist-deterministic-convnet" and zoo_row["train_seconds"] == 12.5
    assert zoo_row["model_sha256"] == zoo.sha256("fashion-mnist-deterministic-convnet")
    runs = out / "runs" / "full" / "fashion_mnist"
    assert (
        not (runs / "deterministic" / "seed0").exists() and (runs / "deterministic" / "seed1" / "train.json").exists()
    )
    assert (runs / "dualib-paper" / "seed0" / "train.json").exists()
    record = study["schedules"]["full"]["fashion_mnist"]
    assert record["zoo"]["deterministic"]["model"] == "fashion-mnist-deterministic-convnet"
    assert record["zoo"]["dualib-paper"] == {"model": None, "reason": "the zoo has no fashion-mnist-dualib-convnet"}
    assert record["overrides"] == {} and record["smoke"] == TINY_FULL
    assert record["label_noise"]["1"]["reference"] == "fashion-mnist-deterministic-convnet"
    assert record["label_noise"]["1"]["split"].endswith("(seed 0)")  # p~ from the seed-0 reference's validation split
    # the baselines: an ensemble of both deterministic seeds, MC dropout per seed
    ensemble = by["deep-ensemble", 0, "mu"]
    assert (
        ensemble["members"] == [0, 1]
        and ensemble["ece_after_ts"] is None
        and ensemble["confident_train_errors"] is None
    )
    assert math.isfinite(ensemble["accuracy"]) and by["deep-ensemble", 0, "samples"]["accuracy"] == ensemble["accuracy"]
    for seed in (0, 1):
        mu, sampled = by["mc-dropout", seed, "mu"], by["mc-dropout", seed, "samples"]
        assert sampled["num_samples"] == dualib_study.NUM_SAMPLES and sampled["train_seconds"] is None
        assert all(mu[m] == by["deterministic", seed, "mu"][m] for m in dualib_study.MEASURES)
        assert all(
            math.isfinite(sampled[m]) for m in ("accuracy", "nll", "ece", "shift_accuracy", "confident_train_errors")
        )
    # a score file per run and baseline, tied to its rows
    for arm, seed in arms:
        labels, scores, identity = dualib_study.read_scores(
            out / "scores" / "full" / "fashion_mnist" / f"{arm}-seed{seed}.npz"
        )
        assert labels.shape == (300,) and set(scores) == {"mu", "samples"}
        row = by[arm, seed, "mu"]
        assert identity == (row["model_sha256"] or ",".join(row["members_sha256"]))
        assert scores["mu"]["correct"].mean() == pytest.approx(row["accuracy"])
    # the pooled bootstrap of dualib-paper against vib-same-noise, seeds paired by index
    bootstrap = record["bootstrap"]
    assert bootstrap["pair"] == ["dualib-paper", "vib-same-noise"] and bootstrap["seeds"] == [[0, 0], [1, 1]]
    for prediction in dualib_study.PREDICTIONS:
        intervals = bootstrap["by_prediction"][prediction]
        assert {"accuracy", "nll", "ece"} <= set(intervals)
        for result in intervals.values():
            assert result["low"] <= result["difference"] <= result["high"] and result["seeds"] == 2
    text = dualib_study.render_report(study, out)
    assert "## Full schedule: each arm's zoo recipe" in text and "Seed 0 and the zoo: `deterministic`: measured" in text
    assert "Smoke overrides laid over every recipe" in text and "pooled difference [interval]" in text

    # a rerun trains and measures nothing again
    calls = []
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append(k))
    monkeypatch.setattr(dualib_study, "MCDropout", lambda *a, **k: calls.append(a))
    again = dualib_study.run_study(out, **arguments)
    assert calls == [] and again["runs"] == rows
    # when the members change (seed 1's deterministic run removed), the baselines follow
    stored = reports.read_json(out / "study.json")
    stored["runs"] = [r for r in stored["runs"] if not (r["arm"] == "deterministic" and r["seed"] == 1)]
    reports.write_json(out / "study.json", stored)
    fewer = dualib_study.run_study(out, **dict(arguments, arms=["vib-same-noise", "dualib-paper"]))
    assert calls == []
    assert sorted({(r["arm"], r["seed"]) for r in fewer["runs"] if r["arm"] in dualib_study.BASELINES}) == [
        ("mc-dropout", 0)
    ]


def _context(tmp_path, runs="runs"):
    return dualib_study._Context(
        str(tmp_path), str(tmp_path / "study.json"), str(tmp_path / runs), dualib_study.FULL, TINY_FULL, None
    )


def _part(record, train=None):
    sets = types.SimpleNamespace(description="test split", train=train)
    return dualib_study._Part("fashion_mnist", sets, dualib_study.FULL, None, record)


def test_a_study_keeps_its_runs_folder(tmp_path):
    study = {"schedules": {}, "runs": []}
    sets = types.SimpleNamespace(description="test split")
    part = dualib_study._prepare_part(study, _context(tmp_path), "fashion_mnist", None, None, sets)
    assert part.record["runs"] == str(tmp_path / "runs")  # outside the repository: absolute
    with pytest.raises(ValueError, match=f"runs trained in {tmp_path / 'runs'}, not {tmp_path / 'other'}: pass --runs"):
        dualib_study._prepare_part(study, _context(tmp_path, "other"), "fashion_mnist", None, None, sets)
    inside = os.path.join(dualib_study.REPOSITORY, "runs", "dualib_study")
    assert dualib_study._runs_location(inside) == "runs/dualib_study"


def test_p_tilde_is_pinned_once_recorded(tmp_path, monkeypatch):
    ctx, seeds = _context(tmp_path), [0]
    source = {"kind": "confusion", "reference": "fashion-mnist-deterministic-convnet", "reference_sha256": "a" * 64,
              "split": "validation split (seed 0)", "mixing": 1e-6}
    monkeypatch.setattr(training, "label_noise_from_recipe", lambda recipe, x, y: (None, dict(source)))
    monkeypatch.setattr(dualib_study, "_reference_record", lambda spec: {"reference": spec, "sha256": "a" * 64})
    part = _part({}, train=(None, None))
    dualib_study._record_splits_and_noise(ctx, part, ["dualib-paper"], seeds)
    dualib_study._record_splits_and_noise(ctx, part, ["dualib-paper"], seeds)  # the same p~ again: fine
    assert part.record["label_noise"]["0"]["reference_sha256"] == "a" * 64
    source["reference_sha256"] = "b" * 64  # the reference model was replaced
    with pytest.raises(ValueError, match="p~ of fashion_mnist for seed 0 has changed since .* sha256 aaaaaaaaaaaa, now"):
        dualib_study._record_splits_and_noise(ctx, part, ["dualib-paper"], seeds)
    # a run folder trained towards another p~ is refused, finished or to resume
    recipe = dualib_study.arm_recipe("dualib-paper", "fashion_mnist", 0, dualib_study.FULL, smoke=TINY_FULL)
    reports.write_json(tmp_path / "train.json", {"label_noise_source": {"reference_sha256": "c" * 64}})
    with pytest.raises(ValueError, match="trained towards the p~ of another reference"):
        dualib_study._check_noise_of_run(str(tmp_path), "train.json", part, recipe)
    reports.write_json(tmp_path / "train.json", {"label_noise_source": {"reference_sha256": "a" * 64}})
    dualib_study._check_noise_of_run(str(tmp_path), "train.json", part, recipe)


def test_the_decision_rule_is_fixed_once_a_full_schedule_run_is_in(tmp_path):
    study = dualib_study._new_study()
    study["protocol"]["decision_rule"] = "an older rule"
    reports.write_json(tmp_path / "study.json", study)
    assert dualib_study._load_study(str(tmp_path / "study.json"))["protocol"] == dualib_study.protocol()
    study["runs"] = [{"dataset": "fashion_mnist", "schedule": "full", "arm": "vib", "seed": 0, "prediction": "mu"}]
    reports.write_json(tmp_path / "study.json", study)
    with pytest.raises(ValueError, match=r"differs in \['decision_rule'\]: restore that rule"):
        dualib_study._load_study(str(tmp_path / "study.json"))


def test_the_bootstrap_pairs_the_seeds_both_arms_ran(tmp_path, monkeypatch):
    rows = [{"dataset": "fashion_mnist", "schedule": "full", "arm": arm, "seed": seed, "prediction": "mu"}
            for arm, seeds in (("dualib-paper", (2, 0)), ("vib-same-noise", (0, 1, 2))) for seed in seeds]
    monkeypatch.setattr(dualib_study, "_scores_of_row", lambda ctx, part, row: None)
    record = dualib_study._bootstrap_record({"runs": rows}, _context(tmp_path), _part({}))
    assert record["seeds"] == [[0, 0], [2, 2]] and len(record["missing"]) == 4


def test_a_baseline_member_from_the_zoo_must_be_the_measured_model(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    vdualib.build_classifier("mlp", 10, method="deterministic", latent_dim=4).save(tmp_path / "model.keras")
    _register(folder, "fashion-mnist-deterministic-convnet", tmp_path / "model.keras", {"recipe": {}})
    monkeypatch.setenv("VDUALIB_MODELS_DIR", str(folder))
    row = {"seed": 0, "source": "zoo:fashion-mnist-deterministic-convnet", "model_sha256": "0" * 64}
    with pytest.raises(ValueError, match="is not the model study.json measured .* the zoo changed since"):
        dualib_study._member_model(_context(tmp_path), _part({}), row, {})
    row["model_sha256"] = zoo.sha256("fashion-mnist-deterministic-convnet")
    assert dualib_study._member_model(_context(tmp_path), _part({}), row, {}) is not None


def test_the_command_defaults_follow_the_schedule_and_smoke():
    from scripts import dualib_study as command

    args = command.parse_args([])
    assert args.seeds == [0, 1, 2] and args.out == command.RESULTS
    smoke = command.parse_args(["--smoke"])
    assert smoke.seeds == [0, 1]  # two seeds: the ensemble and the pooled bootstrap run too
    # the runs folder does not depend on the current folder
    assert command.DEFAULT_RUNS == os.path.join(dualib_study.REPOSITORY, "runs", "dualib_study")
