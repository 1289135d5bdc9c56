"""The methods a classifier can be trained with: one table, read by every module that needs it.

A method fixes whether the bottleneck is stochastic, which objective (a ``keras.losses.Loss``
of :mod:`vdualib.losses`) is its distortion, and whether that objective needs a label
distribution with full support (KL(q || one-hot) is infinite, so the dual IB does):

========================  ==========  ===============  ==================  ==========================
name                      stochastic  loss             full-support labels  default label noise
========================  ==========  ===============  ==================  ==========================
``deterministic``         no          ``VIBLoss``      no                  none (one-hot)
``vib``                   yes         ``VIBLoss``      no                  none (one-hot)
``dualib``                yes         ``DualIBLoss``   yes                 ``"smoothing"``
========================  ==========  ===============  ==================  ==========================

Example:
    >>> from vdualib import methods
    >>> methods.get("dualib").needs_full_support
    True
    >>> methods.names()
    ('deterministic', 'vib', 'dualib')
"""

import dataclasses

__all__ = ["Method", "METHODS", "SMOOTHING_EPSILON", "get", "names"]

#: the label-smoothing weight used wherever none is given (``LabelSmoothing``, the recipes)
SMOOTHING_EPSILON = 0.01


@dataclasses.dataclass(frozen=True)
class Method:
    """One training method.

    Attributes:
        name: its key (``"vib"``), as recipes, cards and zoo names spell it.
        title: its name in reports (``"VIB"``).
        stochastic: a Gaussian encoder e(z|x) and a rate term (else z = mu(x), no rate).
        loss: the name of its ``keras.losses.Loss`` class in :mod:`vdualib.losses`
            (:func:`vdualib.losses.loss_class` gives the class).
        needs_full_support: its distortion needs p~(y|x) > 0 for every class.
        default_label_noise: the label noise (a name of :func:`vdualib.losses.get_label_noise`,
            with its default options) used when a full-support method is given none.

    Example:
        >>> METHODS["vib"].stochastic, METHODS["vib"].loss
        (True, 'VIBLoss')
    """

    name: str
    title: str
    stochastic: bool
    loss: str
    needs_full_support: bool
    default_label_noise: str = None


#: name -> :class:`Method`
METHODS = {
    "deterministic": Method("deterministic", "deterministic", False, "VIBLoss", False),
    "vib": Method("vib", "VIB", True, "VIBLoss", False),
    "dualib": Method("dualib", "VdualIB", True, "DualIBLoss", True, "smoothing"),
}


def names():
    """The method names, in the table's order.

    Returns:
        A tuple of strings.

    Example:
        >>> names()
        ('deterministic', 'vib', 'dualib')
    """
    return tuple(METHODS)


def get(name):
    """The :class:`Method` called ``name``.

    Args:
        name: a method name (``"deterministic"``, ``"vib"``, ``"dualib"``) or a :class:`Method`
            (returned as it is).

    Returns:
        The :class:`Method`.

    Raises:
        ValueError: an unknown name, with the choices.

    Example:
        >>> get("dualib").default_label_noise
        'smoothing'
    """
    if isinstance(name, Method):
        return name
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; use one of {list(METHODS)}.")
    return METHODS[name]
