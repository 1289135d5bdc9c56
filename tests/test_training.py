import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from vdualib import losses, models, recipes, reports, training

TINY = ["epochs=2", "train_size=600", "validation_size=200", "batch_size=100", "latent_dim=8"]


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated crash after the first epoch")


def _weights(path):
    return [w.numpy() for w in keras.saving.load_model(path, safe_mode=True).weights]


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("mnist-vib-mlp", []),
        # dropout, a class-conditional prior, p~ from the zoo's deterministic model, the warm-up
        ("fashion-mnist-dualib-convnet", ["backbone_width=0.5", "distortion_warmup_steps=8"]),
        ("cifar10-vib-resnet20", ["train_size=256", "batch_size=128", "validation_size=128", "backbone_width=0.5"]),
    ],
)
def test_every_zoo_backbone_resumes_exactly_after_a_crash(name, overrides, tmp_path, data_dir):
    recipe = recipes.get_recipe(name, TINY + overrides)
    straight = training.train(recipe, tmp_path / "straight", data_dir=data_dir, verbose=0, name=name)
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, tmp_path / "crashed", data_dir=data_dir, verbose=0, callbacks=[_Crash()], name=name)
    state = reports.read_json(tmp_path / "crashed" / "checkpoint.json")
    assert state["epochs_done"] == 1
    with pytest.raises(ValueError, match="resume=True"):
        training.train(recipe, tmp_path / "crashed", data_dir=data_dir, verbose=0, name=name)
    resumed = training.train(recipe, tmp_path / "crashed", resume=True, data_dir=data_dir, verbose=0, name=name)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    for a, b in zip(_weights(tmp_path / "straight" / "model.keras"), _weights(tmp_path / "crashed" / "model.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert resumed["history"][-1]["loss"] == pytest.approx(straight["history"][-1]["loss"], rel=1e-6)
    assert resumed["label_noise_source"] == straight["label_noise_source"]
    if recipe["distortion_warmup"]:
        # lambda_t = 0.1 (1 - step / 8): 6 steps an epoch, logged at the end of each epoch
        warmups = [h["warmup_weight"] for h in straight["history"]]
        assert warmups == pytest.approx([0.1 * (1 - 5 / 8), 0.0], abs=1e-6)
        assert straight["label_noise_source"]["kind"] == "confusion"


def _prior_means(path):
    model = keras.saving.load_model(path, safe_mode=True)
    return model.prior.means.numpy()


def test_weight_decay_leaves_a_learned_prior_alone_also_after_a_resume(tmp_path, data_dir):
    # SGD at a constant lr 0.1 with decoupled decay 0.5 shrinks a decayed weight by 0.95 a step;
    # beta 1e-9 leaves the prior with no gradient of its own, so only the decay could move it
    decay = ["prior=class_conditional", "optimizer=sgd", "learning_rate=0.1", "lr_schedule=constant",
             "weight_decay=0.5", "beta=1e-9", "weight_ema=0.0", "augment=none"]
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY + decay)
    assert recipe["prior_weight_decay"] is False
    keras.utils.set_random_seed(recipe["seed"])  # as training does before it builds the model
    initial = training.build_from_recipe(recipe).prior.means.numpy()
    training.train(recipe, tmp_path / "straight", data_dir=data_dir, verbose=0)
    np.testing.assert_allclose(_prior_means(tmp_path / "straight" / "model.keras"), initial, atol=1e-6)
    # a resumed run's optimizer comes from its checkpoint, without the exclusion: it is set again
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, tmp_path / "resumed", data_dir=data_dir, verbose=0, callbacks=[_Crash()])
    training.train(recipe, tmp_path / "resumed", resume=True, data_dir=data_dir, verbose=0)
    np.testing.assert_allclose(_prior_means(tmp_path / "resumed" / "model.keras"), initial, atol=1e-6)
    # the behaviour of recipes recorded before the field existed: 12 steps of decay
    legacy = dict(recipe, prior_weight_decay=True)
    training.train(legacy, tmp_path / "legacy", data_dir=data_dir, verbose=0)
    np.testing.assert_allclose(_prior_means(tmp_path / "legacy" / "model.keras"), 0.95**12 * initial, rtol=1e-4, atol=1e-6)


