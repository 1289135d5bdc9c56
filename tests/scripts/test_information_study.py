"""Tests of the information-plane study modules and of the ``python -m scripts.information_plane`` command:
the 12-bit runs, the stochastic-layer measurements, the JSON -> Markdown/figure rendering."""

import json
import math
import os

import numpy as np
import pytest

from scripts.lab.information_study import MNIST_COLUMNS, markdown, render, run_study
from vdualib.information import binned_information
from vdualib.information.stochastic_layer import StochasticLayerSettings
from vdualib.information.table import table_from_json, table_to_json
from vdualib.information.twelve_bit import BINNING_RANGES, TwelveBitSettings

TINY = TwelveBitSettings(epochs=3, seeds=1, activations=("relu",), every_epoch_until=3, points_per_decade=1,
                         kde=True, kde_subset=64, kde_points_per_decade=1)


def known_table():
    """Two layers over epochs 0, 10, 100 with a known peak, final value and gradient crossing."""
    rows = []
    for epoch, ixt, mean in ((0, 2.0, 0.5), (10, 5.0, 3.0), (100, 4.0, 0.2)):
        for layer, shift in (("a", 0.0), ("b", -1.0)):
            rows.append({"epoch": epoch, "layer": layer, "ixt": ixt + shift, "ity": 0.1 * epoch + shift,
                         "grad_mean": mean, "grad_std": 1.0, "snr": mean})
    return rows


def test_markdown_of_both_parts():
    mnist_row = {"epoch": 0, "accuracy": 0.25, "infonce_lower": 1.5, "loo_upper": 2.5, "rate_upper": 3.0,
                 "binning_ixt": 4.0, "kde_ixt_upper": 2.0, "kde_ixt_lower": 1.0, "binning_ity": 0.5,
                 "kde_ity_upper": 0.4, "izy_lower": 0.1, "mean_sigma": 0.9}
    data = {
        "twelve_bit": {"relu": {"mean_binning": table_to_json(known_table()), "runs": [], "kde": [], "mean_test_accuracy": 0.875}},
        "mnist": {"config": {"fixed_size": 8}, "methods": {"vib, beta=0.1": [dict(reversed(list(mnist_row.items())))]}},
    }
    text = markdown(data)
    assert "| relu | a | 5.000 | 10 | 4.000 | 10.000 | 100 |" in text
    assert "Mean held-out accuracy: relu 0.875" in text
    header = "| " + " | ".join(MNIST_COLUMNS) + " |"
    assert header in text  # fixed column order, whatever the order of the row's keys
    assert "| vib, beta=0.1 | 0 | 0.250 | 1.500 | 2.500 | 3.000 | 4.000 | 2.000 | 1.000 | 0.500 | 0.400 | 0.100 | 0.900 |" in text
    assert markdown({}) == ""


@pytest.fixture(scope="module")
def twelve_bit(data_dir):
    from vdualib.datasets import load_ib_12bit

    return load_ib_12bit(data_dir)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, twelve_bit):
    output = tmp_path_factory.mktemp("information-plane")
    return output, run_study(output, parts=["twelve-bit"], twelve_bit=TINY, progress=False)


@pytest.mark.slow
def test_run_records_the_untrained_network_exactly(tiny_study, twelve_bit):
    import keras

    from vdualib.information.network import build_mlp
    from vdualib.information.table import load_table

    output, path = tiny_study
    with open(path) as f:
        (run,) = json.load(f)["twelve_bit"]["relu"]["runs"]
    assert run["num_train"] == round(0.85 * 4096) and 0.0 <= run["test_accuracy"] <= 1.0
    rows = load_table(output / "tables" / "relu_seed0.csv")  # the full-precision table of seed 0
    layers = ["hidden_1", "hidden_2", "hidden_3", "hidden_4", "hidden_5", "output"]
    assert [(r["epoch"], r["layer"]) for r in rows] == [(e, l) for e in range(4) for l in layers]
    # epoch 0 is the seed-0 network before training: recompute its activations and bin them here
    x, y = twelve_bit
    model = build_mlp(12, activation="relu", seed=0)
    for layer in layers:
        activations = np.asarray(keras.Model(model.inputs[0], model.get_layer(layer).output)(x.astype("float32")))
        row = next(r for r in rows if r["epoch"] == 0 and r["layer"] == layer)
        expected = binned_information(activations, y, num_bins=30, value_range=BINNING_RANGES["relu"])
        assert (row["ixt"], row["ity"]) == pytest.approx(expected, abs=1e-9), layer
        assert row["grad_mean"] > 0 and row["grad_std"] > 0


