import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

from vdualib import datasets


@pytest.mark.slow
def test_real_data_shapes_and_dtypes(data_dir):
    for name, shape, sizes in (("mnist", (28, 28), (60000, 10000)), ("fashion_mnist", (28, 28), (60000, 10000))):
        (x_train, y_train), (x_test, y_test) = datasets.load(name, data_dir=data_dir, download=False)
        assert x_train.shape == (sizes[0],) + shape and x_test.shape == (sizes[1],) + shape
        assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
        assert set(np.unique(y_test)) == set(range(10))
    (x_train, y_train), _ = datasets.load("mnist", data_dir=data_dir, download=False)
    assert list(y_train[:5]) == [5, 0, 4, 1, 9]  # the canonical order
    x, y = datasets.load_ib_12bit(data_dir)
    assert x.shape == (4096, 12) and len(np.unique(x, axis=0)) == 4096
    assert y.mean() == pytest.approx(0.517, abs=1e-3)


def test_cifar10_jpeg_zip_is_decoded_once_and_cached(tmp_path, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(0)
    archive = tmp_path / "data" / "cifar10-jpeg.zip"
    archive.parent.mkdir()
    monkeypatch.setattr(datasets, "DATASETS", {**datasets.DATASETS})
    with zipfile.ZipFile(archive, "w") as z:
        for split, count in (("train", 2), ("test", 1)):
            for c, cls in enumerate(datasets.CIFAR10_CLASSES):
                for i in range(count):
                    image = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
                    path = tmp_path / "img.jpg"
                    image.save(path, quality=95)
                    z.write(path, f"{split}/{cls}/{i:04d}.jpg")
    monkeypatch.setenv("VDUALIB_CACHE_DIR", str(tmp_path / "cache"))
    # the sizes of the real split are checked: a 30-image zip is reported as truncated
    with pytest.raises(ValueError, match="expected 50000 examples"):
        datasets.load("cifar10", data_dir=str(archive.parent), download=False)


@pytest.mark.slow
def test_cifar10_real_zip_and_cache(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VDUALIB_CACHE_DIR", str(tmp_path))
    (x_train, y_train), (x_test, y_test) = datasets.load("cifar10", data_dir=data_dir, download=False)
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(y_test).tolist() == [1000] * 10
    cached = [f for f in os.listdir(tmp_path) if f.startswith("cifar10-jpeg-")]
    assert len(cached) == 1
    (x2, _), _ = datasets.load("cifar10", data_dir=data_dir, download=False)  # from the cache
    np.testing.assert_array_equal(x2[:100], x_train[:100])


def _write_cifar_batches(folder, rng, n=10):
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def test_canonical_cifar_batches_read_with_a_restricted_unpickler(tmp_path, rng):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder, rng)
    images, labels = datasets._read_cifar_batch(folder / "data_batch_1")
    assert images.shape == (10, 32, 32, 3) and labels.dtype == np.uint8
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f)
    np.testing.assert_array_equal(images[3, :, :, 0].ravel(), raw[b"data"][3, :1024])

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(ValueError, match="refusing to load"):
        datasets._read_cifar_batch(folder / "data_batch_2")


def test_damaged_and_missing_files_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("VDUALIB_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="mnist.npz is damaged"):
        datasets.load("mnist", data_dir=str(tmp_path), download=False)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(folder / name, "wb") as f:
            f.write(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100)
    with pytest.raises(ValueError, match="truncated"):
        datasets.load("fashion_mnist", data_dir=str(tmp_path), download=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="cifar10 was not found"):
        datasets.load("cifar10", data_dir=str(empty), download=False)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        datasets.load("mnist", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="Unknown data set"):
        datasets.load("svhn")


@pytest.mark.slow
def test_training_pipeline_is_deterministic_per_epoch_and_augments(rng):
    x = rng.integers(0, 255, (64, 8, 8, 3), dtype=np.uint8)
    y = np.arange(64) % 10
    full = list(datasets.training_dataset(x, y, 16, seed=3, augment=True, epochs=2).as_numpy_iterator())
    resumed = list(datasets.training_dataset(x, y, 16, seed=3, augment=True, epochs=2, initial_epoch=1).as_numpy_iterator())
    assert len(full) == 8 and len(resumed) == 4
    for (a, la), (b, lb) in zip(full[4:], resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    epoch0 = np.concatenate([b[1] for b in full[:4]])
    epoch1 = np.concatenate([b[1] for b in full[4:]])
    assert sorted(epoch0) == sorted(y) and not np.array_equal(epoch0, epoch1)
    plain = list(datasets.training_dataset(x, y, 16, seed=3, augment=False).as_numpy_iterator())
    # augmentation = crop of a zero-padded image + flip: same shape, different pixels
    assert full[0][0].shape == plain[0][0].shape == (16, 8, 8, 3)
    assert not np.array_equal(full[0][0], plain[0][0])
    with pytest.raises(ValueError, match="batch_size"):
        datasets.training_dataset(x, y, 0)
    digits = list(datasets.training_dataset(x[:, :, :, 0], y, 16, seed=3, augment="crop", pad=2).as_numpy_iterator())
    assert digits[0][0].shape == (16, 8, 8)
    with pytest.raises(ValueError, match="augment must be one of"):
        datasets.training_dataset(x, y, 16, augment="rotate")


# --------------------------------------------------------------------------- labels in data files


def _idx_bytes(array):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("bad_label, message", [(200, r"must be < 10.*200"), (-1, r"must be >= 0.*-1")])
def test_mnist_npz_with_labels_out_of_range_is_refused_naming_the_file(tmp_path, bad_label, message):
    labels = np.arange(10) % 10
    labels[3] = bad_label  # int64, so -1 stays -1 (the old loader's uint8 cast turned it into 255)
    images = np.zeros((10, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels, x_test=images, y_test=np.arange(10))
    with pytest.raises(ValueError, match=f"mnist.npz: labels {message}.*not mnist"):
        datasets.load("mnist", data_dir=str(tmp_path), download=False)


def test_fashion_mnist_idx_with_label_200_is_refused_naming_the_labels_file(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    labels = np.arange(10) % 10
    for split in ("train", "t10k"):
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(_idx_bytes(np.zeros((10, 28, 28))))
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(_idx_bytes(np.where(labels == 4, 200, labels) if split == "train" else labels))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: labels must be < 10.*200"):
        datasets.load("fashion_mnist", data_dir=str(tmp_path), download=False)


@pytest.mark.parametrize("bad_label", [-1, 10])
def test_cifar_batches_with_labels_out_of_range_are_refused(tmp_path, rng, bad_label):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder, rng)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, bad_label]}, f)
    with pytest.raises(ValueError, match=r"data_batch_3: labels must be"):
        datasets.load("cifar10", data_dir=str(tmp_path), download=False)