def test_restrict_weight_decay_returns_what_it_kept_out():
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY + ["prior=class_conditional"])
    model = training.build_from_recipe(recipe)
    with pytest.raises(ValueError, match="compile the model"):
        training.restrict_weight_decay(model)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4))
    with pytest.raises(ValueError, match="scope must be"):
        training.restrict_weight_decay(model, scope="kernel")
    kept_out = {v.name for v in training.restrict_weight_decay(model)}
    assert kept_out == {"means", "raw_scales", "bias"}
    assert {v.name for v in training.restrict_weight_decay(model, scope="all")} == {"means", "raw_scales"}
    assert {v.name for v in training.restrict_weight_decay(model, scope="all", prior=True)} == set()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))  # no decay: nothing to keep out
    assert training.restrict_weight_decay(model) == []


def _decayed_by_one_step(model):
    """The trainable variables that one optimizer step with zero gradients changes: the decayed ones."""
    for v in model.trainable_variables:  # a variable initialised to zeros would not show its decay
        v.assign(keras.ops.ones_like(v))
    model.optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    return {v.path for v in model.trainable_variables if not np.all(v.numpy() == 1.0)}


@pytest.mark.parametrize("name", ["cifar10-deterministic-resnet20", "cifar10-dualib-resnet20", "fashion-mnist-vib-convnet"])
def test_a_recipe_model_has_one_decay_on_its_kernels_only(name):
    recipe = recipes.get_recipe(name)
    model = training.build_from_recipe(recipe, label_noise=losses.LabelSmoothing(10, 0.1) if "dualib" in name else None)
    model.compile(optimizer=training.make_optimizer(recipe, steps_per_epoch=10))
    training.restrict_weight_decay(model, scope=recipe["weight_decay_scope"], prior=recipe["prior_weight_decay"])
    # no coupled L2 beside the optimizer's decoupled decay: no regulariser terms in the loss
    regularised = [layer.name for layer in model._flatten_layers() if getattr(layer, "kernel_regularizer", None) is not None]
    assert regularised == [] and not any("l2" in str(loss).lower() for loss in model.losses)
    decayed = _decayed_by_one_step(model)
    kernels = {v.path for v in model.trainable_variables if v.name.endswith("kernel")}
    assert decayed == kernels  # every kernel, and no bias, BN gamma/beta or prior parameter
    assert recipes.describe_weight_decay(recipe)["mechanisms"] == 1


def test_resnet20_called_directly_keeps_its_documented_l2():
    backbone = models.build_backbone("resnet20")
    assert len(backbone.losses) == 21  # one L2 term per convolution, as its docstring says
    assert "weight_decay=0" in models.resnet20_backbone.__doc__
    assert models.build_backbone("resnet20", weight_decay=0).losses == []


def test_describe_weight_decay_names_each_mechanism():
    for name, recipe in recipes.RECIPES.items():
        described = recipes.describe_weight_decay(recipe)
        assert described["mechanisms"] == (1 if recipe["weight_decay"] else 0), name
    # a CIFAR-10 record from before recipes decided the decay: SGDW on every variable plus the backbone's L2
    old = {k: v for k, v in recipes.get_recipe("cifar10-deterministic-resnet20").items()
           if k not in ("weight_decay_scope", "backbone_l2", "lr_warmup_epochs", "prior_weight_decay")}
    described = recipes.describe_weight_decay(old)
    assert described["mechanisms"] == 2
    assert described["coupled_l2"]["value"] == 1e-4
    assert described["decoupled"]["applies_to"] == "every trainable variable"
    assert recipes.outdated_fields(old) == {
        "backbone_l2": {"trained": 1e-4, "current": 0.0},
        "weight_decay_scope": {"trained": "all", "current": "kernels"},
    }
    dualib = recipes.describe_weight_decay(recipes.RECIPES["cifar10-dualib-resnet20"])
    assert dualib["decoupled"]["excluded"] == ["biases", "normalization parameters", "the learned prior's means and scales"]
    with pytest.raises(ValueError, match="must be a dict"):
        recipes.describe_weight_decay("cifar10-dualib-resnet20")


