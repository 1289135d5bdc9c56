"""The analytical study of the dualIB paper: its toy problem and the 12-bit task through both solvers.

For each problem, the IB and the dualIB are swept over beta with :func:`vdualib.ib.curve`; each
sweep is recorded as plain JSON values (information in bits): the curve, the effective number of
clusters, the decoders p(y=1|x_hat) of the live clusters (the bifurcation diagram), the prediction
measures of :func:`vdualib.ib.prediction_measures` and the critical betas. The figures are drawn
from that record by :mod:`vdualib.ib.plots`, so a figure can be redrawn without solving again.

Toy problem: |X| = 5, |Y| = 2, x in linspace(-1, 0.6, 5), y in {-1, 1}, p(y|x) ∝ exp(-y x),
p(x) uniform, beta = 2^linspace(6, 1, n) (beta multiplies the distortion in the exponent, the IB
papers' convention; the variational models' beta is its inverse).

12-bit task (Shwartz-Ziv & Tishby 2017): p(x) uniform over the 4096 patterns. Its labels are
deterministic, which the dualIB cannot use (geometric-mean decoder, KL(p(y|x_hat) || p(y|x))
infinite where p(y|x) = 0), so p(y|x) is built by one of :data:`CONDITIONALS`:

* ``"label-noise"``: p(y|x) = (1 - eps) onehot(label) + eps / 2. The label is then a sufficient
  statistic: the curves saturate at two clusters.
* ``"logistic"``: p(y=1|x) = sigmoid(w . x + b) fitted by maximum likelihood to the labels (a
  smooth p(y|x) with 4096 distinct values, in the spirit of the original study's sigmoid).

Example:
    >>> from vdualib.ib import study
    >>> record = study.run_study(n_betas=60, conditionals=())     # the toy problem only
    >>> record["toy"]["first_transitions"]["dualib_relative_to_ib"]
    'earlier'
"""

import json
import os

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from vdualib import checks, datasets, reports
from vdualib.ib.critical import critical_betas, ib_first_transition
from vdualib.ib.curve import DIRECTIONS, curve
from vdualib.ib.exponential_family import toy_problem
from vdualib.ib.joint import joint_from_labels, maximal_correlation
from vdualib.ib.prediction import prediction_measures
from vdualib.ib.solver import DEFAULT_SEED, METHODS

__all__ = [
    "CONDITIONALS",
    "RECORD_NAME",
    "TOY_DESCRIPTION",
    "toy_betas",
    "logistic_conditional",
    "twelve_bit_joint",
    "sweep_record",
    "compare_first_transitions",
    "problem_record",
    "run_study",
    "write_record",
    "read_record",
]

CONDITIONALS = ("label-noise", "logistic")
RECORD_NAME = "analytic_toy.json"
TOY_DESCRIPTION = "x = linspace(-1, 0.6, 5), y in {-1, 1}, p(y|x) ∝ exp(-y x), p(x) uniform"
_ALIVE = 1e-6  # clusters with less mass are not drawn in the bifurcation diagram
_BITS_DECIMALS = 6  # information stored to 1e-6 bits
_PLOT_DECIMALS = 5  # plotted-only values (prediction measures, decoders) stored to 1e-5


def toy_betas(n_betas=1000):
    """The toy sweep's betas, 2^linspace(6, 1, n_betas) (from high to low), [n_betas].

    Args:
        n_betas: the number of betas, a positive integer.

    Returns:
        float64 ``[n_betas]``, from 64 down to 2.

    Raises:
        ValueError: ``n_betas`` is not a positive integer.

    Example:
        >>> toy_betas(3)     # [64., 11.31, 2.]
    """
    return 2.0 ** np.linspace(6, 1, checks.positive_int("n_betas", n_betas))


