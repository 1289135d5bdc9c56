"""Information units: every estimator computes in nats and converts at the end.

``units="bits"`` (the default for results shown to users, DESIGN.md) divides
by ln 2; ``units="nats"`` returns the natural-log value unchanged.

Example:
    >>> from_nats(math.log(2.0), "bits")
    1.0
"""

import math

UNITS = ("bits", "nats")


def check_units(units):
    """Raise ``ValueError`` unless ``units`` is ``"bits"`` or ``"nats"``.

    Args:
        units: the requested unit.

    Returns:
        ``units`` unchanged.

    Raises:
        ValueError: any other value.

    Example:
        >>> check_units("bits")
        'bits'
    """
    if units not in UNITS:
        raise ValueError(f"units must be 'bits' or 'nats', got {units!r}.")
    return units


def from_nats(value, units):
    """Convert ``value`` (nats; a float or numpy array) to ``units``.

    Args:
        value: an information value in nats, a float or a numpy array.
        units: ``"bits"`` (divide by ln 2) or ``"nats"`` (unchanged).

    Returns:
        ``value`` in ``units``, same type and shape.

    Raises:
        ValueError: an unknown unit.

    Example:
        >>> from_nats(math.log(2.0), "bits")
        1.0
    """
    return value / math.log(2.0) if check_units(units) == "bits" else value
