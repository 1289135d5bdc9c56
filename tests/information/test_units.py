"""Units of information: bits or nats, anything else refused."""

import numpy as np
import pytest

from vdualib.information import infonce_bounds, ksg_mi


def test_units_are_validated():
    with pytest.raises(ValueError, match="units"):
        infonce_bounds(np.zeros((2, 2)), units="bans")
    with pytest.raises(ValueError, match="units"):
        ksg_mi(np.arange(10.0), np.arange(10.0) ** 2, units="hartleys")
