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
its clean test predictions, each corrupted example's mean correctness and NLL over the
corruptions and severities, the top-label confidence and correctness of its temperature-scaled
test predictions (when T was fitted on a held-out validation split, so that the ECE after
scaling is scored on the whole test split), and its uncertainty scores
(:func:`vdualib.metrics.uncertainty_scores`) on the test split and on each OOD set, from which the
OOD AUROCs are computed. Measures are named as in the comparison: ``accuracy``, ``nll``,
``brier``, ``ece``, ``ece_after_ts``, ``shift_accuracy``, ``shift_nll`` and
``auroc_<ood set>_<score>``
(an AUROC interval resamples the in- and out-of-distribution examples independently, each with
the same indices for both models). The file holds only numeric and string arrays and is read
with ``allow_pickle=False``.

Example:
    >>> from vdualib import zoo
    >>> from vdualib.evaluation import examples
    >>> folder = os.path.join(zoo.models_dir(), "evaluations")     # the zoo's recorded evaluations
    >>> labels, scores, _ = examples.read_examples(os.path.join(folder, "mnist-dualib-mlp", "examples.npz"))
    >>> _, vib_scores, _ = examples.read_examples(os.path.join(folder, "mnist-vib-mlp", "examples.npz"))
    >>> result = examples.paired_interval(scores["mnist-dualib-mlp"], vib_scores["mnist-vib-mlp"], "ece")
    >>> sorted(result)
    ['beyond_noise', 'confidence_level', 'difference', 'high', 'low', 'num_resamples']
