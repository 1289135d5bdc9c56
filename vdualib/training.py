"""Run a recipe: data, model, optimizer, per-epoch checkpoints, exact resume, logs, a final model.

``train(recipe, out_dir)`` writes into ``out_dir``:

* ``checkpoint.keras`` + ``checkpoint.json``: the model with its optimizer state after the
  last finished epoch, the run's identity (name, recipe, precision), the per-epoch history,
  the training time so far and every layer's random state, committed together
  (:class:`vdualib.runs.RunFolder`: a kill at any moment leaves a consistent pair), so
  ``resume=True`` continues an interrupted run exactly and loses at most the epoch that was
  running. The data order and augmentation of epoch e depend on ``(seed, e)`` only.
* ``log.csv`` (written from the checkpoint's history, so it lists exactly the finished epochs)
  and ``tensorboard/``: loss, accuracy, rate, distortion and izy (nats) per epoch, for training
  and the held-out validation split, plus the scheduled ``beta`` and ``warmup_weight``.

One run writes a folder at a time: a second ``train`` on a folder that a live run holds is
refused at once (a killed run's lock goes with its process).
* ``model.keras`` (the final model, loadable with ``safe_mode=True``) and ``train.json`` (the
  recipe, the p~ source, history, wall time, hardware, parameter count, file size and sha256).

A resume refuses a folder without a checkpoint, a damaged or foreign checkpoint (naming the
file), and a recipe, name or precision other than the checkpoint's. A loss that turns NaN or infinite stops the run with a ``ValueError`` and saves
nothing for that epoch. ``precision="mixed_bfloat16"`` runs the backbone in bfloat16 (the
bottleneck stays float32); the global dtype policy is restored afterwards. ``strategy``
trains under ``tf.distribute`` (:mod:`vdualib.distribute`) with the recipe's batch size as the
global batch.

Example:
    >>> recipe = recipes.get_recipe("mnist-vib-mlp", ["epochs=1", "train_size=200", "validation_size=100"])
    >>> record = train(recipe, "runs/mnist-vib-mlp", precision="float32", verbose=0)     # the zoo's: 200 epochs, 55,000 images
    >>> record = train(recipe, "runs/mnist-vib-mlp", resume=True, verbose=0)   # after a crash; here nothing is left to train
    >>> sorted(os.listdir("runs/mnist-vib-mlp"))
    ['checkpoint.json', 'checkpoint.keras', 'log.csv', 'model.keras', 'tensorboard', 'train.json']
    >>> len(record["history"]), bool(0 <= record["history"][-1]["val_accuracy"] <= 1)
    (1, True)
"""

import contextlib
import dataclasses
import os
import platform
import shutil
import warnings

import keras
import numpy as np
import tensorflow as tf

from vdualib import callbacks as vcallbacks
from vdualib import checks, datasets, distribute, losses, methods, models, recipes, reports, runs, zoo

__all__ = [
    "train",
    "build_from_recipe",
    "make_optimizer",
    "restrict_weight_decay",
    "label_noise_from_recipe",
    "recorded_recipe",
    "schedule_callbacks",
    "native_precision",
    "PRECISIONS",
]

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# CPU flags (x86 and Arm, as /proc/cpuinfo names them) of native 16-bit float arithmetic, per policy
_NATIVE_CPU_FLAGS = {
    "mixed_bfloat16": ("avx512_bf16", "amx_bf16", "bf16"),
    "mixed_float16": ("avx512_fp16", "amx_fp16", "fphp"),
}


