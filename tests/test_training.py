import os
import warnings

import keras
import numpy as np
import pytest

from vdualib import losses, recipes, reports, training

TINY = ["epochs=2", "train_size=600", "validation_size=200", "batch_size=100", "latent_dim=8"]


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated crash after the first epoch")


def _weights(path):
    return [w.numpy() for w in keras.saving.load_model(path, safe_mode=True).weights]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, overrides",
    [
        ("mnist-vib-mlp", []),
        # dropout, a class-conditional prior, p~ from the zoo's deterministic model, the warm-up (CI's JAX
        # step runs this one on Keras' JAX backend too)
        pytest.param("fashion-mnist-dualib-convnet", ["backbone_width=0.5", "distortion_warmup_steps=8"],
                     marks=pytest.mark.cross_backend),
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


@pytest.mark.slow
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
        v.assign(np.ones(v.shape, v.dtype))
    model.optimizer.apply_gradients([(np.zeros(v.shape, v.dtype), v) for v in model.trainable_variables])
    return {v.path for v in model.trainable_variables if not np.all(v.numpy() == 1.0)}


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_diverging_run_stops_with_an_error_and_restores_the_dtype_policy(tmp_path, capsys, data_dir, monkeypatch):
    from vdualib.commands import train as command

    out = tmp_path / "diverged"
    out.mkdir()
    (out / ".checkpoint.abc.tmp.keras").write_bytes(b"left by a kill -9")
    before = keras.mixed_precision.global_policy().name
    monkeypatch.setattr(training, "native_precision", lambda precision, cpuinfo=None: True)  # no hardware warning
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
    monkeypatch.setattr(zoo, "load", lambda spec, download=True: Reference())
    monkeypatch.setattr(zoo, "describe", lambda spec, model: ({"sha256": "f" * 64}, card))
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
    np.testing.assert_allclose(keras.ops.convert_to_numpy(noise(np.array([0, 1, 2]), x)), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_a_training_set_smaller_than_a_batch_is_refused(tmp_path, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", ["train_size=50", "batch_size=100"])
    with pytest.raises(ValueError, match="make no full batch of 100"):
        training.train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)


def test_native_precision_reads_the_cpu_flags(tmp_path, monkeypatch):
    monkeypatch.setattr(training.tf.config, "list_physical_devices", lambda kind=None: [])  # a CPU-only machine
    x86, arm, plain = tmp_path / "x86", tmp_path / "arm", tmp_path / "plain"
    x86.write_text("flags\t\t: fpu sse avx2 fma avx512f avx512_bf16\n")
    arm.write_text("Features\t: fp asimd fphp asimdhp bf16\n")
    plain.write_text("flags\t\t: fpu sse avx2 fma\n")
    assert training.native_precision("float32", str(plain))
    assert training.native_precision("mixed_bfloat16", str(x86)) and training.native_precision("mixed_bfloat16", str(arm))
    assert not training.native_precision("mixed_float16", str(x86)) and training.native_precision("mixed_float16", str(arm))
    assert not training.native_precision("mixed_bfloat16", str(plain))
    assert not training.native_precision("mixed_bfloat16", str(tmp_path / "missing"))
    monkeypatch.setattr(training.tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert training.native_precision("mixed_bfloat16", str(plain))
    with pytest.raises(ValueError, match="precision must be one of"):
        training.native_precision("bfloat16")


@pytest.mark.slow
def test_training_in_an_emulated_precision_warns(tmp_path, data_dir, monkeypatch):
    recipe = recipes.get_recipe("mnist-deterministic-mlp", TINY + ["epochs=1"])
    monkeypatch.setattr(training, "native_precision", lambda precision, cpuinfo=None: precision == "float32")
    with pytest.warns(UserWarning, match="emulates it and training is usually slower than in float32"):
        training.train(recipe, tmp_path, data_dir=data_dir, verbose=0, precision="mixed_bfloat16")
    monkeypatch.setattr(training, "native_precision", lambda precision, cpuinfo=None: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        record = training.train(recipe, tmp_path, resume=True, data_dir=data_dir, verbose=0, precision="mixed_bfloat16")
    assert record["precision"] == "mixed_bfloat16"


def test_a_file_reference_gives_p_tilde_on_its_own_held_out_split(tmp_path):
    """A reference model file that train wrote (train.json beside it) held out its own seed's split:
    a recipe of another seed measures p~ there, not on examples the reference trained on."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (600, 28, 28), dtype=np.uint8)
    y = np.arange(600) % 10
    reference = recipes.get_recipe("mnist-deterministic-mlp", TINY)
    model = training.build_from_recipe(reference, name="reference")
    path = tmp_path / "run" / "model.keras"
    path.parent.mkdir()
    model.save(path)
    recipe = recipes.get_recipe("mnist-dualib-mlp", TINY + ["seed=1", f"label_noise_reference={path}"])
    # no record beside the file: its split is unknown, the recipe's own is used
    assert training.recorded_recipe(path) is None
    assert training.label_noise_from_recipe(recipe, x, y)[1]["split"].endswith("(seed 1)")
    reports.write_json(path.parent / "train.json", {"recipe": reference, "sha256": reports.sha256_file(path)})
    assert training.recorded_recipe(path, sha256=reports.sha256_file(path)) == reference
    assert training.label_noise_from_recipe(recipe, x, y)[1]["split"].endswith("(seed 0)")
    # a record of another file (the model was replaced since) is not the reference's
    reports.write_json(path.parent / "train.json", {"recipe": reference, "sha256": "0" * 64})
    assert training.recorded_recipe(path, sha256=reports.sha256_file(path)) is None
    assert training.label_noise_from_recipe(recipe, x, y)[1]["split"].endswith("(seed 1)")


def test_restrict_weight_decay_refuses_what_is_not_a_compiled_model():
    with pytest.raises(ValueError, match="model must be a compiled keras.Model, got str"):
        training.restrict_weight_decay("model")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.optimizer = "adam"
    with pytest.raises(ValueError, match="the model's optimizer must be a keras optimizer"):
        training.restrict_weight_decay(model)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4))
    with pytest.raises(ValueError, match="prior must be True or False, got str 'yes'"):
        training.restrict_weight_decay(model, prior="yes")
    assert [v.name for v in training.restrict_weight_decay(model)] == ["bias"]


def test_a_teacher_of_another_data_set_is_refused(tmp_path):
    recipe = recipes.get_recipe(
        "mnist-dualib-mlp", TINY + ["label_noise=teacher", "label_noise_reference=fashion-mnist-deterministic-convnet"]
    )
    x, y = np.zeros((300, 28, 28), np.uint8), np.arange(300) % 10
    with pytest.raises(ValueError, match="was trained on fashion_mnist, not mnist; choose a reference of this data set"):
        training.label_noise_from_recipe(recipe, x, y)
