"""Analytical IB and dualIB for a known discrete p(x, y): solvers, information curves, critical points.

Plain numpy/scipy (no TensorFlow). Information is reported in bits. ``beta`` is the
IB papers' trade-off parameter: it multiplies the distortion inside the exponent of
p(x_hat|x) (large beta = little compression). The variational models in
``vdualib.losses`` use the inverse convention (their beta multiplies the rate).
Results are reproducible by default (``seed=0``). Figures of curves and bifurcations:
:mod:`vdualib.ib.plots`.
"""

from vdualib.ib.critical import CriticalBetas, critical_betas, effective_cardinality, ib_first_transition
from vdualib.ib.curve import IBCurve, curve
from vdualib.ib.exponential_family import (
    ExponentialFamily,
    curve_exponential_family,
    solve_exponential_family,
    toy_problem,
)
from vdualib.ib.joint import (
    entropy_bits,
    joint_from_labels,
    maximal_correlation,
    mutual_information_bits,
    validate_joint,
)
from vdualib.ib.prediction import prediction_measures
from vdualib.ib.solver import IBSolution, solve

__all__ = [
    "solve",
    "curve",
    "critical_betas",
    "IBSolution",
    "IBCurve",
    "CriticalBetas",
    "ExponentialFamily",
    "solve_exponential_family",
    "curve_exponential_family",
    "toy_problem",
    "effective_cardinality",
    "ib_first_transition",
    "maximal_correlation",
    "mutual_information_bits",
    "entropy_bits",
    "joint_from_labels",
    "validate_joint",
    "prediction_measures",
]
