"""Training across machines: two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy
(``TF_CONFIG``) against single-process training of the same recipe with the same global batch.

Each worker runs ``training.train(recipe, out_dir, strategy="multi_worker")`` as
``vdualib-train --strategy multi_worker`` does on each machine, with the same ``out_dir`` (as on
shared storage). The recipe is a tiny VIB MLP: 400 MNIST images, one epoch of 4 steps of the
global batch of 100 (50 per worker), latent 16, plain SGD (no momentum, constant rate), so that a
gradient of the wrong scale moves the weights by as much as training does (Adam would hide it).
One training per process: TensorFlow cannot set up a second MultiWorkerMirroredStrategy in a
process reliably. Below it, MirroredStrategy on two logical CPUs against a single device.

Tolerances:
* the two workers hold the same weights bit for bit: they apply the same all-reduced gradient;
* against one process, per variable, max |w_2 workers - w_1 process| <= 0.25 * max |w_1 process -
  w_initial|. Each worker's loss is the mean over its 50 examples and the all-reduce averages the
  two, which is the mean over the 100 examples up to float32 rounding. But each worker draws the
  encoder noise for its half of the batch from the same seed state, so the second half sees other
  samples of z than in one process: the difference is that sampling noise, measured at 1.1% of
  the change training made for the decoder kernel and 3e-4 or less for the other variables. A
  gradient summed instead of averaged over the workers (checked by doubling the workers' learning
  rate) is off by 100%;
* the epoch's mean loss agrees to 0.01 nats (measured: 1e-4); a loss not divided by the number
  of replicas would be off by its whole value (about 2.3 nats).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

OVERRIDES = {
    "train_size": 400,
    "validation_size": 100,
    "epochs": 1,
    "latent_dim": 16,
    "optimizer": "sgd",
    "momentum": 0.0,
    "lr_schedule": "constant",
    "learning_rate": 0.1,
}
RECIPE = "mnist-vib-mlp"
RELATIVE_TOLERANCE = 0.25  # of the change training made to each variable (see above)
LOSS_TOLERANCE = 0.01  # nats


def _weight_recorder(path):
    """A callback saving the weights at the start and at the end of training to ``path`` (npz)."""
    import keras

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.initial = {f"initial/{v.path}": np.array(v.numpy()) for v in self.model.weights}

        def on_train_end(self, logs=None):
            final = {f"final/{v.path}": np.array(v.numpy()) for v in self.model.weights}
            np.savez(path, **self.initial, **final)

    return Recorder()


def _train(out_dir, weights_path, strategy):
    """Train the test's recipe; returns the final loss and the number of replicas."""
    from vdualib import recipes, training

    recipe = recipes.get_recipe(RECIPE, OVERRIDES)
    record = training.train(recipe, out_dir, strategy=strategy, verbose=0, callbacks=[_weight_recorder(weights_path)])
    return {"loss": record["history"][-1]["loss"], "replicas": record["replicas"]}


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _weights(path):
    """``({variable path: initial value}, {variable path: final value})``."""
    with np.load(path) as arrays:
        split = [{k.split("/", 1)[1]: arrays[k] for k in arrays.files if k.startswith(stage)} for stage in ("initial/", "final/")]
    return split[0], split[1]


@pytest.mark.slow
def test_two_workers_train_like_one_process(tmp_path, data_dir):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    shared_out = tmp_path / "shared"  # the same out_dir on both workers, as on shared storage
    workers = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TMPDIR=str(scratch),  # where the non-chief worker writes, and must clean up
            VDUALIB_DATA_DIR=data_dir,
            TF_CPP_MIN_LOG_LEVEL="3",
        )
        command = [sys.executable, __file__, str(shared_out), str(tmp_path / f"worker{index}.npz")]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        single = _train(str(tmp_path / "single"), str(tmp_path / "single.npz"), "default")
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    failures = [f"worker {i}:\n{err[-3000:]}" for i, (w, (_, err)) in enumerate(zip(workers, outputs)) if w.returncode]
    assert not failures, "\n".join(failures)
    reports = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert [r["replicas"] for r in reports] == [2, 2] and single["replicas"] == 1

    # the chief wrote the run; the other worker wrote only to its temporary folder, then removed it
    record = json.loads((shared_out / "train.json").read_text())
    assert record["replicas"] == 2 and record["strategy"] == "multi_worker"
    assert (shared_out / "model.keras").is_file()
    assert not any((tmp_path / "tmp1").iterdir()), "the non-chief worker left files in its temporary folder"

    initial, reference = _weights(tmp_path / "single.npz")
    _, chief = _weights(tmp_path / "worker0.npz")
    _, other = _weights(tmp_path / "worker1.npz")
    assert sorted(chief) == sorted(other) == sorted(reference)
    for variable, one_process in reference.items():
        np.testing.assert_array_equal(chief[variable], other[variable], err_msg=variable)
        change = np.max(np.abs(one_process - initial[variable]))
        difference = np.max(np.abs(chief[variable] - one_process))
        if change == 0:  # state that training does not move (a constant beta)
            np.testing.assert_array_equal(chief[variable], one_process, err_msg=variable)
        else:
            assert difference <= RELATIVE_TOLERANCE * change, (variable, difference, change)
    assert abs(reports[0]["loss"] - single["loss"]) <= LOSS_TOLERANCE, (reports[0]["loss"], single["loss"])


_MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from vdualib import recipes, training
    out, data_dir = sys.argv[1], sys.argv[2]
    recipe = recipes.get_recipe("mnist-deterministic-mlp", ["epochs=1", "train_size=800", "validation_size=200",
                                 "batch_size=100", "latent_dim=8", "lr_schedule=constant"])
    results = {}
    for strategy in ("default", "mirrored"):
        record = training.train(recipe, f"{out}/{strategy}", strategy=strategy, data_dir=data_dir, verbose=0)
        model = keras.saving.load_model(f"{out}/{strategy}/model.keras", safe_mode=True)
        results[strategy] = {"replicas": record["replicas"], "loss": record["history"][-1]["loss"],
                             "weights": [w.numpy().ravel().tolist() for w in model.trainable_weights]}
    # a second model trains in the same process (make_strategy shares one MirroredStrategy), and
    # weight decay leaves a learned prior alone under the strategy too (its variables are mirrored)
    decayed = recipes.get_recipe("mnist-vib-mlp", ["epochs=1", "train_size=800", "validation_size=200", "batch_size=100",
                                 "latent_dim=8", "prior=class_conditional", "optimizer=sgd", "learning_rate=0.1",
                                 "lr_schedule=constant", "weight_decay=0.5", "beta=1e-9", "weight_ema=0.0"])
    keras.utils.set_random_seed(decayed["seed"])
    initial = training.build_from_recipe(decayed).prior.means.numpy()
    training.train(decayed, f"{out}/prior", strategy="mirrored", data_dir=data_dir, verbose=0)
    means = keras.saving.load_model(f"{out}/prior/model.keras", safe_mode=True).prior.means.numpy()
    results["prior_moved"] = float(np.abs(means - initial).max())
    print(json.dumps(results))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_matches_single_device(tmp_path, data_dir):
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), data_dir], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["default"]["replicas"] == 1 and results["mirrored"]["replicas"] == 2
    assert results["mirrored"]["loss"] == pytest.approx(results["default"]["loss"], rel=1e-3)
    for a, b in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert results["prior_moved"] < 1e-6  # 8 steps of decay would have shrunk it by 1 - 0.95**8 = 34%


def test_strategies_by_name_and_the_folder_a_single_process_writes(tmp_path):
    import tensorflow as tf

    from vdualib import distribute

    assert distribute.make_strategy("default") is tf.distribute.get_strategy()
    assert distribute.make_strategy(None) is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'"):
        distribute.make_strategy("tpu")
    for strategy in ("default", "mirrored"):
        assert distribute.worker_output_dir(str(tmp_path / "run"), strategy, resume=True) == (str(tmp_path / "run"), False)


if __name__ == "__main__":  # one worker of the test above: python test_distribute.py OUT_DIR WEIGHTS.npz
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(_train(sys.argv[1], sys.argv[2], "multi_worker")))


@pytest.mark.parametrize("name", ["mirrored", "multi_worker"])
def test_tf_distribute_strategies_are_refused_on_another_keras_backend(name, monkeypatch):
    from vdualib import backend, distribute

    monkeypatch.setattr(backend, "is_tensorflow", lambda: False)
    monkeypatch.setattr(backend, "name", lambda: "jax")
    with pytest.raises(ValueError, match=rf"'{name}' strategy is tf.distribute's.*runs on 'jax'.*DataParallel"):
        distribute.make_strategy(name)
    assert distribute.make_strategy("default") is not None  # the default strategy needs no distribution
