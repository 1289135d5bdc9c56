"""``vdualib-train``: its help and the settings it refuses before any work."""

import pytest


def test_train_script_help_and_errors(capsys):
    from vdualib.commands import train as script

    with pytest.raises(SystemExit):
        script.main(["--help"])
    assert "--resume" in capsys.readouterr().out
    assert script.main(["--recipe", "mnist-dualib-mlp", "--set", "beta=-1"]) == 2
    assert "beta must be >= 0" in capsys.readouterr().err


def test_the_train_command_refuses_a_nan_setting_before_any_work(tmp_path, capsys):
    from vdualib.commands import train as command

    status = command.main(["--recipe", "mnist-vib-mlp", "--set", "weight_decay=nan", "--out", str(tmp_path / "run")])
    assert status == 2
    assert "weight_decay must be a finite number" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.keras").exists()
    (tmp_path / "file").write_text("x")
    assert command.main(["--recipe", "mnist-vib-mlp", "--out", str(tmp_path / "file")]) == 2
    assert "is an existing file" in capsys.readouterr().err
