"""Training recipes for the reference models, kept as data.

A recipe is a flat dict; :func:`get_recipe` returns a copy with ``key=value`` overrides applied
and validated. Zoo models are named ``{dataset}-{method}-{backbone}`` with the data set's slug
(``fashion-mnist-vib-convnet``); the data set, the method and the backbone define the name, so
they cannot be overridden on a named recipe. Within a data set the three methods share backbone,
optimizer, schedule, epochs, batch size and augmentation; only the bottleneck and the objective
differ (the VdualIBs train towards the paper's p~; the VIBs and deterministic networks towards
one-hot labels).

Fields (units: epochs and steps count training passes and optimizer steps):

* ``dataset``, ``backbone`` (from :data:`vdualib.datasets.DATASETS`), ``backbone_width``
  (a multiplier of the backbone's channels and units), ``method`` (:mod:`vdualib.methods`),
  ``latent_dim``;
* ``beta`` (the rate's weight) and its schedule ``beta_schedule`` (``constant``, ``linear`` or
  ``log``: annealed from ``beta_start`` to ``beta`` over ``beta_epochs``), ``prior``
  (``standard_normal``, ``mixture``, ``class_conditional``: a learned b(z|y), the rate
  KL(e(z|x) || b(z|y)) given the label);
* ``label_noise``: ``none``, ``smoothing`` (epsilon ``label_smoothing``), ``confusion`` (p~ is
  row y of the confusion matrix of the reference model ``label_noise_reference`` — a zoo name or
  a ``.keras`` path — on this recipe's held-out validation split, mixed with uniform noise of
  weight ``label_noise_mixing``) or ``teacher`` (the reference's softmax per example, mixed the
  same way);
* ``distortion_warmup`` (lambda_0 of the cross-entropy warm-up, 0 = off) and
  ``distortion_warmup_steps``;
* ``optimizer`` (``adam`` or ``sgd`` with Nesterov momentum ``momentum``), ``learning_rate``,
  ``lr_schedule`` (``cosine`` to 0 over the run, ``constant``, or ``exponential``: times
  ``lr_decay_rate`` every ``lr_decay_epochs``), ``lr_warmup_epochs`` (a linear warm-up from 0
  before the cosine decay; 0 = off), ``weight_decay`` (decoupled, AdamW / SGDW style:
  w -= lr * weight_decay * w each step; 0 = off), ``weight_decay_scope`` (``kernels``: the
  kernels of dense and convolution layers only, biases and normalization parameters excluded;
  ``all``: every trainable variable, as recorded runs before the field did),
  ``prior_weight_decay`` (whether that decay also shrinks a learned prior's means and scales; off
  in every recipe, see :func:`vdualib.training.restrict_weight_decay`), ``backbone_l2`` (the
  coupled L2 kernel regulariser that the ``resnet20`` backbone can carry; 0 in every recipe, so
  that a model has one decay mechanism, see :func:`describe_weight_decay`),
  ``weight_ema`` (momentum of an exponential moving average of the weights, used for
  validation and the final model; 0 = off);
* ``epochs``, ``batch_size``, ``augment`` (``none``, ``crop`` = random shifts, ``crop_flip`` =
  shifts + horizontal flips) and ``augment_pad`` (the shift range in pixels),
  ``validation_size`` (held-out training examples), ``train_size`` (use only the first N
  remaining training examples; 0 = all), ``num_samples`` (S for prediction; 0 = the decoder at
  mu), ``train_samples``, ``seed``.

Example:
    >>> recipe = get_recipe("mnist-vib-mlp", ["epochs=5", "beta=1e-2"])
    >>> recipe["epochs"], recipe["beta"], recipe["method"]
    (5, 0.01, 'vib')
"""

import copy
import json

import numpy as np

from vdualib import checks, datasets, methods

__all__ = [
    "RECIPES",
    "get_recipe",
    "recipe_names",
    "model_name",
    "outdated_fields",
    "differences",
    "describe_targets",
    "describe_weight_decay",
    "FIELDS",
]

