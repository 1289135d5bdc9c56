"""Benchmark Keras' JAX backend against its TensorFlow backend for vdualib's classifier, side by side
in one run, as ratios.

The VdualIB classifier (``build_classifier(backbone, 10, method="dualib", latent_dim=64, seed=0)``,
float32, each backend's default compilation: XLA on JAX, a graph on TensorFlow) with the MLP
backbone on MNIST-shaped uint8 input and ResNet-20 on CIFAR-shaped input, on each backend:

(a) the training-step time: ``model.fit`` on one repeated batch (MLP 100, ResNet-20 128), per step;
(b) the 12-sample prediction time: ``model.predict_samples(x, num_samples=12)`` on one batch
    (MLP 1000, ResNet-20 500), per call;
(c) the first call of each less its steady-state time: the tracing and compiling paid once.

A Keras backend is fixed per process, so each backend runs in a worker process of its own
(``KERAS_BACKEND`` set, the interpreter given by ``--tensorflow-python`` / ``--jax-python``, by
default this one). The workers build and warm up their models one after the other, then are driven
round by round over a pipe, alternating the backends (and which goes first), and each measure keeps
its fastest round, the least disturbed by other work on the machine. The ratios are JAX time /
TensorFlow time, of the fastest rounds and, beside it, of the median rounds. The load average
before and after, the versions and the CPU count are recorded.

Writes scripts/results/backends/benchmark.json (with provenance, atomically) and renders
benchmark.md from it (``--render`` re-renders without measuring). For example:

    python -m scripts.benchmark_backends --jax-python /path/to/jax-env/bin/python
    python -m scripts.benchmark_backends --render
"""

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from vdualib import checks, cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUTPUT = os.path.join(HERE, "results", "backends")
JSON_NAME = "benchmark.json"
BACKENDS = ("tensorflow", "jax")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX"}
MEASURES = {"train_step": "training step", "prediction": "12-sample prediction"}
NUM_SAMPLES = 12
VERSIONS = ("keras", "tensorflow", "jax", "jaxlib")


@dataclasses.dataclass(frozen=True)
class Case:
    """One backbone's benchmark: its input, batch sizes and timed calls per round.

    Attributes:
        label: the backbone's name in the report.
        input_shape: one image's shape (uint8 pixels).
        train_batch: images per training step.
        predict_batch: images per prediction call.
        train_steps: timed training steps per round.
        predict_calls: timed prediction calls per round.
    """

    label: str
    input_shape: tuple
    train_batch: int
    predict_batch: int
    train_steps: int
    predict_calls: int

    def calls(self, measure):
        """Timed calls per round of ``measure`` (a key of :data:`MEASURES`)."""
        return self.train_steps if measure == "train_step" else self.predict_calls


CASES = {
    "mlp": Case("MLP", (28, 28), 100, 1000, train_steps=50, predict_calls=10),
    "resnet20": Case("ResNet-20", (32, 32, 3), 128, 500, train_steps=6, predict_calls=3),
}


# --- the worker: one backend, in its own process -----------------------------------------------


def _timers(backbone, case):
    """Build and compile ``backbone``'s classifier on the current backend.

    Args:
        backbone: a key of :data:`CASES`.
        case: its :class:`Case`.

    Returns:
        ``({"train_step": run, "prediction": run}, jit_compile)``: each ``run(calls)`` makes
        ``calls`` training steps or prediction calls and returns the seconds per call; and the
        model's resolved ``jit_compile``.
    """
    import numpy as np
    import tensorflow as tf

    import vdualib

    model = vdualib.build_classifier(backbone, 10, method="dualib", input_shape=case.input_shape, latent_dim=64, seed=0)
    model.compile(optimizer="adam")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (case.train_batch,) + case.input_shape, dtype=np.uint8)
    y = rng.integers(0, 10, case.train_batch)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    images = rng.integers(0, 256, (case.predict_batch,) + case.input_shape, dtype=np.uint8)

    def train(steps):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        return (time.perf_counter() - start) / steps

    def predict(calls):
        start = time.perf_counter()
        for _ in range(calls):
            model.predict_samples(images, num_samples=NUM_SAMPLES, batch_size=case.predict_batch)
        return (time.perf_counter() - start) / calls

    return {"train_step": train, "prediction": predict}, model.jit_compile


