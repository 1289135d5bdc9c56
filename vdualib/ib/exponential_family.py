"""The dualIB for an exponential-family p(y|x), solved on sufficient statistics.

When p(y|x) = exp(-sum_r lambda_r(y) A_r(x) - lambda_0(x)), the dualIB decoder stays
in the family: p(y|x_hat) = exp(-sum_r lambda_r(y) A_r(x_hat) - lambda_0(x_hat)) with
A_r(x_hat) = sum_x p(x|x_hat) A_r(x), and the dual distortion is

    d(x, x_hat) = sum_y p(y|x_hat) log p(y|x_hat) + sum_r <lambda_r>_{p(y|x_hat)} A_r(x) + lambda_0(x)

so one iteration costs O(|X| N R) instead of O(|X| N |Y|): cheaper when R << |Y|.
``beta`` multiplies the distortion in the exponent (the IB papers' convention).
"""

import inspect

import numpy as np

from vdualib import checks
from vdualib.ib.curve import curve_channel
from vdualib.ib.joint import validate_marginal
from vdualib.ib.solver import DEFAULT_SEED, log_normalize, solve_channel, stacked_matmul

__all__ = ["ExponentialFamily", "solve_exponential_family", "curve_exponential_family", "toy_problem"]


class ExponentialFamily:
    """p(y|x) = exp(-lambda(y) . A(x) - lambda_0(x)) with p(x).

    Args:
        statistics: A_r(x), shape [|X|, R].
        natural_parameters: lambda_r(y), shape [R, |Y|].
        px: p(x), shape [|X|] (default uniform).

    Raises:
        ValueError: mismatched, empty or non-finite arrays, arrays whose product overflows float64, or a bad
            ``px``.

    Example:
        >>> family = ExponentialFamily(np.linspace(-1, 0.6, 5)[:, None], np.array([[-1.0, 1.0]]))
        >>> family.joint().shape
        (5, 2)
        >>> bool(np.allclose(family.joint(), toy_problem().joint()))
        True
    """

    method = "dualib-expfamily"

    def __init__(self, statistics, natural_parameters, px=None):
        statistics = checks.finite_array("statistics", statistics)
        natural_parameters = checks.finite_array("natural_parameters", natural_parameters)
        if (statistics.ndim != 2 or natural_parameters.ndim != 2 or statistics.shape[1] != natural_parameters.shape[0]
                or min(statistics.shape + natural_parameters.shape) < 1):
            raise ValueError(
                "statistics must be [|X|, R] and natural_parameters [R, |Y|] with the same R, each dimension at "
                f"least 1; got {statistics.shape} and {natural_parameters.shape}."
            )
        px = np.full(statistics.shape[0], 1.0 / statistics.shape[0]) if px is None else validate_marginal(
            px, statistics.shape[0], "px (one entry per row of statistics)")
        with np.errstate(over="ignore", invalid="ignore"):
            exponent = -(statistics @ natural_parameters)
        if not np.all(np.isfinite(exponent)):
            raise ValueError("statistics @ natural_parameters overflows float64 (its entries reach inf); rescale the "
                             "statistics and the natural parameters (their product is what matters).")
        self.statistics = statistics
        self.natural_parameters = natural_parameters
        self.px = px
        self.log_py_x = log_normalize(exponent)
        # lambda_0(x) = log sum_y exp(-lambda(y) . A(x))
        self._log_normalizer = (exponent - self.log_py_x)[:, 0][None, :, None]
        # The solver's fast path (see vdualib.ib.solver.IBChannel): cluster means of A, logits linear in A(x).
        self.basis = statistics
        self.offset = -self._log_normalizer[0, :, 0]

    @property
    def py_x(self):
        """p(y|x), shape [|X|, |Y|]."""
        return np.exp(self.log_py_x)

    def joint(self):
        """p(x, y), shape [|X|, |Y|].

        Returns:
            float64 ``[|X|, |Y|]``, summing to 1.

        Example:
            >>> float(toy_problem().joint().sum())
            1.0
        """
        return self.px[:, None] * self.py_x

    def decode(self, inverse):
        """The dualIB decoder and distortion of a batch of inverse encoders, in the family.

        Args:
            inverse: p(x|x_hat), shape ``[B, N, |X|]``.

        Returns:
            ``(decoder, distortion)``: p(y|x_hat) ``[B, N, |Y|]`` and the dual distortion
            d(x, x_hat) ``[B, |X|, N]`` in nats.

        Example:
            >>> decoder, d = toy_problem().decode(np.full((1, 1, 5), 0.2))     # one cluster holding every x
            >>> decoder.shape, d.shape
            ((1, 1, 2), (1, 5, 1))
            >>> decoder[0, 0]     # the normalised geometric mean of p(y|x)
            array([0.401, 0.599])
        """
        cluster_statistics = stacked_matmul(inverse, self.statistics)
        log_decoder = log_normalize(-stacked_matmul(cluster_statistics, self.natural_parameters))
        decoder = np.exp(log_decoder)
        neg_entropy = (decoder * log_decoder).sum(axis=-1)[:, None, :]
        mean_parameters = stacked_matmul(decoder, self.natural_parameters.T)
        return decoder, neg_entropy + stacked_matmul(mean_parameters, self.statistics.T).swapaxes(1, 2) + self._log_normalizer


    def exponent(self, means, betas):
        """The dual distortion in the solver's form, from the clusters' mean statistics.

        Args:
            means: A(x_hat) = sum_x p(x|x_hat) A(x), shape ``[..., B, R]``.
            betas: ``[B]`` trade-offs.

        Returns:
            ``(coef, cluster_term)``: -beta <lambda>_{p(y|x_hat)} ``[..., B, R]`` and
            -beta sum_y p(y|x_hat) log p(y|x_hat) ``[..., B]``, so that
            -beta d(x, x_hat) = coef . A(x) + cluster_term - beta lambda_0(x) (nats).

        Example:
            >>> coef, term = toy_problem().exponent(np.zeros((1, 1, 1)), np.array([2.0]))     # x_hat at A = 0
            >>> coef.shape, term.shape
            ((1, 1, 1), (1, 1))
            >>> float(term[0, 0])     # p(y|x_hat) uniform: -2 sum_y p log p = 2 log 2
            1.386
        """
        log_decoder = log_normalize(-stacked_matmul(means, self.natural_parameters))
        decoder = np.exp(log_decoder)
        neg_entropy = (decoder * log_decoder).sum(axis=-1)
        mean_parameters = stacked_matmul(decoder, self.natural_parameters.T)
        return -betas[:, None] * mean_parameters, -betas * neg_entropy