# --------------------------------------------------------------------------- offline


def test_missing_data_offline_says_where_it_looked_and_what_to_place(tmp_path, monkeypatch):
    import urllib.error

    from keras.src.utils import file_utils

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    # keras' own get_file turns this into its bare Exception("URL fetch failure on ...")
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    env_dir, given = tmp_path / "env", tmp_path / "given"
    env_dir.mkdir(), given.mkdir()
    monkeypatch.setenv("VDUALIB_DATA_DIR", str(env_dir))
    with pytest.raises(FileNotFoundError) as info:
        datasets.load("mnist", data_dir=str(given))
    message = str(info.value)
    for place in (f"{given} (data_dir)", f"{env_dir} ($VDUALIB_DATA_DIR)", str(tmp_path / "keras" / "datasets")):
        assert place in message
    assert "Place mnist.npz in one of these folders" in message and "URL fetch failure" in message
    assert "Exception" in type(info.value.__cause__).__name__  # the download error stays chained
    monkeypatch.delenv("VDUALIB_DATA_DIR")
    with pytest.raises(FileNotFoundError, match=r"\$VDUALIB_DATA_DIR \(not set\).*fashion-mnist/train-images-idx3-ubyte\.gz"):
        datasets.load("fashion_mnist", data_dir=str(given))
    with pytest.raises(FileNotFoundError, match=r"cifar10-jpeg\.zip, or the folder cifar-10-batches-py/.*download=True"):
        datasets.load("cifar10", data_dir=str(given), download=False)
    with pytest.raises(FileNotFoundError, match=r"Place ib-12bit\.npz"):
        datasets.load_ib_12bit(str(given))


# --------------------------------------------------------------------------- validation split


def test_split_validation_is_the_seeded_permutation_and_exposes_its_indices(rng):
    x = rng.integers(0, 256, (50, 4, 4), dtype=np.uint8)
    y = np.arange(50) % 10
    train_idx, val_idx = datasets.validation_indices(50, 12, seed=7)
    order = np.random.default_rng(7).permutation(50)  # the rule training has always used
    np.testing.assert_array_equal(val_idx, order[:12])
    np.testing.assert_array_equal(train_idx, order[12:])
    (x_train, y_train), (x_val, y_val) = datasets.split_validation(x, y, 12, seed=7)
    np.testing.assert_array_equal(x_val, x[order[:12]])
    np.testing.assert_array_equal(y_train, y[order[12:]])
    assert sorted(np.r_[train_idx, val_idx]) == list(range(50))
    (_, y_all), (_, y_none) = datasets.split_validation(x, y, 0, seed=7)
    assert len(y_all) == 50 and len(y_none) == 0
    other, _ = datasets.validation_indices(50, 12, seed=8)
    assert not np.array_equal(other, train_idx)


@pytest.mark.parametrize(
    "validation_size, seed, message",
    [
        (50, 0, "leaves no training data"),
        (60, 0, "leaves no training data"),
        (-1, 0, "validation_size must be an integer >= 0"),
        (2.5, 0, "validation_size must be an integer >= 0"),
        (True, 0, "validation_size must be an integer >= 0"),
        (np.nan, 0, "validation_size"),
        ("5", 0, "validation_size"),
        (5, None, "seed must be an integer >= 0"),
        (5, -1, "seed"),
    ],
)
def test_split_validation_refuses_bad_arguments(validation_size, seed, message):
    x, y = np.zeros((50, 2), np.uint8), np.zeros(50)
    with pytest.raises(ValueError, match=message):
        datasets.split_validation(x, y, validation_size, seed)
    with pytest.raises(ValueError, match=message):
        datasets.validation_indices(50, validation_size, seed)


