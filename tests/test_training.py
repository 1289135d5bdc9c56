import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from vdualib import recipes, reports, training

TINY = ["epochs=2", "train_size=600", "validation_size=200", "batch_size=100", "latent_dim=8"]


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated crash after the first epoch")


def _weights(path):
    return [w.numpy() for w in keras.saving.load_model(path, safe_mode=True).weights]


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tmp_path, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY)
    straight = training.train(recipe, tmp_path / "straight", data_dir=data_dir, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, tmp_path / "crashed", data_dir=data_dir, verbose=0, callbacks=[_Crash()])
    state = reports.read_json(tmp_path / "crashed" / "checkpoint.json")
    assert state["epochs_done"] == 1
    with pytest.raises(ValueError, match="resume=True"):
        training.train(recipe, tmp_path / "crashed", data_dir=data_dir, verbose=0)
    resumed = training.train(recipe, tmp_path / "crashed", resume=True, data_dir=data_dir, verbose=0)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    for a, b in zip(_weights(tmp_path / "straight" / "model.keras"), _weights(tmp_path / "crashed" / "model.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert resumed["history"][-1]["loss"] == pytest.approx(straight["history"][-1]["loss"], rel=1e-4)
    # logs and the record
    with open(tmp_path / "straight" / "log.csv") as f:
        header = f.readline().strip().split(",")
    for column in ("loss", "accuracy", "rate", "distortion", "izy", "val_accuracy"):
        assert column in header
    assert straight["sha256"] == reports.sha256_file(tmp_path / "straight" / "model.keras")
    assert straight["parameters"] > 0 and straight["train_seconds"] > 0
    assert os.listdir(tmp_path / "straight" / "tensorboard")


def test_recipes_cover_the_zoo_and_validate_overrides():
    names = recipes.recipe_names()
    assert len(names) == 9
    for dataset, backbone in (("mnist", "mlp"), ("fashion-mnist", "convnet"), ("cifar10", "resnet20")):
        group = [recipes.RECIPES[f"{dataset}-{m}-{backbone}"] for m in ("deterministic", "vib", "dualib")]
        shared = ("backbone", "optimizer", "learning_rate", "lr_schedule", "epochs", "batch_size", "augment", "seed")
        for key in shared:
            assert len({json.dumps(r[key]) for r in group}) == 1, key
    recipe = recipes.get_recipe("mnist-dualib-mlp", ["beta=0.01", "epochs=3", "augment=none"])
    assert recipe["beta"] == 0.01 and recipe["epochs"] == 3 and recipe["augment"] == "none"
    with pytest.raises(ValueError, match="Unknown recipe field"):
        recipes.get_recipe("mnist-dualib-mlp", ["betta=1"])
    with pytest.raises(ValueError, match="Unknown recipe"):
        recipes.get_recipe("mnist-ceb-mlp")
    with pytest.raises(ValueError, match="label_noise=smoothing"):
        recipes.get_recipe("mnist-dualib-mlp", ["label_noise=none"])
    with pytest.raises(ValueError, match="epochs must be positive"):
        recipes.get_recipe("mnist-dualib-mlp", ["epochs=0"])


def test_train_script_help_and_errors(capsys):
    from vdualib.scripts import train as script

    with pytest.raises(SystemExit):
        script.main(["--help"])
    assert "--resume" in capsys.readouterr().out
    assert script.main(["--recipe", "mnist-dualib-mlp", "--set", "beta=-1"]) == 2
    assert "beta must be >= 0" in capsys.readouterr().err


_MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from vdualib import recipes, training
    out, data_dir = sys.argv[1], sys.argv[2]
    recipe = recipes.get_recipe("mnist-deterministic-mlp", ["epochs=1", "train_size=800", "validation_size=200",
                                 "batch_size=100", "latent_dim=8", "lr_schedule=constant"])
    results = {}
    for strategy in ("default", "mirrored"):
        record = training.train(recipe, f"{out}/{strategy}", strategy=strategy, data_dir=data_dir, verbose=0)
        model = keras.saving.load_model(f"{out}/{strategy}/model.keras", safe_mode=True)
        results[strategy] = {"replicas": record["replicas"], "loss": record["history"][-1]["loss"],
                             "weights": [w.numpy().ravel().tolist() for w in model.trainable_weights]}
    print(json.dumps(results))
    """
)


def test_mirrored_strategy_on_two_cpus_matches_single_device(tmp_path, data_dir):
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), data_dir], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["default"]["replicas"] == 1 and results["mirrored"]["replicas"] == 2
    assert results["mirrored"]["loss"] == pytest.approx(results["default"]["loss"], rel=1e-3)
    for a, b in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
