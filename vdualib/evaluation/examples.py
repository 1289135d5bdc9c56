"""Per-example test scores kept beside an evaluation, and paired bootstrap intervals between models.

A comparison of two single models (one seed each, as the zoo holds them) can still say how much
of a difference the finite test split explains: resample the test examples with replacement,
the same indices for both models, and recompute the difference of a measure each time. The
``(1 - alpha)`` percentile interval of those differences is the test-set noise around the
difference. It does not contain seed-to-seed variation (which needs several trainings, the
controlled study's job), so an interval that excludes 0 says "beyond the test-set noise", not
"the method is better".

:func:`vdualib.evaluation.write_report` writes ``examples.npz`` (:data:`EXAMPLES_FILE`) beside
``metrics.json``: the test labels and, per model, :func:`vdualib.metrics.per_example_scores` of
its clean test predictions. The file holds only numeric and string arrays and is read with
``allow_pickle=False``.

Example:
    >>> from vdualib.evaluation import examples
    >>> labels, scores, _ = examples.read_examples("runs/evaluate/examples.npz")
    >>> examples.paired_interval(scores["dualib"], scores["vib"], "ece")
    {'difference': -0.0012, 'low': -0.0031, 'high': 0.0006, 'beyond_noise': False, ...}
"""

import os
import warnings

import numpy as np
import scipy.stats

from vdualib import checks, metrics, reports

__all__ = [
    "EXAMPLES_FILE",
    "MEASURES",
    "BOOTSTRAP",
    "example_record",
    "write_examples",
    "read_examples",
    "examples_path",
    "measure",
    "paired_interval",
]

EXAMPLES_FILE = "examples.npz"

#: measure -> the per-example scores it is computed from (:func:`vdualib.metrics.per_example_scores`)
MEASURES = {"accuracy": ("correct",), "nll": ("nll",), "brier": ("brier",), "ece": ("confidence", "correct")}

#: the bootstrap every interval here uses, decided once: percentile intervals (the measures
#: are means or binned means over thousands of examples, where percentile and BCa agree; BCa's
#: jackknife costs N extra evaluations of the statistic)
BOOTSTRAP = {"num_resamples": 2000, "confidence_level": 0.95, "method": "percentile", "seed": 0}

_SCORES = ("correct", "confidence", "nll", "brier")
_BATCH = 200  # resamples binned at once: 200 x N float64 arrays


def example_record(label, sha256, probs, labels):
    """One model's entry of an evaluation's per-example record.

    Args:
        label: the model's label in the evaluation.
        sha256: the model file's sha256 (ties the scores to ``metrics.json``), or ``None``.
        probs: its clean test probabilities ``[N, C]``.
        labels: the test labels ``[N]``.

    Returns:
        ``{"label", "sha256", "scores"}`` with :func:`vdualib.metrics.per_example_scores`.
    """
    return {"label": label, "sha256": sha256, "scores": metrics.per_example_scores(probs, labels)}


def examples_path(metrics_path):
    """The ``examples.npz`` beside an evaluation's ``metrics.json``."""
    return os.path.join(os.path.dirname(os.fspath(metrics_path)), EXAMPLES_FILE)