def _versions():
    """Installed versions of :data:`VERSIONS` (``None`` for a missing package)."""
    from importlib import metadata

    versions = {}
    for package in VERSIONS:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def worker(settings, commands=None):
    """Serve one backend's measurements: build and warm up every backbone, report, then answer
    each ``round`` command with one round of timings until ``stop`` or the end of ``commands``.

    Replies are JSON lines on the original standard output; anything the libraries print goes to
    standard error instead.

    Args:
        settings: ``{"backbones": [...], "warmup": int, "cases": {backbone: Case fields}}``.
        commands: the lines to obey (default: standard input).
    """
    commands = sys.stdin if commands is None else commands
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(message):
        replies.write(json.dumps(message) + "\n")

    import keras

    cases = {name: Case(**dict(fields, input_shape=tuple(fields["input_shape"]))) for name, fields in settings["cases"].items()}
    timers, first_call, jit_compile = {}, {}, {}
    for backbone in settings["backbones"]:
        timers[backbone], jit_compile[backbone] = _timers(backbone, cases[backbone])
        first_call[backbone] = {}
        for measure, run in timers[backbone].items():
            first_call[backbone][measure] = run(1)  # traces and compiles
            run(settings["warmup"])
    reply(
        {
            "backend": keras.backend.backend(),
            "dtype_policy": keras.config.dtype_policy().name,
            "jit_compile": jit_compile,
            "python": ".".join(map(str, sys.version_info[:3])),
            "packages": _versions(),
            "first_call_s": first_call,
        }
    )
    for line in iter(commands.readline, ""):
        if line.strip() != "round":
            break
        reply(
            {
                backbone: {measure: run(cases[backbone].calls(measure)) for measure, run in timers[backbone].items()}
                for backbone in settings["backbones"]
            }
        )


# --- the driver: two workers, interleaved ------------------------------------------------------


