"""Run folders: one writer, checkpoints committed whole, a log that keeps every finished epoch."""

import csv
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from vdualib import recipes, reports, runs, training

TINY = ["epochs=3", "train_size=400", "validation_size=200", "batch_size=100", "latent_dim=8"]


class _Kill(BaseException):
    """Stands for the process being killed at that point (nothing after it runs)."""


def _weights(path):
    return [w.numpy() for w in keras.saving.load_model(path, safe_mode=True).weights]


def _log(folder):
    with open(os.path.join(folder, "log.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY)
    folder = tmp_path_factory.mktemp("straight")
    record = training.train(recipe, folder, data_dir=data_dir, verbose=0)
    return recipe, folder, record


# Each window is (the commit step that is interrupted, what had been written of that epoch):
# before anything, after the previous model was kept, after the new model was written (the
# state still names the previous one), after the state (the log not yet rewritten).
WINDOWS = ["_keep_previous_model", "_save_model", "_write_state", "write_log"]


@pytest.mark.slow
@pytest.mark.parametrize("step", WINDOWS)
def test_a_kill_in_any_window_of_a_commit_resumes_to_the_uninterrupted_run(step, straight, tmp_path, monkeypatch, data_dir):
    recipe, straight_dir, straight_record = straight
    original = getattr(runs.RunFolder, step)
    calls = {"n": 0}

    def killed_at_the_second_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise _Kill()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(runs.RunFolder, step, killed_at_the_second_epoch)
    with pytest.raises(_Kill):
        training.train(recipe, tmp_path, data_dir=data_dir, verbose=0)
    monkeypatch.setattr(runs.RunFolder, step, original)
    record = training.train(recipe, tmp_path, resume=True, data_dir=data_dir, verbose=0)
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]
    for a, b in zip(_weights(straight_dir / "model.keras"), _weights(tmp_path / "model.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert [h["loss"] for h in record["history"]] == pytest.approx([h["loss"] for h in straight_record["history"]], rel=1e-6)
    log, expected = _log(tmp_path), _log(straight_dir)
    assert [row["epoch"] for row in log] == ["0", "1", "2"]
    assert [float(r["loss"]) for r in log] == pytest.approx([float(r["loss"]) for r in expected], rel=1e-6)


def test_a_resume_after_a_kill_between_model_and_state_uses_the_consistent_pair(tmp_path):
    folder = runs.RunFolder(tmp_path)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")], name="m")
    history = [{"epoch": 1, "loss": 1.0}]
    with folder.lock():
        committed = folder.commit(model, {"name": "m", "epochs_done": 1, "history": history})
        model.layers[0].kernel.assign(np.ones((2, 1)))
        folder._keep_previous_model()
        folder._save_model(model)  # killed here: the state still names epoch 1's model
        state = folder.resume_state({"name": "m"}, epochs=3)
    assert state["epochs_done"] == 1 and reports.sha256_file(state["model_path"]) == committed["model_sha256"]
    assert not os.path.exists(tmp_path / runs.PREVIOUS_FILE)
    assert [row["epoch"] for row in _log(tmp_path)] == ["0"]


def _folder_with_checkpoint(tmp_path, **state):
    folder = runs.RunFolder(tmp_path)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="m")
    with folder.lock():
        folder.commit(model, {"name": "m", "epochs_done": 1, "history": [{"epoch": 1, "loss": 1.0}], **state})
    return folder


@pytest.mark.parametrize(
    "content, message",
    [
        ("[]", "damaged: it holds a list"),
        ('{"history": []}', "epochs_done is None"),
        ('{"epochs_done": 99, "history": []}', "epochs_done is 99, not a whole number of epochs from 1 to 3"),
        ('{"epochs_done": "1", "history": [{"epoch": 1}]}', "epochs_done is '1'"),
        ('{"epochs_done": 2, "history": [{"epoch": 1}]}', "history does not list epochs 1 to 2"),
        ('{"epochs_done": 1, "hist', "not valid JSON"),
    ],
)
def test_a_damaged_state_is_named(content, message, tmp_path):
    folder = _folder_with_checkpoint(tmp_path)
    (tmp_path / runs.STATE_FILE).write_text(content)
    with folder.lock(), pytest.raises(ValueError, match=message) as err:
        folder.resume_state({"name": "m"}, epochs=3)
    assert str(tmp_path / runs.STATE_FILE) in str(err.value)


def test_another_runs_model_file_is_refused_as_foreign(tmp_path):
    folder = _folder_with_checkpoint(tmp_path / "a")
    other = _folder_with_checkpoint(tmp_path / "b")
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(other.file(runs.MODEL_FILE))
    os.replace(other.file(runs.MODEL_FILE), folder.file(runs.MODEL_FILE))
    with folder.lock(), pytest.raises(ValueError, match=r"does not belong to .*damaged or another run's") as err:
        folder.resume_state({"name": "m"}, epochs=3)
    assert folder.file(runs.MODEL_FILE) in str(err.value)


@pytest.mark.slow
def test_a_foreign_checkpoint_model_without_a_recorded_hash_is_refused(tmp_path, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY + ["epochs=2"])
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, tmp_path, data_dir=data_dir, verbose=0, callbacks=[_CrashAfterFirst()])
    state = reports.read_json(tmp_path / runs.STATE_FILE)
    del state["model_sha256"]  # as written before states named their model file
    reports.write_json(tmp_path / runs.STATE_FILE, state)
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="other").save(tmp_path / runs.MODEL_FILE)
    with pytest.raises(ValueError, match=r"is of model 'other', not 'mnist-vib-mlp': it is another run's"):
        training.train(recipe, tmp_path, resume=True, data_dir=data_dir, verbose=0)


