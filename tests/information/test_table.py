"""Tables of information estimates: CSV/JSON round trips, means, the drift-to-diffusion epoch."""

import math

import pytest

from vdualib.information.table import load_table, mean_table, save_table, table_from_json, table_to_json


def test_table_round_trip_and_mean(tmp_path):
    rows = [
        {"epoch": 0, "layer": "a", "ixt": 1.5, "ity": 0.25, "grad_mean": math.nan, "grad_std": math.nan, "snr": math.inf},
        {"epoch": 5, "layer": "a", "ixt": 2.0, "ity": 0.5, "grad_mean": 0.1, "grad_std": 0.2, "snr": 0.5, "ixt_lower": 1.0},
    ]
    for name in ("t.csv", "t.json"):
        save_table(rows, tmp_path / name)
        loaded = load_table(tmp_path / name)
        assert loaded[1]["ixt_lower"] == 1.0 and loaded[0]["epoch"] == 0 and loaded[0]["layer"] == "a"
        assert math.isnan(loaded[0]["grad_mean"]) and loaded[0]["snr"] == math.inf
    other = [dict(row, ixt=row["ixt"] + 1.0) for row in rows]
    averaged = mean_table([rows, other])
    assert averaged[1]["ixt"] == pytest.approx(2.5) and averaged[1]["ixt_std"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same"):
        mean_table([rows, rows[:1]])
    with pytest.raises(ValueError, match=".csv or .json"):
        save_table(rows, tmp_path / "t.txt")
    with pytest.raises(FileNotFoundError):
        load_table(tmp_path / "missing.csv")
    rounded = table_from_json(table_to_json(rows, significant_digits=2))
    assert rounded[1]["ixt_lower"] == 1.0 and rounded[0]["ixt"] == 1.5 and math.isnan(rounded[0]["grad_mean"])


def test_drift_diffusion_epoch():
    from vdualib.information.table import drift_diffusion_epoch

    rows = [{"epoch": e, "layer": "a", "grad_mean": m, "grad_std": 1.0} for e, m in [(0, 0.1), (1, 3.0), (10, 2.0), (100, 0.5), (300, 2.0)]]
    assert drift_diffusion_epoch(rows, "a") == 100
    assert drift_diffusion_epoch([dict(r, grad_mean=5.0) for r in rows], "a") is None
    early_dip = [{"epoch": e, "layer": "a", "grad_mean": m, "grad_std": 1.0} for e, m in [(1, 0.5), (10, 3.0), (50, 0.8)]]
    assert drift_diffusion_epoch(early_dip, "a") == 50
