"""Critical points of an IB/dualIB sweep: where clusters split.

The effective cardinality of a solution is the number of distinct clusters among
those carrying mass: clusters with (nearly) the same p(x|x_hat) are one cluster
(they could be merged without changing anything). A critical beta is where that
number changes between neighbouring betas of a sweep.
"""

import dataclasses

import numpy as np

from vdualib import checks
from vdualib.ib.joint import maximal_correlation, validate_marginal
from vdualib.ib.solver import check_betas
from vdualib.ib.reduction import coincident_groups, coincident_labels

_ROW_TOLERANCE = 1e-6  # how far an encoder row's sum may stray from 1

__all__ = ["CriticalBetas", "critical_betas", "effective_cardinality", "effective_cardinalities",
           "ib_first_transition"]


def effective_cardinality(encoder, px, tol=1e-3, mass_tol=1e-6):
    """Number of distinct clusters of an encoder p(x_hat|x) [|X|, N].

    Clusters with p(x_hat) <= ``mass_tol`` are ignored; two clusters are the same
    when the total variation between their p(x|x_hat) is below ``tol``.

    Args:
        encoder: p(x_hat|x), shape ``[|X|, N]``, rows summing to 1.
        px: p(x), shape ``[|X|]``.
        tol: total-variation distance below which two clusters count as one.
        mass_tol: clusters with p(x_hat) at most this are ignored.

    Returns:
        An int in [0, N].

    Raises:
        ValueError: an encoder that is not finite, non-negative rows summing to 1 ``[|X|, N]``, a ``px`` that is
            not a distribution over its rows, or tolerances outside (0, 1].

    Example:
        >>> effective_cardinality(np.eye(2), np.array([0.5, 0.5]))
        2
        >>> effective_cardinality(np.full((2, 2), 0.5), np.array([0.5, 0.5]))     # two copies of one cluster
        1
    """
    encoder, px = _check_encoders("encoder", encoder, px, 2)
    tol, mass_tol = _check_tolerances(tol, mass_tol)
    marginal = px @ encoder
    alive = marginal > mass_tol
    if alive.sum() <= 1:
        return int(alive.sum())
    inverse = (encoder[:, alive] * px[:, None] / marginal[alive]).T
    return int(coincident_groups(inverse, tol).max() + 1)


def effective_cardinalities(encoders, px, tol=1e-3, mass_tol=1e-6):
    """:func:`effective_cardinality` of each encoder of a batch, computed together.

    Args:
        encoders: p(x_hat|x), shape ``[B, |X|, N]``, rows summing to 1.
        px: p(x), shape ``[|X|]``.
        tol, mass_tol: as for :func:`effective_cardinality`.

    Returns:
        int64 ``[B]``, each in [0, N].

    Raises:
        ValueError: as :func:`effective_cardinality`, for encoders ``[B, |X|, N]``.

    Example:
        >>> effective_cardinalities(np.stack([np.eye(2), np.full((2, 2), 0.5)]), np.array([0.5, 0.5]))
        array([2, 1])
    """
    encoders, px = _check_encoders("encoders", encoders, px, 3)
    return batched_cardinalities(encoders, px, *_check_tolerances(tol, mass_tol))


def _check_tolerances(tol, mass_tol):
    return (checks.finite_float("tol (a total variation)", tol, low=0.0, high=1.0, low_open=True),
            checks.finite_float("mass_tol (a probability)", mass_tol, low=0.0, high=1.0, high_open=True))


def _check_encoders(name, encoders, px, ndim):
    """(``encoders``, ``px``) as float64 after checking that the encoders are ``ndim``-D p(x_hat|x) arrays (rows
    summing to 1) and ``px`` a distribution over their x."""
    encoders = checks.finite_array(name, encoders)
    shape = "[|X|, N]" if ndim == 2 else "[B, |X|, N]"
    if encoders.ndim != ndim or min(encoders.shape) < 1:
        raise ValueError(f"{name} must be {shape}; got shape {encoders.shape}.")
    px = validate_marginal(px, encoders.shape[-2], f"px (one entry per row x of the {name})", positive=False,
                           atol=_ROW_TOLERANCE)
    if np.any(encoders < 0) or np.any(np.abs(encoders.sum(axis=-1) - 1.0) > _ROW_TOLERANCE):
        raise ValueError(f"{name} must hold p(x_hat|x): non-negative rows summing to 1 (within {_ROW_TOLERANCE:g}).")
    return encoders, px


