"""``vdualib-quickstart``, and the README's main command it stands beside."""

import pytest

from vdualib import reports, zoo


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_quickstart_refuses_epochs_below_one(epochs, tmp_path, capsys, monkeypatch):
    from vdualib import datasets
    from vdualib.commands import quickstart

    monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("the data were read before the settings were checked"))
    assert quickstart.main(["--epochs", epochs]) == 2
    err = capsys.readouterr().err
    assert f"--epochs must be a positive integer, got {epochs}" in err and "test accuracy" not in err


@pytest.mark.slow
def test_the_readme_main_command_and_the_quickstart(tmp_path, capsys, data_dir):
    from vdualib.commands import evaluate, quickstart

    out = tmp_path / "evaluate"
    code = evaluate.main(["--model", "mnist-dualib-mlp", "--corruptions", "none", "--limit", "500", "--no-progress", "--out", str(out), "--data-dir", data_dir])
    assert code == 0
    assert "mnist-dualib-mlp" in capsys.readouterr().out
    record = reports.read_json(out / "metrics.json")
    assert record["models"][0]["sha256"] == zoo.sha256("mnist-dualib-mlp")
    # temperature scaling on the split the recipe held out, as in the card
    scaling = record["models"][0]["temperature_scaling"]
    card = zoo.card("mnist-dualib-mlp")["evaluation"]["temperature_scaling"]
    assert scaling["fit_on"] == "validation" and scaling["fit_examples"] == 5000
    assert scaling["temperature"] == pytest.approx(card["temperature"], rel=0.02)  # same split, fresh MC draws
    assert record["models"][0]["clean"]["accuracy"] > 0.95
    assert quickstart.main(["--train-size", "1000", "--data-dir", data_dir]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "ECE (15 bins)" in printed and "bits" in printed
