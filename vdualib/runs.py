"""A training run's folder: one writer at a time, checkpoints committed whole, a log that loses nothing.

A run folder holds ``checkpoint.keras`` (the model with its optimizer state after the last
finished epoch), ``checkpoint.json`` (the run's identity, the finished epochs, the per-epoch
history, every layer's random state and the sha256 of the model file it belongs to) and
``log.csv`` (one row per finished epoch, written from ``checkpoint.json``'s history).

* **One writer.** :meth:`RunFolder.lock` takes an exclusive ``flock`` on the folder itself
  before anything in it is read or written (``.lock`` names the holder while it holds it); a second run on the
  same folder is refused at once. The operating system drops the lock when its process dies, so a
  killed run leaves nothing stuck. ``flock`` holds between processes of one machine; on storage
  shared by several machines it depends on the file system.
* **A checkpoint is one commit.** :meth:`RunFolder.commit` keeps the previous model file as
  ``checkpoint.previous.keras``, writes the new ``checkpoint.keras``, then ``checkpoint.json``
  naming the new file's sha256 (each write atomic). Whatever the moment of a kill, the state in
  ``checkpoint.json`` matches one of the two model files; :meth:`RunFolder.resume_state` finds it
  and puts it back in place, so a resumed run continues from the last consistent pair.
* **The log follows the state.** ``log.csv`` is rewritten from the committed history after each
  commit and on resume, so it holds exactly the finished epochs.

Example:
    >>> folder = RunFolder("runs/a")
    >>> with folder.lock():     # model: the zoo's mnist-dualib-mlp, after its first epoch
    ...     _ = folder.commit(model, {"name": "a", "epochs_done": 1, "history": [{"epoch": 1, "loss": 0.5}]})
    >>> with folder.lock():     # on resuming; FileNotFoundError if nothing was committed
    ...     state = folder.resume_state(identity={"name": "a"}, epochs=10)
    >>> state["epochs_done"], os.path.basename(state["model_path"])
    (1, 'checkpoint.keras')
"""

import contextlib
import csv
import fcntl
import glob
import io
import os
import socket

from vdualib import recipes, reports

__all__ = ["RunFolder", "MODEL_FILE", "STATE_FILE", "LOG_FILE"]

MODEL_FILE = "checkpoint.keras"
PREVIOUS_FILE = "checkpoint.previous.keras"
STATE_FILE = "checkpoint.json"
LOG_FILE = "log.csv"
LOCK_FILE = ".lock"


