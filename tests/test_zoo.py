import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import vdualib
from vdualib import reports, zoo


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo folder with one small model: the file, its card and a registry entry."""
    folder = tmp_path / "models"
    folder.mkdir()
    model = vdualib.build_classifier("mlp", 10, method="vib", latent_dim=4, num_samples=2, seed=0)
    target = folder / "tiny-vib-mlp.keras"
    model.save(target)
    digest = reports.sha256_file(target)
    card = {
        "name": "tiny-vib-mlp",
        "dataset": "mnist",
        "recipe": {"dataset": "mnist", "validation_size": 0, "seed": 0},
        "sha256": digest,
        "file_bytes": os.path.getsize(target),
    }
    base_url = "file://" + str(tmp_path / "server") + "/"
    entry = {"file": target.name, "sha256": digest, "bytes": card["file_bytes"], "url": base_url + target.name}
    reports.write_json(folder / "cards" / "tiny-vib-mlp.json", card)
    reports.write_json(folder / zoo.REGISTRY_FILE, {"base_url": base_url, "models": {"tiny-vib-mlp": entry}})
    monkeypatch.setenv("VDUALIB_MODELS_DIR", str(folder))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return folder, model


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_tampered_file_is_refused(tiny_zoo):
    folder, _ = tiny_zoo
    path = folder / "tiny-vib-mlp.keras"
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ValueError, match="sha256 .* but the registry expects"):
        zoo.load("tiny-vib-mlp")


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"models": {"tiny-vib-mlp": ', "is not valid JSON"),
        ('["not", "an", "object"]', "must be an object with a 'models' object"),
        ('{"models": {"tiny-vib-mlp": {"file": "tiny-vib-mlp.keras"}}}', "'tiny-vib-mlp' has no 'sha256'"),
        ('{"models": {"tiny-vib-mlp": {"file": "../x.keras", "sha256": "' + "0" * 64 + '"}}}', "no plain 'file' name"),
    ],
)
def test_a_bad_registry_is_a_clear_value_error(tiny_zoo, text, message):
    folder, _ = tiny_zoo
    (folder / "registry.json").write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        zoo.load("tiny-vib-mlp")
    assert str(folder / "registry.json") in str(caught.value) and "restore" in str(caught.value).lower()


def test_models_dir_without_a_registry_is_named_not_skipped(tmp_path, monkeypatch):
    empty = tmp_path / "no-zoo-here"
    empty.mkdir()
    monkeypatch.setenv("VDUALIB_MODELS_DIR", str(empty))
    with pytest.raises(FileNotFoundError, match=f"VDUALIB_MODELS_DIR='{empty}' holds no registry.json"):
        zoo.list_models()


def test_a_damaged_model_file_or_checkpoint_says_so(tiny_zoo, tmp_path):
    folder, _ = tiny_zoo
    whole = (folder / "tiny-vib-mlp.keras").read_bytes()
    for name, content in (("model.keras", whole[: len(whole) // 2]), ("checkpoint.keras", whole[:100]), ("empty.keras", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match="is damaged .* Delete it"):
            zoo.load(path)
        with pytest.raises(ValueError, match="is damaged"):
            zoo.load(str(path))
    # a flipped byte inside a member fails its CRC
    corrupted = bytearray(whole)
    corrupted[len(whole) // 2] ^= 0xFF
    (tmp_path / "flipped.keras").write_bytes(bytes(corrupted))
    with pytest.raises(ValueError, match="is damaged"):
        zoo.load(tmp_path / "flipped.keras")


def test_a_missing_zoo_file_offline_says_where_it_looked(tiny_zoo, tmp_path):
    """The registry's address does not answer (a file:// address to nowhere, as offline)."""
    folder, _ = tiny_zoo
    os.remove(folder / "tiny-vib-mlp.keras")
    with pytest.raises(FileNotFoundError) as caught:
        zoo.load("tiny-vib-mlp")
    message = str(caught.value)
    assert str(folder) in message and str(tmp_path / "keras" / "models" / "vdualib") in message
    assert "copy the file into one of them" in message and zoo.sha256("tiny-vib-mlp") in message
    assert "downloading file://" in message