def logistic_conditional(x, y, l2=1e-3):
    """p(y|x) [N, 2] of a logistic regression p(y=1|x) = sigmoid(w . x + b) fitted to binary labels.

    Minimises the mean log-loss plus ``l2 * |w|^2`` (the bias is not penalised) with scipy's
    L-BFGS and the exact gradient (scikit-learn is not a dependency of vdualib).

    Args:
        x: features [N, D] (any real dtype).
        y: labels [N], 0 or 1.
        l2: weight of the penalty on ``w`` (>= 0).

    Returns:
        float64 array [N, 2]: columns p(y=0|x), p(y=1|x).

    Example:
        >>> p = logistic_conditional(np.array([[0.0], [1.0]]), np.array([0, 1]))
        >>> bool(p[1, 1] > 0.5 > p[0, 1])
        True
    """
    x = checks.sample_matrix("x", x)
    y = checks.integer_labels("y", y, num_classes=2)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must hold one label per row of x ({x.shape[0]}); got {y.shape[0]}.")
    l2 = checks.finite_float("l2", l2, low=0.0)
    features = np.hstack([x, np.ones((x.shape[0], 1))])
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


def twelve_bit_joint(conditional, label_noise=1e-3, data_dir=None):
    """p(x, y) [4096, 2] of the 12-bit task with uniform p(x) and the p(y|x) named by ``conditional``.

    Args:
        conditional: one of :data:`CONDITIONALS`.
        label_noise: eps of ``"label-noise"`` (in (0, 1]; the dualIB needs it > 0).
        data_dir: folder holding ``ib-12bit.npz`` (default: ``$VDUALIB_DATA_DIR``, then the cache).

    Returns:
        float64 array [4096, 2] summing to 1.

    Raises:
        ValueError: an unknown ``conditional`` or ``label_noise`` outside (0, 1].
        FileNotFoundError: no ``ib-12bit.npz`` in the data directories.

    Example:
        >>> twelve_bit_joint("label-noise", label_noise=1e-3).shape     # (4096, 2)
    """

    if conditional not in CONDITIONALS:
        raise ValueError(f"conditional must be one of {CONDITIONALS}; got {conditional!r}.")
    x, y = datasets.load_ib_12bit(data_dir)
    if conditional == "label-noise":
        label_noise = checks.finite_float("label_noise", label_noise, low=0.0, high=1.0, low_open=True)
        return joint_from_labels(y.astype(np.int64), n_classes=2, label_noise=label_noise)
    return logistic_conditional(x, y) / x.shape[0]


def _rounded(values, decimals):
    """Plain-float list (nested like ``values``) rounded to ``decimals`` decimals; NaN becomes None."""
    if np.ndim(values) > 0:
        return [_rounded(value, decimals) for value in values]
    return None if np.isnan(values) else round(float(values), decimals)


def sweep_record(pxy, betas, method, n_clusters=None, direction="best", max_iter=10_000, seed=DEFAULT_SEED,
                 progress=False):
    """Sweep one method with :func:`vdualib.ib.curve` and return its JSON record (plain values, bits).

    Args:
        pxy: joint p(x, y) [|X|, |Y|].
        betas: [B] trade-offs (in the exponent).
        method: ``"ib"`` or ``"dualib"``.
        n_clusters, direction, max_iter, seed, progress: as in :func:`vdualib.ib.curve`.

    Returns:
        dict of, per beta ([B] lists): ``ixt``, ``ity`` (to 1e-6 bits), ``n_clusters_effective``,
        ``cluster_p_y1`` (the distinct decoder values p(y=1|x_hat), last column of y, of the clusters
        with p(x_hat) > 1e-6, to 1e-5: the points of the bifurcation diagram), ``ib_distortion``,
        ``dual_distortion`` (bits) and ``accuracy`` (to 1e-5); and ``critical_betas``,
        ``first_critical_beta`` (None without a transition), ``critical_brackets``,
        ``clusters_above``, iteration counts, ``origins`` (how many betas each run of the curve
        gave), ``hx`` and ``ixy`` (bits).

    Example:
        >>> sweep_record(toy_problem().joint(), toy_betas(100), "dualib")["first_critical_beta"]
    """
    result = curve(pxy, betas, method=method, n_clusters=n_clusters, direction=direction, max_iter=max_iter,
                   seed=seed, progress=progress)
    critical = critical_betas(result)
    measures = prediction_measures(pxy, result)
    cluster_p_y1 = [sorted(set(_rounded(decoder[marginal > _ALIVE, -1], _PLOT_DECIMALS)))
                    for decoder, marginal in zip(result.decoders, result.marginals)]
    origins, counts = np.unique(result.origin, return_counts=True)
    return {
        "ixt": _rounded(result.ixt, _BITS_DECIMALS),
        "ity": _rounded(result.ity, _BITS_DECIMALS),
        "n_clusters_effective": result.n_clusters_effective.tolist(),
        "cluster_p_y1": cluster_p_y1,
        **{key: _rounded(measures[key], _PLOT_DECIMALS) for key in ("ib_distortion", "dual_distortion", "accuracy")},
        "iterations_total": int(result.n_iter.sum()),
        "iterations_max": int(result.n_iter.max()),
        "converged_fraction": float(result.converged.mean()),
        "origins": {str(origin): int(count) for origin, count in zip(origins, counts)},
        "critical_betas": critical.betas.tolist(),
        "first_critical_beta": None if np.isnan(critical.first) else critical.first,
        "critical_brackets": np.stack([critical.lower, critical.upper], axis=1).tolist(),
        "clusters_above": critical.clusters_above.tolist(),
        "hx": result.hx,
        "ixy": result.ixy,
    }