"""

import os
import zipfile

import numpy as np

from vdualib import calibration, checks, metrics, reports

__all__ = [
    "PREDICTIONS",
    "EXAMPLES_FILE",
    "MEASURES",
    "BOOTSTRAP",
    "example_record",
    "write_examples",
    "read_examples",
    "examples_path",
    "measure",
    "interval_available",
    "paired_interval",
]

EXAMPLES_FILE = "examples.npz"

#: prediction mode -> what the reported probabilities are; an evaluation and its per-example
#: record are in one of these modes (:func:`vdualib.evaluation.evaluate` makes the predictions)
PREDICTIONS = {
    "samples": "the mean of softmax(decoder(z)) over S encoder samples z ~ e(z|x)",
    "mu": "softmax(decoder(mu(x))), the decoder at the mean of e(z|x) (the dual IB paper's protocol)",
}

#: measure -> the per-example scores it is computed from (:func:`vdualib.metrics.per_example_scores`;
#: ``ts_*``: those of the temperature-scaled predictions; ``shift_correct`` / ``shift_nll``: each
#: corrupted example's mean over the corruptions and severities, whose mean is the comparison's
#: ``shift_accuracy`` / ``shift_nll``; ``shift_condition_*``: ``[splits, N_corrupted]``, one row per
#: corrupted split). A measure of two scores is a top-label ECE of (confidence, correctness);
#: ``shift_ece`` is the mean over the corrupted splits of their ECEs, as the evaluation reports it.
MEASURES = {
    "accuracy": ("correct",),
    "nll": ("nll",),
    "brier": ("brier",),
    "ece": ("confidence", "correct"),
    "ece_after_ts": ("ts_confidence", "ts_correct"),
    "shift_accuracy": ("shift_correct",),
    "shift_nll": ("shift_nll",),
    "shift_ece": ("shift_condition_confidence", "shift_condition_correct"),
}

#: the bootstrap every interval here uses, decided once. Percentile intervals: the measures are
#: means, binned means or rank statistics over thousands of examples, where percentile and BCa
#: intervals agree, and BCa's jackknife would cost N extra evaluations of the statistic.
BOOTSTRAP = {"num_resamples": 2000, "confidence_level": 0.95, "seed": 0}

_SCORES = ("correct", "confidence", "nll", "brier")
_SHIFT_SCORES = ("shift_correct", "shift_nll")  # [N_corrupted], only when the evaluation had corruptions
# [splits, N_corrupted]: each corrupted split's (corruption x severity) top-label confidence and correctness
_SHIFT_CONDITION_SCORES = ("shift_condition_confidence", "shift_condition_correct")
_SCALED_SCORES = ("ts_confidence", "ts_correct")  # [N] per model, only when its T was fitted on a validation split
_IN_DISTRIBUTION = "test"  # the split name of the in-distribution uncertainty scores
_TEXT_KEYS = ("models", "sha256", "prediction", "source")  # the file's string arrays; every other array is numeric
_SEPARATOR = "__"  # joins model index, split and score in the file's keys
_BATCH = 200  # resamples binned at once: 200 x N float64 arrays


def example_record(label, sha256, probs, labels, uncertainty=None, temperature=None):
    """One model's entry of an evaluation's per-example record.

    Args:
        label: the model's label in the evaluation.
        sha256: the model file's sha256 (ties the scores to ``metrics.json``), or ``None``.
        probs: its clean test probabilities ``[N, C]``.
        labels: the test labels ``[N]``.
        uncertainty: its uncertainty scores on the test split,
            ``{score name: [N]}`` (:func:`vdualib.metrics.uncertainty_scores`); the OOD sets' are
            added under their names as the evaluation reaches them.
        temperature: the temperature fitted on a held-out validation split, or ``None``; with it,
            the record keeps ``ts_confidence`` and ``ts_correct`` of
            ``softmax(log probs / temperature)`` for the ECE after temperature scaling. Leave it
            ``None`` when T was scored on part of the test split only.

    Returns:
        ``{"label", "sha256", "scores"}``: ``scores`` holds
        :func:`vdualib.metrics.per_example_scores` (and the ``ts_*`` scores) and ``uncertainty``
        ``{split: {score: [n]}}``, as one model's entry of :func:`read_examples` does.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> probs, labels = rng.dirichlet(np.ones(3), 100), rng.integers(0, 3, 100)
        >>> record = example_record("vib", None, probs, labels, temperature=1.2)
        >>> measure(record["scores"], "ece_after_ts")     # the ECE of softmax(log probs / 1.2)
        0.2071
    """
    scores = metrics.per_example_scores(probs, labels)
    if temperature is not None:
        scaled = metrics.per_example_scores(calibration.apply_temperature(probs, temperature), labels)
        scores["ts_confidence"], scores["ts_correct"] = scaled["confidence"], scaled["correct"]
    scores["uncertainty"] = {_IN_DISTRIBUTION: dict(uncertainty or {})}
    return {"label": label, "sha256": sha256, "scores": scores}


def examples_path(metrics_path):
    """The ``examples.npz`` beside an evaluation's ``metrics.json``.

    Example:
        >>> examples_path("runs/evaluate/metrics.json")
        'runs/evaluate/examples.npz'
    """
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
        ValueError: no records, scores of another length than ``labels``, or anything
            :func:`read_examples` would refuse (non-finite scores, confidences outside [0, 1],
            repeated model labels); nothing is written then.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> probs_a, probs_b, labels = rng.dirichlet(np.ones(3), 100), rng.dirichlet(np.ones(3), 100), rng.integers(0, 3, 100)
        >>> records = [example_record("a", None, probs_a, labels), example_record("b", None, probs_b, labels)]
        >>> write_examples("runs/compare/examples.npz", labels, records, "mu")
        >>> sorted(read_examples("runs/compare/examples.npz")[1])
        ['a', 'b']
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {sorted(PREDICTIONS)}; got {prediction!r}.")
    if source not in ("evaluation", "reproduced"):
        raise ValueError(f"source must be 'evaluation' or 'reproduced'; got {source!r}.")
    labels = checks.integer_labels("labels", labels)
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
    for key in _SHIFT_SCORES:
        present = [key in r["scores"] for r in records]
        if any(present) and not all(present):
            raise ValueError(f"some records have {key} and some do not; they come from one evaluation.")
        if all(present):
            arrays[key] = np.stack([checks.finite_array(key, r["scores"][key]) for r in records])
    present = [all(key in r["scores"] for key in _SHIFT_CONDITION_SCORES) for r in records]
    if any(present) and not all(present):
        raise ValueError(f"some records have {list(_SHIFT_CONDITION_SCORES)} and some do not; they come from one evaluation.")
    if all(present):
        for key in _SHIFT_CONDITION_SCORES:
            dtype = bool if key == "shift_condition_correct" else np.float64
            arrays[key] = np.stack([np.asarray(r["scores"][key], dtype=dtype) for r in records])
    for index, record in enumerate(records):
        for key in (k for k in _SCALED_SCORES if k in record["scores"]):  # _parse checks pairs and shapes
            values = np.asarray(record["scores"][key], dtype=bool if key == "ts_correct" else np.float64)
            arrays[_SEPARATOR.join((key, str(index)))] = values
        for split, by_score in record["scores"].get("uncertainty", {}).items():
            for score, values in by_score.items():
                if _SEPARATOR in split or _SEPARATOR in score or not split or not score:
                    raise ValueError(f"split and score names must be non-empty and free of {_SEPARATOR!r}: {split!r}, {score!r}.")
                arrays[_SEPARATOR.join(("uncertainty", str(index), split, score))] = checks.finite_array(
                    f"{record['label']} {split} {score} scores", values
                )
    _parse(arrays, path)  # what is written reads back: the reader's checks, before any file is touched
    with reports.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def read_examples(path):
    """Read an ``examples.npz`` written by :func:`write_examples`.

    Returns:
        ``(labels, scores, info)``: labels ``[N]``; ``{model label: {correct, confidence, nll,
        brier, uncertainty}}``, each ``[N]`` but ``uncertainty`` (``{split: {score: [n]}}``, the
        test split as ``"test"``), plus ``shift_correct`` and ``shift_nll`` ``[N_corrupted]``
        when the evaluation had corruptions and ``ts_confidence`` and ``ts_correct`` ``[N]`` for
        a model whose temperature was fitted on a validation split; ``{"models": [...],
        "sha256": {label: sha}, "prediction", "source"}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a per-example record (missing or mis-shaped arrays, non-finite or
            out-of-range scores, text where numbers belong, half of a temperature-scaled pair,
            repeated model labels, pickled objects).

    Example:
        >>> from vdualib import zoo
        >>> path = os.path.join(zoo.models_dir(), "evaluations", "mnist-vib-mlp", "examples.npz")     # recorded
        >>> labels, scores, info = read_examples(path)
        >>> labels.shape, bool(0 <= measure(scores["mnist-vib-mlp"], "ece_after_ts") <= 1)
        ((10000,), True)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; evaluate the models again (vdualib-evaluate) to write it.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        # numpy's own message would suggest unpickling the file; its arrays are never pickled objects
        raise ValueError(
            f"{path} is not a per-example record (an .npz of plain numeric and string arrays); evaluate the models again."
        ) from None
    return _parse(arrays, path)