def solve_exponential_family(family, beta, n_clusters=None, init=None, tol=1e-10, max_iter=100_000,
                             seed=DEFAULT_SEED):
    """dualIB at one beta for an :class:`ExponentialFamily`; same result as
    ``vdualib.ib.solve(family.joint(), beta, method="dualib")`` (information in bits).

    Args:
        family: an :class:`ExponentialFamily`.
        beta: trade-off > 0 multiplying the distortion in the exponent (IB papers' convention).
        n_clusters, init, tol, max_iter, seed: as for :func:`vdualib.ib.solve`.

    Returns:
        An :class:`vdualib.ib.IBSolution` with ``method="dualib-expfamily"`` (information in bits).

    Example:
        >>> solve_exponential_family(toy_problem(), 5.0).ixt     # bits
        0.389
    """
    family = _check_family(family)
    return solve_channel(family, family.px, family.py_x, beta, n_clusters, init, tol, max_iter, seed)


def curve_exponential_family(family, betas, **kwargs):
    """dualIB sweep for an :class:`ExponentialFamily`; keyword arguments as :func:`vdualib.ib.curve`.

    Args:
        family: an :class:`ExponentialFamily`.
        betas: ``[B]`` positive trade-off values.
        **kwargs: the options of :func:`vdualib.ib.curve` (``direction``, ``n_clusters``, ...).

    Returns:
        An :class:`vdualib.ib.IBCurve` (information in bits).

    Example:
        >>> curve_exponential_family(toy_problem(), [1.0, 10.0]).ixt.tolist()     # bits
        [0.0, 0.716]
    """
    family = _check_family(family)
    options = set(inspect.signature(curve_channel).parameters) - {"channel", "px", "py_x", "betas"}
    unknown = sorted(set(kwargs) - options)
    if unknown:
        hint = (" It sweeps the exponential-family dualIB; for the IB or the dualIB of a joint p(x, y) array use "
                "vdualib.ib.curve(pxy, betas, method=...).") if "method" in unknown else ""
        raise ValueError(f"curve_exponential_family got unknown options {unknown}; it takes {sorted(options)}.{hint}")
    return curve_channel(family, family.px, family.py_x, betas, **kwargs)


def _check_family(family):
    """``family`` if it is an :class:`ExponentialFamily`; ValueError otherwise."""
    if not isinstance(family, ExponentialFamily):
        raise ValueError(f"family must be an ExponentialFamily (statistics, natural parameters, p(x)); got "
                         f"{type(family).__name__}. For a joint p(x, y) array use vdualib.ib.solve or curve with "
                         "method='dualib'.")
    return family


def toy_problem():
    """The dualIB paper's toy problem as an :class:`ExponentialFamily`.

    x in linspace(-1, 0.6, 5), p(x) uniform, y in {-1, 1} (columns in that order),
    p(y|x) ∝ exp(-y x): one statistic A(x) = x with lambda(y) = y. ``toy_problem().joint()``
    is p(x, y), shape [5, 2].

    Returns:
        An :class:`ExponentialFamily` with ``[5, 1]`` statistics and ``[1, 2]`` natural parameters.

    Example:
        >>> toy_problem().py_x[0]     # p(y|x=-1) for y = -1, 1
        array([0.119, 0.881])
    """
    return ExponentialFamily(np.linspace(-1, 0.6, 5)[:, None], np.array([[-1.0, 1.0]]))
