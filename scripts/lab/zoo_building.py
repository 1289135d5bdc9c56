"""Building the zoo: release files, cards, registry entries, targets, and the tables and figures
rendered from the cards.

Everything here is computed from the JSON that training (``train.json``) and evaluation
(``metrics.json``) wrote; nothing is typed by hand. ``scripts/build_zoo.py`` drives it. Loading and
reading the zoo is the library's :mod:`vdualib.zoo`.
"""

import os

from vdualib import checks, methods, models, plotting, recipes, reports, zoo
from vdualib.zoo import CARD_TEST_MEASURES

__all__ = [
    "DEFAULT_BASE_URL",
    "TARGETS",
    "export",
    "check_name",
    "card_from_records",
    "register",
    "target",
    "target_status",
    "curve_figure",
    "cards_table",
    "predictions_table",
    "recipes_table",
]

DEFAULT_BASE_URL = "https://github.com/vdualib/vdualib/raw/main/models/"


def export(source, target):
    """Save the model in ``source`` to ``target`` for release: weights only, no optimizer state
    and not compiled (a third of the size of a training checkpoint for Adam).

    Args:
        source: path of a trained ``.keras`` file (e.g. a training checkpoint).
        target: path of the ``.keras`` file to write (atomically).

    Returns:
        ``target``.

    Example:
        >>> export("runs/mnist-vib-mlp/model.keras", "models/mnist-vib-mlp.keras")
    """

    trained = zoo.load(source)
    # the label noise object itself, not its config: a TeacherNoise keeps its teacher's weights
    release = models.IBClassifier.from_config(dict(trained.get_config(), label_noise=trained.label_noise))
    release.set_weights(trained.get_weights())
    with reports.atomic_path(target) as tmp:
        release.save(tmp)
    return target


def check_name(name, recipe):
    """Refuse to publish a model under a built-in zoo name that is not its own.

    A built-in name (``mnist-vib-mlp``) promises its data set, method and backbone; a run of
    another recipe under it would be mislabelled. Other names (a user's own zoo) are free.

    Args:
        name: the name to publish under.
        recipe: the run's recipe (``train.json``'s ``recipe``).

    Returns:
        ``name``.

    Raises:
        ValueError: ``name`` is a built-in zoo name and the recipe's data set, method or backbone
            make another one, or the recipe lacks them.

    Example:
        >>> check_name("mnist-vib-mlp", {"dataset": "mnist", "method": "vib", "backbone": "mlp"})
        'mnist-vib-mlp'
    """

    if not isinstance(recipe, dict) or any(key not in recipe for key in recipes.IDENTITY):
        raise ValueError(f"the run's recipe must name its {list(recipes.IDENTITY)}; is train.json from vdualib-train?")
    own = recipes.model_name(recipe["dataset"], recipe["method"], recipe["backbone"])
    if name in recipes.RECIPES and own != name:
        raise ValueError(f"{name!r} is the zoo name of another model; this run trained {own!r}. Publish it as {own!r}.")
    return name


def training_section(train_record, recipe):
    """The card's "training" section: seconds, epochs, hardware, precision, the weight decay and the per-epoch curve.

    Args:
        train_record: the dict of the training run's ``train.json``.
        recipe: the run's complete recipe (:func:`vdualib.recipes.get_recipe`).

    Returns:
        A JSON-ready dict.
    """
    return {
        "seconds": train_record["train_seconds"],
        # how the seconds were counted, where a run's record says so (e.g. summed over resumed segments)
        "seconds_note": train_record.get("train_seconds_note"),
        "epochs": len(train_record["history"]),
        "hardware": train_record["hardware"],
        "precision": train_record["precision"],
        # the one decay mechanism (or, for runs before recipes decided it, the two) and its variables
        "weight_decay": recipes.describe_weight_decay(recipe),
        "final_val_accuracy": train_record["history"][-1].get("val_accuracy"),
        # the per-epoch curve on the held-out validation split
        "curve": [
            {key: h[key] for key in ("epoch", "accuracy", "val_accuracy", "loss", "val_loss") if key in h}
            for h in train_record["history"]
        ],
    }


