"""The information-plane study: the 12-bit task (tanh and ReLU) and a VIB/VdualIB stochastic layer.

1. 12-bit task (Shwartz-Ziv & Tishby 2017): the 12-10-7-5-4-3-2 network,
   Adam (learning rate 4e-4), mini-batches of 512, trained on 85% of the 4,096
   patterns for ``--epochs`` epochs over ``--seeds`` seeds, with tanh and with
   ReLU. Each run records, on a log-spaced epoch schedule, binned I(X;T) and
   I(T;Y) over all 4,096 patterns (30 bins on [-1, 1] for tanh; the observed
   range for ReLU) and the training-gradient mean/std per layer
   (``InformationPlane``); seed 0 also records the KDE bounds (noise variance
   1e-3) on a coarser schedule over a fixed random 1,024 of the patterns
   (``--kde-subset``; the pairwise bounds cost O(N^2)), so their I(X;T) is
   capped at 10 bits rather than 12. Mean curves over seeds are plotted.
2. ``--parts mnist``: a VIB and a VdualIB MNIST classifier (``vdualib.build_classifier``)
   for each of ``--mnist-betas``, a few epochs on a subset; after each epoch, on a fixed test subset, I(X;Z)
   of the stochastic layer by binning the encoder mean, by the KDE bounds with
   the encoder's mean variance as noise, and by the InfoNCE / leave-one-out
   variational bounds on the encoder's own densities.

Everything measured goes to ``information_plane.json`` (with provenance; the
tables averaged over seeds, rounded to 5 significant digits, and the seed-0 KDE
tables), each run's full table to ``tables/{activation}_seed{n}.csv``, and the
figures and ``information_plane.md`` are rendered from the JSON
(``--render-only`` re-renders).
All information values are in bits.
"""

import argparse
import math
import os
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(_HERE, "results", "information")


def _twelve_bit_run(x, y, activation, seed, args, kde):
    """Train one network; returns the binning table, the KDE table (or None), history and timings."""
    import numpy as np

    from vdualib.information.binning import BinningEstimator
    from vdualib.information.callback import InformationPlane, epoch_schedule
    from vdualib.information.kde import KDEEstimator
    from vdualib.information.study import build_mlp, fit_in_segments

    rng = np.random.default_rng(seed)
    train = rng.permutation(x.shape[0])[: int(round(args.train_fraction * x.shape[0]))]
    schedule = epoch_schedule(args.epochs, every_epoch_until=args.every_epoch_until, points_per_decade=args.points_per_decade)
    value_range = (-1.0, 1.0) if activation == "tanh" else None
    binning = InformationPlane(
        x, y, estimator=BinningEstimator(args.num_bins, value_range), epochs=schedule,
        gradient_stats=True, gradient_data=(x[train], y[train]), gradient_batch_size=args.batch_size, batch_size=x.shape[0],
    )
    callbacks = [binning]
    kde_plane = None
    if kde:
        kde_schedule = epoch_schedule(args.epochs, every_epoch_until=1, points_per_decade=args.kde_points_per_decade)
        subset = np.random.default_rng(10_000 + seed).permutation(x.shape[0])[: args.kde_subset]
        kde_plane = InformationPlane(x[subset], y[subset], estimator=KDEEstimator(args.kde_noise_variance), epochs=kde_schedule)
        callbacks.append(kde_plane)
        schedule = sorted(set(schedule) | set(kde_schedule))
    model = build_mlp(x.shape[1], activation=activation, seed=seed)
    start = time.perf_counter()
    history = fit_in_segments(model, x[train], y[train], schedule, batch_size=args.batch_size,
                              learning_rate=args.learning_rate, callbacks=callbacks, seed=seed)
    test = np.setdiff1d(np.arange(x.shape[0]), train)
    test_accuracy = float(np.mean(np.argmax(model.predict(x[test], verbose=0), axis=1) == y[test]))
    return {
        "activation": activation,
        "seed": seed,
        "num_train": int(train.size),
        "seconds": time.perf_counter() - start,
        "recorded_epochs": len(binning.epochs),
        "train_loss": history[-1]["loss"],
        "train_accuracy": history[-1]["accuracy"],
        "test_accuracy": test_accuracy,
        "binning": binning.rows,
        "kde": kde_plane.rows if kde_plane else None,
    }


