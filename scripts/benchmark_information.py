"""Benchmark of the mutual-information estimators: error against ground truth, and speed.

Part 1, error: each estimator on distributions with known mutual information,
at N = 1,000 and 10,000 samples, over ``--repeats`` seeds (bits):

* KSG on correlated Gaussians (I = 1/2 log(det S_x det S_y / det S)) and on
  independent Gaussians (I = 0);
* binning I(T;Y) for a binary Gaussian mixture T | Y ~ N(+-mu e_1, I_d)
  (truth by quadrature of H(Y) - E H(Y|T)), in d = 1 and d = 4;
* the KDE pairwise bounds on I(X; T+Z), X uniform over N points t_i ~ N(0, I_2),
  Z ~ N(0, s^2 I) (truth: a Monte Carlo average of log p(t_i+z|i) - log p(t_i+z)
  with the exact mixture density) and on I(T+Z; Y) for the Gaussian mixture
  (truth by quadrature with variance 1 + s^2);
* the InfoNCE lower / leave-one-out upper bounds for the Gaussian channel
  Z = X + N(0, s^2 I), X ~ N(0, I_d) (I = d/2 log(1 + 1/s^2)), one case below
  and one above log N.

Part 2, speed, measured side by side in one run: binning of 6 layers x 4,096
examples (one recorded epoch of the 12-bit study), the KDE bounds for 10,000
examples x 256 units, and the wall time of the 12-bit training loop with and
without the ``InformationPlane`` callback (binning + gradient statistics on
the study's schedule); the target is under 20% added time. Besides the ratio
of separate runs (sensitive to other load on the machine), the callback's own
time (``InformationPlane.seconds``) is compared with the rest of the same run.

Writes ``benchmark_information.json`` (with provenance) and renders
``estimator_error.md`` and ``benchmark_information.md`` from it.
"""

import argparse
import math
import os
import statistics
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(_HERE, "results", "information")
LOG2 = math.log(2.0)


# -- ground truths ---------------------------------------------------------------------------------


def gaussian_mixture_label_information(mu, variance):
    """I(T;Y) in bits for Y uniform on {0, 1}, T | Y ~ N(+-mu, variance) (the informative direction)."""
    from scipy import integrate
    from scipy.stats import norm

    scale = math.sqrt(variance)

    def integrand(t):
        p = 0.5 * norm.pdf(t, mu, scale) + 0.5 * norm.pdf(t, -mu, scale)
        q = 1.0 / (1.0 + math.exp(-2.0 * mu * t / variance))  # p(y = 1 | t)
        h = -sum(v * math.log2(v) for v in (q, 1.0 - q) if v > 0)
        return p * h

    bound = abs(mu) + 12 * scale
    conditional, _ = integrate.quad(integrand, -bound, bound, limit=200)
    return 1.0 - conditional


def mixture_index_information(points, noise_variance, draws, seed):
    """Monte Carlo truth of I(X; T+Z), X uniform over the rows of ``points``; returns (bits, standard error)."""
    import numpy as np
    from scipy.special import logsumexp

    rng = np.random.default_rng(seed)
    n, d = points.shape
    squared_norms = np.sum(points**2, axis=1)
    samples = []
    for _ in range(draws):
        noisy = points + math.sqrt(noise_variance) * rng.standard_normal(points.shape)
        for start in range(0, n, 1024):
            block = noisy[start : start + 1024]
            distances = np.sum(block**2, axis=1)[:, None] - 2 * block @ points.T + squared_norms[None, :]
            own = np.sum((block - points[start : start + 1024]) ** 2, axis=1)
            # log p(z|i) - log mean_j p(z|j); the Gaussian normaliser cancels.
            samples.append(-own / (2 * noise_variance) - logsumexp(-distances / (2 * noise_variance), axis=1) + math.log(n))
    values = np.concatenate(samples) / LOG2
    return float(values.mean()), float(values.std() / math.sqrt(values.size))


# -- the error study -------------------------------------------------------------------------------


