"""The dual IB against the VIB and a deterministic network, as a published comparison.

:func:`merge_evaluations` joins the per-model ``metrics.json`` files of one data set (written by the
same evaluation: same split, prediction mode, corruptions, severities, OOD sets and seed) into one
results dict, so :func:`vdualib.evaluation.write_report` renders a single report with overlaid
plots. :func:`method_deltas` states, from those numbers, how VdualIB differs from each other method
(:mod:`vdualib.methods`) on each measure; on the clean test measures (with the ECE after
temperature scaling fitted on a validation split), accuracy and NLL under corruption and the OOD
AUROCs it adds a paired bootstrap interval over the test (and OOD) examples
(:mod:`vdualib.evaluation.examples`), so a single-seed difference is marked beyond the test-set
noise or not. :func:`compare_zoo` does both for the zoo's models of each data set and writes
``compare.json``, then ``compare.md`` from it; it is the logic of ``python -m scripts.compare``.

Example:
    >>> from scripts.lab import comparison
    >>> summary = comparison.compare_zoo(["mnist"], out_dir="runs/compare")
    >>> [d["measure"] for d in summary["datasets"]["mnist"]["deltas"] if d["better"]]
    ['accuracy', 'ece_after_ts', ...]
"""

import os

import numpy as np
from tqdm.auto import tqdm

from vdualib import datasets, evaluation, methods, plotting, recipes, reports, zoo
from vdualib.evaluation import examples

__all__ = [
    "merge_evaluations",
    "merge_examples",
    "summary_rows",
    "method_deltas",
    "zoo_evaluations",
    "compare_results",
    "compare_zoo",
    "compare_files",
    "summary_markdown",
    "schedule_note",
    "targets_note",
    "differences_figure",
]

# The recipe fields that make a training schedule (the method's own fields, beta, prior, noise, are not).
_SCHEDULE = ("epochs", "optimizer", "learning_rate", "lr_schedule", "batch_size", "weight_decay", "augment")
_SAME = ("dataset", "split", "num_examples", "num_bins", "seed", "corruptions", "severities", "ood_sets")


def _metrics_paths(paths):
    """A list of ``metrics.json`` paths, or a ``ValueError`` for one path or what is not a list."""
    if paths is None or isinstance(paths, (str, bytes, os.PathLike, dict)):
        raise ValueError(f"expected a list of metrics.json paths, got {paths!r}; pass [path] for one file.")
    try:
        return [os.fspath(p) for p in paths]
    except TypeError:
        raise ValueError(f"expected a list of metrics.json paths, got {paths!r}.") from None


def merge_evaluations(paths):
    """One results dict from several ``metrics.json`` files of the same evaluation.

    Args:
        paths: ``metrics.json`` files written by :func:`vdualib.evaluation.write_report`.

    Returns:
        The first file's dict with the models of all files and new provenance.

    Raises:
        ValueError: no paths, or two files differ in split, prediction mode, corruptions,
            severities, OOD sets, bins or seed.

    Example:
        >>> merged = merge_evaluations(["runs/vib/metrics.json", "runs/dualib/metrics.json"])
        >>> [m["label"] for m in merged["models"]]
        ['vib', 'dualib']
    """
    paths = _metrics_paths(paths)
    if not paths:
        raise ValueError("merge_evaluations needs at least one metrics.json.")
    records = [reports.read_json(p) for p in paths]
    first = records[0]
    for path, record in zip(paths, records):
        for key in _SAME:
            if record.get(key) != first.get(key):
                raise ValueError(f"{path} differs from {paths[0]} in {key!r}; evaluate the models the same way.")
        if record.get("prediction", "samples") != first.get("prediction", "samples"):
            raise ValueError(f"{path} differs from {paths[0]} in 'prediction'; evaluate the models the same way.")
    merged = dict(first)
    merged["models"] = [m for r in records for m in r["models"]]
    merged["provenance"] = reports.provenance(sources=[reports.recorded_path(p) for p in paths])
    return merged


