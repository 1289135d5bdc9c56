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

A file that exists but is damaged, or holds labels outside ``[0, num_classes)``, raises
``ValueError`` naming the path and what was expected. A data set found nowhere, with
``download=False`` or when the download fails (offline), raises ``FileNotFoundError`` listing the
places searched and the file names to place there.

:func:`split_validation` holds out a seeded validation split; :func:`validation_indices` gives
its indices. :func:`training_dataset` and :func:`evaluation_dataset` build ``tf.data`` pipelines
and refuse images that are not raw pixel values 0..255 and labels that are not class indices
(:func:`vdualib.checks.pixel_images`, :func:`vdualib.checks.integer_labels`, and their graph-side
twins for tensors). Those pipelines, and the Keras download, import TensorFlow when called, not
at the top: the recipes and :mod:`vdualib.ntk` read data sets without it.
"""

import dataclasses
import gzip
import io
import os
import pickle
import zipfile

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from vdualib import checks, reports

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
    "split_validation",
    "validation_indices",
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

    Example:
        >>> DATASETS["cifar10"].image_shape, DATASETS["cifar10"].backbone
        ((32, 32, 3), 'resnet20')
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

    Args:
        name: a data set name, canonical (``"fashion_mnist"``) or zoo-name form (``"fashion-mnist"``).

    Returns:
        The key of :data:`DATASETS` (a string).

    Raises:
        ValueError: an unknown data set, with the choices.

    Example:
        >>> canonical_name("Fashion-MNIST")
        'fashion_mnist'
    """
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose one of {sorted(DATASETS)}.")
    return key


def info(name):
    """The :class:`DatasetInfo` of data set ``name`` (canonical or zoo-name form).

    Args:
        name: a data set name, canonical (``"fashion_mnist"``) or zoo-name form (``"fashion-mnist"``).

    Returns:
        A :class:`DatasetInfo`.

    Raises:
        ValueError: an unknown data set, with the choices.

    Example:
        >>> info("fashion-mnist").slug
        'fashion-mnist'
    """
    return DATASETS[canonical_name(name)]


def image_shape(name):
    """Shape of one image of data set ``name``, e.g. ``(28, 28)``.

    Args:
        name: a data set name, canonical (``"fashion_mnist"``) or zoo-name form (``"fashion-mnist"``).

    Returns:
        A tuple of ints (no batch axis).

    Raises:
        ValueError: an unknown data set, with the choices.

    Example:
        >>> image_shape("cifar10")
        (32, 32, 3)
    """
    return info(name).image_shape


def num_classes(name):
    """Number of classes of data set ``name``.

    Args:
        name: a data set name, canonical (``"fashion_mnist"``) or zoo-name form (``"fashion-mnist"``).

    Returns:
        C, an int.

    Raises:
        ValueError: an unknown data set, with the choices.

    Example:
        >>> num_classes("mnist")
        10
    """
    return info(name).num_classes


def cache_dir():
    """Where decoded arrays are cached: ``$VDUALIB_CACHE_DIR`` or ``~/.cache/vdualib``.

    Returns:
        The folder's path (a string; it need not exist yet).

    Example:
        >>> os.environ["VDUALIB_CACHE_DIR"] = "/data/cache"
        >>> cache_dir()
        '/data/cache'
        >>> del os.environ["VDUALIB_CACHE_DIR"]
        >>> cache_dir() == os.path.expanduser("~/.cache/vdualib")
        True
    """
    return os.environ.get("VDUALIB_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "vdualib")


def _keras_cache():
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "datasets")


def data_dirs(data_dir=None):
    """The directories searched, in order: ``data_dir``, ``$VDUALIB_DATA_DIR``, the Keras cache.

    Args:
        data_dir: an extra folder searched first, or ``None``.

    Returns:
        A list of folder paths (strings).

    Raises:
        FileNotFoundError: ``data_dir`` is given but is not a directory.

    Example:
        >>> data_dirs(tmp)[0] == tmp, data_dirs(tmp)[-1].endswith("datasets")     # the argument first, the Keras cache last
        (True, True)
    """
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