def card_from_records(name, train_record, metrics_record, file_path):
    """A model card (dict) from the training record and the evaluation's metrics.json.

    Args:
        name: the zoo name of the model.
        train_record: the dict of the training run's ``train.json``.
        metrics_record: the dict of the evaluation's ``metrics.json`` (its first model is used).
        file_path: the released ``.keras`` file (its size and sha256 go into the card).

    Returns:
        The card as a JSON-ready dict (see :func:`card`).

    Example:
        >>> record = card_from_records("mnist-vib-mlp", read_json("train.json"), read_json("metrics.json"),
        ...                            "models/mnist-vib-mlp.keras")
    """
    model = metrics_record["models"][0]
    summary = model.get("corruption_summary", {}).get("mean", {})

    check_name(name, train_record["recipe"])
    recipe = recipes.get_recipe(train_record["recipe"])  # every field, older records included
    data_note = None
    if metrics_record.get("data_source") == "jpeg":
        data_note = (
            "CIFAR-10 here is the JPEG (quality 75) rendition in cifar10-jpeg.zip: trained and measured on it, "
            "not on the canonical pixels."
        )
    return {
        "name": name,
        "dataset": recipe["dataset"],
        "method": recipe["method"],
        "backbone": recipe["backbone"],
        "recipe": recipe,
        "data": {
            "training": train_record["data_split"],
            "evaluation": f"{metrics_record['dataset']} {metrics_record['split']} ({metrics_record['num_examples']} examples)",
            "note": data_note,
        },
        "training": training_section(train_record, recipe),
        # the objective's ingredients: where p~ came from, the prior, the warm-up
        "objective": {
            "label_noise": train_record.get("label_noise_source", {"kind": recipe.get("label_noise", "none")}),
            "prior": recipe["prior"] if methods.get(recipe["method"]).stochastic else None,
            "beta": recipe.get("beta"),
            "distortion_warmup": {"initial": recipe.get("distortion_warmup", 0.0), "steps": recipe.get("distortion_warmup_steps", 0)},
        },
        "parameters": train_record["parameters"],
        "file_bytes": os.path.getsize(file_path),
        "sha256": reports.sha256_file(file_path),
        "evaluation": {
            "prediction": metrics_record.get("prediction", "samples"),
            "num_samples": model["num_samples_used"],
            "test": {k: model["clean"][k] for k in CARD_TEST_MEASURES},
            "temperature_scaling": model["temperature_scaling"],
            "corruptions": {
                "severities": metrics_record["severities"],
                "families": len(metrics_record["corruptions"]),
                "split": metrics_record.get("corruption_split") or metrics_record["split"],
                "mean_accuracy": summary.get("accuracy"),
                "mean_ece": summary.get("ece"),
            },
            "ood_auroc": {
                ood: {score: values["auroc"] for score, values in scores.items()} for ood, scores in model["ood"].items()
            },
            "notes": metrics_record["notes"],
        },
        "provenance": {"train": train_record["provenance"], "evaluation": metrics_record["provenance"]},
    }


def register(name, file_path, card_record, folder=None, base_url=None):
    """Write ``card_record`` to ``cards/<name>.json`` and the file's entry into the registry.

    Both files are written atomically; the registry keeps its entries sorted.

    Args:
        name: the zoo name.
        file_path: the released ``.keras`` file (only its base name is recorded).
        card_record: the card, as from :func:`card_from_records`.
        folder: the zoo folder; ``None`` for :func:`models_dir`.
        base_url: the download prefix (default: the registry's own, else ``DEFAULT_BASE_URL``).

    Example:
        >>> register("mnist-vib-mlp", "models/mnist-vib-mlp.keras", record)
    """
    checks.plain_name("a zoo name", name)
    folder = folder or zoo.models_dir()
    registry_path = os.path.join(folder, zoo.REGISTRY_FILE)
    record = zoo.registry(folder) if os.path.exists(registry_path) else {"models": {}}
    record["base_url"] = base_url or record.get("base_url") or DEFAULT_BASE_URL
    file_name = os.path.basename(file_path)
    record["models"][name] = {
        "file": file_name,
        "sha256": card_record["sha256"],
        "bytes": card_record["file_bytes"],
        "url": record["base_url"] + file_name,
    }
    record["models"] = dict(sorted(record["models"].items()))
    reports.write_json(os.path.join(folder, "cards", f"{name}.json"), card_record)
    reports.write_json(registry_path, record)