def make_optimizer(recipe, steps_per_epoch):
    """The recipe's optimizer with its learning-rate schedule: cosine decay to 0 over the run
    (after a linear warm-up from 0 over ``lr_warmup_epochs``), constant, or exponential (times
    ``lr_decay_rate`` every ``lr_decay_epochs``); decoupled weight decay (which variables it
    reaches is set on the compiled model by :func:`restrict_weight_decay`); a moving average of
    the weights when ``weight_ema`` > 0.

    Args:
        recipe: a recipe dict (:func:`vdualib.recipes.get_recipe`); reads ``optimizer``,
            ``learning_rate``, ``lr_schedule``, ``lr_warmup_epochs``, ``lr_decay_rate``,
            ``lr_decay_epochs``, ``epochs``,
            ``momentum``, ``weight_decay`` and ``weight_ema``.
        steps_per_epoch: optimizer steps per epoch (sets the schedules' length in steps).

    Returns:
        A ``keras.optimizers.Adam``, ``AdamW`` (with weight decay) or ``SGD`` (Nesterov).

    Example:
        >>> optimizer = make_optimizer(recipes.get_recipe("mnist-vib-mlp"), steps_per_epoch=550)
        >>> type(optimizer).__name__, round(float(optimizer.learning_rate), 6)
        ('Adam', 0.0001)
    """
    lr = recipe["learning_rate"]
    if recipe["lr_schedule"] == "cosine":
        warmup = recipe["lr_warmup_epochs"] * steps_per_epoch
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else lr,
            decay_steps=(recipe["epochs"] * steps_per_epoch) - warmup,
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
        )
    elif recipe["lr_schedule"] == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=recipe["lr_decay_epochs"] * steps_per_epoch, decay_rate=recipe["lr_decay_rate"], staircase=True
        )
    options = {"weight_decay": recipe["weight_decay"] or None}
    if recipe["weight_ema"]:
        options.update(use_ema=True, ema_momentum=recipe["weight_ema"])
    if recipe["optimizer"] == "adam":
        return keras.optimizers.AdamW(lr, **options) if options["weight_decay"] else keras.optimizers.Adam(lr, **options)
    return keras.optimizers.SGD(lr, momentum=recipe["momentum"], nesterov=True, **options)


def _is_kernel(variable):
    """A dense or convolution kernel (Keras names them ``kernel``, ``depthwise_kernel``, ...)."""
    return variable.name.endswith("kernel")


