"""Accuracy, calibration and out-of-distribution metrics.

Numpy functions on predicted class probabilities ``probs`` (shape ``[N, C]``,
rows on the simplex) and integer labels ``labels`` (shape ``[N]``), plus the
Keras 3 metric :class:`ExpectedCalibrationError` that accumulates the same
binned statistics across batches during ``fit``/``evaluate``.

Calibration follows Guo et al. (2017) and the conventions of the
uncertainty-baselines / robustness-metrics suites: top-label confidence,
equal-width bins on [0, 1] with bin ``b`` holding confidences in
``[b/B, (b+1)/B)``, a confidence of exactly 1.0 in the last bin, empty bins
skipped, bins weighted by their share of the examples.

Out-of-distribution scores are uncertainty scores: higher means "more likely
out of distribution", and :func:`ood_auroc` / :func:`ood_aupr` treat the
out-of-distribution set as the positive class. Entropies, mutual information
and rates are in nats.

Importing this module imports Keras (and its backend) for the metric class, which is
registered with Keras as ``vdualib>ExpectedCalibrationError`` on import, so models compiled with
it load with ``keras.saving.load_model``. The metric computes through ``keras.ops`` and needs
no TensorFlow Probability: it runs on the TensorFlow and JAX backends (tested), eagerly and
inside ``tf.function`` or ``jax.jit``; the PyTorch backend runs the same code but is not tested.
Its input checks are run-time assertions of the backend (see :mod:`vdualib.checks`).
"""

import keras
import numpy as np
import scipy.special
import scipy.stats
from keras import ops

from vdualib import checks, registration

__all__ = [
    "accuracy",
    "nll",
    "brier",
    "per_example_scores",
    "expected_calibration_error",
    "top_label_ece",
    "maximum_calibration_error",
    "adaptive_calibration_error",
    "classwise_calibration_error",
    "reliability_curve",
    "max_probability_score",
    "predictive_entropy",
    "mutual_information",
    "uncertainty_scores",
    "UNCERTAINTY_SCORES",
    "ood_auroc",
    "mann_whitney_auroc",
    "ood_aupr",
    "ExpectedCalibrationError",
]

#: the names :func:`uncertainty_scores` gives its scores (the last two only when it has samples / a rate)
UNCERTAINTY_SCORES = ("max_probability", "entropy", "mutual_information", "rate")

_SIMPLEX_TOLERANCE = checks.PROBABILITY_ATOL
# Floor for log p in the NLL, so a confidently wrong prediction costs
# -log(1e-12) = 27.6 nats instead of an infinite mean.
_LOG_FLOOR = 1e-12


# --------------------------------------------------------------------------- validation


def _check_probs(probs, name="probs"):
    return checks.probability_rows(name, probs, atol=_SIMPLEX_TOLERANCE)


def _check(probs, labels):
    probs = _check_probs(probs)
    labels = checks.integer_labels("labels", labels, num_classes=probs.shape[1])
    if labels.shape[0] != probs.shape[0]:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but probs has {probs.shape[0]} rows; pass one label per row."
        )
    return probs, labels


def _check_num_bins(num_bins):
    return checks.positive_int("num_bins", num_bins)


# --------------------------------------------------------------------------- accuracy and proper scores


def accuracy(probs, labels):
    """Fraction of examples whose arg-max class equals the label (ties: lowest index).

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> accuracy(probs, labels)
        0.5
    """
    probs, labels = _check(probs, labels)
    return float(np.mean(_top_label(probs, labels)[1]))


def nll(probs, labels):
    """Mean negative log-likelihood ``-mean_i log p_i[y_i]`` in nats.

    Probabilities are floored at 1e-12 before the log, so a single confidently
    wrong prediction costs at most 27.6 nats rather than making the mean infinite.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.

    Returns:
        A float, nats.

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> nll(probs, labels)     # -(log 0.9 + log 0.4) / 2
        0.5108
    """
    probs, labels = _check(probs, labels)
    return float(np.mean(_example_nll(probs, labels)))


