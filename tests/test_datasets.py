import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

from vdualib import datasets


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
