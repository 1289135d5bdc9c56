"""The stochastic layer's measurements: each estimator on the encoder."""

import numpy as np
import pytest

from vdualib.information import binned_information, kde_information
from vdualib.information.stochastic_layer import encoder_information
from vdualib.information.variational import gaussian_encoder_bounds


def test_encoder_information_is_each_estimator_on_the_encoder():
    rng = np.random.default_rng(0)
    mean, stddev = rng.normal(size=(60, 3)), rng.uniform(0.2, 0.6, size=(60, 3))
    labels = np.arange(60) % 3
    values = encoder_information(mean, stddev, labels, seed=4, num_bins=10)
    assert (values["infonce_lower"], values["loo_upper"]) == pytest.approx(gaussian_encoder_bounds(mean, stddev, seed=4))
    assert (values["binning_ixt"], values["binning_ity"]) == pytest.approx(binned_information(mean, labels, num_bins=10))
    kde = kde_information(mean, labels, noise_variance=float(np.mean(stddev**2)))
    assert values["kde_ixt_upper"] == pytest.approx(kde["ixt_upper"]) and values["kde_ity_upper"] == pytest.approx(kde["ity_upper"])
    assert values["mean_sigma"] == pytest.approx(stddev.mean())
    # well separated means and tiny noise: every estimator reaches log2 N
    separated = encoder_information(np.arange(16.0)[:, None] * 10, np.full((16, 1), 1e-3), np.arange(16) % 2, seed=0)
    for key in ("infonce_lower", "binning_ixt", "kde_ixt_upper", "kde_ixt_lower"):
        assert separated[key] == pytest.approx(4.0, abs=1e-6), key
    with pytest.raises(ValueError, match="NaN or infinite"):
        encoder_information(np.full((4, 2), np.nan), np.ones((4, 2)), [0, 1, 0, 1], seed=0)