#: fields every recipe starts from; each data set changes some of them below
_BASE = {
    "backbone_width": 1.0,
    "latent_dim": 256,
    "beta": 1e-3,
    "beta_schedule": "constant",
    "beta_start": 0.0,
    "beta_epochs": 0,
    "prior": "standard_normal",
    "label_noise": "none",
    "label_smoothing": methods.SMOOTHING_EPSILON,
    "label_noise_reference": "",
    "label_noise_mixing": 1e-6,
    "distortion_warmup": 0.0,
    "distortion_warmup_steps": 0,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "lr_schedule": "cosine",
    "lr_decay_rate": 0.97,
    "lr_decay_epochs": 2,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "weight_decay_scope": "kernels",
    "prior_weight_decay": False,
    "backbone_l2": 0.0,
    "lr_warmup_epochs": 0,
    "weight_ema": 0.0,
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

#: fields whose base default differs from the behaviour before they existed: a recorded recipe
#: without them takes these values instead (decoupled weight decay used to shrink every
#: trainable variable, a learned prior's, the biases' and the normalization parameters included,
#: and the resnet20 backbone carried its own coupled L2 of 1e-4 on its convolutions besides)
_BEFORE_FIELD = {"prior_weight_decay": True, "weight_decay_scope": "all", "backbone_l2": 1e-4}

#: the fields that make up a zoo name
IDENTITY = ("dataset", "method", "backbone")

#: the schedule each data set's three zoo models share
_SHARED = {
    # The VIB paper's MNIST protocol: 200 epochs, Adam 1e-4 decayed by 0.97 every 2 epochs,
    # weight averaging with momentum 0.999, batch 100, K = 256; plus random shifts of up to 2
    # pixels, chosen by measurement (scripts/results/zoo_schedule: without them the deterministic
    # MLP fits its training set within 30 epochs, and its best validation accuracy over 90 epochs
    # stays below what the shifted variant reaches in 20).
    "mnist": dict(
        _BASE,
        learning_rate=1e-4,
        lr_schedule="exponential",
        weight_ema=0.999,
        epochs=200,
        augment="crop",
        augment_pad=2,
    ),
    "fashion_mnist": dict(
        _BASE,
        backbone_width=2.0,
        latent_dim=128,
        learning_rate=2e-3,
        weight_decay=1e-4,
        epochs=40,
        batch_size=128,
        augment="crop_flip",
    ),
    "cifar10": dict(
        _BASE,
        latent_dim=64,
        beta=1e-4,
        beta_schedule="linear",
        beta_epochs=3,
        optimizer="sgd",
        learning_rate=0.1,
        # decoupled decay (w -= lr * wd * w) on the kernels, chosen by 20-epoch pilots on the validation
        # split over 1e-3, 2.5e-3 and 5e-3, where neither weight averaging (0.999) nor a 2-epoch warm-up
        # of the learning rate helped (scripts/results/pilots/cifar10-deterministic-resnet20/pilots.json)
        weight_decay=5e-3,
        epochs=100,
        batch_size=128,
        augment="crop_flip",
        augment_pad=4,
    ),
}

#: the dual IB reference code's recipe, applied to every ``*-dualib-*`` zoo model: p~ from the
#: same data set's deterministic zoo model on the validation split (entries >= 1e-7, as the
#: reference floors them), a class-conditional prior, beta 1e-3 and a cross-entropy warm-up from
#: 0.1 to 0 over the first 4,000 steps of batch 64 (the same number of examples at our batch)
_PAPER_OBJECTIVE = {
    "dualib": {"label_noise": "confusion", "prior": "class_conditional", "beta": 1e-3, "distortion_warmup": 0.1},
}
_WARMUP_EXAMPLES = 4000 * 64

#: departures of single zoo models from their data set's shared recipe, each made for a measured
#: miss (none today: every ``*-vib-*`` model is the standard VIB, one-hot labels and N(0, I))
_MODEL_CHANGES = {}


def model_name(dataset, method, backbone):
    """The zoo name ``{dataset slug}-{method}-{backbone}``, e.g. ``fashion-mnist-vib-convnet``.

    Args:
        dataset: a data set name (canonical or zoo-name form).
        method: a method name (:mod:`vdualib.methods`).
        backbone: a backbone name (``"mlp"``, ``"convnet"``, ``"resnet20"``).

    Returns:
        The name, a string.

    Raises:
        ValueError: an unknown data set or method.

    Example:
        >>> model_name("fashion_mnist", "vib", "convnet")
        'fashion-mnist-vib-convnet'
    """
    return f"{datasets.info(dataset).slug}-{methods.get(method).name}-{backbone}"


def _make_registry():
    registry = {}
    for dataset, shared in _SHARED.items():
        backbone = datasets.info(dataset).backbone
        for method in methods.names():
            recipe = dict(shared, dataset=dataset, backbone=backbone, method=method)
            if not methods.get(method).stochastic:
                recipe.update(beta=0.0, beta_schedule="constant", beta_epochs=0)
            if method in _PAPER_OBJECTIVE:
                recipe.update(
                    _PAPER_OBJECTIVE[method],
                    label_noise_reference=model_name(dataset, "deterministic", backbone),
                    distortion_warmup_steps=_WARMUP_EXAMPLES // recipe["batch_size"],
                )
            name = model_name(dataset, method, backbone)
            registry[name] = dict(recipe, **_MODEL_CHANGES.get(name, {}))
    return registry


#: zoo name -> recipe
RECIPES = _make_registry()

#: field -> allowed values, for the fields that take a name
_CHOICES = {
    "dataset": tuple(datasets.DATASETS),
    "backbone": ("mlp", "convnet", "resnet20"),
    "method": methods.names(),
    "beta_schedule": ("constant", "linear", "log"),
    "prior": ("standard_normal", "mixture", "class_conditional"),
    "label_noise": ("none", "smoothing", "confusion", "teacher"),
    "augment": ("none", "crop", "crop_flip"),
    "optimizer": ("adam", "sgd"),
    "lr_schedule": ("cosine", "constant", "exponential"),
    "weight_decay_scope": ("kernels", "all"),
}
#: field -> (kind, low, high, low_open, high_open) for the numeric fields
_NUMBERS = {
    "backbone_width": ("float", 0.0, None, True, False),
    "latent_dim": ("positive_int",),
    "beta": ("float", 0.0, None, False, False),
    "beta_start": ("float", 0.0, None, False, False),
    "beta_epochs": ("non_negative_int",),
    "label_smoothing": ("float", 0.0, 1.0, True, False),
    "label_noise_mixing": ("float", 0.0, 1.0, True, False),
    "distortion_warmup": ("float", 0.0, None, False, False),
    "distortion_warmup_steps": ("non_negative_int",),
    "learning_rate": ("float", 0.0, None, True, False),
    "lr_decay_rate": ("float", 0.0, 1.0, True, False),
    "lr_decay_epochs": ("positive_int",),
    "momentum": ("float", 0.0, 1.0, False, True),
    "weight_decay": ("float", 0.0, None, False, False),
    "backbone_l2": ("float", 0.0, None, False, False),
    "lr_warmup_epochs": ("non_negative_int",),
    "weight_ema": ("float", 0.0, 1.0, False, True),
    "epochs": ("positive_int",),
    "batch_size": ("positive_int",),
    "augment_pad": ("positive_int",),
    "validation_size": ("non_negative_int",),
    "train_size": ("non_negative_int",),
    "num_samples": ("non_negative_int",),
    "train_samples": ("positive_int",),
    "seed": ("non_negative_int",),
}

#: bounds of the numbers a model is built from: float32 and int32 tensors, and Keras' seeds
_FLOAT_MAX = float(np.finfo(np.float32).max)
_INT_MAX = {None: 2**31 - 1, "seed": 2**32 - 1}

#: the fields that are true or false
_FLAGS = ("prior_weight_decay",)

#: every field a recipe has
FIELDS = tuple(sorted(set(_BASE) | set(IDENTITY)))


def recipe_names():
    """Names of the built-in recipes (the zoo's model names), sorted.

    Returns:
        A sorted list of strings.

    Example:
        >>> "mnist-dualib-mlp" in recipe_names()
        True
    """
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
    """A copy of recipe ``name`` (or of a recipe dict) with overrides applied and validated.

    Args:
        name: a zoo name (see :func:`recipe_names`) or a recipe dict (fields it lacks take the
            defaults that reproduce the behaviour of recipes recorded before they existed: the
            base defaults, and ``prior_weight_decay=True``).
        overrides: ``"key=value"`` strings (as from ``--set``) or a dict; values are parsed to
            the type of the field they replace. A key given twice takes its last value, as on a
            command line (``base + ["epochs=1"]`` overrides the base's epochs).

    Returns:
        The recipe dict.

    Raises:
        ValueError: an unknown name or field, an invalid value (NaN and infinity included), or an
            override of ``dataset`` / ``method`` / ``backbone`` on a named recipe (choose the
            recipe with that name instead), or an override that changes a field the recipe
            does not read (``beta`` of a deterministic model, ``momentum`` with Adam, ...).

    Example:
        >>> get_recipe("mnist-vib-mlp", ["epochs=2", "beta=1e-2"])["beta"]
        0.01
    """
    if not isinstance(name, (str, dict)):
        raise ValueError(f"recipe must be a zoo recipe name (a str) or a recipe dict, got {type(name).__name__} {name!r}.")
    if isinstance(name, dict):
        unknown = sorted(set(name) - set(FIELDS))
        if unknown:
            raise ValueError(f"Unknown recipe fields {unknown}; fields are {list(FIELDS)}.")
        # records written before a field existed take the default that reproduces their behaviour
        recipe, named = {**copy.deepcopy(_BASE), **_BEFORE_FIELD, **copy.deepcopy(name)}, False
    elif name in RECIPES:
        recipe, named = copy.deepcopy(RECIPES[name]), True
    else:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {recipe_names()}.")
    if overrides is None:
        overrides = ()
    if isinstance(overrides, str) or not isinstance(overrides, (dict, list, tuple)):
        raise ValueError(
            f"overrides must be a list of 'key=value' strings or a dict, got {type(overrides).__name__} {overrides!r}"
            + (f"; pass [{overrides!r}]." if isinstance(overrides, str) else ".")
        )
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if not isinstance(item, str):
                raise ValueError(f"override {item!r} must be a 'key=value' string.")
            if "=" not in item:
                raise ValueError(f"override {item!r} must look like key=value.")
            key, value = item.split("=", 1)
            items.append((key.strip(), value.strip()))
    before = copy.deepcopy(recipe)
    for key, value in items:
        if key not in recipe:
            raise ValueError(f"Unknown recipe field {key!r}; fields are {sorted(recipe)}.")
        if isinstance(value, str):
            try:
                value = _parse_value(value, recipe[key])
            except ValueError as err:
                raise ValueError(f"bad value for {key}: {err}") from err
        if named and key in IDENTITY and value != recipe[key]:
            changed = dict(recipe, **{key: value})
            suggestion = model_name(changed["dataset"], changed["method"], changed["backbone"]) if key != "backbone" else None
            hint = f" use --recipe {suggestion}" if suggestion in RECIPES else " start from a recipe of that data set"
            raise ValueError(
                f"{key} is part of the recipe's name {name!r} and cannot be overridden (the model would be "
                f"mislabelled);{hint}."
            )
        recipe[key] = value
    validate(recipe)
    unused = _unused(recipe)
    ignored = [key for key, _ in items if key in unused and recipe[key] != before[key]]
    if ignored:
        raise ValueError(
            "; ".join(f"{key} is not read by this recipe ({unused[key]})" for key in dict.fromkeys(ignored))
            + ": drop the setting, or change the field that switches it off."
        )
    return recipe


def validate(recipe):
    """Check a recipe dict: every field present, names from their tables, numbers finite and in
    range, and the combinations consistent. Raises ``ValueError`` saying what to change."""
    missing = [key for key in FIELDS if key not in recipe]
    if missing:
        raise ValueError(f"the recipe lacks the fields {missing}.")
    for key, allowed in _CHOICES.items():
        if recipe[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {recipe[key]!r}.")
    for key in _FLAGS:
        if not isinstance(recipe[key], bool):
            raise ValueError(f"{key} must be true or false, got {recipe[key]!r}.")
    for key, rule in _NUMBERS.items():
        if rule[0] == "float":
            _, low, high, low_open, high_open = rule
            high = _FLOAT_MAX if high is None else high
            recipe[key] = checks.finite_float(key, recipe[key], low=low, high=high, low_open=low_open, high_open=high_open)
        else:
            recipe[key] = getattr(checks, rule[0])(key, recipe[key])
            largest = _INT_MAX.get(key, _INT_MAX[None])
            if recipe[key] > largest:
                raise ValueError(f"{key} must be at most {largest}, got {recipe[key]}.")
    method = methods.get(recipe["method"])
    if method.needs_full_support and recipe["label_noise"] == "none":
        raise ValueError(
            f"the {method.title} needs a full-support label distribution: set label_noise to smoothing, confusion or teacher."
        )
    if recipe["label_noise"] in ("confusion", "teacher"):
        if not recipe["label_noise_reference"]:
            raise ValueError(
                f"label_noise={recipe['label_noise']} needs label_noise_reference: a zoo model name or a .keras path."
            )
        if recipe["label_noise"] == "confusion" and not recipe["validation_size"]:
            raise ValueError("label_noise=confusion is measured on the validation split: set validation_size > 0.")
    if recipe["distortion_warmup"] > 0 and not recipe["distortion_warmup_steps"]:
        raise ValueError("distortion_warmup > 0 needs distortion_warmup_steps > 0.")
    if recipe["beta_schedule"] == "log" and recipe["beta"] <= 0:
        raise ValueError("a log beta schedule needs beta > 0.")
    if recipe["lr_warmup_epochs"] and recipe["lr_schedule"] != "cosine":
        raise ValueError("lr_warmup_epochs > 0 warms up the cosine schedule: set lr_schedule=cosine or lr_warmup_epochs=0.")
    if recipe["lr_warmup_epochs"] >= recipe["epochs"]:
        raise ValueError(
            f"lr_warmup_epochs ({recipe['lr_warmup_epochs']}) must be below epochs ({recipe['epochs']}): the warm-up "
            "leaves no epoch for the decay."
        )
    try:
        json.dumps(recipe, allow_nan=False)  # recipes are data: JSON-serialisable
    except (TypeError, ValueError) as err:
        raise ValueError(f"the recipe must be JSON data: {err}") from None
    return recipe


def _unused(recipe):
    """The fields of a complete recipe that its other fields switch off, each with the reason:
    ``{field: why}``."""
    unused = {}

    def off(fields, why):
        unused.update({field: why for field in fields if field not in unused})

    if not methods.get(recipe["method"]).stochastic:
        off(
            ("beta", "beta_schedule", "beta_start", "beta_epochs", "prior", "num_samples", "train_samples"),
            f"the {recipe['method']} method has no stochastic bottleneck",
        )
    if recipe["beta_schedule"] == "constant":
        off(("beta_start", "beta_epochs"), "beta_schedule is constant")
    if recipe["label_noise"] in ("none", "smoothing"):
        off(("label_noise_reference", "label_noise_mixing"), f"label_noise is {recipe['label_noise']}")
    if recipe["label_noise"] != "smoothing":
        off(("label_smoothing",), f"label_noise is {recipe['label_noise']}, not smoothing")
    if not recipe["distortion_warmup"]:
        off(("distortion_warmup_steps",), "distortion_warmup is 0")
    if recipe["optimizer"] != "sgd":
        off(("momentum",), f"the optimizer is {recipe['optimizer']}, not sgd")
    if not recipe["weight_decay"]:
        off(("weight_decay_scope", "prior_weight_decay"), "weight_decay is 0")
    if recipe["prior"] == "standard_normal" or "prior" in unused:
        off(("prior_weight_decay",), "the prior has no parameters")
    if recipe["backbone"] != "resnet20":
        off(("backbone_l2",), f"the {recipe['backbone']} backbone has no regulariser of its own")
    if recipe["lr_schedule"] != "exponential":
        off(("lr_decay_rate", "lr_decay_epochs"), f"lr_schedule is {recipe['lr_schedule']}, not exponential")
    if recipe["lr_schedule"] != "cosine":
        off(("lr_warmup_epochs",), f"lr_schedule is {recipe['lr_schedule']}, not cosine")
    if recipe["augment"] == "none":
        off(("augment_pad",), "augment is none")
    return unused


def _effective(recipe):
    """The fields of a complete recipe that change what it trains: a field that its other fields
    switch off (the momentum of Adam, the warm-up's length at lambda_0 = 0, ...) is dropped."""
    unused = _unused(recipe)
    return {key: value for key, value in recipe.items() if key not in unused}


def describe_weight_decay(recipe):
    """The weight decay a recipe's model trains with: the one mechanism, its value and its variables.

    A recipe names at most one decay per model: decoupled decay in the optimizer
    (``weight_decay``, w -= lr * weight_decay * w each step, AdamW / SGDW style) on the variables
    its ``weight_decay_scope`` names. ``backbone_l2`` (the coupled L2 kernel regulariser the
    ``resnet20`` backbone can carry, a loss term l2 * sum(w^2)) is 0 in every recipe; records of
    runs from before the field existed show the 1e-4 those runs carried beside the optimizer's.

    Args:
        recipe: a recipe dict (a card's or a run's record; completed as by :func:`get_recipe`).

    Returns:
        A JSON-able dict: ``decoupled`` (``None`` or ``{"value", "optimizer", "applies_to",
        "excluded"}``), ``coupled_l2`` (``None`` or ``{"value", "applies_to"}``) and
        ``mechanisms`` (how many of the two are on).

    Raises:
        ValueError: not a valid recipe.

    Example:
        >>> describe_weight_decay(RECIPES["mnist-vib-mlp"])["mechanisms"]
        0
    """
    if not isinstance(recipe, dict):
        raise ValueError(f"the recipe must be a dict, got {type(recipe).__name__}.")
    recipe = get_recipe(recipe)
    effective = _effective(recipe)
    decoupled = None
    if recipe["weight_decay"]:
        kernels = recipe["weight_decay_scope"] == "kernels"
        excluded = ["biases", "normalization parameters"] if kernels else []
        if effective.get("prior_weight_decay") is False:
            excluded.append("the learned prior's means and scales")
        decoupled = {
            "value": recipe["weight_decay"],
            "optimizer": {"adam": "AdamW", "sgd": "SGD (Nesterov) with decoupled decay"}[recipe["optimizer"]],
            "applies_to": "kernels of dense and convolution layers" if kernels else "every trainable variable",
            "excluded": excluded,
        }
    coupled = None
    if effective.get("backbone_l2"):
        coupled = {"value": recipe["backbone_l2"], "applies_to": "the resnet20 backbone's convolution kernels"}
    return {"decoupled": decoupled, "coupled_l2": coupled, "mechanisms": (decoupled is not None) + (coupled is not None)}


def describe_targets(recipe):
    """What a recipe's distortion trains the decoder towards, in a few words for tables.

    Args:
        recipe: a recipe dict (a card's or a run's record, completed as by :func:`get_recipe`).

    Returns:
        ``"one-hot"``, ``"smoothed by <epsilon>"``, ``"confusion p~ of <reference>"`` or
        ``"teacher p~ of <reference>"``.

    Raises:
        ValueError: not a valid recipe.

    Example:
        >>> describe_targets(RECIPES["cifar10-dualib-resnet20"])
        'confusion p~ of cifar10-deterministic-resnet20'
    """
    if not isinstance(recipe, dict):
        raise ValueError(f"the recipe must be a dict, got {type(recipe).__name__}.")
    recipe = get_recipe(recipe)
    kind = recipe["label_noise"]
    if kind == "none":
        return "one-hot"
    if kind == "smoothing":
        return f"smoothed by {recipe['label_smoothing']:g}"
    return f"{kind} p~ of {recipe['label_noise_reference']}"


def outdated_fields(recorded):
    """How a recorded recipe (a card's or a run's) differs from today's zoo recipe of its name.

    Records written before a field existed take the field's default, which reproduces their
    behaviour (as in :func:`get_recipe`), and a field that the recipe's other fields switch off
    (the momentum of Adam, the beta schedule of a deterministic model) is not a difference.

    Args:
        recorded: a recipe dict, with ``dataset``, ``method`` and ``backbone``.

    Returns:
        ``{field: {"trained": recorded value, "current": today's value}}``, in field order;
        empty when the record follows today's recipe, ``None`` when its name
        (:func:`model_name`) is not a built-in recipe.

    Raises:
        ValueError: a record that is not a valid recipe.

    Example:
        >>> outdated_fields(dict(get_recipe("mnist-vib-mlp"), epochs=30))
        {'epochs': {'trained': 30, 'current': 200}}
    """
    if not isinstance(recorded, dict):
        raise ValueError(f"a recorded recipe must be a dict, got {type(recorded).__name__}.")
    missing = [key for key in IDENTITY if key not in recorded]
    if missing:
        raise ValueError(f"the recorded recipe lacks {missing}, which name its zoo recipe.")
    name = model_name(recorded["dataset"], recorded["method"], recorded["backbone"])
    if name not in RECIPES:
        return None
    return differences(recorded, get_recipe(name))


def differences(trained, current):
    """The fields in which two recipes train differently.

    Both are completed as by :func:`get_recipe` (a record from before a field existed takes the
    value that reproduces its behaviour), and a field that a recipe's other fields switch off
    counts as absent (``None``) on that side.

    Args:
        trained: a recipe dict, e.g. a card's or a run's record.
        current: the recipe dict to compare it with.

    Returns:
        ``{field: {"trained": value, "current": value}}``, in field order; empty when both train
        the same way.

    Raises:
        ValueError: either is not a valid recipe.

    Example:
        >>> differences(get_recipe("mnist-vib-mlp"), get_recipe("mnist-vib-mlp", ["epochs=5"]))
        {'epochs': {'trained': 200, 'current': 5}}
    """
    for label, recipe in (("trained", trained), ("current", current)):
        if not isinstance(recipe, dict):
            raise ValueError(f"the {label} recipe must be a dict, got {type(recipe).__name__}.")
    trained, current = _effective(get_recipe(trained)), _effective(get_recipe(current))
    return {
        key: {"trained": trained.get(key), "current": current.get(key)}
        for key in FIELDS
        if trained.get(key) != current.get(key)
    }