def merge_examples(paths):
    """The per-example scores beside several ``metrics.json`` files (``examples.npz``), joined.

    Args:
        paths: ``metrics.json`` files of one evaluation (see :func:`merge_evaluations`).

    Returns:
        ``{"scores": {model label: scores}, "missing": [...]}``: ``scores`` is
        ``None`` when any file has no ``examples.npz`` (evaluated before they were kept; its
        folder is listed in ``missing``).

    Raises:
        ValueError: the files' test labels differ (not the same examples in the same order), a
            model label repeats, or a record's model sha256 differs from its ``metrics.json``
            (the record is stale: evaluate again).
    """

    scores, missing, first = {}, [], None
    for path in _metrics_paths(paths):
        where = examples.examples_path(path)
        if not os.path.isfile(where):
            missing.append(os.path.dirname(path))
            continue
        labels, record, info = examples.read_examples(where)
        if first is None:
            first = (where, labels)
        elif not np.array_equal(labels, first[1]):
            raise ValueError(f"{where} and {first[0]} hold other test examples; evaluate the models the same way.")
        recorded = {m["label"]: m.get("sha256") for m in reports.read_json(path)["models"]}
        for label, model_scores in record.items():
            if label in scores:
                raise ValueError(f"two evaluations name a model {label!r}; give each model its own label.")
            if recorded.get(label) != (info["sha256"][label] or None):
                raise ValueError(
                    f"{where} was written for another {label!r} than {path} describes (sha256 differs); evaluate it again."
                )
            scores[label] = model_scores
    return {"scores": None if missing else scores, "missing": missing}


def summary_rows(results):
    """One row per model: clean, corrupted (mean over severities) and OOD (AUROC) figures.

    NLL in nats; accuracy, Brier, ECE and AUROC are unitless.

    Args:
        results: an evaluation's results dict (``metrics.json``, or :func:`merge_evaluations`).

    Returns:
        A list of dicts with ``model``, ``method``, the clean metrics, ``ece_after_ts``, the
        descriptive ``ts_temperature`` and ``mean_confidence``, ``shift_*`` and
        ``auroc_<set>_entropy`` / ``auroc_<set>_rate``.

    Example:
        >>> summary_rows(merge_evaluations(["runs/vib/metrics.json", "runs/dualib/metrics.json"]))[0]["ece"]
    """
    if not isinstance(results, dict) or not isinstance(results.get("models"), list):
        raise ValueError("expected an evaluation's results (a metrics.json or merge_evaluations) with a list of models.")
    rows = []
    for m in results["models"]:
        shift = m.get("corruption_summary", {}).get("mean", {})
        row = {
            "model": m["label"],
            "method": m["method"],
            "accuracy": m["clean"]["accuracy"],
            "nll": m["clean"]["nll"],
            "brier": m["clean"]["brier"],
            "ece": m["clean"]["ece"],
            "ece_after_ts": (m["temperature_scaling"]["after"] or {}).get("ece"),
            # descriptive, not scored: T > 1 means the model was overconfident
            "ts_temperature": m["temperature_scaling"].get("temperature"),
            "mean_confidence": _mean_confidence(m.get("reliability")),
            "shift_accuracy": shift.get("accuracy"),
            "shift_nll": shift.get("nll"),
            "shift_ece": shift.get("ece"),
        }
        for ood_name, scores in m["ood"].items():
            row[f"auroc_{ood_name}_entropy"] = scores["entropy"]["auroc"]
            if "rate" in scores:
                row[f"auroc_{ood_name}_rate"] = scores["rate"]["auroc"]
        rows.append(row)
    return rows


def _mean_confidence(reliability):
    """Mean top-label probability on the test split, from the reliability curve's bins."""
    if not reliability:
        return None
    counts = np.asarray(reliability["count"], dtype=np.float64)
    confidence = np.nan_to_num(np.asarray(reliability["confidence"], dtype=np.float64))  # None (empty bin) -> NaN -> 0
    return float(np.sum(counts * confidence) / np.sum(counts))


