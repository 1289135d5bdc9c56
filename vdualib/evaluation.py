"""Evaluate classifiers on clean, corrupted and out-of-distribution data.

The logic behind ``vdualib-evaluate`` (``scripts/evaluate.py``):

* :func:`load_model` resolves a ``.keras`` file or a zoo name;
* :func:`evaluate` runs one or several models over the clean test split, the
  corruptions of :mod:`vdualib.corruptions` at the chosen severities and the
  out-of-distribution sets, and returns one JSON-ready dict of every metric
  (:mod:`vdualib.metrics`), the temperature-scaling baseline
  (:mod:`vdualib.calibration`), the data needed for the plots, timings and
  provenance;
* :func:`write_report` writes ``metrics.json`` and renders ``report.md`` and
  the PNG plots from that JSON, so a report can be re-rendered from a
  committed ``metrics.json`` alone (:func:`render_report`).

Models follow the vdualib classifier contract: ``predict_samples(x, num_samples,
batch_size)`` gives per-sample class probabilities ``[S, N, C]`` and
``per_example_rate(x, batch_size)`` the rate KL(e(z|x) || r(z)) in nats (or
``None``). Any other Keras classifier whose ``predict`` returns class
probabilities is evaluated as a single-sample model without a rate.
"""

import os
import time

import numpy as np

from vdualib import calibration, corruptions, metrics, reports

__all__ = [
    "load_model",
    "zoo_dataset",
    "zoo_validation",
    "held_out_split",
    "predict",
    "split_metrics",
    "evaluate",
    "write_report",
    "render_report",
    "plot_all",
    "NOISE_SETS",
]

NOISE_SETS = ("uniform", "gaussian")
_HISTOGRAM_BINS = 40
_SCALAR_METRICS = (
    ("accuracy", metrics.accuracy),
    ("nll", metrics.nll),
    ("brier", metrics.brier),
    ("ece", metrics.expected_calibration_error),
    ("mce", metrics.maximum_calibration_error),
    ("adaptive_ece", metrics.adaptive_calibration_error),
    ("classwise_ece", metrics.classwise_calibration_error),
)
_SCORE_UNITS = {"max_probability": "1 - max probability"}
_CORRUPTION_METRICS = ("accuracy", "nll", "brier", "ece")
CIFAR10_JPEG_NOTE = (
    "CIFAR-10 figures here are measured on the JPEG (quality 75, chroma-subsampled) rendition of "
    "CIFAR-10 in `cifar10-jpeg.zip`, not on the canonical `cifar-10-batches-py` pixels; accuracy on the "
    "canonical test set can differ."
)
CORRUPTIONS_NOTE = (
    "Corrupted splits are regenerated with `vdualib.corruptions` (MNIST-C / CIFAR-10-C style families "
    "and severities), not the published MNIST-C / CIFAR-10-C files."
)


# --------------------------------------------------------------------------- models


def load_model(spec):
    """Load a model from a ``.keras`` path or, if no such file exists, from the zoo.

    Returns ``(model, info)``; ``info`` holds ``label`` (file stem or zoo name),
    ``name``, ``method``, ``source`` and the file's ``sha256``.
    """
    import keras

    import vdualib.models  # noqa: F401  (registers the custom classes for deserialisation)

    spec = os.fspath(spec)
    if os.path.isfile(spec):
        model = keras.saving.load_model(spec, safe_mode=True)
        label = os.path.splitext(os.path.basename(spec))[0]
        return model, _model_info(model, label, spec, reports.sha256_file(spec))
    if spec.endswith(".keras") or os.sep in spec:
        raise FileNotFoundError(f"model file {spec!r} does not exist; pass an existing .keras file or a zoo name.")
    try:
        from vdualib import zoo
    except ImportError as error:
        raise ValueError(
            f"{spec!r} is not a file and the model zoo is not available ({error}); pass a .keras file."
        ) from None
    try:
        model = zoo.load(spec)
    except (KeyError, ValueError, FileNotFoundError) as error:
        raise ValueError(f"{spec!r} is neither a .keras file nor a loadable zoo model: {error}") from error
    if hasattr(zoo, "sha256"):
        sha256 = zoo.sha256(spec)
    else:
        sha256 = zoo.card(spec).get("sha256") if hasattr(zoo, "card") else None
    return model, _model_info(model, spec, f"zoo:{spec}", sha256)