def run_twelve_bit(args):
    """All runs; per-run tables go to ``tables/{activation}_seed{n}.csv``, the JSON keeps the means."""
    import numpy as np
    from tqdm import tqdm

    from vdualib.datasets import load_ib_12bit
    from vdualib.information.table import mean_table, save_table, table_to_json

    x, y = load_ib_12bit(args.data_dir)
    x, y = x.astype(np.float32), y.astype(np.int64)
    results = {}
    jobs = [(a, s) for a in args.activations for s in range(args.seeds)]
    runs = [
        _twelve_bit_run(x, y, activation, seed, args, kde=seed == 0 and not args.no_kde)
        for activation, seed in tqdm(jobs, desc="12-bit runs")
    ]
    for activation in args.activations:
        mine = [r for r in runs if r["activation"] == activation]
        for run in mine:
            save_table(run["binning"], os.path.join(args.output_dir, "tables", f"{activation}_seed{run['seed']}.csv"))
        results[activation] = {
            "runs": [{k: v for k, v in r.items() if k not in ("binning", "kde")} for r in mine],
            "mean_binning": table_to_json(mean_table([r["binning"] for r in mine]), significant_digits=5),
            "kde": [{"seed": r["seed"], "table": table_to_json(r["kde"], significant_digits=5)} for r in mine if r["kde"]],
            "mean_test_accuracy": float(np.mean([r["test_accuracy"] for r in mine])),
        }
    return results


def run_mnist(args):
    """Binning vs KDE vs variational bounds on the stochastic layer of VIB / VdualIB MNIST models."""
    import numpy as np

    import vdualib
    from vdualib.datasets import load
    from vdualib.information.binning import binned_information
    from vdualib.information.kde import kde_information
    from vdualib.information.variational import gaussian_encoder_bounds

    (x_train, y_train), (x_test, y_test) = load("mnist", args.data_dir)
    rng = np.random.default_rng(0)
    train = rng.permutation(x_train.shape[0])[: args.mnist_train_size]
    fixed = rng.permutation(x_test.shape[0])[: args.mnist_fixed_size]
    x_fixed, labels = x_test[fixed], y_test[fixed].astype(np.int64)
    bits = 1.0 / np.log(2.0)
    results = {}
    for beta in args.mnist_betas:
        for method in ("vib", "dualib"):
            model = vdualib.build_classifier("mlp", 10, method=method, latent_dim=args.mnist_latent_dim, beta=beta, seed=0)
            model.compile(optimizer="adam")
            rows = []
            for epoch in range(args.mnist_epochs + 1):
                if epoch > 0:
                    model.fit(x_train[train], y_train[train], batch_size=100, epochs=1, verbose=0)
                logged = model.evaluate(x_fixed, labels, batch_size=250, verbose=0, return_dict=True)
                mu, sigma = model.encode(x_fixed, batch_size=250)
                lower, upper = gaussian_encoder_bounds(mu, sigma, seed=epoch)
                ixt_bin, ity_bin = binned_information(mu, labels, num_bins=30, value_range=None)
                kde = kde_information(mu, labels, noise_variance=float(np.mean(sigma**2)))
                rows.append({
                    "epoch": epoch, "accuracy": float(logged["accuracy"]),
                    "infonce_lower": lower, "loo_upper": upper, "rate_upper": float(logged["rate"]) * bits,
                    "binning_ixt": ixt_bin, "kde_ixt_upper": kde["ixt_upper"], "kde_ixt_lower": kde["ixt_lower"],
                    "binning_ity": ity_bin, "kde_ity_upper": kde["ity_upper"], "izy_lower": float(logged["izy"]) * bits,
                    "mean_sigma": float(np.mean(sigma)),
                })
            results[f"{method}, beta={beta:g}"] = rows
    return {"config": {"train_size": args.mnist_train_size, "fixed_size": args.mnist_fixed_size,
                       "epochs": args.mnist_epochs, "latent_dim": args.mnist_latent_dim, "betas": args.mnist_betas,
                       "backbone": "mlp", "kde_noise_variance": "mean of sigma^2 over the fixed set"},
            "methods": results}


