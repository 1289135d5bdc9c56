"""Speed of ``vdualib.ntk`` on this CPU: kernels and ensemble curves against the machine's peak.

Measured side by side in one process:

1. :func:`measure_peak`: the best of several large matrix products, float64
   and float32, in GFLOP/s (2 n^3 FLOPs each);
2. :func:`kernel_timings`: :func:`~vdualib.ntk.kernels` of N inputs against
   themselves (float64 and float32), the Gram products alone (the matrix work
   of the symmetric route: row strips against the columns from their start,
   about N^2 d FLOPs) and the diagonal-only call;
3. :func:`ensemble_timings`: one :class:`~vdualib.ntk.KernelEnsemble`
   (eigendecomposition and projections) and ``predict`` at every time with
   diagonal and full covariances, next to the per-time cost of the direct
   route (a matrix exponential and a solve per time, ``scipy.linalg.expm``);
4. :func:`add_shares` and :func:`benchmark_markdown`: shares of the peak
   (counted FLOPs / seconds / peak of the dtype, the peak being the better of a
   measurement before and one after the work; nominal FLOP counts, the
   eigendecomposition with vectors 9 N^3, Golub & Van Loan) and the report.

Performance is measured here, never asserted by timed tests.

Example:
    >>> peak = measure_peak(size=1024, repeats=3, seed=0)
    >>> peak["float64"]["gflops"] > 0
    True
"""

import time

import numpy as np
import scipy.linalg

from scripts.lab.information_benchmark import best_and_median
from scripts.lab.ntk_study import centred_one_hot
from vdualib import checks
from vdualib.ntk.ensemble import KernelEnsemble
from vdualib.ntk.kernels import kernels
from vdualib.reports import markdown_table

__all__ = ["measure_peak", "kernel_timings", "ensemble_timings", "add_shares", "benchmark_markdown", "HYPER"]

# The network timed: ReLU, w_std sqrt 2, b_std 0.1 (the study's), at the caller's depth.
HYPER = dict(activation="relu", w_std=2.0**0.5, b_std=0.1)
_ROW_BLOCK = 1024  # kernels' default row block


def _best(function, repeats):
    return best_and_median(function, repeats)[0]


def measure_peak(size, repeats, seed):
    """Best-of-``repeats`` GFLOP/s of a ``size`` x ``size`` matrix product, per dtype.

    Returns:
        ``{"float64": {"size", "seconds", "gflops"}, "float32": {...}}``.

    Args:
        size: the matrices' side, a positive integer.
        repeats: timed products per dtype (the best is kept).
        seed: seed of the random matrices.

    Raises:
        ValueError: ``size`` is not a positive integer.

    Example:
        >>> measure_peak(2048, repeats=3, seed=0)["float64"]["gflops"]
    """
    size = checks.positive_int("size", size)
    rng = np.random.default_rng(seed)
    peak = {}
    for dtype in ("float64", "float32"):
        a = rng.standard_normal((size, size)).astype(dtype)
        b = rng.standard_normal((size, size)).astype(dtype)
        seconds = _best(lambda: a @ b, repeats)
        peak[dtype] = {"size": size, "seconds": seconds, "gflops": 2 * size**3 / seconds / 1e9}
    return peak


def kernel_timings(x, depth, repeats):
    """Seconds of the symmetric kernels of ``x`` [N, d] per dtype, with the Gram work alone.

    Returns:
        one row per dtype: ``dtype``, ``points``, ``input_dimension``, ``depth``, ``seconds``,
        ``gram_flops``, ``gram_seconds``, ``matrix_work_share_of_time``, ``diagonal_seconds``.

    Args:
        x: inputs ``[N, d]``, finite.
        depth: hidden layers of the MLP.
        repeats: timed calls of the diagonal-only kernels (the best is kept).

    Raises:
        ValueError: non-finite inputs.

    Example:
        >>> kernel_timings(task.x_train[:2000], depth=3, repeats=3)[0]["seconds"]
    """
    x = checks.sample_matrix("x", x)
    n, d = x.shape
    rows = []
    for dtype in ("float64", "float32"):
        inputs = x.astype(dtype)
        hyper = dict(HYPER, depth=depth, dtype=dtype)
        start = time.perf_counter()
        kernels(inputs, None, **hyper)
        seconds = time.perf_counter() - start
        strips = [(s, min(s + _ROW_BLOCK, n)) for s in range(0, n, _ROW_BLOCK)]
        gram_flops = sum(2.0 * (stop - s) * (n - s) * d for s, stop in strips)
        gram_seconds = _best(lambda: [inputs[s:stop] @ inputs[s:].T for s, stop in strips], 1)
        diagonal_seconds = _best(lambda: kernels(inputs, None, diagonal=True, **hyper), repeats)
        rows.append({
            "dtype": dtype, "points": n, "input_dimension": d, "depth": depth, "seconds": seconds,
            "gram_flops": gram_flops, "gram_seconds": gram_seconds,
            "matrix_work_share_of_time": gram_seconds / seconds, "diagonal_seconds": diagonal_seconds,
        })
    return rows