def test_lr_warmup_rises_linearly_then_decays():
    recipe = recipes.get_recipe("cifar10-deterministic-resnet20", ["lr_warmup_epochs=2", "epochs=10"])
    schedule = training.make_optimizer(recipe, steps_per_epoch=10)._learning_rate
    lr = [float(schedule(step)) for step in (0, 10, 20, 60, 100)]
    np.testing.assert_allclose(lr[:3], [0.0, 0.05, 0.1], atol=1e-7)
    np.testing.assert_allclose(lr[3], 0.05, atol=1e-6)  # half-way through the 80 decay steps
    assert lr[4] == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="lr_schedule=cosine"):
        recipes.get_recipe("mnist-vib-mlp", ["lr_warmup_epochs=2"])
    with pytest.raises(ValueError, match="must be below epochs"):
        recipes.get_recipe("cifar10-vib-resnet20", ["epochs=3", "lr_warmup_epochs=3"])


def test_a_setting_the_recipe_does_not_read_is_refused():
    with pytest.raises(ValueError, match=r"beta is not read .*deterministic method has no stochastic bottleneck"):
        recipes.get_recipe("mnist-deterministic-mlp", ["beta=0.01"])
    with pytest.raises(ValueError, match=r"momentum is not read .*optimizer is adam"):
        recipes.get_recipe("mnist-vib-mlp", {"momentum": 0.5})
    with pytest.raises(ValueError, match=r"backbone_l2 is not read .*mlp backbone"):
        recipes.get_recipe("mnist-vib-mlp", ["backbone_l2=1e-4"])
    # the same value, or a field switched on in the same overrides, is fine
    assert recipes.get_recipe("mnist-deterministic-mlp", ["beta=0.0"])["beta"] == 0.0
    assert recipes.get_recipe("mnist-vib-mlp", ["optimizer=sgd", "momentum=0.5"])["momentum"] == 0.5


def test_every_vib_recipe_is_the_standard_vib():
    for name, recipe in recipes.RECIPES.items():
        if "-vib-" in name:
            assert recipe["label_noise"] == "none" and recipe["prior"] == "standard_normal", name


def test_resume_refuses_another_run_and_a_missing_checkpoint(tmp_path, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY + ["epochs=1"])
    record = training.train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0, name="mnist-vib-mlp")
    # logs and the record
    with open(tmp_path / "run" / "log.csv") as f:
        header = f.readline().strip().split(",")
    for column in ("loss", "accuracy", "rate", "distortion", "izy", "val_accuracy"):
        assert column in header
    assert record["sha256"] == reports.sha256_file(tmp_path / "run" / "model.keras")
    assert record["parameters"] > 0 and record["train_seconds"] > 0
    assert os.listdir(tmp_path / "run" / "tensorboard")
    other = recipes.get_recipe("mnist-dualib-mlp", TINY + ["epochs=1", "label_noise=smoothing", "prior=standard_normal"])
    with pytest.raises(ValueError, match="another run"):
        training.train(other, tmp_path / "run", resume=True, data_dir=data_dir, verbose=0, name="mnist-dualib-mlp")
    with pytest.raises(ValueError, match=r"recipe fields \['beta'\]"):
        training.train(dict(recipe, beta=0.5), tmp_path / "run", resume=True, data_dir=data_dir, verbose=0, name="mnist-vib-mlp")
    with pytest.raises(ValueError, match="precision"):
        training.train(recipe, tmp_path / "run", resume=True, data_dir=data_dir, verbose=0, name="mnist-vib-mlp", precision="mixed_bfloat16")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        training.train(recipe, tmp_path / "mistyped", resume=True, data_dir=data_dir, verbose=0)
    assert reports.read_json(tmp_path / "run" / "train.json")["recipe"]["method"] == "vib"


