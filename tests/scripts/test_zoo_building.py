"""The lab's zoo building: release files, cards, registry, targets, tables, and the build/train drivers."""

import os
import shutil

import numpy as np
import pytest

from scripts import build_zoo
from scripts.lab import zoo_building
from vdualib import reports, zoo


@pytest.mark.slow
def test_build_zoo_exports_evaluates_and_reevaluates(tmp_path, data_dir):
    from vdualib import recipes, training

    recipe = recipes.get_recipe(
        "mnist-vib-mlp", {"train_size": 200, "validation_size": 100, "epochs": 1, "latent_dim": 8, "num_samples": 2}
    )
    run_dir = str(tmp_path / "run")
    training.train(recipe, run_dir, data_dir=data_dir, verbose=0)
    models_dir = tmp_path / "models"
    argv = ["--name", "tiny-vib-mlp", "--run-dir", run_dir, "--models-dir", str(models_dir), "--num-samples", "2",
            "--limit", "60", "--corruption-limit", "20", "--severities", "1", "--data-dir", data_dir]
    assert build_zoo.main(argv) == 0
    card = reports.read_json(models_dir / "cards" / "tiny-vib-mlp.json")
    registry = reports.read_json(models_dir / "registry.json")
    assert card["sha256"] == reports.sha256_file(models_dir / "tiny-vib-mlp.keras") == registry["models"]["tiny-vib-mlp"]["sha256"]
    assert card["evaluation"]["corruptions"]["split"] == "test[:20]"
    # the evaluation names the published model, not this machine's path to it
    evaluated = reports.read_json(models_dir / "evaluations" / "tiny-vib-mlp" / "metrics.json")["models"][0]
    assert evaluated["source"] == "zoo:tiny-vib-mlp" and evaluated["sha256"] == card["sha256"]
    for bad in (None, "", "models/tiny-vib-mlp"):
        with pytest.raises(ValueError, match="zoo name"):
            zoo.source(bad)
    assert "test[:20]" in (models_dir / "README.md").read_text()
    # --reevaluate scores the published file again, without re-exporting it
    (models_dir / "evaluations" / "tiny-vib-mlp" / "metrics.json").unlink()
    assert build_zoo.main([*argv, "--reevaluate"]) == 0
    assert reports.read_json(models_dir / "cards" / "tiny-vib-mlp.json")["sha256"] == card["sha256"]
    assert (models_dir / "evaluations" / "tiny-vib-mlp" / "metrics.json").exists()
    with pytest.raises(SystemExit, match="needs the published"):
        build_zoo.main([*argv[:1], "tiny-dualib-mlp", *argv[2:], "--reevaluate"])
    # both prediction modes: the card's own (its main evaluation, as it is) and the decoder at mu
    card = reports.read_json(models_dir / "cards" / "tiny-vib-mlp.json")
    modes = card["evaluation"]["by_prediction"]
    assert modes["samples"]["test"] == card["evaluation"]["test"] and modes["samples"]["num_samples"] == 2
    assert modes["mu"]["num_samples"] == 1 and 0.0 <= modes["mu"]["test"]["accuracy"] <= 1.0
    del card["evaluation"]["by_prediction"]
    reports.write_json(models_dir / "cards" / "tiny-vib-mlp.json", card)
    assert build_zoo.main(["--prediction-modes", "--models-dir", str(models_dir), "--limit", "60", "--data-dir", data_dir]) == 0
    again = reports.read_json(models_dir / "cards" / "tiny-vib-mlp.json")["evaluation"]["by_prediction"]
    assert again["mu"] == modes["mu"] and again["samples"] == modes["samples"]
    assert "| tiny-vib-mlp |" in (models_dir / "predictions.md").read_text()
    with pytest.raises(SystemExit, match="no published stochastic model named \\['mnist-vib-mlp'\\]"):
        build_zoo.main(["--prediction-modes", "--name", "mnist-vib-mlp", "--models-dir", str(models_dir), "--data-dir", data_dir])
    # the build keeps the per-example scores; --examples writes them for evaluations from before
    from vdualib.evaluation import examples

    record = models_dir / "evaluations" / "tiny-vib-mlp" / examples.EXAMPLES_FILE
    assert examples.read_examples(record)[2]["source"] == "evaluation"
    record.unlink()
    assert build_zoo.main(["--examples", "--models-dir", str(models_dir), "--data-dir", data_dir]) == 0
    labels, scores, info = examples.read_examples(record)
    assert labels.size == 60 and info["source"] == "reproduced" and info["sha256"]["tiny-vib-mlp"] == card["sha256"]
    # sampled predictions included: the same noise as the evaluation drew, so the same figures
    assert np.mean(scores["tiny-vib-mlp"]["nll"]) == pytest.approx(card["evaluation"]["test"]["nll"], abs=1e-9)
    with pytest.raises(SystemExit, match="no published model named \\['nope'\\]"):
        build_zoo.main(["--examples", "--name", "nope", "--models-dir", str(models_dir), "--data-dir", data_dir])
    # a run is published under its own zoo name or a name of the user's, never another model's
    with pytest.raises(SystemExit, match="'mnist-dualib-mlp' is the zoo name of another model; this run trained 'mnist-vib-mlp'"):
        build_zoo.main([*argv[:1], "mnist-dualib-mlp", *argv[2:]])
    assert not (models_dir / "mnist-dualib-mlp.keras").exists()
    assert zoo_building.check_name("mnist-vib-mlp", recipe) == "mnist-vib-mlp"
    with pytest.raises(ValueError, match="must name its"):
        zoo_building.check_name("mine", {"dataset": "mnist"})


