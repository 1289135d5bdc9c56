"""The pretrained zoo: a registry of reference models, their cards, and loading with a hash check.

    import vdualib
    model = vdualib.zoo.load("mnist-dualib-mlp")      # a ready keras.Model
    probs = model.predict(x_test)                       # raw uint8 images in, probabilities out

Names are ``{dataset}-{method}-{backbone}`` (``mnist-dualib-mlp``, ``fashion-mnist-vib-convnet``,
``cifar10-deterministic-resnet20``, ...). The registry (``models/registry.json``) gives, per
model, its file name, sha256, size and download address; each model has a card
(``models/cards/<name>.json``) with its recipe, data, training and evaluation, written by
``scripts/build_zoo.py`` from the training record and the evaluation's ``metrics.json``.

Where weights are looked for: the zoo folder (:func:`models_dir`), then the Keras cache
(``~/.keras/models/vdualib``), then (``download=True``) the registry's address, fetched with
``keras.utils.get_file`` into the Keras cache. Every file is checked against the registry's
sha256 before it is loaded (``safe_mode=True``); a mismatch is refused, and a cached copy that
fails the check is removed. Registry keys and file names are plain names (no path parts).
Loading a model file (:func:`load_file`) reads that file alone.

:func:`resolve` is the one place that decides whether a model argument names a file or a zoo
model: a spec that ends in ``.keras`` or contains a path separator is a file; anything else is
a zoo name.

Example:
    >>> from vdualib import zoo
    >>> model, info, card = zoo.resolve("mnist-dualib-mlp")
    >>> card["dataset"], info["sha256"] == zoo.sha256("mnist-dualib-mlp")
    ('mnist', True)
"""

import copy
import json
import os
import re
import sys
import sysconfig
import zipfile

from vdualib import checks, reports

__all__ = [
    "list_models",
    "card",
    "load",
    "load_file",
    "resolve",
    "source",
    "sha256",
    "path",
    "registry",
    "models_dir",
    "card_from_records",
    "check_name",
    "register",
    "cards_table",
    "recipes_table",
    "predictions_table",
    "cards",
    "export",
    "TARGETS",
    "target",
    "target_status",
    "curve_figure",
]

_REGISTRY = "registry.json"
#: the clean test measures a card records (``evaluation.test`` and each ``by_prediction`` mode)
CARD_TEST_MEASURES = ("accuracy", "nll", "brier", "ece", "adaptive_ece")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def models_dir():
    """The folder holding the registry and cards.

    ``$VDUALIB_MODELS_DIR`` when set (it must hold ``registry.json``: there is no silent fallback),
    else ``models/`` of a source checkout, else the copy installed under
    ``<prefix>/share/vdualib/models`` (or the user scheme's, after ``pip install --user``).

    Raises:
        FileNotFoundError: ``$VDUALIB_MODELS_DIR`` has no registry, or no zoo folder exists.

    Returns:
        The folder's path (a string).

    Example:
        >>> os.path.isfile(os.path.join(models_dir(), "registry.json"))     # True
    """
    override = os.environ.get("VDUALIB_MODELS_DIR")
    if override:
        if not os.path.isfile(os.path.join(override, _REGISTRY)):
            raise FileNotFoundError(
                f"VDUALIB_MODELS_DIR={override!r} holds no {_REGISTRY}; point it at a zoo folder "
                "(registry.json and cards/, like the repository's models/) or unset it."
            )
        return override
    # a source checkout, then the data files of an install: the environment's prefix, or the
    # user scheme's (pip install --user)
    candidates = [
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models"),
        os.path.join(sys.prefix, "share", "vdualib", "models"),
        os.path.join(sysconfig.get_path("data", f"{os.name}_user"), "share", "vdualib", "models"),
    ]
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, _REGISTRY)):
            return folder
    raise FileNotFoundError(
        f"no {_REGISTRY} found in {candidates}; reinstall vdualib or set VDUALIB_MODELS_DIR to a zoo folder."
    )


_parsed = {}  # path -> ((mtime_ns, size), value): each file is parsed once until it changes