def test_split_validation_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match="one label per example"):
        datasets.split_validation(np.zeros((50, 2)), np.zeros(49), 5, 0)
    with pytest.raises(ValueError, match="num_examples"):
        datasets.validation_indices(0, 0, 0)


# --------------------------------------------------------------------------- pipelines refuse bad inputs


def _first_batch(dataset):
    return next(iter(dataset.as_numpy_iterator()))


@pytest.mark.slow
def test_pipelines_accept_whole_number_images_as_uint8(rng):
    x = rng.integers(0, 256, (32, 6, 6), dtype=np.uint8)
    y = np.arange(32) % 10
    for images in (x, x.astype(np.float32), x.astype(np.int64)):
        batch, labels = _first_batch(datasets.training_dataset(images, y.astype(np.float64), 8, seed=1, num_classes=10))
        reference, reference_labels = _first_batch(datasets.training_dataset(x, y, 8, seed=1, num_classes=10))
        assert batch.dtype == np.uint8 and labels.dtype == np.int32
        np.testing.assert_array_equal(batch, reference)
        np.testing.assert_array_equal(labels, reference_labels)
        evaluated = _first_batch(datasets.evaluation_dataset(images, batch_size=5))
        assert evaluated.dtype == np.uint8
        np.testing.assert_array_equal(evaluated, x[:5])


@pytest.mark.parametrize(
    "make_images, message",
    [
        (lambda x: x / 255.0, r"look scaled to \[0, 1\].*\(x \* 255\)\.round\(\)\.astype\(np\.uint8\)"),
        (lambda x: x.astype(np.int64) + 100, r"must lie in 0\.\.255"),  # would wrap as uint8
        (lambda x: (x - 127.5) / 64.0, r"must lie in 0\.\.255"),
        (lambda x: np.where(x > 128, np.nan, x.astype(float)), "NaN"),
    ],
)
def test_pipelines_refuse_images_that_are_not_raw_pixels(rng, make_images, message):
    import tensorflow as tf

    x = rng.integers(0, 256, (16, 6, 6), dtype=np.uint8)
    y = np.arange(16) % 10
    bad = make_images(x)
    with pytest.raises(ValueError, match=message):
        datasets.training_dataset(bad, y, 4, num_classes=10)
    with pytest.raises(ValueError, match=message):
        datasets.evaluation_dataset(bad, y, num_classes=10)
    # tensors are checked graph-side when a batch is read
    tensor = tf.constant(bad, tf.float32)
    for dataset in (datasets.training_dataset(tensor, y, 4, num_classes=10), datasets.evaluation_dataset(tensor, y)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            _first_batch(dataset)


@pytest.mark.parametrize(
    "bad_label, message",
    [(10, r"must be < 10"), (15, r"must be < 10"), (-1, r"must be >= 0"), (2.5, "whole numbers"), (np.nan, "NaN")],
)
def test_pipelines_refuse_bad_labels(rng, bad_label, message):
    import tensorflow as tf

    x = rng.integers(0, 256, (16, 6, 6), dtype=np.uint8)
    y = (np.arange(16) % 10).astype(np.float64)
    y[5] = bad_label
    with pytest.raises(ValueError, match=message):
        datasets.training_dataset(x, y, 4, num_classes=10)
    with pytest.raises(ValueError, match=message):
        datasets.evaluation_dataset(x, y, num_classes=10)
    labels = tf.constant(y, tf.float32)
    for dataset in (
        datasets.training_dataset(x, labels, 16, num_classes=10),
        datasets.evaluation_dataset(tf.constant(x), labels, num_classes=10),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            _first_batch(dataset)


def test_pipelines_refuse_bad_arguments(rng):
    x = rng.integers(0, 256, (16, 6, 6), dtype=np.uint8)
    y = np.arange(16) % 10
    for kwargs, message in (
        ({"batch_size": 17}, r"batch_size must be in \[1, 16\]"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": 4, "seed": -1}, "seed"),
        ({"batch_size": 4, "epochs": 2, "initial_epoch": 3}, "initial_epoch"),
        ({"batch_size": 4, "pad": np.nan}, "pad"),
        ({"batch_size": 4, "num_classes": 0}, "num_classes"),
    ):
        with pytest.raises(ValueError, match=message):
            datasets.training_dataset(x, y, **kwargs)
    with pytest.raises(ValueError, match="one label per example"):
        datasets.training_dataset(x, y[:15], 4)
    with pytest.raises(ValueError, match="one label per example"):
        datasets.evaluation_dataset(x, y[:15])
    with pytest.raises(ValueError, match="batch_size"):
        datasets.evaluation_dataset(x, y, batch_size=0)