_LOWER_IS_BETTER = {"nll", "brier", "ece", "ece_after_ts", "shift_nll", "shift_ece"}
_DESCRIPTIVE = {"ts_temperature", "mean_confidence"}


def method_deltas(rows, method="dualib", against=None, scores=None, progress=False, num_bins=15):
    """For each measure, ``method``'s value minus each baseline's and whether it is better.

    Args:
        rows: :func:`summary_rows`.
        method: the method compared (a name of :mod:`vdualib.methods`).
        against: the baselines (default: every other method of :mod:`vdualib.methods`).
        scores: optional per-example scores ``{model label: scores}`` of the clean test split
            (:func:`merge_examples`); the measures of
            :data:`vdualib.evaluation.examples.MEASURES` and the OOD AUROCs then get a paired
            bootstrap interval.
        progress: show a progress bar over the intervals (a few seconds each on 10,000 examples).
        num_bins: the ECE bins of the evaluation the rows come from (its ``num_bins``).

    Returns:
        A list of dicts ``{"measure", "versus", method, baseline, "difference", "better",
        "interval", "beyond_noise"}``; ``better`` is the sign of the difference,
        ``interval`` the 95% paired bootstrap interval ``[low, high]`` of the difference
        (``None`` without scores, for the ECE under corruption, and for the ECE after TS unless T
        was fitted on a validation split) and ``beyond_noise``
        whether it excludes 0. Empty when ``method`` has no row.

    Example:
        >>> [d for d in method_deltas(summary_rows(merged)) if d["measure"] == "ece"]
    """

    method = methods.get(method).name
    against = [m for m in methods.names() if m != method] if against is None else [methods.get(m).name for m in against]
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) and "method" in r for r in rows):
        raise ValueError("rows must be summary_rows(...): a list of dicts with a 'method'.")
    by_method = {r["method"]: r for r in rows}
    if method not in by_method:
        return []
    deltas, pending = [], []
    for baseline in against:
        if baseline not in by_method:
            continue
        for key, value in by_method[method].items():
            other = by_method[baseline].get(key)
            if key in ("model", "method", *_DESCRIPTIVE) or value is None or other is None:
                continue
            difference = value - other
            better = difference < 0 if key in _LOWER_IS_BETTER else difference > 0
            pair = [by_method[m]["model"] for m in (method, baseline)]
            if scores is not None and all(label in scores for label in pair):
                if examples.interval_available(key, scores[pair[0]], scores[pair[1]]):
                    pending.append((len(deltas), pair, key))
            deltas.append(
                {
                    "measure": key,
                    "versus": baseline,
                    method: value,
                    baseline: other,
                    "difference": difference,
                    "better": better,
                    "interval": None,
                    "beyond_noise": None,
                }
            )
    for index, (a, b), key in tqdm(pending, desc="bootstrap intervals", disable=not progress or not pending):
        interval = examples.paired_interval(scores[a], scores[b], key, num_bins=num_bins)
        deltas[index].update(interval=[interval["low"], interval["high"]], beyond_noise=interval["beyond_noise"])
    return deltas


def zoo_evaluations(dataset, models_dir=None):
    """The zoo's evaluation files of ``dataset``, one a method.

    Args:
        dataset: a data set of :data:`vdualib.datasets.DATASETS`.
        models_dir: the zoo folder holding ``evaluations/<name>/metrics.json`` (default
            :func:`vdualib.zoo.models_dir`).

    Returns:
        ``{zoo name: path of its metrics.json}`` (the files may not exist yet).

    Raises:
        ValueError: an unknown data set.

    Example:
        >>> zoo_evaluations("mnist")     # {'mnist-deterministic-mlp': '.../evaluations/.../metrics.json', ...}
    """

    info = datasets.info(dataset)
    folder = os.fspath(models_dir) if models_dir is not None else zoo.models_dir()
    names = [recipes.model_name(info.name, method, info.backbone) for method in methods.names()]
    return {name: os.path.join(folder, "evaluations", name, "metrics.json") for name in names}


