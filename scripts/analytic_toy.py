"""Reproduce the dualIB paper's analytical toy problem and run the 12-bit task through the IB and dualIB solvers.

Toy problem: |X| = 5, |Y| = 2, x in linspace(-1, 0.6, 5), y in {-1, 1}, p(y|x) ∝ exp(-y x),
p(x) uniform, beta = 2^linspace(6, 1, 1000) (beta multiplies the distortion in the exponent,
the IB papers' convention; the variational models' beta is its inverse).

12-bit task (Shwartz-Ziv & Tishby 2017): p(x) uniform over the 4096 patterns. Its labels are
deterministic, which the dualIB cannot use (geometric-mean decoder, KL(p(y|x_hat) || p(y|x))
infinite where p(y|x) = 0), so p(y|x) is built by one of
  * ``label-noise``: p(y|x) = (1 - eps) onehot(label) + eps / 2, eps = --label-noise.
    The label is then a sufficient statistic: the curves saturate at two clusters.
  * ``logistic``: p(y=1|x) = sigmoid(w . x + b) fitted by maximum likelihood to the labels
    (a smooth p(y|x) with 4096 distinct values, in the spirit of the original study's sigmoid).
By default both are run.

Writes ``analytic_toy.json`` (everything measured, with provenance) and renders from it
``toy_information_curves.png``, ``toy_bifurcation.png`` and ``twelve_bit_curves.png``.
Information in bits.
"""

import argparse
import json
import os

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from vdualib import datasets, ib
from vdualib.reports import atomic_path, provenance, read_json, sha256_file, write_text

METHODS = ("ib", "dualib")
LABELS = {"ib": "IB", "dualib": "dualIB"}
COLORS = {"ib": "tab:blue", "dualib": "tab:red"}
DISTORTION_STYLES = (("dual_distortion", "-", "p(y|x̂)‖p(y|x)"), ("ib_distortion", "--", "p(y|x)‖p(y|x̂)"))
_ALIVE = 1e-6  # clusters with less mass are not drawn in the bifurcation diagram
_BITS_DECIMALS = 6  # information stored to 1e-6 bits
_PLOT_DECIMALS = 5  # plotted-only values (prediction measures, decoders) stored to 1e-5
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ib")


def logistic_conditional(x, y, l2=1e-3):
    """p(y|x) [N, 2] of a logistic regression sigmoid(w . x + b) fitted to binary labels (mean log-loss + l2 |w|^2)."""
    features = np.hstack([x.astype(np.float64), np.ones((x.shape[0], 1))])
    sign = 2.0 * y - 1.0

    def loss_and_grad(theta):
        margin = sign * (features @ theta)
        loss = -log_expit(margin).mean() + l2 * theta[:-1] @ theta[:-1]
        grad = -(features * (sign * expit(-margin))[:, None]).mean(axis=0)
        grad[:-1] += 2 * l2 * theta[:-1]
        return loss, grad

    theta = minimize(loss_and_grad, np.zeros(features.shape[1]), jac=True, method="L-BFGS-B").x
    p1 = expit(features @ theta)
    return np.stack([1 - p1, p1], axis=1)


def twelve_bit_joint(conditional, label_noise, data_dir):
    """p(x, y) [4096, 2] of the 12-bit task with uniform p(x) and the chosen p(y|x)."""
    x, y = datasets.load_ib_12bit(data_dir)
    if conditional == "label-noise":
        return ib.joint_from_labels(y.astype(np.int64), n_classes=2, label_noise=label_noise)
    return logistic_conditional(x, y) / x.shape[0]


def _rounded(values, decimals):
    """Plain-float list (nested like ``values``) rounded to ``decimals`` decimals; NaN becomes None."""
    if np.ndim(values) > 0:
        return [_rounded(value, decimals) for value in values]
    return None if np.isnan(values) else round(float(values), decimals)