def _parse(arrays, path):
    """Check the arrays of a per-example record and unpack them as :func:`read_examples` returns them."""
    missing = [k for k in ("labels", *_TEXT_KEYS, *_SCORES) if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it is not a per-example record of vdualib.evaluation.")
    text = [k for k, v in arrays.items() if k not in _TEXT_KEYS and v.dtype.kind not in "biuf"]
    if text:
        raise ValueError(f"{path}: {text} must hold numbers; it is not a per-example record of vdualib.evaluation.")
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
    for key in _SHIFT_SCORES:
        if key in arrays and (arrays[key].ndim != 2 or len(arrays[key]) != len(models) or not np.all(np.isfinite(arrays[key]))):
            raise ValueError(f"{path}: {key} must be finite, one row a model; evaluate the models again.")
    _check_shift_conditions(arrays, path, len(models))
    shift = [key for key in (*_SHIFT_SCORES, *_SHIFT_CONDITION_SCORES) if key in arrays]
    scores = {
        m: {**{key: arrays[key][i] for key in (*_SCORES, *shift)}, "uncertainty": {}} for i, m in enumerate(models)
    }
    for key, values in arrays.items():
        parts = key.split(_SEPARATOR)
        if parts[0] in _SCALED_SCORES:
            _read_scaled(path, key, values, parts, models, labels.size, scores)
        if parts[0] != "uncertainty":
            continue
        if len(parts) != 4 or not parts[1].isdigit() or int(parts[1]) >= len(models):
            raise ValueError(f"{path} has an array {key!r} of no model; it is not a per-example record of vdualib.evaluation.")
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"{path}: {key} must be a non-empty finite 1-D array; evaluate the models again.")
        if parts[2] == _IN_DISTRIBUTION and values.size != labels.size:
            raise ValueError(f"{path}: {key} has {values.size} entries for {labels.size} test examples.")
        scores[models[int(parts[1])]]["uncertainty"].setdefault(parts[2], {})[parts[3]] = values
    for model, entry in scores.items():
        if sum(key in entry for key in _SCALED_SCORES) == 1:
            raise ValueError(
                f"{path} holds only one of {list(_SCALED_SCORES)} for {model!r} (a model has both or neither); "
                "evaluate the models again."
            )
    info = {
        "models": models,
        "sha256": dict(zip(models, (str(s) for s in arrays["sha256"]))),
        "prediction": str(arrays["prediction"]),
        "source": str(arrays["source"]),
    }
    return labels, scores, info


