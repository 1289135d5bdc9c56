"""The data an evaluation runs on: the held-out split of a recipe, the data set of zoo models,
out-of-distribution sets and the corruption families that apply.

Example:
    >>> from vdualib import zoo
    >>> from vdualib.evaluation import data
    >>> _, card = zoo.describe("mnist-dualib-mlp", zoo.load("mnist-dualib-mlp"))
    >>> data.zoo_dataset([card])
    'mnist'
"""

import os

from vdualib import corruptions, datasets

__all__ = [
    "NOISE_SETS",
    "CIFAR10_JPEG_NOTE",
    "CORRUPTIONS_NOTE",
    "held_out_split",
    "zoo_dataset",
    "zoo_validation",
    "ood_images",
    "corruption_list",
    "data_source",
]

#: synthetic out-of-distribution sets (noise images shaped like the test images)
NOISE_SETS = corruptions.NOISE_KINDS
CIFAR10_JPEG_NOTE = (
    "CIFAR-10 figures here are measured on the JPEG (quality 75, chroma-subsampled) rendition of "
    "CIFAR-10 in `cifar10-jpeg.zip`, not on the canonical `cifar-10-batches-py` pixels; accuracy on the "
    "canonical test set can differ."
)
CORRUPTIONS_NOTE = (
    "Corrupted splits are regenerated with `vdualib.corruptions` (MNIST-C / CIFAR-10-C style families "
    "and severities), not the published MNIST-C / CIFAR-10-C files."
)


def held_out_split(recipe, data_dir=None):
    """The validation split a recipe held out of its training data: where temperature scaling of
    a model trained by that recipe is fitted.

    Args:
        recipe: a dict with ``dataset``, ``validation_size`` and ``seed`` (a recipe or a card's).
        data_dir: folder with the data files (see :func:`vdualib.datasets.load`).

    Returns:
        ``(images, labels)``: uint8 images ``[V, ...]`` and labels ``[V]``.

    Example:
        >>> images, labels = held_out_split(vdualib.zoo.card("mnist-vib-mlp")["recipe"])
        >>> images.shape, labels.shape
        ((5000, 28, 28), (5000,))
    """
    (x_train, y_train), _ = datasets.load(recipe["dataset"], data_dir=data_dir)
    _, validation = datasets.split_validation(x_train, y_train, recipe["validation_size"], recipe["seed"])
    return validation


def _check_cards(cards, caller):
    cards = list(cards)
    for item in cards:
        if item is not None and not isinstance(item, dict):
            raise ValueError(
                f"{caller} takes the cards that vdualib.zoo.describe returns (None for a model file), "
                f"not {type(item).__name__} {item!r}."
            )
    return cards


def zoo_dataset(cards):
    """The data set the zoo models were trained on (they must agree).

    Args:
        cards: the cards of :func:`vdualib.zoo.describe`, one a model (``None`` for a file).

    Returns:
        The canonical data set name.

    Raises:
        ValueError: a model was given as a file (pass the data set), or the models disagree.

    Example:
        >>> zoo_dataset([vdualib.zoo.card("mnist-vib-mlp"), vdualib.zoo.card("mnist-dualib-mlp")])
        'mnist'
    """
    cards = _check_cards(cards, "zoo_dataset")
    if not cards or any(item is None for item in cards):
        raise ValueError("a model given as a .keras file has no card, so its data set is unknown; pass --dataset.")
    found = {item["dataset"] for item in cards}
    if len(found) != 1:
        raise ValueError(f"the models were trained on different data sets {sorted(found)}; pass --dataset.")
    return found.pop()