@pytest.mark.slow
def test_run_study_writes_json_figures_and_markdown(tiny_study):
    from matplotlib.image import imread

    output, path = tiny_study
    with open(path) as f:
        data = json.load(f)
    assert set(data) >= {"twelve_bit", "twelve_bit_config", "twelve_bit_provenance"}
    assert data["twelve_bit_config"]["epochs"] == 3
    part = data["twelve_bit"]["relu"]
    (kde,) = part["kde"]
    kde_rows = table_from_json(kde["table"])
    assert {r["epoch"] for r in kde_rows} == {0, 1, 3}
    assert all(r["ixt"] <= math.log2(64) + 1e-9 for r in kde_rows)  # the KDE subset caps I(X;T)
    with open(output / "information_plane.md") as f:
        assert f.read() == markdown(data)
    for name in ("plane_12bit.png", "plane_12bit_kde.png", "curves_12bit_relu.png", "gradients_12bit_relu.png"):
        assert imread(output / name)[..., :3].std() > 0.05, name
    # rendering again from the JSON alone gives the same Markdown
    os.remove(output / "information_plane.md")
    written = render(output)
    assert str(output / "information_plane.md") in [str(p) for p in written]
    with open(output / "information_plane.md") as f:
        assert f.read() == markdown(data)


# -- the command ----------------------------------------------------------------------------------


def test_command_help_and_defaults(capsys):
    from scripts import information_plane

    with pytest.raises(SystemExit) as exit_info:
        information_plane.main(["--help"])
    assert exit_info.value.code == 0
    assert "--output-dir" in capsys.readouterr().out
    args = information_plane.build_parser().parse_args([])
    assert args.output_dir == information_plane.DEFAULT_OUTPUT and args.output_dir.endswith(os.path.join("scripts", "results", "information"))
    twelve, layer = information_plane.settings_from_args(args)
    assert twelve == TwelveBitSettings() and layer == StochasticLayerSettings()


def test_command_refuses_bad_input_before_work(tmp_path, capsys):
    from scripts import information_plane

    occupied = tmp_path / "file"
    occupied.write_text("x")
    assert information_plane.main(["--output-dir", str(occupied)]) == 2
    assert "existing file" in capsys.readouterr().err
    assert information_plane.main(["--output-dir", str(tmp_path / "out"), "--seeds", "0"]) == 2
    assert "seeds" in capsys.readouterr().err
    assert information_plane.main(["--output-dir", str(tmp_path / "empty"), "--render-only"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_command_runs_the_mnist_part(tmp_path):
    from scripts import information_plane

    status = information_plane.main([
        "--output-dir", str(tmp_path), "--parts", "mnist", "--mnist-epochs", "1", "--mnist-train-size", "300",
        "--mnist-fixed-size", "40", "--mnist-latent-dim", "4", "--mnist-betas", "0.1",
    ])
    assert status == 0
    with open(tmp_path / "information_plane.json") as f:
        data = json.load(f)
    methods = data["mnist"]["methods"]
    assert list(methods) == ["vib, beta=0.1", "dualib, beta=0.1"]
    for rows in methods.values():
        assert [r["epoch"] for r in rows] == [0, 1]
        for row in rows:
            assert row["infonce_lower"] <= math.log2(40) + 1e-9  # InfoNCE cannot exceed log N
            assert row["binning_ixt"] <= math.log2(40) + 1e-9
            assert row["kde_ixt_lower"] <= row["kde_ixt_upper"] + 1e-9
    assert "twelve_bit" not in data
    assert (tmp_path / "mnist_stochastic_layer.png").exists()