def _check_shift_conditions(arrays, path, num_models):
    """Both per-split shift arrays or neither, ``[models, splits, N_corrupted]``, boolean correctness
    and confidences in [0, 1], as long as the per-example shift means."""
    present = [key in arrays for key in _SHIFT_CONDITION_SCORES]
    if not any(present):
        return
    if not all(present):
        raise ValueError(f"{path} holds only one of {list(_SHIFT_CONDITION_SCORES)}; evaluate the models again.")
    confidence, correct = (arrays[key] for key in _SHIFT_CONDITION_SCORES)
    length = arrays["shift_correct"].shape[-1] if "shift_correct" in arrays else confidence.shape[-1]
    if confidence.ndim != 3 or confidence.shape != correct.shape or confidence.shape[0] != num_models or confidence.shape[-1] != length:
        raise ValueError(f"{path}: the per-split shift scores must be [models, splits, N_corrupted]; evaluate the models again.")
    if correct.dtype != bool or not np.all((confidence >= 0) & (confidence <= 1)):
        raise ValueError(f"{path}: per-split shift correctness must be boolean and confidences in [0, 1]; evaluate again.")


def _read_scaled(path, key, values, parts, models, size, scores):
    """Check one model's temperature-scaled scores of an ``examples.npz`` and add them to ``scores``."""
    if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) >= len(models):
        raise ValueError(f"{path} has an array {key!r} of no model; it is not a per-example record of vdualib.evaluation.")
    if values.shape != (size,):
        raise ValueError(f"{path}: {key} has shape {values.shape}, expected ({size},); evaluate the models again.")
    if parts[0] == "ts_correct" and values.dtype != bool:
        raise ValueError(f"{path}: {key} must be boolean; evaluate the models again.")
    if parts[0] == "ts_confidence" and not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{path}: {key} holds confidences outside [0, 1] (or NaN); evaluate the models again.")
    scores[models[int(parts[1])]][parts[0]] = values


def _measure_values(name, arrays, num_bins):
    if name == "shift_ece":  # arrays [splits, ..., N]: the mean of the splits' ECEs
        return np.mean(metrics.top_label_ece(arrays[0], arrays[1], num_bins), axis=0)
    if len(MEASURES[name]) == 2:
        return metrics.top_label_ece(arrays[0], arrays[1], num_bins)
    return np.mean(np.asarray(arrays[0], dtype=np.float64), axis=-1)


def _auroc_parts(name):
    """``(ood set, score)`` of a measure ``auroc_<set>_<score>``, else ``None``."""
    if not name.startswith("auroc_"):
        return None
    for score in sorted(metrics.UNCERTAINTY_SCORES, key=len, reverse=True):
        if name.endswith(f"_{score}") and len(name) > len(f"auroc__{score}"):
            return name[len("auroc_") : -len(score) - 1], score
    return None