def compare_results(results, out_dir, method="dualib", per_example=None, progress=False):
    """Write the joint report of ``results`` into ``out_dir`` and compare ``method`` with the rest.

    Returns:
        ``{"rows", "deltas", "notes", "report"}``: :func:`summary_rows`, :func:`method_deltas`
        (with bootstrap intervals when per-example scores are known), the evaluation's notes
        (plus one on the intervals) and the path of ``report.md``.

    Args:
        results: an evaluation's results dict with several models (:func:`merge_evaluations`,
            or :func:`vdualib.evaluation.evaluate`, whose per-example scores are then used).
        out_dir: the folder for ``report.md``, ``metrics.json`` and the plots.
        method: the method compared with the others.
        per_example: :func:`merge_examples` of the files ``results`` was merged from.
        progress: show a progress bar over the bootstrap intervals.

    Example:
        >>> compare_results(merge_evaluations(paths), "runs/compare/mnist", per_example=merge_examples(paths))["deltas"]
    """

    if per_example is None and results.get("examples") is not None:
        records = results["examples"]["records"]
        per_example = {"scores": {r["label"]: r["scores"] for r in records}, "missing": []}
    evaluation.write_report(results, out_dir)
    rows = summary_rows(results)
    scores = None if per_example is None else per_example["scores"]
    return {
        "rows": rows,
        "deltas": method_deltas(rows, method, scores=scores, progress=progress, num_bins=results.get("num_bins", 15)),
        "notes": [*results["notes"], _interval_note(per_example)],
        "report": os.path.join(os.fspath(out_dir), "report.md"),
    }


def _interval_note(per_example):
    if per_example is None or per_example["scores"] is None:
        missing = ", ".join(per_example["missing"]) if per_example else "the joined files"
        return (
            f"No per-example scores for {missing} (evaluated before they were kept), so no difference has a "
            "bootstrap interval; evaluate the models again to get them."
        )
    options = examples.BOOTSTRAP
    return (
        f"Intervals: {options['confidence_level']:.0%} paired bootstrap over the test examples (the corrupted ones for "
        f"shift_*; for an AUROC, also the OOD set's; {options['num_resamples']} resamples, the same for both models); "
        "they hold the test-set noise of a difference, not the seed-to-seed spread, which needs several trainings."
    )


def compare_zoo(
    dataset_names=None,
    models_dir=None,
    out_dir="runs/compare",
    reevaluate=False,
    prediction="samples",
    data_dir=None,
    progress=True,
):
    """Compare the zoo's deterministic, VIB and VdualIB models of each data set.

    Joins their evaluation files (:func:`zoo_evaluations`) or, with ``reevaluate``, evaluates the
    models again in one run; writes ``<out_dir>/<dataset>/`` (report, plots),
    ``<out_dir>/compare.json`` and ``<out_dir>/compare.md`` (rendered from the JSON). The data
    set's notes name what each model was trained towards (:func:`targets_note`) and, when the
    models' cards show different training schedules, say so (:func:`schedule_note`).

    Args:
        dataset_names: data sets to compare (default every one of :data:`vdualib.datasets.DATASETS`).
        models_dir: the zoo folder with ``evaluations/`` (default :func:`vdualib.zoo.models_dir`).
        out_dir: the output folder.
        reevaluate: evaluate the models again (loaded from the zoo) instead of joining files.
        prediction: with ``reevaluate``, ``"samples"`` or ``"mu"`` (see
            :func:`vdualib.evaluation.evaluate`).
        data_dir: folder with the data files.
        progress: show progress bars.

    Returns:
        The summary: ``{"datasets": {name: compare_results(...)}, "skipped": {...}, "provenance"}``.

    Raises:
        FileNotFoundError: no data set has the evaluation files of all its models.

    Example:
        >>> compare_zoo(["mnist"], out_dir="runs/compare")["datasets"]["mnist"]["rows"]
    """

    dataset_names = list(datasets.DATASETS) if dataset_names is None else [datasets.canonical_name(d) for d in dataset_names]
    summary = {"datasets": {}, "skipped": {}, "provenance": reports.provenance()}
    for dataset in dataset_names:
        paths = zoo_evaluations(dataset, models_dir)
        available = set(zoo.list_models()) if reevaluate else {n for n, p in paths.items() if os.path.isfile(p)}
        missing = [name for name in paths if name not in available]
        if missing:
            summary["skipped"][dataset] = missing
            continue
        if reevaluate:
            loaded = [zoo.load(name) for name in paths]
            described = [zoo.describe(name, model) for name, model in zip(paths, loaded)]
            cards = [card for _, card in described]
            results = evaluation.evaluate(
                [(model, info) for model, (info, _) in zip(loaded, described)],
                dataset,
                ood=datasets.info(dataset).ood,
                prediction=prediction,
                data_dir=data_dir,
                progress=progress,
                validation=evaluation.zoo_validation(cards, dataset, data_dir),
            )
            per_example = None
        else:
            results = merge_evaluations(list(paths.values()))
            per_example = merge_examples(list(paths.values()))
            by_name = {record["name"]: record for record in zoo.cards(models_dir)}
            cards = [by_name[name] for name in paths if name in by_name]
        notes = [note for note in (targets_note(cards), schedule_note(cards)) if note]
        results = dict(results, notes=[*results["notes"], *notes])
        summary["datasets"][dataset] = compare_results(
            results, os.path.join(out_dir, dataset), per_example=per_example, progress=progress
        )
    if not summary["datasets"]:
        where = "the zoo" if reevaluate else os.path.join(models_dir or zoo.models_dir(), "evaluations")
        raise FileNotFoundError(
            f"no data set has all its models in {where} (missing: {summary['skipped']}); build them with "
            "scripts/build_zoo.py, point --models-dir at a checkout's models/, or pass --reevaluate."
        )
    return _write_summary(summary, out_dir)


