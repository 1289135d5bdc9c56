"""Training across machines: two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy
(``TF_CONFIG``) against single-process training of the same recipe with the same global batch.

Each worker runs ``training.train(recipe, out_dir, strategy="multi_worker")`` as
``vdualib-train --strategy multi_worker`` does on each machine, with the same ``out_dir`` (as on
shared storage). The recipe is a tiny VIB MLP: 400 MNIST images, one epoch of 4 steps of the
global batch of 100 (50 per worker), latent 16, plain SGD (no momentum, constant rate), so that a
gradient of the wrong scale moves the weights by as much as training does (Adam would hide it).
One training per process: TensorFlow cannot set up a second MultiWorkerMirroredStrategy in a
process reliably.

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

import numpy as np

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


if __name__ == "__main__":  # one worker of the test above: python test_distribute.py OUT_DIR WEIGHTS.npz
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(_train(sys.argv[1], sys.argv[2], "multi_worker")))