def test_a_diverging_run_stops_with_an_error_and_restores_the_dtype_policy(tmp_path, capsys, data_dir):
    from vdualib.commands import train as command

    out = tmp_path / "diverged"
    out.mkdir()
    (out / ".checkpoint.abc.tmp.keras").write_bytes(b"left by a kill -9")
    before = keras.mixed_precision.global_policy().name
    status = command.main(
        ["--recipe", "mnist-deterministic-mlp", "--out", str(out), "--data-dir", data_dir, "--quiet", "--precision", "mixed_bfloat16"]
        + [f"--set={item}" for item in TINY + ["optimizer=sgd", "learning_rate=1e30", "lr_schedule=constant"]]
    )
    assert status == 2
    assert "training loss became" in capsys.readouterr().err
    assert not (out / "model.keras").exists() and not (out / "checkpoint.json").exists()
    assert not (out / ".checkpoint.abc.tmp.keras").exists()
    assert keras.mixed_precision.global_policy().name == before


def test_confusion_label_noise_reads_only_the_validation_split(monkeypatch):
    from vdualib import datasets, zoo

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (300, 28, 28), dtype=np.uint8)
    y = np.arange(300) % 10
    seen = []

    class Reference:
        def predict(self, images, batch_size=None, verbose=0):
            seen.append(images.copy())
            return np.eye(10)[(np.asarray(images)[:, 0, 0] % 10)]

    recipe = recipes.get_recipe("mnist-dualib-mlp", ["validation_size=50", "label_noise_mixing=0.01"])
    card = {"recipe": dict(recipe, method="deterministic")}
    monkeypatch.setattr(zoo, "resolve", lambda spec, download=True: (Reference(), {"sha256": "f" * 64}, card))
    noise, source = training.label_noise_from_recipe(recipe, x, y)
    _, val = datasets.validation_indices(300, 50, recipe["seed"])
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], x[val])
    predicted = x[val][:, 0, 0] % 10
    expected = 0.99 * np.array([np.bincount(predicted[y[val] == c], minlength=10) / max((y[val] == c).sum(), 1) for c in range(10)])
    expected += np.where(np.bincount(y[val], minlength=10)[:, None] == 0, 0.99 / 10, 0) + 0.001
    np.testing.assert_allclose(noise.matrix, expected, atol=1e-12)
    assert source["reference"] == "mnist-deterministic-mlp" and source["reference_sha256"] == "f" * 64
    np.testing.assert_allclose(source["matrix"], expected)
    # a reference that held out a smaller or another split: p~ comes from its own held-out split
    seen.clear()
    card["recipe"].update(validation_size=40, seed=3)
    noise, source = training.label_noise_from_recipe(recipe, x, y)
    _, own = datasets.validation_indices(300, 40, 3)
    np.testing.assert_array_equal(seen[0], x[own])
    assert "40 training examples held out (seed 3)" in source["split"]
    card["recipe"]["dataset"] = "fashion_mnist"
    with pytest.raises(ValueError, match="trained on fashion_mnist"):
        training.label_noise_from_recipe(recipe, x, y)


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
    with pytest.raises(ValueError, match="set label_noise to smoothing"):
        recipes.get_recipe("mnist-dualib-mlp", ["label_noise=none"])
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        recipes.get_recipe("mnist-dualib-mlp", ["epochs=0"])
    with pytest.raises(ValueError, match="part of the recipe's name"):
        recipes.get_recipe("mnist-vib-mlp", ["dataset=cifar10"])
    with pytest.raises(ValueError, match="label_noise_reference"):
        recipes.get_recipe("mnist-vib-mlp", ["label_noise=confusion"])
    paper = recipes.RECIPES["cifar10-dualib-resnet20"]
    assert paper["label_noise"] == "confusion" and paper["label_noise_reference"] == "cifar10-deterministic-resnet20"
    assert paper["prior"] == "class_conditional" and paper["distortion_warmup"] == 0.1
    assert paper["distortion_warmup_steps"] * paper["batch_size"] == 4000 * 64
    # records written before a field existed still validate, with the field's neutral default
    old = {k: v for k, v in recipes.RECIPES["mnist-vib-mlp"].items() if k not in ("weight_ema", "backbone_width")}
    assert recipes.get_recipe(old)["weight_ema"] == 0.0
    # ... except where the base default changed behaviour: decay used to reach a learned prior
    assert not any(r["prior_weight_decay"] for r in recipes.RECIPES.values())
    assert recipes.get_recipe({k: v for k, v in old.items() if k != "prior_weight_decay"})["prior_weight_decay"] is True
    for bad in ("prior_weight_decay=maybe", "prior_weight_decay=2"):
        with pytest.raises(ValueError, match="expected true/false"):
            recipes.get_recipe("mnist-dualib-mlp", [bad])
    with pytest.raises(ValueError, match="prior_weight_decay must be true or false"):
        recipes.get_recipe(dict(recipes.RECIPES["mnist-dualib-mlp"], prior_weight_decay=1))


