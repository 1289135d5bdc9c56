"""Reports: JSON and text written atomically, Markdown tables, paths as a report records them."""

import hashlib
import math
import os

import numpy as np
import pytest

from vdualib import reports


def test_recorded_path_is_relative_inside_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    inside = tmp_path / "repo" / "models" / "metrics.json"
    assert reports.recorded_path(inside) == "models/metrics.json"
    assert reports.recorded_path(str(tmp_path / "repo")) == "."
    assert reports.recorded_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")
    assert reports.recorded_path(tmp_path / "repo-sibling") == str(tmp_path / "repo-sibling")


def test_json_keeps_numpy_values_and_writes_non_finite_floats_as_valid_json(tmp_path):
    path = tmp_path / "out" / "metrics.json"
    data = {"ece": np.float32(0.25), "counts": np.arange(3), "nll": math.nan, "max": math.inf, "min": -math.inf}
    reports.write_json(path, data)
    assert reports.read_json(path) == {"ece": 0.25, "counts": [0, 1, 2], "nll": None, "max": "inf", "min": "-inf"}
    assert os.listdir(tmp_path / "out") == ["metrics.json"]  # no temporary file left
    assert reports.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json is not valid JSON .*damaged; rerun it"):
        reports.read_json(tmp_path / "bad.json", remedy="rerun it")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reports.read_json(tmp_path / "missing.json")


def test_markdown_table_formats_floats_and_leaves_missing_cells_empty():
    rows = [{"model": "vib", "ece": 0.01234}, {"model": "dualib", "ece": None}]
    assert reports.markdown_table(rows, digits=3) == "| model | ece |\n| --- | --- |\n| vib | 0.012 |\n| dualib |  |\n"
    assert reports.markdown_table(rows, [("ece", "ECE")]).splitlines()[0] == "| ECE |"
    with pytest.raises(ValueError, match="at least one row"):
        reports.markdown_table([])