def _card_with(dataset, method, accuracy, ece, curve=None):
    return {
        "name": f"x-{method}",
        "dataset": dataset,
        "method": method,
        "training": {"curve": curve or []},
        "evaluation": {"test": {"accuracy": accuracy, "ece": ece}},
    }


@pytest.mark.parametrize(
    "dataset, method, accuracy, ece, missed",
    [
        ("mnist", "vib", 0.9890, 0.0050, []),  # both exactly on the target
        ("mnist", "dualib", 0.9889, 0.0040, ["accuracy"]),
        ("mnist", "deterministic", 0.9870, 0.2, []),  # a deterministic model has no ECE target
        ("fashion_mnist", "vib", 0.95, 0.016, ["ece"]),
        ("cifar10", "dualib", 0.90, 0.03, ["accuracy", "ece"]),
    ],
)
def test_target_status_checks_accuracy_and_ece_against_the_table(dataset, method, accuracy, ece, missed):
    status = zoo_building.target_status(_card_with(dataset, method, accuracy, ece))
    assert status["missed"] == missed and status["met"] == (not missed)
    assert status["accuracy"]["target"] == zoo_building.TARGETS[dataset]["accuracy"]["deterministic" if method == "deterministic" else "stochastic"]
    assert (status["ece"] is None) == (method == "deterministic")


def test_target_of_an_unknown_data_set_or_method():
    assert zoo_building.target("tiny", "vib") is None
    assert zoo_building.target_status(_card_with("tiny", "vib", 0.5, 0.5)) is None
    with pytest.raises(ValueError):
        zoo_building.target("mnist", "bayes")
    # what is not a card, or not a prediction mode, is refused rather than read as "no target"
    card = _card_with("mnist", "vib", 0.99, 0.004)
    for bad in (None, "mnist-vib-mlp", {"name": "x"}):
        with pytest.raises(ValueError, match="expected a model card"):
            zoo_building.target_status(bad)
        with pytest.raises(ValueError, match="expected a model card"):
            zoo_building.curve_figure(bad, "unused.png")
    with pytest.raises(ValueError, match="prediction must be None"):
        zoo_building.target_status(card, "median")