def sweep_record(pxy, betas, method, args, n_clusters=None):
    """Run one sweep and return its JSON record (plain lists, bits).

    Information to 1e-6 bits, the plotted prediction measures and decoders to 1e-5 (far below a
    pixel of the figures). ``cluster_p_y1`` holds, per beta, the distinct decoder values
    p(y=1|x_hat) of the clusters with p(x_hat) > 1e-6 (coincident clusters are one point of the
    bifurcation diagram).
    """
    result = ib.curve(pxy, betas, method=method, n_clusters=n_clusters, direction=args.direction,
                      max_iter=args.max_iter, seed=args.seed, progress=True)
    critical = ib.critical_betas(result)
    measures = ib.prediction_measures(pxy, result)
    cluster_p_y1 = [sorted(set(_rounded(decoder[marginal > _ALIVE, -1], _PLOT_DECIMALS)))
                    for decoder, marginal in zip(result.decoders, result.marginals)]
    return {
        "ixt": _rounded(result.ixt, _BITS_DECIMALS),
        "ity": _rounded(result.ity, _BITS_DECIMALS),
        "n_clusters_effective": result.n_clusters_effective.tolist(),
        "cluster_p_y1": cluster_p_y1,
        **{key: _rounded(measures[key], _PLOT_DECIMALS) for key in ("ib_distortion", "dual_distortion", "accuracy")},
        "iterations_total": int(result.n_iter.sum()),
        "iterations_max": int(result.n_iter.max()),
        "converged_fraction": float(result.converged.mean()),
        "critical_betas": critical.betas.tolist(),
        "first_critical_beta": None if np.isnan(critical.first) else critical.first,
        "critical_brackets": np.stack([critical.lower, critical.upper], axis=1).tolist(),
        "clusters_above": critical.clusters_above.tolist(),
        "hx": result.hx,
        "ixy": result.ixy,
    }


def compare_first_transitions(records):
    """First critical beta of each method and whether the dualIB's comes earlier, later or at the same beta."""
    ib_first, dual_first = (records[method]["first_critical_beta"] for method in METHODS)
    if ib_first is None or dual_first is None:
        relation = "undetermined (no transition inside the sweep)"
    else:
        relation = "earlier" if dual_first < ib_first else "later" if dual_first > ib_first else "at the same beta"
    return {"ib": ib_first, "dualib": dual_first, "dualib_relative_to_ib": relation}


def problem_record(pxy, betas, args, n_clusters=None, **description):
    """Both methods' sweeps on one problem, with its maximal correlation and first transitions."""
    records = {method: sweep_record(pxy, betas, method, args, n_clusters) for method in METHODS}
    return {
        **description,
        "betas": [float(f"{beta:.7g}") for beta in betas],
        "n_clusters": n_clusters or pxy.shape[0],
        "maximal_correlation": ib.maximal_correlation(pxy),
        "ib_beta0_one_over_rho_squared": ib.ib_first_transition(pxy),
        "first_transitions": compare_first_transitions(records),
        **records,
    }


def run(args):
    toy = problem_record(
        ib.toy_problem().joint(), 2.0 ** np.linspace(6, 1, args.n_betas), args,
        problem="x = linspace(-1, 0.6, 5), y in {-1, 1}, p(y|x) ∝ exp(-y x), p(x) uniform",
    )
    bit_betas = np.geomspace(args.twelve_bit_beta_min, args.twelve_bit_beta_max, args.twelve_bit_n_betas)
    twelve_bit = {
        conditional: problem_record(
            twelve_bit_joint(conditional, args.label_noise, args.data_dir), bit_betas, args, args.twelve_bit_clusters,
            conditional=conditional, label_noise=args.label_noise if conditional == "label-noise" else None,
        )
        for conditional in args.conditionals
    }
    data_path = os.path.join(args.data_dir or os.environ.get("VDUALIB_DATA_DIR", ""), "ib-12bit.npz")
    return {
        "toy": toy,
        "twelve_bit": twelve_bit,
        "settings": {"direction": args.direction, "max_iter": args.max_iter, "seed": args.seed},
        "provenance": provenance(
            data="ib-12bit.npz",
            data_sha256=sha256_file(data_path) if os.path.exists(data_path) else None,
            beta_convention="beta multiplies the distortion in the exponent (IB papers); information in bits",
        ),
    }


