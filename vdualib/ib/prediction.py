"""How well the clusters predict y: distortions of the decoder and argmax accuracy along a sweep.

The dualIB paper compares IB and dualIB predictions through a "mean prediction
error exponent"; its exact definition is not reconstructed here. Instead each
solution's own decoder p(y|x_hat) (arithmetic mean for the IB, geometric mean for
the dualIB) is scored by

    ib_distortion   = E_{p(x, x_hat)} KL(p(y|x) || p(y|x_hat))      (bits)
    dual_distortion = E_{p(x, x_hat)} KL(p(y|x_hat) || p(y|x))      (bits; inf where p(y|x) = 0 < p(y|x_hat))
    accuracy        = P(y = argmax_y' p(y'|x_hat)),  (x, y) ~ p, x_hat ~ p(x_hat|x)

The dual distortion is the exponent of the probability that samples from p(y|x_hat) look
typical of p(y|x) (Sanov), which is what the dualIB's distortion measures.
"""

import numpy as np
from scipy.special import rel_entr

from vdualib import checks
from vdualib.ib.joint import validate_joint

__all__ = ["prediction_measures"]


def _expected_divergences(px, py_x, encoder, decoder):
    """(E KL(p(y|x) || p(y|x_hat)), E KL(p(y|x_hat) || p(y|x))) in bits for one encoder/decoder pair."""
    weight = encoder * px[:, None]
    forward = rel_entr(py_x[:, None, :], decoder[None, :, :]).sum(axis=-1)
    backward = rel_entr(decoder[None, :, :], py_x[:, None, :]).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return [np.where(weight > 0, weight * kl, 0.0).sum() / np.log(2) for kl in (forward, backward)]


def prediction_measures(pxy, result):
    """Score the decoders of an :class:`IBSolution` or :class:`IBCurve` on p(x, y).

    Args:
        pxy: joint p(x, y), shape ``[|X|, |Y|]``, summing to 1 with no all-zero row.
        result: an :class:`IBSolution` (encoder ``[|X|, N]``) or an :class:`IBCurve` (encoders
            ``[B, |X|, N]``) solved for this ``pxy``.

    Returns:
        A dict of ``ib_distortion``, ``dual_distortion`` (bits) and ``accuracy`` (in [0, 1]):
        floats for a solution, ``[B]`` arrays for a curve.

    Raises:
        ValueError: ``pxy`` is not a valid joint, ``result`` is not a solution or sweep, holds NaN or inf, or
            does not match ``pxy``'s shapes.

    Example:
        >>> from vdualib.ib import solve
        >>> pxy = np.array([[0.4, 0.1], [0.1, 0.4]])
        >>> prediction_measures(pxy, solve(pxy, 10.0))     # nearly the Bayes accuracy 0.8
        {'ib_distortion': 0.0003, 'dual_distortion': 0.0003, 'accuracy': 0.800}
    """
    pxy = validate_joint(pxy)
    if not (hasattr(result, "encoders") and hasattr(result, "decoders")) and not (
            hasattr(result, "encoder") and hasattr(result, "decoder")):
        raise ValueError(f"result must be an IBSolution (vdualib.ib.solve) or an IBCurve (vdualib.ib.curve); got "
                         f"{type(result).__name__}.")
    encoders = checks.finite_array("result's encoder", result.encoders if hasattr(result, "encoders") else result.encoder)
    decoders = checks.finite_array("result's decoder", result.decoders if hasattr(result, "decoders") else result.decoder)
    if encoders.ndim not in (2, 3) or decoders.ndim != encoders.ndim:
        raise ValueError(f"result's encoder and decoder must both be 2-D (a solution) or 3-D (a sweep); got shapes "
                         f"{encoders.shape} and {decoders.shape}.")
    single = encoders.ndim == 2
    if single:
        encoders, decoders = encoders[None], decoders[None]
    if encoders.shape[1] != pxy.shape[0] or decoders.shape[2] != pxy.shape[1]:
        raise ValueError(
            f"result's encoder/decoder shapes {encoders.shape[1:]}, {decoders.shape[1:]} do not match pxy {pxy.shape}."
        )
    px = pxy.sum(axis=1)
    py_x = pxy / px[:, None]
    distortions = np.array([_expected_divergences(px, py_x, e, d) for e, d in zip(encoders, decoders)])
    weight = encoders * px[:, None]  # p(x, x_hat)
    predicted = decoders.argmax(axis=-1)  # [B, N]
    accuracy = (weight * py_x[np.arange(px.size)[None, :, None], predicted[:, None, :]]).sum(axis=(1, 2))
    measures = {"ib_distortion": distortions[:, 0], "dual_distortion": distortions[:, 1], "accuracy": accuracy}
    return {key: float(value[0]) for key, value in measures.items()} if single else measures