@pytest.mark.slow
def test_load_decides_file_or_zoo_name_in_one_place_and_describe_records_it(tiny_zoo, tmp_path, monkeypatch):
    folder, model = tiny_zoo
    loaded = zoo.load("tiny-vib-mlp")
    info, card = zoo.describe("tiny-vib-mlp", loaded)
    assert card["name"] == "tiny-vib-mlp" and info["label"] == "tiny-vib-mlp" and info["source"] == "zoo:tiny-vib-mlp"
    assert info["sha256"] == zoo.sha256("tiny-vib-mlp") and info["method"] == "vib"
    assert info["parameters"] == model.count_params()
    path = str(folder / "tiny-vib-mlp.keras")
    info, card = zoo.describe(path, zoo.load(path))
    assert card is None and info["label"] == "tiny-vib-mlp" and info["source"] == path
    with pytest.raises(FileNotFoundError, match="does not exist"):
        zoo.load(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="is not a .keras file"):
        zoo.load("runs/mnist-vib-mlp")  # a path separator makes it a file
    with pytest.raises(ValueError, match=r"Unknown zoo model 'tiny-dualib-mlp'; available: \['tiny-vib-mlp'\]"):
        zoo.load("tiny-dualib-mlp")
    # a stray file spelled like a zoo name does not shadow the zoo model
    monkeypatch.chdir(folder)
    (folder / "tiny-vib-mlp").write_text("not a model")
    assert zoo.describe("tiny-vib-mlp", zoo.load("tiny-vib-mlp"))[1]["name"] == "tiny-vib-mlp"
    for bad in (None, "", 3):
        with pytest.raises(ValueError, match="a .keras path or a zoo name"):
            zoo.load(bad)


def test_the_registry_is_parsed_once_until_it_changes(tiny_zoo, monkeypatch):
    from vdualib import evaluation

    folder, _ = tiny_zoo
    registry_path = str(folder / "registry.json")
    parsed = []
    read_json = reports.read_json

    def counting(path, *args, **kwargs):
        parsed.append(os.fspath(path))
        return read_json(path, *args, **kwargs)

    monkeypatch.setattr(reports, "read_json", counting)
    os.utime(registry_path, ns=(1, 1))  # a fresh stamp: whatever was cached before is stale
    _, card = zoo.describe("tiny-vib-mlp", zoo.load("tiny-vib-mlp"))
    zoo.list_models(), zoo.sha256("tiny-vib-mlp"), zoo.card("tiny-vib-mlp")
    assert evaluation.zoo_dataset([card]) == "mnist"
    assert evaluation.zoo_validation([card], "mnist") is None  # the tiny recipe held nothing out
    assert parsed.count(registry_path) == 1
    # mutating a returned record does not change the cache
    zoo.registry()["models"].clear()
    assert zoo.list_models() == ["tiny-vib-mlp"]
    os.utime(registry_path, ns=(2, 2))
    zoo.list_models()
    assert parsed.count(registry_path) == 2


@pytest.mark.slow
def test_every_committed_zoo_model_still_loads_and_predicts(mnist):
    """Files written by earlier versions (beta at the model level, no rate in the encoder) keep
    loading with safe_mode=True, and the registered names keep resolving."""
    from vdualib import datasets

    names = zoo.list_models()
    assert len(names) == 9
    for name in names:
        model = zoo.load(name, download=False)
        info, card = zoo.describe(name, model)
        assert info["sha256"] == card["sha256"] == zoo.sha256(name)
        assert model.method == card["method"]
        shape = datasets.image_shape(card["dataset"])
        probs = model.predict_samples(np.zeros((2,) + shape, np.uint8), num_samples=2)
        assert probs.shape == (2, 2, 10) if model.stochastic else (1, 2, 10)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        if card["dataset"] == "mnist":
            (_, _), (x_test, y_test) = mnist
            accuracy = float(np.mean(model.predict(x_test[:500], verbose=0).argmax(1) == y_test[:500]))
            assert accuracy > 0.95


# ---------------------------------------------------------------------------------------------
# A model file is self-contained, and what the loader refuses it names, with the fix


def _small_backbone():
    import keras

    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(8, activation="relu")(x))