def _check_split(path, x, y, name, size=None):
    """Images and labels of one split of data set ``name`` as read from ``path``, checked
    against :data:`DATASETS`: uint8 images of the data set's shape, one label per image, labels
    in ``[0, num_classes)`` (checked before the uint8 cast, which would turn -1 into 255)."""
    shape, classes = DATASETS[name].image_shape, DATASETS[name].num_classes
    if x.dtype != np.uint8 or x.shape[1:] != tuple(shape) or x.ndim != len(shape) + 1:
        raise ValueError(f"{path}: expected uint8 images of shape (N, {', '.join(map(str, shape))}), got {x.dtype} {x.shape}.")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{path}: expected one label per image, got {len(y)} labels for {len(x)} images.")
    try:
        y = checks.integer_labels("labels", y, classes)
    except ValueError as err:
        raise ValueError(f"{path}: {err} The file is damaged or is not {name}; replace it.") from err
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
            train = _check_split(path, a["x_train"], a["y_train"], "mnist", 60000)
            test = _check_split(path, a["x_test"], a["y_test"], "mnist", 10000)
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
                    _check_split(
                        f"{images_path} and {labels_path}", _read_idx(images_path, 3), _read_idx(labels_path, 1), "fashion_mnist", size
                    )
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
        labels = np.asarray(batch[b"labels"])
    except (OSError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path} is damaged or not a CIFAR-10 python batch (a dict with b'data' and b'labels'): {err}") from err
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: expected data of shape (N, 3072), got {data.shape}.")
    return _check_split(path, data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels, "cifar10")


def _load_cifar_batches(folder):
    parts = [_read_cifar_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_batch(os.path.join(folder, "test_batch"))
    return (
        _check_split(folder, x_train, y_train, "cifar10", 50000),
        _check_split(folder, x_test, y_test, "cifar10", 10000),
    )


def _decode_cifar_zip(path):
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
        out.append(_check_split(path, x, np.asarray(labels, np.int64), "cifar10", size))
    return tuple(out)


def _load_cifar_zip(path):
    """Decode the JPEG zip once and cache the arrays under :func:`cache_dir`, keyed by sha256."""
    digest = reports.sha256_file(path)
    cached = os.path.join(cache_dir(), f"cifar10-jpeg-{digest[:16]}.npz")
    if os.path.isfile(cached):
        try:
            with np.load(cached, allow_pickle=False) as f:
                return (
                    _check_split(cached, f["x_train"], f["y_train"], "cifar10", 50000),
                    _check_split(cached, f["x_test"], f["y_test"], "cifar10", 10000),
                )
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

#: data set -> the files :func:`load` accepts in a data directory, for the "not found" message
_EXPECTED_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": " and ".join(f"fashion-mnist/{f}" for files in _IDX_FILES.values() for f in files),
    "cifar10": "cifar10-jpeg.zip, or the folder cifar-10-batches-py/ (data_batch_1 ... data_batch_5, test_batch) "
    "unpacked from cifar-10-python.tar.gz",
    "ib_12bit": "ib-12bit.npz",
}


def _not_found(name, data_dir):
    """The message for a data set found in none of :func:`data_dirs`: where, and what to place."""
    places = []
    if data_dir is not None:
        places.append(f"{os.fspath(data_dir)} (data_dir)")
    env = os.environ.get("VDUALIB_DATA_DIR")
    places.append(f"{env} ($VDUALIB_DATA_DIR)" if env else "$VDUALIB_DATA_DIR (not set)")
    places.append(f"{_keras_cache()} (the Keras cache, $KERAS_HOME/datasets)")
    return (
        f"{name} was not found. Looked in: {'; '.join(places)}. Place {_EXPECTED_FILES[name]} in one of these "
        "folders, or point VDUALIB_DATA_DIR (or data_dir=) at the folder that holds them."
    )


