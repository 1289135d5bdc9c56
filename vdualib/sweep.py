"""Beta sweeps of the variational models: train one short run per (method, beta), measure it.

Each run trains a recipe with ``beta`` overridden (the VIB convention: beta weighs the rate)
and reports, on the test split, the rate (upper bound on I(X;Z)) and izy (lower bound on
I(Z;Y)) in bits, accuracy, NLL (nats) and the 15-bin ECE. :func:`plot_sweep` draws both families
on the information plane and accuracy/ECE against beta.
"""

import math
import os

import numpy as np

from vdualib import datasets, metrics, recipes, reports, training

__all__ = ["beta_sweep", "plot_sweep"]

_LN2 = math.log(2.0)


def beta_sweep(betas, methods=("vib", "dualib"), base="mnist-{method}-mlp", overrides=(), out_dir="runs/beta_sweep", data_dir=None, progress=True):
    """Train and measure one run per (method, beta); returns a list of dicts (one per run).

    Runs already finished in ``out_dir`` are reused (their ``train.json`` exists); interrupted
    ones resume from their checkpoint.
    """
    import keras
    from tqdm.auto import tqdm

    betas = [float(b) for b in betas]
    if not betas or min(betas) < 0:
        raise ValueError("betas must be a non-empty list of numbers >= 0.")
    pairs = [(m, b) for m in methods for b in betas]
    records = []
    for method, beta in tqdm(pairs, desc="beta sweep", disable=not progress):
        recipe = recipes.get_recipe(base.format(method=method), list(overrides) + [f"beta={beta}"])
        run_dir = os.path.join(out_dir, f"{method}-beta{beta:.0e}")
        if not os.path.exists(os.path.join(run_dir, "train.json")):
            resume = os.path.exists(os.path.join(run_dir, "checkpoint.json"))
            training.train(recipe, run_dir, resume=resume, data_dir=data_dir, verbose=0)
        model = keras.saving.load_model(os.path.join(run_dir, "model.keras"), safe_mode=True)
        _, (x_test, y_test) = datasets.load(recipe["dataset"], data_dir=data_dir)
        logged = model.evaluate(x_test, y_test, batch_size=1000, verbose=0, return_dict=True)
        probs = model.predict(x_test, batch_size=1000, verbose=0)
        records.append(
            {
                "method": method,
                "beta": beta,
                "rate_bits": logged["rate"] / _LN2,
                "izy_bits": logged["izy"] / _LN2,
                "accuracy": metrics.accuracy(probs, y_test),
                "nll": metrics.nll(probs, y_test),
                "ece": metrics.expected_calibration_error(probs, y_test, num_bins=15),
                "recipe": recipe,
            }
        )
    return records


def plot_sweep(records, path):
    """Information plane (rate against izy, bits) and accuracy/ECE against beta, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for method, marker in (("vib", "o"), ("dualib", "s")):
        rows = sorted((r for r in records if r["method"] == method), key=lambda r: r["beta"])
        if not rows:
            continue
        label = {"vib": "VIB", "dualib": "VdualIB"}[method]
        beta = np.array([r["beta"] for r in rows])
        rate = np.array([r["rate_bits"] for r in rows])
        izy = np.array([r["izy_bits"] for r in rows])
        line = axes[0].plot(rate, izy, marker=marker, label=label)[0]
        for b, x, y in zip(beta, rate, izy):
            axes[0].annotate(f"{b:.0e}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color=line.get_color())
        axes[1].semilogx(beta, [r["accuracy"] for r in rows], marker=marker, label=label)
        axes[2].semilogx(beta, [r["ece"] for r in rows], marker=marker, label=label)
    axes[0].set_xscale("log")
    axes[0].set(xlabel="rate, upper bound on I(X;Z) [bits]", ylabel="izy, lower bound on I(Z;Y) [bits]", title="information plane (test)")
    axes[1].set(xlabel="beta (weight of the rate)", ylabel="test accuracy", title="accuracy")
    axes[2].set(xlabel="beta (weight of the rate)", ylabel="ECE (15 bins)", title="calibration")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    with reports.atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    return path