def _check_measure(name):
    if name not in MEASURES and _auroc_parts(name) is None:
        raise ValueError(
            f"unknown measure {name!r}; choose one of {sorted(MEASURES)} or auroc_<ood set>_<score> with a score of "
            f"{sorted(metrics.UNCERTAINTY_SCORES)}."
        )


def _auroc_arrays(scores, name):
    """The test-split and OOD-set scores of an AUROC measure (its callers check they exist)."""
    ood_set, score = _auroc_parts(name)
    return scores["uncertainty"][_IN_DISTRIBUTION][score], scores["uncertainty"][ood_set][score]


def _check_scores(model_scores):
    for scores in model_scores:
        if not isinstance(scores, dict):
            raise ValueError(f"scores must be one model's entry of read_examples (a dict), got {type(scores).__name__}.")


def interval_available(name, *model_scores):
    """Whether every model's per-example record (an entry of :func:`read_examples`) holds what
    measure ``name`` needs.

    Raises:
        ValueError: a model's scores that are not a dict.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> probs, labels = rng.dirichlet(np.ones(3), 100), rng.integers(0, 3, 100)
        >>> scores = {"vib": example_record("vib", None, probs, labels)["scores"],
        ...           "dualib": example_record("dualib", None, probs, labels, temperature=1.2)["scores"]}
        >>> interval_available("ece_after_ts", scores["dualib"], scores["vib"])     # False: vib's T came from the test split
        False
    """
    _check_scores(model_scores)
    if name in MEASURES:
        return all(key in scores for scores in model_scores for key in MEASURES[name])
    parts = _auroc_parts(name)
    if parts is None:
        return False
    ood_set, score = parts
    return all(
        score in scores.get("uncertainty", {}).get(split, {}) for scores in model_scores for split in (_IN_DISTRIBUTION, ood_set)
    )


def _check_available(name, *model_scores):
    _check_scores(model_scores)
    _check_measure(name)
    if not interval_available(name, *model_scores):
        raise ValueError(
            f"the per-example record has no scores for {name!r} (an AUROC needs the score on the test split and the "
            "OOD set, shift_* an evaluation with corruptions, ece_after_ts a temperature fitted on a validation split); "
            "evaluate the models again with them."
        )


def measure(scores, name, num_bins=15):
    """A test measure from one model's per-example scores.

    Args:
        scores: one model's entry of :func:`read_examples`.
        name: a measure of :data:`MEASURES` (``nll`` and ``shift_nll`` in nats), or
            ``"auroc_<ood set>_<score>"``.
        num_bins: ECE bins.

    Returns:
        A float, equal to :mod:`vdualib.metrics`' measure of the predictions the scores came from.
    """
    _check_available(name, scores)
    if name not in MEASURES:
        return float(metrics.mann_whitney_auroc(*_auroc_arrays(scores, name)))
    return float(_measure_values(name, [scores[key] for key in MEASURES[name]], num_bins))


def _percentile_bootstrap(groups, statistic, num_resamples, confidence_level, seed):
    """Percentile interval of ``statistic`` over resamples of ``groups``.

    Each group is a list of arrays over the same examples (the last axis: ``[N]``, or ``[splits, N]``
    for the per-split shift scores); its arrays share one resampling of those examples (pairing the two models), and the groups are resampled independently of each
    other (the test split and an OOD set). Written here because ``scipy.stats.bootstrap`` pairs
    only samples of one length, and treats the leading axes of a sample as separate problems, so
    it cannot keep two models on the same indices of a test split and an OOD set of another size.

    Args:
        groups: lists of arrays ``[..., n]``, one shape within a group.
        statistic: maps the resampled groups (each array ``[batch, n]``) to ``[batch]`` values.
        num_resamples: resamples drawn, in batches of ``_BATCH``.
        confidence_level: the interval's coverage, in (0, 1).
        seed: seed of the resampling.

    Returns:
        ``(low, high)``.
    """
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, num_resamples, _BATCH):
        size = min(_BATCH, num_resamples - start)
        resampled = []
        for group in groups:
            index = rng.integers(0, group[0].shape[-1], size=(size, group[0].shape[-1]))
            resampled.append([array[..., index] for array in group])  # examples are the last axis
        values.append(statistic(*resampled))
    tail = 50.0 * (1.0 - confidence_level)
    low, high = np.percentile(np.concatenate(values), [tail, 100.0 - tail])
    return float(low), float(high)