class RunFolder:
    """The files of one training run, written by one process at a time.

    Args:
        path: the run folder (created by :meth:`lock` if needed; must not be a file).

    Example:
        >>> with RunFolder("runs/a").lock() as folder:     # model: the zoo's mnist-dualib-mlp
        ...     state = folder.commit(model, {"name": "a", "epochs_done": 1, "history": [{"epoch": 1, "loss": 0.5}]})
        >>> sorted(os.listdir("runs/a"))
        ['checkpoint.json', 'checkpoint.keras', 'log.csv']
        >>> with open("runs/a/log.csv") as file:     # Keras' CSVLogger layout: 0-based epochs
        ...     file.read().splitlines()
        ['epoch,loss', '0,0.5']
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"the run folder {self.path!r} is an existing file; give a folder.")
        self._lock = None

    def file(self, name):
        """The path of ``name`` inside the folder."""
        return os.path.join(self.path, name)

    @property
    def locked(self):
        """Whether this object holds the folder's lock."""
        return self._lock is not None

    @contextlib.contextmanager
    def lock(self):
        """Hold the folder's exclusive lock for the block (``ValueError`` if another process holds it).

        ``.lock`` names the holder while the lock is held and goes when it is let go; a folder this
        call created and that is still empty then (the run was refused before writing) is removed.
        """
        created = not os.path.isdir(self.path)
        handle = self._acquire()
        self._lock = handle
        try:
            reports.write_text(self.file(LOCK_FILE), _holder())
            self._remove_temporaries()
            yield self
        finally:
            self._lock = None
            try:
                # still holding the lock: no other writer can have written its own .lock yet
                with contextlib.suppress(OSError):
                    os.remove(self.file(LOCK_FILE))
                if created:
                    with contextlib.suppress(OSError):
                        os.rmdir(self.path)  # only if empty
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                os.close(handle)

    def _acquire(self, attempts=3):
        """An open descriptor of the folder holding its exclusive ``flock`` (``ValueError`` if another process holds it).

        The lock is on the folder itself, not on its path: a folder removed (an empty one let go by
        the writer that created it) between opening and locking would give a lock on a deleted
        folder, so the locked folder must still be the one at the path, or the lock is taken again.
        """
        for _ in range(attempts):
            os.makedirs(self.path, exist_ok=True)
            # the folder's own descriptor: deleting or replacing a file in it cannot bypass the lock
            handle = os.open(self.path, os.O_RDONLY)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                raise ValueError(
                    f"the run folder {self.path!r} is being written by {self._holder_name()}; wait for that run to "
                    "end, or choose another folder (--out)."
                ) from None
            try:
                current = os.path.samestat(os.fstat(handle), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                return handle
            fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)
        raise ValueError(f"the run folder {self.path!r} keeps being removed and created by another process; choose "
                         "another folder (--out).")

    def _holder_name(self):
        """Who holds the lock, as its ``.lock`` names it."""
        holder = "another process"
        with contextlib.suppress(OSError):
            with open(self.file(LOCK_FILE), encoding="utf-8", errors="replace") as f:
                holder = f.read(200).strip() or holder
        if holder == _holder():
            holder += " (this process: an earlier fit that failed may still hold it; let it go, or restart)"
        return holder

    def _require_lock(self):
        if self._lock is None:
            raise RuntimeError("take the run folder's lock (RunFolder.lock) before writing to it.")

    def _remove_temporaries(self):
        """Temporary files of an atomic write that a killed writer left behind."""
        for path in glob.glob(os.path.join(self.path, ".*.tmp*")):
            if os.path.isfile(path):
                os.remove(path)

    def has_checkpoint(self):
        return os.path.exists(self.file(STATE_FILE))

    def commit(self, model, state):
        """Write ``model`` and ``state`` as the run's checkpoint, then the log from its history.

        Args:
            model: the Keras model to save (with its optimizer).
            state: a JSON-able dict with ``epochs_done`` and ``history`` (a list of per-epoch
                dicts with a 1-based ``epoch``); ``model_sha256`` is added.
        """
        self._require_lock()
        self._keep_previous_model()
        state = dict(state, model_sha256=self._save_model(model))
        self._write_state(state)
        self.write_log(state["history"])
        return state

    # The steps of a commit, in order; a kill between any two leaves a state that matches one of
    # the two model files.
    def _keep_previous_model(self):
        if os.path.exists(self.file(MODEL_FILE)):
            os.replace(self.file(MODEL_FILE), self.file(PREVIOUS_FILE))

    def _save_model(self, model):
        with reports.atomic_path(self.file(MODEL_FILE)) as tmp:
            model.save(tmp)
        return reports.sha256_file(self.file(MODEL_FILE))

    def _write_state(self, state):
        reports.write_json(self.file(STATE_FILE), state)

    def resume_state(self, identity, epochs):
        """The committed state of the run, its model file put in place, and the log rewritten.

        Args:
            identity: ``{key: value}`` the checkpoint must record (name, recipe, precision).
            epochs: the run's total epochs (a state past them is damaged).

        Returns:
            The state dict; ``state["model_path"]`` is the model file that belongs to it.

        Raises:
            FileNotFoundError: no ``checkpoint.json``.
            ValueError: a damaged ``checkpoint.json``, a model file that belongs to no state
                (damaged or another run's), or a checkpoint of another run; each names the file.
        """
        self._require_lock()
        state = self._read_state(epochs)
        _check_identity(self.path, state, identity)
        state["model_path"] = self._matching_model(state)
        self.write_log(state["history"])
        return state

    def _read_state(self, epochs):
        path = self.file(STATE_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"nothing to resume in {self.path!r}: it holds no {STATE_FILE}. Check the folder name, or start the "
                "run without --resume."
            )
        damaged = f"the checkpoint state {path} is damaged"
        fix = "restore the file from a copy, or start the run again in a new folder."
        state = reports.read_json(path, remedy=fix)
        if not isinstance(state, dict):
            raise ValueError(f"{damaged}: it holds a {type(state).__name__}, not a record; {fix}")
        done, history = state.get("epochs_done"), state.get("history")
        if isinstance(done, bool) or not isinstance(done, int) or not 0 < done <= epochs:
            raise ValueError(f"{damaged}: epochs_done is {done!r}, not a whole number of epochs from 1 to {epochs}; {fix}")
        if not isinstance(history, list) or [h.get("epoch") if isinstance(h, dict) else None for h in history] != list(
            range(1, done + 1)
        ):
            raise ValueError(f"{damaged}: its history does not list epochs 1 to {done}; {fix}")
        return state

    def _matching_model(self, state):
        current, previous = self.file(MODEL_FILE), self.file(PREVIOUS_FILE)
        expected = state.get("model_sha256")
        if expected is None:  # a checkpoint written before states named their model file
            if not os.path.exists(current):
                raise ValueError(f"the checkpoint model {current} is missing; restore it, or start the run in a new folder.")
            return current
        for path in (current, previous):
            if os.path.exists(path) and reports.sha256_file(path) == expected:
                if path == previous:  # killed between the two writes of a commit: the earlier pair is the consistent one
                    os.replace(previous, current)
                return current
        raise ValueError(
            f"the checkpoint model {current} does not belong to {self.file(STATE_FILE)} (its sha256 differs): it is "
            "damaged or another run's. Restore the run folder's files together, or start the run in a new folder."
        )

    def write_log(self, history):
        """``log.csv`` from a history (Keras' CSVLogger layout: a 0-based ``epoch`` column, then the
        logged values in sorted order), written atomically."""
        self._require_lock()
        keys = sorted({key for row in history for key in row if key != "epoch"})
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for row in history:
            writer.writerow([row["epoch"] - 1, *(row.get(key, "") for key in keys)])
        reports.write_text(self.file(LOG_FILE), buffer.getvalue())


def _holder():
    return f"process {os.getpid()} on {socket.gethostname()}"


def _check_identity(path, state, identity):
    stored = {key: state.get(key) for key in identity if key in state}
    different = sorted(key for key in stored if stored[key] != identity[key])
    if "recipe" in different and isinstance(stored["recipe"], dict):
        # a recipe recorded before a field existed trains as the field's earlier default did
        try:
            fields = sorted(recipes.differences(stored["recipe"], identity["recipe"]))
        except ValueError as err:
            raise ValueError(f"the checkpoint state {os.path.join(path, STATE_FILE)} is damaged: {err}") from None
        different = [d for d in different if d != "recipe"] + ([f"recipe fields {fields}"] if fields else [])
    if different:
        raise ValueError(
            f"{path!r} holds a checkpoint of another run ({', '.join(different)} differ); resume it with the "
            "recipe, --set overrides, name and precision it was started with, or choose a new --out."
        )