def _download(name, data_dir):
    """Keras' own download into the Keras cache (needs the internet)."""
    import keras

    loader = {
        "mnist": keras.datasets.mnist,
        "fashion_mnist": keras.datasets.fashion_mnist,
        "cifar10": keras.datasets.cifar10,
    }[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as err:  # keras raises a bare Exception("URL fetch failure ...") offline
        raise FileNotFoundError(f"{_not_found(name, data_dir)} The download failed too: {err}") from err
    origin = f"keras.datasets.{name}"
    return (
        _check_split(origin, np.asarray(x_train, np.uint8), np.asarray(y_train).reshape(-1), name),
        _check_split(origin, np.asarray(x_test, np.uint8), np.asarray(y_test).reshape(-1), name),
    )


def load(name, data_dir=None, download=True):
    """Load a data set as uint8 arrays: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        data_dir: optional folder searched first (see the module docstring for the order).
        download: if nothing is found locally, fall back to ``keras.datasets``' download.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``[N, *image_shape(name)]`` and
        uint8 labels ``[N]`` in ``[0, num_classes(name))``.

    Raises:
        ValueError: an unknown name, or a damaged file (wrong shape or dtype, truncated, labels out
            of range), naming the file.
        FileNotFoundError: found nowhere and (``download=False`` or the download failed); the message
            lists the folders searched and the file names to place there.

    CIFAR-10 from ``cifar10-jpeg.zip`` is a JPEG (quality 75) rendition of the canonical data:
    figures measured on it are not canonical CIFAR-10 figures.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load("mnist", download=False)
        >>> x_train.shape, int(y_train.max())
        ((60000, 28, 28), 9)
    """
    key = canonical_name(name)
    found = _LOADERS[key](data_dirs(data_dir))
    if found is not None:
        return found
    if not download:
        raise FileNotFoundError(f"{_not_found(key, data_dir)} Or allow download=True (needs the internet).")
    return _download(key, data_dir)


def load_ib_12bit(data_dir=None):
    """The 12-bit task of the information-plane study (Shwartz-Ziv & Tishby 2017).

    Read from ``ib-12bit.npz`` in the data directories (no download exists).

    Args:
        data_dir: an extra folder searched first (see :func:`data_dirs`).

    Returns:
        ``(x, y)``: ``x`` uint8 ``[4096, 12]``, every 12-bit pattern once; ``y`` uint8 ``[4096]``
        binary labels.

    Raises:
        FileNotFoundError: no ``ib-12bit.npz`` in the data directories.
        ValueError: the file is damaged or has the wrong shapes or non-binary labels.

    Example:
        >>> x, y = load_ib_12bit()
        >>> x.shape, round(float(y.mean()), 1)
        ((4096, 12), 0.5)
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
    raise FileNotFoundError(f"{_not_found('ib_12bit', data_dir)} It has no download.")


# ---------------------------------------------------------------------------------------------
# validation split


def validation_indices(num_examples, validation_size, seed):
    """Indices of a seeded hold-out split of ``range(num_examples)``.

    A permutation is drawn from ``numpy.random.default_rng(seed)``; its first ``validation_size``
    entries are the validation indices and the rest the training indices (both in permutation
    order). The same arguments give the same split in any process, so a report can record
    ``(validation_size, seed)`` and a reader can recompute exactly which examples were held out.

    Args:
        num_examples: N, the size of the set to split (>= 1).
        validation_size: examples held out, an int in ``[0, N)`` (at least one is left to train on).
        seed: an int >= 0.

    Returns:
        ``(train_idx, val_idx)``: int64 arrays ``[N - validation_size]`` and ``[validation_size]``,
        disjoint, together a permutation of ``range(N)``.

    Example:
        >>> train_idx, val_idx = validation_indices(60000, 5000, seed=0)
        >>> len(train_idx), len(val_idx)
        (55000, 5000)
    """
    num_examples = checks.positive_int("num_examples", num_examples)
    validation_size = checks.non_negative_int("validation_size", validation_size)
    seed = checks.non_negative_int("seed", seed)
    if validation_size >= num_examples:
        raise ValueError(
            f"validation_size {validation_size} leaves no training data ({num_examples} examples); "
            f"pass a validation_size below {num_examples}."
        )
    order = np.random.default_rng(seed).permutation(num_examples)
    return order[validation_size:], order[:validation_size]


def split_validation(x, y, validation_size, seed):
    """Hold out ``validation_size`` examples of ``(x, y)``, chosen by :func:`validation_indices`.

    Args:
        x: array ``[N, ...]`` (images or features).
        y: array ``[N, ...]``, one label per example.
        validation_size: examples held out, an int in ``[0, N)``.
        seed: an int >= 0; the same seed gives the same split.

    Returns:
        ``(x_train, y_train), (x_val, y_val)``, with ``x_train = x[train_idx]`` etc. for
        ``train_idx, val_idx = validation_indices(N, validation_size, seed)``.

    Example:
        >>> (x_fit, y_fit), (x_val, y_val) = split_validation(x_train, y_train, 50, seed=0)     # 200 MNIST images
        >>> x_fit.shape, x_val.shape
        ((150, 28, 28), (50, 28, 28))
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"x and y must hold one label per example, got shapes {x.shape} and {y.shape}.")
    train, val = validation_indices(len(x), validation_size, seed)
    return (x[train], y[train]), (x[val], y[val])


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