def compare_first_transitions(records):
    """First critical beta of each method and where the dualIB's lies relative to the IB's.

    Args:
        records: ``{"ib": sweep record, "dualib": sweep record}`` (see :func:`sweep_record`).

    Returns:
        dict of ``ib``, ``dualib`` (first critical betas or None) and ``dualib_relative_to_ib``:
        ``"earlier"``, ``"later"``, ``"at the same beta"`` or ``"undetermined (...)"``.

    Example:
        >>> record = problem_record(toy_problem().joint(), toy_betas(100))
        >>> compare_first_transitions({"ib": record["ib"], "dualib": record["dualib"]})["dualib_relative_to_ib"]
    """
    ib_first, dual_first = (records[method]["first_critical_beta"] for method in METHODS)
    if ib_first is None or dual_first is None:
        relation = "undetermined (no transition inside the sweep)"
    else:
        relation = "earlier" if dual_first < ib_first else "later" if dual_first > ib_first else "at the same beta"
    return {"ib": ib_first, "dualib": dual_first, "dualib_relative_to_ib": relation}


def problem_record(pxy, betas, n_clusters=None, description=None, **sweep_settings):
    """Both methods' sweeps of one problem, with its maximal correlation and first transitions.

    Args:
        pxy: joint p(x, y) [|X|, |Y|] (p(y|x) > 0 everywhere, for the dualIB).
        betas: [B] trade-offs.
        n_clusters: number of clusters (default |X|).
        description: dict of extra JSON fields describing the problem.
        **sweep_settings: ``direction``, ``max_iter``, ``seed``, ``progress`` of :func:`sweep_record`.

    Returns:
        dict: the description, ``betas`` (7 significant digits), ``n_clusters``,
        ``maximal_correlation`` rho, ``ib_beta0_one_over_rho_squared``, ``first_transitions`` and one
        sweep record per method under ``"ib"`` and ``"dualib"``.

    Example:
        >>> problem_record(toy_problem().joint(), toy_betas(100))["ib_beta0_one_over_rho_squared"]
    """
    records = {method: sweep_record(pxy, betas, method, n_clusters, **sweep_settings) for method in METHODS}
    return {
        **(description or {}),
        "betas": [float(f"{beta:.7g}") for beta in betas],
        "n_clusters": n_clusters or pxy.shape[0],
        "maximal_correlation": maximal_correlation(pxy),
        "ib_beta0_one_over_rho_squared": ib_first_transition(pxy),
        "first_transitions": compare_first_transitions(records),
        **records,
    }


def _data_sha256(data_dir):
    """sha256 of the ``ib-12bit.npz`` that :func:`twelve_bit_joint` reads, or None when there is none."""

    for folder in datasets.data_dirs(data_dir):
        path = os.path.join(folder, "ib-12bit.npz")
        if os.path.isfile(path):
            return reports.sha256_file(path)
    return None