def _teacher():
    import keras

    inputs = keras.Input((28, 28), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", kernel_initializer="he_normal")(x))


def _rewrite(source, target, edit=None, drop=None, config_bytes=None):
    """Copy the .keras archive ``source`` to ``target``, editing its config.json or dropping a member."""
    import json
    import zipfile

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename == drop:
                continue
            data = old.read(info.filename)
            if info.filename == "config.json":
                if config_bytes is not None:
                    data = config_bytes
                elif edit is not None:
                    config = json.loads(data)
                    edit(config)
                    data = json.dumps(config).encode()
            new.writestr(info, data)
    return target


@pytest.fixture(scope="module")
def student_files(tmp_path_factory, mnist):
    """A teacher file, and a student trained with TeacherNoise(that file) saved beside it."""
    from vdualib import losses

    folder = tmp_path_factory.mktemp("teacher")
    (x, y), _ = mnist
    teacher = _teacher()
    teacher.save(folder / "teacher.keras")
    noise = losses.TeacherNoise(zoo.load(folder / "teacher.keras"), epsilon=0.01)
    student = vdualib.build_classifier(_small_backbone(), 10, method="dualib", latent_dim=4, num_samples=0, label_noise=noise)
    student.compile("adam")
    student.fit(x[:200], y[:200], epochs=1, batch_size=100, verbose=0)
    student.save(folder / "student.keras")
    return folder, teacher, student


@pytest.mark.slow
def test_a_model_with_a_teacher_holds_it_and_loading_opens_no_other_file(student_files, mnist, tmp_path, monkeypatch):
    folder, teacher, student = student_files
    (x, y), _ = mnist
    alone = tmp_path / "student.keras"
    shutil.copy(folder / "student.keras", alone)  # without the teacher's file beside it
    opened = []
    load_file = zoo._load_file
    monkeypatch.setattr(zoo, "_load_file", lambda path, *args: opened.append(os.fspath(path)) or load_file(path, *args))
    loaded = zoo.load(alone)
    assert opened == [str(alone)]
    for restored, original in zip(loaded.label_noise.teacher.weights, teacher.weights):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
    np.testing.assert_allclose(
        loaded.label_noise(np.array([3, 4]), x[:2]).numpy(), student.label_noise(np.array([3, 4]), x[:2]).numpy(), atol=1e-6
    )
    np.testing.assert_allclose(loaded.predict(x[:5], verbose=0), student.predict(x[:5], verbose=0), atol=1e-6)
    loaded.fit(x[:100], y[:100], epochs=1, batch_size=100, verbose=0)  # trains on: the teacher came with the file
    # the teacher is no layer of the student: not trained, not counted
    assert loaded.count_params() == student.count_params()


@pytest.mark.slow
def test_a_teacher_named_by_path_is_refused_unless_allowed_and_never_recurses(student_files, tmp_path, monkeypatch):
    """Files of earlier versions stored the teacher's path: loading one would open another file."""
    folder, teacher, _ = student_files
    source = folder / "student.keras"

    def naming(path):
        return lambda config: config["config"]["label_noise"]["config"].update(teacher=str(path))

    opened = []
    load_file = zoo._load_file
    monkeypatch.setattr(zoo, "_load_file", lambda path, *args: opened.append(os.fspath(path)) or load_file(path, *args))
    old = _rewrite(source, tmp_path / "old.keras", naming(folder / "teacher.keras"))
    with pytest.raises(ValueError, match=r"old.keras cannot be loaded: .*names the teacher by path .*teacher_files=True"):
        zoo.load(old)
    assert opened == [str(old)]  # the teacher's file was not opened
    selfish = _rewrite(source, tmp_path / "self.keras", naming(tmp_path / "self.keras"))
    for allowed in (False, True):
        with pytest.raises(ValueError, match="names the teacher by path"):  # not a RecursionError
            zoo.load(selfish, teacher_files=allowed)
    # allowed explicitly, the named teacher is opened once; saved again, the file holds it
    converted = zoo.load(old, teacher_files=True)
    converted.save(tmp_path / "new.keras")
    again = zoo.load(tmp_path / "new.keras")
    np.testing.assert_array_equal(again.label_noise.teacher.get_weights()[0], teacher.get_weights()[0])


def test_a_rejected_download_leaves_nothing_in_the_cache(tiny_zoo, tmp_path):
    folder, _ = tiny_zoo
    server = tmp_path / "server"
    server.mkdir()
    good = (folder / "tiny-vib-mlp.keras").read_bytes()
    os.remove(folder / "tiny-vib-mlp.keras")
    cached = tmp_path / "keras" / "models" / "vdualib" / "tiny-vib-mlp.keras"
    (server / "tiny-vib-mlp.keras").write_bytes(good + b"x")
    for _ in range(2):  # the real cause each time, not "damaged" from a stale copy
        with pytest.raises(ValueError, match="served a file that is not the registered tiny-vib-mlp"):
            zoo.path("tiny-vib-mlp")
        assert not cached.exists()
    # a damaged cached copy is dropped and fetched again
    (server / "tiny-vib-mlp.keras").write_bytes(good)
    cached.write_bytes(good[:100])
    assert zoo.path("tiny-vib-mlp") == str(cached) and cached.read_bytes() == good
    cached.write_bytes(good[:100])
    with pytest.raises(FileNotFoundError, match="cached copy failed the sha256 check and was removed"):
        zoo.path("tiny-vib-mlp", download=False)
    assert not cached.exists()


@pytest.mark.parametrize("key", ["../../x", "../cards/x", "a/b", "a\\b", ".."])
def test_a_registry_key_that_leaves_the_cards_folder_is_refused(tiny_zoo, key):
    import json

    folder, _ = tiny_zoo
    record = zoo.registry(str(folder))
    record["models"][key] = dict(record["models"]["tiny-vib-mlp"])
    (folder / "registry.json").write_text(json.dumps(record))
    (folder.parent / "x.json").write_text('{"name": "outside"}')  # what cards/../../x.json is
    with pytest.raises(ValueError, match="is not a plain name"):
        zoo.card(key)
    with pytest.raises(ValueError, match="plain name"):
        zoo.source(key)


@pytest.mark.slow
def test_the_zip_directory_is_checked_before_anything_is_decompressed(tiny_zoo, tmp_path, monkeypatch):
    import zipfile

    folder, _ = tiny_zoo
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(folder / "tiny-vib-mlp.keras") as source, zipfile.ZipFile(bomb, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)
    # the central directory now declares 2 GB for the weights, which are stored in a few MB
    data = bytearray(bomb.read_bytes())
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"model.weights.h5") + 1)
    data[entry + 24 : entry + 28] = (2**31 - 1).to_bytes(4, "little")
    bomb.write_bytes(bytes(data))

    def no_decompression(*args, **kwargs):
        raise AssertionError("a member was decompressed before the declared sizes were checked")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_decompression)
    monkeypatch.setattr(zipfile.ZipFile, "testzip", no_decompression)
    with pytest.raises(ValueError, match=r"bomb.keras is refused: its member 'model.weights.h5' declares 2147483647 bytes"):
        zoo.load(bomb)