def compare_files(paths, out_dir="runs/compare", progress=False):
    """Compare the models of several ``metrics.json`` files of one evaluation.

    Writes the joint report into ``<out_dir>/<dataset>/`` and ``compare.json`` / ``compare.md``
    into ``out_dir``, as :func:`compare_zoo` does.

    Returns:
        The summary ``{"datasets": {dataset: compare_results(...)}, "skipped": {}, "provenance"}``.

    Args:
        paths: ``metrics.json`` files of one evaluation set-up (see :func:`merge_evaluations`).
        out_dir: the output folder.
        progress: show a progress bar over the bootstrap intervals.

    Raises:
        ValueError: the files differ in their evaluation set-up (see :func:`merge_evaluations`).
        FileNotFoundError: a file does not exist.

    Example:
        >>> compare_files(["runs/vib/metrics.json", "runs/dualib/metrics.json"], "runs/compare")
    """
    results = merge_evaluations(paths)
    entry = compare_results(
        results, os.path.join(out_dir, results["dataset"]), per_example=merge_examples(paths), progress=progress
    )
    return _write_summary({"datasets": {results["dataset"]: entry}, "skipped": {}, "provenance": results["provenance"]}, out_dir)


def schedule_note(cards):
    """A note naming how the models' training schedules differ, or ``None`` when they agree.

    A comparison of methods is controlled only when every model was trained with the same
    schedule; when the zoo holds models of different recipes (one retrained, one not), the
    differences mix method and schedule, and the report says so.

    Args:
        cards: zoo card dicts (``models/cards/<name>.json``), each with ``name`` and ``recipe``.

    Returns:
        A one-line note listing, per model, the schedule fields that differ
        (epochs, optimizer, learning rate and its schedule, batch size, weight decay,
        augmentation), or ``None``.

    Example:
        >>> schedule_note([{"name": "a", "recipe": {"epochs": 30}}, {"name": "b", "recipe": {"epochs": 200}}])
        'The models were trained under different schedules (a: epochs=30; b: epochs=200), ...'
    """
    schedules = {card["name"]: {key: card.get("recipe", {}).get(key) for key in _SCHEDULE} for card in cards}
    differing = [key for key in _SCHEDULE if len({repr(s[key]) for s in schedules.values()}) > 1]
    if not differing:
        return None
    per_model = "; ".join(f"{name}: " + ", ".join(f"{key}={s[key]}" for key in differing) for name, s in schedules.items())
    return (
        f"The models were trained under different schedules ({per_model}), so the differences below mix "
        "method and schedule; they compare methods only once every model follows one schedule."
    )