def _read_cached(file_path, parse):
    """``parse(file_path)``, reused while the file's mtime and size are unchanged (a copy)."""
    stamp = os.stat(file_path)
    key = (stamp.st_mtime_ns, stamp.st_size)
    cached = _parsed.get(file_path)
    if cached is None or cached[0] != key:
        cached = _parsed[file_path] = (key, parse(file_path))
    return copy.deepcopy(cached[1])


_RESTORE = "restore the zoo folder (the repository's models/) or reinstall vdualib"


def _parse_registry(file_path):
    record = reports.read_json(file_path, remedy=_RESTORE)
    if not isinstance(record, dict) or not isinstance(record.get("models"), dict):
        raise ValueError(f"{file_path} must be an object with a 'models' object; {_RESTORE}.")
    for name, entry in record["models"].items():
        problem = None
        if not _is_plain(name):
            problem = "is not a plain name (a key becomes cards/<name>.json: no path separators or '..')"
        elif not isinstance(entry, dict):
            problem = "is not an object"
        elif not _is_plain(entry.get("file")):
            problem = "has no plain 'file' name"
        elif not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
            problem = "has no 'sha256' (64 lower-case hex digits)"
        if problem:
            raise ValueError(
                f"{file_path}: the entry of {name!r} {problem}; every model needs 'file' and 'sha256'. "
                "Restore the registry or re-register the model with scripts/build_zoo.py."
            )
    return record


def _is_plain(name):
    try:
        checks.plain_name("name", name)
    except ValueError:
        return False
    return True


def registry(folder=None):
    """The registry of ``folder`` (default :func:`models_dir`):
    ``{"base_url": ..., "models": {name: {"file", "sha256", "bytes", "url"}}}``.

    Raises:
        ValueError: the file is not valid JSON, or an entry lacks its file name or sha256.

    Args:
        folder: a zoo folder holding ``registry.json``; ``None`` for :func:`models_dir`.

    Returns:
        The registry as a dict (cached per file).

    Example:
        >>> registry()["models"]["mnist-dualib-mlp"]["sha256"]
    """
    return _read_cached(os.path.join(folder or models_dir(), _REGISTRY), _parse_registry)


def _entry(name):
    models = registry()["models"]
    if not isinstance(name, str) or name not in models:
        raise ValueError(f"Unknown zoo model {name!r}; available: {sorted(models)}, or pass a path to a .keras file.")
    return models[name]


def list_models():
    """Names of the models in the zoo, sorted.

    Returns:
        A sorted list of ``"{dataset}-{method}-{backbone}"`` strings.

    Example:
        >>> list_models()[:2]     # e.g. ['cifar10-deterministic-resnet20', 'cifar10-dualib-resnet20']
    """
    return sorted(registry()["models"])


def card(name):
    """The model card of ``name`` (a dict): recipe, data, training, evaluation.

    Args:
        name: a zoo model name, ``"{dataset}-{method}-{backbone}"`` (see :func:`list_models`).

    Returns:
        The card as a dict (keys ``name``, ``dataset``, ``method``, ``backbone``, ``recipe``,
        ``data``, ``training``, ``objective``, ``evaluation``, ...). ``evaluation`` holds the
        test figures of the card's prediction mode (``prediction``: the mean over
        ``num_samples`` encoder samples, or ``"mu"``) and, for a stochastic model,
        ``by_prediction``: the clean test figures of both modes (``"samples"``, ``"mu"``).

    Raises:
        ValueError: an unknown name (the message lists the available ones).
        FileNotFoundError: the card file is missing from the zoo folder.

    Example:
        >>> card("mnist-dualib-mlp")["evaluation"]["test"]["accuracy"]
    """
    _entry(name)
    card_path = os.path.join(models_dir(), "cards", f"{name}.json")
    if not os.path.isfile(card_path):
        raise FileNotFoundError(f"zoo model {name!r} has no card at {card_path}; the zoo folder is incomplete, reinstall vdualib.")
    return _read_cached(card_path, lambda p: reports.read_json(p, remedy=_RESTORE))