def paired_interval(scores_a, scores_b, name, num_bins=15, **bootstrap):
    """The difference ``measure(a) - measure(b)`` on the same test examples, with its paired
    bootstrap interval.

    Resamples the N test examples with replacement, the same indices for both models, and takes
    the percentile interval of the difference (:data:`BOOTSTRAP`). An OOD AUROC resamples the
    test split and the OOD set independently, each with the same indices for both models.

    Args:
        scores_a, scores_b: two models' entries of :func:`read_examples` (or
            :func:`example_record`'s ``scores``), on the same examples in the same order.
        name: a measure of :data:`MEASURES`, or ``auroc_<ood set>_<score>``.
        num_bins: ECE bins.
        **bootstrap: overrides of :data:`BOOTSTRAP` (``num_resamples``, ``confidence_level``, ``seed``).

    Returns:
        ``{"difference", "low", "high", "beyond_noise", "confidence_level", "num_resamples"}``;
        ``beyond_noise`` is whether the interval excludes 0.

    Raises:
        ValueError: an unknown measure or option, a record without the scores the measure needs,
            or scores of different lengths.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.integers(0, 3, 500)
        >>> good, poor = np.eye(3)[labels] * 0.8 + 0.2 / 3, rng.dirichlet(np.ones(3), 500)     # right / at random
        >>> scores = {"dualib": example_record("dualib", None, good, labels)["scores"],
        ...           "vib": example_record("vib", None, poor, labels)["scores"]}
        >>> paired_interval(scores["dualib"], scores["vib"], "accuracy")["beyond_noise"]
        True
    """
    _check_available(name, scores_a, scores_b)
    unknown = set(bootstrap) - set(BOOTSTRAP)
    if unknown:
        raise ValueError(f"unknown bootstrap options {sorted(unknown)}; choose from {sorted(BOOTSTRAP)}.")
    options = dict(BOOTSTRAP, **bootstrap)
    level = options["confidence_level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise ValueError(f"confidence_level must be a number strictly between 0 and 1; got {level!r}.")
    if name in MEASURES:
        keys = MEASURES[name]
        groups = [[np.asarray(scores[key]) for scores in (scores_a, scores_b) for key in keys]]
        half = len(keys)

        def difference(arrays):
            return _measure_values(name, arrays[:half], num_bins) - _measure_values(name, arrays[half:], num_bins)

    else:
        (in_a, out_a), (in_b, out_b) = _auroc_arrays(scores_a, name), _auroc_arrays(scores_b, name)
        groups = [[in_a, in_b], [out_a, out_b]]

        def difference(scores_in, scores_out):
            return metrics.mann_whitney_auroc(scores_in[0], scores_out[0]) - metrics.mann_whitney_auroc(scores_in[1], scores_out[1])

    for group in groups:
        if len({a.shape for a in group}) != 1 or group[0].ndim not in (1, 2) or group[0].size == 0:
            raise ValueError("paired_interval needs both models' scores on the same examples (equal 1-D lengths).")
    point = float(difference(*groups))
    low, high = _percentile_bootstrap(
        groups,
        difference,
        checks.positive_int("num_resamples", options["num_resamples"]),
        float(level),
        checks.non_negative_int("seed", options["seed"]),
    )
    return {
        "difference": point,
        "low": low,
        "high": high,
        "beyond_noise": bool(low > 0 or high < 0),
        "confidence_level": options["confidence_level"],
        "num_resamples": options["num_resamples"],
    }
