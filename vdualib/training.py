"""Run a recipe: data, model, optimizer, per-epoch checkpoints, resume, logs, a final model.

``train(recipe, out_dir)`` writes into ``out_dir``:

* ``checkpoint.keras`` + ``checkpoint.json``: the model with its optimizer state after the
  last finished epoch (atomic), so ``resume=True`` continues an interrupted run and loses at
  most the epoch that was running. The data order and augmentation of epoch e depend on
  ``(seed, e)`` only, so a resumed run sees the same batches as an uninterrupted one.
* ``log.csv`` and ``tensorboard/``: loss, accuracy, rate, distortion and izy (nats) per epoch,
  for training and the held-out validation split.
* ``model.keras`` (the final model, loadable with ``safe_mode=True``) and ``train.json`` (the
  recipe, history, wall time, hardware, parameter count, file size and sha256).

``precision="mixed_bfloat16"`` runs the backbone in bfloat16 (the bottleneck stays float32);
``strategy="mirrored"`` / ``"multi_worker"`` train under ``tf.distribute`` with the recipe's
batch size as the global batch.
"""

import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf

from vdualib import datasets, losses, models, recipes, reports

__all__ = ["train", "split_validation", "make_strategy", "build_from_recipe", "make_optimizer"]

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("default", "mirrored", "multi_worker")


def split_validation(x, y, validation_size, seed):
    """Hold out ``validation_size`` training examples, chosen by a permutation from ``seed``.

    Returns ``(x_train, y_train), (x_val, y_val)``; the same seed gives the same split.
    """
    if validation_size >= len(x):
        raise ValueError(f"validation_size {validation_size} leaves no training data ({len(x)} examples).")
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:validation_size], order[validation_size:]
    return (x[train], y[train]), (x[val], y[val])


def make_strategy(name):
    """A ``tf.distribute`` strategy by name: ``default``, ``mirrored`` or ``multi_worker``."""
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}; use one of {STRATEGIES}.")


def make_optimizer(recipe, steps_per_epoch):
    """The recipe's optimizer with its learning-rate schedule (cosine decay to 0 over the run)."""
    lr = recipe["learning_rate"]
    if recipe["lr_schedule"] == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=recipe["epochs"] * steps_per_epoch)
    decay = recipe["weight_decay"] or None
    if recipe["optimizer"] == "adam":
        return keras.optimizers.AdamW(lr, weight_decay=decay) if decay else keras.optimizers.Adam(lr)
    return keras.optimizers.SGD(lr, momentum=recipe["momentum"], nesterov=True, weight_decay=decay)


