"""``tf.distribute`` for training: strategies by name, and what multi-machine training needs.

``vdualib-train --strategy mirrored`` uses every local device; ``--strategy multi_worker`` runs
the same command on every machine of a cluster described by ``TF_CONFIG`` (see
``docs/training.md``, "Training on several machines"). The recipe's batch size is the global batch.

Example:
    >>> strategy = make_strategy("mirrored")
    >>> with strategy.scope():
    ...     model = vdualib.build_classifier("mlp", 10)
    >>> strategy.num_replicas_in_sync     # every local device: here one CPU
    1
"""

import contextlib
import os
import shutil
import tempfile
import time

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer  # what multi_worker_fit adapts

from vdualib import backend, reports

__all__ = ["STRATEGIES", "make_strategy", "worker_output_dir", "multi_worker_fit"]

STRATEGIES = ("default", "mirrored", "multi_worker")

#: the strategies made so far in this process, by name. Each is made once: with a second
#: MirroredStrategy in the same process, the next model's gradient all-reduce fails with "Shape
#: mismatch in the collective instance" (its collective ops meet the first strategy's under the
#: same keys), and TensorFlow allows one MultiWorkerMirroredStrategy per program.
_CREATED = {}


def make_strategy(name):
    """A ``tf.distribute`` strategy by name: ``default``, ``mirrored`` or ``multi_worker``.

    Args:
        name: ``"default"`` (or ``None``: the current strategy), ``"mirrored"`` (the local GPUs)
            or ``"multi_worker"`` (``MultiWorkerMirroredStrategy``, configured by ``$TF_CONFIG``).

    Returns:
        A ``tf.distribute.Strategy``; ``mirrored`` and ``multi_worker`` are made once per process
        and shared by every later call, so several models can train one after another.

    Raises:
        ValueError: an unknown name, or ``mirrored``/``multi_worker`` while Keras runs on another
            backend than TensorFlow (a ``tf.distribute`` strategy would not distribute its steps;
            on JAX, ``keras.distribution.DataParallel`` does).

    Example:
        >>> with make_strategy("mirrored").scope():
        ...     model = vdualib.build_classifier("mlp", 10)
        >>> make_strategy("mirrored") is make_strategy("mirrored"), type(make_strategy("default")).__name__
        (True, '_DefaultDistributionStrategy')
    """
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    kinds = {"mirrored": tf.distribute.MirroredStrategy, "multi_worker": tf.distribute.MultiWorkerMirroredStrategy}
    if name not in kinds:
        raise ValueError(f"Unknown strategy {name!r}; use one of {STRATEGIES}.")
    if not backend.is_tensorflow():
        raise ValueError(
            f"the {name!r} strategy is tf.distribute's, which distributes Keras' steps on the TensorFlow backend "
            f"only, but Keras runs on {backend.name()!r}: set KERAS_BACKEND=tensorflow, or on JAX use the default "
            "strategy with keras.distribution.set_distribution(keras.distribution.DataParallel()) (docs/training.md)."
        )
    if name not in _CREATED:
        _CREATED[name] = kinds[name]()
    return _CREATED[name]