@pytest.mark.slow
def test_curve_figure_and_render_draw_the_curve_of_every_card(tmp_path):
    curve = [{"epoch": e, "accuracy": 0.9 + 0.01 * e, "val_accuracy": 0.88 + 0.01 * e} for e in range(1, 6)]
    with pytest.raises(ValueError, match="no per-epoch curve"):
        zoo_building.curve_figure(_card_with("mnist", "vib", 0.98, 0.01), tmp_path / "none.png")
    # render: the table's target column and one curve.png per card that has a curve
    folder = tmp_path / "models"
    shutil.copytree(zoo.models_dir(), folder, ignore=shutil.ignore_patterns("*.keras", "*.png"))
    record = reports.read_json(folder / "cards" / "mnist-vib-mlp.json")
    record["training"]["curve"] = curve
    reports.write_json(folder / "cards" / "mnist-vib-mlp.json", record)
    text = build_zoo.render(str(folder))
    png = folder / "evaluations" / "mnist-vib-mlp" / "curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "evaluations/mnist-vib-mlp/curve.png" in text
    status = zoo_building.target_status(record)
    row = next(line for line in text.splitlines() if line.startswith("| mnist-vib-mlp |"))
    assert row.rstrip(" |").endswith("met" if status["met"] else "missed " + " and ".join(status["missed"]))


def test_predictions_table_checks_the_target_in_each_mode(tmp_path):
    def mode(accuracy, ece, temperature):
        test = {"accuracy": accuracy, "nll": 0.03, "brier": 0.01, "ece": ece, "adaptive_ece": ece}
        return {"num_samples": 12, "test": test, "temperature": temperature, "ece_after_ts": 0.002}

    record = _card_with("mnist", "dualib", 0.9907, 0.0038)
    assert zoo_building.target_status(record, "mu") is None  # a card without both modes
    record["evaluation"]["by_prediction"] = {"samples": mode(0.9907, 0.0038, 1.5), "mu": mode(0.9910, 0.0056, 1.9)}
    assert zoo_building.target_status(record, "samples")["met"] and zoo_building.target_status(record, "mu")["missed"] == ["ece"]
    folder = tmp_path / "models"
    (folder / "cards").mkdir(parents=True)
    reports.write_json(folder / "cards" / "mnist-dualib-mlp.json", dict(record, name="mnist-dualib-mlp"))
    reports.write_json(folder / "cards" / "mnist-vib-mlp.json", dict(_card_with("mnist", "vib", 0.99, 0.004), name="mnist-vib-mlp"))
    reports.write_json(
        folder / "cards" / "mnist-deterministic-mlp.json",
        dict(_card_with("mnist", "deterministic", 0.99, 0.004), name="mnist-deterministic-mlp"),
    )
    lines = zoo_building.predictions_table(str(folder)).splitlines()
    assert len(lines) == 4  # header, rule and the two stochastic models
    assert lines[2] == (
        "| mnist-dualib-mlp | 0.9907 | 0.0300 | 0.0038 | 1.5000 | 0.0020 | met | 0.9910 | 0.0300 | 0.0056 | 1.9000 | 0.0020 | missed ece |"
    )
    assert lines[3] == "| mnist-vib-mlp |" + " - |" * 12


