import os
import shutil

import numpy as np
import pytest

import vdualib
from vdualib import reports, zoo


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo folder with one small model, registered the way build_zoo registers models."""
    folder = tmp_path / "models"
    folder.mkdir()
    model = vdualib.build_classifier("mlp", 10, method="vib", latent_dim=4, num_samples=2, seed=0)
    trained = tmp_path / "trained.keras"
    model.save(trained)
    target = zoo.export(str(trained), str(folder / "tiny-vib-mlp.keras"))
    card = {"name": "tiny-vib-mlp", "sha256": reports.sha256_file(target), "file_bytes": os.path.getsize(target)}
    zoo.register("tiny-vib-mlp", target, card, folder=str(folder), base_url="file://" + str(tmp_path / "server") + "/")
    monkeypatch.setenv("VDUALIB_MODELS_DIR", str(folder))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return folder, model


def test_load_checks_the_hash_and_gives_the_same_model(tiny_zoo, mnist_small):
    folder, model = tiny_zoo
    (x, _), _ = mnist_small
    assert zoo.list_models() == ["tiny-vib-mlp"]
    assert zoo.card("tiny-vib-mlp")["name"] == "tiny-vib-mlp"
    loaded = zoo.load("tiny-vib-mlp")
    np.testing.assert_array_equal(loaded.predict_samples(x[:20], num_samples=0), model.predict_samples(x[:20], num_samples=0))
    assert loaded.predict(x[:20], verbose=0).shape == (20, 10)
    with pytest.raises(ValueError, match="Unknown zoo model"):
        zoo.load("tiny-dualib-mlp")


def test_a_tampered_file_is_refused(tiny_zoo):
    folder, _ = tiny_zoo
    path = folder / "tiny-vib-mlp.keras"
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ValueError, match="sha256 .* but the registry expects"):
        zoo.load("tiny-vib-mlp")


def test_download_into_the_keras_cache_with_hash_check(tiny_zoo, tmp_path):
    folder, _ = tiny_zoo
    server = tmp_path / "server"
    server.mkdir()
    shutil.move(folder / "tiny-vib-mlp.keras", server / "tiny-vib-mlp.keras")
    with pytest.raises(FileNotFoundError, match="allow download=True"):
        zoo.path("tiny-vib-mlp", download=False)
    fetched = zoo.path("tiny-vib-mlp")  # file:// address from the registry, via keras.utils.get_file
    assert fetched.startswith(str(tmp_path / "keras"))
    assert zoo.load("tiny-vib-mlp").method == "vib"
    # a server that serves a different file is refused
    os.remove(fetched)
    with open(server / "tiny-vib-mlp.keras", "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError):
        zoo.path("tiny-vib-mlp")


def test_committed_models_match_their_cards(mnist):
    """Every committed MNIST model reproduces its card's test accuracy."""
    _, (x_test, y_test) = mnist
    names = [n for n in zoo.list_models() if n.startswith("mnist-")]
    assert names, "the zoo should hold the MNIST reference models"
    for name in names:
        card = zoo.card(name)
        assert card["sha256"] == zoo.sha256(name)
        model = zoo.load(name)
        probs = model.predict(x_test, batch_size=1000, verbose=0)
        accuracy = float(np.mean(probs.argmax(1) == y_test))
        # 12 fresh encoder samples: within Monte Carlo noise of the card
        assert accuracy == pytest.approx(card["evaluation"]["test"]["accuracy"], abs=0.003)


def test_evaluation_takes_the_data_set_from_the_card(tmp_path):
    from vdualib import evaluation

    assert evaluation.zoo_dataset(["mnist-dualib-mlp", "mnist-vib-mlp"]) == "mnist"
    with pytest.raises(ValueError, match="pass --dataset"):
        evaluation.zoo_dataset([str(tmp_path / "mine.keras")])


def test_the_readme_main_command_and_the_quickstart(tmp_path, capsys, data_dir):
    from vdualib.scripts import evaluate, quickstart

    out = tmp_path / "evaluate"
    code = evaluate.main(["--model", "mnist-dualib-mlp", "--corruptions", "none", "--limit", "500", "--no-progress", "--out", str(out), "--data-dir", data_dir])
    assert code == 0
    assert "mnist-dualib-mlp" in capsys.readouterr().out
    record = reports.read_json(out / "metrics.json")
    assert record["models"][0]["sha256"] == zoo.sha256("mnist-dualib-mlp")
    # temperature scaling on the split the recipe held out, as in the card
    scaling = record["models"][0]["temperature_scaling"]
    card = zoo.card("mnist-dualib-mlp")["evaluation"]["temperature_scaling"]
    assert scaling["fit_on"] == "validation" and scaling["fit_examples"] == 5000
    assert scaling["temperature"] == pytest.approx(card["temperature"], rel=0.02)  # same split, fresh MC draws
    assert record["models"][0]["clean"]["accuracy"] > 0.95
    assert quickstart.main(["--train-size", "1000", "--data-dir", data_dir]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "ECE (15 bins)" in printed and "bits" in printed


def test_build_zoo_exports_evaluates_and_reevaluates(tmp_path, data_dir):
    from vdualib import recipes, training
    from vdualib.scripts import build_zoo

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
    assert "test[:20]" in (models_dir / "README.md").read_text()
    # --reevaluate scores the published file again, without re-exporting it
    (models_dir / "evaluations" / "tiny-vib-mlp" / "metrics.json").unlink()
    assert build_zoo.main([*argv, "--reevaluate"]) == 0
    assert reports.read_json(models_dir / "cards" / "tiny-vib-mlp.json")["sha256"] == card["sha256"]
    assert (models_dir / "evaluations" / "tiny-vib-mlp" / "metrics.json").exists()
    with pytest.raises(SystemExit, match="needs the published"):
        build_zoo.main([*argv[:1], "tiny-dualib-mlp", *argv[2:], "--reevaluate"])
