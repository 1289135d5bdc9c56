"""Benchmark vdualib.ib.curve against the ``embo`` package's InformationBottleneck, side by side in one run.

Problems: the dualIB toy problem (1000 betas in [2, 64]) and a random 256 x 16 joint
(Dirichlet(1) cells, seeded; 200 betas in [1, 100]). vdualib sweeps beta = geomspace. Its default,
``direction="best"``, runs annealing down, annealing up and a fresh ``solve`` at every beta and
keeps per beta the lowest Lagrangian; ``direction="down"`` is the single, fastest run. embo's API
only takes a linear grid ``linspace(minbeta, maxbeta, numbeta)``, solves each beta from
``restarts`` random starts (its defaults: 3 restarts, <= 100 iterations, relative cost tolerance
1e-3) and drops points that make its curve non-monotone.

Curve height is compared at matched I(X;X_hat): each embo point (I_X, I_Y) against vdualib's
curve linearly interpolated at the same I_X (a chord, so slightly below the true concave curve).
``embo_minus_vdualib_max`` > 0 means embo found a higher point. Information in bits.
embo is a benchmark-only dependency (``pip install embo``, or the ``[bench]`` extra); it reads
NumPy's global random state, which this script seeds. vdualib limits BLAS to one thread inside
its solver (its products are small; contended BLAS threads slow them down many times); embo is
timed both with the default BLAS threads and with one BLAS thread (threadpoolctl), and the
speed-up is taken against the faster of the two. Every timing is the fastest of ``--repeats``
runs; the load average before and after is recorded, since the machine may be shared.

Writes ``benchmark_ib.json`` (everything measured, with provenance) and renders
``benchmark_ib.md`` from it.
"""

import argparse
import os
import time
from importlib import metadata

import numpy as np

from vdualib import ib
from vdualib.reports import markdown_table, provenance, read_json, recorded_path, write_json, write_text

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ib")


def problems(seed):
    rng = np.random.default_rng(seed)
    return {
        "toy 5x2, 1000 betas": (ib.toy_problem().joint(), 2.0, 64.0, 1000),
        "random 256x16, 200 betas": (rng.dirichlet(np.ones(256 * 16)).reshape(256, 16), 1.0, 100.0, 200),
    }


def fastest(work, repeats):
    """(fastest wall-clock seconds of ``repeats`` calls of ``work()``, the last call's result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_vdualib(pxy, beta_min, beta_max, n_betas, direction, tol, max_iter, stride, seed, repeats):
    betas = np.geomspace(beta_min, beta_max, n_betas)
    seconds, result = fastest(lambda: ib.curve(pxy, betas, direction=direction, tol=tol, max_iter=max_iter,
                                               stride=stride, seed=seed), repeats)
    return seconds, result


def run_embo(pxy, beta_min, beta_max, n_betas, seed, repeats, blas_threads=None):
    """(seconds, I_X, I_Y) of embo's curve; ``blas_threads`` limits BLAS threads (None: default)."""
    from embo import InformationBottleneck
    from threadpoolctl import threadpool_limits

    def work():
        np.random.seed(seed)  # embo draws its random starts from NumPy's global state
        solver = InformationBottleneck(pxy=pxy.copy(), minbeta=beta_min, maxbeta=beta_max, numbeta=n_betas,
                                       processes=1)
        return solver.get_bottleneck()

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        seconds, (ixt, ity, _, _) = fastest(work, repeats)
    return seconds, np.asarray(ixt, float), np.asarray(ity, float)


def height_difference(reference_ixt, reference_ity, ixt, ity):
    """ity - reference curve interpolated at ixt, for finite points inside the reference's I_X range (bits)."""
    order = np.argsort(reference_ixt)
    inside = np.isfinite(ixt) & np.isfinite(ity) & (ixt >= reference_ixt.min()) & (ixt <= reference_ixt.max())
    return ity[inside] - np.interp(ixt[inside], reference_ixt[order], reference_ity[order])


