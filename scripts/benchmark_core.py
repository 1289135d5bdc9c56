"""Benchmark the bottleneck's cost, side by side in one run, as ratios.

(a) training-step time of a VdualIB model / the deterministic model with the same backbone
    (mlp on MNIST-sized input, resnet20 on CIFAR-sized input), target <= 1.10;
(b) 12-sample / 1-sample prediction time (sampling happens once, after the backbone),
    target <= 1.3;
(c) for resnet20, float32 vs mixed_bfloat16 and jit_compile on/off, to choose the defaults
    (recording whether the machine has native bfloat16 arithmetic, without which it is emulated).

Timings interleave the variants over several rounds and report the fastest round of each (the
least disturbed by other work on the machine; on this 2-core CPU single rounds vary by 40%). Writes scripts/results/core/benchmark.json and
renders benchmark.md from it (``--render`` re-renders without measuring).
"""

import argparse
import os
import sys
import time

import numpy as np

from vdualib import cli

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results", "core")


def _train_step_timer(backbone, method, shape, batch, precision="float32", jit=False):
    import keras
    import tensorflow as tf

    import vdualib

    keras.mixed_precision.set_global_policy(precision)
    try:
        model = vdualib.build_classifier(backbone, 10, method=method, input_shape=shape, latent_dim=64, seed=0)
        model.compile(optimizer="adam", jit_compile=jit)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (batch,) + shape, dtype=np.uint8)
    y = rng.integers(0, 10, batch)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # trace and warm up
    # operations in one traced training step: a load-independent measure of the step's work
    graph = tf.function(model.train_step).get_concrete_function(next(iter(data))).graph
    graph_ops = len(graph.get_operations())

    def run(steps):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        return (time.perf_counter() - start) / steps

    return run, graph_ops


def _predict_timer(backbone, shape, batch, num_samples):
    import vdualib

    model = vdualib.build_classifier(backbone, 10, method="dualib", input_shape=shape, latent_dim=64, seed=0)
    x = np.random.default_rng(0).integers(0, 255, (batch,) + shape, dtype=np.uint8)
    model.predict_samples(x, num_samples=num_samples, batch_size=batch)

    def run(repeats):
        start = time.perf_counter()
        for _ in range(repeats):
            model.predict_samples(x, num_samples=num_samples, batch_size=batch)
        return (time.perf_counter() - start) / repeats

    return run


def _interleaved(timers, rounds, work):
    times = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            times[name].append(timer(work))
    return {name: min(values) for name, values in times.items()}


def measure(rounds=5):
    from vdualib import methods, reports, training

    cases = {"mlp": ((28, 28), 100, 30), "resnet20": ((32, 32, 3), 128, 4)}
    rows = []
    for backbone, (shape, batch, steps) in cases.items():
        built = {m: _train_step_timer(backbone, m, shape, batch) for m in methods.names()}
        t = _interleaved({m: run for m, (run, _) in built.items()}, rounds, steps)
        ops = {m: graph_ops for m, (_, graph_ops) in built.items()}
        rows.append(
            {
                "backbone": backbone,
                "batch": batch,
                "deterministic_step_s": t["deterministic"],
                "vib_step_s": t["vib"],
                "dualib_step_s": t["dualib"],
                "dualib_over_deterministic": t["dualib"] / t["deterministic"],
                "vib_over_deterministic": t["vib"] / t["deterministic"],
                "deterministic_graph_ops": ops["deterministic"],
                "dualib_graph_ops": ops["dualib"],
            }
        )
    predict_rows = []
    for backbone, (shape, _, _) in cases.items():
        batch = 1000 if backbone == "mlp" else 500
        timers = {s: _predict_timer(backbone, shape, batch, s) for s in (1, 12)}
        t = _interleaved(timers, rounds, 2)
        predict_rows.append(
            {"backbone": backbone, "batch": batch, "one_sample_s": t[1], "twelve_samples_s": t[12], "ratio": t[12] / t[1]}
        )
    shape, batch, steps = cases["resnet20"]
    variants = {
        "float32": _train_step_timer("resnet20", "dualib", shape, batch)[0],
        "float32_jit": _train_step_timer("resnet20", "dualib", shape, batch, jit=True)[0],
        "mixed_bfloat16": _train_step_timer("resnet20", "dualib", shape, batch, precision="mixed_bfloat16")[0],
    }
    t = _interleaved(variants, rounds, steps)
    precision_rows = [
        {"variant": name, "step_s": seconds, "speed_vs_float32": t["float32"] / seconds} for name, seconds in t.items()
    ]
    return {
        "train_step": rows,
        "prediction": predict_rows,
        "resnet20_precision": precision_rows,
        "native_bfloat16": training.native_precision("mixed_bfloat16"),
        "rounds": rounds,
        "load_average_start": os.getloadavg(),
        "provenance": reports.provenance(),
    }


def render(record):
    from vdualib import reports

    text = (
        "Training step (fastest of interleaved rounds; target VdualIB / deterministic <= 1.10; graph ops: "
        "operations in one traced step, independent of the load):\n\n"
    )
    text += reports.markdown_table(record["train_step"], digits=3)
    text += "\nPrediction, 12 samples / 1 sample (target <= 1.3):\n\n"
    text += reports.markdown_table(record["prediction"], digits=3)
    text += "\nResNet-20 VdualIB training step by precision and XLA:\n\n"
    text += reports.markdown_table(record["resnet20_precision"], digits=3)
    native = record.get("native_bfloat16")
    if native is not None:
        text += (
            "\nThe measuring machine "
            + ("has" if native else "lacks")
            + " native bfloat16 arithmetic (a GPU, or the CPU instructions AVX512-BF16, AMX-BF16 or Arm's BF16: "
            "`vdualib.training.native_precision`)"
            + ("." if native else ": TensorFlow emulates mixed_bfloat16 there.")
            + "\n"
        )
    cores = record["provenance"]["machine"].rsplit(", ", 1)[-1].split()[0]  # the measuring machine's, not this one's
    text += f"\nLoad average when the run started: {record['load_average_start'][0]:.1f} on {cores} cores.\n"
    return text


def main(argv=None):
    parser = cli.ArgumentParser(prog="benchmark_core", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--render", action="store_true", help="re-render benchmark.md from the committed JSON")
    args = parser.parse_args(argv)
    from vdualib import reports

    path = os.path.join(OUT, "benchmark.json")
    record = reports.read_json(path) if args.render else measure(args.rounds)
    if not args.render:
        reports.write_json(path, record)
    text = render(record)
    reports.write_text(os.path.join(OUT, "benchmark.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