def targets_note(cards):
    """A note naming what each model's distortion was trained towards, so a difference between
    methods is read with their targets in mind (a one-hot VIB and a smoothed one differ).

    Args:
        cards: zoo card dicts, each with ``name`` and ``recipe``.

    Returns:
        ``"Trained towards: <name>: <targets>; ..."`` (:func:`vdualib.recipes.describe_targets`;
        ``not recorded`` for a card without a complete recipe, as :func:`schedule_note` reads
        what it finds), or ``None`` without cards.

    Example:
        >>> targets_note([{"name": "a", "recipe": recipes.RECIPES["cifar10-vib-resnet20"]}])
        'Trained towards: a: smoothed by 0.1.'
    """

    if not cards:
        return None
    parts = []
    for card in cards:
        try:
            parts.append(f"{card['name']}: {recipes.describe_targets(card.get('recipe'))}")
        except ValueError:
            parts.append(f"{card['name']}: not recorded")
    return "Trained towards: " + "; ".join(parts) + "."


def _write_summary(summary, out_dir):
    reports.write_json(os.path.join(out_dir, "compare.json"), summary)
    reports.write_text(os.path.join(out_dir, "compare.md"), summary_markdown(summary))
    figure_path = os.path.join(out_dir, "differences.png")
    if any(d.get("interval") for entry in summary["datasets"].values() for d in entry["deltas"]):
        differences_figure(summary, figure_path)
    elif os.path.exists(figure_path):
        os.remove(figure_path)  # no intervals this time: no stale figure beside the summary
    return summary


