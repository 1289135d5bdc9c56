"""Evaluate classifiers on clean, corrupted and out-of-distribution data.

The logic behind ``vdualib-evaluate``, one job a module:

* :mod:`~vdualib.evaluation.data`: what an evaluation runs on: the held-out split of a recipe,
  the data set of zoo models (from their cards), OOD sets, the corruption families;
* :mod:`~vdualib.evaluation.loop`: :func:`evaluate` runs one or several models over the clean
  test split, the corruptions of :mod:`vdualib.corruptions` and the OOD sets, and returns one
  JSON-ready dict of every metric (:mod:`vdualib.metrics`), the temperature-scaling baseline
  (:mod:`vdualib.calibration`), the data the plots need, timings and provenance;
* :mod:`~vdualib.evaluation.report`: :func:`write_report` writes ``metrics.json`` and renders
  ``report.md`` from it (:func:`render_report` re-renders a committed ``metrics.json``), and
  ``examples.npz`` with each model's per-example clean test scores;
* :mod:`~vdualib.evaluation.examples`: those per-example scores, and paired bootstrap intervals
  of the difference between two models on the same test examples;
* :mod:`~vdualib.evaluation.plots`: the PNG figures, drawn from the same dict.

Models are loaded by :func:`vdualib.zoo.load` (a ``.keras`` file or a zoo name), and
:func:`vdualib.zoo.describe` gives what an evaluation records of them.

Example:
    >>> from vdualib import evaluation, zoo
    >>> model = zoo.load("mnist-dualib-mlp")
    >>> info, card = zoo.describe("mnist-dualib-mlp", model)
    >>> results = evaluation.evaluate([(model, info)], card["dataset"], ood=["fashion_mnist"],
    ...                               prediction="mu", validation=evaluation.zoo_validation([card], "mnist"),
    ...                               limit=200, corruption_names="none", progress=False)     # a quick look
    >>> text = evaluation.write_report(results, "runs/evaluate")
    >>> sorted(os.listdir("runs/evaluate"))
    ['examples.npz', 'metrics.json', 'ood_fashion_mnist.png', 'reliability.png', 'report.md']
"""

from vdualib.evaluation.data import (
    CIFAR10_JPEG_NOTE,
    CORRUPTIONS_NOTE,
    NOISE_SETS,
    held_out_split,
    zoo_dataset,
    zoo_validation,
)
from vdualib.evaluation import examples
from vdualib.evaluation.examples import PREDICTIONS
from vdualib.evaluation.loop import EvaluationOptions, evaluate, predict, split_metrics, temperature_baseline
from vdualib.evaluation.plots import corruption_figure, ood_figure, plot_all, reliability_figure
from vdualib.evaluation.report import render_report, summary_tables, write_report

__all__ = [
    "examples",
    "zoo_dataset",
    "zoo_validation",
    "held_out_split",
    "predict",
    "split_metrics",
    "temperature_baseline",
    "evaluate",
    "EvaluationOptions",
    "write_report",
    "render_report",
    "summary_tables",
    "plot_all",
    "reliability_figure",
    "corruption_figure",
    "ood_figure",
    "PREDICTIONS",
    "NOISE_SETS",
    "CIFAR10_JPEG_NOTE",
    "CORRUPTIONS_NOTE",
]