def render(data, output_dir):
    """Figures and the Markdown summary, from the JSON data only."""
    import matplotlib.pyplot as plt

    from vdualib.information import plots
    from vdualib.information.table import table_from_json
    from vdualib.reports import markdown_table, write_text

    study = data.get("twelve_bit", {})
    activations = list(study)
    means = {a: table_from_json(study[a]["mean_binning"]) for a in activations}
    if activations:
        fig, axes = plt.subplots(1, len(activations), figsize=(5.5 * len(activations), 4.2), constrained_layout=True, squeeze=False)
        for ax, activation in zip(axes[0], activations):
            seeds = len(study[activation]["runs"])
            plots.plot_information_plane(means[activation], ax=ax,
                                         title=f"12-bit, {activation}, binning, mean of {seeds} seeds")
        plots.save_figure(fig, os.path.join(output_dir, "plane_12bit.png"))
    for activation in activations:
        mean_rows = means[activation]
        plots.save_figure(plots.plot_information_curves(mean_rows, title=f"12-bit {activation}: binning, mean +- std over seeds"),
                          os.path.join(output_dir, f"curves_12bit_{activation}.png"))
        plots.save_figure(plots.plot_gradient_statistics(mean_rows, title=f"12-bit {activation}: gradient mean / std"),
                          os.path.join(output_dir, f"gradients_12bit_{activation}.png"))
    kde_runs = [(a, r) for a in activations for r in study[a]["kde"]]
    if kde_runs:
        fig, axes = plt.subplots(1, len(kde_runs), figsize=(5.5 * len(kde_runs), 4.2), constrained_layout=True, squeeze=False)
        for ax, (activation, run) in zip(axes[0], kde_runs):
            plots.plot_information_plane(table_from_json(run["table"]), ax=ax,
                                         title=f"12-bit, {activation}, KDE upper bound, seed {run['seed']}")
        plots.save_figure(fig, os.path.join(output_dir, "plane_12bit_kde.png"))

    summary = []
    for activation in activations:
        rows = means[activation]
        last = max(r["epoch"] for r in rows)
        for layer in dict.fromkeys(r["layer"] for r in rows):
            final = next(r for r in rows if r["layer"] == layer and r["epoch"] == last)
            peak = max((r for r in rows if r["layer"] == layer), key=lambda r: r["ixt"])
            summary.append({
                "activation": activation, "layer": layer,
                "peak_ixt": peak["ixt"], "peak_epoch": peak["epoch"],
                "final_ixt": final["ixt"], "final_ity": final["ity"],
                "drift_to_diffusion_epoch": plots.drift_diffusion_epoch(rows, layer) or "-",
            })
    lines = []
    if summary:
        lines += ["# Information plane of the 12-bit task (binning, bits)\n",
                  markdown_table(summary, digits=3),
                  "\nMean held-out accuracy: " + ", ".join(f"{a} {study[a]['mean_test_accuracy']:.3f}" for a in activations) + "\n"]
    if "mnist" in data:
        mnist = data["mnist"]
        columns = 2
        num_rows = -(-len(mnist["methods"]) // columns)
        fig, axes = plt.subplots(num_rows, columns, figsize=(5.5 * columns, 4.0 * num_rows),
                                 constrained_layout=True, squeeze=False)
        for ax, (method, rows) in zip(axes.ravel(), mnist["methods"].items()):
            epochs = [r["epoch"] for r in rows]
            for key, style in (("binning_ixt", "o-"), ("kde_ixt_upper", "s-"), ("kde_ixt_lower", "s--"),
                               ("infonce_lower", "^-"), ("loo_upper", "v-"), ("rate_upper", "x:")):
                ax.plot(epochs, [r[key] for r in rows], style, label=key, markersize=4)
            ax.axhline(math.log2(mnist["config"]["fixed_size"]), color="grey", linewidth=0.8, linestyle="--", label="log2 N")
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(bottom=0.0)
            ax.set_xticks(epochs)
            ax.set_xlabel("epoch")
            ax.set_ylabel("I(X;Z) [bits]")
            ax.set_title(f"MNIST {method}: I(X;Z), {mnist['config']['fixed_size']} test images", fontsize=10)
            ax.legend(fontsize=6)
        plots.save_figure(fig, os.path.join(output_dir, "mnist_stochastic_layer.png"))
        mnist_rows = [{"method": m, **r} for m, rows in mnist["methods"].items() for r in rows]
        lines += ["\n# MNIST stochastic layer: I(X;Z) by estimator (bits)\n", markdown_table(mnist_rows, digits=3)]
    write_text(os.path.join(output_dir, "information_plane.md"), "\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="vdualib-information-plane",
        description="Information-plane study of the 12-bit task (tanh/ReLU, several seeds) and of a VIB/VdualIB "
        "MNIST stochastic layer; writes information_plane.json, figures and a Markdown summary.",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="where the JSON, PNGs and .md go (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--epochs", type=int, default=3000, help="training epochs per run (default %(default)s)")
    parser.add_argument("--seeds", type=int, default=5, help="random seeds per activation (default %(default)s)")
    parser.add_argument("--activations", nargs="+", default=["tanh", "relu"], choices=["tanh", "relu"])
    parser.add_argument("--train-fraction", type=float, default=0.85)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=4e-4)
    parser.add_argument("--num-bins", type=int, default=30)
    parser.add_argument("--every-epoch-until", type=int, default=20, help="record every epoch up to this one")
    parser.add_argument("--points-per-decade", type=int, default=20, help="recorded epochs per decade after that")
    parser.add_argument("--no-kde", action="store_true", help="skip the KDE recording of seed 0")
    parser.add_argument("--kde-noise-variance", type=float, default=1e-3)
    parser.add_argument("--kde-points-per-decade", type=int, default=6)
    parser.add_argument("--kde-subset", type=int, default=1024, help="patterns the KDE bounds use (O(N^2) cost)")
    parser.add_argument("--parts", nargs="+", default=["twelve-bit", "mnist"], choices=["twelve-bit", "mnist"],
                        help="parts to run; a part not run keeps its results from the existing JSON (default: both)")
    parser.add_argument("--mnist-epochs", type=int, default=4)
    parser.add_argument("--mnist-train-size", type=int, default=10000)
    parser.add_argument("--mnist-fixed-size", type=int, default=1000)
    parser.add_argument("--mnist-latent-dim", type=int, default=32)
    parser.add_argument("--mnist-betas", type=float, nargs="+", default=[1e-3, 1e-1],
                        help="rate weights; each gives a VIB and a VdualIB run (default %(default)s)")
    parser.add_argument("--render-only", action="store_true", help="re-render figures and Markdown from the existing JSON")
    args = parser.parse_args(argv)
    if not 0 < args.train_fraction < 1:
        parser.error("--train-fraction must be in (0, 1)")
    if args.epochs < 1 or args.seeds < 1:
        parser.error("--epochs and --seeds must be >= 1")

    from vdualib.reports import provenance, read_json, write_json

    json_path = os.path.join(args.output_dir, "information_plane.json")
    if args.render_only:
        render(read_json(json_path), args.output_dir)
        return
    data = read_json(json_path) if os.path.exists(json_path) else {}
    config = {k: v for k, v in vars(args).items() if k not in ("output_dir", "data_dir", "render_only", "parts")}
    for part, key, run in (("twelve-bit", "twelve_bit", run_twelve_bit), ("mnist", "mnist", run_mnist)):
        if part in args.parts:
            start = time.perf_counter()
            data[key] = run(args)
            data[key + "_seconds"] = time.perf_counter() - start
            data[key + "_config"] = config
            data[key + "_provenance"] = provenance(
                data_split="ib-12bit.npz: 85% train / 15% held out per seed" if key == "twelve_bit"
                else f"MNIST: first {args.mnist_train_size} of a seed-0 permutation of train; "
                f"{args.mnist_fixed_size} test images as the fixed set"
            )
    write_json(json_path, data)
    render(read_json(json_path), args.output_dir)
    print(f"wrote {json_path} and figures in {args.output_dir}")


if __name__ == "__main__":
    main()