def differences_figure(summary, path, method="dualib"):
    """Draw each difference that has a bootstrap interval, oriented so that right means
    ``method`` is better: one column per data set, one small axis per measure (the measures'
    scales differ), a point and its 95% interval per baseline, and the zero line.

    Args:
        summary: the dict :func:`compare_zoo` / :func:`compare_files` returned (or ``compare.json``).
        path: the PNG to write (atomically).
        method: the method whose differences are drawn.

    Returns:
        ``path``.

    Raises:
        ValueError: no difference in ``summary`` has an interval.

    Example:
        >>> differences_figure(reports.read_json("runs/compare/compare.json"), "runs/compare/differences.png")
    """

    title = methods.get(method).title
    columns = {}
    for dataset, entry in summary["datasets"].items():
        judged = [d for d in entry["deltas"] if d.get("interval")]
        if judged:
            columns[dataset] = {m: [d for d in judged if d["measure"] == m] for m in dict.fromkeys(d["measure"] for d in judged)}
    if not columns:
        raise ValueError("no difference has a bootstrap interval; compare evaluations that kept their examples.npz.")
    rows = max(len(measures) for measures in columns.values())
    figure, axes = plotting.pyplot().subplots(
        rows, len(columns), figsize=(4.2 * len(columns), 0.95 * rows + 0.8), squeeze=False
    )
    baselines = [m for m in methods.names() if m != method]
    colours = {b: f"C{i}" for i, b in enumerate(baselines)}
    for column, (dataset, measures) in enumerate(columns.items()):
        for row in range(rows):
            axis = axes[row][column]
            if row >= len(measures):
                axis.set_visible(False)
                continue
            name, deltas = list(measures.items())[row]
            sign = -1.0 if name in _LOWER_IS_BETTER else 1.0  # right = better for method
            for position, delta in enumerate(deltas):
                low, high = sorted(sign * v for v in delta["interval"])
                gain = sign * delta["difference"]
                axis.errorbar(
                    gain, position, xerr=[[max(gain - low, 0.0)], [max(high - gain, 0.0)]], fmt="o",
                    color=colours.get(delta["versus"], "k"), capsize=3,
                    label=f"vs {methods.get(delta['versus']).title}" if row == 0 else None,
                )  # fmt: skip
            axis.axvline(0.0, color="black", linewidth=0.8)
            axis.set_yticks([])
            axis.set_ylim(-0.8, len(deltas) - 0.2)
            axis.set_title(f"{name} ({'baseline - ' + title if sign < 0 else title + ' - baseline'})", fontsize=8, loc="left")
            axis.tick_params(axis="x", labelsize=7)
            axis.grid(axis="x", alpha=0.3)
        axes[0][column].set_title(f"{dataset}\n{axes[0][column].get_title(loc='left')}", fontsize=8, loc="left")
    handles = {}
    for axis in axes[0]:
        handles.update(zip(*reversed(axis.get_legend_handles_labels())))
    level = examples.BOOTSTRAP["confidence_level"]
    figure.suptitle(
        f"{title}'s advantage over each baseline (right of 0: {title} better), {level:.0%} paired bootstrap intervals",
        fontsize=9,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.legend(list(handles.values()), list(handles), loc="upper right", fontsize=7, ncol=len(handles))
    return plotting.save_figure(figure, path)


def summary_markdown(summary, method="dualib"):
    """The comparison's Markdown, rendered from the summary dict (``compare.json``).

    Args:
        summary: the dict :func:`compare_zoo` / :func:`compare_files` returned (or ``compare.json``).
        method: the method whose deltas are reported.

    Returns:
        Markdown text: per data set, the notes, the rows table, the verdict and the deltas table.
        The verdict names only the methods that were compared; without the ``method`` model or
        any other method's, it says so instead.

    Example:
        >>> print(summary_markdown(reports.read_json("runs/compare/compare.json")))
    """

    title = methods.get(method).title
    text = []
    for dataset, entry in summary["datasets"].items():
        text.append(f"#### {dataset}\n")
        text.extend(f"> {note}\n" for note in entry["notes"])
        text.append(reports.markdown_table(entry["rows"]))
        baselines = list(dict.fromkeys(d["versus"] for d in entry["deltas"]))
        counts = [
            f"on {sum(d['better'] for d in entry['deltas'] if d['versus'] == b)} of "
            f"{sum(d['versus'] == b for d in entry['deltas'])} measures than the {methods.get(b).title} model"
            for b in baselines
        ]
        if counts:
            text.append(f"\n{title} is better {' and '.join(counts)} (full report: `{entry['report']}`).\n")
        else:
            # a verdict names only methods that were compared
            present = ", ".join(dict.fromkeys(_method_title(row.get("method")) for row in entry["rows"])) or "no model"
            text.append(
                f"\nNo verdict: it needs the {title} model and a model of another method, and this comparison "
                f"holds {present} only (full report: `{entry['report']}`).\n"
            )
        judged = [d for d in entry["deltas"] if d.get("interval") is not None]
        if judged:
            beyond = [
                f"{d['measure']} ({'better' if d['better'] else 'worse'} than the {methods.get(d['versus']).title} model)"
                for d in judged
                if d["beyond_noise"]
            ]
            listed = f": {', '.join(beyond)}." if beyond else "."
            text.append(f"Beyond the test-set noise: {len(beyond)} of the {len(judged)} differences with an interval{listed}\n")
        if entry["deltas"]:
            rows = [
                dict(d, interval=_format_interval(d.get("interval")), beyond_noise=_yes_no(d.get("beyond_noise")))
                for d in entry["deltas"]
            ]
            columns = ["measure", "versus", method, "difference", "better"]
            level = examples.BOOTSTRAP["confidence_level"]
            columns += [("interval", f"{level:.0%} interval"), ("beyond_noise", "beyond test-set noise")]
            text.append(reports.markdown_table(rows, columns))
    return "\n".join(text)


def _method_title(name):
    try:
        return methods.get(name).title
    except ValueError:
        return str(name)


def _format_interval(interval):
    return "-" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def _yes_no(flag):
    return "-" if flag is None else ("yes" if flag else "no")
