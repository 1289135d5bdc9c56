"""Figures written atomically and closed, whatever happens."""

import os

import pytest

from vdualib import plotting

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_save_figure_writes_the_format_of_the_extension_and_closes_the_figure(tmp_path):
    plt = plotting.pyplot()
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1])
    path = tmp_path / "new" / "figure.png"
    assert plotting.save_figure(figure, path) == path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert not plt.fignum_exists(figure.number)
    figure, _ = plt.subplots()
    plotting.save_figure(figure, tmp_path / "new" / "figure.svg")
    assert "<svg" in (tmp_path / "new" / "figure.svg").read_text()
    assert sorted(os.listdir(tmp_path / "new")) == ["figure.png", "figure.svg"]  # no temporary file left


def test_a_failed_save_leaves_no_file_and_still_closes_the_figure(tmp_path):
    plt = plotting.pyplot()
    figure, _ = plt.subplots()
    with pytest.raises(ValueError, match="not supported"):
        plotting.save_figure(figure, tmp_path / "figure.nope")
    assert os.listdir(tmp_path) == [] and not plt.fignum_exists(figure.number)