def build_from_recipe(recipe, name=None):
    """The (uncompiled) classifier a recipe describes."""
    label_noise = None
    if recipe["label_noise"] == "smoothing":
        num_classes = datasets.num_classes(recipe["dataset"])
        label_noise = losses.LabelSmoothing(num_classes, epsilon=recipe["label_smoothing"])
    beta = recipe["beta_start"] if recipe["beta_schedule"] != "constant" else recipe["beta"]
    return models.build_classifier(
        recipe["backbone"],
        datasets.num_classes(recipe["dataset"]),
        method=recipe["method"],
        latent_dim=recipe["latent_dim"],
        beta=beta,
        prior=recipe["prior"],
        label_noise=label_noise,
        num_samples=recipe["num_samples"],
        train_samples=recipe["train_samples"],
        input_shape=datasets.image_shape(recipe["dataset"]),
        seed=recipe["seed"],
        name=name,
    )


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model with its optimizer state and the finished-epoch count, atomically."""

    def __init__(self, out_dir):
        super().__init__()
        self.model_path = os.path.join(out_dir, "checkpoint.keras")
        self.state_path = os.path.join(out_dir, "checkpoint.json")
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        self.history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
        with reports.atomic_path(self.model_path) as tmp:
            self.model.save(tmp)
        state = reports.read_json(self.state_path) if os.path.exists(self.state_path) else {"history": []}
        state["history"] = [h for h in state["history"] if h["epoch"] <= epoch] + [self.history[-1]]
        state["epochs_done"] = epoch + 1
        reports.write_json(self.state_path, state)


def _beta_callback(recipe, steps_per_epoch):
    if recipe["method"] == "deterministic" or recipe["beta_schedule"] == "constant":
        return []
    start = recipe["beta_start"]
    if recipe["beta_schedule"] == "log" and start <= 0:
        start = recipe["beta"] * 1e-3
    return [
        losses.BetaScheduler(
            start, recipe["beta"], max(recipe["beta_epochs"], 1) * steps_per_epoch, schedule=recipe["beta_schedule"]
        )
    ]


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

    ``callbacks`` are extra Keras callbacks, run after the checkpoint of each epoch is written.

    Returns the ``train.json`` record (a dict). See the module docstring for the files.
    """
    recipe = recipes.get_recipe(recipe)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    os.makedirs(out_dir, exist_ok=True)
    checkpoint_state = os.path.join(out_dir, "checkpoint.json")
    if not resume and os.path.exists(checkpoint_state):
        raise ValueError(f"{out_dir} already holds a checkpoint; pass resume=True (--resume) or choose a new out_dir.")

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(recipe["seed"])
    (x_all, y_all), _ = datasets.load(recipe["dataset"], data_dir=data_dir)
    (x_train, y_train), (x_val, y_val) = split_validation(x_all, y_all, recipe["validation_size"], recipe["seed"])
    if recipe["train_size"]:
        x_train, y_train = x_train[: recipe["train_size"]], y_train[: recipe["train_size"]]
    batch = recipe["batch_size"]
    steps = len(x_train) // batch

    dist = make_strategy(strategy)
    initial_epoch = 0
    with dist.scope():
        if resume and os.path.exists(checkpoint_state):
            initial_epoch = reports.read_json(checkpoint_state)["epochs_done"]
            model = keras.saving.load_model(os.path.join(out_dir, "checkpoint.keras"), safe_mode=True)
        else:
            model = build_from_recipe(recipe, name=name)
            model.compile(optimizer=make_optimizer(recipe, steps))

    train_data = datasets.training_dataset(
        x_train,
        y_train,
        batch,
        seed=recipe["seed"],
        augment=recipe["augment"],
        pad=recipe["augment_pad"],
        epochs=recipe["epochs"],
        initial_epoch=initial_epoch,
    )
    val_data = datasets.evaluation_dataset(x_val, y_val, batch_size=max(batch, 256)) if len(x_val) else None
    checkpoint = _EpochCheckpoint(out_dir)
    callbacks = [
        *_beta_callback(recipe, steps),  # first, so its epoch-end "beta" reaches the logs below
        checkpoint,
        *callbacks,
        keras.callbacks.CSVLogger(os.path.join(out_dir, "log.csv"), append=initial_epoch > 0),
        keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard"), write_graph=False),
    ]
    start = time.time()
    if initial_epoch < recipe["epochs"]:
        model.fit(
            train_data,
            epochs=recipe["epochs"],
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
        )
    elapsed = time.time() - start
    final_path = os.path.join(out_dir, "model.keras")
    with reports.atomic_path(final_path) as tmp:
        model.save(tmp)
    state = reports.read_json(checkpoint_state)
    previous = reports.read_json(os.path.join(out_dir, "train.json")) if resume and os.path.exists(os.path.join(out_dir, "train.json")) else {}
    record = {
        "name": name or model.name,
        "recipe": recipe,
        "precision": precision,
        "strategy": strategy,
        "replicas": dist.num_replicas_in_sync,
        "history": state["history"],
        "train_seconds": previous.get("train_seconds", 0.0) + elapsed,
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU"
        if not tf.config.list_physical_devices("GPU")
        else f"{len(tf.config.list_physical_devices('GPU'))} GPU(s)",
        "parameters": int(model.count_params()),
        "file_bytes": os.path.getsize(final_path),
        "sha256": reports.sha256_file(final_path),
        "data_split": f"{recipe['dataset']} train split: {len(x_train)} examples for training, "
        f"{recipe['validation_size']} held out for validation (seed {recipe['seed']})",
        "provenance": reports.provenance(),
    }
    reports.write_json(os.path.join(out_dir, "train.json"), record)
    return record
