"""The Markdown report of an evaluation, rendered from its ``metrics.json`` alone.

:func:`write_report` writes ``metrics.json`` and renders ``report.md`` and the PNG plots from it,
so a report can be re-rendered from a committed ``metrics.json`` (:func:`render_report`).

Example:
    >>> from vdualib import evaluation
    >>> info, _ = vdualib.zoo.describe("mnist-dualib-mlp", model)     # the zoo's mnist-dualib-mlp
    >>> results = evaluation.evaluate([(model, info)], "mnist", corruption_names="none", limit=200, progress=False)
    >>> text = evaluation.write_report(results, "runs/evaluate")
    >>> sorted(os.listdir("runs/evaluate"))     # metrics.json, report.md, PNGs
    ['examples.npz', 'metrics.json', 'reliability.png', 'report.md']
"""

import os

from vdualib import reports
from vdualib.evaluation import examples, plots
from vdualib.evaluation.examples import PREDICTIONS

__all__ = ["write_report", "render_report", "summary_tables"]

_CLEAN_COLUMNS = [  # fmt: skip
    "model", "method", "S", "accuracy", "nll", "brier", "ece", "mce", "adaptive_ece", "classwise_ece",
    ("T", "temperature"), ("ts_fit_on", "TS fitted on"), ("ece_before_ts", "ECE (TS scoring split)"),
    ("ece_ts", "ECE after TS"),
]
_SHIFT_COLUMNS = ["model", "severity", "accuracy", "nll", "brier", "ece", ("ece_temperature_scaled", "ECE after TS")]


def write_report(results, out_dir):
    """Write ``metrics.json`` into ``out_dir`` and render the report from it.

    The per-example scores (``results["examples"]``) go to ``examples.npz`` beside it
    (:mod:`vdualib.evaluation.examples`); results without them remove an earlier ``examples.npz``
    of the folder, which would no longer match.

    Args:
        results: the dict :func:`vdualib.evaluation.evaluate` returns.
        out_dir: the output folder (created if needed).

    Returns:
        The Markdown text of ``report.md``.

    Example:
        >>> from vdualib import evaluation
        >>> info, _ = vdualib.zoo.describe("mnist-dualib-mlp", model)     # the zoo's mnist-dualib-mlp
        >>> results = evaluation.evaluate([(model, info)], "mnist", corruption_names="none", limit=200, progress=False)
        >>> text = write_report(results, "out/eval")     # also writes report.md
        >>> with open("out/eval/report.md") as file:
        ...     text == file.read()
        True
    """
    per_example = results.get("examples")
    path = os.path.join(out_dir, examples.EXAMPLES_FILE)
    if per_example is None:
        # results without per-example scores (merged files, older evaluations): no stale record beside them
        if os.path.exists(path):
            os.remove(path)
    else:
        examples.write_examples(path, per_example["labels"], per_example["records"], results.get("prediction", "samples"))
    reports.write_json(os.path.join(out_dir, "metrics.json"), {k: v for k, v in results.items() if k != "examples"})
    return render_report(os.path.join(out_dir, "metrics.json"), out_dir)


def summary_tables(results):
    """The report's Markdown tables, computed from the results dict.

    Returns:
        ``{"clean": ..., "corruption_summary": ..., "corruptions": ..., "ood": ...}`` (the last
        three only when the evaluation has corruptions or OOD sets).

    Args:
        results: an evaluation's results dict (``metrics.json``).

    Example:
        >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
        >>> tables = summary_tables(reports.read_json(metrics))     # a recorded evaluation of the zoo
        >>> print(tables["clean"].splitlines()[0])
        | model | method | S | accuracy | nll | brier | ece | mce | adaptive_ece | classwise_ece | temperature | TS fitted on | ECE (TS scoring split) | ECE after TS |
    """
    models = results["models"]
    clean_rows = [
        {
            "model": m["label"],
            "method": m["method"],
            "S": m["num_samples_used"],
            **m["clean"],
            "T": m["temperature_scaling"]["temperature"],
            "ece_ts": (m["temperature_scaling"]["after"] or {}).get("ece"),  # None: T not fitted (see notes)
            "ece_before_ts": m["temperature_scaling"]["before"]["ece"],
            "ts_fit_on": m["temperature_scaling"].get("fit_on", "half of test"),
        }
        for m in models
    ]
    tables = {"clean": reports.markdown_table(clean_rows, _CLEAN_COLUMNS)}
    if results["corruptions"]:
        rows = [
            {"model": m["label"], "severity": severity, **values}
            for m in models
            for severity, values in m["corruption_summary"].items()
        ]
        tables["corruption_summary"] = reports.markdown_table(rows, _SHIFT_COLUMNS)
        rows = [
            {
                "model": m["label"],
                "corruption": name,
                **{
                    f"{key} s{s}": m["corruptions"][name][str(s)][key]
                    for s in results["severities"]
                    for key in ("accuracy", "ece")
                },
            }
            for m in models
            for name in results["corruptions"]
        ]
        tables["corruptions"] = reports.markdown_table(rows)
    if results["ood_sets"]:
        rows = [
            {"model": m["label"], "ood set": ood_name, "score": score, "AUROC": values["auroc"], "AUPR": values["aupr"]}
            for m in models
            for ood_name, scores in m["ood"].items()
            for score, values in scores.items()
        ]
        tables["ood"] = reports.markdown_table(rows)
    return tables