def brier(probs, labels):
    """Mean Brier score ``mean_i sum_k (p_ik - 1[y_i = k])^2``, in [0, 2].

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.

    Returns:
        A float in [0, 2].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> brier(probs, labels)     # (0.02 + 0.72) / 2
        0.37
    """
    probs, labels = _check(probs, labels)
    return float(np.mean(_example_brier(probs, labels)))


def _example_nll(probs, labels):
    return -np.log(np.maximum(probs[np.arange(labels.size), labels], _LOG_FLOOR))


def _example_brier(probs, labels):
    return np.sum(probs**2, axis=1) - 2.0 * probs[np.arange(labels.size), labels] + 1.0


def per_example_scores(probs, labels):
    """Each example's share of the test measures, so that they can be resampled.

    ``accuracy``, ``nll`` and ``brier`` are the means of ``correct``, ``nll`` and ``brier``;
    ``expected_calibration_error(probs, labels, B) == top_label_ece(confidence, correct, B)``.
    :mod:`vdualib.evaluation.examples` keeps them beside an evaluation for paired bootstrap
    intervals between models.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.

    Returns:
        A dict of ``[N]`` arrays: ``correct`` (bool, arg-max equals the label), ``confidence``
        (the top-label probability), ``nll`` (``-log p[y]`` in nats, p floored at 1e-12 as in
        :func:`nll`) and ``brier`` (``sum_k (p_k - 1[y = k])^2``).

    Raises:
        ValueError: as :func:`accuracy`.

    Example:
        >>> per_example_scores([[0.9, 0.1], [0.4, 0.6]], [0, 0])["nll"]
        array([0.1054, 0.9163])
    """
    probs, labels = _check(probs, labels)
    confidence, correct = _top_label(probs, labels)
    return {
        "correct": correct,
        "confidence": confidence,
        "nll": _example_nll(probs, labels),
        "brier": _example_brier(probs, labels),
    }


# --------------------------------------------------------------------------- calibration