def _log2_axis(ax):
    """Log-scale beta axis with plain numbers at powers of two."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def render(data, out_dir):
    """Draw the three figures from the JSON data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    toy = data["toy"]
    betas = np.asarray(toy["betas"], dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for method in METHODS:
        record = toy[method]
        kw = dict(color=COLORS[method], label=LABELS[method])
        axes[0].plot(np.divide(record["ixt"], record["hx"]), np.divide(record["ity"], record["ixy"]), **kw)
        for key, style, divergence in DISTORTION_STYLES:
            axes[1].plot(betas, record[key], ls=style, color=COLORS[method],
                         label=f"{LABELS[method]}: E KL({divergence})")
        axes[2].plot(betas, record["accuracy"], **kw)
    axes[0].set(xlabel="I(X;X̂) / H(X)", ylabel="I(X̂;Y) / I(X;Y)", title="Normalised information curves")
    axes[1].set(xlabel="β", ylabel="bits", title="Distortions of each method's own decoder")
    axes[2].set(xlabel="β", ylabel="accuracy", title="Accuracy of argmax p(y|x̂)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[1:]:
        _log2_axis(ax)
    fig.suptitle("dualIB toy problem (|X| = 5, |Y| = 2)")
    fig.tight_layout()
    _save(fig, os.path.join(out_dir, "toy_information_curves.png"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, method in zip(axes, METHODS):
        record = toy[method]
        points = [(beta, value) for beta, values in zip(betas, record["cluster_p_y1"]) for value in values]
        ax.plot(*np.transpose(points), ".", ms=1.5, color=COLORS[method])
        for k, beta in enumerate(record["critical_betas"]):
            ax.axvline(beta, color="gray", lw=0.8, ls=":", label="critical β (cluster split)" if k == 0 else None)
        ax.axvline(toy["ib_beta0_one_over_rho_squared"], color="k", lw=1, ls="--", label="1/ρ² (IB first transition)")
        ax.set(xlabel="β", title=f"{LABELS[method]}: decoder p(y=1|x̂) of each cluster")
        _log2_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("p(y=1|x̂)")
    fig.tight_layout()
    _save(fig, os.path.join(out_dir, "toy_bifurcation.png"))
    plt.close(fig)

    conditionals = list(data["twelve_bit"])
    fig, axes = plt.subplots(1, len(conditionals) + 1, figsize=(5 * (len(conditionals) + 1), 4.2))
    for ax, conditional in zip(axes, conditionals):
        bits = data["twelve_bit"][conditional]
        for method in METHODS:
            record = bits[method]
            ax.plot(record["ixt"], record["ity"], color=COLORS[method], label=LABELS[method], marker=".", ms=3)
            axes[-1].plot(np.asarray(bits["betas"], dtype=float), record["accuracy"], color=COLORS[method],
                          ls="-" if conditional == conditionals[0] else "--", label=f"{LABELS[method]}, {conditional}")
        ax.axhline(bits["ib"]["ixy"], color="gray", ls=":", label="I(X;Y)")
        noise = f", ε = {bits['label_noise']}" if bits["label_noise"] is not None else ""
        ax.set(xlabel="I(X;X̂) [bits]", ylabel="I(X̂;Y) [bits]", title=f"p(y|x): {conditional}{noise}")
    axes[-1].set(xscale="log", xlabel="β", ylabel="accuracy", title="Accuracy of argmax p(y|x̂)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"12-bit task (|X| = 4096, {data['twelve_bit'][conditionals[0]]['n_clusters']} clusters)")
    fig.tight_layout()
    _save(fig, os.path.join(out_dir, "twelve_bit_curves.png"))
    plt.close(fig)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vdualib-analytic-toy",
        description="Solve the dualIB paper's toy problem and the 12-bit task with the analytical IB and dualIB "
        "solvers; write JSON and figures (information in bits).",
    )
    parser.add_argument("--out-dir", default=DEFAULT_OUT, help="output folder (default: scripts/results/ib)")
    parser.add_argument("--data-dir", default=None, help="folder holding ib-12bit.npz (default: VDUALIB_DATA_DIR)")
    parser.add_argument("--n-betas", type=int, default=1000, help="toy sweep size, beta = 2^linspace(6, 1, n)")
    parser.add_argument("--direction", choices=("down", "up", "both"), default="down", help="annealing direction")
    parser.add_argument("--max-iter", type=int, default=10_000, help="iteration cap per beta")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial encoder")
    parser.add_argument("--conditionals", nargs="+", choices=("label-noise", "logistic"),
                        default=["label-noise", "logistic"],
                        help="how p(y|x) of the 12-bit task is built from its deterministic labels (one sweep each)")
    parser.add_argument("--label-noise", type=float, default=1e-3,
                        help="eps of p(y|x) = (1 - eps) onehot + eps/2 for --conditional label-noise")
    parser.add_argument("--twelve-bit-clusters", type=int, default=8, help="number of clusters for the 12-bit task")
    parser.add_argument("--twelve-bit-n-betas", type=int, default=80)
    parser.add_argument("--twelve-bit-beta-min", type=float, default=0.02)
    parser.add_argument("--twelve-bit-beta-max", type=float, default=1e3)
    parser.add_argument("--render-only", action="store_true", help="redraw the figures from the existing JSON")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    json_path = os.path.join(args.out_dir, "analytic_toy.json")
    if not args.render_only:
        # Compact (not indented) JSON: the file is mostly long arrays.
        write_text(json_path, json.dumps(run(args), separators=(",", ":"), allow_nan=False) + "\n")
    data = read_json(json_path)
    render(data, args.out_dir)
    toy = data["toy"]
    print(f"toy: 1/rho^2 = {toy['ib_beta0_one_over_rho_squared']:.4f}; first transitions {toy['first_transitions']}")
    print(f"wrote {json_path} and figures in {args.out_dir}")


if __name__ == "__main__":
    main()
