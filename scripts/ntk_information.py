"""Information of infinite ensembles of infinitely wide networks, against time and sample size.

For the 12-bit task (inputs mapped to +-1) and an MNIST subset (pixels
standardised per image), an infinitely wide ReLU MLP (``--depth`` hidden
layers, NTK parameterisation) is trained as an infinite ensemble by gradient
flow on the squared loss to centred one-hot targets (one-hot minus 1/k), in
closed form (``vdualib.ntk``). For nested training sets of several sizes and
log-spaced times t (and t = inf), on the training points and on a fixed test
set, the script records, with Z the ensemble output plus Gaussian noise of
variance ``--noise-variance``:

* I(X;Z): InfoNCE lower / leave-one-out upper bound (exact Gaussian densities);
* I(Z;Y): the class-conditional bounds of ``vdualib.ntk.information``;
* KL(ensemble outputs on the training inputs || their prior), which bounds the
  information the outputs carry about the training labels;
* the accuracy of the ensemble mean.

All information is in bits. Everything measured goes to ``ntk_information.json``
(with provenance); the figures (``<dataset>_time.png``, ``<dataset>_size.png``)
and ``ntk_information.md`` are rendered from that JSON (``--render-only``
re-renders).
"""

import argparse
import os
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(_HERE, "results", "ntk")
DATASETS = ("12bit", "mnist")
SPLITS = ("train", "test")


def load_task(name, num_test, max_train, seed, data_dir=None):
    """Training pool (first ``max_train`` of a seeded permutation) and test set, as float inputs and int labels."""
    import numpy as np

    from vdualib.datasets import load, load_ib_12bit
    from vdualib.ntk import standardize_inputs

    rng = np.random.default_rng(seed)
    if name == "12bit":
        x, y = load_ib_12bit(data_dir)
        if num_test + max_train > x.shape[0]:
            raise ValueError(f"the 12-bit task has {x.shape[0]} patterns; num_test + the largest size must not exceed it.")
        order = rng.permutation(x.shape[0])
        x = 2.0 * x.astype(np.float64) - 1.0
        test, train = order[:num_test], order[num_test : num_test + max_train]
        return x[train], y[train].astype(int), x[test], y[test].astype(int), "all 4096 patterns, seeded split"
    (x_train, y_train), (x_test, y_test) = load("mnist", data_dir)
    if max_train > x_train.shape[0] or num_test > x_test.shape[0]:
        raise ValueError("MNIST has 60,000 training and 10,000 test images; ask for fewer.")
    train = rng.permutation(x_train.shape[0])[:max_train]
    test = rng.permutation(x_test.shape[0])[:num_test]
    return (
        standardize_inputs(x_train[train]),
        y_train[train].astype(int),
        standardize_inputs(x_test[test]),
        y_test[test].astype(int),
        "MNIST train (subsets) / MNIST test (subset)",
    )


def run_task(name, sizes, times, args):
    """Kernels once on the largest training set, then the curve for every nested subset."""
    import numpy as np
    from tqdm import tqdm

    from vdualib.ntk import KernelEnsemble, kernels
    from vdualib.ntk.information import information_curve

    x_pool, y_pool, x_test, y_test, split = load_task(name, args.num_test, max(sizes), args.seed, args.data_dir)
    hyper = dict(depth=args.depth, activation=args.activation, w_std=args.w_std, b_std=args.b_std)
    start = time.perf_counter()
    k_pool, theta_pool = kernels(x_pool, None, **hyper)
    k_cross, theta_cross = kernels(x_test, x_pool, **hyper)
    k_test = kernels(x_test, None, **hyper)[0]
    kernel_seconds = time.perf_counter() - start
    num_classes = int(max(y_pool.max(), y_test.max())) + 1
    curves = {}
    for n in tqdm(sizes, desc=f"{name}: training-set sizes"):
        targets = np.eye(num_classes)[y_pool[:n]] - 1.0 / num_classes
        model = KernelEnsemble(
            k_pool[:n, :n], theta_pool[:n, :n], targets, k_cross[:, :n], theta_cross[:, :n], k_test,
            learning_rate=args.learning_rate, diag_reg=args.diag_reg,
        )
        start = time.perf_counter()
        curve = information_curve(
            model, times, y_pool[:n], y_test, noise_variance=args.noise_variance, num_draws=args.num_draws, seed=args.seed
        )
        curve["seconds"] = time.perf_counter() - start
        curves[str(n)] = curve
    return {
        "split": split,
        "input_dimension": int(x_pool.shape[1]),
        "num_classes": num_classes,
        "num_test": int(x_test.shape[0]),
        "sizes": list(sizes),
        "kernel_seconds": kernel_seconds,
        "curves": curves,
    }


