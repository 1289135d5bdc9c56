"""Speed of the information tools, measured side by side in one process.

* :func:`best_and_median`: wall time of repeated calls (also used by :mod:`scripts.lab.ntk_benchmark`);
* :func:`estimator_speed`: binning of 6 layers x 4,096 examples (one recorded epoch
  of the 12-bit study) and the KDE bounds for 10,000 examples x 256 units;
* :func:`callback_overhead`: the 12-bit training loop without the callback, with
  the same stops, and with :class:`~vdualib.information.InformationPlane`
  (binning + gradient statistics), interleaved so machine load affects all alike.
  Besides the ratio of separate runs, the callback's own time
  (``InformationPlane.seconds``) is compared with the rest of the same run;
* :func:`speed_markdown`: the table of ``benchmark_information.md``.

Performance is measured here, never asserted by timed tests.

Example:
    >>> speed = estimator_speed(repeats=3)
    >>> speed["binning_6_layers_4096"]["best_seconds"] < speed["kde_10000x256"]["best_seconds"]
    True
"""

import statistics
import time

import numpy as np

from vdualib import checks
from vdualib.information.binning import BinningEstimator
from vdualib.information.callback import InformationPlane, epoch_schedule
from vdualib.information.kde import kde_information
from vdualib.information.network import build_mlp, fit_in_segments
from vdualib.information.twelve_bit import BINNING_RANGES
from vdualib.reports import markdown_table

__all__ = ["best_and_median", "estimator_speed", "callback_overhead", "speed_markdown"]