def restrict_weight_decay(model, scope="kernels", prior=False):
    """Set which variables a compiled model's decoupled weight decay shrinks.

    Decoupled decay (AdamW, SGD with ``weight_decay``) shrinks every trainable variable by
    ``learning_rate * weight_decay`` of itself each step unless told otherwise. As usual, the
    decay belongs on the kernels of dense and convolution layers (``scope="kernels"``): decaying
    biases and batch-normalization scales and shifts only fights the normalization. On the means
    and scales of a learned prior (``class_conditional``, ``mixture``) it pulls the class means of
    b(z|y) to the origin whatever the data say, while the rate's own gradient, weighted by a small
    beta, is too weak to hold them; ``prior=True`` decays them all the same (records from before
    the choice existed did so). ``scope="all"`` keeps Keras' default of every variable.

    A saved optimizer does not keep this choice, and Keras allows it only before the optimizer is
    built; a resumed run's optimizer comes built from its checkpoint, so this sets it on that one
    too (through Keras' own ``exclude_from_weight_decay``, called as if unbuilt).

    Args:
        model: a compiled Keras model (an :class:`vdualib.models.IBClassifier` or any other; a
            ``prior`` attribute names the learned prior).
        scope: ``"kernels"`` or ``"all"``.
        prior: whether the learned prior's variables are decayed too.

    Returns:
        The trainable variables kept out of the decay (an empty list when the optimizer has no
        weight decay).

    Raises:
        ValueError: not a compiled Keras model, an unknown scope or a non-bool ``prior``.

    Example:
        >>> model = vdualib.zoo.load("mnist-dualib-mlp")
        >>> model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4))
        >>> sorted({v.name for v in restrict_weight_decay(model)})     # the variables left without decay
        ['bias', 'means', 'raw_scales']
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a compiled keras.Model, got {type(model).__name__}.")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("compile the model before choosing what its weight decay reaches.")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"the model's optimizer must be a keras optimizer (compile it), got {optimizer!r}.")
    if scope not in ("kernels", "all"):
        raise ValueError(f"scope must be 'kernels' or 'all', got {scope!r}.")
    prior = checks.flag("prior", prior)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed_float16 wraps it for loss scaling
    if not optimizer.weight_decay:
        return []
    learned_prior = getattr(model, "prior", None)
    prior_ids = {id(v) for v in learned_prior.trainable_variables} if learned_prior is not None else set()
    excluded = [
        v
        for v in model.trainable_variables
        if (id(v) in prior_ids and not prior) or (id(v) not in prior_ids and scope == "kernels" and not _is_kernel(v))
    ]
    built = optimizer.built
    optimizer.built = False  # the exclusion is read when steps are traced, not when the optimizer is built
    try:
        optimizer.exclude_from_weight_decay(var_list=excluded)
    finally:
        optimizer.built = built
    return excluded


def recorded_recipe(spec, card=None, sha256=None):
    """The recipe a model was trained with, where it is recorded: its zoo card's, or, for a model
    file, that of the ``train.json`` :func:`train` wrote beside it (if that record names this file's
    sha256, when ``sha256`` is given).

    Args:
        spec: a zoo name or a ``.keras`` path (as given to :func:`vdualib.zoo.load`).
        card: the zoo card of ``spec`` (:func:`vdualib.zoo.describe`), or ``None`` for a file.
        sha256: the file's sha256, to check the record against.

    Returns:
        a complete recipe dict, or ``None`` where none is recorded.

    Example:
        >>> recorded_recipe("mnist-vib-mlp", zoo.card("mnist-vib-mlp"))["validation_size"]     # a zoo model's
        5000
        >>> recorded_recipe("elsewhere/model.keras") is None     # a file with no train.json beside it
        True
    """
    if card is not None:
        return recipes.get_recipe(card["recipe"])
    path = os.path.join(os.path.dirname(os.path.abspath(os.fspath(spec))), "train.json")
    if not os.path.isfile(path):
        return None
    record = reports.read_json(path)
    if sha256 is not None and record.get("sha256") != sha256:
        return None
    return recipes.get_recipe(record["recipe"])


def label_noise_from_recipe(recipe, train_images, train_labels):
    """The label noise p~ a recipe asks for, and a record of where it came from.

    The reference model (``label_noise_reference``: a zoo name or a ``.keras`` file) is loaded
    here, with :func:`vdualib.zoo.load`; the label-noise objects of :mod:`vdualib.losses`
    take a matrix or a model, never a name. For ``teacher`` the reference is the teacher. For ``confusion`` the reference model predicts this recipe's held-out validation split of
    the *training* data (``train_images``/``train_labels``, the arrays before the split); the
    test split is never read. When the reference held out another split (another seed), its
    own held-out split is used instead, so the reference never saw the examples p~ comes from:
    the split is read from its zoo card, or, for a file, from the ``train.json`` that
    :func:`train` wrote beside it (:func:`recorded_recipe`); a file without one is taken to have
    held out this recipe's split.

    Returns:
        ``(label_noise or None, source)``: ``source`` is a JSON-able dict (kind, reference,
        its sha256, the split, the mixing weight and, for ``confusion``, the matrix).

    Args:
        recipe: a recipe dict; reads ``label_noise``, ``label_smoothing``, ``label_noise_reference``,
            ``label_noise_mixing``, ``validation_size``, ``seed`` and ``dataset``.
        train_images: the training split's raw images ``[N, ...]`` before the validation split.
        train_labels: their integer labels ``[N]``.

    Raises:
        ValueError: a zoo reference that held out another validation split than this recipe.

    Example:
        >>> recipe = recipes.get_recipe("mnist-dualib-mlp", ["validation_size=50"])     # 200 MNIST images
        >>> noise, source = label_noise_from_recipe(recipe, x_train, y_train)
        >>> type(noise).__name__, source["kind"], source["reference"]
        ('ConfusionNoise', 'confusion', 'mnist-deterministic-mlp')
        >>> bool(source["reference_accuracy"] > 0.9)     # of the zoo's reference model, on held-out images
        True
    """
    kind = recipe["label_noise"]
    num_classes = datasets.num_classes(recipe["dataset"])
    if kind == "none":
        return None, {"kind": "none"}
    if kind == "smoothing":
        noise = losses.LabelSmoothing(num_classes, epsilon=recipe["label_smoothing"])
        return noise, {"kind": "smoothing", "epsilon": recipe["label_smoothing"]}
    reference = zoo.load(recipe["label_noise_reference"])
    info, card = zoo.describe(recipe["label_noise_reference"], reference)
    source = {
        "kind": kind,
        "reference": recipe["label_noise_reference"],
        "reference_sha256": info["sha256"],
        "mixing": recipe["label_noise_mixing"],
    }
    trained = recorded_recipe(recipe["label_noise_reference"], card, info["sha256"])
    if trained is not None and trained["dataset"] != datasets.canonical_name(recipe["dataset"]):
        raise ValueError(
            f"the reference {recipe['label_noise_reference']!r} was trained on {trained['dataset']}, "
            f"not {recipe['dataset']}; choose a reference of this data set."
        )
    if kind == "teacher":
        # the reference model itself is the teacher: the noise holds it, and the model file will too
        return losses.TeacherNoise(reference, num_classes=num_classes, epsilon=recipe["label_noise_mixing"]), source
    split_size, split_seed = recipe["validation_size"], recipe["seed"]
    if trained is not None:
        # The held-out split is a prefix of a permutation fixed by the seed: a split of the same
        # data set and seed no larger than the reference's was held out of its training too.
        # Otherwise (another seed) p~ is measured on the reference's own held-out split, so it
        # never reflects examples the reference was trained on.
        if not (trained["seed"] == recipe["seed"] and recipe["validation_size"] <= trained["validation_size"]):
            split_size, split_seed = trained["validation_size"], trained["seed"]
        if not split_size:
            raise ValueError(f"the reference {recipe['label_noise_reference']!r} held out no validation split.")
    _, val_index = datasets.validation_indices(len(train_images), split_size, split_seed)
    predicted = np.argmax(reference.predict(train_images[val_index], batch_size=256, verbose=0), axis=-1)
    matrix = losses.confusion_matrix(predicted, train_labels[val_index], num_classes, smoothing=recipe["label_noise_mixing"])
    source.update(
        split=f"{recipe['dataset']} validation split: {len(val_index)} training examples held out (seed {split_seed})",
        reference_accuracy=float(np.mean(predicted == train_labels[val_index])),
        matrix=matrix.tolist(),
    )
    return losses.ConfusionNoise(matrix), source


def build_from_recipe(recipe, name=None, label_noise=None):
    """The (uncompiled) classifier a recipe describes; ``label_noise`` from
    :func:`label_noise_from_recipe` (it needs the data). ``beta`` starts at the recipe's value;
    a schedule (:func:`schedule_callbacks`) sets it from the first step on.

    Args:
        recipe: a recipe dict (:func:`vdualib.recipes.get_recipe`).
        name: the model's name, or ``None``.
        label_noise: p~(y|x), a label-noise object or ``None`` (the method's default).

    Returns:
        A built :class:`vdualib.models.IBClassifier`.

    Example:
        >>> model = build_from_recipe(recipes.get_recipe("mnist-vib-mlp"), name="mnist-vib-mlp")
        >>> model.name, model.method, model.latent_dim
        ('mnist-vib-mlp', 'vib', 256)
    """
    info = datasets.info(recipe["dataset"])
    # the recipe decides the model's decay: the resnet20 backbone's own L2 only where it names one
    own_l2 = {"weight_decay": recipe["backbone_l2"]} if recipe["backbone"] == "resnet20" else {}
    backbone = models.build_backbone(recipe["backbone"], info.image_shape, width=recipe["backbone_width"], **own_l2)
    return models.build_classifier(
        backbone,
        info.num_classes,
        method=recipe["method"],
        latent_dim=recipe["latent_dim"],
        beta=recipe["beta"],
        prior=recipe["prior"],
        label_noise=label_noise,
        warmup_weight=recipe["distortion_warmup"],
        num_samples=recipe["num_samples"],
        train_samples=recipe["train_samples"],
        seed=recipe["seed"],
        name=name,
    )


def schedule_callbacks(recipe, steps_per_epoch):
    """The recipe's schedules as callbacks: the beta annealing (from ``beta_start``, or
    ``beta / 1000`` for a log schedule that starts at 0) and the cross-entropy warm-up.

    Args:
        recipe: a recipe dict; reads ``method``, ``beta``, ``beta_start``, ``beta_schedule``,
            ``beta_epochs``, ``distortion_warmup`` and ``distortion_warmup_steps``.
        steps_per_epoch: optimizer steps per epoch (the beta schedule lasts ``beta_epochs`` epochs).

    Returns:
        A list of 0 to 2 callbacks: :class:`vdualib.callbacks.BetaScheduler`,
        :class:`vdualib.callbacks.DistortionWarmup`.

    Example:
        >>> [type(callback).__name__ for callback in schedule_callbacks(recipes.get_recipe("mnist-dualib-mlp"), steps_per_epoch=550)]
        ['DistortionWarmup']
    """
    found = []
    if methods.get(recipe["method"]).stochastic and recipe["beta_schedule"] != "constant":
        start = recipe["beta_start"]
        if recipe["beta_schedule"] == "log" and start <= 0:
            start = recipe["beta"] * 1e-3
        steps = max(recipe["beta_epochs"], 1) * steps_per_epoch
        found.append(vcallbacks.BetaScheduler(start, recipe["beta"], steps, schedule=recipe["beta_schedule"]))
    if recipe["distortion_warmup"] > 0:
        found.append(vcallbacks.DistortionWarmup(recipe["distortion_warmup"], recipe["distortion_warmup_steps"]))
    return found


def _load_splits(recipe, data_dir):
    """The recipe's data: ``(x_all, y_all)`` before the validation split (p~ is measured on that
    split), the training and validation arrays, and the optimizer steps per epoch."""
    (x_all, y_all), _ = datasets.load(recipe["dataset"], data_dir=data_dir)
    (x_train, y_train), (x_val, y_val) = datasets.split_validation(x_all, y_all, recipe["validation_size"], recipe["seed"])
    if recipe["train_size"]:
        x_train, y_train = x_train[: recipe["train_size"]], y_train[: recipe["train_size"]]
    steps = len(x_train) // recipe["batch_size"]
    if steps == 0:
        raise ValueError(
            f"{len(x_train)} training examples make no full batch of {recipe['batch_size']}: raise train_size or "
            "lower batch_size."
        )
    return (x_all, y_all), (x_train, y_train), (x_val, y_val), steps


def _model_for_run(recipe, name, state, all_data, steps):
    """The model to train (new, or the checkpoint's with its random states) and where p~ came from."""
    if state is None:
        label_noise, source = label_noise_from_recipe(recipe, *all_data)
        model = build_from_recipe(recipe, name=name, label_noise=label_noise)
        model.compile(optimizer=make_optimizer(recipe, steps))
    else:
        model = zoo.load(state["model_path"])
        if model.name != name:
            raise ValueError(
                f"the checkpoint model {state['model_path']} is of model {model.name!r}, not {name!r}: it is another "
                "run's. Restore the run folder's own files, or start the run in a new folder."
            )
        if "random_states" in state:  # absent in checkpoints written before they were saved
            vcallbacks.restore_random_states(model, state["random_states"])
        source = state.get("label_noise_source", {"kind": recipe["label_noise"]})
    # a checkpoint's optimizer does not keep the restriction either
    restrict_weight_decay(model, scope=recipe["weight_decay_scope"], prior=recipe["prior_weight_decay"])
    return model, source


def _data_pipelines(recipe, splits, initial_epoch):
    """The training pipeline from ``initial_epoch`` on (order and augmentation fixed by the seed
    and the epoch) and the validation pipeline (``None`` without a validation split)."""
    (x_train, y_train), (x_val, y_val) = splits
    num_classes = datasets.info(recipe["dataset"]).num_classes
    train_data = datasets.training_dataset(
        x_train, y_train, recipe["batch_size"], seed=recipe["seed"], augment=recipe["augment"], pad=recipe["augment_pad"],
        epochs=recipe["epochs"], initial_epoch=initial_epoch, num_classes=num_classes,
    )  # fmt: skip
    val_data = None
    if len(x_val):
        val_data = datasets.evaluation_dataset(x_val, y_val, batch_size=max(recipe["batch_size"], 256), num_classes=num_classes)
    return train_data, val_data


def _fit(model, run, folder, identity, state, splits, steps, dist):
    """Train from the state's epoch to the recipe's last, committing a checkpoint every epoch;
    returns the training seconds so far."""
    recipe = run.recipe
    initial_epoch = state["epochs_done"] if state else 0
    checkpoint = vcallbacks.EpochCheckpoint(folder, identity, elapsed=(state or {}).get("train_seconds", 0.0))
    run_callbacks = [
        vcallbacks.StopOnNonFinite(),
        *schedule_callbacks(recipe, steps),  # before the checkpoint, so "beta" reaches the logs
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=False)] if recipe["weight_ema"] else []),
        checkpoint,
        *run.callbacks,
        keras.callbacks.TensorBoard(folder.file("tensorboard"), write_graph=False),
    ]
    if initial_epoch < recipe["epochs"]:
        train_data, val_data = _data_pipelines(recipe, splits, initial_epoch)
        with distribute.multi_worker_fit(dist):
            model.fit(
                train_data, epochs=recipe["epochs"], initial_epoch=initial_epoch, steps_per_epoch=steps,
                validation_data=val_data, callbacks=run_callbacks, verbose=run.verbose,
            )  # fmt: skip
    else:
        # every epoch was committed before a stop: end as fit ends (the moving average of the
        # weights, when the optimizer keeps one, becomes the model's weights)
        model.optimizer.finalize_variable_values(model.trainable_variables)
    return checkpoint.elapsed


