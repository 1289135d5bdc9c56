"""Post-hoc temperature scaling (Guo et al., 2017).

The baseline a calibration claim has to beat: one scalar ``T > 0`` fitted on
held-out predictions by minimising the negative log-likelihood (nats) of
``softmax(log p / T)``. Working from log-probabilities rather than logits
lets it rescale the Monte Carlo averaged probabilities the stochastic models
return; for a deterministic softmax model ``log p`` equals the logits up to a
per-row constant, so the result is the usual temperature scaling.
"""

import numpy as np
import scipy.optimize
import scipy.special

from vdualib import metrics

__all__ = ["fit_temperature", "apply_temperature"]

_LOG_FLOOR = 1e-12
# Temperatures outside this range mean the validation split is degenerate
# (for example all predictions correct with confidence 1).
_LOG_TEMPERATURE_BOUNDS = (np.log(1e-2), np.log(1e2))


def _scaled_log_probs(log_probs, temperature):
    return scipy.special.log_softmax(log_probs / temperature, axis=1)


def fit_temperature(probs, labels):
    """The temperature ``T`` in [0.01, 100] minimising the mean NLL of
    ``softmax(log p / T)`` on the given (validation) predictions.

    ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens. The NLL is
    minimised over ``log T`` with bounded Brent search (the problem is one
    dimensional and smooth, so no gradient machinery is needed).
    """
    probs, labels = metrics._check(probs, labels)
    log_probs = np.log(np.maximum(probs, _LOG_FLOOR))
    rows = np.arange(labels.size)

    def mean_nll(log_temperature):
        return -np.mean(_scaled_log_probs(log_probs, np.exp(log_temperature))[rows, labels])

    result = scipy.optimize.minimize_scalar(mean_nll, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def apply_temperature(probs, temperature):
    """``softmax(log p / T)``: probabilities rescaled by a fitted temperature."""
    probs = metrics._check_probs(probs)
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive finite number; got {temperature!r}.")
    return np.exp(_scaled_log_probs(np.log(np.maximum(probs, _LOG_FLOOR)), float(temperature)))