def test_outdated_fields_names_what_changed_since_a_model_was_trained():
    current = recipes.get_recipe("mnist-vib-mlp")
    assert recipes.outdated_fields(current) == {}
    assert recipes.outdated_fields(dict(current, epochs=30, learning_rate=1e-3)) == {
        "epochs": {"trained": 30, "current": 200},
        "learning_rate": {"trained": 1e-3, "current": 1e-4},
    }
    # a record from before a field existed takes the field's default (here: no weight averaging)
    old = {k: v for k, v in current.items() if k != "weight_ema"}
    assert recipes.outdated_fields(old) == {"weight_ema": {"trained": 0.0, "current": 0.999}}
    # fields the recipe switches off are not differences: a deterministic model's beta schedule,
    # Adam's momentum, the decay of a cosine schedule
    deterministic = recipes.get_recipe("cifar10-deterministic-resnet20")
    assert recipes.outdated_fields(dict(deterministic, beta_epochs=3, beta_schedule="linear")) == {}
    assert recipes.outdated_fields(dict(current, momentum=0.5)) == {}
    # decay of the prior matters only with decay and a learned prior: the CIFAR-10 VdualIB's
    # record from before the field existed differs, the MNIST one (no decay) and a VIB's do not
    before = {k: v for k, v in recipes.get_recipe("cifar10-dualib-resnet20").items() if k != "prior_weight_decay"}
    assert recipes.outdated_fields(before) == {"prior_weight_decay": {"trained": True, "current": False}}
    for name in ("mnist-dualib-mlp", "cifar10-vib-resnet20"):
        assert recipes.outdated_fields({k: v for k, v in recipes.get_recipe(name).items() if k != "prior_weight_decay"}) == {}
    fashion = recipes.get_recipe("fashion-mnist-vib-convnet")
    assert recipes.outdated_fields(dict(fashion, lr_decay_rate=0.5)) == {}
    # switching a feature on or off shows the switch, and the fields it brings as None on one side
    smoothing = dict(recipes.get_recipe("mnist-dualib-mlp"), label_noise="smoothing")
    changed = recipes.outdated_fields(smoothing)
    assert changed["label_noise"] == {"trained": "smoothing", "current": "confusion"}
    assert changed["label_noise_reference"] == {"trained": None, "current": "mnist-deterministic-mlp"}
    # a CIFAR-10 VIB trained on labels smoothed by 0.1 is not today's standard (one-hot) VIB
    smoothed = dict(recipes.get_recipe("cifar10-vib-resnet20"), label_noise="smoothing", label_smoothing=0.1)
    assert recipes.outdated_fields(smoothed) == {
        "label_noise": {"trained": "smoothing", "current": "none"},
        "label_smoothing": {"trained": 0.1, "current": None},
    }
    # a valid name without a built-in recipe, and records that are not recipes
    assert recipes.outdated_fields(dict(current, backbone="resnet20")) is None
    with pytest.raises(ValueError, match="lacks \\['method'\\]"):
        recipes.outdated_fields({k: v for k, v in current.items() if k != "method"})
    with pytest.raises(ValueError, match="must be a dict"):
        recipes.outdated_fields(None)
    with pytest.raises(ValueError, match="epochs"):
        recipes.outdated_fields(dict(current, epochs=float("nan")))
    with pytest.raises(ValueError, match="Unknown recipe fields"):
        recipes.outdated_fields(dict(current, epochz=3))