def zoo_dataset(specs):
    """The data set the zoo models named in ``specs`` were trained on (they must agree).

    Raises ``ValueError`` when a spec is a file (pass ``--dataset``) or the models disagree."""
    from vdualib import zoo

    found = set()
    for spec in specs:
        if os.path.exists(spec) or spec not in zoo.list_models():
            raise ValueError(f"{spec!r} is not a zoo model, so its data set is unknown; pass --dataset.")
        found.add(zoo.card(spec)["dataset"])
    if len(found) != 1:
        raise ValueError(f"the models were trained on different data sets {sorted(found)}; pass --dataset.")
    return found.pop()


def held_out_split(recipe, data_dir=None):
    """The validation split a recipe held out of its training data, ``(images, labels)``:
    where temperature scaling of a model trained by that recipe is fitted."""
    from vdualib import datasets, training

    (x_train, y_train), _ = datasets.load(recipe["dataset"], data_dir=data_dir)
    _, validation = training.split_validation(x_train, y_train, recipe["validation_size"], recipe["seed"])
    return validation


def zoo_validation(specs, dataset, data_dir=None):
    """The held-out split shared by the zoo models in ``specs`` when they are evaluated on the
    data set they were trained on; ``None`` when a spec is a file, the data set differs or the
    models held out different splits (temperature scaling then uses test halves)."""
    from vdualib import datasets, zoo

    keys = set()
    for spec in specs:
        if os.path.exists(spec) or spec not in zoo.list_models():
            return None
        recipe = zoo.card(spec)["recipe"]
        keys.add((recipe["dataset"], recipe["validation_size"], recipe["seed"]))
    if len(keys) != 1:
        return None
    trained_on, validation_size, seed = keys.pop()
    if trained_on != datasets.canonical_name(dataset) or not validation_size:
        return None
    return held_out_split({"dataset": trained_on, "validation_size": validation_size, "seed": seed}, data_dir)


def _model_info(model, label, source, sha256):
    return {
        "label": label,
        "name": model.name,
        "method": getattr(model, "method", "keras"),
        "source": source,
        "sha256": sha256,
        "num_samples": getattr(model, "num_samples", None),
        "parameters": int(model.count_params()),
    }


def predict(model, images, num_samples=None, batch_size=256, with_rate=False):
    """Class probabilities of ``images`` (uint8, as the data sets give them).

    Returns a dict: ``probs`` ``[N, C]`` (mean over samples), ``sample_probs``
    ``[S, N, C]`` and ``rate`` ``[N]`` in nats (``None`` unless ``with_rate``
    and the model has a stochastic encoder).
    """
    if hasattr(model, "predict_samples"):
        sample_probs = np.asarray(model.predict_samples(images, num_samples=num_samples, batch_size=batch_size))
    else:
        sample_probs = np.asarray(model.predict(images, batch_size=batch_size, verbose=0))[None]
    rate = None
    if with_rate and hasattr(model, "per_example_rate"):
        rate = model.per_example_rate(images, batch_size=batch_size)
    return {"probs": sample_probs.mean(axis=0), "sample_probs": sample_probs, "rate": rate}


# --------------------------------------------------------------------------- metrics of one split


def split_metrics(probs, labels, num_bins=15, names=None):
    """Scalar metrics of one split: accuracy, NLL (nats), Brier, ECE, MCE, adaptive
    and class-wise ECE with ``num_bins`` bins (``names`` selects a subset)."""
    return {
        name: function(probs, labels) if name in ("accuracy", "nll", "brier") else function(probs, labels, num_bins)
        for name, function in _SCALAR_METRICS
        if names is None or name in names
    }


