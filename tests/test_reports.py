"""Reports: JSON and text written atomically, paths as a report records them."""


from vdualib import reports


def test_recorded_path_is_relative_inside_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    inside = tmp_path / "repo" / "models" / "metrics.json"
    assert reports.recorded_path(inside) == "models/metrics.json"
    assert reports.recorded_path(str(tmp_path / "repo")) == "."
    assert reports.recorded_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")
    assert reports.recorded_path(tmp_path / "repo-sibling") == str(tmp_path / "repo-sibling")
