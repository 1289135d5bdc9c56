"""The pretrained zoo: a registry of reference models, their cards, and one loading function.

    import vdualib
    model = vdualib.zoo.load("mnist-dualib-mlp")      # a zoo name, or the path of a .keras file
    probs = model.predict(x_test)                       # raw uint8 images in, probabilities out

Names are ``{dataset}-{method}-{backbone}`` (``mnist-dualib-mlp``, ``fashion-mnist-vib-convnet``,
``cifar10-deterministic-resnet20``, ...). The registry (``models/registry.json``) gives, per
model, its file name, sha256, size and download address; each model has a card
(``models/cards/<name>.json``) with its recipe, data, training and evaluation.

Where weights are looked for: the zoo folder (:func:`models_dir`), then the Keras cache
(``~/.keras/models/vdualib``), then (``download=True``) the registry's address, fetched with
``keras.utils.get_file`` into the Keras cache. Every file is checked against the registry's
sha256 before it is loaded (``safe_mode=True``); a mismatch is refused, and a cached copy that
fails the check is removed. Registry keys and file names are plain names (no path parts).
:func:`load` decides whether its argument names a file (it ends in ``.keras`` or contains a path
separator) or a zoo model, and loading a file reads that file alone. After ``import vdualib``,
``keras.saving.load_model`` loads the same files (without the checks).

Example:
    >>> from vdualib import zoo
    >>> model = zoo.load("mnist-dualib-mlp")
    >>> info, card = zoo.describe("mnist-dualib-mlp", model)
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

import keras

from vdualib import checks, losses, reports

__all__ = [
    "load",
    "describe",
    "list_models",
    "card",
    "cards",
    "sha256",
    "path",
    "source",
    "registry",
    "models_dir",
    "REGISTRY_FILE",
    "CARD_TEST_MEASURES",
]

#: the registry's file name in a zoo folder
REGISTRY_FILE = "registry.json"
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
        >>> os.path.isfile(os.path.join(models_dir(), "registry.json"))
        True
    """
    override = os.environ.get("VDUALIB_MODELS_DIR")
    if override:
        if not os.path.isfile(os.path.join(override, REGISTRY_FILE)):
            raise FileNotFoundError(
                f"VDUALIB_MODELS_DIR={override!r} holds no {REGISTRY_FILE}; point it at a zoo folder "
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
        if os.path.isfile(os.path.join(folder, REGISTRY_FILE)):
            return folder
    raise FileNotFoundError(
        f"no {REGISTRY_FILE} found in {candidates}; reinstall vdualib or set VDUALIB_MODELS_DIR to a zoo folder."
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


#: what to do when a zoo file is missing or damaged
RESTORE_ADVICE = "restore the zoo folder (the repository's models/) or reinstall vdualib"


def _parse_registry(file_path):
    record = reports.read_json(file_path, remedy=RESTORE_ADVICE)
    if not isinstance(record, dict) or not isinstance(record.get("models"), dict):
        raise ValueError(f"{file_path} must be an object with a 'models' object; {RESTORE_ADVICE}.")
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
        >>> len(registry()["models"]["mnist-dualib-mlp"]["sha256"])     # hex digits
        64
    """
    return _read_cached(os.path.join(folder or models_dir(), REGISTRY_FILE), _parse_registry)


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
        >>> list_models()[:2]
        ['cifar10-deterministic-resnet20', 'cifar10-dualib-resnet20']
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
        >>> bool(0.9 < card("mnist-dualib-mlp")["evaluation"]["test"]["accuracy"] <= 1.0)
        True
    """
    _entry(name)
    card_path = os.path.join(models_dir(), "cards", f"{name}.json")
    if not os.path.isfile(card_path):
        raise FileNotFoundError(f"zoo model {name!r} has no card at {card_path}; the zoo folder is incomplete, reinstall vdualib.")
    return _read_cached(card_path, lambda p: reports.read_json(p, remedy=RESTORE_ADVICE))


def sha256(name):
    """The registered sha256 of the model file.

    Args:
        name: a zoo model name, ``"{dataset}-{method}-{backbone}"`` (see :func:`list_models`).

    Returns:
        The hex digest, 64 characters.

    Raises:
        ValueError: an unknown name (the message lists the available ones).

    Example:
        >>> sha256("mnist-vib-mlp") == reports.sha256_file(path("mnist-vib-mlp"))
        True
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
        >>> path("mnist-vib-mlp", download=False)
        '...models/mnist-vib-mlp.keras'
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


def _is_file(spec):
    """Whether a model argument names a file (it ends in ``.keras`` or has a path separator)
    rather than a zoo name: the only place that decides."""
    return spec.endswith(".keras") or "/" in spec or os.sep in spec


def _check_spec(spec):
    if not isinstance(spec, (str, os.PathLike)) or not os.fspath(spec):
        raise ValueError(f"a model is a .keras path or a zoo name (e.g. 'mnist-dualib-mlp'); got {spec!r}.")
    return os.fspath(spec)


def load(name_or_path, download=True, teacher_files=False):
    """Load a zoo model or a ``.keras`` file as a ready ``keras.Model``, like
    ``keras.saving.load_model`` with ``safe_mode=True`` and with the checks below.

    ``name_or_path`` is a file when it ends in ``.keras`` or contains a path separator, and a zoo
    name otherwise (``"{dataset}-{method}-{backbone}"``, see :func:`list_models`). A zoo file is
    checked against the registry's sha256 before it is loaded. A zoo model's ``predict`` takes raw
    uint8 images as :func:`vdualib.datasets.load` returns them and returns class probabilities
    (the mean over the model's encoder samples).

    Before Keras sees a file, the archive is checked: the sizes its zip directory declares (a
    decompression bomb is refused before anything is decompressed), every member's CRC, a
    ``config.json`` that is valid JSON and a weights member. A config naming a class that neither
    Keras, vdualib nor a registration in this program knows (an unregistered custom class, or a
    crafted ``{"module": "os", ...}``) is refused naming it; nothing a file names is imported.

    A model trained with a :class:`vdualib.losses.TeacherNoise` holds its teacher. Files saved by
    earlier versions name the teacher by path instead; they are refused, since loading one would
    open another file, unless ``teacher_files=True``: that opens the named teacher (itself loaded
    with ``teacher_files=False``), and saving the model again makes a self-contained file.

    Args:
        name_or_path: a zoo name or the path of a ``.keras`` file (a saved model or a training
            checkpoint).
        download: for a zoo name, fetch the weights if they are not local (see :func:`path`).
        teacher_files: for a file, allow a TeacherNoise saved as a path to open that one file.

    Returns:
        The ``keras.Model`` (an :class:`vdualib.models.IBClassifier` for the zoo's models).

    Raises:
        FileNotFoundError: no such file, or a zoo file that is not local and cannot be downloaded.
        ValueError: an unknown zoo name (the message lists the available ones); a file name that
            does not end in ``.keras``; a file that is not a complete ``.keras`` archive, declares a
            decompression bomb, has an invalid ``config.json`` or no weights; or a model Keras cannot
            rebuild (the message names the file and, where it applies, the unknown classes).

    Example:
        >>> model = load("mnist-dualib-mlp")
        >>> (x_test, y_test) = vdualib.datasets.load("mnist")[1]
        >>> model.predict(x_test[:5], verbose=0).shape     # [5, 10] probabilities
        (5, 10)
        >>> model.save("model.keras")
        >>> model = load("model.keras")     # a file: a saved model or a training checkpoint
        >>> # a student saved by an earlier version, naming its teacher's file: convert it once
        >>> load("old-student.keras", teacher_files=True).save("student.keras")  # doctest: +SKIP
    """
    spec = _check_spec(name_or_path)
    if _is_file(spec):
        return _load_file(spec, teacher_files)
    return _load_file(path(spec, download=download), False)


def _open_teacher(path):
    """A teacher that a file of an earlier version names by path: loaded with the same checks,
    its own teacher paths refused (so a file naming itself cannot recurse)."""
    return _load_file(path, False)


def _load_file(file_path, teacher_files):
    file_path = os.fspath(file_path)
    if not file_path.endswith(".keras"):
        raise ValueError(f"{file_path!r} is not a .keras file; vdualib loads Keras 3 .keras files only (safe_mode=True).")
    if os.path.isdir(file_path):
        raise ValueError(f"{file_path!r} is a folder, not a .keras file; pass the model file itself.")
    if not os.path.isfile(file_path):
        raise FileNotFoundError(f"model file {file_path!r} does not exist; pass an existing .keras file or a zoo name.")
    config = _read_archive(file_path)
    with losses.opening_teacher_files(_open_teacher if teacher_files else None):
        try:
            return keras.saving.load_model(file_path, safe_mode=True)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError, OSError) as err:
            raise ValueError(_load_failure(file_path, config, err)) from None



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
        >>> source("mnist-dualib-mlp")
        'zoo:mnist-dualib-mlp'
    """
    return f"zoo:{checks.plain_name('a zoo name', name)}"


def describe(name_or_path, model):
    """What an evaluation records of a model that :func:`load` loaded, and its zoo card.

    Args:
        name_or_path: the argument given to :func:`load`.
        model: the loaded ``keras.Model``.

    Returns:
        ``(info, card)``: ``info`` is a JSON-ready dict with ``label`` (the zoo name or the file's
        stem), ``name``, ``method`` (``"keras"`` for a plain Keras model), ``source`` (``"zoo:<name>"``
        or the path), ``sha256``, ``num_samples`` and ``parameters``; ``card`` is the zoo card, or
        ``None`` for a file.

    Raises:
        ValueError: an unknown zoo name, or a spec that is neither a path nor a name.

    Example:
        >>> model = load("mnist-vib-mlp")
        >>> info, card = describe("mnist-vib-mlp", model)
        >>> info["source"], card["dataset"]
        ('zoo:mnist-vib-mlp', 'mnist')
    """
    spec = _check_spec(name_or_path)
    if _is_file(spec):
        label, origin, digest, record = os.path.splitext(os.path.basename(spec))[0], spec, reports.sha256_file(spec), None
    else:
        label, origin, digest, record = spec, source(spec), sha256(spec), card(spec)
    info = {
        "label": label,
        "name": model.name,
        "method": getattr(model, "method", "keras"),
        "source": origin,
        "sha256": digest,
        "num_samples": getattr(model, "num_samples", None),
        "parameters": int(model.count_params()),
    }
    return info, record


def cards(folder=None):
    """Every card in ``folder``'s ``cards/`` subfolder, sorted by name.

    Args:
        folder: a zoo folder; ``None`` for :func:`models_dir`.

    Returns:
        A list of card dicts (empty without a ``cards/`` subfolder).

    Example:
        >>> [record["name"] for record in cards()][:1]
        ['cifar10-deterministic-resnet20']
    """
    cards_dir = os.path.join(folder or models_dir(), "cards")
    names = sorted(f[:-5] for f in os.listdir(cards_dir) if f.endswith(".json")) if os.path.isdir(cards_dir) else []
    return [reports.read_json(os.path.join(cards_dir, f"{n}.json"), remedy=RESTORE_ADVICE) for n in names]