def sha256(name):
    """The registered sha256 of the model file.

    Args:
        name: a zoo model name, ``"{dataset}-{method}-{backbone}"`` (see :func:`list_models`).

    Returns:
        The hex digest, 64 characters.

    Raises:
        ValueError: an unknown name (the message lists the available ones).

    Example:
        >>> sha256("mnist-vib-mlp")
    """
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


def _remove_quietly(file_path):
    try:
        os.remove(file_path)
    except FileNotFoundError:
        pass


def path(name, download=True):
    """Local path of the verified weights of ``name``, downloading them if needed.

    A file in the Keras cache that fails the sha256 check (a download the server got wrong, a
    damaged copy) is removed, never kept, so the next load fetches it again and reports what
    went wrong then; a file in the zoo folder is not touched.

    Raises:
        FileNotFoundError: the file is in neither folder and may not (or could not) be
            downloaded; the message names the folders and how to place the file by hand.
        ValueError: the file in the zoo folder, or the one downloaded, is not the registered one
            (its sha256 differs).

    Args:
        name: a zoo model name, ``"{dataset}-{method}-{backbone}"`` (see :func:`list_models`).
        download: fetch the file from the registry's URL when it is in neither local folder.

    Returns:
        The path of the verified ``.keras`` file.

    Example:
        >>> path("mnist-vib-mlp", download=False)     # .../models/mnist-vib-mlp.keras
    """
    entry = _entry(name)
    folders = [models_dir(), _cache_dir()]
    removed = ""
    for folder in folders:
        candidate = os.path.join(folder, entry["file"])
        if not os.path.isfile(candidate):
            continue
        if folder == folders[1] and reports.sha256_file(candidate) != entry["sha256"]:
            _remove_quietly(candidate)
            removed = " (the cached copy failed the sha256 check and was removed)"
            continue
        return _verified(candidate, entry, name)
    place = (
        f"{entry['file']} (sha256 {entry['sha256']}) is not in {folders[0]} or {folders[1]}{removed}; "
        f"copy the file into one of them"
    )
    if not download:
        raise FileNotFoundError(f"{place}, or allow download=True.")
    if not entry.get("url"):
        raise FileNotFoundError(f"{place}: the registry gives no download address for {name}.")
    import keras

    os.makedirs(_cache_dir(), exist_ok=True)  # get_file falls back to /tmp for a missing folder
    try:
        fetched = keras.utils.get_file(
            entry["file"],
            origin=entry["url"],
            file_hash=entry["sha256"],
            hash_algorithm="sha256",
            cache_dir=os.path.dirname(os.path.dirname(_cache_dir())),
            cache_subdir=os.path.join("models", "vdualib"),
        )
    except ValueError as err:  # keras' hash check of the downloaded file, which keras keeps
        _remove_quietly(os.path.join(_cache_dir(), entry["file"]))
        raise ValueError(
            f"{entry['url']} served a file that is not the registered {name} ({err}); it was removed from the "
            f"cache. The server or the registry is out of date: place the right {entry['file']} in {folders[0]} by hand."
        ) from None
    except Exception as err:  # keras raises a bare Exception for network failures
        raise FileNotFoundError(f"{place}, or connect to the internet: downloading {entry['url']} failed ({err}).") from None
    return _verified(fetched, entry, name)


#: A zip member declaring more than this many bytes per stored byte is a decompression bomb:
#: Keras stores members uncompressed (ratio 1) and DEFLATE cannot pass about 1032.
_MAX_EXPANSION = 100
#: ...refused above this declared size, so small, well-compressed members (a config) still pass.
_BOMB_FLOOR_BYTES = 1 << 24
#: The largest config.json read: a model's is tens of kilobytes, a nested teacher's adds as much.
_MAX_CONFIG_BYTES = 1 << 26
_WEIGHTS_MEMBERS = ("model.weights.h5", "model.weights.npz")
_RESAVE = (
    "Delete it and save, export or download it again; for a training checkpoint, restart the run or resume "
    "from another copy."
)