def write_examples(path, labels, records, prediction, source="evaluation"):
    """Write the per-example record of an evaluation, atomically.

    Args:
        path: the ``.npz`` file.
        labels: the test labels ``[N]``.
        records: :func:`example_record` dicts, one per model.
        prediction: the evaluation's prediction mode (``"samples"`` or ``"mu"``).
        source: ``"evaluation"`` (the predictions ``metrics.json`` was computed from) or
            ``"reproduced"`` (the same predictions made again later and checked against it).

    Raises:
        ValueError: no records, or scores of another length than ``labels``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not records:
        raise ValueError("write_examples needs at least one model's record.")
    for record in records:
        if any(np.shape(record["scores"][key]) != labels.shape for key in _SCORES):
            raise ValueError(f"the scores of {record['label']!r} do not have one entry per label ({labels.size}).")
    arrays = {
        "labels": labels,
        "models": np.array([str(r["label"]) for r in records]),
        "sha256": np.array([str(r["sha256"] or "") for r in records]),
        "prediction": np.array(prediction),
        "source": np.array(source),
    }
    for key in _SCORES:
        arrays[key] = np.stack([np.asarray(r["scores"][key], dtype=bool if key == "correct" else np.float64) for r in records])
    with reports.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def read_examples(path):
    """Read an ``examples.npz`` written by :func:`write_examples`.

    Returns:
        ``(labels, scores, info)``: labels ``[N]``; ``{model label: {correct, confidence, nll,
        brier}}``, each ``[N]``; ``{"models": [...], "sha256": {label: sha}, "prediction",
        "source"}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a per-example record (missing or mis-shaped arrays, non-finite or
            out-of-range scores, repeated model labels, pickled objects).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; evaluate the models again (vdualib-evaluate) to write it.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} is not a per-example record ({error}); evaluate the models again.") from None
    missing = [k for k in ("labels", "models", "sha256", "prediction", "source", *_SCORES) if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it is not a per-example record of vdualib.evaluation.")
    labels = checks.integer_labels(f"{path} labels", arrays["labels"])
    models = [str(m) for m in arrays["models"]]
    if arrays["models"].ndim != 1 or len(set(models)) != len(models):
        raise ValueError(f"{path} names its models {models}; each model needs one unique label.")
    for key in _SCORES:
        if arrays[key].shape != (len(models), labels.size):
            raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, expected {(len(models), labels.size)}.")
    if not (np.all(np.isfinite(arrays["nll"])) and np.all(np.isfinite(arrays["brier"]))):
        raise ValueError(f"{path} holds non-finite scores; evaluate the models again.")
    if not np.all((arrays["confidence"] >= 0) & (arrays["confidence"] <= 1)):
        raise ValueError(f"{path} holds confidences outside [0, 1]; evaluate the models again.")
    scores = {m: {key: arrays[key][i] for key in _SCORES} for i, m in enumerate(models)}
    info = {
        "models": models,
        "sha256": dict(zip(models, (str(s) for s in arrays["sha256"]))),
        "prediction": str(arrays["prediction"]),
        "source": str(arrays["source"]),
    }
    return labels, scores, info


def _measure_values(name, arrays, num_bins):
    if name == "ece":
        return metrics.top_label_ece(arrays[0], arrays[1], num_bins)
    return np.mean(np.asarray(arrays[0], dtype=np.float64), axis=-1)


def _check_measure(name):
    if name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; choose one of {sorted(MEASURES)}.")


def measure(scores, name, num_bins=15):
    """A test measure from one model's per-example scores.

    Args:
        scores: ``{correct, confidence, nll, brier}`` arrays ``[N]``.
        name: ``"accuracy"``, ``"nll"`` (nats), ``"brier"`` or ``"ece"``.
        num_bins: ECE bins.

    Returns:
        A float, equal to :mod:`vdualib.metrics`' measure of the predictions the scores came from.
    """
    _check_measure(name)
    return float(_measure_values(name, [scores[key] for key in MEASURES[name]], num_bins))


def paired_interval(scores_a, scores_b, name, num_bins=15, **bootstrap):
    """The difference ``measure(a) - measure(b)`` on the same test examples, with its paired
    bootstrap interval.

    Resamples the N examples with replacement (the same indices for both models) and takes the
    percentile interval of the difference (:data:`BOOTSTRAP`, via ``scipy.stats.bootstrap``).

    Args:
        scores_a, scores_b: two models' per-example scores on the same examples, in the same order.
        name: a measure of :data:`MEASURES`.
        num_bins: ECE bins.
        **bootstrap: overrides of :data:`BOOTSTRAP` (``num_resamples``, ``confidence_level``, ``seed``).

    Returns:
        ``{"difference", "low", "high", "beyond_noise", "confidence_level", "num_resamples"}``;
        ``beyond_noise`` is whether the interval excludes 0.

    Raises:
        ValueError: an unknown measure or option, or scores of different lengths.

    Example:
        >>> paired_interval(scores["dualib"], scores["vib"], "accuracy")["beyond_noise"]
    """
    _check_measure(name)
    unknown = set(bootstrap) - set(BOOTSTRAP)
    if unknown:
        raise ValueError(f"unknown bootstrap options {sorted(unknown)}; choose from {sorted(BOOTSTRAP)}.")
    options = dict(BOOTSTRAP, **bootstrap)
    level = options["confidence_level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise ValueError(f"confidence_level must be a number strictly between 0 and 1; got {level!r}.")
    keys = MEASURES[name]
    data = [np.asarray(scores[key]) for scores in (scores_a, scores_b) for key in keys]
    if len({d.shape for d in data}) != 1 or data[0].ndim != 1:
        raise ValueError("paired_interval needs both models' scores on the same examples (equal 1-D lengths).")
    half = len(keys)

    def difference(*arrays, axis=-1):
        return _measure_values(name, arrays[:half], num_bins) - _measure_values(name, arrays[half:], num_bins)

    point = float(difference(*data))
    with warnings.catch_warnings():
        # two models with identical scores give a zero-width interval, which scipy flags as degenerate
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        result = scipy.stats.bootstrap(
            data,
            difference,
            n_resamples=checks.positive_int("num_resamples", options["num_resamples"]),
            confidence_level=float(level),
            method=options["method"],
            paired=True,
            vectorized=True,
            batch=_BATCH,
            rng=np.random.default_rng(checks.non_negative_int("seed", options["seed"])),
        )
    low, high = (float(v) for v in result.confidence_interval)
    return {
        "difference": point,
        "low": low,
        "high": high,
        "beyond_noise": bool(low > 0 or high < 0),
        "confidence_level": options["confidence_level"],
        "num_resamples": options["num_resamples"],
    }
