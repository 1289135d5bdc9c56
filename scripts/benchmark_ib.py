"""Benchmark vdualib.ib.curve against the ``embo`` package's InformationBottleneck, side by side in one run.

Problems: the dualIB toy problem (1000 betas in [2, 64]) and a random 256 x 16 joint
(Dirichlet(1) cells, seeded; 200 betas in [1, 100]), each solved with the IB and the dualIB;
vdualib sweeps beta = geomspace. Its default, ``direction="best"``, runs annealing down,
annealing up and a fresh ``solve`` at every beta and keeps per beta the lowest Lagrangian (on
large problems, such as the 256 x 16 one, the down run goes first and the other two stop at a
beta once provably above its Lagrangian there);
``direction="down"`` is the single, fastest run. The default row uses the benchmark's tolerance
(``--tol``) with the library's own iteration cap; the row "max_iter 300" repeats the settings of
the previous default row. embo's API only takes a linear grid ``linspace(minbeta, maxbeta,
numbeta)``, solves each beta from ``restarts`` random starts (its defaults: 3 restarts, <= 100
iterations, relative cost tolerance 1e-3) and drops points that make its curve non-monotone; it
solves the IB only, so the dualIB rows compare vdualib's dualIB sweep with embo's IB sweep.

Checks recorded with every vdualib row:

- convergence: the fraction of betas whose returned solution converged to ``tol``, and every
  other beta by name with its residual max |Δ p(x_hat|x)| (``IBCurve.unconverged``);
- the Lagrangian against the previous default: ``benchmark_ib_reference.json`` holds, per problem
  and method, the Lagrangian of every beta computed by the code before this version (written by
  ``--reference COMMIT``, which runs that commit's ``vdualib.ib.curve`` with the same settings);
  a row reports the largest excess over it and how many betas exceed it by more than 1e-9 bits;
- curve height at matched I(X;X_hat): each embo point (I_X, I_Y) against vdualib's IB curve
  linearly interpolated at the same I_X (a chord, so slightly below the true concave curve);
  ``embo_minus_vdualib_max`` > 0 means embo found a higher point. Information in bits.

How the cost grows: random |X| x 16 joints for |X| from 64 to 4096, vdualib's default IB curve
over geomspace(1, 100, n) with n = 200 betas up to |X| = 256 and fewer above (the work per beta
grows like |X|^2; the IBCurve of 200 betas at |X| = 4096 would not fit in memory), embo on the
same n betas up to ``--embo-max-size``. Seconds per beta are compared; ``benchmark_ib_scaling.png``
plots them.

embo is a benchmark-only dependency (``pip install embo``, or the ``[bench]`` extra); it reads
NumPy's global random state, which this script seeds. vdualib limits BLAS to one thread inside
its solver; embo is timed both with the default BLAS threads and with one BLAS thread
(threadpoolctl), and the speed-up is taken against the faster of the two. Every timing is the
fastest of ``--repeats`` runs; the load average before and after is recorded, since the machine
may be shared.

Writes ``benchmark_ib.json`` (everything measured, with provenance) and renders
``benchmark_ib.md`` and ``benchmark_ib_scaling.png`` from it.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata

import numpy as np

from vdualib import cli, ib
from vdualib.reports import markdown_table, provenance, read_json, recorded_path, write_json, write_text

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ib")
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_NAME = "benchmark_ib_reference.json"
METHODS = ("ib", "dualib")
SLACK = 1e-9  # bits a Lagrangian may exceed the previous default's before it counts as higher
SCALING_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)
SCALING_Y = 16


def problems(seed):
    """name -> (pxy, beta_min, beta_max, n_betas) of the two benchmark problems."""
    rng = np.random.default_rng(seed)
    return {
        "toy 5x2, 1000 betas": (ib.toy_problem().joint(), 2.0, 64.0, 1000),
        "random 256x16, 200 betas": (rng.dirichlet(np.ones(256 * 16)).reshape(256, 16), 1.0, 100.0, 200),
    }


def scaling_problem(n_x, seed):
    """A random joint [n_x, 16] with Dirichlet(1) cells (the 256 x 16 problem's recipe at another size)."""
    rng = np.random.default_rng([seed, n_x])
    return rng.dirichlet(np.ones(n_x * SCALING_Y)).reshape(n_x, SCALING_Y)


def scaling_betas(n_x):
    """Betas solved at size n_x: 200 up to |X| = 256, then ~200 (256 / |X|)^2, at least 8."""
    return int(max(8, min(200, round(200 * (256 / n_x) ** 2))))


def fastest(work, repeats):
    """(fastest wall-clock seconds of ``repeats`` calls of ``work()``, the last call's result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_vdualib(pxy, betas, method, settings, seed, repeats):
    """(seconds, IBCurve) of ``ib.curve`` with ``settings`` (direction, tol, max_iter, stride; max_iter
    None: the library's default; ``blas_threads`` "default": BLAS keeps its own thread count instead of
    the one thread the solver sets)."""
    kwargs = {key: value for key, value in settings.items() if value is not None and key != "blas_threads"}
    if settings.get("blas_threads") != "default":
        return fastest(lambda: ib.curve(pxy, betas, method=method, seed=seed, **kwargs), repeats)
    curve_module = sys.modules["vdualib.ib.curve"]
    limit = curve_module.single_threaded_blas
    curve_module.single_threaded_blas = contextlib.nullcontext
    try:
        return fastest(lambda: ib.curve(pxy, betas, method=method, seed=seed, **kwargs), repeats)
    finally:
        curve_module.single_threaded_blas = limit


def embo_version():
    """The installed embo's version; SystemExit saying how to install it when it is missing."""
    try:
        return metadata.version("embo")
    except metadata.PackageNotFoundError:
        raise SystemExit("benchmark_ib times embo, which is not installed: pip install -e '.[bench]' "
                         "(or pip install embo).") from None


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
    """vdualib settings timed on every problem: label -> (settings, which reference they compare with)."""
    accurate = f"tol {args.tol:g}"
    return {
        f"best (default), {accurate}": (dict(direction="best", tol=args.tol, max_iter=None, stride=None), "default"),
        f"best, {accurate}, max_iter {args.capped_max_iter} (the previous default row)":
            (dict(direction="best", tol=args.tol, max_iter=args.capped_max_iter, stride=None), "capped"),
        f"best (default), {accurate}, BLAS threads not limited":
            (dict(direction="best", tol=args.tol, max_iter=None, stride=None, blas_threads="default"), "default"),
        f"down, {accurate}": (dict(direction="down", tol=args.tol, max_iter=None, stride=None), "default"),
        f"down, tol {args.fast_tol:g}, max_iter {args.fast_max_iter}, stride {args.stride}":
            (dict(direction="down", tol=args.fast_tol, max_iter=args.fast_max_iter, stride=args.stride), "default"),
    }


def reference_objective(reference, problem, method, kind):
    """The previous default's Lagrangians [n_betas] (bits) for ``problem``/``method`` (``kind``: "default" or
    "capped"), or None when the reference does not hold them."""
    if reference is None or problem not in reference["problems"]:
        return None
    entry = reference["problems"][problem]
    entry = entry if kind == "default" else entry.get("capped", {})
    return np.asarray(entry[method]["objective"]) if method in entry else None


def compare_with_reference(objective, previous):
    """Largest excess of ``objective`` over ``previous`` (bits) and how many betas exceed it by more than SLACK."""
    if previous is None:
        return {"lagrangian_above_previous_default_max": None, "betas_above_previous_default": None}
    excess = objective - previous
    return {"lagrangian_above_previous_default_max": float(excess.max()),
            "betas_above_previous_default": int(np.sum(excess > SLACK))}


def curve_record(name, method, label, seconds, result, embo, previous, pxy):
    """One JSON row: timing against embo, convergence, Lagrangian against the previous default, curve height."""
    embo_seconds, embo_default_seconds, embo_single_seconds, embo_ixt, embo_ity = embo
    record = {
        "problem": name,
        "method": method,
        "solver": label,
        "vdualib_seconds": seconds,
        "embo_seconds": embo_seconds,
        "embo_seconds_default_blas": embo_default_seconds,
        "embo_seconds_one_blas_thread": embo_single_seconds,
        "speedup": embo_seconds / seconds,
        "vdualib_iterations": int(result.n_iter.sum()),
        "vdualib_converged_fraction": float(result.converged.mean()),
        "tol": result.tol,
        "unconverged": [{"beta": beta, "residual": residual} for beta, residual in result.unconverged],
        "origins": {str(origin): int(np.sum(result.origin == origin)) for origin in np.unique(result.origin)},
        "vdualib_ixt_range": [float(result.ixt.min()), float(result.ixt.max())],
        "vdualib_max_ity": float(result.ity.max()),
        "ixy": ib.mutual_information_bits(pxy),
        "load_average_after": os.getloadavg()[0],
        **compare_with_reference(result.objective, previous),
    }
    if method == "ib":  # embo solves the IB: compare the curves' heights
        difference = height_difference(result.ixt, result.ity, embo_ixt, embo_ity)
        record.update({
            "embo_minus_vdualib_max": float(difference.max()) if difference.size else None,
            "embo_minus_vdualib_mean": float(difference.mean()) if difference.size else None,
            "embo_points_compared": int(difference.size),
            "embo_points_returned": int(embo_ixt.size),
            "embo_max_ity": float(embo_ity.max()),
        })
    return record


def run_problems(args, reference):
    records = []
    for name, (pxy, beta_min, beta_max, n_betas) in problems(args.seed).items():
        embo_default, embo_ixt, embo_ity = run_embo(pxy, beta_min, beta_max, n_betas, args.seed, args.repeats)
        embo_single, _, _ = run_embo(pxy, beta_min, beta_max, n_betas, args.seed, args.repeats, blas_threads=1)
        embo = (min(embo_default, embo_single), embo_default, embo_single, embo_ixt, embo_ity)
        betas = np.geomspace(beta_min, beta_max, n_betas)
        for method in METHODS:
            for label, (settings, kind) in configurations(args).items():
                seconds, result = run_vdualib(pxy, betas, method, settings, args.seed, args.repeats)
                previous = reference_objective(reference, name, method, kind)
                records.append(curve_record(name, method, label, seconds, result, embo, previous, pxy))
                print(f"{name} {method} {label}: {seconds:.2f} s, {records[-1]['speedup']:.1f}x embo", flush=True)
    return records


def run_scaling(args):
    """Seconds per beta of vdualib's default IB curve and of embo against |X| (see the module docstring)."""
    rows, start = [], time.perf_counter()
    for n_x in args.scaling_sizes:
        pxy, n_betas = scaling_problem(n_x, args.seed), scaling_betas(n_x)
        spent = time.perf_counter() - start
        # A size's curve costs about the previous size's times (|X| ratio)^2 per beta (the map's products).
        measured = [row for row in rows if "skipped" not in row]
        predicted = (measured[-1]["vdualib_seconds_per_beta"] * (n_x / measured[-1]["n_x"]) ** 2 * n_betas
                     if measured else 0.0)
        if args.scaling_budget is not None and spent + predicted > args.scaling_budget:
            rows.append({"n_x": n_x, "n_y": SCALING_Y, "n_betas": n_betas,
                         "skipped": f"not run: the smaller sizes had used {spent:.0f} s of the study's "
                                    f"{args.scaling_budget:g} s budget (--scaling-budget), and this size was "
                                    f"predicted to take {predicted:.0f} s more"})
            print(f"scaling |X|={n_x}: {rows[-1]['skipped']}", flush=True)
            continue
        seconds, result = run_vdualib(pxy, np.geomspace(1.0, 100.0, n_betas), "ib",
                                      dict(direction="best", tol=args.tol, max_iter=None, stride=None), args.seed, 1)
        row = {"n_x": n_x, "n_y": SCALING_Y, "n_betas": n_betas, "vdualib_seconds": seconds,
               "vdualib_seconds_per_beta": seconds / n_betas,
               "vdualib_converged_fraction": float(result.converged.mean()),
               "vdualib_iterations": int(result.n_iter.sum()), "embo_seconds": None, "embo_seconds_per_beta": None}
        del result
        if n_x <= args.embo_max_size:
            embo_seconds, _, _ = run_embo(pxy, 1.0, 100.0, n_betas, args.seed, 1, blas_threads=1)
            row.update(embo_seconds=embo_seconds, embo_seconds_per_beta=embo_seconds / n_betas)
        rows.append(row)
        print(f"scaling |X|={n_x}: vdualib {row['vdualib_seconds_per_beta']:.3g} s/beta, "
              f"embo {row['embo_seconds_per_beta']} s/beta", flush=True)
    return rows


def run(args):
    load_before = os.getloadavg()
    reference_path = os.path.join(args.out_dir, REFERENCE_NAME)
    reference = read_json(reference_path) if os.path.exists(reference_path) else None
    records = run_problems(args, reference)
    scaling = run_scaling(args) if args.scaling_sizes else []
    return {
        "records": records,
        "scaling": scaling,
        "reference": None if reference is None else {"commit": reference["commit"], "settings": reference["settings"],
                                                     "capped_settings": reference["capped_settings"]},
        "settings": {**vars(args), "out_dir": recorded_path(args.out_dir)},
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0], "cores": os.cpu_count()},
        "provenance": provenance(embo_version=embo_version()),
    }