def _read_archive(file_path):
    """The parsed ``config.json`` of a ``.keras`` archive, after checking, in this order, the
    sizes its central directory declares (nothing is decompressed before), every member's CRC,
    and that the config and the weights are there."""
    try:
        with zipfile.ZipFile(file_path) as archive:
            infos = archive.infolist()
            checked = [(f"its member {i.filename!r}", i.file_size, i.compress_size) for i in infos]
            # and all of them together: many bombs, each under the floor
            checked.append(("all its members", sum(i.file_size for i in infos), sum(i.compress_size for i in infos)))
            for what, declared, stored in checked:
                if declared > _BOMB_FLOOR_BYTES and declared > _MAX_EXPANSION * max(stored, 1):
                    raise ValueError(
                        f"{file_path} is refused: {what} declares {declared} bytes from {stored} stored (a "
                        "decompression bomb). A saved model stores its members uncompressed; do not load this file."
                    )
            members = {info.filename: info for info in infos}
            config_info = members.get("config.json")
            if config_info is not None and config_info.file_size > _MAX_CONFIG_BYTES:
                raise ValueError(
                    f"{file_path} is refused: its config.json declares {config_info.file_size} bytes, more than "
                    f"a model's config ({_MAX_CONFIG_BYTES} at most)."
                )
            bad_member = archive.testzip()
            raw = archive.read("config.json") if config_info is not None and not bad_member else None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        bad_member, members, raw = f"not a zip archive: {err}", {}, None
    if bad_member or "config.json" not in members:
        problem = bad_member or "no config.json inside"
        raise ValueError(f"{file_path} is damaged (truncated or corrupted .keras archive: {problem}). {_RESAVE}")
    if not any(name in members for name in _WEIGHTS_MEMBERS):
        raise ValueError(
            f"{file_path} is damaged: it holds no weights ({' or '.join(_WEIGHTS_MEMBERS)} is missing from the "
            f"archive). {_RESAVE}"
        )
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{file_path} is damaged: its config.json is not valid JSON ({err}). {_RESAVE}") from None
    except RecursionError:
        raise ValueError(f"{file_path} is refused: its config.json nests too deeply to be a model's config.") from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(
            f"{file_path} is damaged: its config.json is not a Keras model's config (an object with a "
            f"'class_name'). {_RESAVE}"
        )
    return config


def _unknown_classes(config):
    """The classes of ``config`` that neither Keras nor a registration here can rebuild, as
    ``module.class`` or the registered name, in order of appearance."""
    import keras

    unknown, pending = [], [config]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
            continue
        if not isinstance(item, dict):
            continue
        pending.extend(reversed(list(item.values())))
        name, module = item.get("class_name"), item.get("module")
        if not isinstance(name, str) or name.startswith("__") or "config" not in item:
            continue
        if isinstance(module, str) and (module == "builtins" or module.split(".")[0] == "keras"):
            continue
        registered = item.get("registered_name")
        if isinstance(registered, str) and keras.saving.get_registered_object(registered) is not None:
            continue
        label = registered if isinstance(registered, str) and ">" in registered else f"{module}.{name}"
        if label not in unknown:
            unknown.append(label)
    return unknown


def _load_failure(file_path, config, err):
    """The message for a ``.keras`` file Keras could not rebuild."""
    unknown = _unknown_classes(config)
    if unknown:
        return (
            f"{file_path} cannot be loaded: it holds {', '.join(unknown)}, which is neither a Keras nor a vdualib "
            "class nor one registered in this program. For a class of your own, import the module that registers "
            "it (@keras.saving.register_keras_serializable) before loading; a file from elsewhere may be crafted, "
            "and vdualib never imports what a file names."
        )
    if isinstance(err, RecursionError):
        return f"{file_path} cannot be loaded: its config nests too deeply to be a model's config."
    reason = re.split(r"\s*Full (?:object )?config", str(err), maxsplit=1)[0].strip() or type(err).__name__
    return f"{file_path} cannot be loaded: {reason}"