def batched_cardinalities(encoders, px, tol=1e-3, mass_tol=1e-6):
    """:func:`effective_cardinalities` without the checks, for the solver's own (valid) encoders."""
    marginal = np.einsum("x,bxn->bn", px, encoders)
    alive = marginal > mass_tol
    inverse = (encoders * px[:, None]).swapaxes(1, 2) / np.where(alive, marginal, 1.0)[:, :, None]
    return (coincident_labels(inverse, alive, tol).max(axis=1) + 1).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class CriticalBetas:
    """Betas where the effective number of clusters changes, in increasing order.

    ``betas`` is the geometric midpoint of the bracket ``[lower, upper]`` formed by
    neighbouring sweep betas; ``clusters_below``/``clusters_above`` are the
    effective cardinalities at ``lower`` and ``upper``.

    Attributes:
        betas: ``[T]`` critical betas, sqrt(lower * upper).
        lower, upper: ``[T]`` the neighbouring sweep betas that bracket each transition.
        clusters_below, clusters_above: ``[T]`` effective cardinalities at ``lower`` and ``upper``.

    Example:
        >>> from vdualib.ib import curve
        >>> found = critical_betas(curve([[0.4, 0.1], [0.1, 0.4]], np.geomspace(1, 10, 8)))
        >>> found.first, found.clusters_below, found.clusters_above
        (3.162, array([1]), array([2]))
    """

    betas: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    clusters_below: np.ndarray
    clusters_above: np.ndarray

    @property
    def first(self):
        """The first transition (lowest critical beta), or ``nan`` if the sweep has none."""
        return float(self.betas[0]) if self.betas.size else float("nan")


def critical_betas(curve_result):
    """Critical betas of a sweep returned by :func:`vdualib.ib.curve`.

    Resolution is that of the sweep's beta grid: refine with a denser grid around
    a reported bracket.

    Args:
        curve_result: an :class:`vdualib.ib.IBCurve` (its ``betas`` and ``n_clusters_effective``).

    Returns:
        A :class:`CriticalBetas` (empty arrays when the cardinality never changes).

    Raises:
        ValueError: not a sweep, or a sweep whose betas are not finite and > 0 or whose cardinalities are not
            finite, one per beta.

    Example:
        >>> from vdualib.ib import curve
        >>> sweep = curve([[0.4, 0.1], [0.1, 0.4]], np.geomspace(1, 10, 8))
        >>> sweep.n_clusters_effective
        array([1, 1, 1, 1, 2, 2, 2, 2])
        >>> found = critical_betas(sweep)     # the split lies between the 4th and 5th betas
        >>> found.lower, found.upper, found.betas
        (array([2.683]), array([3.728]), array([3.162]))
    """
    if not (hasattr(curve_result, "betas") and hasattr(curve_result, "n_clusters_effective")):
        raise ValueError(f"critical_betas takes a sweep (an IBCurve from vdualib.ib.curve); got "
                         f"{type(curve_result).__name__}.")
    betas = check_betas(curve_result.betas, "the sweep's betas")
    clusters = checks.finite_array("the sweep's n_clusters_effective", curve_result.n_clusters_effective)
    if clusters.shape != betas.shape:
        raise ValueError(f"the sweep's n_clusters_effective must hold one count per beta ({betas.size}); got shape "
                         f"{clusters.shape}.")
    order = np.argsort(betas)
    betas, clusters = betas[order], clusters[order].astype(np.int64)
    change = np.flatnonzero(np.diff(clusters) != 0)
    lower, upper = betas[change], betas[change + 1]
    return CriticalBetas(
        betas=np.sqrt(lower * upper),
        lower=lower,
        upper=upper,
        clusters_below=clusters[change],
        clusters_above=clusters[change + 1],
    )


def ib_first_transition(pxy):
    """The IB's analytic first critical beta, beta_0 = 1 / rho**2 (rho the maximal correlation).

    beta_0 is where the single-cluster solution (I(X; X_hat) = 0) becomes locally unstable:
    an ``curve(..., direction="up")`` sweep leaves it there. The global optimum may leave it
    earlier, at 1/s* <= 1/rho**2 (s* >= rho**2 the hypercontractivity coefficient of (X, Y);
    equal e.g. for binary symmetric pairs and the dualIB paper's toy problem), which is where a
    ``direction="down"`` sweep finds the first transition.
    Returns ``inf`` when X and Y are independent.

    Args:
        pxy: joint p(x, y), shape ``[|X|, |Y|]``, summing to 1 with no all-zero row.

    Returns:
        beta_0, a float (``inf`` for independent X and Y).

    Raises:
        ValueError: ``pxy`` is not a valid joint (see :func:`validate_joint`).

    Example:
        >>> ib_first_transition([[0.4, 0.1], [0.1, 0.4]])     # rho = 0.6: 1 / 0.36
        2.778
    """
    rho = maximal_correlation(pxy)
    return 1.0 / rho**2 if rho > 0 else float("inf")