def zoo_validation(cards, dataset, data_dir=None):
    """The held-out split shared by zoo models evaluated on the data set they were trained on.

    Args:
        cards: the cards of :func:`vdualib.zoo.describe` (``None`` for a file).
        dataset: the data set the evaluation uses.
        data_dir: folder with the data files.

    Returns:
        ``(images, labels)`` as :func:`held_out_split`, or ``None`` when a model is a file, the
        data set differs or the models held out different splits (temperature scaling then uses
        halves of the test split).

    Example:
        >>> zoo_validation([vdualib.zoo.card("mnist-vib-mlp"), None], "mnist") is None   # one model is a file
        True
    """
    cards = _check_cards(cards, "zoo_validation")
    if not cards or any(item is None for item in cards):
        return None
    keys = {(c["recipe"]["dataset"], c["recipe"]["validation_size"], c["recipe"]["seed"]) for c in cards}
    if len(keys) != 1:
        return None
    trained_on, validation_size, seed = keys.pop()
    if trained_on != datasets.canonical_name(dataset) or not validation_size:
        return None
    return held_out_split({"dataset": trained_on, "validation_size": validation_size, "seed": seed}, data_dir)


def ood_images(name, like, data_dir=None, seed=0):
    """Out-of-distribution images shaped like ``like``.

    Args:
        name: a data set of the same image shape (its test split) or a noise set of
            :data:`NOISE_SETS`.
        like: the in-distribution test images, uint8 ``[N, ...]``; at most N images are returned.
        data_dir: folder with the data files.
        seed: seed of the noise images.

    Returns:
        uint8 images ``[min(N, test size), ...]``.

    Example:
        >>> ood_images("uniform", x_test[:100]).shape
        (100, 28, 28)
    """
    if name in NOISE_SETS:
        return corruptions.noise_images(name, like.shape[0], like.shape[1:], seed=seed)
    if name not in datasets.DATASETS:
        raise ValueError(
            f"Unknown out-of-distribution set {name!r}; use a data set of {sorted(datasets.DATASETS)} "
            f"with the same image shape, or one of {list(NOISE_SETS)}."
        )
    if datasets.info(name).image_shape != like.shape[1:]:
        raise ValueError(
            f"out-of-distribution set {name!r} has images of shape {datasets.info(name).image_shape} but the models "
            f"take {like.shape[1:]}; pick a data set of the same shape or one of {list(NOISE_SETS)}."
        )
    _, (images, _) = datasets.load(name, data_dir=data_dir)
    return images[: like.shape[0]]


def corruption_list(requested, dataset):
    """The corruption families to run on ``dataset``.

    Args:
        requested: ``"all"`` (or ``None``), ``"none"``, or a list of names of
            :func:`vdualib.corruptions.corruption_names`.
        dataset: the data set; its images decide which families apply.

    Returns:
        A list of family names.

    Example:
        >>> len(corruption_list("all", "cifar10")), corruption_list(["fog"], "mnist")
        (15, ['fog'])
    """
    available = corruptions.corruption_names(datasets.info(dataset).grayscale)
    if requested in (None, "all"):
        return available
    if requested == "none":
        return []
    if isinstance(requested, str):
        requested = [requested]
    requested = list(requested)
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise ValueError(f"corruptions {unknown} do not apply to these images; choose from {available} or 'all'.")
    return requested


def data_source(dataset, data_dir=None):
    """Which files :func:`vdualib.datasets.load` reads for ``dataset`` (same search order):
    ``"jpeg"`` or ``"canonical"`` for CIFAR-10, the data set's name otherwise.

    Args:
        dataset: a data set name (canonical or zoo-name form).
        data_dir: an extra folder searched first (see :func:`vdualib.datasets.data_dirs`).

    Returns:
        ``"jpeg"``, ``"canonical"`` or the canonical name of a non-CIFAR data set.

    Raises:
        ValueError: an unknown data set.
        FileNotFoundError: ``data_dir`` is not a directory.

    Example:
        >>> data_source("cifar10")     # 'jpeg' where cifar10-jpeg.zip is found first
        'jpeg'
    """
    dataset = datasets.canonical_name(dataset)
    if dataset != "cifar10":
        return dataset
    for directory in datasets.data_dirs(data_dir):
        if os.path.isfile(os.path.join(directory, "cifar10-jpeg.zip")):
            return "jpeg"
        if os.path.isdir(os.path.join(directory, "cifar-10-batches-py")):
            return "canonical"
    return "canonical"