_CARD_COLUMNS = [
    ("name", "model"),
    ("prediction", "prediction"),
    ("targets", "trained towards"),
    ("accuracy", "test acc"),
    ("nll", "NLL (nats)"),
    ("brier", "Brier"),
    ("ece", "ECE"),
    ("adaptive_ece", "adaptive ECE"),
    ("ece_ts", "ECE after TS"),
    ("shift_accuracy", "corrupted acc (sev 1-5)"),
    ("shift_ece", "corrupted ECE"),
    ("shift_split", "corrupted split"),
    ("ood", "OOD AUROC (max prob / entropy / MI / rate)"),
    ("parameters", "params"),
    ("megabytes", "MB"),
    ("minutes", "train min"),
    ("target", "target (test)"),
]


def _card_row(record):

    evaluation = record["evaluation"]
    ood = []
    for ood_name, scores in evaluation["ood_auroc"].items():
        values = " / ".join(f"{scores[s]:.3f}" if s in scores else "-" for s in ("max_probability", "entropy", "mutual_information", "rate"))
        ood.append(f"{ood_name}: {values}")
    return {
        "name": record["name"],
        "prediction": _prediction_cell(record),
        "targets": recipes.describe_targets(record["recipe"]),
        **evaluation["test"],
        "ece_ts": (evaluation["temperature_scaling"]["after"] or {}).get("ece"),
        "shift_accuracy": evaluation["corruptions"]["mean_accuracy"],
        "shift_ece": evaluation["corruptions"]["mean_ece"],
        "shift_split": evaluation["corruptions"]["split"],
        "ood": "; ".join(ood),
        "parameters": record["parameters"],
        "megabytes": record["file_bytes"] / 1e6,
        "minutes": record["training"]["seconds"] / 60,
        "target": _target_cell(record),
    }


def _prediction_cell(record):

    if not methods.get(record["method"]).stochastic:
        return "deterministic"
    if record["evaluation"].get("prediction") == "mu":
        return "decoder at mu"
    return f"mean of {record['evaluation']['num_samples']} samples"


#: What each zoo model is held to on the test split: the least accuracy (deterministic models and
#: the stochastic VIB/VdualIB ones) and the most top-label ECE before temperature scaling (15 bins;
#: stochastic models only), with the published figure the target is anchored on. CIFAR-10 is
#: measured on the JPEG rendition, so its anchor (canonical pixels) is not strictly comparable.
TARGETS = {
    "mnist": {
        "accuracy": {"deterministic": 0.987, "stochastic": 0.989},
        "ece": 0.005,
        "anchor": "VIB paper (Alemi et al. 2017): 98.87% VIB, 98.62% deterministic, MLP 1024-1024, 200 epochs",
    },
    "fashion_mnist": {
        "accuracy": {"deterministic": 0.930, "stochastic": 0.930},
        "ece": 0.015,
        "anchor": "a small CNN with augmentation: about 93%",
    },
    "cifar10": {
        "accuracy": {"deterministic": 0.910, "stochastic": 0.910},
        "ece": 0.020,
        "anchor": "ResNet-20 (He et al. 2016): 91.25% on the canonical CIFAR-10",
    },
}


def target(dataset, method):
    """The zoo's target for a model of ``method`` on ``dataset`` (see :data:`TARGETS`).

    Args:
        dataset: a data set name (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``).
        method: a method name of :mod:`vdualib.methods` (``"deterministic"``, ``"vib"``, ``"dualib"``).

    Returns:
        ``{"accuracy": float, "ece": float or None, "anchor": str}`` (ECE is ``None`` for a
        deterministic model), or ``None`` for a data set without a target.

    Raises:
        ValueError: an unknown method.

    Example:
        >>> target("mnist", "vib")["accuracy"]     # 0.989
    """

    stochastic = methods.get(method).stochastic
    if dataset not in TARGETS:
        return None
    entry = TARGETS[dataset]
    kind = "stochastic" if stochastic else "deterministic"
    return {"accuracy": entry["accuracy"][kind], "ece": entry["ece"] if stochastic else None, "anchor": entry["anchor"]}


def _check_card(card_record):
    if not isinstance(card_record, dict) or any(key not in card_record for key in ("name", "dataset", "method", "evaluation")):
        raise ValueError("expected a model card (a dict with name, dataset, method and evaluation, as zoo.card returns).")