def worker_output_dir(out_dir, strategy, resume):
    """``(folder this process writes, True if it is a temporary one)``.

    Under ``multi_worker`` every machine runs the same ``train``; only the chief (task ``chief``,
    or worker 0 when the cluster has none) writes ``out_dir``. The other workers write their
    checkpoints and logs to a temporary folder, removed when training ends. To resume, they start
    from a copy of the chief's checkpoint, so ``out_dir`` must be on storage every worker reads.

    Args:
        out_dir: the run folder the chief writes.
        strategy: a strategy name (only ``"multi_worker"`` changes anything).
        resume: whether the run resumes (non-chief workers then copy the chief's checkpoint).

    Returns:
        ``(folder, is_temporary)``: a path and a bool.

    Raises:
        FileNotFoundError: a non-chief worker resuming cannot read the chief's ``checkpoint.json``.

    Example:
        >>> worker_output_dir("runs/a", "default", resume=False)     # the chief (or the only worker) writes the run folder
        ('runs/a', False)
    """
    if strategy != "multi_worker":
        return out_dir, False
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task, index = resolver.task_type, resolver.task_id
    if task in (None, "chief") or (task == "worker" and index == 0 and "chief" not in resolver.cluster_spec().as_dict()):
        return out_dir, False
    if resume and not os.path.exists(os.path.join(out_dir, "checkpoint.json")):
        raise FileNotFoundError(
            f"{task} {index} cannot read {os.path.join(out_dir, 'checkpoint.json')}; to resume under multi_worker "
            "every worker must read the chief's out_dir (shared storage, or a copy of it on each machine)."
        )
    scratch = tempfile.mkdtemp(prefix=f"vdualib-{task}{index}-")
    if resume:
        _copy_checkpoint(out_dir, scratch)
    return scratch, True


def _copy_checkpoint(out_dir, scratch, attempts=30):
    """Copy the chief's checkpoint: its state first, then the model files, until a copied model
    file matches the copied state (the chief may be putting its folder back in order meanwhile)."""
    for _ in range(attempts):
        for name in ("checkpoint.json", "train.json", "checkpoint.keras", "checkpoint.previous.keras"):
            if os.path.exists(os.path.join(out_dir, name)):
                shutil.copy2(os.path.join(out_dir, name), scratch)
        expected = reports.read_json(os.path.join(scratch, "checkpoint.json")).get("model_sha256")
        models = [os.path.join(scratch, n) for n in ("checkpoint.keras", "checkpoint.previous.keras")]
        if expected is None or any(os.path.exists(m) and reports.sha256_file(m) == expected for m in models):
            return
        time.sleep(1.0)
    raise ValueError(
        f"the checkpoint in {out_dir} did not settle into a model file matching its state; resume once the chief "
        "has started, or check that every worker reads the same folder."
    )


@contextlib.contextmanager
def multi_worker_fit(dist):
    """Work around two bugs of Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy`` (Keras'
    TensorFlow trainer; keras-team/keras#20585, tensorflow/tensorflow#72388), for one ``fit``:

    * before the first step Keras builds the model from the first batch averaged across workers
      with ``strategy.reduce``, which cannot reduce an ``(x, y)`` tuple: build it from this
      worker's own batch instead (only its shapes are used);
    * the step's logs are averaged across workers with ``axis=0``, which fails for scalars:
      average scalars without an axis.

    Does nothing for a single worker; restores Keras when ``fit`` returns.

    Args:
        dist: the ``tf.distribute.Strategy`` the model was built under.

    Yields:
        ``None``; ``fit`` is called inside the ``with`` block.

    Example:
        >>> strategy = make_strategy("mirrored")
        >>> with strategy.scope():
        ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        ...     model.compile("adam", "mse")
        >>> with multi_worker_fit(strategy):     # nothing to adapt outside a multi-worker cluster
        ...     history = model.fit(np.zeros((8, 4)), np.zeros((8, 2)), epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
    """
    patchable = all(
        hasattr(tf_trainer, name) for name in ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer")
    )
    if not patchable or not tf_trainer._collective_all_reduce_multi_worker(dist):
        yield
        return
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def local(value):
        return dist.experimental_local_results(value)[0] if isinstance(value, tf.distribute.DistributedValues) else value

    def maybe_symbolic_build(model, iterator=None, data_batch=None):
        if model._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = next(batches)
                break
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=tf.nest.map_structure(local, data_batch))

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction not in ("auto", "mean"):
            return original_reduce(values, strategy, reduction)
        return tf.nest.map_structure(
            lambda v: strategy.reduce("MEAN", v, axis=0 if local(v).shape.rank else None), values
        )

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = original_build
        tf_trainer.reduce_per_replica = original_reduce