def _final_record(model, run, folder, identity, dist, elapsed, n_train):
    """Save ``model.keras`` and write ``train.json`` (see the module docstring)."""
    recipe = run.recipe
    final_path = folder.file("model.keras")
    with reports.atomic_path(final_path) as tmp:
        model.save(tmp)
    state = reports.read_json(folder.file(runs.STATE_FILE))
    gpus = tf.config.list_physical_devices("GPU")
    record = {
        "name": identity["name"],
        "recipe": recipe,
        "label_noise_source": state.get("label_noise_source", identity["label_noise_source"]),
        "precision": identity["precision"],
        "strategy": run.strategy,
        "replicas": dist.num_replicas_in_sync,
        "history": state["history"],
        "train_seconds": state.get("train_seconds", elapsed),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU" if not gpus else f"{len(gpus)} GPU(s)",
        "parameters": int(model.count_params()),
        "file_bytes": os.path.getsize(final_path),
        "sha256": reports.sha256_file(final_path),
        "data_split": f"{recipe['dataset']} train split: {n_train} examples for training, "
        f"{recipe['validation_size']} held out for validation (seed {recipe['seed']})",
        "provenance": reports.provenance(),
    }
    reports.write_json(folder.file("train.json"), record)
    return record


def _finished_record(folder, state):
    """The ``train.json`` of a resumed run that had already finished (its final model and record
    match the committed state), so that resuming it again changes nothing; else ``None``."""
    path = folder.file("train.json")
    if state is None or not os.path.exists(path) or not os.path.exists(folder.file("model.keras")):
        return None
    record = reports.read_json(path)
    done = isinstance(record, dict) and record.get("history") == state["history"]
    if done and record.get("sha256") == reports.sha256_file(folder.file("model.keras")):
        return record
    return None