def _cases(args):
    """(name, quantity, distribution, truth-or-None, run(n, seed) -> {label: estimate}) for each case."""
    import numpy as np

    from vdualib.information import binned_information, kde_information, ksg_mi
    from vdualib.information.variational import gaussian_encoder_bounds

    def correlated(n, dim, rho, seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, dim))
        return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, dim))

    def mixture(n, dim, mu, seed):
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, n)
        t = rng.standard_normal((n, dim))
        t[:, 0] += np.where(labels == 1, mu, -mu)
        return t, labels

    def channel(n, dim, variance, seed):
        mean = np.random.default_rng(seed).standard_normal((n, dim))
        return gaussian_encoder_bounds(mean, np.full_like(mean, math.sqrt(variance)), seed=seed + 1)

    s2 = args.noise_variance
    return [
        ("KSG (k=3)", "I(X;Y)", "Gaussian 1+1-D, rho=0.9", -0.5 * math.log2(1 - 0.81),
         lambda n, s: {"estimate": ksg_mi(*correlated(n, 1, 0.9, s))}),
        ("KSG (k=3)", "I(X;Y)", "Gaussian 4+4-D, rho=0.6 per pair", -2.0 * math.log2(1 - 0.36),
         lambda n, s: {"estimate": ksg_mi(*correlated(n, 4, 0.6, s))}),
        ("KSG (k=3)", "I(X;Y)", "independent Gaussians 4+4-D", 0.0,
         lambda n, s: {"estimate": ksg_mi(*correlated(n, 4, 0.0, s))}),
        ("binning (30 bins, observed range)", "I(T;Y)", "T|Y ~ N(+-e1, I_1)", gaussian_mixture_label_information(1.0, 1.0),
         lambda n, s: {"estimate": binned_information(*mixture(n, 1, 1.0, s), value_range=None)[1]}),
        ("binning (30 bins, observed range)", "I(T;Y)", "T|Y ~ N(+-e1, I_4)", gaussian_mixture_label_information(1.0, 1.0),
         lambda n, s: {"estimate": binned_information(*mixture(n, 4, 1.0, s), value_range=None)[1]}),
        ("KDE pairwise bounds", "I(X;T+Z)", f"X uniform on N points ~ N(0, I_2), s^2={s2}", None,
         lambda n, s: _kde_index_case(n, s, s2, args.truth_draws)),
        ("KDE pairwise bounds", "I(T+Z;Y)", f"T|Y ~ N(+-e1, I_2), s^2={s2}", gaussian_mixture_label_information(1.0, 1.0 + s2),
         lambda n, s: {k.replace("ity_", ""): v for k, v in kde_information(*mixture(n, 2, 1.0, s), s2).items() if k.startswith("ity")}),
        ("InfoNCE / leave-one-out", "I(X;Z)", "Z = X + N(0, 0.25 I_2)", math.log2(1 + 1 / 0.25),
         lambda n, s: dict(zip(("lower", "upper"), channel(n, 2, 0.25, s)))),
        ("InfoNCE / leave-one-out", "I(X;Z)", "Z = X + N(0, 0.01 I_4) (I > log N)", 2 * math.log2(1 + 1 / 0.01),
         lambda n, s: dict(zip(("lower", "upper"), channel(n, 4, 0.01, s)))),
    ]


def _kde_index_case(n, seed, noise_variance, draws):
    import numpy as np

    from vdualib.information import kde_information

    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, 2))
    estimate = kde_information(points, rng.integers(0, 2, n), noise_variance)
    truth, error = mixture_index_information(points, noise_variance, draws, seed + 7)
    return {"upper": estimate["ixt_upper"], "lower": estimate["ixt_lower"], "truth": truth, "truth_se": error}


