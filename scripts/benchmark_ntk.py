"""Benchmark of ``vdualib.ntk``: closed-form kernels and ensemble curves on this CPU.

Measured side by side in one run:

1. Peak: the best of ``--repeats`` large matrix products (``--peak-size``
   square) in float64 and float32, in GFLOP/s (2 n^3 FLOPs each).
2. Kernels: ``vdualib.ntk.kernels`` for ``--kernel-points`` MNIST test images
   (784 inputs) against themselves, depth ``--depth`` ReLU, float64 and
   float32; the same Gram products timed alone (the matrix work: with the
   symmetric shortcut, row strips against the columns from their start,
   about N^2 d FLOPs); the diagonal-only call.
3. Ensemble: ``--ensemble-points`` MNIST training images and ``--test-points``
   test images, one ``KernelEnsemble`` (eigendecomposition and projections)
   and ``predict`` at ``--num-times`` times with diagonal and full
   covariances; next to it the per-time cost of the direct route (a matrix
   exponential and a solve per time, ``scipy.linalg.expm``) on two times.

The share of peak is (counted FLOPs / seconds) / peak of the same dtype,
the peak being the better of two measurements, before and after the work;
FLOP counts are nominal (eigendecomposition with vectors 9 N^3, Golub & Van
Loan). Writes ``benchmark_ntk.json`` and ``benchmark_ntk.md`` (rendered from
the JSON) under ``scripts/results/ntk/``.
"""

import argparse
import os
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(_HERE, "results", "ntk")