def native_precision(precision, cpuinfo="/proc/cpuinfo"):
    """Whether this machine computes ``precision``'s 16-bit floats natively: float32 always; a mixed
    policy where TensorFlow sees a GPU, or where the CPU's flags (read from ``cpuinfo``) include its
    instructions: AVX512-BF16, AMX-BF16 or Arm's BF16 for ``mixed_bfloat16``; AVX512-FP16,
    AMX-FP16 or Arm's FP16 for ``mixed_float16``.

    Elsewhere TensorFlow emulates the 16-bit arithmetic in float32 and adds conversions, so the
    mixed policy is slower than float32, not faster (``python -m scripts.benchmark_core`` in the
    repository measures it: see ``docs/performance.md``). :func:`train` warns when asked for it.

    Args:
        precision: one of :data:`PRECISIONS`.
        cpuinfo: the file of the CPU's flags (Linux's ``/proc/cpuinfo``); unreadable counts as
            no flags.

    Returns:
        bool.

    Example:
        >>> native_precision("float32")
        True
        >>> native_precision("mixed_bfloat16") in (True, False)
        True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "float32" or tf.config.list_physical_devices("GPU"):
        return True
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return any(flag in flags for flag in _NATIVE_CPU_FLAGS[precision])


def _warn_if_emulated(precision):
    if not native_precision(precision):
        warnings.warn(
            f"precision {precision!r}: this machine has no GPU and its CPU lacks the instructions of that "
            "16-bit format, so TensorFlow emulates it and training is usually slower than in float32 (several "
            "times, for a ResNet-20 on a CPU without AVX512-BF16); pass precision='float32' unless you measured "
            "otherwise.",
            UserWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def _dtype_policy(precision):
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy(precision)
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@dataclasses.dataclass(frozen=True)
class _Run:
    """One call of :func:`train`, its arguments checked: the recipe dict, the model's name and
    how it trains."""

    recipe: dict
    name: str
    precision: str
    strategy: str
    data_dir: str
    verbose: int
    callbacks: tuple

    @property
    def identity(self):
        """What a checkpoint must match to be resumed by this run."""
        return {"name": self.name, "recipe": self.recipe, "precision": self.precision}


def _checked_run(recipe, name, precision, strategy, data_dir, verbose, callbacks):
    """The :class:`_Run` of :func:`train`'s arguments (the recipe completed and validated)."""
    named = recipe if isinstance(recipe, str) else None
    recipe = recipes.get_recipe(recipe)
    name = name or named or recipes.model_name(recipe["dataset"], recipe["method"], recipe["backbone"])
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    return _Run(recipe, name, precision, strategy, data_dir, verbose, tuple(callbacks))