def _unregistered(config):
    config.update(class_name="MyClassifier", module="my_package.models", registered_name="my_package>MyClassifier")


def _os_system(config):
    config.update(module="os", class_name="system", registered_name=None, config={"command": "echo hacked"})


def _unknown_layer(config):
    layer = config["config"]["backbone"]["config"]["layers"][1]
    layer.update(module="evil", class_name="Payload", registered_name="evil>Payload")


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, named",
    [(_unregistered, "my_package>MyClassifier"), (_os_system, "os.system"), (_unknown_layer, "evil>Payload")],
)
def test_a_file_with_an_unknown_class_is_refused_naming_it(tiny_zoo, tmp_path, capsys, edit, named):
    from vdualib.commands import evaluate

    folder, _ = tiny_zoo
    crafted = _rewrite(folder / "tiny-vib-mlp.keras", tmp_path / "crafted.keras", edit)
    with pytest.raises(ValueError) as caught:
        zoo.load(crafted)
    message = str(caught.value)
    assert str(crafted) in message and named in message and "register_keras_serializable" in message
    assert "Full object config" not in message and len(message) < 600
    assert evaluate.main(["--model", str(crafted), "--out", str(tmp_path / "out")]) == 2
    assert named in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(config_bytes=b'{"class_name": "IBClassifier", '), r"its config.json is not valid JSON"),
        (dict(config_bytes=b"[1, 2]"), r"its config.json is not a Keras model's config"),
        (dict(config_bytes=b"[" * 100000 + b"]" * 100000), r"nests too deeply"),
        (dict(drop="model.weights.h5"), r"it holds no weights \(model.weights.h5 or model.weights.npz is missing"),
    ],
)
def test_a_damaged_config_or_missing_weights_names_the_file(tiny_zoo, tmp_path, capsys, kwargs, message):
    from vdualib.commands import evaluate

    folder, _ = tiny_zoo
    damaged = _rewrite(folder / "tiny-vib-mlp.keras", tmp_path / "damaged.keras", **kwargs)
    with pytest.raises(ValueError, match=message) as caught:
        zoo.load(damaged)
    assert str(damaged) in str(caught.value)
    assert evaluate.main(["--model", str(damaged), "--out", str(tmp_path / "out")]) == 2
    assert str(damaged) in capsys.readouterr().err


