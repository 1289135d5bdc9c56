"""The evaluation report: Markdown and PNGs rendered from metrics.json, the CIFAR-10 note."""

import os

import numpy as np
import pytest

from vdualib import datasets, evaluation, reports, zoo


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_and_pngs_are_rendered_from_json(run):
    for name in ("reliability", "corruption_accuracy", "corruption_ece", "ood_fashion_mnist", "ood_uniform"):
        with open(run / f"{name}.png", "rb") as f:
            assert f.read(8) == PNG_SIGNATURE
    report = (run / "report.md").read_text()
    assert "| small-vib | vib | 4 |" in report and "## Out-of-distribution detection" in report
    assert "Prediction (`samples`)" in report
    assert "regenerated" in report  # the corruption note
    assert "JPEG" not in report  # the CIFAR-10 note is for cifar10 only
    # Re-rendering from the JSON alone gives the same report.
    assert evaluation.render_report(run / "metrics.json", run) == report


@pytest.mark.slow
def test_cifar10_report_names_the_jpeg_rendition(tmp_path):
    import keras

    model = keras.Sequential(
        [
            keras.Input((32, 32, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = str(tmp_path / "tiny-cifar.keras")
    model.save(path)
    model = zoo.load(path)
    info, card = zoo.describe(path, model)
    assert card is None and info["label"] == "tiny-cifar" and info["method"] == "keras"
    results = evaluation.evaluate([(model, info)], "cifar10", corruption_names="none", ood=["gaussian"], limit=64, progress=False)
    report = evaluation.write_report(results, tmp_path)
    assert results["corruptions"] == [] and results["ood_sets"] == ["gaussian"]
    assert ("JPEG" in report) == (results["data_source"] == "jpeg")
    assert ("JPEG" in report) == any(os.path.isfile(os.path.join(d, "cifar10-jpeg.zip")) for d in datasets.data_dirs())
    assert not os.path.exists(tmp_path / "corruption_ece.png")
    # the per-example record beside metrics.json, for paired intervals; metrics.json stays plain JSON
    labels, scores, record = evaluation.examples.read_examples(tmp_path / "examples.npz")
    assert record["models"] == ["tiny-cifar"] and record["sha256"]["tiny-cifar"] == info["sha256"]
    assert np.mean(scores["tiny-cifar"]["correct"]) == pytest.approx(results["models"][0]["clean"]["accuracy"])
    assert labels.size == 64 and "examples" not in reports.read_json(tmp_path / "metrics.json")
    evaluation.write_report({k: v for k, v in results.items() if k != "examples"}, tmp_path)
    assert not os.path.exists(tmp_path / "examples.npz")  # no stale record beside results without one


def test_summary_tables_show_a_recorded_evaluation():
    results = reports.read_json(os.path.join(zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json"))
    tables = evaluation.summary_tables(results)
    assert {"clean", "corruption_summary", "corruptions", "ood"} <= set(tables)
    header, rule, *rows = tables["clean"].splitlines()
    assert header.startswith("| model | method | S | accuracy |") and set(rule) <= {"|", " ", "-"}
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [m["label"] for m in results["models"]]
    accuracy = results["models"][0]["clean"]["accuracy"]
    assert f"{accuracy:.4f}" in rows[0]