REFERENCE_SCRIPT = """
import json, sys, time
import numpy as np
from vdualib import ib
from scripts.benchmark_ib import problems
seed, tol, max_iter, name, method = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
pxy, beta_min, beta_max, n_betas = problems(seed)[name]
start = time.perf_counter()
result = ib.curve(pxy, np.geomspace(beta_min, beta_max, n_betas), method=method, tol=tol, max_iter=max_iter, seed=seed)
print(json.dumps({"objective": result.objective.tolist(), "converged": result.converged.tolist(),
                  "seconds": time.perf_counter() - start, "vdualib": ib.__file__}))
"""


def build_reference(args):
    """Write benchmark_ib.json's reference: every beta's Lagrangian from ``vdualib.ib.curve`` as of
    ``args.reference`` (a commit), run in a subprocess on that commit's package, with the default row's
    settings (tol ``--tol``, max_iter 10000, the library default then) and with the previous default
    row's (max_iter ``--capped-max-iter``)."""
    commit = subprocess.run(["git", "rev-parse", args.reference], cwd=REPOSITORY, check=True, capture_output=True,
                            text=True).stdout.strip()
    settings = {"direction": "best", "tol": args.tol, "max_iter": 10_000, "seed": args.seed}
    capped = {**settings, "max_iter": args.capped_max_iter}
    data = {
        "description": "Per beta, the Lagrangian I(X;X_hat) + beta E[d] (bits) of vdualib.ib.curve's default "
                       "(direction='best') at the commit below, the code before the batched solver; "
                       "'capped' holds the same with the previous benchmark row's iteration cap.",
        "commit": commit, "settings": settings, "capped_settings": capped, "problems": {},
        "provenance": provenance(),
    }
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "archive", commit, "vdualib"], cwd=REPOSITORY, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, REPOSITORY])}
        for name, (_, beta_min, beta_max, n_betas) in problems(args.seed).items():
            entry = data["problems"].setdefault(name, {"beta_min": beta_min, "beta_max": beta_max, "n_betas": n_betas,
                                                       "capped": {}})
            for method in METHODS:
                for target, run_settings in ((entry, settings), (entry["capped"], capped)):
                    output = subprocess.run(  # run in the archive: python -c puts the working folder first
                        [sys.executable, "-c", REFERENCE_SCRIPT, str(args.seed), repr(args.tol),
                         str(run_settings["max_iter"]), name, method],
                        cwd=tree, env=env, check=True, capture_output=True, text=True).stdout
                    result = json.loads(output.strip().splitlines()[-1])
                    if not result.pop("vdualib").startswith(tree):
                        raise RuntimeError("the reference run did not import the archived package")
                    target[method] = result
                    print(f"reference {name} {method} max_iter {run_settings['max_iter']}: "
                          f"{result['seconds']:.1f} s", flush=True)
    write_json(os.path.join(args.out_dir, REFERENCE_NAME), data)