@pytest.mark.slow
def test_many_small_bombs_are_refused_by_their_declared_total(tmp_path, monkeypatch):
    import zipfile

    bombs = tmp_path / "bombs.keras"
    with zipfile.ZipFile(bombs, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"")
        for index in range(3):  # each under the per-member floor, together far above it
            archive.writestr(f"pad{index}.bin", b"\0" * (12 << 20))
    monkeypatch.setattr(zipfile.ZipFile, "testzip", lambda self: pytest.fail("decompressed before the sizes were checked"))
    with pytest.raises(ValueError, match="all its members declares .* bytes from .* stored \\(a decompression bomb\\)"):
        zoo.load(bombs)


# ---------------------------------------------------------------------------------------------
# The zoo on either Keras backend

_ZOO_PREDICTIONS = """
import os, sys, zipfile
import numpy as np
from vdualib import datasets, zoo
out = {}
for index, name in enumerate(zoo.list_models()):
    model = zoo.load(name, download=False)
    shape = datasets.image_shape(zoo.describe(name, model)[1]["dataset"])
    x = np.random.default_rng(index).integers(0, 256, (8,) + shape).astype(np.uint8)
    out[name + "/mu"] = model.predict_samples(x, num_samples=0)[0]
    out[name + "/sampled"] = model.predict_samples(x, num_samples=256).mean(axis=0)
    if any(layer.dtype_policy.compute_dtype == "bfloat16" for layer in model._flatten_layers()):
        # the same weights computed in float32: the file with its layers' policies rewritten
        copy = os.path.join(os.path.dirname(sys.argv[1]), name + "-float32-" + sys.argv[2] + ".keras")
        with zipfile.ZipFile(zoo.path(name, download=False), "r") as source, zipfile.ZipFile(copy, "w") as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == "config.json":
                    data = data.replace(b'"mixed_bfloat16"', b'"float32"')
                target.writestr(item, data)
        out[name + "/mu-float32"] = zoo.load(copy).predict_samples(x, num_samples=0)[0]
np.savez(sys.argv[1], **out)
"""


def _zoo_predictions(keras_backend, path):
    """Every zoo model's probabilities on 8 seeded random images, at mu and averaged over 256 draws,
    computed in a fresh process on ``keras_backend``."""
    env = dict(os.environ, KERAS_BACKEND=keras_backend)
    done = subprocess.run([sys.executable, "-c", _ZOO_PREDICTIONS, str(path), keras_backend], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(path) as saved:
        return dict(saved)


@pytest.mark.slow
@pytest.mark.cross_backend
def test_every_zoo_file_loads_on_jax_and_predicts_as_on_tensorflow(tmp_path):
    """The zoo's files (saved on TensorFlow) load on JAX with safe_mode=True; the decoder at mu agrees
    to 1e-5, and the 256-draw mean of the sampled prediction within its Monte Carlo error. The
    mixed_bfloat16 networks (the CIFAR-10 ResNets) agree to 1e-5 computed in float32; in bfloat16
    (8-bit mantissas, summed in another order by XLA's and TensorFlow's kernels) within 2e-2."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed in this environment (pip install '.[jax]'); CI runs this test in its JAX one")
    on_tensorflow = _zoo_predictions("tensorflow", tmp_path / "tensorflow.npz")
    on_jax = _zoo_predictions("jax", tmp_path / "jax.npz")
    assert sorted(on_jax) == sorted(on_tensorflow)
    assert len([key for key in on_jax if not key.endswith("/mu-float32")]) == 2 * len(zoo.list_models())
    assert any(key.endswith("/mu-float32") for key in on_jax)  # the CIFAR-10 ResNets
    for key, expected in on_tensorflow.items():
        if key.endswith("/mu-float32"):
            np.testing.assert_allclose(on_jax[key], expected, atol=1e-5, err_msg=key)
        elif key.endswith("/mu"):
            bfloat16 = key.replace("/mu", "/mu-float32") in on_tensorflow
            np.testing.assert_allclose(on_jax[key], expected, atol=2e-2 if bfloat16 else 1e-5, err_msg=key)
        else:  # different random draws: each mean of 256 probabilities within a few standard errors
            np.testing.assert_allclose(on_jax[key], expected, atol=0.06, err_msg=key)


def test_a_folder_named_like_a_model_file_is_refused_as_a_folder(tmp_path):
    (tmp_path / "model.keras").mkdir()
    with pytest.raises(ValueError, match="is a folder, not a .keras file; pass the model file itself"):
        zoo.load(str(tmp_path / "model.keras"))
