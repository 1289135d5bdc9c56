"""The pretrained zoo: a registry of reference models, their cards, and loading with a hash check.

    import vdualib
    model = vdualib.zoo.load("mnist-dualib-mlp")      # a ready keras.Model
    probs = model.predict(x_test)                       # raw uint8 images in, probabilities out

Names are ``{dataset}-{method}-{backbone}`` (``mnist-dualib-mlp``, ``fashion-mnist-vib-convnet``,
``cifar10-deterministic-resnet20``, ...). The registry (``models/registry.json``) gives, per
model, its file name, sha256, size and download address; each model has a card
(``models/cards/<name>.json``) with its recipe, data, training and evaluation, written by
``scripts/build_zoo.py`` from the training record and the evaluation's ``metrics.json``.

Where weights are looked for: the ``models/`` folder of a source checkout, then the Keras cache
(``~/.keras/models/vdualib``), then (``download=True``) the registry's address, fetched with
``keras.utils.get_file`` into the Keras cache. Every file is checked against the registry's
sha256 before it is loaded (``safe_mode=True``); a mismatch is refused.
"""

import os
import sys

from vdualib import reports

__all__ = [
    "list_models",
    "card",
    "load",
    "sha256",
    "path",
    "registry",
    "models_dir",
    "card_from_records",
    "register",
    "cards_table",
    "export",
]

_REGISTRY = "registry.json"


def models_dir():
    """The folder holding the registry and cards: ``models/`` of a source checkout, else the
    copy installed under ``<prefix>/share/vdualib/models``. ``$VDUALIB_MODELS_DIR`` overrides."""
    candidates = [
        os.environ.get("VDUALIB_MODELS_DIR"),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models"),
        os.path.join(sys.prefix, "share", "vdualib", "models"),
    ]
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, _REGISTRY)):
            return folder
    raise FileNotFoundError(f"no {_REGISTRY} found in {[c for c in candidates if c]}; reinstall vdualib.")


def registry():
    """The registry: ``{"base_url": ..., "models": {name: {"file", "sha256", "bytes", "url"}}}``."""
    return reports.read_json(os.path.join(models_dir(), _REGISTRY))


def _entry(name):
    models = registry()["models"]
    if name not in models:
        raise ValueError(f"Unknown zoo model {name!r}; available: {sorted(models)}.")
    return models[name]


def list_models():
    """Names of the models in the zoo, sorted."""
    return sorted(registry()["models"])


def card(name):
    """The model card of ``name`` (a dict): recipe, data, training, evaluation."""
    _entry(name)
    return reports.read_json(os.path.join(models_dir(), "cards", f"{name}.json"))


def sha256(name):
    """The registered sha256 of the model file."""
    return _entry(name)["sha256"]


def _cache_dir():
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "models", "vdualib")


def _verified(file_path, entry, name):
    digest = reports.sha256_file(file_path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"{file_path} has sha256 {digest}, but the registry expects {entry['sha256']} for {name}: "
            "the file is damaged or not the registered model. Delete it and load again."
        )
    return file_path


def path(name, download=True):
    """Local path of the verified weights of ``name``, downloading them if needed."""
    entry = _entry(name)
    for folder in (models_dir(), _cache_dir()):
        candidate = os.path.join(folder, entry["file"])
        if os.path.isfile(candidate):
            return _verified(candidate, entry, name)
    if not download:
        raise FileNotFoundError(f"{entry['file']} is not in {models_dir()} or {_cache_dir()}; allow download=True.")
    import keras

    os.makedirs(_cache_dir(), exist_ok=True)  # get_file falls back to /tmp for a missing folder
    fetched = keras.utils.get_file(
        entry["file"],
        origin=entry["url"],
        file_hash=entry["sha256"],
        hash_algorithm="sha256",
        cache_dir=os.path.dirname(os.path.dirname(_cache_dir())),
        cache_subdir=os.path.join("models", "vdualib"),
    )
    return _verified(fetched, entry, name)