def load_file(file_path, teacher_files=False):
    """Load a ``.keras`` model file with ``safe_mode=True``, reading that file alone, and refusing
    a damaged, foreign or crafted file with a message that names it.

    Before Keras sees the file, the archive is checked: the sizes its zip directory declares (a
    decompression bomb is refused before anything is decompressed), every member's CRC (Keras
    reports a truncated archive as "File not found"), a ``config.json`` that is valid JSON and a
    weights member. A config naming a class that neither Keras, vdualib nor a registration in
    this program knows (an unregistered custom class, or a crafted ``{"module": "os", ...}``) is
    refused naming it; nothing a file names is imported.

    A model trained with a :class:`vdualib.losses.TeacherNoise` holds its teacher. Files saved by
    earlier versions name the teacher by path instead; they are refused, since loading one would
    open another file, unless ``teacher_files=True``: that opens the named teacher (itself loaded
    with ``teacher_files=False``), and saving the model again makes a self-contained file.

    Args:
        file_path: path of a ``.keras`` file (a saved model or a training checkpoint).
        teacher_files: allow a TeacherNoise saved as a path to open that one teacher file.

    Returns:
        The ``keras.Model``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the name does not end in ``.keras`` (the only format loaded, always with
            ``safe_mode=True``); the file is not a complete ``.keras`` archive, declares a
            decompression bomb, has an invalid ``config.json`` or no weights; or Keras cannot
            rebuild the model from it (the message names the file and, where it applies, the
            unknown classes).

    Example:
        >>> model = zoo.load_file("runs/mnist-vib-mlp/model.keras")
        >>> zoo.load_file("old-student.keras", teacher_files=True).save("student.keras")  # convert once
    """
    file_path = os.fspath(file_path)
    if not file_path.endswith(".keras"):
        raise ValueError(f"{file_path!r} is not a .keras file; vdualib loads Keras 3 .keras files only (safe_mode=True).")
    if not os.path.isfile(file_path):
        raise FileNotFoundError(f"model file {file_path!r} does not exist; pass an existing .keras file or a zoo name.")
    config = _read_archive(file_path)
    import keras

    from vdualib import losses, models  # noqa: F401  (models registers the custom classes for deserialisation)

    with losses._teacher_files(teacher_files):
        try:
            return keras.saving.load_model(file_path, safe_mode=True)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError, OSError) as err:
            raise ValueError(_load_failure(file_path, config, err)) from None


def load(name, download=True):
    """Load zoo model ``name`` as a ready ``keras.Model`` (``safe_mode=True``, hash checked).

    ``predict`` takes raw uint8 images exactly as :func:`vdualib.datasets.load` returns them and
    returns class probabilities (mean over the model's encoder samples).

    Args:
        name: a zoo model name, ``"{dataset}-{method}-{backbone}"`` (see :func:`list_models`).
        download: fetch the weights if they are not local (see :func:`path`).

    Returns:
        The loaded ``keras.Model`` (an :class:`vdualib.models.IBClassifier` for the zoo's models).

    Raises:
        ValueError: an unknown name (the message lists the available ones).
        FileNotFoundError: the file is not local and cannot be downloaded.

    Example:
        >>> model = load("mnist-dualib-mlp")
        >>> model.predict(vdualib.datasets.load("mnist", "test")[0][:5])     # [5, 10] probabilities
    """
    return load_file(path(name, download=download))


def source(name):
    """How evaluations record a zoo model as their source: ``"zoo:<name>"``, never a local path,
    since the registry's sha256 (recorded beside it) identifies the file wherever it lies.

    Args:
        name: a zoo name.

    Returns:
        The string ``"zoo:<name>"``.

    Raises:
        ValueError: ``name`` is not a non-empty string without path separators.

    Example:
        >>> source("mnist-dualib-mlp")     # 'zoo:mnist-dualib-mlp'
    """
    return f"zoo:{checks.plain_name('a zoo name', name)}"


def _model_info(model, label, origin, digest):
    return {
        "label": label,
        "name": model.name,
        "method": getattr(model, "method", "keras"),
        "source": origin,
        "sha256": digest,
        "num_samples": getattr(model, "num_samples", None),
        "parameters": int(model.count_params()),
    }