def _format(value, digits=4):
    return "n/a" if value is None else f"{value:.{digits}g}"


def render(data, out_dir):
    columns = [
        ("problem", "problem"),
        ("method", "method"),
        ("solver", "vdualib setting"),
        ("vdualib_seconds", "vdualib [s]"),
        ("embo_seconds", "embo IB [s] (faster BLAS setting)"),
        ("speedup", "speed-up (embo / vdualib)"),
        ("vdualib_converged_fraction", "converged"),
        ("unconverged_listed", "unconverged betas (residual)"),
        ("lagrangian_above_previous_default_max", "max Lagrangian above the previous default [bits]"),
        ("betas_above_previous_default", "betas above it by > 1e-9 bits"),
        ("embo_minus_vdualib_max", "max I(X̂;Y) embo − vdualib at matched I(X;X̂) [bits]"),
        ("vdualib_iterations", "map evaluations"),
    ]
    rows = []
    for row in data["records"]:
        listed = ", ".join(f"{item['beta']:.4g} ({item['residual']:.1e})" for item in row["unconverged"][:5])
        if len(row["unconverged"]) > 5:
            listed += f" and {len(row['unconverged']) - 5} more"
        rows.append({**row, "unconverged_listed": listed or "none",
                     "embo_minus_vdualib_max": row.get("embo_minus_vdualib_max"),
                     "lagrangian_above_previous_default_max": row["lagrangian_above_previous_default_max"],
                     "betas_above_previous_default": row["betas_above_previous_default"]})
    text = markdown_table(rows, columns, digits=4)
    machine = data["provenance"]["machine"]
    embo_version = data["provenance"]["embo_version"]
    load = data["load_average"]
    note = data["settings"].get("machine_note") or "shared with other jobs"
    reference = data.get("reference")
    text += (f"\nMeasured side by side in one invocation on {machine} ({note}; load average {load['before']:.1f} before "
             f"and {load['after']:.1f} after, on {load['cores']} cores): absolute times are inflated by the load, the "
             f"ratios compare runs made under the same load. Each time is the fastest of "
             f"{data['settings']['repeats']} run(s). embo {embo_version} (IB only) with its default settings, timed "
             "with the default BLAS threads and with one BLAS thread; the faster time is used, also for the dualIB "
             "rows. \"best\" runs annealing down, annealing up and a fresh solve at every beta and keeps the lowest "
             "Lagrangian I(X;X̂) + β E[d] per beta; on the 256x16 problem (|X| N >= 4096) the down run goes first, and "
             "the fresh solves and the up run stop at a beta, after a few map evaluations, once their free energy (a lower "
             "bound of their current Lagrangian) is above the down run's Lagrangian there. Unconverged betas are those "
             "whose returned solution moved more than tol at its last application of the equations.")
    if reference is not None:
        text += (f" The previous default is vdualib.ib.curve at commit {reference['commit'][:12]} with the same "
                 f"tolerance and max_iter {reference['settings']['max_iter']} (the row with max_iter "
                 f"{reference['capped_settings']['max_iter']}: with that cap), from {REFERENCE_NAME}.")
    text += "\n"
    if data.get("scaling"):
        scaling_columns = [
            ("n_x", "|X|"), ("n_y", "|Y|"), ("n_betas", "betas"),
            ("vdualib_seconds", "vdualib [s]"), ("vdualib_seconds_per_beta", "vdualib [s/beta]"),
            ("embo_seconds", "embo [s]"), ("embo_seconds_per_beta", "embo [s/beta]"),
            ("speedup", "speed-up"), ("vdualib_converged_fraction", "converged"),
        ]
        measured = [row for row in data["scaling"] if "skipped" not in row]
        scaling_rows = [{**row, "speedup": (row["embo_seconds_per_beta"] / row["vdualib_seconds_per_beta"]
                                            if row["embo_seconds_per_beta"] else None),
                         **{key: _format(row[key]) for key in ("embo_seconds", "embo_seconds_per_beta")}}
                        for row in measured]
        text += ("\n### Cost against |X|\n\nRandom |X| x 16 joints (Dirichlet(1) cells), vdualib's default IB curve "
                 "(tol " + f"{data['settings']['tol']:g}" + ") over geomspace(1, 100, betas) and embo over "
                 "linspace(1, 100, betas); fewer betas above |X| = 256 (the work per beta grows like |X|², and the "
                 "curve of 200 betas would not fit in memory at |X| = 4096), one run each.\n\n")
        text += markdown_table(scaling_rows, scaling_columns, digits=4)
        embo_max = data["settings"].get("embo_max_size")
        if embo_max is not None and any(row["n_x"] > embo_max for row in measured):
            text += f"\nembo was timed up to |X| = {embo_max} (`--embo-max-size`); above it, n/a.\n"
        for row in data["scaling"]:
            if "skipped" in row:
                text += f"\n|X| = {row['n_x']}: {row['skipped']}.\n"
        plot_scaling(measured, os.path.join(out_dir, "benchmark_ib_scaling.png"))
    write_text(os.path.join(out_dir, "benchmark_ib.md"), text)


