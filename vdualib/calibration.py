"""Post-hoc temperature scaling (Guo et al., 2017).

The baseline a calibration claim has to beat: one scalar ``T > 0`` fitted on
held-out predictions by minimising the negative log-likelihood (nats) of
``softmax(log p / T)``. Working from log-probabilities rather than logits
lets it rescale the Monte Carlo averaged probabilities the stochastic models
return; for a deterministic softmax model ``log p`` equals the logits up to a
per-row constant, so the result is the usual temperature scaling.

When the fit is meaningless, :func:`fit_temperature` refuses instead of
returning a number (see its docstring for the rule).
"""

import numpy as np
import scipy.optimize
import scipy.special

from vdualib import checks

__all__ = ["fit_temperature", "apply_temperature", "MIN_EXAMPLES", "TEMPERATURE_RANGE"]

#: fewest examples :func:`fit_temperature` fits on; below this one scalar is fitted to noise
MIN_EXAMPLES = 20
#: the range searched for T; an optimum at either end is refused as degenerate
TEMPERATURE_RANGE = (1e-2, 1e2)
_LOG_FLOOR = 1e-12


def _scaled_log_probs(log_probs, temperature):
    return scipy.special.log_softmax(log_probs / temperature, axis=1)


def _log_probs(probs):
    return np.log(np.maximum(probs, _LOG_FLOOR))


def fit_temperature(probs, labels):
    """The temperature ``T`` minimising the mean NLL (nats) of ``softmax(log p / T)`` on held-out
    predictions.

    ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens. The NLL is minimised over
    ``log T`` in :data:`TEMPERATURE_RANGE` with bounded Brent search (the problem is one
    dimensional and smooth, so no gradient machinery is needed).

    The rule for a meaningful fit; anything else raises ``ValueError`` saying why:

    - at least :data:`MIN_EXAMPLES` (20) examples;
    - at least one misclassified example: when every arg-max is right, the NLL keeps falling as
      ``T -> 0`` and has no minimum (the answer would be the search bound);
    - the minimum lies inside :data:`TEMPERATURE_RANGE`, not at an end of it.

    Args:
        probs: predicted probabilities ``[N, C]`` (finite, rows summing to 1).
        labels: class indices ``[N]`` in ``[0, C)``.

    Returns:
        ``T`` as a float in ``(0.01, 100)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> logits = 4 * rng.normal(size=(200, 3))
        >>> val_labels = np.argmax(logits + 4 * rng.normal(size=(200, 3)), axis=1)     # the top class is often wrong
        >>> val_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)     # over-confident
        >>> temperature = fit_temperature(val_probs, val_labels)
        >>> temperature > 1
        True
        >>> apply_temperature(val_probs[:1], temperature).round(3)     # softened
        array([[0.262, 0.179, 0.559]])
    """
    probs = checks.probability_rows("probs", probs)
    labels = checks.integer_labels("labels", labels, num_classes=probs.shape[1])
    if labels.shape[0] != probs.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries but probs has {probs.shape[0]} rows; pass one label per row.")
    if labels.size < MIN_EXAMPLES:
        raise ValueError(
            f"fit_temperature needs at least {MIN_EXAMPLES} held-out examples, got {labels.size}; one temperature "
            "fitted on fewer is noise. Fit it on a larger validation split."
        )
    if np.all(probs.argmax(axis=1) == labels):
        raise ValueError(
            f"all {labels.size} predictions are correct, so the NLL keeps falling as T -> 0 and temperature "
            "scaling has no minimum; fit it on a larger or harder validation split that includes mistakes."
        )
    log_probs = _log_probs(probs)
    rows = np.arange(labels.size)

    def mean_nll(log_temperature):
        return -np.mean(_scaled_log_probs(log_probs, np.exp(log_temperature))[rows, labels])

    bounds = np.log(TEMPERATURE_RANGE)
    result = scipy.optimize.minimize_scalar(mean_nll, bounds=bounds, method="bounded")
    # Bounded Brent never evaluates the ends; an end at least as good as its answer means the
    # minimum is at (or beyond) that end.
    if min(mean_nll(bounds[0]), mean_nll(bounds[1])) <= result.fun:
        raise ValueError(
            f"the NLL is smallest at T = {np.exp(result.x):.3g}, an end of the searched range {TEMPERATURE_RANGE}: "
            "the predictions are degenerate for temperature scaling (e.g. nearly all confident and right, or "
            "unrelated to the labels). Check the model and the validation split."
        )
    return float(np.exp(result.x))


def apply_temperature(probs, temperature):
    """``softmax(log p / T)``: probabilities rescaled by a fitted temperature.

    Args:
        probs: probabilities ``[N, C]``.
        temperature: ``T > 0``, finite.

    Returns:
        float64 probabilities ``[N, C]``.

    Raises:
        ValueError: ``probs`` is not ``[N, C]`` probabilities, or ``T`` is not finite and positive.

    Example:
        >>> apply_temperature([[0.8, 0.2]], 2.0)     # sqrt(0.8), sqrt(0.2) renormalised
        array([[0.6667, 0.3333]])
    """
    probs = checks.probability_rows("probs", probs)
    temperature = checks.finite_float("temperature", temperature, low=0.0, low_open=True)
    return np.exp(_scaled_log_probs(_log_probs(probs), temperature))