def render_report(metrics_path, out_dir):
    """Render ``report.md`` and the PNG plots into ``out_dir`` from a ``metrics.json``.

    Returns:
        The Markdown text.

    Args:
        metrics_path: the ``metrics.json`` of an evaluation.
        out_dir: the folder for ``report.md`` and the PNGs.

    Raises:
        FileNotFoundError: no ``metrics.json`` at ``metrics_path``.
        ValueError: a damaged ``metrics.json``.

    Example:
        >>> metrics = os.path.join(vdualib.zoo.models_dir(), "evaluations", "mnist-dualib-mlp", "metrics.json")
        >>> results = reports.read_json(metrics)     # a recorded evaluation of the zoo
        >>> results["corruptions"] = results["corruptions"][:3]     # three of them, and the mean
        >>> reports.write_json("out/eval/metrics.json", results)
        >>> text = render_report("out/eval/metrics.json", "out/eval")     # the report drawn again
        >>> sorted(os.listdir("out/eval"))
        ['corruption_accuracy.png', 'corruption_ece.png', 'metrics.json', 'ood_fashion_mnist.png', 'reliability.png', 'report.md']
    """
    results = reports.read_json(metrics_path)
    tables = summary_tables(results)
    figures = plots.plot_all(results, out_dir)
    prediction = results.get("prediction", "samples")  # evaluations before the option averaged samples
    model_lines = "\n".join(
        f"- `{m['label']}`: {m['method']}, {m['parameters']:,} parameters, sha256 `{m['sha256']}`"
        for m in results["models"]
    )
    sections = [
        f"# Evaluation on {results['dataset']} ({results['split']}, {results['num_examples']} examples)\n",
        *(f"> {note}\n" for note in results["notes"]),
        f"Models:\n\n{model_lines}\n",
        f"Prediction (`{prediction}`): {PREDICTIONS[prediction]}; column S is the number of samples.\n",
        f"## Clean test split\n\nECE, MCE and adaptive/class-wise ECE with {results['num_bins']} bins; NLL in nats. "
        "Temperature scaling (TS) is fitted on the held-out validation split and scored on the whole test "
        "split, or, without one, fitted on a random half of the test split and scored on the other half "
        "(column 'TS fitted on').\n\n" + tables["clean"],
    ]
    if "corruption_summary" in tables:
        sections.append(
            "## Corrupted test splits\n\n"
            f"Corrupted copies of {results.get('corruption_split') or results['split']}; "
            "mean over the corruptions, per severity.\n\n" + tables["corruption_summary"]
        )
        sections.append("Per corruption (accuracy and ECE per severity):\n\n" + tables["corruptions"])
    if "ood" in tables:
        sections.append(
            "## Out-of-distribution detection\n\nScores grow with uncertainty (max probability as 1 - max p; entropy, "
            "mutual information and rate in nats); out-of-distribution is the positive class.\n\n" + tables["ood"]
        )
    sections.append(
        "## Figures\n\n" + "\n".join(f"![{os.path.basename(f)}]({os.path.basename(f)})" for f in figures) + "\n"
    )
    text = "\n".join(sections)
    reports.write_text(os.path.join(out_dir, "report.md"), text)
    return text
