"""Data sets: MNIST, Fashion-MNIST, CIFAR-10 and the 12-bit IB task, plus ``tf.data`` pipelines.

:func:`load` returns ``(x_train, y_train), (x_test, y_test)`` as uint8 numpy arrays, images
``(N, 28, 28)`` for MNIST and Fashion-MNIST and ``(N, 32, 32, 3)`` for CIFAR-10, labels ``(N,)``.
Models take these raw arrays: preprocessing lives inside the model.

Where the files are looked for, in order:

1. ``data_dir`` (an argument),
2. the directory in the ``VDUALIB_DATA_DIR`` environment variable,
3. the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``), in the layout that
   ``keras.datasets`` writes (``mnist.npz``, ``fashion-mnist/*.gz``, ``cifar-10-batches-py``),
4. ``keras.datasets``' own download (only with ``download=True``, the default).

Accepted files in a data directory: ``mnist.npz``; ``fashion-mnist/{train,t10k}-*-idx?-ubyte.gz``;
CIFAR-10 either as ``cifar10-jpeg.zip`` (a JPEG rendition: ``train/<class>/*.jpg``,
``test/<class>/*.jpg``, decoded once and cached as ``.npz`` keyed by the zip's sha256) or as the
canonical ``cifar-10-batches-py`` folder. The canonical CIFAR-10 batches are Python pickles; they
are read with a restricted unpickler that admits numpy arrays, lists, dicts, strings and numbers
only, so a tampered file cannot run code.

A file that exists but is damaged raises ``ValueError`` naming the path and what was expected; a
data set found nowhere (with ``download=False``) raises ``FileNotFoundError`` listing the places
searched.
"""

import dataclasses
import gzip
import io
import os
import pickle
import zipfile

import numpy as np

