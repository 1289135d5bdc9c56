"""The evaluation loop: predictions of each model on the clean, corrupted and out-of-distribution
splits, and every metric of :mod:`vdualib.metrics` on them, as one JSON-ready dict.

Models follow the vdualib classifier contract: ``predict_samples(x, num_samples, batch_size,
return_rate)`` gives per-sample class probabilities ``[S, N, C]`` and, in the same forward pass,
the rate KL(e(z|x) || r(z)) in nats (``None`` for a deterministic model). Any other Keras
classifier whose ``predict`` returns class probabilities is evaluated as a single-sample model
without a rate.

Example:
    >>> from vdualib import evaluation, zoo
    >>> model = zoo.load("mnist-dualib-mlp")
    >>> info, _ = zoo.describe("mnist-dualib-mlp", model)
    >>> results = evaluation.evaluate([(model, info)], "mnist", corruption_names="none", limit=500, progress=False)
    >>> bool(results["models"][0]["clean"]["accuracy"] > 0.95)     # on the first 500 test images
    True
"""

import dataclasses
import time

import numpy as np
from tqdm.auto import tqdm

from vdualib import calibration, checks, corruptions, datasets, metrics, reports
from vdualib.evaluation import data, examples
from vdualib.evaluation.examples import PREDICTIONS

__all__ = [
    "PREDICTIONS",
    "predict",
    "split_metrics",
    "temperature_baseline",
    "EvaluationOptions",
    "evaluate",
]

_HISTOGRAM_BINS = 40
_SCALAR_METRICS = {
    "accuracy": metrics.accuracy,
    "nll": metrics.nll,
    "brier": metrics.brier,
    "ece": metrics.expected_calibration_error,
    "mce": metrics.maximum_calibration_error,
    "adaptive_ece": metrics.adaptive_calibration_error,
    "classwise_ece": metrics.classwise_calibration_error,
}
_BINNED = {"ece", "mce", "adaptive_ece", "classwise_ece"}
_CORRUPTION_METRICS = ("accuracy", "nll", "brier", "ece")
_TEMPERATURE_METRICS = ("accuracy", "nll", "brier", "ece", "adaptive_ece")


def predict(model, images, num_samples=None, batch_size=256, with_rate=False):
    """Class probabilities (and optionally the rate) of ``images`` in one forward pass.

    Args:
        model: a vdualib classifier, or any Keras classifier whose ``predict`` returns class
            probabilities.
        images: raw images as the data sets give them (uint8 ``[N, H, W]`` or ``[N, H, W, 3]``),
            or a ``tf.data.Dataset``. They reach the model unchanged, so its input checks apply
            (a vdualib classifier refuses images scaled to [0, 1]).
        num_samples: encoder samples S (``None``: the model's own; ``0``: the decoder at mu, S = 1).
        batch_size: images per forward pass.
        with_rate: also return the per-example rate.

    Returns:
        A dict: ``probs`` ``[N, C]`` (mean over the samples), ``sample_probs`` ``[S, N, C]`` and
        ``rate`` ``[N]`` in nats (``None`` unless ``with_rate`` and the model has a stochastic
        encoder).

    Example:
        >>> out = predict(model, x_test[:100], num_samples=0, with_rate=True)     # the zoo's mnist-dualib-mlp
        >>> out["sample_probs"].shape, out["rate"].shape
        ((1, 100, 10), (100,))
    """
    rate = None
    if not hasattr(model, "predict_samples"):
        sample_probs = model.predict(images, batch_size=batch_size, verbose=0)[None]
    elif with_rate and num_samples == 0 and model.prior is not None and model.prior.needs_samples():
        # the decoder at mu, but a Monte Carlo rate, which needs samples of z: a second pass
        sample_probs = model.predict_samples(images, num_samples=0, batch_size=batch_size)
        rate = model.per_example_rate(images, batch_size=batch_size)
    else:
        out = model.predict_samples(images, num_samples=num_samples, batch_size=batch_size, return_rate=with_rate)
        sample_probs, rate = out if with_rate else (out, None)
    sample_probs = np.asarray(sample_probs)
    return {
        "probs": sample_probs.mean(axis=0),
        "sample_probs": sample_probs,
        "rate": None if rate is None else np.asarray(rate),
    }