@pytest.mark.slow
def test_recipes_table_says_which_models_follow_todays_recipe(tmp_path):
    from vdualib import recipes

    folder = tmp_path / "models"
    shutil.copytree(zoo.models_dir(), folder, ignore=shutil.ignore_patterns("*.keras", "*.png"))
    for name, recipe in (
        ("mnist-vib-mlp", dict(recipes.get_recipe("mnist-vib-mlp"), epochs=30)),
        ("mnist-dualib-mlp", recipes.get_recipe("mnist-dualib-mlp")),
    ):
        record = reports.read_json(folder / "cards" / f"{name}.json")
        record["recipe"] = recipe
        reports.write_json(folder / "cards" / f"{name}.json", record)
    text = build_zoo.render(str(folder))
    table = (folder / "recipes.md").read_text()
    assert table in text
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert rows["mnist-vib-mlp"] == "| mnist-vib-mlp | no | epochs: 30 -> 200 |"
    assert rows["mnist-dualib-mlp"] == "| mnist-dualib-mlp | yes | - |"
    assert len(rows) == len(zoo.cards(str(folder)))
    record = reports.read_json(folder / "cards" / "mnist-vib-mlp.json")
    del record["recipe"]["method"]
    reports.write_json(folder / "cards" / "mnist-vib-mlp.json", record)
    with pytest.raises(ValueError, match="card of 'mnist-vib-mlp' has no valid recipe"):
        zoo_building.recipes_table(str(folder))
    # the cards table names the damaged card too, whether its recipe or its evaluation is broken
    with pytest.raises(ValueError, match="card of 'mnist-vib-mlp' is damaged .*method"):
        zoo_building.cards_table(str(folder))
    record = reports.read_json(folder / "cards" / "mnist-dualib-mlp.json")
    del record["evaluation"]
    reports.write_json(folder / "cards" / "mnist-dualib-mlp.json", record)
    for table in (zoo_building.cards_table, zoo_building.predictions_table):
        with pytest.raises(ValueError, match="card of 'mnist-dualib-mlp' is damaged .*evaluation.*rebuild it"):
            table(str(folder))


def _write_log(path, val_accuracy, accuracy):
    lines = ["epoch,accuracy,loss,val_accuracy,val_loss"]
    lines += [f"{e},{a},0.1,{v},0.2" for e, (a, v) in enumerate(zip(accuracy, val_accuracy))]
    path.write_text("\n".join(lines) + "\n")