def _resume_state(run, folder, resume):
    """The checkpoint state to resume from (``None`` for a new run), refusing a new run over a
    folder that holds a checkpoint."""
    state = folder.resume_state(run.identity, run.recipe["epochs"]) if resume else None
    if state is None and folder.has_checkpoint():
        raise ValueError(f"{folder.path} already holds a checkpoint; pass resume=True (--resume) or choose a new out_dir.")
    return state


def _train_in_folder(run, folder, state):
    """Load the data, build or restore the model, fit, and write the final model and record."""
    all_data, *splits, steps = _load_splits(run.recipe, run.data_dir)
    with _dtype_policy(run.precision):
        keras.utils.set_random_seed(run.recipe["seed"])
        dist = distribute.make_strategy(run.strategy)
        with dist.scope():
            model, source = _model_for_run(run.recipe, run.name, state, all_data, steps)
        identity = dict(run.identity, label_noise_source=source)
        elapsed = _fit(model, run, folder, identity, state, splits, steps, dist)
        return _final_record(model, run, folder, identity, dist, elapsed, len(splits[0][0]))


def train(
    recipe,
    out_dir,
    resume=False,
    precision="float32",
    strategy="default",
    data_dir=None,
    verbose=1,
    name=None,
    callbacks=(),
):
    """Train ``recipe`` (a name or a dict from :func:`vdualib.recipes.get_recipe`) into ``out_dir``.

    Args:
        recipe: a zoo recipe name or a recipe dict.
        out_dir: the run folder (created; must not be a file). One run writes it at a time.
        resume: continue the checkpoint in ``out_dir`` (which must exist and match this run).
        precision: a Keras dtype policy name, one of :data:`PRECISIONS` (a mixed policy is faster
            only where the hardware has its 16-bit arithmetic: :func:`native_precision`; elsewhere
            a ``UserWarning`` says so).
        strategy: ``default``, ``mirrored`` or ``multi_worker``.
        data_dir: where the data files are (see :func:`vdualib.datasets.load`).
        verbose: Keras' progress bar (1), a line per epoch (2) or none (0).
        name: the model's name (the zoo name for zoo recipes).
        callbacks: extra Keras callbacks, run after the checkpoint of each epoch is written.

    Returns:
        The ``train.json`` record (a dict); see the module docstring for the files.

    Raises:
        ValueError: an invalid recipe or precision, a folder another run is writing, a checkpoint
            of another run or a damaged one (naming the file), or a loss that turned NaN.
        FileNotFoundError: ``resume`` without a checkpoint, or missing data.

    Example:
        >>> recipe = recipes.get_recipe("mnist-vib-mlp", ["epochs=1", "train_size=200", "validation_size=100"])
        >>> train(recipe, "runs/a", resume=True, verbose=0)     # a run (see the module's example) is resumed, not this
        Traceback (most recent call last):
        ...
        FileNotFoundError: nothing to resume in 'runs/a'...
    """
    run = _checked_run(recipe, name, precision, strategy, data_dir, verbose, callbacks)
    _warn_if_emulated(run.precision)
    out_dir, scratch = distribute.worker_output_dir(out_dir, strategy, resume)
    with runs.RunFolder(out_dir).lock() as folder:
        state = _resume_state(run, folder, resume)
        record = _finished_record(folder, state)
        if record is None:
            record = _train_in_folder(run, folder, state)
    if scratch:
        shutil.rmtree(out_dir, ignore_errors=True)
    return record