def plot_scaling(rows, path):
    """Log-log plot of seconds per beta against |X| for vdualib's default IB curve and embo (PNG)."""
    import matplotlib.pyplot as plt

    from vdualib.reports import atomic_path

    sizes = np.array([row["n_x"] for row in rows])
    figure, axis = plt.subplots(figsize=(5.5, 4.0))
    axis.loglog(sizes, [row["vdualib_seconds_per_beta"] for row in rows], "o-", label="vdualib.ib.curve (default)")
    embo = [(row["n_x"], row["embo_seconds_per_beta"]) for row in rows if row["embo_seconds_per_beta"]]
    if embo:
        axis.loglog(*zip(*embo), "s--", label="embo InformationBottleneck")
    axis.set_xlabel("|X| (|Y| = 16)")
    axis.set_ylabel("seconds per beta")
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    axis.set_title("IB curve cost against |X|")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)


def build_parser():
    parser = cli.ArgumentParser(
        prog="benchmark_ib",
        description="Time vdualib.ib.curve against embo's InformationBottleneck on the toy and a random 256x16 "
        "problem and against |X|; check convergence and the Lagrangian against the previous default; write JSON, "
        "a Markdown table and a PNG.",
    )
    parser.add_argument("--out-dir", default=DEFAULT_OUT, help="output folder (default: scripts/results/ib)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-8, help="vdualib encoder tolerance")
    parser.add_argument("--capped-max-iter", type=int, default=300,
                        help="iteration cap of the row repeating the previous default row's settings")
    parser.add_argument("--fast-tol", type=float, default=1e-6, help="vdualib encoder tolerance (fast setting)")
    parser.add_argument("--fast-max-iter", type=int, default=100)
    parser.add_argument("--stride", type=int, default=8,
                        help="vdualib.ib.curve stride of the fast setting (anneal every stride-th beta, batch the rest)")
    parser.add_argument("--repeats", type=int, default=2, help="time each run this many times and keep the fastest")
    parser.add_argument("--scaling-sizes", type=int, nargs="*", default=list(SCALING_SIZES),
                        help="|X| of the scaling study (none: skip it)")
    parser.add_argument("--embo-max-size", type=int, default=1024, help="largest |X| embo is timed on")
    parser.add_argument("--scaling-budget", type=float, default=900.0,
                        help="seconds the scaling study may spend; a size predicted (from the previous one) to overrun "
                             "it is not run, and recorded as skipped (default 900)")
    parser.add_argument("--machine-note", default="shared with other jobs",
                        help="what else runs on the machine, printed under the table")
    parser.add_argument("--reference", metavar="COMMIT",
                        help="instead of benchmarking, write benchmark_ib_reference.json from COMMIT's vdualib.ib.curve")
    parser.add_argument("--render-only", action="store_true", help="rewrite the Markdown and PNG from the existing JSON")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.reference:
        build_reference(args)
        return
    json_path = os.path.join(args.out_dir, "benchmark_ib.json")
    if not args.render_only:
        embo_version()  # before any timing: a missing embo is reported at once, not after the vdualib runs
        write_json(json_path, run(args))
    data = read_json(json_path)
    render(data, args.out_dir)
    print(open(os.path.join(args.out_dir, "benchmark_ib.md"), encoding="utf-8").read())


if __name__ == "__main__":
    main()