class _CrashAfterFirst(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated crash after the first epoch")


def test_a_second_writer_is_refused_at_once_and_changes_nothing(tmp_path):
    first = runs.RunFolder(tmp_path)
    with first.lock():
        (tmp_path / ".checkpoint.tmp.keras").write_text("the first run's write in progress")
        with pytest.raises(ValueError, match=r"is being written by process \d+ on .*; wait for that run to end, or choose another"):
            with runs.RunFolder(tmp_path).lock():
                pass
        assert (tmp_path / ".checkpoint.tmp.keras").exists()  # the refused run removed none of its files
    with runs.RunFolder(tmp_path).lock():  # released: the next run may write
        assert not (tmp_path / ".checkpoint.tmp.keras").exists()  # a dead writer's temporaries go


@pytest.mark.slow
def test_a_killed_process_leaves_no_stale_lock(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from vdualib import runs
        with runs.RunFolder({str(tmp_path)!r}).lock():
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=f"process {holder.pid}"):
            with runs.RunFolder(tmp_path).lock():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with runs.RunFolder(tmp_path).lock():
        pass


@pytest.mark.slow
def test_two_trainings_on_one_folder_the_second_refuses(tmp_path, data_dir):
    # the first training holds the folder, paused after its first epoch until the test lets it go on
    # (deterministic, however slow the machine); the second, from the command line, is refused
    released = tmp_path / "released"
    folder = tmp_path / "run"
    first_script = textwrap.dedent(
        f"""
        import os, time
        import keras
        from vdualib import recipes, training

        class HoldAfterTheFirstEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 0:
                    print("holding", flush=True)
                    deadline = time.time() + 300
                    while not os.path.exists({str(released)!r}) and time.time() < deadline:
                        time.sleep(0.1)

        recipe = recipes.get_recipe("mnist-vib-mlp", {TINY + ["epochs=2"]!r})
        training.train(recipe, {str(folder)!r}, data_dir={str(data_dir)!r}, verbose=0,
                       callbacks=[HoldAfterTheFirstEpoch()])
        """
    )
    env = dict(os.environ, VDUALIB_DATA_DIR=str(data_dir), TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen([sys.executable, "-c", first_script], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        if first.stdout.readline().strip() != "holding":
            first.wait(timeout=60)
            pytest.fail(f"the first training did not start: {first.stderr.read()}")
        second = subprocess.run(
            [sys.executable, "-m", "vdualib.commands.train", "--recipe", "mnist-vib-mlp", "--out", str(folder),
             *[arg for setting in TINY + ["seed=1"] for arg in ("--set", setting)], "--quiet"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert second.returncode == 2 and f"is being written by process {first.pid}" in second.stderr, second.stderr
    finally:
        released.write_text("go")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    record = reports.read_json(folder / "train.json")
    assert record["recipe"]["seed"] == 0 and len(record["history"]) == 2
    assert record["sha256"] == reports.sha256_file(folder / "model.keras")
    assert len(_log(folder)) == 2


def test_the_lock_file_names_the_holder_only_while_it_holds_and_an_unused_new_folder_goes(tmp_path):
    with runs.RunFolder(tmp_path / "new").lock() as folder:
        assert os.listdir(folder.path) == [".lock"]
    assert not (tmp_path / "new").exists()  # created by the lock and left empty: removed
    (tmp_path / "mine").mkdir()
    with runs.RunFolder(tmp_path / "mine").lock():
        pass
    assert os.listdir(tmp_path / "mine") == []  # the user's folder stays
    with runs.RunFolder(tmp_path / "used").lock() as folder:
        (tmp_path / "used" / "notes.txt").write_text("x")
    assert os.listdir(tmp_path / "used") == ["notes.txt"]


def test_a_lock_taken_on_a_folder_removed_meanwhile_is_taken_again_on_the_folder_at_the_path(tmp_path, monkeypatch):
    folder = runs.RunFolder(tmp_path / "run")
    real_flock, calls = runs.fcntl.flock, []

    def flock(handle, operation):
        real_flock(handle, operation)
        if operation & runs.fcntl.LOCK_EX and not calls:  # the first lock lands on a folder another writer then removed
            calls.append(handle)
            os.rmdir(tmp_path / "run")
            os.mkdir(tmp_path / "run")

    monkeypatch.setattr(runs.fcntl, "flock", flock)
    with folder.lock():
        assert os.path.samestat(os.fstat(folder._lock), os.stat(tmp_path / "run"))  # the folder at the path
        assert os.listdir(tmp_path / "run") == [".lock"]
    monkeypatch.setattr(runs.fcntl, "flock", real_flock)


def test_a_failing_lock_file_removal_still_lets_the_folder_go(tmp_path, monkeypatch):
    folder = runs.RunFolder(tmp_path)
    real_remove = os.remove

    def remove(path, *args, **kwargs):
        if str(path).endswith(runs.LOCK_FILE):
            raise PermissionError(13, "read-only", str(path))
        return real_remove(path, *args, **kwargs)

    with pytest.raises(KeyError, match="the run's own error"):
        with folder.lock():
            monkeypatch.setattr(os, "remove", remove)
            raise KeyError("the run's own error")  # not replaced by the removal's
    monkeypatch.setattr(os, "remove", real_remove)
    with folder.lock():  # let go: the same process takes it again
        pass


def test_deleting_the_lock_file_does_not_bypass_the_lock(tmp_path):
    with runs.RunFolder(tmp_path).lock():
        os.remove(tmp_path / ".lock")
        with pytest.raises(ValueError, match="is being written by"):
            with runs.RunFolder(tmp_path).lock():
                pass


@pytest.mark.slow
def test_a_checkpoint_from_before_the_decay_fields_resumes(tmp_path, data_dir):
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY + ["epochs=2"])
    with pytest.raises(KeyboardInterrupt):
        training.train(recipe, tmp_path, data_dir=data_dir, verbose=0, callbacks=[_CrashAfterFirst()])
    state = reports.read_json(tmp_path / runs.STATE_FILE)
    for key in ("weight_decay_scope", "backbone_l2", "lr_warmup_epochs"):
        del state["recipe"][key]  # as recorded before the fields existed (no decay: nothing changes)
    del state["model_sha256"]
    reports.write_json(tmp_path / runs.STATE_FILE, state)
    record = training.train(recipe, tmp_path, resume=True, data_dir=data_dir, verbose=0)
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    # a record whose recipe trained differently is still refused
    state["recipe"]["learning_rate"] = 0.5
    state["epochs_done"], state["history"] = 1, state["history"][:1]
    reports.write_json(tmp_path / runs.STATE_FILE, state)
    with pytest.raises(ValueError, match=r"recipe fields \['learning_rate'\]"):
        training.train(recipe, tmp_path, resume=True, data_dir=data_dir, verbose=0)


@pytest.mark.slow
def test_a_kill_after_the_last_commit_publishes_the_averaged_weights(tmp_path, data_dir, monkeypatch):
    recipe = recipes.get_recipe("mnist-vib-mlp", TINY + ["weight_ema=0.9"])
    expected = training.train(recipe, tmp_path / "straight", data_dir=data_dir, verbose=0)

    def killed(*args, **kwargs):
        raise _Kill()

    monkeypatch.setattr(training, "_final_record", killed)
    with pytest.raises(_Kill):
        training.train(recipe, tmp_path / "killed", data_dir=data_dir, verbose=0)
    monkeypatch.undo()
    record = training.train(recipe, tmp_path / "killed", resume=True, data_dir=data_dir, verbose=0)
    for a, b in zip(_weights(tmp_path / "straight" / "model.keras"), _weights(tmp_path / "killed" / "model.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert record["history"] == expected["history"]
    # resuming a finished run again changes nothing
    before = {name: os.path.getmtime(tmp_path / "killed" / name) for name in ("model.keras", "train.json")}
    assert training.train(recipe, tmp_path / "killed", resume=True, data_dir=data_dir, verbose=0) == record
    assert before == {name: os.path.getmtime(tmp_path / "killed" / name) for name in ("model.keras", "train.json")}
