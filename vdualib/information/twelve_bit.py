"""The 12-bit information-plane study of Shwartz-Ziv & Tishby (2017), tanh and ReLU, several seeds.

The 12-10-7-5-4-3-2 network (:func:`~vdualib.information.network.build_mlp`) is
trained with Adam on a seeded ``train_fraction`` of the 4,096 patterns. Each run
records, on a log-spaced epoch schedule
(:func:`~vdualib.information.callback.epoch_schedule`), the binned I(X;T) and
I(T;Y) of every layer over all 4,096 patterns and the training-gradient
mean / std per layer (:class:`~vdualib.information.InformationPlane`). The bins
are the ones of :data:`BINNING_RANGES`: 30 fixed bins on [-1, 1] for tanh (the
range of the activation, shared by every epoch) and the observed range of each
layer for ReLU (unbounded). Optionally one run per activation also records the
Kolchinsky-Tracey KDE bounds on a coarser schedule over a fixed random subset
(the pairwise bounds cost O(N^2), so their I(X;T) is capped at log2 of the
subset size). Information is in bits. The study trains Keras models, so importing this
module imports TensorFlow; the estimators it uses do not.

Example:
    >>> from vdualib.datasets import load_ib_12bit
    >>> x, y = load_ib_12bit()
    >>> settings = TwelveBitSettings(epochs=2, seeds=1, activations=("tanh",), kde=False)
    >>> study = twelve_bit_study(x, y, settings, progress=False)
    >>> rows = summary_rows(study)   # per (activation, layer): peak / final I(X;T), I(T;Y)
    >>> [(row["activation"], row["layer"]) for row in rows][:2]
    [('tanh', 'hidden_1'), ('tanh', 'hidden_2')]
"""

import dataclasses
import os
import time

import numpy as np
from tqdm import tqdm

from vdualib import checks
from vdualib.information.binning import BinningEstimator
from vdualib.information.callback import InformationPlane, epoch_schedule
from vdualib.information.kde import KDEEstimator
from vdualib.information.network import build_mlp, fit_in_segments
from vdualib.information.table import drift_diffusion_epoch, mean_table, save_table, table_from_json, table_to_json

__all__ = ["BINNING_RANGES", "TwelveBitSettings", "run_seed", "twelve_bit_study", "summary_rows"]

# The binning range of each activation, decided here only: a fixed range where the activation is
# bounded (every epoch shares the bins), the observed range of each layer where it is not.
BINNING_RANGES = {"tanh": (-1.0, 1.0), "relu": None}


