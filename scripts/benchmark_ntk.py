"""Benchmark of ``vdualib.ntk``: closed-form kernels and ensemble curves on this CPU (repository only).

The measurements are :mod:`scripts.lab.ntk_benchmark`'s: the peak GFLOP/s of large
matrix products (before and after the work), the kernels of ``--kernel-points``
MNIST test images (784 inputs, depth ``--depth`` ReLU) in float64 and float32,
and an ensemble curve on ``--ensemble-points`` training and ``--test-points``
test images at ``--num-times`` times, beside the direct route. Writes
``benchmark_ntk.json`` and ``benchmark_ntk.md`` (rendered from the JSON). Run
from the repository root; the default output is ``scripts/results/ntk``.
"""

import os

from vdualib import cli

DEFAULT_OUTPUT = os.path.join("scripts", "results", "ntk")
JSON_NAME = "benchmark_ntk.json"


def work(args):
    import numpy as np

    from scripts.lab import ntk_benchmark as benchmark
    from vdualib.datasets import load
    from vdualib.ntk import standardize_inputs
    from vdualib.reports import provenance, read_json, write_json, write_text

    cli.check_writable_dir(args.output_dir, "--output-dir")
    json_path = os.path.join(args.output_dir, JSON_NAME)
    if not args.render_only:
        (x_train, y_train), (x_test, _) = load("mnist", args.data_dir)
        train = np.random.default_rng(args.seed).permutation(x_train.shape[0])[: args.ensemble_points]
        data = {
            "settings": {key: value for key, value in vars(args).items() if key not in ("output_dir", "render_only")},
            "peak": benchmark.measure_peak(args.peak_size, args.repeats, args.seed),
            "kernels": benchmark.kernel_timings(standardize_inputs(x_test[: args.kernel_points]), args.depth, args.repeats),
            "ensemble": benchmark.ensemble_timings(
                standardize_inputs(x_train[train]), y_train[train], standardize_inputs(x_test[: args.test_points]),
                args.depth, args.num_times, args.repeats,
            ),
            "provenance": provenance(script="scripts/benchmark_ntk.py",
                                     data_split="MNIST test[:N] (kernels), train subset (ensemble)"),
        }
        data["peak_after"] = benchmark.measure_peak(args.peak_size, args.repeats, args.seed)
        write_json(json_path, benchmark.add_shares(data))
    write_text(os.path.join(args.output_dir, "benchmark_ntk.md"), benchmark.benchmark_markdown(read_json(json_path)))


def main(argv=None):
    cli.quiet_tensorflow()
    parser = cli.ArgumentParser(
        prog="benchmark_ntk",
        description="Time vdualib.ntk kernels and ensemble curves on MNIST-sized inputs; "
        "report seconds and the share of this CPU's measured peak FLOP/s.",
    )
    parser.add_argument("--kernel-points", type=int, default=10000, help="N for the N x N kernels")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--ensemble-points", type=int, default=2000, help="training points of the ensemble curve")
    parser.add_argument("--test-points", type=int, default=1000)
    parser.add_argument("--num-times", type=int, default=50, help="times of the curve (the last is t = inf)")
    parser.add_argument("--peak-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="default %(default)s")
    parser.add_argument("--render-only", action="store_true", help="re-render the Markdown from the JSON")
    args = parser.parse_args(argv)
    return cli.run(lambda: work(args), prog="benchmark_ntk")


if __name__ == "__main__":
    raise SystemExit(main())
