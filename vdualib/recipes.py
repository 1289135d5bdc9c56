"""Training recipes for the reference models, kept as data.

A recipe is a flat dict; :func:`get_recipe` returns a copy with ``key=value`` overrides applied
and validated. Zoo models are named ``{dataset}-{method}-{backbone}`` with dashes in the data
set name (``fashion-mnist-vib-convnet``). Within a data set the three methods share backbone,
optimizer, schedule, epochs, batch size and augmentation; only the bottleneck and the
objective differ.

Fields:
    dataset, backbone, method, latent_dim, beta, beta_schedule (``constant``, ``linear`` or
    ``log``: annealed from ``beta_start`` to ``beta`` over ``beta_epochs``), prior,
    label_noise (``none`` or ``smoothing``) and label_smoothing (its epsilon), optimizer
    (``adam`` or ``sgd``), learning_rate, lr_schedule (``cosine`` or ``constant``),
    momentum, weight_decay (decoupled, AdamW / SGDW style; 0 = off), epochs, batch_size,
    augment (``none``, ``crop`` = random shifts, ``crop_flip`` = shifts + horizontal flips) and
    augment_pad (the shift range in pixels), validation_size (held-out training examples), train_size (use only
    the first N remaining training examples; 0 = all, for short runs and sweeps), num_samples
    (S for prediction), train_samples, seed.
"""

import copy
import json

__all__ = ["RECIPES", "get_recipe", "recipe_names", "model_name"]

_DATASET_SLUG = {"mnist": "mnist", "fashion_mnist": "fashion-mnist", "cifar10": "cifar10"}

#: fields every recipe starts from; each data set changes some of them below
_BASE = {
    "latent_dim": 256,
    "beta": 1e-3,
    "beta_schedule": "constant",
    "beta_start": 0.0,
    "beta_epochs": 0,
    "prior": "standard_normal",
    "label_smoothing": 0.01,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "lr_schedule": "cosine",
    "momentum": 0.9,
    "weight_decay": 0.0,
    "epochs": 30,
    "batch_size": 100,
    "augment": "none",
    "augment_pad": 2,
    "validation_size": 5000,
    "train_size": 0,
    "num_samples": 12,
    "train_samples": 1,
    "seed": 0,
}

_SHARED = {
    "mnist": dict(_BASE, dataset="mnist", backbone="mlp"),
    "fashion_mnist": dict(
        _BASE,
        dataset="fashion_mnist",
        backbone="convnet",
        latent_dim=128,
        learning_rate=2e-3,
        weight_decay=1e-4,
        epochs=15,
        batch_size=128,
        augment="crop_flip",
    ),
    "cifar10": dict(
        _BASE,
        dataset="cifar10",
        backbone="resnet20",
        latent_dim=64,
        beta=1e-4,
        beta_schedule="linear",
        # 15 epochs fit this project's CPU budget (about 100 s an epoch in bf16); the
        # conventional 120-epoch schedule is ``--set epochs=120 --set beta_epochs=20``
        beta_epochs=3,
        optimizer="sgd",
        learning_rate=0.1,
        # decoupled decay (w -= lr * wd * w); with momentum 0.9 it matches the usual coupled L2 of 5e-4
        weight_decay=5e-3,
        epochs=15,
        batch_size=128,
        augment="crop_flip",
        augment_pad=4,
    ),
}


def model_name(dataset, method, backbone):
    """The zoo name ``{dataset}-{method}-{backbone}``, e.g. ``fashion-mnist-vib-convnet``."""
    return f"{_DATASET_SLUG[dataset]}-{method}-{backbone}"


def _make_registry():
    registry = {}
    for dataset, shared in _SHARED.items():
        for method in ("deterministic", "vib", "dualib"):
            recipe = dict(shared, method=method, label_noise="smoothing" if method == "dualib" else "none")
            if method == "deterministic":
                recipe.update(beta=0.0, beta_schedule="constant")
            registry[model_name(dataset, method, shared["backbone"])] = recipe
    return registry


#: zoo name -> recipe
RECIPES = _make_registry()

_CHOICES = {
    "dataset": ("mnist", "fashion_mnist", "cifar10"),
    "backbone": ("mlp", "convnet", "resnet20"),
    "method": ("deterministic", "vib", "dualib"),
    "beta_schedule": ("constant", "linear", "log"),
    "prior": ("standard_normal", "mixture", "class_conditional"),
    "label_noise": ("none", "smoothing"),
    "augment": ("none", "crop", "crop_flip"),
    "optimizer": ("adam", "sgd"),
    "lr_schedule": ("cosine", "constant"),
}
_POSITIVE_INTS = ("latent_dim", "epochs", "batch_size", "augment_pad")
_NON_NEGATIVE = ("beta", "beta_start", "weight_decay", "validation_size", "train_size", "num_samples", "beta_epochs", "seed")


def recipe_names():
    """Names of the built-in recipes (the zoo's model names)."""
    return sorted(RECIPES)


def _parse_value(text, current):
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    return text


def get_recipe(name, overrides=()):
    """A copy of recipe ``name`` with overrides applied.

    ``overrides``: ``"key=value"`` strings (as from ``--set``) or a dict. Values are parsed to
    the type of the field they replace. Unknown names, unknown keys and invalid values raise
    ``ValueError``.
    """
    if isinstance(name, dict):
        recipe = copy.deepcopy(name)
    elif name in RECIPES:
        recipe = copy.deepcopy(RECIPES[name])
    else:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {recipe_names()}.")
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} must look like key=value.")
            key, value = item.split("=", 1)
            items.append((key.strip(), value.strip()))
    for key, value in items:
        if key not in recipe:
            raise ValueError(f"Unknown recipe field {key!r}; fields are {sorted(recipe)}.")
        if isinstance(value, str):
            try:
                value = _parse_value(value, recipe[key])
            except ValueError as err:
                raise ValueError(f"bad value for {key}: {err}") from err
        recipe[key] = value
    _validate(recipe)
    return recipe


def _validate(recipe):
    for key, allowed in _CHOICES.items():
        if recipe[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {recipe[key]!r}.")
    for key in _POSITIVE_INTS:
        if int(recipe[key]) <= 0:
            raise ValueError(f"{key} must be positive, got {recipe[key]}.")
    for key in _NON_NEGATIVE:
        if recipe[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {recipe[key]}.")
    if not recipe["learning_rate"] > 0:
        raise ValueError(f"learning_rate must be positive, got {recipe['learning_rate']}.")
    if recipe["method"] == "dualib" and recipe["label_noise"] == "none":
        raise ValueError("the VdualIB needs a full-support label distribution: set label_noise=smoothing.")
    if recipe["label_noise"] == "smoothing" and not 0 < recipe["label_smoothing"] <= 1:
        raise ValueError(f"label_smoothing must be in (0, 1], got {recipe['label_smoothing']}.")
    json.dumps(recipe)  # recipes are data: JSON-serialisable