def error_study(args):
    from tqdm import tqdm

    rows = []
    cases = _cases(args)
    for name, quantity, distribution, truth, run in tqdm(cases, desc="estimator error"):
        for n in args.sizes:
            start = time.perf_counter()
            results = [run(n, seed) for seed in range(args.repeats)]
            seconds = (time.perf_counter() - start) / args.repeats
            labels = [k for k in results[0] if k not in ("truth", "truth_se")]
            for label in labels:
                estimates = [r[label] for r in results]
                truths = [r.get("truth", truth) for r in results]  # per-sample truth where it depends on the sample
                errors = [e - t for e, t in zip(estimates, truths)]
                rows.append({
                    "estimator": name if label == "estimate" else f"{name}: {label}",
                    "quantity": quantity, "distribution": distribution, "n": n,
                    "truth": statistics.mean(truths),
                    "truth_se": max((r.get("truth_se", 0.0) for r in results), default=0.0),
                    "mean_estimate": statistics.mean(estimates),
                    "bias": statistics.mean(errors),
                    "rmse": math.sqrt(statistics.mean(e * e for e in errors)),
                    "std": statistics.stdev(estimates) if len(estimates) > 1 else 0.0,
                    "seconds": seconds,
                })
    return rows


# -- speed -----------------------------------------------------------------------------------------