def check_interpreter(python, backend):
    """Refuse an interpreter that cannot run ``backend``'s worker, before any long work.

    Args:
        python: the interpreter's path.
        backend: ``"tensorflow"`` or ``"jax"``.

    Raises:
        ValueError: ``python`` is not an executable file, or lacks Keras, the backend or vdualib.
    """
    option = f"--{backend}-python"
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ValueError(f"{option} {python!r} is not an executable file; give a Python interpreter.")
    probe = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"
    done = subprocess.run([python, "-c", probe, "keras", backend, "vdualib"], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        raise ValueError(
            f"{option} {python!r} cannot import keras, {backend} and vdualib; give an interpreter of an environment "
            f"with vdualib and the {backend} extra installed (pip install -e '.[{backend}]')."
        )


class Worker:
    """A worker process running one backend, driven over a pipe.

    Starting it waits until its models are built and warmed up; :attr:`ready` is then its first
    reply (versions and first-call times).

    Args:
        backend: ``"tensorflow"`` or ``"jax"``.
        python: the interpreter to run it with.
        settings: the worker's settings (see :func:`worker`).
    """

    def __init__(self, backend, python, settings):
        self.backend = backend
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [python, "-m", "scripts.benchmark_backends", "--worker", json.dumps(settings)],
            cwd=ROOT,
            env=dict(os.environ, KERAS_BACKEND=backend),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.ready = self._reply()
        if self.ready["backend"] != backend:
            raise RuntimeError(f"the {backend} worker runs Keras on {self.ready['backend']}")

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.log.seek(0)
            tail = self.log.read()[-3000:]
            raise RuntimeError(f"the {self.backend} worker stopped (exit status {self.process.returncode}):\n{tail}")
        return json.loads(line)

    def round(self):
        """One round of timings: ``{backbone: {measure: seconds per call}}``."""
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self):
        """Stop the process (it ends at the ``stop`` command) and drop its log."""
        with contextlib.suppress(OSError):
            self.process.stdin.write("stop\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def measure(backends, pythons, backbones, rounds, warmup=2):
    """Run the benchmark: start one worker per backend in turn, then ``rounds`` interleaved rounds.

    Args:
        backends: backend names, a subset of :data:`BACKENDS`.
        pythons: ``{backend: interpreter path}``.
        backbones: keys of :data:`CASES`.
        rounds: rounds of timings per backend, a positive integer.
        warmup: untimed calls of each measure after its first call.

    Returns:
        The raw record: ``settings``, ``workers`` (each backend's first reply), ``rounds`` (one entry
        per backend and round, with the 1-minute load average before it), the load averages and the
        wall time.
    """
    settings = {
        "backbones": list(backbones),
        "warmup": warmup,
        "cases": {backbone: dataclasses.asdict(CASES[backbone]) for backbone in backbones},
    }
    load_start, start = os.getloadavg(), time.perf_counter()
    workers, timings = {}, []
    try:
        for backend in backends:  # one after the other, so that neither compiles beside the other
            workers[backend] = Worker(backend, pythons[backend], settings)
        for number in range(rounds):
            order = backends if number % 2 == 0 else backends[::-1]
            for backend in order:
                load = os.getloadavg()[0]
                timings.append({"round": number, "backend": backend, "load_average": load, "seconds": workers[backend].round()})
    finally:
        for running in workers.values():
            running.close()
    return {
        "settings": dict(settings, rounds=rounds, num_samples=NUM_SAMPLES, method="dualib", latent_dim=64, dtype="float32"),
        "workers": {backend: running.ready for backend, running in workers.items()},
        "rounds": timings,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
        "elapsed_s": time.perf_counter() - start,
    }


def summarize(raw):
    """The table's rows from a raw record: per backbone and measure, each backend's fastest round,
    its median round, its first call less the fastest round, and the ratios JAX / TensorFlow of
    the fastest rounds and of the medians (the spread between the two shows the disturbance).

    Args:
        raw: the record of :func:`measure`.

    Returns:
        A list of dicts with ``backbone``, ``measure``, ``batch``, ``{backend}_s``,
        ``{backend}_median_s`` and ``{backend}_first_call_extra_s`` for each measured backend,
        ``jax_over_tensorflow`` and ``median_jax_over_tensorflow`` (``None`` unless both backends
        were measured).
    """
    rows = []
    for backbone in raw["settings"]["backbones"]:
        case = raw["settings"]["cases"][backbone]
        for measure in MEASURES:
            row = {"backbone": backbone, "measure": measure, "batch": case["train_batch" if measure == "train_step" else "predict_batch"]}
            for backend, ready in raw["workers"].items():
                seconds = [r["seconds"][backbone][measure] for r in raw["rounds"] if r["backend"] == backend]
                row[f"{backend}_s"] = min(seconds)
                row[f"{backend}_median_s"] = statistics.median(seconds)
                row[f"{backend}_first_call_extra_s"] = ready["first_call_s"][backbone][measure] - min(seconds)
            both = all(f"{backend}_s" in row for backend in BACKENDS)
            row["jax_over_tensorflow"] = row["jax_s"] / row["tensorflow_s"] if both else None
            row["median_jax_over_tensorflow"] = row["jax_median_s"] / row["tensorflow_median_s"] if both else None
            rows.append(row)
    return rows


def comparison(row):
    """One sentence: which backend is faster for ``row``'s backbone and measure, and by how much.

    Args:
        row: a row of :func:`summarize`.

    Returns:
        A sentence ending in a period, and a second one when the ratio of the median rounds lies
        on the other side of 1.

    Example:
        >>> comparison({"backbone": "mlp", "measure": "train_step", "jax_over_tensorflow": 0.5})
        'MLP training step: JAX is 2.00 times as fast as TensorFlow (JAX / TensorFlow = 0.500).'
    """
    subject = f"{CASES[row['backbone']].label} {MEASURES[row['measure']]}"
    ratio = row.get("jax_over_tensorflow")
    if ratio is None:
        return f"{subject}: one backend measured, no ratio."
    if f"{ratio:.3f}" == "1.000":
        return f"{subject}: the two backends take the same time (JAX / TensorFlow = {ratio:.3f})."
    faster, slower = ("jax", "tensorflow") if ratio < 1 else ("tensorflow", "jax")
    speedup = max(ratio, 1 / ratio)
    sentence = (
        f"{subject}: {BACKEND_NAMES[faster]} is {speedup:.2f} times as fast as {BACKEND_NAMES[slower]} "
        f"(JAX / TensorFlow = {ratio:.3f})."
    )
    median = row.get("median_jax_over_tensorflow")
    if median is not None and (median < 1) != (ratio < 1):
        sentence += f" The median rounds' ratio ({median:.3f}) says the opposite: the run does not tell them apart."
    return sentence


def assemble(raw):
    """The JSON record: ``raw`` with the table's rows and provenance.

    Args:
        raw: the record of :func:`measure`.

    Returns:
        ``raw`` plus ``results`` (:func:`summarize`) and ``provenance``.
    """
    from vdualib import reports

    return dict(
        raw,
        results=summarize(raw),
        provenance=reports.provenance(
            script="scripts/benchmark_backends.py", data_split="random uint8 images of MNIST and CIFAR-10 shapes"
        ),
    )


def render(record):
    """``benchmark.md`` from the JSON record (its rows recomputed by :func:`summarize` from the rounds).

    Args:
        record: the record of :func:`measure` or :func:`assemble` (as read back from the JSON).

    Returns:
        Markdown: the table of seconds and ratios, one comparison per row, the load and versions.
    """
    from vdualib import reports

    backends = [backend for backend in BACKENDS if backend in record["workers"]]
    columns = [("backbone", "backbone"), ("measure", "measure"), ("batch", "batch")]
    columns += [(f"{backend}_s", f"{BACKEND_NAMES[backend]} s") for backend in backends]
    if len(backends) == len(BACKENDS):
        columns += [("jax_over_tensorflow", "JAX / TensorFlow"), ("median_jax_over_tensorflow", "median rounds' ratio")]
    columns += [(f"{backend}_first_call_extra_s", f"{BACKEND_NAMES[backend]} first call extra s") for backend in backends]
    settings = record["settings"]
    text = (
        f"Keras backends, VdualIB classifier (float32, latent 64): seconds per training step and per "
        f"{settings['num_samples']}-sample prediction call, fastest of {settings['rounds']} interleaved rounds; "
        "the ratio of the median rounds beside it; first call extra: the first call less the fastest "
        "round (tracing and compiling):\n\n"
    )
    rows = summarize(record)
    text += reports.markdown_table(rows, columns=columns, digits=3)
    text += "\n" + "".join(f"* {comparison(row)}\n" for row in rows)
    start, end = record["load_average_start"], record["load_average_end"]
    text += (
        f"\nLoad average (1, 5, 15 min) {start[0]:.1f}, {start[1]:.1f}, {start[2]:.1f} before and "
        f"{end[0]:.1f}, {end[1]:.1f}, {end[2]:.1f} after, on {record['cpu_count']} CPU cores; "
        f"{record['elapsed_s'] / 60:.1f} minutes.\n"
    )
    for backend in backends:
        worker_record = record["workers"][backend]
        versions = ", ".join(f"{name} {version}" for name, version in worker_record["packages"].items() if version)
        jit = ", ".join(f"{backbone} {flag}" for backbone, flag in worker_record["jit_compile"].items())
        text += f"{BACKEND_NAMES[backend]}: Python {worker_record['python']}, {versions}; jit_compile: {jit}.\n"
    return text


def write_outputs(output_dir, record):
    """Write ``benchmark.json`` (unless ``record`` is ``None``: re-render) and ``benchmark.md`` from it.

    Args:
        output_dir: the results folder.
        record: the record of :func:`assemble`, or ``None`` to re-render the existing JSON.

    Returns:
        The Markdown text.
    """
    from vdualib import reports

    json_path = os.path.join(output_dir, JSON_NAME)
    if record is not None:
        reports.write_json(json_path, record)
    text = render(reports.read_json(json_path))
    reports.write_text(os.path.join(output_dir, "benchmark.md"), text)
    return text


def build_parser():
    """The command line of ``python -m scripts.benchmark_backends``."""
    parser = cli.ArgumentParser(
        prog="python -m scripts.benchmark_backends", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per backend (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls after the first one (default %(default)s)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="default: both")
    parser.add_argument("--backbones", nargs="+", choices=list(CASES), default=list(CASES), help="default: both")
    parser.add_argument("--tensorflow-python", default=sys.executable, help="interpreter of the TensorFlow worker (default: this one)")
    parser.add_argument("--jax-python", default=sys.executable, help="interpreter of the JAX worker (default: this one)")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="default scripts/results/backends")
    parser.add_argument("--render", action="store_true", help="re-render benchmark.md from the existing JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def work(args):
    """Measure (unless ``--render``), write the JSON and the Markdown, print the Markdown."""
    if args.worker is not None:
        return worker(json.loads(args.worker))
    cli.check_writable_dir(args.output_dir, "--output-dir")
    record = None
    if not args.render:
        rounds, warmup = checks.positive_int("--rounds", args.rounds), checks.positive_int("--warmup", args.warmup)
        backends = list(dict.fromkeys(args.backends))
        pythons = {"tensorflow": args.tensorflow_python, "jax": args.jax_python}
        for backend in backends:
            check_interpreter(pythons[backend], backend)
        raw = measure(backends, pythons, list(dict.fromkeys(args.backbones)), rounds, warmup)
        record = assemble(raw)
    print(write_outputs(args.output_dir, record))


def main(argv=None):
    return cli.main(build_parser, work, "benchmark_backends", argv)


if __name__ == "__main__":
    sys.exit(main())