def best_and_median(function, repeats):
    """``(best, median)`` wall seconds of ``repeats`` calls of ``function()``.

    Args:
        function: a callable without arguments.
        repeats: the number of timed calls, a positive integer.

    Returns:
        ``(best, median)``, floats in seconds.

    Raises:
        ValueError: ``repeats`` is not a positive integer.

    Example:
        >>> best, median = best_and_median(lambda: sum(range(10**6)), repeats=5)
    """
    repeats = checks.positive_int("repeats", repeats)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def estimator_speed(repeats=5, kde_points=10_000, kde_units=256, seed=0):
    """Time the binning of one 12-bit recording and the KDE bounds of a wide layer.

    Args:
        repeats: timed calls of the binning (the KDE gets ``max(1, repeats // 3)``).
        kde_points, kde_units: size of the KDE layer (10 classes).
        seed: seed of the synthetic activations.

    Returns:
        ``{"binning_6_layers_4096": {"best_seconds", "median_seconds"}, "kde_10000x256": {...}}``
        (the key names the default sizes).

    Example:
        >>> estimator_speed(repeats=3)["kde_10000x256"]["median_seconds"]
    """

    rng = np.random.default_rng(seed)
    layers = [np.tanh(rng.standard_normal((4096, w)) * 2) for w in (10, 7, 5, 4, 3, 2)]
    labels = rng.integers(0, 2, 4096)
    estimator = BinningEstimator(value_range=(-1.0, 1.0))
    binning = best_and_median(lambda: [estimator.information(estimator.summarize(a), labels) for a in layers], repeats)
    points = rng.standard_normal((kde_points, kde_units)).astype(np.float32)
    classes = rng.integers(0, 10, kde_points)
    kde = best_and_median(lambda: kde_information(points, classes, 1.0), max(1, repeats // 3))
    return {
        "binning_6_layers_4096": dict(zip(("best_seconds", "median_seconds"), binning)),
        "kde_10000x256": dict(zip(("best_seconds", "median_seconds"), kde)),
    }


def callback_overhead(x, y, epochs=3000, repeats=2, train_size=3482, seed=0):
    """Wall time of the 12-bit training loop without and with the ``InformationPlane`` callback.

    Args:
        x, y: the 12-bit task.
        epochs: training epochs per run; the callback records on ``epoch_schedule(epochs)``.
        repeats: interleaved runs of each variant; the best is kept.
        train_size: training patterns (a seed-0 permutation).
        seed: the network and shuffling seed.

    Returns:
        dict with ``epochs``, ``recorded_epochs``, ``training_only_seconds``,
        ``training_with_schedule_stops_seconds``, ``training_with_callback_seconds``,
        ``callback_overhead_ratio`` (with callback / training only),
        ``callback_overhead_ratio_same_stops`` (with callback / same stops),
        ``callback_measuring_fraction`` (best callback time / rest of its run),
        ``all_seconds`` and ``all_measuring_fractions``.

    Example:
        >>> x, y = vdualib.datasets.load_ib_12bit()
        >>> callback_overhead(x, y, epochs=300, repeats=1)["callback_overhead_ratio"]
    """

    x = checks.sample_matrix("x", x, dtype=np.float32)
    y = checks.integer_labels("y", y)
    epochs = checks.positive_int("epochs", epochs)
    repeats = checks.positive_int("repeats", repeats)
    train = np.random.default_rng(0).permutation(x.shape[0])[:train_size]
    schedule = epoch_schedule(epochs)

    def study(with_callback, stops):
        """Wall seconds of one training run and the seconds its callback spent measuring."""
        model = build_mlp(x.shape[1], seed=seed)
        callbacks = []
        if with_callback:
            estimator = BinningEstimator(value_range=BINNING_RANGES["tanh"])
            callbacks = [InformationPlane(x, y, estimator=estimator, epochs=schedule, gradient_stats=True,
                                          batch_size=x.shape[0], gradient_data=(x[train], y[train]), gradient_batch_size=512)]
        start = time.perf_counter()
        fit_in_segments(model, x[train], y[train], stops, callbacks=callbacks, seed=seed)
        return time.perf_counter() - start, (callbacks[0].seconds if callbacks else 0.0)

    study(False, [0, min(20, epochs)])  # warm up TensorFlow
    plain, same_stops, with_callback, inside = [], [], [], []
    for _ in range(repeats):
        plain.append(study(False, [0, epochs])[0])
        same_stops.append(study(False, schedule)[0])
        wall, measuring = study(True, schedule)
        with_callback.append(wall)
        inside.append(measuring / (wall - measuring))
    plain_time, stops_time, callback_time = min(plain), min(same_stops), min(with_callback)
    return {
        "epochs": epochs,
        "recorded_epochs": len(schedule),
        "training_only_seconds": plain_time,
        "training_with_schedule_stops_seconds": stops_time,
        "training_with_callback_seconds": callback_time,
        "callback_overhead_ratio": callback_time / plain_time,
        "callback_overhead_ratio_same_stops": callback_time / stops_time,
        "callback_measuring_fraction": min(inside),
        "all_seconds": {"plain": plain, "same_stops": same_stops, "with_callback": with_callback},
        "all_measuring_fractions": inside,
    }


def speed_markdown(speed):
    """``benchmark_information.md`` from ``{"binning_6_layers_4096", "kde_10000x256", "twelve_bit_study"}``.

    Args:
        speed: :func:`estimator_speed`'s dict plus ``"twelve_bit_study"``, the dict of
            :func:`callback_overhead`.

    Returns:
        Markdown text: a table of seconds and a sentence on the callback's overhead.

    Example:
        >>> speed_markdown({**estimator_speed(), "twelve_bit_study": callback_overhead(x, y)})
    """
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
    return markdown_table(rows, digits=3) + (
        f"\nCallback overhead (target < 20%): the callback's own measuring time is "
        f"{100 * study['callback_measuring_fraction']:.1f}% of the training time in the same run; "
        f"between separate runs, x{study['callback_overhead_ratio']:.2f} of training-only wall time and "
        f"x{study['callback_overhead_ratio_same_stops']:.2f} of the same loop with the same stops "
        f"(best of {len(study['all_seconds']['plain'])} interleaved runs each, on a shared 2-core machine).\n")