def target_status(card_record, prediction=None):
    """Whether a card's test figures meet its target.

    Args:
        card_record: a model card (as from :func:`card` or :func:`card_from_records`).
        prediction: ``None`` for the card's own test figures, or ``"samples"`` / ``"mu"`` for
            those of that prediction mode (``evaluation.by_prediction``; ``None`` is returned
            when the card does not have them).

    Returns:
        ``None`` without a target, else ``{"accuracy": a, "ece": e, "met": bool, "missed": [...]}``
        where ``a`` and ``e`` are ``{"target", "value", "met"}`` (``e`` is ``None`` for a
        deterministic model) and ``missed`` names the measures short of their target.

    Raises:
        ValueError: ``card_record`` is not a card, or an unknown prediction mode.

    Example:
        >>> target_status(card("mnist-vib-mlp"))["missed"]     # e.g. ['accuracy']
    """
    _check_card(card_record)
    if prediction not in (None, "samples", "mu"):
        raise ValueError(f"prediction must be None (the card's own figures), 'samples' or 'mu'; got {prediction!r}.")
    goal = target(card_record["dataset"], card_record["method"])
    if prediction is None:
        test = card_record["evaluation"]["test"]
    else:
        test = card_record["evaluation"].get("by_prediction", {}).get(prediction, {}).get("test")
    if goal is None or test is None:
        return None
    status = {"accuracy": {"target": goal["accuracy"], "value": test["accuracy"], "met": test["accuracy"] >= goal["accuracy"]}}
    status["ece"] = None if goal["ece"] is None else {"target": goal["ece"], "value": test["ece"], "met": test["ece"] <= goal["ece"]}
    status["missed"] = [name for name in ("accuracy", "ece") if status[name] is not None and not status[name]["met"]]
    status["met"] = not status["missed"]
    return status


def _target_cell(record):
    status = target_status(record)
    if status is None:
        return "-"
    wanted = f"acc >= {status['accuracy']['target']:.3f}" + ("" if status["ece"] is None else f", ECE <= {status['ece']['target']:.3f}")
    return f"{wanted}: {_verdict(status)}"


def _verdict(status):
    return "-" if status is None else "met" if status["met"] else "missed " + " and ".join(status["missed"])


def curve_figure(card_record, path):
    """Draw a card's per-epoch accuracy (training and held-out validation) against its target.

    Args:
        card_record: a model card with ``training.curve`` (as :func:`card_from_records` writes).
        path: the PNG to write (atomically).

    Returns:
        ``path``.

    Raises:
        ValueError: not a card, or a card without a per-epoch curve.

    Example:
        >>> curve_figure(card("mnist-vib-mlp"), "models/evaluations/mnist-vib-mlp/curve.png")
    """

    _check_card(card_record)
    curve = card_record.get("training", {}).get("curve") or []
    if not curve:
        raise ValueError(f"the card of {card_record.get('name')!r} has no per-epoch curve; rebuild it with scripts/build_zoo.py.")
    figure, axis = plotting.pyplot().subplots(figsize=(6, 3.6))
    epochs = [point["epoch"] for point in curve]
    for key, label in (("accuracy", "training"), ("val_accuracy", "validation (held out)")):
        values = [point.get(key) for point in curve]
        if any(v is not None for v in values):
            axis.plot(epochs, [float("nan") if v is None else v for v in values], label=label)
    goal = target(card_record["dataset"], card_record["method"])
    test_accuracy = card_record["evaluation"]["test"]["accuracy"]
    axis.axhline(test_accuracy, color="black", linestyle=":", label=f"test: {test_accuracy:.4f}")
    if goal is not None:
        axis.axhline(goal["accuracy"], color="tab:red", linestyle="--", label=f"target: {goal['accuracy']:.3f}")
    low = min(v for point in curve for v in (point.get("val_accuracy"), point.get("accuracy")) if v is not None)
    # zoom on the quarter below the target, unless the curve stays above it
    axis.set_ylim(min(max(low, (goal or {}).get("accuracy", 1.0) - 0.25), 0.99), 1.0)
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy")
    axis.set_title(card_record["name"])
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    return plotting.save_figure(figure, path)


def cards_table(folder=None):
    r"""The Markdown table of every card in ``folder`` (default: the zoo's).

    Args:
        folder: a zoo folder with a ``cards/`` subfolder; ``None`` for :func:`models_dir`.

    Returns:
        The Markdown table as a string (``"No models yet.\n"`` without cards).

    Raises:
        ValueError: a card that lacks what the table shows, or holds no valid recipe.

    Example:
        >>> print(cards_table())
    """
    rows = _table_rows(folder, _card_row)
    if not rows:
        return "No models yet.\n"
    return reports.markdown_table(rows, _CARD_COLUMNS, digits=4)