def split_metrics(probs, labels, num_bins=15, names=None):
    """Scalar metrics of one split.

    Args:
        probs: class probabilities ``[N, C]``.
        labels: integer labels ``[N]``.
        num_bins: bins of the calibration errors.
        names: a subset of ``accuracy``, ``nll`` (nats), ``brier``, ``ece``, ``mce``,
            ``adaptive_ece``, ``classwise_ece`` (default all).

    Returns:
        ``{name: float}``.

    Example:
        >>> split_metrics(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]), names=["accuracy"])
        {'accuracy': 0.5}
    """
    return {
        name: function(probs, labels, num_bins) if name in _BINNED else function(probs, labels)
        for name, function in _SCALAR_METRICS.items()
        if names is None or name in names
    }


def temperature_baseline(probs, labels, num_bins=15, seed=0, validation=None):
    """Temperature scaling as the baseline a calibration claim has to beat.

    With ``validation = (val_probs, val_labels)`` (a held-out split of the training data), T is
    fitted there and scored on the whole test split. Without it, T is fitted on a random half of
    the test split (drawn with ``seed``) and scored on the other half.

    Returns:
        A dict: ``temperature``, ``fit_on``, ``fit_examples``, ``eval_examples`` and the
        :func:`split_metrics` ``before`` and ``after`` scaling on the scored examples. When
        :func:`vdualib.calibration.fit_temperature` refuses the fit (too few examples, no
        mistakes, an optimum at the end of its range), ``temperature`` and ``after`` are
        ``None`` and ``not_fitted`` says why: the other metrics of the evaluation stay valid.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> logits = 4 * rng.normal(size=(400, 3))
        >>> labels = np.argmax(logits + 4 * rng.normal(size=(400, 3)), axis=1)     # the top class is often wrong
        >>> probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)     # over-confident
        >>> test_probs, test_labels, val_probs, val_labels = probs[:200], labels[:200], probs[200:], labels[200:]
        >>> baseline = temperature_baseline(test_probs, test_labels, validation=(val_probs, val_labels))
        >>> bool(baseline["after"]["ece"] < baseline["before"]["ece"])
        True

    Args:
        probs: test-split class probabilities ``[N, C]``.
        labels: test-split integer labels ``[N]``.
        num_bins: bins of the calibration errors.
        seed: seed of the half split (used without ``validation``).
        validation: ``(val_probs [M, C], val_labels [M])`` of a held-out split, or ``None``.
    """
    if validation is not None:
        fit_probs, fit_labels = validation
        fit_on, test_probs, test_labels = "validation", probs, labels
    else:
        order = np.random.default_rng(seed).permutation(labels.size)
        fit, held_out = order[: labels.size // 2], order[labels.size // 2 :]
        fit_probs, fit_labels = probs[fit], labels[fit]
        fit_on, test_probs, test_labels = "half of test", probs[held_out], labels[held_out]
    record = {
        "temperature": None,
        "fit_on": fit_on,
        "fit_examples": int(np.size(fit_labels)),
        "eval_examples": int(test_labels.size),
        "before": split_metrics(test_probs, test_labels, num_bins, _TEMPERATURE_METRICS),
        "after": None,
    }
    try:
        record["temperature"] = calibration.fit_temperature(fit_probs, fit_labels)
    except ValueError as err:
        record["not_fitted"] = str(err)
        return record
    scaled = calibration.apply_temperature(test_probs, record["temperature"])
    record["after"] = split_metrics(scaled, test_labels, num_bins, _TEMPERATURE_METRICS)
    return record


def _histograms(scores_in, scores_out):
    finite = np.concatenate([scores_in, scores_out])
    low, high = float(finite.min()), float(finite.max())
    edges = np.linspace(low, high if high > low else low + 1.0, _HISTOGRAM_BINS + 1)
    return {"bin_edges": edges, "in": np.histogram(scores_in, edges)[0], "out": np.histogram(scores_out, edges)[0]}


def _ood_metrics(scores_in, scores_out):
    return {
        name: {
            "auroc": metrics.ood_auroc(scores_in[name], scores_out[name]),
            "aupr": metrics.ood_aupr(scores_in[name], scores_out[name]),
            "histogram": _histograms(scores_in[name], scores_out[name]),
        }
        for name in scores_in
        if name in scores_out
    }


def _corruption_summary(per_corruption, severities):
    """Mean over corruptions of each metric, per severity and over all severities."""
    if not per_corruption:
        return {}
    keys = next(iter(next(iter(per_corruption.values())).values())).keys()
    summary = {
        str(severity): {key: _mean([rows[str(severity)][key] for rows in per_corruption.values()]) for key in keys}
        for severity in severities
    }
    summary["mean"] = {key: _mean([row[key] for row in summary.values()]) for key in keys}
    return summary


def _mean(values):
    """The mean, or ``None`` when a value is missing (a temperature that could not be fitted)."""
    return None if any(v is None for v in values) else float(np.mean(values))


def _predicts_at_mu(model):
    """Whether a stochastic model's own prediction is the decoder at mu (``num_samples=0``)."""
    return bool(getattr(model, "stochastic", False)) and getattr(model, "num_samples", None) == 0


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """What an evaluation measures and how: every setting of :func:`evaluate` but the models and
    the data set. :func:`evaluate` takes one, or the same names as keyword arguments.

    Attributes:
        corruption_names: ``"all"``, ``"none"`` or a list of names from
            :func:`vdualib.corruptions.corruption_names`.
        severities: severities 1..5 to evaluate each corruption at.
        ood: out-of-distribution sets: data set names of the same image shape, or
            ``"uniform"`` / ``"gaussian"`` noise images (as many as test images).
        num_samples: encoder samples S per prediction (``None``: each model's own). With
            ``prediction="samples"`` it must be >= 1, and so must a stochastic model's own: S = 0
            is the decoder at mu, which is ``prediction="mu"`` (refused rather than mislabelled).
        batch_size: images per forward pass.
        num_bins: bins of the calibration errors and the reliability curve.
        limit: use only the first ``limit`` test examples (``None``: all).
        seed: seed for the corruptions, noise images and the temperature-scaling split.
        data_dir: folder with the data files (``None``: :func:`vdualib.datasets.load`'s default).
        progress: show progress bars.
        validation: optional ``(images, labels)`` held out from training: temperature scaling
            is then fitted there and scored on the whole test split (else on halves of the test
            split). The images go to the models unchanged (raw uint8 pixels).
        corruption_limit: corrupt only the first ``corruption_limit`` test examples (each
            corrupted split is then ``test[:corruption_limit]``); bounds the cost of the
            5 x 15-19 corrupted copies for large backbones while the clean metrics use every
            test example.
        prediction: ``"samples"`` (the mean over S encoder samples) or ``"mu"`` (the decoder at
            the mean of e(z|x), the dual IB paper's protocol; S = 1).

    Example:
        >>> info, _ = vdualib.zoo.describe("mnist-dualib-mlp", model)     # the zoo's mnist-dualib-mlp
        >>> options = EvaluationOptions(ood=("fashion_mnist",), prediction="mu", limit=200, corruption_names=("fog",))
        >>> results = evaluate([(model, info)], "mnist", options, severities=(3,), progress=False)
        >>> results["ood_sets"], results["severities"], list(results["corruptions"])
        (['fashion_mnist'], [3], ['fog'])
    """

    corruption_names: object = "all"
    severities: tuple = corruptions.SEVERITIES
    ood: tuple = ()
    num_samples: int = None
    batch_size: int = 256
    num_bins: int = 15
    limit: int = None
    seed: int = 0
    data_dir: str = None
    progress: bool = True
    validation: tuple = None
    corruption_limit: int = None
    prediction: str = "samples"


def _options(options, settings):
    """``options`` (or the defaults) with the keyword ``settings`` of :func:`evaluate` applied."""
    if options is None:
        options = EvaluationOptions()
    elif not isinstance(options, EvaluationOptions):
        raise ValueError(f"options must be an EvaluationOptions, got {type(options).__name__}.")
    fields = [field.name for field in dataclasses.fields(EvaluationOptions)]
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise ValueError(f"evaluate has no setting {', '.join(unknown)}; the settings are {fields}.")
    return dataclasses.replace(options, **settings)


def _checked_num_samples(models, prediction, num_samples):
    """The S of the prediction mode (0 for ``mu``), refusing an S that contradicts the mode."""
    if prediction not in PREDICTIONS:
        raise ValueError(
            f"prediction must be 'mu' (the decoder at the mean of e(z|x)) or 'samples' (the mean over S encoder "
            f"samples); got {prediction!r}."
        )
    if num_samples is not None:
        num_samples = checks.non_negative_int("num_samples", num_samples)
        if prediction == "mu" and num_samples != 0:
            raise ValueError(
                f"num_samples={num_samples} contradicts prediction='mu' (the decoder at mu uses no samples); "
                "drop num_samples or use prediction='samples'."
            )
        if prediction == "samples" and num_samples == 0:
            # S = 0 is the decoder at mu: recorded as "samples" it would be mislabelled
            raise ValueError(
                "num_samples=0 is the decoder at mu, not a mean over samples; pass prediction='mu' "
                "(--prediction mu) for it, or num_samples >= 1."
            )
    if prediction == "samples" and num_samples is None:
        at_mu = [info.get("label", model.name) for model, info in models if _predicts_at_mu(model)]
        if at_mu:
            raise ValueError(
                f"{', '.join(at_mu)} predict{'s' if len(at_mu) == 1 else ''} with the decoder at mu (num_samples=0), "
                "not a mean over samples; pass prediction='mu' (--prediction mu), or num_samples >= 1."
            )
    return 0 if prediction == "mu" else num_samples


def _checked_severities(severities):
    """The distinct severities, sorted, each from 1 to 5."""
    severities = sorted({checks.positive_int("severity", s) for s in severities})
    if not severities or severities[-1] > max(corruptions.SEVERITIES):
        raise ValueError(f"severities must be integers from 1 to 5; got {severities}.")
    return severities


def _checked_validation(validation):
    """``(images, integer labels)``, one label an image, or ``None``."""
    if validation is None:
        return None
    if len(validation) != 2:
        raise ValueError("validation must be a pair (images, labels).")
    labels = checks.integer_labels("validation labels", validation[1])
    if len(validation[0]) != labels.size:
        raise ValueError(f"validation has {len(validation[0])} images but {labels.size} labels; pass one label an image.")
    return (validation[0], labels)


def _checked_options(models, options):
    """The options with every value checked and normalised (sorted severities, S of the mode)."""
    if not models:
        raise ValueError("evaluate needs at least one (model, info) pair; load them with vdualib.zoo.load and vdualib.zoo.describe.")
    labels = [info.get("label") for _, info in models]
    repeated = sorted({str(label) for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(
            f"the models' labels {repeated} repeat: each model of one evaluation needs its own label (a zoo name, or "
            "the .keras file's name without its folder); give the files distinct names."
        )
    optional = {name: getattr(options, name) for name in ("limit", "corruption_limit")}
    return dataclasses.replace(
        options,
        num_samples=_checked_num_samples(models, options.prediction, options.num_samples),
        severities=_checked_severities(options.severities),
        validation=_checked_validation(options.validation),
        batch_size=checks.positive_int("batch_size", options.batch_size),
        num_bins=checks.positive_int("num_bins", options.num_bins),
        seed=checks.non_negative_int("seed", options.seed),
        **{name: None if value is None else checks.positive_int(name, value) for name, value in optional.items()},
    )


@dataclasses.dataclass(frozen=True)
class _EvaluationData:
    """The splits an evaluation runs on: the (limited) test split, the part of it that is
    corrupted, the corruption families and the OOD images by set name."""

    dataset: str
    images: np.ndarray
    labels: np.ndarray
    corrupt_images: np.ndarray
    corrupt_labels: np.ndarray
    corruption_names: list
    ood_sets: dict


def _load_evaluation_data(dataset, options):
    """The test split of ``dataset`` and what is derived from it, as the options ask."""
    dataset = datasets.canonical_name(dataset)
    names = data.corruption_list(options.corruption_names, dataset)
    _, (images, labels) = datasets.load(dataset, data_dir=options.data_dir)
    images, labels = images[: options.limit], labels[: options.limit].astype(np.int64)
    return _EvaluationData(
        dataset=dataset,
        images=images,
        labels=labels,
        corrupt_images=images[: options.corruption_limit],
        corrupt_labels=labels[: options.corruption_limit],
        corruption_names=names,
        ood_sets={name: data.ood_images(name, images, options.data_dir, options.seed) for name in options.ood},
    )


class _ModelRun:
    """One model in an evaluation: its result dict and per-example record as they fill, and the
    seconds spent in its forward passes and in its metrics."""

    def __init__(self, model, info, options):
        self.model = model
        self.options = options
        self.result = dict(info, clean={}, corruptions={}, ood={})
        self.timings = {"forward": 0.0, "metrics": 0.0}
        self.record = None  # examples.example_record of the clean test split
        self.in_scores = None  # uncertainty scores on the clean test split
        self.shift_sums = {}  # per-example correctness and NLL summed over the corrupted splits
        self.shift_conditions = {"confidence": [], "correct": []}  # per corrupted split, per example

    def predict(self, images, with_rate=False):
        """:func:`predict` with the evaluation's S and batch size, timed as forward passes."""
        start = time.perf_counter()
        out = predict(self.model, images, self.options.num_samples, self.options.batch_size, with_rate)
        self.timings["forward"] += time.perf_counter() - start
        return out

    def measure(self, function, *args):
        """``function(*args)``, timed as metrics."""
        start = time.perf_counter()
        value = function(*args)
        self.timings["metrics"] += time.perf_counter() - start
        return value


def _evaluate_clean(run, split):
    """The clean test metrics, reliability curve, temperature baseline and per-example record."""
    options, labels, result = run.options, split.labels, run.result
    clean = run.predict(split.images, with_rate=bool(split.ood_sets))
    result["num_samples_used"] = int(clean["sample_probs"].shape[0])
    result["clean"] = run.measure(split_metrics, clean["probs"], labels, options.num_bins)
    result["reliability"] = run.measure(metrics.reliability_curve, clean["probs"], labels, options.num_bins)
    held_out = None if options.validation is None else (run.predict(options.validation[0])["probs"], options.validation[1])
    scaling = run.measure(temperature_baseline, clean["probs"], labels, options.num_bins, options.seed, held_out)
    result["temperature_scaling"] = scaling
    run.in_scores = run.measure(metrics.uncertainty_scores, clean["probs"], clean["sample_probs"], clean["rate"])
    # the per-example ECE after TS is kept only where T was scored on the whole test split
    temperature = scaling["temperature"] if scaling["fit_on"] == "validation" else None
    run.record = examples.example_record(
        result["label"], result.get("sha256"), clean["probs"], labels, run.in_scores, temperature
    )


def _evaluate_ood(model_runs, split, options):
    """AUROC, AUPR and score histograms of every model on every OOD set."""
    sets = tqdm(split.ood_sets.items(), desc="out-of-distribution", disable=not options.progress or not split.ood_sets)
    for ood_name, ood_images in sets:
        for run in model_runs:
            out = run.predict(ood_images, with_rate=True)
            scores = run.measure(metrics.uncertainty_scores, out["probs"], out["sample_probs"], out["rate"])
            run.result["ood"][ood_name] = run.measure(_ood_metrics, run.in_scores, scores)
            run.record["scores"]["uncertainty"][ood_name] = scores


def _corruption_row(run, corrupted, labels):
    """One model's metrics on one corrupted split (and the ECE after its temperature scaling)."""
    num_bins = run.options.num_bins
    probs = run.predict(corrupted)["probs"]
    row = run.measure(split_metrics, probs, labels, num_bins, _CORRUPTION_METRICS)
    shifted = metrics.per_example_scores(probs, labels)
    for key in ("correct", "nll"):  # summed per example over corruptions and severities
        run.shift_sums[key] = run.shift_sums.get(key, 0.0) + shifted[key]
    for key, values in run.shift_conditions.items():  # kept per split: the shift ECE is a mean of per-split ECEs
        values.append(shifted[key])
    row["ece_temperature_scaled"] = None
    temperature = run.result["temperature_scaling"]["temperature"]
    if temperature is not None:
        scaled = calibration.apply_temperature(probs, temperature)
        row["ece_temperature_scaled"] = run.measure(metrics.expected_calibration_error, scaled, labels, num_bins)
    return row


def _evaluate_corruptions(model_runs, split, options):
    """Every model on every corruption and severity, their summaries and per-example means;
    returns the seconds spent corrupting, per corruption."""
    seconds = dict.fromkeys(split.corruption_names, 0.0)
    pairs = [(name, severity) for name in split.corruption_names for severity in options.severities]
    for name, severity in tqdm(pairs, desc="corruptions", disable=not options.progress or not pairs):
        start = time.perf_counter()
        corrupted = corruptions.corrupt(split.corrupt_images, name, severity, seed=options.seed)
        seconds[name] += time.perf_counter() - start
        for run in model_runs:
            run.result["corruptions"].setdefault(name, {})[str(severity)] = _corruption_row(run, corrupted, split.corrupt_labels)
    for run in model_runs:
        run.result["corruption_summary"] = _corruption_summary(run.result["corruptions"], options.severities)
        if pairs:
            # per example, the mean over every corruption and severity: their means are shift_accuracy / shift_nll
            run.record["scores"].update({f"shift_{key}": total / len(pairs) for key, total in run.shift_sums.items()})
            run.record["scores"].update(
                {f"shift_condition_{key}": np.stack(values) for key, values in run.shift_conditions.items()}
            )
    return seconds


def _notes(split, options, results):
    """The report's notes: the data's source, regenerated corruptions, temperatures not fitted."""
    source = data.data_source(split.dataset, options.data_dir)
    notes = ([data.CIFAR10_JPEG_NOTE] if source == "jpeg" else []) + ([data.CORRUPTIONS_NOTE] if split.corruption_names else [])
    notes += [
        f"Temperature scaling of `{r['label']}` was not fitted: {r['temperature_scaling']['not_fitted']}"
        for r in results
        if r["temperature_scaling"]["temperature"] is None
    ]
    return source, notes


def _results(split, options, model_runs, corruption_seconds):
    """The dict :func:`evaluate` returns, from the filled model runs."""
    for run in model_runs:
        run.result["timings_seconds"] = run.timings
    results = [run.result for run in model_runs]
    source, notes = _notes(split, options, results)
    return {
        "dataset": split.dataset,
        "split": "test" if options.limit is None else f"test[:{split.labels.size}]",
        "num_examples": int(split.labels.size),
        "corruption_split": f"test[:{split.corrupt_labels.size}]" if split.corruption_names else None,
        "data_source": source,
        "prediction": options.prediction,
        "num_bins": options.num_bins,
        "seed": options.seed,
        "corruptions": split.corruption_names,
        "severities": options.severities,
        "ood_sets": list(split.ood_sets),
        "notes": notes,
        "models": results,
        "timings_seconds": {"corruptions": sum(corruption_seconds.values()), "per_corruption": corruption_seconds},
        "provenance": reports.provenance(models={r["label"]: r["sha256"] for r in results}),
        # numpy arrays, not JSON: write_report keeps them in examples.npz beside metrics.json
        "examples": {"labels": split.labels, "records": [run.record for run in model_runs]},
    }


def evaluate(models, dataset, options=None, **settings):
    """Evaluate ``models`` on the test split of ``dataset``, its corruptions and OOD sets.

    Args:
        models: a list of ``(model, info)`` pairs (:func:`vdualib.zoo.load` and :func:`vdualib.zoo.describe`).
        dataset: data set name for :func:`vdualib.datasets.load`; its test split is used.
        options: an :class:`EvaluationOptions` (``None``: the defaults).
        **settings: any field of :class:`EvaluationOptions` (``corruption_names``,
            ``severities``, ``ood``, ``num_samples``, ``batch_size``, ``num_bins``, ``limit``,
            ``seed``, ``data_dir``, ``progress``, ``validation``, ``corruption_limit``,
            ``prediction``), overriding ``options``.

    Returns:
        A dict (see :func:`vdualib.evaluation.write_report`): the prediction mode, per model the
        clean metrics, reliability curve, temperature-scaling baseline, per corruption and
        severity metrics, OOD AUROC/AUPR with score histograms, and timings in seconds;
        provenance with each model's sha256. All of it is JSON-ready except ``examples``
        (``{"labels": [N], "records": [...]}``, each model's per-example clean test scores, test
        and OOD uncertainty scores and mean correctness and NLL over the corruptions,
        :mod:`vdualib.evaluation.examples`), which ``write_report`` writes to ``examples.npz``.

    Raises:
        ValueError: no models, a setting :class:`EvaluationOptions` does not have, or a bad
            value (the message says what to pass).

    Example:
        >>> from vdualib.evaluation import zoo_validation
        >>> model = vdualib.zoo.load("mnist-dualib-mlp")
        >>> info, card = vdualib.zoo.describe("mnist-dualib-mlp", model)
        >>> results = evaluate([(model, info)], "mnist", severities=[3], ood=["fashion_mnist"],
        ...                    prediction="mu", validation=zoo_validation([card], "mnist"),
        ...                    limit=200, corruption_names=["gaussian_noise"], progress=False)     # a quick look
        >>> results["num_examples"], list(results["models"][0]["clean"])[:4]
        (200, ['accuracy', 'nll', 'brier', 'ece'])
    """
    options = _checked_options(models, _options(options, settings))
    split = _load_evaluation_data(dataset, options)
    model_runs = [_ModelRun(model, info, options) for model, info in models]
    for run in model_runs:
        _evaluate_clean(run, split)
    _evaluate_ood(model_runs, split, options)
    corruption_seconds = _evaluate_corruptions(model_runs, split, options)
    return _results(split, options, model_runs, corruption_seconds)