def _pipeline_inputs(x, y, num_classes):
    """Check a pipeline's inputs. Arrays are checked now (:func:`vdualib.checks.pixel_images`,
    :func:`vdualib.checks.integer_labels`) and become uint8 images and int32 labels; ``tf``
    tensors are checked graph-side, batch by batch, by the returned ``check`` map function.

    Returns:
        ``(x, y, n, check)``: the inputs, the number of examples and a function
        ``(images, labels) -> (images, labels)`` to map over batches, or None.
    """
    import tensorflow as tf

    if num_classes is not None:
        num_classes = checks.positive_int("num_classes", num_classes)
    images_in_graph, labels_in_graph = tf.is_tensor(x), y is not None and tf.is_tensor(y)
    if not images_in_graph:
        x = checks.pixel_images("x", x)
    if y is not None and not labels_in_graph:
        y = checks.integer_labels("y", y, num_classes).astype(np.int32)
    n = x.shape[0]
    if n is None:
        raise ValueError("x must have a known number of examples (a static first dimension).")
    if y is not None and y.shape[0] != n:
        raise ValueError(f"x has {n} examples but y has {y.shape[0]}; pass one label per example.")
    if not (images_in_graph or labels_in_graph):
        return x, y, n, None

    def check(images, labels=None):
        if images_in_graph:
            images = checks.assert_pixel_images(images)
        if labels is None:
            return images
        if labels_in_graph:
            labels = tf.cast(checks.assert_labels(labels, num_classes), tf.int32)
        return images, labels

    return x, y, n, check