def _best_of(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def speed_study(args):
    import numpy as np

    from vdualib.datasets import load_ib_12bit
    from vdualib.information import kde_information
    from vdualib.information.binning import BinningEstimator
    from vdualib.information.callback import InformationPlane, epoch_schedule
    from vdualib.information.study import build_mlp, fit_in_segments

    rng = np.random.default_rng(0)
    layers = [np.tanh(rng.standard_normal((4096, w)) * 2) for w in (10, 7, 5, 4, 3, 2)]
    labels = rng.integers(0, 2, 4096)
    estimator = BinningEstimator()
    binning_best, binning_median = _best_of(
        lambda: [estimator.information(estimator.summarize(a), labels) for a in layers], args.timing_repeats)
    points = rng.standard_normal((10_000, 256)).astype(np.float32)
    classes = rng.integers(0, 10, 10_000)
    kde_best, kde_median = _best_of(lambda: kde_information(points, classes, 1.0), max(1, args.timing_repeats // 3))

    x, y = load_ib_12bit(args.data_dir)
    x, y = x.astype(np.float32), y.astype(np.int64)
    train = np.random.default_rng(0).permutation(4096)[:3482]
    schedule = epoch_schedule(args.study_epochs)

    def study(with_callback, stops):
        """Wall seconds of one training run and the seconds its callback spent measuring."""
        model = build_mlp(12, seed=0)
        callbacks = []
        if with_callback:
            callbacks = [InformationPlane(x, y, epochs=schedule, gradient_stats=True, batch_size=4096,
                                          gradient_data=(x[train], y[train]), gradient_batch_size=512)]
        start = time.perf_counter()
        fit_in_segments(model, x[train], y[train], stops, callbacks=callbacks, seed=0)
        return time.perf_counter() - start, (callbacks[0].seconds if callbacks else 0.0)

    study(False, [0, 20])  # warm up TensorFlow
    # interleave the variants so machine load affects them alike
    plain, same_stops, with_callback, inside = [], [], [], []
    for _ in range(args.study_repeats):
        plain.append(study(False, [0, args.study_epochs])[0])
        same_stops.append(study(False, schedule)[0])
        wall, measuring = study(True, schedule)
        with_callback.append(wall)
        inside.append(measuring / (wall - measuring))
    plain_time, stops_time, callback_time = min(plain), min(same_stops), min(with_callback)
    return {
        "binning_6_layers_4096": {"best_seconds": binning_best, "median_seconds": binning_median},
        "kde_10000x256": {"best_seconds": kde_best, "median_seconds": kde_median},
        "twelve_bit_study": {
            "epochs": args.study_epochs,
            "recorded_epochs": len(schedule),
            "training_only_seconds": plain_time,
            "training_with_schedule_stops_seconds": stops_time,
            "training_with_callback_seconds": callback_time,
            "callback_overhead_ratio": callback_time / plain_time,
            "callback_overhead_ratio_same_stops": callback_time / stops_time,
            "callback_measuring_fraction": min(inside),
            "all_seconds": {"plain": plain, "same_stops": same_stops, "with_callback": with_callback},
            "all_measuring_fractions": inside,
        },
    }


def render(data, output_dir):
    from vdualib.reports import markdown_table, write_text

    columns = ["estimator", "quantity", "distribution", "n", "truth", "mean_estimate", "bias", "rmse", "std", "seconds"]
    config = data["config"]
    text = (f"Estimator error against ground truth (bits; {config['repeats']} seeds per row; "
            "bias = mean(estimate - truth); for the KDE I(X;T+Z) rows the truth is a Monte Carlo value "
            f"per sample, standard error <= {max(r['truth_se'] for r in data['errors']):.3f} bits).\n\n")
    write_text(os.path.join(output_dir, "estimator_error.md"), text + markdown_table(data["errors"], columns, digits=3))
    speed = data["speed"]
    study = speed["twelve_bit_study"]
    rows = [
        {"measurement": "binning, 6 layers x 4,096 examples (one recorded epoch)",
         "seconds": speed["binning_6_layers_4096"]["median_seconds"]},
        {"measurement": "KDE bounds, 10,000 examples x 256 units, 10 classes",
         "seconds": speed["kde_10000x256"]["median_seconds"]},
        {"measurement": f"12-bit study, {study['epochs']} epochs, training only", "seconds": study["training_only_seconds"]},
        {"measurement": f"12-bit study, same loop stopped at the {study['recorded_epochs']} recorded epochs",
         "seconds": study["training_with_schedule_stops_seconds"]},
        {"measurement": "12-bit study with InformationPlane (binning + gradient SNR)",
         "seconds": study["training_with_callback_seconds"]},
    ]
    text = markdown_table(rows, digits=3) + (
        f"\nCallback overhead (target < 20%): the callback's own measuring time is "
        f"{100 * study['callback_measuring_fraction']:.1f}% of the training time in the same run; "
        f"between separate runs, x{study['callback_overhead_ratio']:.2f} of training-only wall time and "
        f"x{study['callback_overhead_ratio_same_stops']:.2f} of the same loop with the same stops "
        f"(best of {len(study['all_seconds']['plain'])} interleaved runs each, on a shared 2-core machine).\n")
    write_text(os.path.join(output_dir, "benchmark_information.md"), text)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="benchmark_information",
        description="Error of the MI estimators against ground truth at N = 1,000 and 10,000, and their speed; "
        "writes benchmark_information.json, estimator_error.md and benchmark_information.md.",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="default %(default)s")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3, help="seeds per error-table row")
    parser.add_argument("--noise-variance", type=float, default=0.1, help="KDE noise variance in the error study")
    parser.add_argument("--truth-draws", type=int, default=4, help="Monte Carlo noise draws per point for the KDE truth")
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--study-epochs", type=int, default=3000)
    parser.add_argument("--study-repeats", type=int, default=2)
    parser.add_argument("--skip-errors", action="store_true", help="time only (keeps the existing error rows)")
    parser.add_argument("--render-only", action="store_true", help="re-render the Markdown from the existing JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1 or min(args.sizes) < 10:
        parser.error("--repeats must be >= 1 and every size >= 10")

    from vdualib.reports import provenance, read_json, write_json

    json_path = os.path.join(args.output_dir, "benchmark_information.json")
    if args.render_only:
        render(read_json(json_path), args.output_dir)
        return
    data = {"config": {k: v for k, v in vars(args).items() if k not in ("output_dir", "data_dir", "render_only")}}
    data["errors"] = read_json(json_path)["errors"] if args.skip_errors else error_study(args)
    data["speed"] = speed_study(args)
    data["provenance"] = provenance(data_split="synthetic distributions; ib-12bit.npz for the study timing")
    write_json(json_path, data)
    render(read_json(json_path), args.output_dir)
    print(f"wrote {json_path}")


if __name__ == "__main__":
    main()
