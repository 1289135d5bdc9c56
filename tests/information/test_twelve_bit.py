"""The 12-bit study's settings and its summary of a known table."""

import math

import pytest

from vdualib.information.stochastic_layer import StochasticLayerSettings
from vdualib.information.table import table_to_json
from vdualib.information.twelve_bit import TwelveBitSettings, summary_rows


def known_table():
    """Two layers over epochs 0, 10, 100 with a known peak, final value and gradient crossing."""
    rows = []
    for epoch, ixt, mean in ((0, 2.0, 0.5), (10, 5.0, 3.0), (100, 4.0, 0.2)):
        for layer, shift in (("a", 0.0), ("b", -1.0)):
            rows.append({"epoch": epoch, "layer": layer, "ixt": ixt + shift, "ity": 0.1 * epoch + shift,
                         "grad_mean": mean, "grad_std": 1.0, "snr": mean})
    return rows


def test_summary_rows_of_a_known_table():
    study = {"tanh": {"mean_binning": table_to_json(known_table()), "runs": [], "kde": [], "mean_test_accuracy": 0.5}}
    rows = summary_rows(study)
    assert [(r["activation"], r["layer"]) for r in rows] == [("tanh", "a"), ("tanh", "b")]
    assert rows[0]["peak_ixt"] == 5.0 and rows[0]["peak_epoch"] == 10
    assert rows[1]["final_ixt"] == 3.0 and rows[1]["final_ity"] == pytest.approx(9.0)
    assert rows[0]["drift_to_diffusion_epoch"] == 100  # first epoch after the SNR peak with mean < std


@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(epochs=0), "epochs"),
        (dict(train_fraction=1.0), "train_fraction"),
        (dict(activations=("gelu",)), "activations"),
        (dict(learning_rate=math.nan), "learning_rate"),
    ],
)
def test_twelve_bit_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        TwelveBitSettings(**settings)
    with pytest.raises(ValueError, match="fixed_size"):
        StochasticLayerSettings(fixed_size=1)