def resolve(spec, download=True):
    """Load the model a command-line argument names: a ``.keras`` file or a zoo name.

    A spec is a file when it ends in ``.keras`` or contains a path separator; otherwise it is a
    zoo name. This is the only place that decides.

    Args:
        spec: a path or a zoo name (``"mnist-dualib-mlp"``).
        download: for a zoo name, fetch the weights if they are not local.

    Returns:
        ``(model, info, card)``: the loaded ``keras.Model``; ``info``, a JSON-ready dict with
        ``label`` (file stem or zoo name), ``name``, ``method`` (``"keras"`` for a plain Keras
        model), ``source``, ``sha256``, ``num_samples`` and ``parameters``; the zoo card, or
        ``None`` for a file.

    Raises:
        FileNotFoundError: a file spec that does not exist.
        ValueError: a spec that is neither a path nor a name, an unknown zoo name, a damaged file or
            registry.

    Example:
        >>> model, info, card = resolve("mnist-vib-mlp")
        >>> model, info, card = resolve("runs/my_model.keras")     # card is None
    """
    if not isinstance(spec, (str, os.PathLike)) or not os.fspath(spec):
        raise ValueError(f"a model is a .keras path or a zoo name (e.g. 'mnist-dualib-mlp'); got {spec!r}.")
    spec = os.fspath(spec)
    if spec.endswith(".keras") or "/" in spec or os.sep in spec:
        model = load_file(spec)
        label = os.path.splitext(os.path.basename(spec))[0]
        return model, _model_info(model, label, spec, reports.sha256_file(spec)), None
    record = card(spec)
    model = load(spec, download=download)
    return model, _model_info(model, spec, source(spec), sha256(spec)), record


# ---------------------------------------------------------------------------------------------
# Building the zoo: registry entries, cards and the models/README.md table, from the JSON that
# training (train.json) and evaluation (metrics.json) wrote. Nothing here is typed by hand.

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
    from vdualib import models

    trained = load_file(source)
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
    from vdualib import recipes

    if not isinstance(recipe, dict) or any(key not in recipe for key in recipes.IDENTITY):
        raise ValueError(f"the run's recipe must name its {list(recipes.IDENTITY)}; is train.json from vdualib-train?")
    own = recipes.model_name(recipe["dataset"], recipe["method"], recipe["backbone"])
    if name in recipes.RECIPES and own != name:
        raise ValueError(f"{name!r} is the zoo name of another model; this run trained {own!r}. Publish it as {own!r}.")
    return name


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
    from vdualib import methods, recipes

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
        "training": {
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
        },
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
    folder = folder or models_dir()
    registry_path = os.path.join(folder, _REGISTRY)
    record = registry(folder) if os.path.exists(registry_path) else {"models": {}}
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
    from vdualib import recipes

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
    from vdualib import methods

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
    from vdualib import methods

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
    from vdualib import plotting

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
    for record in cards(folder):
        try:
            row = make_row(record)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"the card of {record.get('name')!r} is damaged ({type(err).__name__}: {err}); rebuild it with "
                f"scripts/build_zoo.py or {_RESTORE}."
            ) from None
        if row is not None:
            rows.append(row)
    return rows


def _prediction_row(record):
    """A stochastic model's row of :func:`predictions_table`; ``None`` for a deterministic one."""
    from vdualib import methods

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
    from vdualib import recipes

    records = cards(folder)
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


def cards(folder=None):
    """Every card in ``folder``'s ``cards/`` subfolder, sorted by name.

    Args:
        folder: a zoo folder; ``None`` for :func:`models_dir`.

    Returns:
        A list of card dicts (empty without a ``cards/`` subfolder).

    Example:
        >>> [record["name"] for record in cards()][:1]     # ['cifar10-deterministic-resnet20']
    """
    cards_dir = os.path.join(folder or models_dir(), "cards")
    names = sorted(f[:-5] for f in os.listdir(cards_dir) if f.endswith(".json")) if os.path.isdir(cards_dir) else []
    return [reports.read_json(os.path.join(cards_dir, f"{n}.json"), remedy=_RESTORE) for n in names]