def _temperature_baseline(probs, labels, num_bins, seed, validation=None):
    """Temperature scaling as a baseline.

    With ``validation = (val_probs, val_labels)`` (a held-out split of the training data), T is
    fitted there and scored on the whole test split. Without it, T is fitted on a random half of
    the test split and scored on the other half.
    """
    names = ("accuracy", "nll", "brier", "ece", "adaptive_ece")
    if validation is not None:
        val_probs, val_labels = validation
        temperature = calibration.fit_temperature(val_probs, val_labels)
        fit_on, test_probs, test_labels = "validation", probs, labels
        fit_examples = int(val_labels.size)
    else:
        order = np.random.default_rng(seed).permutation(labels.size)
        fit, held_out = order[: labels.size // 2], order[labels.size // 2 :]
        temperature = calibration.fit_temperature(probs[fit], labels[fit])
        fit_on, test_probs, test_labels = "half of test", probs[held_out], labels[held_out]
        fit_examples = int(fit.size)
    return {
        "temperature": temperature,
        "fit_on": fit_on,
        "fit_examples": fit_examples,
        "eval_examples": int(test_labels.size),
        "before": split_metrics(test_probs, test_labels, num_bins, names),
        "after": split_metrics(calibration.apply_temperature(test_probs, temperature), test_labels, num_bins, names),
    }


def _histograms(scores_in, scores_out):
    finite = np.concatenate([scores_in, scores_out])
    low, high = float(finite.min()), float(finite.max())
    edges = np.linspace(low, high if high > low else low + 1.0, _HISTOGRAM_BINS + 1)
    return {
        "bin_edges": edges,
        "in": np.histogram(scores_in, edges)[0],
        "out": np.histogram(scores_out, edges)[0],
    }


def _ood_metrics(scores_in, scores_out):
    return {
        name: {
            "auroc": metrics.ood_auroc(scores_in[name], scores_out[name]),
            "aupr": metrics.ood_aupr(scores_in[name], scores_out[name]),
            "histogram": _histograms(scores_in[name], scores_out[name]),
        }
        for name in scores_in
        if name in scores_out
    }


# --------------------------------------------------------------------------- data


def _cifar10_source(data_dir):
    """Which CIFAR-10 files :func:`vdualib.datasets.load` reads (same search order)."""
    from vdualib import datasets

    for directory in datasets.data_dirs(data_dir):
        if os.path.isfile(os.path.join(directory, "cifar10-jpeg.zip")):
            return "jpeg"
        if os.path.isdir(os.path.join(directory, "cifar-10-batches-py")):
            return "canonical"
    return "canonical"


def _ood_images(name, in_images, data_dir, seed):
    from vdualib import datasets

    if name in NOISE_SETS:
        return corruptions.noise_images(name, in_images.shape[0], in_images.shape[1:], seed=seed)
    _, (images, _) = datasets.load(name, data_dir=data_dir)
    if images.shape[1:] != in_images.shape[1:]:
        raise ValueError(
            f"out-of-distribution set {name!r} has images of shape {images.shape[1:]} but the models take "
            f"{in_images.shape[1:]}; pick a data set of the same shape or one of {list(NOISE_SETS)}."
        )
    return images[: in_images.shape[0]]


def _resolve_corruptions(requested, grayscale):
    available = corruptions.corruption_names(grayscale)
    if requested in (None, "all"):
        return available
    if requested == "none":
        return []
    requested = list(requested)
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise ValueError(f"corruptions {unknown} do not apply to these images; choose from {available} or 'all'.")
    return requested


# --------------------------------------------------------------------------- the evaluation


def evaluate(
    models,
    dataset,
    corruption_names="all",
    severities=corruptions.SEVERITIES,
    ood=(),
    num_samples=None,
    batch_size=256,
    num_bins=15,
    limit=None,
    seed=0,
    data_dir=None,
    progress=True,
    validation=None,
    corruption_limit=None,
):
    """Evaluate ``models`` (a list of ``(model, info)`` from :func:`load_model`) on ``dataset``.

    Args:
      dataset: data set name for :func:`vdualib.datasets.load`; its test split is used.
      corruption_names: ``"all"``, ``"none"`` or a list of names from
        :func:`vdualib.corruptions.corruption_names`.
      severities: severities 1..5 to evaluate each corruption at.
      ood: out-of-distribution sets: data set names of the same image shape, or
        ``"uniform"`` / ``"gaussian"`` noise images (as many as test images).
      num_samples: encoder samples S per prediction (``None``: each model's own).
      limit: use only the first ``limit`` test examples.
      corruption_limit: corrupt only the first ``corruption_limit`` of those (each corrupted
        split is then ``test[:corruption_limit]``); bounds the cost of the 5 x 15-19 corrupted
        copies for large backbones while the clean metrics use every test example.
      seed: seed for the corruptions, noise images and the temperature-scaling split.
      validation: optional ``(images, labels)`` held out from training: temperature scaling is
        then fitted there and scored on the whole test split (else on halves of the test split).

    Returns:
      A JSON-ready dict (see :func:`write_report`): per model the clean metrics,
      reliability curve, temperature-scaling baseline, per corruption and severity
      metrics, OOD AUROC/AUPR with score histograms, and timings in seconds.
    """
    from tqdm.auto import tqdm

    from vdualib import datasets

    if not models:
        raise ValueError("evaluate needs at least one model.")
    severities = sorted(set(int(s) for s in severities))
    if not severities or severities[0] < 1 or severities[-1] > 5:
        raise ValueError(f"severities must be integers from 1 to 5; got {severities}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of examples; got {limit}.")
    if corruption_limit is not None and corruption_limit < 1:
        raise ValueError(f"corruption_limit must be a positive number of examples; got {corruption_limit}.")
    dataset = datasets.canonical_name(dataset)
    _, (images, labels) = datasets.load(dataset, data_dir=data_dir)
    images, labels = images[:limit], labels[:limit].astype(np.int64)
    names = _resolve_corruptions(corruption_names, grayscale=images.ndim == 3)
    corrupt_images, corrupt_labels = images[:corruption_limit], labels[:corruption_limit]
    ood_sets = {name: _ood_images(name, images, data_dir, seed) for name in ood}

    timings = [{"forward": 0.0, "metrics": 0.0} for _ in models]
    results = [dict(info, clean={}, corruptions={}, ood={}) for _, info in models]

    def run(index, split_images, with_rate=False):
        start = time.perf_counter()
        out = predict(models[index][0], split_images, num_samples, batch_size, with_rate)
        timings[index]["forward"] += time.perf_counter() - start
        return out

    def measure(index, function, *args):
        start = time.perf_counter()
        value = function(*args)
        timings[index]["metrics"] += time.perf_counter() - start
        return value

    in_scores = []
    for index in range(len(models)):
        clean = run(index, images, with_rate=bool(ood_sets))
        result = results[index]
        result["num_samples_used"] = int(clean["sample_probs"].shape[0])
        result["clean"] = measure(index, split_metrics, clean["probs"], labels, num_bins)
        result["reliability"] = measure(index, metrics.reliability_curve, clean["probs"], labels, num_bins)
        held_out = None
        if validation is not None:
            held_out = (run(index, validation[0])["probs"], np.asarray(validation[1]).astype(np.int64))
        result["temperature_scaling"] = measure(
            index, _temperature_baseline, clean["probs"], labels, num_bins, seed, held_out
        )
        in_scores.append(
            measure(index, metrics.uncertainty_scores, clean["probs"], clean["sample_probs"], clean["rate"])
        )

    for ood_name, ood_images in tqdm(
        ood_sets.items(), desc="out-of-distribution", disable=not progress or not ood_sets
    ):
        for index in range(len(models)):
            out = run(index, ood_images, with_rate=True)
            scores = measure(index, metrics.uncertainty_scores, out["probs"], out["sample_probs"], out["rate"])
            results[index]["ood"][ood_name] = measure(index, _ood_metrics, in_scores[index], scores)

    corruption_seconds = dict.fromkeys(names, 0.0)
    pairs = [(name, severity) for name in names for severity in severities]
    for name, severity in tqdm(pairs, desc="corruptions", disable=not progress or not pairs):
        start = time.perf_counter()
        corrupted = corruptions.corrupt(corrupt_images, name, severity, seed=seed)
        corruption_seconds[name] += time.perf_counter() - start
        for index in range(len(models)):
            probs = run(index, corrupted)["probs"]
            temperature = results[index]["temperature_scaling"]["temperature"]
            row = measure(index, split_metrics, probs, corrupt_labels, num_bins, _CORRUPTION_METRICS)
            row["ece_temperature_scaled"] = measure(
                index,
                metrics.expected_calibration_error,
                calibration.apply_temperature(probs, temperature),
                corrupt_labels,
                num_bins,
            )
            results[index]["corruptions"].setdefault(name, {})[str(severity)] = row

    for index, result in enumerate(results):
        result["corruption_summary"] = _corruption_summary(result["corruptions"], severities)
        result["timings_seconds"] = timings[index]

    source = _cifar10_source(data_dir) if dataset == "cifar10" else None
    notes = [CORRUPTIONS_NOTE] if names else []
    if source == "jpeg":
        notes.insert(0, CIFAR10_JPEG_NOTE)
    return {
        "dataset": dataset,
        "split": "test" if limit is None else f"test[:{labels.size}]",
        "num_examples": int(labels.size),
        "corruption_split": f"test[:{corrupt_labels.size}]" if names else None,
        "data_source": source or dataset,
        "num_bins": int(num_bins),
        "seed": int(seed),
        "corruptions": names,
        "severities": severities,
        "ood_sets": list(ood_sets),
        "notes": notes,
        "models": results,
        "timings_seconds": {"corruptions": sum(corruption_seconds.values()), "per_corruption": corruption_seconds},
        "provenance": reports.provenance(models={r["label"]: r["sha256"] for r in results}),
    }


def _corruption_summary(per_corruption, severities):
    """Mean over corruptions of each metric, per severity and over all severities."""
    if not per_corruption:
        return {}
    keys = next(iter(next(iter(per_corruption.values())).values())).keys()
    summary = {
        str(severity): {
            key: float(np.mean([rows[str(severity)][key] for rows in per_corruption.values()])) for key in keys
        }
        for severity in severities
    }
    summary["mean"] = {key: float(np.mean([row[key] for row in summary.values()])) for key in keys}
    return summary


# --------------------------------------------------------------------------- reports


def write_report(results, out_dir):
    """Write ``metrics.json`` into ``out_dir`` and render the report from it.

    Returns the Markdown text of the report."""
    reports.write_json(os.path.join(out_dir, "metrics.json"), results)
    return render_report(os.path.join(out_dir, "metrics.json"), out_dir)


_CLEAN_COLUMNS = [  # fmt: skip
    "model", "method", "S", "accuracy", "nll", "brier", "ece", "mce", "adaptive_ece", "classwise_ece",
    ("T", "temperature"), ("ts_fit_on", "TS fitted on"), ("ece_before_ts", "ECE (TS scoring split)"),
    ("ece_ts", "ECE after TS"),
]


def summary_tables(results):
    """The report's Markdown tables, computed from the results dict."""
    models = results["models"]
    clean_rows = [
        dict(
            {"model": m["label"], "method": m["method"], "S": m["num_samples_used"]},
            **m["clean"],
            **{
                "T": m["temperature_scaling"]["temperature"],
                "ece_ts": m["temperature_scaling"]["after"]["ece"],
                "ece_before_ts": m["temperature_scaling"]["before"]["ece"],
                "ts_fit_on": m["temperature_scaling"].get("fit_on", "half of test"),
            },
        )
        for m in models
    ]
    tables = {"clean": reports.markdown_table(clean_rows, _CLEAN_COLUMNS)}
    if results["corruptions"]:
        rows = [
            dict({"model": m["label"], "severity": severity}, **values)
            for m in models
            for severity, values in m["corruption_summary"].items()
        ]
        tables["corruption_summary"] = reports.markdown_table(
            rows, ["model", "severity", "accuracy", "nll", "brier", "ece", ("ece_temperature_scaled", "ECE after TS")]
        )
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
    """Render ``report.md`` and the PNG plots from a ``metrics.json``; return the Markdown."""
    results = reports.read_json(metrics_path)
    tables = summary_tables(results)
    figures = plot_all(results, out_dir)
    model_lines = "\n".join(
        f"- `{m['label']}`: {m['method']}, {m['parameters']:,} parameters, sha256 `{m['sha256']}`"
        for m in results["models"]
    )
    sections = [
        f"# Evaluation on {results['dataset']} ({results['split']}, {results['num_examples']} examples)\n",
        *(f"> {note}\n" for note in results["notes"]),
        f"Models:\n\n{model_lines}\n",
        f"## Clean test split\n\nECE, MCE and adaptive/class-wise ECE with {results['num_bins']} bins; NLL in nats. "
        "Temperature scaling (TS) is fitted on the held-out validation split and scored on the whole test "
        "split, or, without one, fitted on a random half of the test split and scored on the other half "
        "(column 'TS fitted on').\n\n"
        + tables["clean"],
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


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path):
    with reports.atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _pyplot().close(figure)
    return path


def _curve_arrays(curve):
    as_float = lambda values: np.array([np.nan if v is None else v for v in values], dtype=float)  # noqa: E731
    return (
        np.asarray(curve["bin_edges"], dtype=float),
        as_float(curve["confidence"]),
        as_float(curve["accuracy"]),
        np.asarray(curve["count"], dtype=float),
    )


def plot_reliability(results, path):
    """Reliability diagram per model: per-bin accuracy bars against confidence with
    the gap to the diagonal shaded, and below it the histogram of confidences.
    With several models a last column overlays their curves."""
    plt = _pyplot()
    models = results["models"]
    columns = len(models) + (len(models) > 1)
    figure, axes = plt.subplots(
        2, columns, figsize=(3.6 * columns, 5.2), squeeze=False, gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    for column, model in enumerate(models):
        edges, confidence, accuracy, count = _curve_arrays(model["reliability"])
        width, filled = np.diff(edges), count > 0
        top = axes[0, column]
        top.bar(
            edges[:-1][filled],
            accuracy[filled],
            width[filled],
            align="edge",
            color="tab:blue",
            edgecolor="k",
            lw=0.5,
            label="accuracy",
        )
        gap_low, gap_high = np.minimum(accuracy, confidence), np.maximum(accuracy, confidence)
        top.bar(
            edges[:-1][filled],
            (gap_high - gap_low)[filled],
            width[filled],
            bottom=gap_low[filled],
            align="edge",
            color="tab:red",
            alpha=0.35,
            hatch="//",
            edgecolor="tab:red",
            lw=0.5,
            label="gap to confidence",
        )
        top.set_title(
            f"{model['label']}\nECE {model['clean']['ece']:.3f}, acc {model['clean']['accuracy']:.3f}", fontsize=9
        )
        bottom = axes[1, column]
        bottom.bar(edges[:-1], count / count.sum(), width, align="edge", color="tab:gray", edgecolor="k", lw=0.5)
        bottom.set_ylabel("share of examples" if column == 0 else "")
    if len(models) > 1:
        top, bottom = axes[0, -1], axes[1, -1]
        for model in models:
            edges, confidence, accuracy, count = _curve_arrays(model["reliability"])
            filled = count > 0
            top.plot(confidence[filled], accuracy[filled], marker="o", ms=3, label=model["label"])
            bottom.stairs(count / count.sum(), edges, label=model["label"])
        top.set_title("all models", fontsize=9)
    for top, bottom in zip(axes[0], axes[1]):
        top.plot([0, 1], [0, 1], "k--", lw=1)
        top.set_ylim(0, 1)
        top.legend(loc="upper left", fontsize=7)
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("confidence (max probability)")
    axes[0, 0].set_ylabel("accuracy")
    figure.suptitle(f"Reliability on {results['dataset']} {results['split']}", fontsize=10)
    return _save(figure, path)


def plot_corruptions(results, metric, path):
    """``metric`` against severity (0 = clean) for each corruption, one line per model."""
    plt = _pyplot()
    names = list(results["corruptions"]) + ["mean"]
    columns = min(5, len(names))
    rows = int(np.ceil(len(names) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 2.2 * rows), squeeze=False, sharex=True, sharey=True
    )
    severities = [0] + list(results["severities"])
    for panel, name in zip(axes.flat, names):
        for model in results["models"]:
            source = model["corruption_summary"] if name == "mean" else model["corruptions"][name]
            values = [model["clean"][metric]] + [source[str(s)][metric] for s in results["severities"]]
            panel.plot(severities, values, marker="o", ms=3, label=model["label"])
        panel.set_title(name.replace("_", " "), fontsize=9)
        panel.grid(alpha=0.3)
    for panel in axes.flat[len(names) :]:
        panel.set_visible(False)
    for panel in axes[-1]:
        panel.set_xlabel("severity")
    for panel in axes[:, 0]:
        panel.set_ylabel(metric)
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(f"{metric} under corruption ({results['dataset']})", fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def plot_ood(results, ood_name, path):
    """Histograms of each uncertainty score on in- vs out-of-distribution data, per model."""
    plt = _pyplot()
    models = results["models"]
    scores = list(dict.fromkeys(score for m in models for score in m["ood"][ood_name]))
    figure, axes = plt.subplots(len(models), len(scores), figsize=(3.0 * len(scores), 2.3 * len(models)), squeeze=False)
    for row, model in enumerate(models):
        for column, score in enumerate(scores):
            panel = axes[row, column]
            if score not in model["ood"][ood_name]:
                panel.set_visible(False)
                continue
            values = model["ood"][ood_name][score]
            edges = np.asarray(values["histogram"]["bin_edges"], dtype=float)
            for key, label in (("in", results["dataset"]), ("out", ood_name)):
                counts = np.asarray(values["histogram"][key], dtype=float)
                panel.stairs(counts / counts.sum(), edges, fill=True, alpha=0.45, label=label)
            panel.set_title(f"{model['label']}: {score}\nAUROC {values['auroc']:.3f}", fontsize=8)
            panel.set_xlabel(_SCORE_UNITS.get(score, "nats"), fontsize=8)
            if row == 0 and column == 0:
                panel.legend(fontsize=7)
    figure.tight_layout()
    return _save(figure, path)


def plot_all(results, out_dir):
    """Every plot of the report; returns the paths written."""
    paths = [plot_reliability(results, os.path.join(out_dir, "reliability.png"))]
    if results["corruptions"]:
        for metric in ("accuracy", "ece"):
            paths.append(plot_corruptions(results, metric, os.path.join(out_dir, f"corruption_{metric}.png")))
    for ood_name in results["ood_sets"]:
        paths.append(plot_ood(results, ood_name, os.path.join(out_dir, f"ood_{ood_name}.png")))
    return paths