def _time_axis(times):
    """Plot positions: t = inf drawn one decade past the largest finite time."""
    import numpy as np

    times = np.array([float(t) for t in times])
    finite = times[np.isfinite(times)]
    return np.where(np.isfinite(times), times, finite.max() * 10.0), finite.max() * 10.0


def _time_ticks(ax, times):
    """Decade ticks over the finite times and a tick marked inf at the t = inf position."""
    import numpy as np

    positions, infinity = _time_axis(times)
    finite = positions[positions < infinity]
    decades = 10.0 ** np.arange(np.floor(np.log10(finite.min())), np.log10(finite.max()) + 1e-9)
    ax.set_xticks(list(decades) + [infinity], [f"$10^{{{int(round(np.log10(d)))}}}$" for d in decades] + [r"$\infty$"])
    ax.minorticks_off()
    ax.axvline(infinity / 3.0, color="grey", linewidth=0.5)


def _band(ax, x, curve, key, color, style, label):
    lower, upper = (curve[f"{key}_{bound}"] for bound in ("lower", "upper"))
    ax.fill_between(x, lower, upper, color=color, alpha=0.3, linewidth=0)
    ax.plot(x, [(a + b) / 2 for a, b in zip(lower, upper)], style, color=color, label=label)


def render_time(name, task, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.2))
    colors = plt.cm.viridis([i / max(len(task["sizes"]) - 1, 1) for i in range(len(task["sizes"]))])
    for color, n in zip(colors, task["sizes"]):
        curve = task["curves"][str(n)]
        x, _ = _time_axis(curve["t"])
        for split, style in zip(SPLITS, ("-", "--")):
            _band(axes[0, 0], x, curve[split], "ixz", color, style, f"n={n} {split}")
            _band(axes[0, 1], x, curve[split], "izy", color, style, None)
            axes[1, 0].plot(x, curve[split]["accuracy"], style, color=color)
        axes[1, 1].plot(x, [max(v, 1e-3) for v in curve["prior_kl"]], "-", color=color)
    entropy = task["curves"][str(task["sizes"][-1])]["test"]["label_entropy"][0]
    axes[0, 1].axhline(entropy, color="grey", linewidth=0.8, linestyle=":", label="H(Y) (test)")
    titles = ["I(X;Z) [bits]", "I(Z;Y) [bits]", "accuracy of the ensemble mean", "KL(outputs on train || prior) [bits]"]
    for ax, title in zip(axes.flat, titles):
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("training time t")
        _time_ticks(ax, task["curves"][str(task["sizes"][0])]["t"])
        ax.grid(alpha=0.3)
    axes[1, 1].set_yscale("log")
    axes[0, 1].legend(fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(task["sizes"]), fontsize=7)
    fig.suptitle(f"{name}: infinite NTK ensemble, bounds shaded (solid: training points, dashed: test points)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _save(fig, path)


def render_size(name, task, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = task["sizes"]
    curves = [task["curves"][str(n)] for n in sizes]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for index, color, label in _size_times(curves[0]["t"]):
        for split, style in zip(SPLITS, ("-", "--")):
            for ax, key in zip(axes[:2], ("ixz", "izy")):
                band = {f"{key}_{b}": [c[split][f"{key}_{b}"][index] for c in curves] for b in ("lower", "upper")}
                _band(ax, sizes, band, key, color, style, f"{label} {split}")
            axes[2].plot(sizes, [c[split]["accuracy"][index] for c in curves], style, color=color, marker="o", ms=3)
        axes[3].plot(sizes, [c["prior_kl"][index] / n for c, n in zip(curves, sizes)], "-", color=color, marker="o", ms=3)
    titles = ["I(X;Z) [bits]", "I(Z;Y) [bits]", "accuracy of the ensemble mean", "KL to prior / n [bits per example]"]
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training examples n")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{name}: against the training-set size (solid: training points, dashed: test points)")
    fig.tight_layout()
    _save(fig, path)


def _size_times(times):
    """(index, color, label) of the three times drawn against n: two finite ones and t = inf."""
    finite = [i for i, t in enumerate(times) if float(t) != float("inf")]
    chosen = (finite[len(finite) // 3], finite[2 * len(finite) // 3], len(times) - 1)
    return [(index, color, f"t={float(times[index]):.3g}") for index, color in zip(chosen, ("C0", "C1", "C3"))]


def _save(fig, path):
    import matplotlib.pyplot as plt

    from vdualib.reports import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def render_markdown(data):
    """A table per data set: at t = inf and at the time of best test accuracy, for every size."""
    import numpy as np

    from vdualib.reports import markdown_table

    rows = []
    for name, task in data["datasets"].items():
        for n in task["sizes"]:
            curve = task["curves"][str(n)]
            best = int(np.argmax(curve["test"]["accuracy"]))
            for label, index in (("best test accuracy", best), ("inf", len(curve["t"]) - 1)):
                test, train = curve["test"], curve["train"]
                rows.append({
                    "data": name, "n": n, "time": label, "t": float(curve["t"][index]),
                    "I(X;Z) test": f"{test['ixz_lower'][index]:.2f}-{test['ixz_upper'][index]:.2f}",
                    "I(Z;Y) test": f"{test['izy_lower'][index]:.2f}-{test['izy_upper'][index]:.2f}",
                    "I(X;Z) train": f"{train['ixz_lower'][index]:.2f}-{train['ixz_upper'][index]:.2f}",
                    "KL to prior": curve["prior_kl"][index],
                    "test accuracy": test["accuracy"][index],
                })
    settings = data["settings"]
    header = (
        f"Infinite NTK ensembles (ReLU, depth {settings['depth']}, noise variance {settings['noise_variance']}); "
        "information in bits (lower-upper bound), t = training time.\n\n"
    )
    return header + markdown_table(rows, digits=3)


def render(output_dir):
    from vdualib.reports import read_json, write_text

    data = read_json(os.path.join(output_dir, "ntk_information.json"))
    for name, task in data["datasets"].items():
        render_time(name, task, os.path.join(output_dir, f"{name}_time.png"))
        render_size(name, task, os.path.join(output_dir, f"{name}_size.png"))
    write_text(os.path.join(output_dir, "ntk_information.md"), render_markdown(data))


def _positive_ints(text):
    values = [int(v) for v in text.split(",")]
    if any(v < 4 for v in values) or values != sorted(values):
        raise argparse.ArgumentTypeError(f"sizes must be increasing integers >= 4, comma separated; got {text!r}.")
    return values


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vdualib-ntk-information",
        description="Information curves (bits) of infinite NTK ensembles against training time and sample size, "
        "for the 12-bit task and an MNIST subset; writes JSON, PNGs and a Markdown table.",
    )
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--sizes-12bit", type=_positive_ints, default=[128, 256, 512, 1024, 2048],
                        help="nested training-set sizes for the 12-bit task (comma separated)")
    parser.add_argument("--sizes-mnist", type=_positive_ints, default=[125, 250, 500, 1000, 2000],
                        help="nested training-set sizes for MNIST (comma separated)")
    parser.add_argument("--num-test", type=int, default=1024, help="test points (information and accuracy)")
    parser.add_argument("--t-min", type=float, default=0.1, help="smallest training time")
    parser.add_argument("--t-max", type=float, default=1e5, help="largest finite training time (t = inf is added)")
    parser.add_argument("--num-times", type=int, default=19, help="log-spaced finite times")
    parser.add_argument("--depth", type=int, default=3, help="hidden layers")
    parser.add_argument("--activation", choices=("relu", "erf"), default="relu")
    parser.add_argument("--w-std", type=float, default=2.0**0.5)
    parser.add_argument("--b-std", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=1.0)
    parser.add_argument("--diag-reg", type=float, default=0.0, help="relative diagonal regulariser of Theta")
    parser.add_argument("--noise-variance", type=float, default=0.01, help="variance of the noise added to the outputs")
    parser.add_argument("--num-draws", type=int, default=2, help="z samples per point for the contrastive bounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz and ib-12bit.npz (else VDUALIB_DATA_DIR)")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT)
    parser.add_argument("--render-only", action="store_true", help="re-render figures and Markdown from the JSON")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.render_only:
        import numpy as np

        from vdualib.reports import provenance, write_json

        if not 0 < args.t_min < args.t_max or args.num_times < 2:
            parser.error("need 0 < --t-min < --t-max and --num-times >= 2.")
        if args.num_test < 4:
            parser.error("--num-test must be at least 4.")
        times = np.concatenate([np.geomspace(args.t_min, args.t_max, args.num_times), [np.inf]])
        sizes = {"12bit": args.sizes_12bit, "mnist": args.sizes_mnist}
        data = {
            "settings": {key: value for key, value in vars(args).items() if key not in ("output_dir", "render_only")},
            "datasets": {name: run_task(name, sizes[name], times, args) for name in args.datasets},
            "provenance": provenance(script="scripts/ntk_information.py"),
        }
        write_json(os.path.join(args.output_dir, "ntk_information.json"), data)
    render(args.output_dir)


if __name__ == "__main__":
    main()