def ensemble_timings(x_train, y_train, x_test, depth, num_times, repeats):
    """Seconds of an ensemble curve (both covariance kinds) and of the direct route.

    Args:
        x_train [N, d], y_train [N] integer labels, x_test [M, d]: the data.
        depth: hidden layers.
        num_times: times of the curve (log-spaced from 0.1 to 1e5, the last is t = inf).
        repeats: timed calls of the one-time prediction.

    Returns:
        dict with ``kernel_seconds``, ``rows`` (per covariance: ``setup_seconds``,
        ``curve_seconds``, ``total_seconds``, ``one_time_total_seconds``,
        ``curve_over_one_time``, ``flops``, ...), ``direct_mean_seconds_per_time``,
        ``direct_curve_seconds_estimate`` and ``direct_vs_eigen_max_abs_difference``
        (the test means of the two routes agree to this).

    Raises:
        ValueError: ``num_times < 3`` or bad labels.

    Example:
        >>> ensemble_timings(x[:1000], y[:1000], x[1000:1500], depth=3, num_times=20, repeats=3)["rows"]
    """
    num_times = checks.positive_int("num_times", num_times)
    if num_times < 3:
        raise ValueError(f"num_times must be at least 3 (two finite times and inf); got {num_times}.")
    hyper = dict(HYPER, depth=depth)
    start = time.perf_counter()
    k, theta = kernels(x_train, None, **hyper)
    k_cross, theta_cross = kernels(x_test, x_train, **hyper)
    k_test = kernels(x_test, None, **hyper)[0]
    kernel_seconds = time.perf_counter() - start
    y_train = checks.integer_labels("y_train", y_train)
    targets = centred_one_hot(y_train, int(y_train.max()) + 1)
    n, m, outputs = x_train.shape[0], x_test.shape[0], targets.shape[1]
    times = np.concatenate([np.geomspace(0.1, 1e5, num_times - 1), [np.inf]])

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
        seconds = _best(lambda: model.predict(times, covariance=covariance), 1)
        one_time = _best(lambda: model.predict(times[len(times) // 2], covariance=covariance), repeats)
        total = setup_seconds + seconds
        rows.append({
            "covariance": covariance, "train_points": n, "test_points": m, "times": len(times),
            "setup_seconds": setup_seconds, "curve_seconds": seconds, "total_seconds": total,
            "one_time_total_seconds": setup_seconds + one_time,
            "curve_over_one_time": total / (setup_seconds + one_time),
            "flops": setup_flops + len(times) * per_time_flops[covariance],
        })

    def direct(t):  # E_t = I - expm(-eta t Theta / N); mean on test = Theta_xX Theta^-1 E_t Y
        decay = scipy.linalg.expm(-t * theta / n)
        return theta_cross @ scipy.linalg.solve(theta, targets - decay @ targets, assume_a="pos")

    sample = times[[len(times) // 5, 3 * len(times) // 5]]  # two finite times
    direct_seconds = _best(lambda: [direct(t) for t in sample], 1) / 2
    mean_check = float(np.abs(direct(sample[1]) - model.predict(sample[1], covariance="diagonal").mean_test).max())
    return {
        "kernel_seconds": kernel_seconds,
        "rows": rows,
        "direct_mean_seconds_per_time": direct_seconds,
        "direct_curve_seconds_estimate": direct_seconds * (len(times) - 1),
        "direct_vs_eigen_max_abs_difference": mean_check,
    }


def add_shares(data):
    """Add shares of the peak to ``data`` (with ``peak``, ``peak_after``, ``kernels``, ``ensemble``).

    The reference peak per dtype is the better of the two peak measurements (the machine is
    shared), so the shares are conservative.

    Args:
        data: the benchmark's dict: ``peak`` and ``peak_after`` (:func:`measure_peak`), ``kernels``
            (:func:`kernel_timings`) and ``ensemble`` (:func:`ensemble_timings`).

    Returns:
        ``data`` itself, with ``reference_gflops`` and the ``*_share_of_peak`` fields added.

    Example:
        >>> data = add_shares({"peak": p0, "peak_after": p1, "kernels": rows, "ensemble": timings})
    """
    reference = {dtype: max(data["peak"][dtype]["gflops"], data["peak_after"][dtype]["gflops"]) for dtype in data["peak"]}
    data["reference_gflops"] = reference
    for row in data["kernels"]:
        row["gram_share_of_peak"] = row["gram_flops"] / row["gram_seconds"] / 1e9 / reference[row["dtype"]]
        row["overall_share_of_peak"] = row["gram_flops"] / row["seconds"] / 1e9 / reference[row["dtype"]]
    for row in data["ensemble"]["rows"]:
        row["share_of_peak"] = row["flops"] / row["total_seconds"] / 1e9 / reference["float64"]
    return data


def benchmark_markdown(data):
    """``benchmark_ntk.md`` from the benchmark's JSON (after :func:`add_shares`).

    Args:
        data: the benchmark's dict after :func:`add_shares`, with ``provenance["machine"]``.

    Returns:
        Markdown text.

    Example:
        >>> write_text("benchmark_ntk.md", benchmark_markdown(add_shares(data)))
    """
    peak, size = data["reference_gflops"], data["peak"]["float64"]["size"]
    diagonal = next(row for row in data["ensemble"]["rows"] if row["covariance"] == "diagonal")
    eigen_per_time = diagonal["curve_seconds"] / diagonal["times"]
    ensemble = data["ensemble"]
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
        markdown_table(ensemble["rows"], [
            ("covariance", "covariance"), ("train_points", "N train"), ("test_points", "M test"), ("times", "times"),
            ("setup_seconds", "eigendecomposition s"), ("curve_seconds", "all times s"), ("total_seconds", "total s"),
            ("curve_over_one_time", "cost vs one time"), ("share_of_peak", "share of peak"),
        ], digits=3),
        f"\nDirect route (matrix exponential + solve per time, test mean only): "
        f"{ensemble['direct_mean_seconds_per_time']:.2f} s per time "
        f"({ensemble['direct_mean_seconds_per_time'] / eigen_per_time:.0f} times the eigenbasis route's "
        f"{eigen_per_time:.2f} s per time with diagonal covariances), about "
        f"{ensemble['direct_curve_seconds_estimate']:.0f} s for the finite times of the curve "
        f"(max |difference| of the means {ensemble['direct_vs_eigen_max_abs_difference']:.1e}).\n",
    ]
    return "\n".join(lines)