def test_describe_targets_names_what_each_recipe_trains_towards():
    assert recipes.describe_targets(recipes.RECIPES["mnist-vib-mlp"]) == "one-hot"
    assert recipes.describe_targets(recipes.RECIPES["cifar10-vib-resnet20"]) == "one-hot"
    smoothed = recipes.get_recipe("cifar10-vib-resnet20", ["label_noise=smoothing", "label_smoothing=0.1"])
    assert recipes.describe_targets(smoothed) == "smoothed by 0.1"
    assert recipes.describe_targets(recipes.RECIPES["fashion-mnist-dualib-convnet"]) == (
        "confusion p~ of fashion-mnist-deterministic-convnet"
    )
    teacher = recipes.get_recipe("mnist-dualib-mlp", ["label_noise=teacher", "label_noise_reference=runs/t.keras"])
    assert recipes.describe_targets(teacher) == "teacher p~ of runs/t.keras"
    with pytest.raises(ValueError, match="must be a dict"):
        recipes.describe_targets("mnist-vib-mlp")
    with pytest.raises(ValueError, match="label_noise"):
        recipes.describe_targets(dict(recipes.RECIPES["mnist-vib-mlp"], label_noise="sometimes"))


def test_train_script_help_and_errors(capsys):
    from vdualib.commands import train as script

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
    # a second model trains in the same process (make_strategy shares one MirroredStrategy), and
    # weight decay leaves a learned prior alone under the strategy too (its variables are mirrored)
    decayed = recipes.get_recipe("mnist-vib-mlp", ["epochs=1", "train_size=800", "validation_size=200", "batch_size=100",
                                 "latent_dim=8", "prior=class_conditional", "optimizer=sgd", "learning_rate=0.1",
                                 "lr_schedule=constant", "weight_decay=0.5", "beta=1e-9", "weight_ema=0.0"])
    keras.utils.set_random_seed(decayed["seed"])
    initial = training.build_from_recipe(decayed).prior.means.numpy()
    training.train(decayed, f"{out}/prior", strategy="mirrored", data_dir=data_dir, verbose=0)
    means = keras.saving.load_model(f"{out}/prior/model.keras", safe_mode=True).prior.means.numpy()
    results["prior_moved"] = float(np.abs(means - initial).max())
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
    assert results["prior_moved"] < 1e-6  # 8 steps of decay would have shrunk it by 1 - 0.95**8 = 34%


def test_a_teacher_recipe_loads_its_reference_here_and_the_noise_holds_the_model(tmp_path):
    """p~ from a reference model is built in training: the label noise gets the model, not a path."""
    inputs = keras.Input((28, 28), dtype="uint8")
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    teacher = keras.Model(inputs, outputs)
    path = str(tmp_path / "teacher.keras")
    teacher.save(path)
    recipe = recipes.get_recipe(
        "mnist-dualib-mlp", ["label_noise=teacher", f"label_noise_reference={path}", "label_noise_mixing=0.01"]
    )
    noise, source = training.label_noise_from_recipe(recipe, None, None)
    assert isinstance(noise, losses.TeacherNoise) and isinstance(noise.teacher, keras.Model)
    assert source == {"kind": "teacher", "reference": path, "reference_sha256": reports.sha256_file(path), "mixing": 0.01}
    x = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    expected = 0.99 * teacher.predict(x, verbose=0) + 0.001
    np.testing.assert_allclose(noise(np.array([0, 1, 2]), x).numpy(), expected, rtol=1e-5, atol=1e-7)
