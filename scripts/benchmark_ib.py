"""Benchmark vdualib.ib.curve against the ``embo`` package's InformationBottleneck, side by side in one run.

Problems: the dualIB toy problem (1000 betas in [2, 64]) and a random 256 x 16 joint
(Dirichlet(1) cells, seeded; 200 betas in [1, 100]). vdualib sweeps beta = geomspace (annealing
down, warm starts); embo's API only takes a linear grid ``linspace(minbeta, maxbeta, numbeta)``,
solves each beta from ``restarts`` random starts (its defaults: 3 restarts, <= 100 iterations,
relative cost tolerance 1e-3) and drops points that make its curve non-monotone.

Curve height is compared at matched I(X;X_hat): each embo point (I_X, I_Y) against vdualib's
curve linearly interpolated at the same I_X (a chord, so slightly below the true concave curve).
``embo_minus_vdualib_max`` > 0 means embo found a higher point. Information in bits.
embo is a benchmark-only dependency (``pip install embo``); it reads NumPy's global random
state, which this script seeds. vdualib limits BLAS to one thread inside its solver (its products
are small; contended BLAS threads slow them down many times); embo is timed both with the default
BLAS threads and with one BLAS thread (threadpoolctl), and the speed-up is taken against the
faster of the two.

Writes ``benchmark_ib.json`` (everything measured, with provenance) and renders
``benchmark_ib.md`` from it.
"""

import argparse
import os
import time
from importlib import metadata

import numpy as np

from vdualib import ib
from vdualib.reports import markdown_table, provenance, read_json, write_json, write_text

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ib")


def problems(seed):
    rng = np.random.default_rng(seed)
    return {
        "toy 5x2, 1000 betas": (ib.toy_problem().joint(), 2.0, 64.0, 1000),
        "random 256x16, 200 betas": (rng.dirichlet(np.ones(256 * 16)).reshape(256, 16), 1.0, 100.0, 200),
    }


def run_vdualib(pxy, beta_min, beta_max, n_betas, tol, max_iter, stride, seed):
    start = time.perf_counter()
    result = ib.curve(pxy, np.geomspace(beta_min, beta_max, n_betas), tol=tol, max_iter=max_iter, stride=stride,
                      seed=seed)
    seconds = time.perf_counter() - start
    return seconds, result.ixt, result.ity, int(result.n_iter.sum()), float(result.converged.mean())


def run_embo(pxy, beta_min, beta_max, n_betas, seed, blas_threads=None):
    """(seconds, I_X, I_Y) of embo's curve; ``blas_threads`` limits BLAS threads (None: default)."""
    from embo import InformationBottleneck
    from threadpoolctl import threadpool_limits

    np.random.seed(seed)  # embo draws its random starts from NumPy's global state
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        start = time.perf_counter()
        solver = InformationBottleneck(pxy=pxy.copy(), minbeta=beta_min, maxbeta=beta_max, numbeta=n_betas,
                                       processes=1)
        ixt, ity, _, _ = solver.get_bottleneck()
        seconds = time.perf_counter() - start
    return seconds, np.asarray(ixt, float), np.asarray(ity, float)


def height_difference(reference_ixt, reference_ity, ixt, ity):
    """ity - reference curve interpolated at ixt, for finite points inside the reference's I_X range (bits)."""
    order = np.argsort(reference_ixt)
    inside = np.isfinite(ixt) & np.isfinite(ity) & (ixt >= reference_ixt.min()) & (ixt <= reference_ixt.max())
    return ity[inside] - np.interp(ixt[inside], reference_ixt[order], reference_ity[order])