def _best_seconds(function, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure_peak(size, repeats, seed):
    """Best-of-``repeats`` GFLOP/s of a ``size`` x ``size`` matrix product, per dtype."""
    import numpy as np

    rng = np.random.default_rng(seed)
    peak = {}
    for dtype in ("float64", "float32"):
        a = rng.standard_normal((size, size)).astype(dtype)
        b = rng.standard_normal((size, size)).astype(dtype)
        seconds = _best_seconds(lambda: a @ b, repeats)
        peak[dtype] = {"size": size, "seconds": seconds, "gflops": 2 * size**3 / seconds / 1e9}
    return peak


def benchmark_kernels(x, args):
    from vdualib.ntk import kernels

    n, d = x.shape
    batch = 1024  # kernels' default row block
    rows = []
    for dtype in ("float64", "float32"):
        inputs = x.astype(dtype)
        hyper = dict(depth=args.depth, activation="relu", w_std=2.0**0.5, b_std=0.1, dtype=dtype)
        start = time.perf_counter()
        k, theta = kernels(inputs, None, **hyper)
        seconds = time.perf_counter() - start
        del k, theta
        strips = [(s, min(s + batch, n)) for s in range(0, n, batch)]
        gram_flops = sum(2.0 * (stop - s) * (n - s) * d for s, stop in strips)
        gram_seconds = _best_seconds(lambda: [inputs[s:stop] @ inputs[s:].T for s, stop in strips], 1)
        diagonal_seconds = _best_seconds(lambda: kernels(inputs, None, diagonal=True, **hyper), args.repeats)
        rows.append({
            "dtype": dtype,
            "points": n,
            "input_dimension": d,
            "depth": args.depth,
            "seconds": seconds,
            "gram_flops": gram_flops,
            "gram_seconds": gram_seconds,
            "matrix_work_share_of_time": gram_seconds / seconds,
            "diagonal_seconds": diagonal_seconds,
        })
    return rows


def benchmark_ensemble(x_train, y_train, x_test, args):
    import numpy as np
    import scipy.linalg

    from vdualib.ntk import KernelEnsemble, kernels

    hyper = dict(depth=args.depth, activation="relu", w_std=2.0**0.5, b_std=0.1)
    start = time.perf_counter()
    k, theta = kernels(x_train, None, **hyper)
    k_cross, theta_cross = kernels(x_test, x_train, **hyper)
    k_test = kernels(x_test, None, **hyper)[0]
    kernel_seconds = time.perf_counter() - start
    targets = np.eye(10)[y_train] - 0.1
    n, m, outputs = x_train.shape[0], x_test.shape[0], targets.shape[1]
    times = np.concatenate([np.geomspace(0.1, 1e5, args.num_times - 1), [np.inf]])

    start = time.perf_counter()
    model = KernelEnsemble(k, theta, targets, k_cross, theta_cross, k_test)
    setup_seconds = time.perf_counter() - start
    setup_flops = 9.0 * n**3 + 4.0 * n**3 + 4.0 * m * n**2 + 2.0 * n**2 * outputs
    per_time_flops = {
        "diagonal": 2 * n**3 + 2 * n**2 * outputs + 2 * m * n**2 + 2 * m * n * outputs,
        "full": 4 * n**3 + 2 * n**2 * outputs + 2 * m * n**2 + 4 * m**2 * n + 2 * m * n * outputs,
    }
    rows = []
    for covariance in ("diagonal", "full"):
        seconds = _best_seconds(lambda: model.predict(times, covariance=covariance), 1)
        one_time = _best_seconds(lambda: model.predict(times[len(times) // 2], covariance=covariance), args.repeats)
        flops = setup_flops + len(times) * per_time_flops[covariance]
        total = setup_seconds + seconds
        rows.append({
            "covariance": covariance,
            "train_points": n,
            "test_points": m,
            "times": len(times),
            "setup_seconds": setup_seconds,
            "curve_seconds": seconds,
            "total_seconds": total,
            "one_time_total_seconds": setup_seconds + one_time,
            "curve_over_one_time": total / (setup_seconds + one_time),
            "flops": flops,
        })

    def direct(t):  # E_t = I - expm(-eta t Theta / N); mean on test = Theta_xX Theta^-1 E_t Y
        decay = scipy.linalg.expm(-t * theta / n)
        return theta_cross @ scipy.linalg.solve(theta, targets - decay @ targets, assume_a="pos")

    sample = times[[len(times) // 5, 3 * len(times) // 5]]  # two finite times
    direct_seconds = _best_seconds(lambda: [direct(t) for t in sample], 1) / 2
    mean_check = float(np.abs(direct(sample[1]) - model.predict(sample[1], covariance="diagonal").mean_test).max())
    return {
        "kernel_seconds": kernel_seconds,
        "rows": rows,
        "direct_mean_seconds_per_time": direct_seconds,
        "direct_curve_seconds_estimate": direct_seconds * (len(times) - 1),
        "direct_vs_eigen_max_abs_difference": mean_check,
    }


def add_shares(data):
    """Shares of peak against the reference peak: the better of the two peak runs, per dtype.

    The machine is shared, so the peak is measured before and after the work
    and the larger value is taken (a conservative share).
    """
    reference = {dtype: max(data["peak"][dtype]["gflops"], data["peak_after"][dtype]["gflops"]) for dtype in data["peak"]}
    data["reference_gflops"] = reference
    for row in data["kernels"]:
        row["gram_share_of_peak"] = row["gram_flops"] / row["gram_seconds"] / 1e9 / reference[row["dtype"]]
        row["overall_share_of_peak"] = row["gram_flops"] / row["seconds"] / 1e9 / reference[row["dtype"]]
    for row in data["ensemble"]["rows"]:
        row["share_of_peak"] = row["flops"] / row["total_seconds"] / 1e9 / reference["float64"]
    return data


def render_markdown(data):
    from vdualib.reports import markdown_table

    peak, size = data["reference_gflops"], data["peak"]["float64"]["size"]
    diagonal = next(row for row in data["ensemble"]["rows"] if row["covariance"] == "diagonal")
    eigen_per_time = diagonal["curve_seconds"] / diagonal["times"]
    lines = [
        f"Peak on this machine ({data['provenance']['machine']}, shared with other jobs): "
        f"float64 {peak['float64']:.1f} GFLOP/s, float32 {peak['float32']:.1f} GFLOP/s "
        f"(best {size}-square matrix product, measured before and after).\n",
        "Kernels (NNGP + NTK, ReLU, MNIST inputs, symmetric):\n",
        markdown_table(data["kernels"], [
            ("dtype", "dtype"), ("points", "N"), ("depth", "depth"), ("seconds", "seconds"),
            ("gram_seconds", "Gram product s"), ("gram_share_of_peak", "Gram share of peak"),
            ("matrix_work_share_of_time", "matrix share of time"), ("overall_share_of_peak", "overall share of peak"),
            ("diagonal_seconds", "diagonal-only s"),
        ], digits=3),
        "\nEnsemble curve (mean and covariance on train and test points at every time, float64):\n",
        markdown_table(data["ensemble"]["rows"], [
            ("covariance", "covariance"), ("train_points", "N train"), ("test_points", "M test"), ("times", "times"),
            ("setup_seconds", "eigendecomposition s"), ("curve_seconds", "all times s"), ("total_seconds", "total s"),
            ("curve_over_one_time", "cost vs one time"), ("share_of_peak", "share of peak"),
        ], digits=3),
        f"\nDirect route (matrix exponential + solve per time, test mean only): "
        f"{data['ensemble']['direct_mean_seconds_per_time']:.2f} s per time "
        f"({data['ensemble']['direct_mean_seconds_per_time'] / eigen_per_time:.0f} times the eigenbasis route's "
        f"{eigen_per_time:.2f} s per time with diagonal covariances), about "
        f"{data['ensemble']['direct_curve_seconds_estimate']:.0f} s for the finite times of the curve "
        f"(max |difference| of the means {data['ensemble']['direct_vs_eigen_max_abs_difference']:.1e}).\n",
    ]
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
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
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT)
    parser.add_argument("--render-only", action="store_true", help="re-render the Markdown from the JSON")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from vdualib.reports import provenance, read_json, write_json, write_text

    json_path = os.path.join(args.output_dir, "benchmark_ntk.json")
    if not args.render_only:
        import numpy as np

        from vdualib.datasets import load
        from vdualib.ntk import standardize_inputs

        (x_train, y_train), (x_test, _) = load("mnist", args.data_dir)
        rng = np.random.default_rng(args.seed)
        kernel_inputs = standardize_inputs(x_test[: args.kernel_points])
        train = rng.permutation(x_train.shape[0])[: args.ensemble_points]
        data = {
            "settings": {key: value for key, value in vars(args).items() if key not in ("output_dir", "render_only")},
            "peak": measure_peak(args.peak_size, args.repeats, args.seed),
            "kernels": benchmark_kernels(kernel_inputs, args),
            "ensemble": benchmark_ensemble(
                standardize_inputs(x_train[train]),
                y_train[train].astype(int),
                standardize_inputs(x_test[: args.test_points]),
                args,
            ),
            "provenance": provenance(
                script="scripts/benchmark_ntk.py", data_split="MNIST test[:N] (kernels), train subset (ensemble)"
            ),
        }
        data["peak_after"] = measure_peak(args.peak_size, args.repeats, args.seed)
        write_json(json_path, add_shares(data))
    write_text(os.path.join(args.output_dir, "benchmark_ntk.md"), render_markdown(read_json(json_path)))


if __name__ == "__main__":
    main()