def load(name, download=True):
    """Load zoo model ``name`` as a ready ``keras.Model`` (``safe_mode=True``, hash checked).

    ``predict`` takes raw uint8 images exactly as :func:`vdualib.datasets.load` returns them and
    returns class probabilities (mean over the model's encoder samples).
    """
    import keras

    from vdualib import models  # noqa: F401  (registers the custom classes)

    return keras.saving.load_model(path(name, download=download), safe_mode=True)


# ---------------------------------------------------------------------------------------------
# Building the zoo: registry entries, cards and the models/README.md table, from the JSON that
# training (train.json) and evaluation (metrics.json) wrote. Nothing here is typed by hand.

#: data set -> out-of-distribution sets its card reports
OOD_SETS = {"mnist": ("fashion_mnist",), "fashion_mnist": ("mnist",), "cifar10": ("uniform", "gaussian")}
DEFAULT_BASE_URL = "https://github.com/vdualib/vdualib/raw/main/models/"


def export(source, target):
    """Save the model in ``source`` to ``target`` for release: weights only, no optimizer state
    and not compiled (a third of the size of a training checkpoint for Adam)."""
    import keras

    from vdualib import models

    trained = keras.saving.load_model(source, safe_mode=True)
    release = models.IBClassifier.from_config(trained.get_config())
    release.set_weights(trained.get_weights())
    with reports.atomic_path(target) as tmp:
        release.save(tmp)
    return target


def card_from_records(name, train_record, metrics_record, file_path):
    """A model card (dict) from the training record and the evaluation's metrics.json."""
    model = metrics_record["models"][0]
    summary = model.get("corruption_summary", {}).get("mean", {})
    recipe = train_record["recipe"]
    data_note = None
    if metrics_record.get("data_source") == "jpeg" or recipe["dataset"] == "cifar10":
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
        "training": {
            "seconds": train_record["train_seconds"],
            "epochs": len(train_record["history"]),
            "hardware": train_record["hardware"],
            "precision": train_record["precision"],
            "final_val_accuracy": train_record["history"][-1].get("val_accuracy"),
        },
        "parameters": train_record["parameters"],
        "file_bytes": os.path.getsize(file_path),
        "sha256": reports.sha256_file(file_path),
        "evaluation": {
            "num_samples": model["num_samples_used"],
            "test": {k: model["clean"][k] for k in ("accuracy", "nll", "brier", "ece", "adaptive_ece")},
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
    """Write ``card_record`` to ``cards/<name>.json`` and the file's entry into the registry."""
    folder = folder or models_dir()
    registry_path = os.path.join(folder, _REGISTRY)
    record = reports.read_json(registry_path) if os.path.exists(registry_path) else {"models": {}}
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
]


def _card_row(record):
    evaluation = record["evaluation"]
    ood = []
    for ood_name, scores in evaluation["ood_auroc"].items():
        values = " / ".join(f"{scores[s]:.3f}" if s in scores else "-" for s in ("max_probability", "entropy", "mutual_information", "rate"))
        ood.append(f"{ood_name}: {values}")
    return {
        "name": record["name"],
        **evaluation["test"],
        "ece_ts": evaluation["temperature_scaling"]["after"]["ece"],
        "shift_accuracy": evaluation["corruptions"]["mean_accuracy"],
        "shift_ece": evaluation["corruptions"]["mean_ece"],
        "shift_split": evaluation["corruptions"]["split"],
        "ood": "; ".join(ood),
        "parameters": record["parameters"],
        "megabytes": record["file_bytes"] / 1e6,
        "minutes": record["training"]["seconds"] / 60,
    }


def cards_table(folder=None):
    """The Markdown table of every card in ``folder`` (default: the zoo's)."""
    folder = folder or models_dir()
    cards_dir = os.path.join(folder, "cards")
    names = sorted(f[:-5] for f in os.listdir(cards_dir) if f.endswith(".json")) if os.path.isdir(cards_dir) else []
    if not names:
        return "No models yet.\n"
    rows = [_card_row(reports.read_json(os.path.join(cards_dir, f"{n}.json"))) for n in names]
    return reports.markdown_table(rows, _CARD_COLUMNS, digits=4)