def test_zoo_schedule_compares_the_variants_of_a_recipe(tmp_path, capsys):
    from scripts import zoo_schedule

    _write_log(tmp_path / "mnist-vib-mlp-augment-crop.csv", [0.9 + 0.01 * e for e in range(10)], [0.95] * 10)
    _write_log(tmp_path / "mnist-vib-mlp-augment-none.csv", [0.95, 0.97, 0.96, 0.96, 0.96], [0.99, 1.0, 1.0, 1.0, 1.0])
    _write_log(tmp_path / "fashion-mnist-vib-convnet-wide.csv", [0.5, 0.6], [0.5, 0.6])
    assert zoo_schedule.main(["--dir", str(tmp_path)]) == 0
    text = (tmp_path / "schedule.md").read_text()
    crop = next(line for line in text.splitlines() if "| augment-crop |" in line).split(" | ")
    # epochs run, val acc @ 5, val acc @ 10, best, at epoch, last training accuracy
    assert crop[2:] == ["10", "0.9400", "0.9900", "0.9900", "10", "0.9500 |"]
    none = next(line for line in text.splitlines() if "| augment-none |" in line)
    assert "| 0.9700 | 2 | 1.0000 |" in none  # the best epoch, not the last
    # "fashion-mnist-vib-convnet" is not read as a variant of "mnist-..."
    assert "| fashion-mnist-vib-convnet | wide |" in text
    assert (tmp_path / "schedule.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "mnist-vib.csv").write_text("epoch,accuracy,val_accuracy\n0,0.5,0.5\n")
    with pytest.raises(ValueError, match="<zoo name>-<variant>.csv"):
        zoo_schedule.main(["--dir", str(tmp_path)])
    (tmp_path / "mnist-vib.csv").unlink()
    (tmp_path / "mnist-vib-mlp-bad.csv").write_text("step,loss\n0,1.0\n")
    with pytest.raises(ValueError, match="not a training log"):
        zoo_schedule.main(["--dir", str(tmp_path)])


def test_train_zoo_orders_references_first_and_refuses_stale_runs(tmp_path, capsys):
    from scripts import train_zoo
    from vdualib import recipes

    assert sorted(train_zoo.ORDER) == recipes.recipe_names()
    for position, name in enumerate(train_zoo.ORDER):
        reference = recipes.RECIPES[name]["label_noise_reference"]
        if reference:
            assert train_zoo.ORDER.index(reference) < position, name
    with pytest.raises(SystemExit) as exit_info:
        train_zoo.main(["--runs", str(tmp_path), "--models-dir", str(tmp_path), "--names", "mnist-ceb-mlp"])
    assert exit_info.value.code == 2 and "unknown zoo names ['mnist-ceb-mlp']" in capsys.readouterr().err
    arguments = ["--runs", str(tmp_path / "runs"), "--models-dir", str(tmp_path / "models"), "--dry-run"]
    # a finished run of today's recipe is built; one of an earlier recipe, or of another model, is refused
    run = tmp_path / "runs" / "mnist-vib-mlp"
    run.mkdir(parents=True)
    reports.write_json(run / "train.json", {"recipe": recipes.get_recipe("mnist-vib-mlp")})
    assert train_zoo.main(arguments + ["--names", "mnist-vib-mlp"]) == 0
    printed = capsys.readouterr().out
    assert "mnist-vib-mlp: trained" in printed and "-m scripts.build_zoo --name mnist-vib-mlp" in printed
    for recorded, differs in (
        (dict(recipes.get_recipe("mnist-vib-mlp"), epochs=30), "['epochs']"),
        (recipes.get_recipe("mnist-dualib-mlp"), "another zoo name"),
        ({"epochs": 3}, "an unreadable recipe"),
    ):
        reports.write_json(run / "train.json", {"recipe": recorded})
        with pytest.raises(SystemExit, match="holds a finished run of another recipe") as exit_info:
            train_zoo.main(arguments + ["--names", "mnist-vib-mlp"])
        assert differs in str(exit_info.value)
    # a run not started yet: the training command, then the build
    assert train_zoo.main(arguments + ["--names", "fashion-mnist-vib-convnet"]) == 0
    printed = capsys.readouterr().out
    assert "--recipe fashion-mnist-vib-convnet" in printed
    assert f"--precision {train_zoo.precision_of('convnet', 'auto')}" in printed
    assert train_zoo.main(arguments + ["--names", "fashion-mnist-vib-convnet", "--precision", "float32"]) == 0
    assert "--precision float32" in capsys.readouterr().out
    assert os.environ.get("VDUALIB_MODELS_DIR") != str(tmp_path / "models")  # given to its commands, not set here


def test_train_zoo_takes_bfloat16_only_where_the_machine_has_it(monkeypatch):
    from scripts import train_zoo
    from vdualib import training

    monkeypatch.setattr(training, "native_precision", lambda precision, cpuinfo=None: True)
    assert train_zoo.precision_of("resnet20", "auto") == "mixed_bfloat16" and train_zoo.precision_of("mlp", "auto") == "float32"
    monkeypatch.setattr(training, "native_precision", lambda precision, cpuinfo=None: precision == "float32")
    assert train_zoo.precision_of("resnet20", "auto") == "float32"
    assert train_zoo.precision_of("mlp", "mixed_bfloat16") == "mixed_bfloat16"


@pytest.mark.slow
def test_export_writes_a_compiled_free_file_that_keeps_its_teacher(tmp_path):
    import keras

    import vdualib
    from vdualib import losses

    inputs = keras.Input((28, 28), dtype="uint8")
    teacher = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    noise = losses.TeacherNoise(teacher, epsilon=0.01)
    student = vdualib.build_classifier("mlp", 10, method="dualib", latent_dim=4, num_samples=0, label_noise=noise, seed=0)
    student.compile("adam")
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28)).astype(np.uint8)
    student.fit(images, np.arange(8), epochs=1, batch_size=8, verbose=0)  # a trained file, with its optimizer's state
    student.save(tmp_path / "trained.keras")
    exported = zoo.load(zoo_building.export(str(tmp_path / "trained.keras"), str(tmp_path / "exported.keras")))
    np.testing.assert_array_equal(exported.label_noise.teacher.get_weights()[0], teacher.get_weights()[0])
    assert getattr(exported, "optimizer", None) is None  # not compiled: no optimizer state in the release
    x = np.zeros((2, 28, 28), np.uint8)
    np.testing.assert_allclose(exported.predict(x, verbose=0), student.predict(x, verbose=0), atol=1e-6)