from vdualib import reports

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "canonical_name",
    "info",
    "CIFAR10_CLASSES",
    "load",
    "load_ib_12bit",
    "data_dirs",
    "cache_dir",
    "image_shape",
    "num_classes",
    "training_dataset",
    "AUGMENTATIONS",
    "evaluation_dataset",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the library knows about one data set, decided here only.

    Attributes:
        name: canonical name (``"fashion_mnist"``), as recipes and cards store it.
        slug: the form used in zoo model names (``"fashion-mnist"``).
        image_shape: shape of one raw uint8 image, e.g. ``(28, 28)``.
        num_classes: number of classes C.
        sizes: examples in the train and test splits.
        backbone: the zoo backbone trained on it (a key of ``vdualib.models.BACKBONES``).
        ood: the out-of-distribution sets its evaluations report by default.
        grayscale: single-channel images.
    """

    name: str
    slug: str
    image_shape: tuple
    num_classes: int
    sizes: tuple
    backbone: str
    ood: tuple
    grayscale: bool


#: canonical name -> :class:`DatasetInfo`: the one table of data sets
DATASETS = {
    "mnist": DatasetInfo("mnist", "mnist", (28, 28), 10, (60000, 10000), "mlp", ("fashion_mnist",), True),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "fashion-mnist", (28, 28), 10, (60000, 10000), "convnet", ("mnist",), True
    ),
    "cifar10": DatasetInfo("cifar10", "cifar10", (32, 32, 3), 10, (50000, 10000), "resnet20", ("uniform", "gaussian"), False),
}

_ALIASES = {"fashion-mnist": "fashion_mnist", "cifar-10": "cifar10"}


def canonical_name(name):
    """The canonical name of a data set, accepting the zoo-name form (``"fashion-mnist"``).

    Raises:
        ValueError: an unknown data set, with the choices.
    """
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose one of {sorted(DATASETS)}.")
    return key


def info(name):
    """The :class:`DatasetInfo` of data set ``name`` (canonical or zoo-name form)."""
    return DATASETS[canonical_name(name)]


def image_shape(name):
    """Shape of one image of data set ``name``, e.g. ``(28, 28)``."""
    return info(name).image_shape


def num_classes(name):
    """Number of classes of data set ``name``."""
    return info(name).num_classes


def cache_dir():
    """Where decoded arrays are cached: ``$VDUALIB_CACHE_DIR`` or ``~/.cache/vdualib``."""
    return os.environ.get("VDUALIB_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "vdualib")


def _keras_cache():
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "datasets")


def data_dirs(data_dir=None):
    """The directories searched, in order: ``data_dir``, ``$VDUALIB_DATA_DIR``, the Keras cache."""
    dirs = []
    if data_dir is not None:
        if not os.path.isdir(data_dir):
            raise FileNotFoundError(f"data_dir {data_dir!r} is not a directory; pass the folder holding the data files.")
        dirs.append(os.fspath(data_dir))
    env = os.environ.get("VDUALIB_DATA_DIR")
    if env:
        dirs.append(env)
    dirs.append(_keras_cache())
    return dirs


def _check_split(path, x, y, shape, size=None):
    if x.dtype != np.uint8 or x.shape[1:] != tuple(shape) or x.ndim != len(shape) + 1:
        raise ValueError(f"{path}: expected uint8 images of shape (N, {', '.join(map(str, shape))}), got {x.dtype} {x.shape}.")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{path}: expected one label per image, got {len(y)} labels for {len(x)} images.")
    if size is not None and len(x) != size:
        raise ValueError(f"{path}: expected {size} examples, found {len(x)}; the file looks truncated.")
    return x, y.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# MNIST (npz)


def _read_mnist_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(
            f"{path} is damaged or not an MNIST npz (expected arrays x_train, y_train, x_test, y_test): {err}"
        ) from err
    return arrays


def _load_mnist(dirs):
    for d in dirs:
        path = os.path.join(d, "mnist.npz")
        if os.path.isfile(path):
            a = _read_mnist_npz(path)
            train = _check_split(path, a["x_train"], a["y_train"], (28, 28), 60000)
            test = _check_split(path, a["x_test"], a["y_test"], (28, 28), 10000)
            return train, test
    return None


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX)

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _read_idx(path, ndim):
    """Read a gzipped IDX file of unsigned bytes with ``ndim`` dimensions."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path} is damaged (expected a gzipped IDX file): {err}") from err
    if len(raw) < 4 + 4 * ndim or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != ndim:
        raise ValueError(f"{path}: not an IDX file of uint8 with {ndim} dimension(s) (bad magic number).")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header promises {int(np.prod(dims))} bytes of data, found {data.size}; the file is truncated.")
    return data.reshape(dims).copy()


def _load_fashion_mnist(dirs):
    for d in dirs:
        folder = os.path.join(d, "fashion-mnist")
        paths = {s: [os.path.join(folder, f) for f in files] for s, files in _IDX_FILES.items()}
        if all(os.path.isfile(p) for ps in paths.values() for p in ps):
            out = []
            for split, size in (("train", 60000), ("test", 10000)):
                images_path, labels_path = paths[split]
                out.append(
                    _check_split(images_path, _read_idx(images_path, 3), _read_idx(labels_path, 1), (28, 28), size)
                )
            return tuple(out)
    return None


# ---------------------------------------------------------------------------------------------
# CIFAR-10: JPEG zip (decoded once, cached) or the canonical pickled batches


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits only the globals a numpy array needs; anything else is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _read_cifar_batch(path):
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, KeyError, TypeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path} is damaged or not a CIFAR-10 python batch (a dict with b'data' and b'labels'): {err}") from err
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: expected data of shape (N, 3072), got {data.shape}.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.uint8)


