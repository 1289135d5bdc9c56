"""The method table: what each method is, read by name."""

import pytest

from vdualib import losses, methods


def test_the_table_names_each_method_and_what_it_needs():
    assert methods.names() == ("deterministic", "vib", "dualib")
    deterministic, vib, dualib = (methods.get(name) for name in methods.names())
    assert not deterministic.stochastic and vib.stochastic and dualib.stochastic
    assert dualib.needs_full_support and not vib.needs_full_support
    assert dualib.default_label_noise == "smoothing" and vib.default_label_noise is None
    assert (vib.title, dualib.title) == ("VIB", "VdualIB")
    for method in (deterministic, vib, dualib):
        assert losses.loss_class(method.name).__name__ == method.loss
    assert methods.get(vib) is vib  # a Method is returned as it is
    with pytest.raises(ValueError, match=r"Unknown method 'ceb'; use one of \['deterministic', 'vib', 'dualib'\]"):
        methods.get("ceb")
