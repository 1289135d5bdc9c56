"""Shared helpers of the lab scripts' tests."""

import pytest


@pytest.fixture
def help_text(capsys):
    """``help_text(main)``: what ``main(["--help"])`` prints, after checking that it exits with status 0."""

    def run(main):
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"])
        assert exit_info.value.code == 0
        return capsys.readouterr().out

    return run