def run_study(n_betas=1000, conditionals=CONDITIONALS, label_noise=1e-3, twelve_bit_clusters=8,
              twelve_bit_betas=(0.02, 1e3, 80), direction="best", max_iter=10_000, seed=DEFAULT_SEED,
              data_dir=None, progress=False):
    """Solve the toy problem and the 12-bit task with both methods; return the study's JSON record.

    Args:
        n_betas: toy sweep size, beta = 2^linspace(6, 1, n_betas).
        conditionals: the 12-bit task's p(y|x) constructions to run (:data:`CONDITIONALS`); an
            empty tuple runs the toy problem only (no data needed).
        label_noise: eps of the ``"label-noise"`` construction.
        twelve_bit_clusters: number of clusters for the 12-bit task.
        twelve_bit_betas: (lowest, highest, count) of the 12-bit task's geometric beta grid.
        direction, max_iter, seed, progress: as in :func:`vdualib.ib.curve`.
        data_dir: folder holding ``ib-12bit.npz``.

    Returns:
        dict with ``toy`` and ``twelve_bit`` (``{conditional: problem record}``) problem records
        (see :func:`problem_record`), ``settings`` and ``provenance`` (information in bits).

    Raises:
        ValueError: an unknown direction or conditional, or a bad beta grid.
        FileNotFoundError: a 12-bit construction is asked for and ``ib-12bit.npz`` is missing.

    Example:
        >>> record = run_study(n_betas=200, conditionals=())     # the toy problem only
        >>> write_record(record, "out/analytic_toy")
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}.")
    unknown = [conditional for conditional in conditionals if conditional not in CONDITIONALS]
    if unknown:
        raise ValueError(f"conditionals must be among {CONDITIONALS}; got {unknown}.")
    low, high, count = twelve_bit_betas
    low = checks.finite_float("twelve_bit_betas[0]", low, low=0.0, low_open=True)
    high = checks.finite_float("twelve_bit_betas[1]", high, low=low)
    count = checks.positive_int("twelve_bit_betas[2]", count)
    settings = {"direction": direction, "max_iter": max_iter, "seed": seed, "progress": progress}
    toy = problem_record(toy_problem().joint(), toy_betas(n_betas), description={"problem": TOY_DESCRIPTION},
                         **settings)
    twelve_bit = {
        conditional: problem_record(
            twelve_bit_joint(conditional, label_noise, data_dir), np.geomspace(low, high, count),
            n_clusters=checks.positive_int("twelve_bit_clusters", twelve_bit_clusters),
            description={"conditional": conditional,
                         "label_noise": label_noise if conditional == "label-noise" else None},
            **settings,
        )
        for conditional in conditionals
    }
    return {
        "toy": toy,
        "twelve_bit": twelve_bit,
        "settings": {"direction": direction, "max_iter": max_iter, "seed": seed},
        "provenance": reports.provenance(
            data="ib-12bit.npz" if conditionals else None,
            data_sha256=_data_sha256(data_dir) if conditionals else None,
            beta_convention="beta multiplies the distortion in the exponent (IB papers); information in bits",
        ),
    }


def write_record(record, out_dir):
    """Write ``record`` atomically as compact JSON (it is mostly long arrays) to ``out_dir``/``RECORD_NAME``.

    Args:
        record: the study record (:func:`run_study`).
        out_dir: an existing folder.

    Returns:
        The path written, ``out_dir/analytic_toy.json``.

    Raises:
        ValueError: NaN or infinity in the record (JSON has no such numbers).

    Example:
        >>> write_record(run_study(n_betas=200, conditionals=()), "out")     # 'out/analytic_toy.json'
    """
    path = os.path.join(out_dir, RECORD_NAME)
    reports.write_text(path, json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
    return path


def read_record(out_dir):
    """The record written by :func:`write_record` in ``out_dir``.

    Args:
        out_dir: the folder holding ``analytic_toy.json``.

    Returns:
        The record as a dict.

    Raises:
        FileNotFoundError: there is no record in ``out_dir``.

    Example:
        >>> read_record("out")["toy"]["first_transitions"]
    """
    path = os.path.join(out_dir, RECORD_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; run the study first (without --render-only).")
    return reports.read_json(path)