def training_dataset(x, y, batch_size, seed=0, augment="none", epochs=1, initial_epoch=0, pad=4, num_classes=None):
    """A shuffled, batched ``tf.data.Dataset`` of ``(uint8 images, int32 labels)`` for ``fit``.

    Epoch ``e`` uses a permutation and augmentation drawn from ``(seed, e)`` alone, so a run
    resumed at ``initial_epoch`` sees exactly the data an uninterrupted run would. The dataset
    yields ``epochs - initial_epoch`` epochs back to back of ``len(x) // batch_size`` full batches
    each; pass ``steps_per_epoch=len(x) // batch_size`` to ``fit``.

    Inputs follow the image contract of :func:`vdualib.checks.pixel_images` (raw pixel values
    0..255) and labels are class indices. Arrays are checked before the pipeline is built (a
    ``ValueError``); ``tf`` tensors are checked graph-side on every batch (a
    ``tf.errors.InvalidArgumentError`` when the bad batch is read).

    Args:
        x: images ``[N, H, W]`` or ``[N, H, W, C]`` (any ``[N, ...]`` without augmentation).
        y: labels ``[N]``, whole numbers in ``[0, num_classes)``.
        batch_size: examples per batch, in ``[1, N]``.
        seed: an int >= 0 keying the shuffling and the augmentation.
        augment: ``"none"``, ``"crop"`` (random crop of the image zero-padded by ``pad`` pixels,
            i.e. a random shift, for digits) or ``"crop_flip"`` (crop and random horizontal flip,
            the usual CIFAR augmentation). ``True``/``False`` mean ``"crop_flip"``/``"none"``.
        epochs: the last epoch (exclusive) the dataset covers.
        initial_epoch: the first epoch, in ``[0, epochs]`` (a resumed run's epochs done).
        pad: padding in pixels for the crop augmentation.
        num_classes: C; labels >= C are refused. Without it only negative, fractional and
            non-finite labels are refused.

    Returns:
        a ``tf.data.Dataset`` of ``(images [batch_size, ...], labels [batch_size])``.

    Example:
        >>> data = training_dataset(x_train, y_train, 128, seed=0, augment="crop", num_classes=10)
        >>> images, labels = next(iter(data))     # for model.fit(data, steps_per_epoch=len(x_train) // 128)
        >>> images.shape, images.dtype.name, labels.shape
        (TensorShape([128, 28, 28]), 'uint8', TensorShape([128]))
    """
    import tensorflow as tf

    if augment is True:
        augment = "crop_flip"
    elif augment is False or augment is None:
        augment = "none"
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}.")
    seed = checks.non_negative_int("seed", seed)
    epochs = checks.positive_int("epochs", epochs)
    initial_epoch = checks.non_negative_int("initial_epoch", initial_epoch)
    if initial_epoch > epochs:
        raise ValueError(f"initial_epoch {initial_epoch} is past epochs {epochs}; pass initial_epoch <= epochs.")
    pad = checks.non_negative_int("pad", pad)
    if y is None:
        raise ValueError("training_dataset needs labels y.")
    x, y, n, check = _pipeline_inputs(x, y, num_classes)
    batch_size = checks.positive_int("batch_size", batch_size)
    if batch_size > n:
        raise ValueError(f"batch_size must be in [1, {n}] (the number of examples), got {batch_size}.")
    if augment != "none" and len(x.shape) not in (3, 4):
        raise ValueError(f"augment={augment!r} needs images (N, H, W) or (N, H, W, C), got shape {tuple(x.shape)}.")
    steps = n // batch_size
    images = x if tf.is_tensor(x) else tf.constant(x)
    labels = y if tf.is_tensor(y) else tf.constant(y)

    def one_epoch(epoch):
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.argsort(tf.random.stateless_uniform([n], seed=key))[: steps * batch_size]
        indices = tf.data.Dataset.from_tensor_slices(order)

        def fetch(i):
            image = tf.gather(images, i)
            if augment != "none":
                image = _augment(image, tf.stack([key[0] + 1, key[1] * n + tf.cast(i, tf.int64)]), pad, augment == "crop_flip")
            return image, tf.gather(labels, i)

        batches = indices.map(fetch, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
        return batches if check is None else batches.map(check)

    dataset = tf.data.Dataset.range(initial_epoch, epochs).flat_map(one_epoch)
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x, y=None, batch_size=256, num_classes=None):
    """An ordered, batched ``tf.data.Dataset`` for ``evaluate``/``predict`` (no shuffling).

    Images and labels are checked as in :func:`training_dataset`: arrays now, ``tf`` tensors
    graph-side on every batch.

    Args:
        x: images ``[N, ...]``, raw pixel values 0..255 (see :func:`vdualib.checks.pixel_images`).
        y: optional labels ``[N]``, whole numbers in ``[0, num_classes)``.
        batch_size: examples per batch (the last batch may be smaller).
        num_classes: C; labels >= C are refused (without it, only the lower bound is checked).

    Returns:
        a ``tf.data.Dataset`` of uint8 images ``[<=batch_size, ...]``, or of
        ``(images, int32 labels [<=batch_size])`` when ``y`` is given.

    Example:
        >>> model = vdualib.zoo.load("mnist-dualib-mlp")
        >>> model.compile(optimizer="adam")
        >>> results = model.evaluate(evaluation_dataset(x_test, y_test, num_classes=10), verbose=0, return_dict=True)
        >>> bool(results["accuracy"] > 0.9)     # on 200 MNIST test images
        True
    """
    import tensorflow as tf

    batch_size = checks.positive_int("batch_size", batch_size)
    x, y, _, check = _pipeline_inputs(x, y, num_classes)
    dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(batch_size)
    if check is not None:
        dataset = dataset.map(check)
    return dataset.prefetch(tf.data.AUTOTUNE)