@dataclasses.dataclass(frozen=True)
class TwelveBitSettings:
    """Settings of the 12-bit study (the defaults are the published study's).

    Args:
        epochs: training epochs per run.
        seeds: runs per activation (seeds 0 .. seeds - 1).
        activations: a tuple of keys of :data:`BINNING_RANGES`.
        train_fraction: share of the 4,096 patterns trained on, in (0, 1).
        batch_size, learning_rate: Adam mini-batches and step size.
        num_bins: bins per unit of the binning estimator.
        every_epoch_until, points_per_decade: the recording schedule.
        kde: also record the KDE bounds in the seed-0 run of each activation.
        kde_noise_variance, kde_points_per_decade, kde_subset: the KDE recording.

    Raises:
        ValueError: a non-positive count, ``train_fraction`` outside (0, 1), or an unknown activation.

    Example:
        >>> settings = TwelveBitSettings(epochs=300, seeds=2, activations=("tanh",), kde=False)
        >>> settings.epochs, settings.seeds, settings.train_fraction
        (300, 2, 0.85)
    """

    epochs: int = 3000
    seeds: int = 5
    activations: tuple = ("tanh", "relu")
    train_fraction: float = 0.85
    batch_size: int = 512
    learning_rate: float = 4e-4
    num_bins: int = 30
    every_epoch_until: int = 20
    points_per_decade: int = 20
    kde: bool = True
    kde_noise_variance: float = 1e-3
    kde_points_per_decade: int = 6
    kde_subset: int = 1024

    def __post_init__(self):
        for name in ("epochs", "seeds", "batch_size", "num_bins", "points_per_decade", "kde_points_per_decade", "kde_subset"):
            checks.positive_int(name, getattr(self, name))
        checks.non_negative_int("every_epoch_until", self.every_epoch_until)
        checks.finite_float("train_fraction", self.train_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
        checks.finite_float("learning_rate", self.learning_rate, low=0.0, low_open=True)
        checks.finite_float("kde_noise_variance", self.kde_noise_variance, low=0.0, low_open=True)
        unknown = [a for a in self.activations if a not in BINNING_RANGES]
        if not self.activations or unknown:
            raise ValueError(f"activations must be a non-empty choice of {sorted(BINNING_RANGES)}; got {list(self.activations)}.")
        object.__setattr__(self, "activations", tuple(self.activations))


def run_seed(x, y, activation, seed, settings, kde=False):
    """Train one network and record its information plane.

    Args:
        x: patterns [N, 12] (any numeric dtype); y: N integer labels.
        activation: a key of :data:`BINNING_RANGES`.
        seed: seed of the split, the initialisation and the shuffling.
        settings: a :class:`TwelveBitSettings`.
        kde: also record the KDE bounds.

    Returns:
        dict with ``activation``, ``seed``, ``num_train``, ``seconds``,
        ``recorded_epochs``, ``train_loss`` (nats), ``train_accuracy``,
        ``test_accuracy`` (on the held-out patterns), ``binning`` (the table rows,
        bits) and ``kde`` (rows or ``None``).

    Example:
        >>> x, y = vdualib.datasets.load_ib_12bit()
        >>> result = run_seed(x, y, "tanh", seed=0, settings=TwelveBitSettings(epochs=2))
        >>> bool(0 <= result["test_accuracy"] <= 1)
        True
    """
    x = checks.sample_matrix("x", x, dtype=np.float32)
    y = checks.integer_labels("y", y)
    rng = np.random.default_rng(seed)
    train = rng.permutation(x.shape[0])[: int(round(settings.train_fraction * x.shape[0]))]
    schedule = epoch_schedule(settings.epochs, every_epoch_until=settings.every_epoch_until,
                              points_per_decade=settings.points_per_decade)
    binning = InformationPlane(
        x, y, estimator=BinningEstimator(settings.num_bins, BINNING_RANGES[activation]), epochs=schedule,
        gradient_stats=True, gradient_data=(x[train], y[train]), gradient_batch_size=settings.batch_size,
        batch_size=x.shape[0],
    )
    callbacks = [binning]
    kde_plane = None
    if kde:
        kde_schedule = epoch_schedule(settings.epochs, every_epoch_until=1, points_per_decade=settings.kde_points_per_decade)
        subset = np.random.default_rng(10_000 + seed).permutation(x.shape[0])[: settings.kde_subset]
        kde_plane = InformationPlane(x[subset], y[subset], estimator=KDEEstimator(settings.kde_noise_variance),
                                     epochs=kde_schedule)
        callbacks.append(kde_plane)
        schedule = sorted(set(schedule) | set(kde_schedule))
    model = build_mlp(x.shape[1], activation=activation, seed=seed)
    start = time.perf_counter()
    history = fit_in_segments(model, x[train], y[train], schedule, batch_size=settings.batch_size,
                              learning_rate=settings.learning_rate, callbacks=callbacks, seed=seed)
    test = np.setdiff1d(np.arange(x.shape[0]), train)
    test_accuracy = float(np.mean(np.argmax(model.predict(x[test], verbose=0), axis=1) == y[test]))
    return {
        "activation": activation,
        "seed": int(seed),
        "num_train": int(train.size),
        "seconds": time.perf_counter() - start,
        "recorded_epochs": len(binning.epochs),
        "train_loss": history[-1]["loss"],
        "train_accuracy": history[-1]["accuracy"],
        "test_accuracy": test_accuracy,
        "binning": binning.rows,
        "kde": kde_plane.rows if kde_plane else None,
    }


def twelve_bit_study(x, y, settings=None, table_dir=None, progress=True):
    """Every run of the study, summarised per activation.

    Args:
        x, y: the 12-bit task (``vdualib.datasets.load_ib_12bit()``).
        settings: a :class:`TwelveBitSettings` (default: the published study's).
        table_dir: if given, each run's full table is written to
            ``{table_dir}/{activation}_seed{n}.csv``.
        progress: show a progress bar.

    Returns:
        ``{activation: {"runs": [...], "mean_binning": table JSON (mean over
        seeds, 5 significant digits), "kde": [{"seed", "table"}],
        "mean_test_accuracy": float}}``, JSON-ready.

    Example:
        >>> x, y = vdualib.datasets.load_ib_12bit()
        >>> settings = TwelveBitSettings(epochs=2, seeds=1, activations=("tanh",), kde=False)
        >>> study = twelve_bit_study(x, y, settings, progress=False)
        >>> bool(0 <= study["tanh"]["mean_test_accuracy"] <= 1)
        True
    """
    settings = settings or TwelveBitSettings()
    jobs = [(a, s) for a in settings.activations for s in range(settings.seeds)]
    runs = [run_seed(x, y, activation, seed, settings, kde=settings.kde and seed == 0)
            for activation, seed in tqdm(jobs, desc="12-bit runs", disable=not progress)]
    results = {}
    for activation in settings.activations:
        mine = [r for r in runs if r["activation"] == activation]
        if table_dir is not None:
            for run in mine:
                save_table(run["binning"], os.path.join(table_dir, f"{activation}_seed{run['seed']}.csv"))
        results[activation] = {
            "runs": [{k: v for k, v in r.items() if k not in ("binning", "kde")} for r in mine],
            "mean_binning": table_to_json(mean_table([r["binning"] for r in mine]), significant_digits=5),
            "kde": [{"seed": r["seed"], "table": table_to_json(r["kde"], significant_digits=5)} for r in mine if r["kde"]],
            "mean_test_accuracy": float(np.mean([r["test_accuracy"] for r in mine])),
        }
    return results


def summary_rows(study):
    """Per (activation, layer) of a :func:`twelve_bit_study` result: the peak I(X;T) and its epoch,
    the final I(X;T) and I(T;Y) (bits) and the drift-to-diffusion epoch (``"-"`` when none).

    Args:
        study: the dict :func:`twelve_bit_study` returned.

    Returns:
        A list of dicts with ``activation``, ``layer``, ``peak_ixt``, ``peak_epoch``,
        ``final_ixt``, ``final_ity`` and ``drift_to_diffusion_epoch``.

    Example:
        >>> from vdualib.reports import markdown_table
        >>> x, y = vdualib.datasets.load_ib_12bit()
        >>> study = twelve_bit_study(x, y, TwelveBitSettings(epochs=2, seeds=1, activations=("tanh",), kde=False), progress=False)
        >>> print(markdown_table(summary_rows(study), digits=3).splitlines()[0])
        | activation | layer | peak_ixt | peak_epoch | final_ixt | final_ity | drift_to_diffusion_epoch |
    """
    rows = []
    for activation, part in study.items():
        table = table_from_json(part["mean_binning"])
        last = max(r["epoch"] for r in table)
        for layer in dict.fromkeys(r["layer"] for r in table):
            final = next(r for r in table if r["layer"] == layer and r["epoch"] == last)
            peak = max((r for r in table if r["layer"] == layer), key=lambda r: r["ixt"])
            transition = drift_diffusion_epoch(table, layer)
            rows.append({
                "activation": activation, "layer": layer,
                "peak_ixt": peak["ixt"], "peak_epoch": peak["epoch"],
                "final_ixt": final["ixt"], "final_ity": final["ity"],
                "drift_to_diffusion_epoch": "-" if transition is None else transition,
            })
    return rows