def _table_rows(folder, make_row):
    """``make_row(card)`` of every card in ``folder`` that gives a row (not ``None``); a card
    that lacks what the row reads is named in a ``ValueError``."""
    rows = []
    for record in zoo.cards(folder):
        try:
            row = make_row(record)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"the card of {record.get('name')!r} is damaged ({type(err).__name__}: {err}); rebuild it with "
                f"scripts/build_zoo.py or {zoo.RESTORE_ADVICE}."
            ) from None
        if row is not None:
            rows.append(row)
    return rows


def _prediction_row(record):
    """A stochastic model's row of :func:`predictions_table`; ``None`` for a deterministic one."""

    if not methods.get(record["method"]).stochastic:
        return None
    row = {"name": record["name"]}
    for mode in ("samples", "mu"):
        measured = record["evaluation"].get("by_prediction", {}).get(mode)
        if measured is None:
            row.update({f"{mode}_{key}": "-" for key in ("accuracy", "nll", "ece", "temperature", "ece_ts", "target")})
            continue
        test = measured["test"]
        row.update({f"{mode}_accuracy": test["accuracy"], f"{mode}_nll": test["nll"], f"{mode}_ece": test["ece"]})
        for key, field in (("temperature", "temperature"), ("ece_ts", "ece_after_ts")):
            row[f"{mode}_{key}"] = "-" if measured[field] is None else measured[field]
        row[f"{mode}_target"] = _verdict(target_status(record, mode))
    return row


def predictions_table(folder=None):
    r"""The Markdown table of the stochastic models' clean test metrics under both prediction
    modes, from their cards' ``evaluation.by_prediction`` (``scripts/build_zoo.py`` writes it).

    The main table scores each model with one mode; this one puts the mean over S encoder samples
    beside the decoder at mu (the dual IB paper's protocol), with the temperature T fitted on the
    validation split (T > 1: overconfident, T < 1: underconfident) and the target of each model's
    data set checked on both, so a verdict that depends on the mode shows as such.

    Args:
        folder: a zoo folder with a ``cards/`` subfolder; ``None`` for :func:`models_dir`.

    Returns:
        The Markdown table as a string; a card without both modes gets ``-`` cells
        (``"No stochastic models yet.\n"`` without any).

    Raises:
        ValueError: a card that lacks what the table shows.

    Example:
        >>> print(predictions_table())
    """
    rows = _table_rows(folder, _prediction_row)
    if not rows:
        return "No stochastic models yet.\n"
    columns = [("name", "model")]
    for mode, title in (("samples", "mean of S samples"), ("mu", "decoder at mu")):
        columns += [(f"{mode}_accuracy", f"{title}: acc"), (f"{mode}_nll", "NLL"), (f"{mode}_ece", "ECE"),
                    (f"{mode}_temperature", "T"), (f"{mode}_ece_ts", "ECE after TS"), (f"{mode}_target", "target")]
    return reports.markdown_table(rows, columns, digits=4)


def recipes_table(folder=None):
    r"""The Markdown table saying, for every card in ``folder``, whether its model was trained with
    today's zoo recipe (:func:`vdualib.recipes.outdated_fields`) and, if not, how its recipe differs.

    A model trained before its recipe changed stays in the zoo until it is retrained; this table
    keeps the reader from taking its figures for those of today's recipe.

    Args:
        folder: a zoo folder with a ``cards/`` subfolder; ``None`` for :func:`models_dir`.

    Returns:
        The Markdown table as a string (``"No models yet.\n"`` without cards). A difference reads
        ``field: trained -> today``; fields that the changed ones switch on or off (the p~
        reference of ``label_noise=confusion``, say) follow from them and are not repeated.

    Example:
        >>> print(recipes_table())
    """

    records = zoo.cards(folder)
    if not records:
        return "No models yet.\n"
    rows = []
    for record in records:
        try:
            outdated = recipes.outdated_fields(record.get("recipe"))
        except ValueError as err:
            raise ValueError(f"the card of {record.get('name')!r} has no valid recipe ({err}); rebuild it with scripts/build_zoo.py.") from None
        if outdated is None:
            status, changes = "not a built-in recipe", "-"
        elif not outdated:
            status, changes = "yes", "-"
        else:
            shown = {key: change for key, change in outdated.items() if None not in change.values()}
            status = "no"
            changes = "; ".join(f"{key}: {change['trained']} -> {change['current']}" for key, change in shown.items())
        rows.append({"name": record["name"], "status": status, "changes": changes})
    columns = [("name", "model"), ("status", "today's recipe"), ("changes", "what differs (trained -> today)")]
    return reports.markdown_table(rows, columns)