def configurations(args):
    """vdualib settings timed on every problem: label -> (direction, tol, max_iter, stride)."""
    accurate = f"tol {args.tol:g}, max_iter {args.max_iter}"
    fast = f"tol {args.fast_tol:g}, max_iter {args.fast_max_iter}"
    return {
        f"best (default), {accurate}": ("best", args.tol, args.max_iter, 1),
        f"best, {accurate}, stride {args.stride}": ("best", args.tol, args.max_iter, args.stride),
        f"down, {accurate}": ("down", args.tol, args.max_iter, 1),
        f"down, {fast}, stride {args.stride}": ("down", args.fast_tol, args.fast_max_iter, args.stride),
    }


def run(args):
    load_before = os.getloadavg()
    records = []
    for name, (pxy, beta_min, beta_max, n_betas) in problems(args.seed).items():
        embo_default_seconds, embo_ixt, embo_ity = run_embo(pxy, beta_min, beta_max, n_betas, args.seed, args.repeats)
        embo_single_seconds, _, _ = run_embo(pxy, beta_min, beta_max, n_betas, args.seed, args.repeats, blas_threads=1)
        embo_seconds = min(embo_default_seconds, embo_single_seconds)
        best_objective = None
        for label, (direction, tol, max_iter, stride) in configurations(args).items():
            seconds, result = run_vdualib(pxy, beta_min, beta_max, n_betas, direction, tol, max_iter, stride,
                                          args.seed, args.repeats)
            if best_objective is None:
                best_objective = result.objective  # the default's Lagrangian, the reference of the others
            difference = height_difference(result.ixt, result.ity, embo_ixt, embo_ity)
            records.append({
                "problem": name,
                "solver": label,
                "direction": direction,
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
                "vdualib_ixt_range": [float(result.ixt.min()), float(result.ixt.max())],
                "vdualib_iterations": int(result.n_iter.sum()),
                "vdualib_converged_fraction": float(result.converged.mean()),
                "lagrangian_above_default_max": float(np.max(result.objective - best_objective)),
                "origins": {origin: int(np.sum(result.origin == origin)) for origin in np.unique(result.origin)},
                "vdualib_max_ity": float(result.ity.max()),
                "embo_max_ity": float(embo_ity.max()),
                "ixy": ib.mutual_information_bits(pxy),
            })
    return {
        "records": records,
        "settings": {**vars(args), "out_dir": recorded_path(args.out_dir)},
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0], "cores": os.cpu_count()},
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
        ("lagrangian_above_default_max", "max Lagrangian above the default's [bits]"),
        ("vdualib_iterations", "vdualib map evaluations"),
        ("vdualib_converged_fraction", "vdualib converged"),
    ]
    rows = [{**row, "embo_points_compared": f"{row['embo_points_compared']} of {row['embo_points_returned']}"}
            for row in data["records"]]
    text = markdown_table(rows, columns, digits=4)
    machine = data["provenance"]["machine"]
    embo_version = data["provenance"]["embo_version"]
    load = data["load_average"]
    note = data["settings"].get("machine_note") or "shared with other jobs"
    text += (f"\nMeasured side by side in one invocation on {machine} ({note}; load average {load['before']:.1f} before and "
             f"{load['after']:.1f} after, on {load['cores']} cores): absolute times are inflated by the load, the "
             f"ratios compare runs made under the same load. Each time is the fastest of "
             f"{data['settings']['repeats']} run(s). embo {embo_version} with its default settings, timed with the "
             "default BLAS threads and with one BLAS thread; the faster time is used. Negative differences: "
             "vdualib's curve is higher. \"best\" runs annealing down, annealing up and a fresh solve at every beta "
             "and keeps the lowest Lagrangian I(X;X̂) + β E[d] per beta; the last column but two is how far each "
             "setting's Lagrangian rises above the default's.\n")
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
    parser.add_argument("--repeats", type=int, default=1, help="time each run this many times and keep the fastest")
    parser.add_argument("--machine-note", default="shared with other jobs",
                        help="what else runs on the machine, printed under the table")
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