def _bin_statistics(confidence, correct, num_bins):
    """Per equal-width bin: example count, summed confidence, summed correctness.

    Bin ``b`` holds confidences in ``[b/B, (b+1)/B)``; 1.0 goes to the last bin. Arrays
    ``[..., N]`` give ``[..., B]`` statistics, each row binned on its own (one ``bincount``
    for all rows, offset by row, so a bootstrap's resamples are binned at once).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    batch, n = confidence.shape[:-1], confidence.shape[-1]
    rows = int(np.prod(batch))
    index = np.minimum(np.floor(confidence * num_bins).astype(np.int64), num_bins - 1).reshape(rows, n)
    index = (index + num_bins * np.arange(rows)[:, None]).ravel()
    size = rows * num_bins

    def sums(weights=None):
        flat = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        return np.bincount(index, weights=flat, minlength=size).astype(np.float64).reshape(*batch, num_bins)

    return sums(), sums(confidence), sums(correct)


def _top_label(probs, labels):
    return probs.max(axis=1), probs.argmax(axis=1) == labels


def expected_calibration_error(probs, labels, num_bins=15):
    """Top-label expected calibration error (Guo et al., 2017), a probability in [0, 1].

    ``ECE = sum_b (n_b / N) * |acc_b - conf_b|`` over the non-empty equal-width
    bins of the top-label confidence ``max_k p_k``, where ``acc_b`` is the
    accuracy and ``conf_b`` the mean confidence of the ``n_b`` examples in bin ``b``.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.
        num_bins: the number of bins B, a positive integer.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> expected_calibration_error(probs, labels)     # (|1 - 0.9| + |0 - 0.6|) / 2
        0.35
    """
    probs, labels = _check(probs, labels)
    return float(top_label_ece(*_top_label(probs, labels), num_bins))


def top_label_ece(confidence, correct, num_bins=15):
    """:func:`expected_calibration_error` from each example's top-label confidence and
    correctness (:func:`per_example_scores`), over the last axis.

    Args:
        confidence: top-label probabilities ``[..., N]`` in [0, 1].
        correct: whether each prediction is right, ``[..., N]`` (bool or 0/1).
        num_bins: the number of bins B, a positive integer.

    Returns:
        ``[...]`` ECEs (a 0-d array for 1-D input), in [0, 1].

    Raises:
        ValueError: shapes differ, no examples, a confidence outside [0, 1] (NaN included), or
            ``correct`` not 0/1.

    Example:
        >>> float(top_label_ece([0.9, 0.6], [True, False]))     # (|1 - 0.9| + |0 - 0.6|) / 2
        0.35
    """
    num_bins = _check_num_bins(num_bins)
    confidence = checks.numeric_array("confidence", confidence, dtype=np.float64)
    correct = checks.numeric_array("correct", correct)
    if confidence.shape != correct.shape or confidence.ndim == 0 or confidence.shape[-1] == 0:
        raise ValueError(
            f"confidence {confidence.shape} and correct {correct.shape} must be arrays of one shape [..., N] with N > 0."
        )
    if not np.all((confidence >= 0.0) & (confidence <= 1.0)):
        raise ValueError("confidence must hold probabilities in [0, 1]; it has values outside (or NaN).")
    if not np.all((correct == 0) | (correct == 1)):
        raise ValueError("correct must be bool or 0/1.")
    _, confidence_sum, correct_sum = _bin_statistics(confidence, correct, num_bins)
    return np.sum(np.abs(correct_sum - confidence_sum), axis=-1) / confidence.shape[-1]


def maximum_calibration_error(probs, labels, num_bins=15):
    """Largest per-bin gap ``max_b |acc_b - conf_b|`` over non-empty equal-width bins.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.
        num_bins: the number of bins B, a positive integer.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> maximum_calibration_error(probs, labels)     # max(0.1, 0.6)
        0.6
    """
    probs, labels = _check(probs, labels)
    count, confidence_sum, correct_sum = _bin_statistics(*_top_label(probs, labels), _check_num_bins(num_bins))
    filled = count > 0
    return float(np.max(np.abs(correct_sum[filled] - confidence_sum[filled]) / count[filled]))


def adaptive_calibration_error(probs, labels, num_bins=15):
    """Top-label ECE with equal-mass bins (Nixon et al., 2019).

    Examples are sorted by confidence and split into ``num_bins`` groups whose
    sizes differ by at most one (``np.array_split``); with fewer examples than
    bins, the empty groups are skipped. Formula as in
    :func:`expected_calibration_error`.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.
        num_bins: the number of bins B, a positive integer.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> adaptive_calibration_error(probs, labels, num_bins=2)
        0.35
    """
    probs, labels = _check(probs, labels)
    num_bins = _check_num_bins(num_bins)
    confidence, correct = _top_label(probs, labels)
    order = np.argsort(confidence, kind="stable")
    gap = 0.0
    for group in np.array_split(order, num_bins):
        if group.size:
            gap += abs(np.sum(correct[group]) - np.sum(confidence[group]))
    return float(gap / labels.size)


def classwise_calibration_error(probs, labels, num_bins=15):
    """Class-wise ECE (Kull et al., 2019): the mean over classes ``k`` of the ECE of
    ``p_k`` as a forecast of the event ``y = k``, with equal-width bins.

    ``cwECE = (1/C) sum_k sum_b (n_kb / N) |freq_kb - conf_kb|``.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.
        num_bins: the number of bins B, a positive integer.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> classwise_calibration_error(probs, labels)     # (0.7 + 0.7) / (2 * 2)
        0.35
    """
    probs, labels = _check(probs, labels)
    num_bins = _check_num_bins(num_bins)
    total = 0.0
    for k in range(probs.shape[1]):
        _, confidence_sum, event_sum = _bin_statistics(probs[:, k], labels == k, num_bins)
        total += np.sum(np.abs(event_sum - confidence_sum))
    return float(total / (labels.size * probs.shape[1]))


def reliability_curve(probs, labels, num_bins=15):
    """Per equal-width bin of top-label confidence: edges, mean confidence, accuracy, count.

    Args:
        probs: predicted class probabilities ``[N, C]``, rows on the simplex.
        labels: integer labels ``[N]`` in ``[0, C)``.
        num_bins: the number of bins B, a positive integer.

    Returns:
        A dict of numpy arrays: ``bin_edges`` (``[B + 1]``), ``confidence`` and ``accuracy``
        (``[B]``; NaN in empty bins, which have no mean) and ``count`` (``[B]``, integers).

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities (NaN included), a label is out of range,
            or ``labels`` and ``probs`` differ in length.

    Example:
        >>> probs, labels = [[0.9, 0.1], [0.4, 0.6]], [0, 0]
        >>> reliability_curve(probs, labels, num_bins=2)["accuracy"]
        array([nan, 0.5])
    """
    probs, labels = _check(probs, labels)
    num_bins = _check_num_bins(num_bins)
    count, confidence_sum, correct_sum = _bin_statistics(*_top_label(probs, labels), num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(count > 0, confidence_sum / count, np.nan)
        mean_accuracy = np.where(count > 0, correct_sum / count, np.nan)
    return {
        "bin_edges": np.linspace(0.0, 1.0, num_bins + 1),
        "confidence": mean_confidence,
        "accuracy": mean_accuracy,
        "count": count.astype(np.int64),
    }


# --------------------------------------------------------------------------- out-of-distribution scores


def max_probability_score(probs):
    """Uncertainty from the top-label confidence: ``1 - max_k p_k`` (Hendrycks & Gimpel, 2017).

    Args:
        probs: predicted class probabilities ``[N, C]``.

    Returns:
        float64 ``[N]``, in [0, 1 - 1/C].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities.

    Example:
        >>> max_probability_score([[0.9, 0.1], [0.4, 0.6]])
        array([0.1, 0.4])
    """
    return 1.0 - _check_probs(probs).max(axis=1)


def predictive_entropy(probs):
    """Entropy of the predictive distribution ``-sum_k p_k log p_k``, in nats, per example.

    Args:
        probs: predicted class probabilities ``[N, C]``.

    Returns:
        float64 ``[N]``, nats, in [0, log C].

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities.

    Example:
        >>> predictive_entropy([[0.5, 0.5]])     # [log 2]
        array([0.6931])
    """
    return scipy.special.entr(_check_probs(probs)).sum(axis=1)


def mutual_information(sample_probs):
    """Mutual information between the prediction and the encoder sample, in nats.

    ``I(y; z | x) = H(mean_s p_s) - mean_s H(p_s)`` for per-sample class
    probabilities ``sample_probs`` of shape ``[S, N, C]`` (the BALD score). It
    is zero for a single sample (a deterministic model).

    Args:
        sample_probs: per-sample class probabilities ``[S, N, C]`` (floating point).

    Returns:
        float64 ``[N]``, nats, >= 0.

    Raises:
        ValueError: ``sample_probs`` is not 3-D or its rows are not probabilities.

    Example:
        >>> mutual_information([[[1.0, 0.0]], [[0.0, 1.0]]])     # two samples that disagree: [log 2]
        array([0.6931])
    """
    sample_probs = checks.numeric_array("sample_probs", sample_probs)
    if sample_probs.ndim != 3:
        raise ValueError(
            f"sample_probs must have shape [num_samples, num_examples, num_classes]; got {sample_probs.shape}."
        )
    num_samples, num_examples, num_classes = sample_probs.shape
    flat = _check_probs(sample_probs.reshape(num_samples * num_examples, num_classes), name="sample_probs")
    per_sample = flat.reshape(sample_probs.shape)
    entropy_of_mean = scipy.special.entr(per_sample.mean(axis=0)).sum(axis=1)
    mean_entropy = scipy.special.entr(per_sample).sum(axis=2).mean(axis=0)
    return np.maximum(entropy_of_mean - mean_entropy, 0.0)


def uncertainty_scores(probs, sample_probs=None, rate=None):
    """All available out-of-distribution scores for one split, higher = more uncertain.

    Args:
        probs: the averaged predicted class probabilities ``[N, C]``.
        sample_probs: optional per-sample probabilities ``[S, N, C]``; used when ``S > 1``.
        rate: optional per-example KL(e(z|x) || r(z)) ``[N]``, in nats.

    Returns:
        A dict of float64 ``[N]`` arrays: ``max_probability`` (``1 - max_k p_k``) and ``entropy``
        (nats), plus ``mutual_information`` (nats) when ``sample_probs`` has ``S > 1`` and
        ``rate`` (nats) when ``rate`` is given.

    Raises:
        ValueError: ``probs`` is not probabilities, or ``sample_probs`` / ``rate`` have the wrong shape
            or non-finite values.

    Example:
        >>> uncertainty_scores([[0.9, 0.1], [0.4, 0.6]])["entropy"]
        array([0.3251, 0.673])
    """
    probs = _check_probs(probs)
    scores = {"max_probability": max_probability_score(probs), "entropy": predictive_entropy(probs)}
    if sample_probs is not None:
        sample_probs = checks.numeric_array("sample_probs", sample_probs)
        if sample_probs.ndim != 3 or sample_probs.shape[1:] != probs.shape:
            raise ValueError(
                f"sample_probs has shape {sample_probs.shape}; expected [S, {probs.shape[0]}, {probs.shape[1]}]."
            )
    if sample_probs is not None and sample_probs.shape[0] > 1:
        scores["mutual_information"] = mutual_information(sample_probs)
    if rate is not None:
        rate = checks.finite_array("rate", rate)
        if rate.shape != (probs.shape[0],):
            raise ValueError(f"rate must be a finite array of shape ({probs.shape[0]},); got shape {rate.shape}.")
        scores["rate"] = rate
    return scores


def _check_scores(scores_in, scores_out):
    checked = []
    for name, scores in (("scores_in", scores_in), ("scores_out", scores_out)):
        scores = checks.finite_array(name, scores)
        if scores.ndim != 1 or scores.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array of scores; got shape {scores.shape}.")
        checked.append(scores)
    return checked


def ood_auroc(scores_in, scores_out):
    """Area under the ROC curve for separating out- from in-distribution by score.

    The probability that a random out-of-distribution example scores higher
    than a random in-distribution one, ties counting one half (the
    Mann-Whitney U statistic divided by ``n_in * n_out``). 0.5 is chance.

    Args:
        scores_in: uncertainty scores of the in-distribution examples, ``[n_in]``, finite.
        scores_out: uncertainty scores of the out-of-distribution examples, ``[n_out]``, finite.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: a score array is empty, not 1-D or not finite.

    Example:
        >>> ood_auroc([0.1, 0.2], [0.3, 0.15])     # 3 of 4 pairs ordered right
        0.75
    """
    scores_in, scores_out = _check_scores(scores_in, scores_out)
    return float(mann_whitney_auroc(scores_in, scores_out))


def mann_whitney_auroc(scores_in, scores_out):
    """:func:`ood_auroc` over the last axis, for stacks of score arrays (a bootstrap's resamples).

    ``AUROC = (sum of the out-of-distribution ranks - n_out (n_out + 1) / 2) / (n_in n_out)``,
    with average ranks for ties.

    Args:
        scores_in: finite scores ``[..., n_in]``.
        scores_out: finite scores ``[..., n_out]``, the same leading shape.

    Returns:
        ``[...]`` AUROCs (a 0-d array for 1-D input).

    Raises:
        ValueError: non-finite scores, no examples, or leading shapes that differ.

    Example:
        >>> mann_whitney_auroc([[0.1, 0.2], [0.3, 0.4]], [[0.3, 0.15], [0.1, 0.2]])
        array([0.75, 0.  ])
    """
    scores_in, scores_out = checks.finite_array("scores_in", scores_in), checks.finite_array("scores_out", scores_out)
    if 0 in (scores_in.ndim, scores_out.ndim) or scores_in.shape[:-1] != scores_out.shape[:-1] or 0 in (scores_in.shape[-1], scores_out.shape[-1]):
        raise ValueError(
            f"scores_in {scores_in.shape} and scores_out {scores_out.shape} must be non-empty arrays [..., n] with the "
            "same leading shape."
        )
    n_in, n_out = scores_in.shape[-1], scores_out.shape[-1]
    ranks = scipy.stats.rankdata(np.concatenate([scores_in, scores_out], axis=-1), axis=-1)
    u_statistic = ranks[..., n_in:].sum(axis=-1) - n_out * (n_out + 1) / 2.0
    return u_statistic / (n_in * n_out)


def ood_aupr(scores_in, scores_out):
    """Area under the precision-recall curve, out-of-distribution as positive class.

    Average precision ``sum_t (R_t - R_{t-1}) P_t`` over the distinct score
    thresholds ``t`` in decreasing order (the step-wise definition of
    scikit-learn's ``average_precision_score``; tied scores form one step).
    Chance level is ``n_out / (n_in + n_out)``.

    Args:
        scores_in: uncertainty scores of the in-distribution examples, ``[n_in]``, finite.
        scores_out: uncertainty scores of the out-of-distribution examples, ``[n_out]``, finite.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: a score array is empty, not 1-D or not finite.

    Example:
        >>> ood_aupr([0.1, 0.2], [0.3, 0.15])     # (1/2) * 1 + (1/2) * (2/3)
        0.8333
    """
    scores_in, scores_out = _check_scores(scores_in, scores_out)
    scores = np.concatenate([scores_in, scores_out])
    is_out = np.concatenate([np.zeros(scores_in.size), np.ones(scores_out.size)])
    order = np.argsort(-scores, kind="stable")
    scores, is_out = scores[order], is_out[order]
    # Last position of each run of tied scores = one threshold.
    step_ends = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1]
    true_positives = np.cumsum(is_out)[step_ends]
    precision = true_positives / (step_ends + 1)
    recall = true_positives / scores_out.size
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# --------------------------------------------------------------------------- Keras metric


def _extremes(values):
    """``(min, max)`` of a tensor, for a message; NaN for a tensor known to be empty (JAX cannot
    reduce an empty array without an initial value)."""
    if values.shape is not None and None not in tuple(values.shape) and int(np.prod(tuple(values.shape))) == 0:
        nan = ops.convert_to_tensor(float("nan"))
        return nan, nan
    return ops.min(values), ops.max(values)


def _checked_inputs(y_pred, targets, labels, weight, num_classes, name):
    """The Keras metric's input rule as one boolean scalar, asserted with a message that states it.

    Returns ``(y_pred, labels, valid)``: ``y_pred`` behind the assertion, the labels, and the
    boolean.

    One combined rule (not :mod:`vdualib.checks`' per-condition assertions) because the same
    boolean also poisons the metric where assertions do not run.

    ``y_pred``: probabilities ``[B, C]``, finite, in [0, 1], rows summing to 1 within the numpy
    functions' tolerance. ``targets`` (one-hot or smoothed rows ``[B, C]``, or None): the same.
    ``labels`` ``[B]``: whole numbers in ``[0, C)``. ``weight`` (or None): finite and >= 0.
    The assertion is the backend's run-time check (:mod:`vdualib.checks`): it raises
    ``tf.errors.InvalidArgumentError`` on TensorFlow in eager and graph execution, and a
    ``ValueError`` on JAX (inside an ``XlaRuntimeError`` under ``jax.jit``).
    """
    num_classes = "C" if num_classes is None else num_classes

    def rows_ok(rows):
        in_unit = ops.all((rows >= 0) & (rows <= 1 + _SIMPLEX_TOLERANCE))
        return in_unit & ops.all(ops.abs(ops.sum(rows, axis=-1) - 1) <= _SIMPLEX_TOLERANCE)

    valid = rows_ok(y_pred)  # NaN fails every comparison, so NaN and inf are refused here too
    if targets is not None:
        valid &= rows_ok(targets)
    else:
        dtype = keras.backend.standardize_dtype(labels.dtype)
        if not ("int" in dtype or "float" in dtype):
            raise ValueError(f"{name}: y_true must be class indices, got dtype {dtype}.")
        # compared in the labels' own dtype (JAX has no float64 by default); NaN fails every test
        classes = y_pred.shape[-1]
        in_range = labels >= 0
        if "float" in dtype:
            in_range &= ops.floor(labels) == labels
        if "float" in dtype or classes is None or classes <= np.iinfo(dtype).max:  # else every label fits
            in_range &= labels < ops.cast(ops.shape(y_pred)[-1], labels.dtype)
        valid &= ops.all(in_range)
        valid &= ops.equal(ops.size(labels), ops.shape(y_pred)[0])
    if weight is not None:
        valid &= ops.all(weight >= 0) & ops.all(ops.isfinite(weight))
    label_range = list(_extremes(labels)) if targets is None else ["(one-hot rows)", ""]
    sums = ops.sum(y_pred, axis=-1)
    assertions = checks._ops_for(y_pred)  # the backend's run-time assertion, as checks.assert_* use
    y_pred = assertions.checked(
        y_pred,
        [(
            valid,
            [
                f"{name}: y_pred must be probabilities [batch, {num_classes}] (finite, in [0, 1], rows summing to 1 "
                f"within {_SIMPLEX_TOLERANCE}; apply softmax to logits) and y_true class indices in [0, {num_classes}), "
                "one per row, or one-hot rows; sample weights finite and >= 0. Got y_pred in",
                *_extremes(y_pred),
                "row sums in",
                *_extremes(sums),
                "labels in",
                *label_range,
            ],
        )],
    )
    return y_pred, labels, valid


@keras.saving.register_keras_serializable(package="vdualib")
class ExpectedCalibrationError(keras.metrics.Metric):
    """Top-label expected calibration error as a Keras 3 metric.

    Accumulates, per equal-width confidence bin, the example count, the summed confidence and
    the summed correctness across batches, so the value after an epoch equals
    :func:`expected_calibration_error` on all the epoch's predictions (same binning, empty bins
    skipped): ``ECE = sum_b |correct_b - confidence_b| / N``.

    Invalid input is refused, not scored: probabilities that are not finite, leave [0, 1] or do
    not sum to 1 per row (within 1e-3), labels that are not whole numbers in ``[0, C)`` or not
    one per row, negative or non-finite weights raise ``tf.errors.InvalidArgumentError`` on
    TensorFlow and a ``ValueError`` on JAX (carried by an ``XlaRuntimeError`` inside ``jax.jit``,
    as in ``fit`` and ``evaluate``); wrong ranks raise a ``ValueError`` at trace time. Under
    TensorFlow's XLA (``jit_compile=True`` on the TensorFlow backend), which drops assertions,
    the result becomes NaN until ``reset_state()`` instead.

    Args:
        num_bins: B, the number of equal-width confidence bins on [0, 1], a positive integer.
        name: the metric's name in the logs.
        dtype: the dtype of the accumulators (Keras' default float type when ``None``).

    Call arguments (``update_state``):
        y_true: integer labels ``[B]`` or ``[B, 1]``, or one-hot rows ``[B, C]``.
        y_pred: class probabilities ``[B, C]``, C >= 2.
        sample_weight: optional per-example weights ``[B]`` (the counts become weighted sums).

    Example:
        >>> ece = ExpectedCalibrationError(num_bins=15)
        >>> ece.update_state([0, 0], [[0.9, 0.1], [0.4, 0.6]])
        >>> float(ece.result())     # as expected_calibration_error
        0.35
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
        ...               metrics=[ExpectedCalibrationError(num_bins=15)])
    """

    def __init__(self, num_bins=15, name="ece", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_bins = _check_num_bins(num_bins)
        self.count = self.add_variable(shape=(self.num_bins,), initializer="zeros", name="count")
        self.confidence_sum = self.add_variable(shape=(self.num_bins,), initializer="zeros", name="confidence_sum")
        self.correct_sum = self.add_variable(shape=(self.num_bins,), initializer="zeros", name="correct_sum")

    def _targets_and_labels(self, y_true, y_pred):
        """``(one-hot targets or None, labels)`` of ``y_true``, refusing shapes that do not fit."""
        if len(y_pred.shape) != 2 or (y_pred.shape[-1] is not None and y_pred.shape[-1] < 2):
            raise ValueError(
                f"ExpectedCalibrationError needs y_pred = class probabilities [batch, num_classes >= 2], "
                f"got shape {tuple(y_pred.shape)}."
            )
        num_classes = y_pred.shape[-1]
        if len(y_true.shape) == 2 and y_true.shape[-1] == num_classes:
            targets = ops.cast(y_true, self.dtype)  # one-hot (or smoothed) rows: their arg-max is the label
            labels = ops.argmax(targets, axis=-1)
        elif len(y_true.shape) == 1 or (len(y_true.shape) == 2 and y_true.shape[-1] == 1):
            targets, labels = None, ops.reshape(y_true, (-1,))
        else:
            raise ValueError(
                f"ExpectedCalibrationError needs y_true = class indices [batch] or [batch, 1], or one-hot rows "
                f"[batch, {num_classes}]; got shape {tuple(y_true.shape)}."
            )
        if y_pred.shape[0] is not None and labels.shape[0] is not None and labels.shape[0] != y_pred.shape[0]:
            raise ValueError(
                f"ExpectedCalibrationError got {labels.shape[0]} labels for {y_pred.shape[0]} rows of y_pred; "
                "pass one label per row."
            )
        return targets, labels

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch's per-bin counts, confidences and correctness (see the class docstring)."""
        if isinstance(y_true, (list, tuple, np.ndarray)):
            # refused here, before a backend without string tensors (JAX) fails to convert them
            dtype = np.asarray(y_true).dtype
            if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
                raise ValueError(f"{self.name}: y_true must be class indices, got dtype {dtype}.")
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        targets, labels = self._targets_and_labels(ops.convert_to_tensor(y_true), y_pred)
        weight = None if sample_weight is None else ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
        y_pred, labels, valid = _checked_inputs(y_pred, targets, labels, weight, y_pred.shape[-1], self.name)
        labels = ops.cast(labels, "int32")
        confidence = ops.max(y_pred, axis=-1)
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), self.dtype)
        index = ops.minimum(ops.cast(ops.floor(confidence * self.num_bins), "int32"), self.num_bins - 1)
        index = ops.clip(index, 0, self.num_bins - 1)
        membership = ops.one_hot(index, self.num_bins, dtype=self.dtype)  # [B, num_bins]
        if weight is not None:
            membership = membership * weight
        # Where assertions do not run (XLA drops them), invalid input turns the result into NaN
        # until reset_state(), never into a plausible number.
        poison = ops.cast(ops.where(valid, 0.0, float("nan")), self.dtype)
        self.count.assign_add(ops.sum(membership, axis=0))
        self.confidence_sum.assign_add(ops.sum(membership * confidence[:, None], axis=0) + poison)
        self.correct_sum.assign_add(ops.sum(membership * correct[:, None], axis=0))

    def result(self):
        """The ECE of everything accumulated since the last reset, a scalar in [0, 1] (0 when empty)."""
        total = ops.sum(self.count)
        gap = ops.sum(ops.abs(self.correct_sum - self.confidence_sum))
        return ops.divide_no_nan(gap, total)

    def reset_state(self):
        """Forget every batch (the accumulators back to zero)."""
        for variable in (self.count, self.confidence_sum, self.correct_sum):
            variable.assign(ops.zeros((self.num_bins,), dtype=variable.dtype))

    def get_config(self):
        """``num_bins``, ``name`` and ``dtype``: what :meth:`from_config` rebuilds the metric from."""
        return {"num_bins": self.num_bins, "name": self.name, "dtype": self.dtype}


registration.register()  # the other serializable modules, now that this one is complete