def run(args):
    configurations = {
        f"tol {args.tol:g}, max_iter {args.max_iter}": (args.tol, args.max_iter, 1),
        f"tol {args.tol:g}, max_iter {args.max_iter}, stride {args.stride}": (args.tol, args.max_iter, args.stride),
        f"tol {args.fast_tol:g}, max_iter {args.fast_max_iter}, stride {args.stride}": (
            args.fast_tol, args.fast_max_iter, args.stride),
    }
    records = []
    for name, (pxy, beta_min, beta_max, n_betas) in problems(args.seed).items():
        embo_default_seconds, embo_ixt, embo_ity = run_embo(pxy, beta_min, beta_max, n_betas, args.seed)
        embo_single_seconds, _, _ = run_embo(pxy, beta_min, beta_max, n_betas, args.seed, blas_threads=1)
        embo_seconds = min(embo_default_seconds, embo_single_seconds)
        for label, (tol, max_iter, stride) in configurations.items():
            seconds, ixt, ity, iterations, converged = run_vdualib(pxy, beta_min, beta_max, n_betas, tol, max_iter,
                                                                    stride, args.seed)
            difference = height_difference(ixt, ity, embo_ixt, embo_ity)
            records.append({
                "problem": name,
                "solver": label,
                "vdualib_seconds": seconds,
                "embo_seconds": embo_seconds,
                "embo_seconds_default_blas": embo_default_seconds,
                "embo_seconds_one_blas_thread": embo_single_seconds,
                "speedup": embo_seconds / seconds,
                "embo_minus_vdualib_max": float(difference.max()) if difference.size else float("nan"),
                "embo_minus_vdualib_mean": float(difference.mean()) if difference.size else float("nan"),
                "embo_points_compared": int(difference.size),
                "embo_points_returned": int(embo_ixt.size),
                "embo_points_finite": int(np.sum(np.isfinite(embo_ixt) & np.isfinite(embo_ity))),
                "embo_ixt_range": [float(np.nanmin(embo_ixt)), float(np.nanmax(embo_ixt))] if embo_ixt.size else None,
                "vdualib_ixt_range": [float(ixt.min()), float(ixt.max())],
                "vdualib_iterations": iterations,
                "vdualib_converged_fraction": converged,
                "vdualib_max_ity": float(ity.max()),
                "embo_max_ity": float(embo_ity.max()),
                "ixy": ib.mutual_information_bits(pxy),
            })
    return {
        "records": records,
        "settings": vars(args),
        "provenance": provenance(embo_version=metadata.version("embo")),
    }


def render(data, out_dir):
    columns = [
        ("problem", "problem"),
        ("solver", "vdualib setting"),
        ("vdualib_seconds", "vdualib [s]"),
        ("embo_seconds", "embo [s] (faster BLAS setting)"),
        ("speedup", "speed-up (embo / vdualib)"),
        ("embo_minus_vdualib_max", "max I(X̂;Y) embo − vdualib at matched I(X;X̂) [bits]"),
        ("embo_minus_vdualib_mean", "mean difference [bits]"),
        ("embo_points_compared", "embo points compared"),
        ("vdualib_iterations", "vdualib map evaluations"),
        ("vdualib_converged_fraction", "vdualib converged"),
    ]
    rows = [{**row, "embo_points_compared": f"{row['embo_points_compared']} of {row['embo_points_returned']}"}
            for row in data["records"]]
    text = markdown_table(rows, columns, digits=4)
    machine = data["provenance"]["machine"]
    embo_version = data["provenance"]["embo_version"]
    text += (f"\nOne run, side by side, on {machine} (shared with other jobs); embo {embo_version} "
             "with its default settings, timed with the default BLAS threads and with one BLAS thread; the faster "
             "time is used. Negative differences: vdualib's curve is higher.\n")
    write_text(os.path.join(out_dir, "benchmark_ib.md"), text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="benchmark_ib",
        description="Time vdualib.ib.curve against embo's InformationBottleneck on the toy and a random 256x16 "
        "problem, compare curve heights at matched I(X;X_hat); write JSON and a Markdown table.",
    )
    parser.add_argument("--out-dir", default=DEFAULT_OUT, help="output folder (default: scripts/results/ib)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-8, help="vdualib encoder tolerance (accurate setting)")
    parser.add_argument("--max-iter", type=int, default=300, help="iteration cap per beta (accurate setting)")
    parser.add_argument("--fast-tol", type=float, default=1e-6, help="vdualib encoder tolerance (fast setting)")
    parser.add_argument("--fast-max-iter", type=int, default=100)
    parser.add_argument("--stride", type=int, default=8,
                        help="vdualib.ib.curve stride of the strided settings (anneal every stride-th beta, batch the rest)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the existing JSON")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    json_path = os.path.join(args.out_dir, "benchmark_ib.json")
    if not args.render_only:
        write_json(json_path, run(args))
    data = read_json(json_path)
    render(data, args.out_dir)
    print(open(os.path.join(args.out_dir, "benchmark_ib.md"), encoding="utf-8").read())


if __name__ == "__main__":
    main()