def _load_cifar_batches(folder):
    parts = [_read_cifar_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_batch(os.path.join(folder, "test_batch"))
    return (
        _check_split(folder, x_train, y_train, (32, 32, 3), 50000),
        _check_split(folder, x_test, y_test, (32, 32, 3), 10000),
    )


def _decode_cifar_zip(path):
    from PIL import Image
    from tqdm.auto import tqdm

    splits = {"train": ([], []), "test": ([], [])}
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.lower().endswith(".jpg"))
            for name in tqdm(names, desc="decoding CIFAR-10 JPEGs", unit="img", disable=None):
                parts = name.split("/")
                if len(parts) < 3 or parts[-3] not in splits or parts[-2] not in CIFAR10_CLASSES:
                    raise ValueError(f"unexpected member {name!r} (expected train|test/<class>/<file>.jpg)")
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
                if pixels.shape != (32, 32, 3):
                    raise ValueError(f"member {name!r} has shape {pixels.shape}, expected (32, 32, 3)")
                images, labels = splits[parts[-3]]
                images.append(pixels)
                labels.append(CIFAR10_CLASSES.index(parts[-2]))
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is damaged (expected a zip of train|test/<class>/*.jpg): {err}") from err
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    out = []
    for split, size in (("train", 50000), ("test", 10000)):
        images, labels = splits[split]
        x = np.stack(images) if images else np.zeros((0, 32, 32, 3), np.uint8)
        out.append(_check_split(path, x, np.asarray(labels, np.uint8), (32, 32, 3), size))
    return tuple(out)


def _load_cifar_zip(path):
    """Decode the JPEG zip once and cache the arrays under :func:`cache_dir`, keyed by sha256."""
    digest = reports.sha256_file(path)
    cached = os.path.join(cache_dir(), f"cifar10-jpeg-{digest[:16]}.npz")
    if os.path.isfile(cached):
        try:
            with np.load(cached, allow_pickle=False) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            os.remove(cached)  # a damaged cache is rebuilt from the zip
    (x_train, y_train), (x_test, y_test) = _decode_cifar_zip(path)
    with reports.atomic_path(cached) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return (x_train, y_train), (x_test, y_test)


def _load_cifar10(dirs):
    for d in dirs:
        zip_path = os.path.join(d, "cifar10-jpeg.zip")
        if os.path.isfile(zip_path):
            return _load_cifar_zip(zip_path)
        folder = os.path.join(d, "cifar-10-batches-py")
        if os.path.isdir(folder):
            return _load_cifar_batches(folder)
    return None


_LOADERS = {"mnist": _load_mnist, "fashion_mnist": _load_fashion_mnist, "cifar10": _load_cifar10}


def _download(name):
    """Keras' own download into the Keras cache (needs the internet)."""
    import keras

    loader = {
        "mnist": keras.datasets.mnist,
        "fashion_mnist": keras.datasets.fashion_mnist,
        "cifar10": keras.datasets.cifar10,
    }[name]
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    shape = DATASETS[name].image_shape
    return (
        _check_split(name, np.asarray(x_train, np.uint8), np.asarray(y_train).reshape(-1), shape),
        _check_split(name, np.asarray(x_test, np.uint8), np.asarray(y_test).reshape(-1), shape),
    )


def load(name, data_dir=None, download=True):
    """Load a data set as uint8 arrays: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        data_dir: optional folder searched first (see the module docstring for the order).
        download: if nothing is found locally, fall back to ``keras.datasets``' download.

    CIFAR-10 from ``cifar10-jpeg.zip`` is a JPEG (quality 75) rendition of the canonical data:
    figures measured on it are not canonical CIFAR-10 figures.
    """
    key = canonical_name(name)
    dirs = data_dirs(data_dir)
    found = _LOADERS[key](dirs)
    if found is not None:
        return found
    if not download:
        raise FileNotFoundError(
            f"{key} was not found in {dirs}; set VDUALIB_DATA_DIR or pass data_dir= to the folder holding it, "
            "or allow download=True."
        )
    return _download(key)


def load_ib_12bit(data_dir=None):
    """The 12-bit task of the information-plane study (Shwartz-Ziv & Tishby 2017).

    Returns ``(x, y)``: ``x`` uint8 ``(4096, 12)``, every 12-bit pattern once; ``y`` uint8 ``(4096,)``
    binary labels. Read from ``ib-12bit.npz`` in the data directories (no download exists).
    """
    dirs = data_dirs(data_dir)
    for d in dirs:
        path = os.path.join(d, "ib-12bit.npz")
        if os.path.isfile(path):
            try:
                with np.load(path, allow_pickle=False) as f:
                    x, y = np.asarray(f["x"]), np.asarray(f["y"]).reshape(-1)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
                raise ValueError(f"{path} is damaged (expected arrays x (4096, 12) and y (4096,)): {err}") from err
            if x.shape != (4096, 12) or y.shape != (4096,) or not set(np.unique(y)) <= {0, 1}:
                raise ValueError(f"{path}: expected x (4096, 12) and binary y (4096,), got {x.shape} and {y.shape}.")
            return x.astype(np.uint8), y.astype(np.uint8)
    raise FileNotFoundError(f"ib-12bit.npz was not found in {dirs}; set VDUALIB_DATA_DIR or pass data_dir=.")


# ---------------------------------------------------------------------------------------------
# tf.data pipelines


AUGMENTATIONS = ("none", "crop", "crop_flip")


def _augment(image, seed, pad, flip):
    """Random crop after ``pad`` pixels of zero padding, then (if ``flip``) a random horizontal
    flip, for one image ``(H, W)`` or ``(H, W, C)``.

    Stateless ops keyed by ``seed`` (a [2] int tensor), so an epoch's augmentation is the same
    whether or not the run was interrupted and resumed.
    """
    import tensorflow as tf

    grayscale = image.shape.rank == 2
    if grayscale:
        image = image[..., None]
    shape = tf.shape(image)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    image = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    return image[..., 0] if grayscale else image


def training_dataset(x, y, batch_size, seed=0, augment="none", epochs=1, initial_epoch=0, pad=4):
    """A shuffled, batched ``tf.data.Dataset`` of ``(uint8 images, int labels)`` for ``fit``.

    Epoch ``e`` uses a permutation and augmentation drawn from ``(seed, e)`` alone, so a run
    resumed at ``initial_epoch`` sees exactly the data an uninterrupted run would. The dataset
    yields ``epochs - initial_epoch`` epochs back to back; pass
    ``steps_per_epoch=len(x) // batch_size`` to ``fit``.

    ``augment``: ``"none"``, ``"crop"`` (random crop of the image zero-padded by ``pad`` pixels,
    i.e. a random shift, for digits) or ``"crop_flip"`` (crop and random horizontal flip, the
    usual CIFAR augmentation). ``True``/``False`` mean ``"crop_flip"``/``"none"``.
    """
    import tensorflow as tf

    if augment is True:
        augment = "crop_flip"
    elif augment is False or augment is None:
        augment = "none"
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}.")
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int32)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}; pass one label per example.")
    if batch_size <= 0 or batch_size > len(x):
        raise ValueError(f"batch_size must be in [1, {len(x)}], got {batch_size}.")
    if augment != "none" and x.ndim not in (3, 4):
        raise ValueError(f"augment={augment!r} needs images (N, H, W) or (N, H, W, C), got shape {x.shape}.")
    steps = len(x) // batch_size
    images = tf.constant(x)
    labels = tf.constant(y)
    n = len(x)

    def one_epoch(epoch):
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.argsort(tf.random.stateless_uniform([n], seed=key))[: steps * batch_size]
        indices = tf.data.Dataset.from_tensor_slices(order)

        def fetch(i):
            image = tf.gather(images, i)
            if augment != "none":
                image = _augment(image, tf.stack([key[0] + 1, key[1] * n + tf.cast(i, tf.int64)]), pad, augment == "crop_flip")
            return image, tf.gather(labels, i)

        return indices.map(fetch, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)

    dataset = tf.data.Dataset.range(initial_epoch, epochs).flat_map(one_epoch)
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x, y=None, batch_size=256):
    """An ordered, batched ``tf.data.Dataset`` for ``evaluate``/``predict`` (no shuffling)."""
    import tensorflow as tf

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    tensors = np.asarray(x) if y is None else (np.asarray(x), np.asarray(y).astype(np.int32))
    return tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size).prefetch(tf.data.AUTOTUNE)
