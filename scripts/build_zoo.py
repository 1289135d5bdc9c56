"""Add a trained model to the zoo: copy its weights into models/, evaluate it, write its card.

    python -m scripts.build_zoo --name mnist-dualib-mlp --run-dir runs/mnist-dualib-mlp

Exports the weights without optimizer state, runs the evaluation (temperature scaling fitted on
the recipe's held-out validation split) (test split, every corruption at severities 1-5, the card's OOD sets,
12 samples, 15-bin ECE) into ``models/evaluations/<name>/`` (metrics.json, report.md, PNGs),
writes ``models/cards/<name>.json`` from train.json + metrics.json, updates
``models/registry.json`` and regenerates ``models/README.md``, ``models/table.md``,
``models/targets.md``, ``models/recipes.md`` and ``models/predictions.md`` (blocks the top-level
README includes) and each ``evaluations/<name>/curve.png``. A stochastic model's card also gets
its clean test metrics under both prediction modes (the mean over S samples and the decoder at
mu). ``--render`` only regenerates the pages from the cards; ``--prediction-modes`` adds both
modes to cards published before they were recorded; ``--examples`` adds the per-example clean
test scores (``evaluations/<name>/examples.npz``, which ``python -m scripts.compare`` turns into bootstrap
intervals) to evaluations written before they were kept.
"""

import argparse
import os
import re
import sys

from scripts.lab import zoo_building
from vdualib import cli, datasets, evaluation, methods, reports, zoo
from vdualib.evaluation import examples


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="build_zoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", help="zoo name, e.g. mnist-dualib-mlp")
    parser.add_argument("--run-dir", help="the training folder holding model.keras and train.json")
    parser.add_argument("--models-dir", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models"))
    parser.add_argument("--num-samples", type=int, default=None, help="encoder samples with --prediction samples (default 12)")
    parser.add_argument(
        "--prediction", choices=["samples", "mu"], default="samples", help="samples (default) or mu, the decoder at the mean"
    )
    parser.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    parser.add_argument(
        "--corruption-limit", type=int, default=None, help="corrupt only the first N test images (clean metrics use all)"
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--render", action="store_true", help="only regenerate models/README.md from the cards")
    parser.add_argument(
        "--prediction-modes",
        action="store_true",
        help="add to the published models' cards (--name, else every stochastic card) the clean test metrics of both "
        "prediction modes, then render; no --run-dir needed",
    )
    parser.add_argument(
        "--examples",
        action="store_true",
        help="write evaluations/<name>/examples.npz (per-example clean test scores) for the published models (--name, "
        "else every one without it) by predicting their test split again; no --run-dir needed",
    )
    parser.add_argument(
        "--reevaluate",
        action="store_true",
        help="evaluate the published models/<name>.keras again (after an evaluation change) instead of exporting the run's model",
    )
    args = parser.parse_args(argv)
    if not (args.render or args.prediction_modes or args.examples) and not (args.name and args.run_dir):
        parser.error("--name and --run-dir are required (or --render, --prediction-modes or --examples)")
    if args.num_samples is None and args.prediction == "samples":
        args.num_samples = 12
    return args


README_HEAD = """# The vdualib zoo

Reference models, loadable in one line: `vdualib.zoo.load("mnist-dualib-mlp")`. Every number
below is read from the cards in `cards/`, which `scripts/build_zoo.py` writes from the training
record and the evaluation's `evaluations/<name>/metrics.json`; regenerate this page with
`python -m scripts.build_zoo --render`.

Test split, predictions as the column "prediction" says (the mean over S encoder samples, or the
decoder at the mean of e(z|x)), 15-bin top-label ECE. "Trained towards": the targets of the
distortion (one-hot labels, labels smoothed by epsilon, or the p~ of a reference model). "ECE
after TS": temperature scaling fitted on the held-out validation split of the recipe, scored on
the test split (the baseline a calibration claim has to beat). Corruptions: regenerated MNIST-C / CIFAR-10-C style families (`vdualib.corruptions`),
not the published files, mean over families and severities 1-5. OOD AUROC: higher is better.
CIFAR-10 models are trained and measured on the JPEG rendition of CIFAR-10 (`cifar10-jpeg.zip`).

"""


def targets_table():
    """The Markdown table of ``scripts.lab.zoo_building.TARGETS`` (written to ``models/targets.md``)."""

    rows = [
        {"dataset": dataset, "deterministic": entry["accuracy"]["deterministic"], "vib_dualib": entry["accuracy"]["stochastic"],
         "ece": entry["ece"], "anchor": entry["anchor"]}
        for dataset, entry in zoo_building.TARGETS.items()
    ]
    columns = [("dataset", "data set"), ("deterministic", "test accuracy, deterministic"), ("vib_dualib", "test accuracy, VIB and VdualIB"),
               ("ece", "ECE before TS, VIB and VdualIB"), ("anchor", "anchor")]
    return reports.markdown_table(rows, columns, digits=3)


def _mode_entry(num_samples, test, scaling):
    return {
        "num_samples": num_samples,
        "test": {k: test[k] for k in zoo.CARD_TEST_MEASURES},
        "temperature": scaling["temperature"],
        "ece_after_ts": (scaling.get("after") or {}).get("ece"),
    }


def prediction_modes(model, info, recipe, known=None, num_samples=None, limit=None, data_dir=None):
    """The clean test metrics of a stochastic model under both prediction modes, for its card.

    The zoo's table scores each model with one mode (the card's ``prediction``); the dual IB
    paper predicts with the decoder at mu. This measures the test split (and temperature scaling
    fitted on the recipe's validation split) with the mean of ``num_samples`` encoder samples
    (``None``: the model's own S) and with the decoder at mu. A mode in ``known`` (the card's own, from its main evaluation) is
    taken as it is: sampled predictions are a Monte Carlo estimate, and measuring them again in
    another evaluation would give slightly different figures than the card's.

    Returns:
        ``{"samples": m, "mu": m}`` with ``m = {"num_samples", "test": {accuracy, nll (nats),
        brier, ece, adaptive_ece}, "temperature", "ece_after_ts"}``.
    """

    modes = dict(known or {})
    for mode in ("samples", "mu"):
        if mode in modes:
            continue
        measured = evaluation.evaluate(
            [(model, info)], recipe["dataset"], corruption_names="none", ood=(), prediction=mode,
            num_samples=num_samples if mode == "samples" else None, limit=limit, data_dir=data_dir,
            validation=evaluation.held_out_split(recipe, data_dir=data_dir), progress=False,
        )["models"][0]
        modes[mode] = _mode_entry(measured["num_samples_used"], measured["clean"], measured["temperature_scaling"])
    return {mode: modes[mode] for mode in ("samples", "mu")}


def _own_mode(card):
    """The card's own prediction mode, as :func:`prediction_modes` records it."""
    record = card["evaluation"]
    return {record.get("prediction", "samples"): _mode_entry(record["num_samples"], record["test"], record["temperature_scaling"])}


def add_prediction_modes(models_dir, names=None, limit=None, data_dir=None):
    """Add :func:`prediction_modes` to the cards of published stochastic models (``names``, else
    every one in ``models_dir`` without them); returns the names updated."""

    updated = []
    for record in zoo.cards(models_dir):
        if (names and record["name"] not in names) or not methods.get(record["method"]).stochastic:
            continue
        if not names and "by_prediction" in record["evaluation"]:
            continue
        target = os.path.join(models_dir, f"{record['name']}.keras")
        model = zoo.load(target)
        info, _ = zoo.describe(target, model)
        num_samples = record["evaluation"]["num_samples"] if record["evaluation"].get("prediction") != "mu" else None
        record["evaluation"]["by_prediction"] = prediction_modes(
            model, info, record["recipe"], _own_mode(record), num_samples=num_samples, limit=limit, data_dir=data_dir
        )
        zoo_building.register(record["name"], target, record, folder=models_dir)
        updated.append(record["name"])
    if names and set(names) - set(updated):
        missing = sorted(set(names) - set(updated))
        raise SystemExit(f"build_zoo: error: no published stochastic model named {missing} in {models_dir}.")
    return updated


def add_examples(models_dir, names=None, data_dir=None):
    """Write ``evaluations/<name>/examples.npz`` for published models evaluated before the
    per-example scores were kept (``names``, else every model without the file).

    Evaluates the model again as its evaluation did: the test split with the same prediction
    mode and number of samples, temperature scaling on the recipe's validation split, the OOD
    sets, then the same corruptions and severities, on a freshly loaded model. Sampled
    predictions then draw the same noise (the encoder's seed state is saved with the model), so
    the scores are the evaluation's own: the clean metrics, the fitted temperature, the OOD
    AUROCs and the corruption summary are checked against ``metrics.json`` and refused if they
    differ.

    Returns:
        ``{name: test accuracy}`` of the models written.
    """

    written = {}
    for record in zoo.cards(models_dir):
        name = record["name"]
        folder = os.path.join(models_dir, "evaluations", name)
        target = os.path.join(folder, examples.EXAMPLES_FILE)
        if (names and name not in names) or (not names and os.path.exists(target)):
            continue
        published = reports.read_json(os.path.join(folder, "metrics.json"))
        (entry,) = published["models"]
        published_file = os.path.join(models_dir, f"{name}.keras")
        model = zoo.load(published_file)
        info, _ = zoo.describe(published_file, model)
        if info["sha256"] != entry["sha256"]:
            raise SystemExit(f"build_zoo: error: {folder} evaluated another file than {name}.keras; rebuild it with --reevaluate.")
        prediction = published.get("prediction", "samples")
        corrupted = re.fullmatch(r"test\[:(\d+)\]", published.get("corruption_split") or "")
        again = evaluation.evaluate(
            [(model, dict(info, label=entry["label"]))], published["dataset"],
            corruption_names=published["corruptions"] or "none", severities=published["severities"],
            corruption_limit=int(corrupted.group(1)) if corrupted else None,
            ood=published["ood_sets"], prediction=prediction,
            num_samples=entry["num_samples_used"] if prediction == "samples" else None,
            limit=published["num_examples"], seed=published["seed"], num_bins=published["num_bins"], data_dir=data_dir,
            validation=evaluation.held_out_split(record["recipe"], data_dir=data_dir), progress=False,
        )  # fmt: skip
        (measured,) = again["models"]
        same = (
            measured["clean"] == entry["clean"]
            and measured["temperature_scaling"]["temperature"] == entry["temperature_scaling"]["temperature"]
            and measured["corruption_summary"] == entry["corruption_summary"]
            and all(measured["ood"][s][k]["auroc"] == entry["ood"][s][k]["auroc"] for s in entry["ood"] for k in entry["ood"][s])
        )
        if not same:
            raise SystemExit(f"build_zoo: error: {name}'s predictions differ from {folder}/metrics.json; rebuild it with --reevaluate.")
        per_example = again["examples"]
        examples.write_examples(target, per_example["labels"], per_example["records"], prediction, source="reproduced")
        written[name] = measured["clean"]["accuracy"]
    if names and set(names) - set(written):
        raise SystemExit(f"build_zoo: error: no published model named {sorted(set(names) - set(written))} in {models_dir}.")
    return written


def render(models_dir):
    """Regenerate ``models/README.md``, ``models/table.md`` and every ``evaluations/<name>/curve.png``
    from the cards; returns the README text."""

    table = zoo_building.cards_table(models_dir)
    reports.write_text(os.path.join(models_dir, "table.md"), table)
    targets = targets_table()
    reports.write_text(os.path.join(models_dir, "targets.md"), targets)
    recipes = zoo_building.recipes_table(models_dir)
    reports.write_text(os.path.join(models_dir, "recipes.md"), recipes)
    predictions = zoo_building.predictions_table(models_dir)
    reports.write_text(os.path.join(models_dir, "predictions.md"), predictions)
    curves = []
    for record in zoo.cards(models_dir):
        name = record["name"]
        if record.get("training", {}).get("curve"):
            zoo_building.curve_figure(record, os.path.join(models_dir, "evaluations", name, "curve.png"))
            curves.append(f"- [{name}](evaluations/{name}/curve.png)")
    text = (
        README_HEAD + table + "\n## Both prediction modes\n\nClean test split, stochastic models: the mean over S "
        "encoder samples and the decoder at mu (the dual IB paper's protocol); T is the temperature fitted on the "
        "validation split (above 1: overconfident, below 1: underconfident), ECE after TS its result on the test "
        "split:\n\n" + predictions + "\n## Recipes\n\nWhether each model was trained with today's recipe (`vdualib-train --list`); "
        "a model trained with an earlier one keeps its figures above until it is retrained:\n\n" + recipes
        + "\n## Targets and training curves\n\nThe column \"target (test)\" checks each card against "
        "`scripts.lab.zoo_building.TARGETS`:\n\n" + targets + "\nEach model's per-epoch accuracy (training, held-out validation) "
        "against its target, drawn from its card:\n\n" + "\n".join(curves) + "\n"
    )
    reports.write_text(os.path.join(models_dir, "README.md"), text)
    return text


def main(argv=None):
    args = parse_args(argv)

    if args.render:
        print(render(args.models_dir))
        return 0
    if args.examples:
        names = [args.name] if args.name else None
        for name, accuracy in add_examples(args.models_dir, names, args.data_dir).items():
            print(f"{name}: examples.npz written (the evaluation's predictions reproduced: test accuracy {accuracy:.4f})")
        return 0
    if args.prediction_modes:
        names = [args.name] if args.name else None
        print("added both prediction modes to:", ", ".join(add_prediction_modes(args.models_dir, names, args.limit, args.data_dir)) or "none")
        print(render(args.models_dir))
        return 0
    train_record = reports.read_json(os.path.join(args.run_dir, "train.json"))
    try:
        zoo_building.check_name(args.name, train_record.get("recipe"))
    except ValueError as err:
        raise SystemExit(f"build_zoo: error: {err}") from None
    dataset = train_record["recipe"]["dataset"]
    target = os.path.join(args.models_dir, f"{args.name}.keras")
    if args.reevaluate:
        if not os.path.isfile(target):
            raise SystemExit(f"build_zoo: error: --reevaluate needs the published {target}; drop the flag to export it.")
    else:
        zoo_building.export(os.path.join(args.run_dir, "model.keras"), target)
    model = zoo.load(target)
    info, _ = zoo.describe(target, model)
    # the published model, wherever this folder lies (the sha256 beside it identifies the file)
    info.update(label=args.name, source=zoo.source(args.name))
    validation = evaluation.held_out_split(train_record["recipe"], data_dir=args.data_dir)
    results = evaluation.evaluate(
        [(model, info)],
        dataset,
        corruption_names="all",
        severities=args.severities,
        ood=datasets.info(dataset).ood,
        num_samples=args.num_samples,
        prediction=args.prediction,
        limit=args.limit,
        corruption_limit=args.corruption_limit,
        data_dir=args.data_dir,
        validation=validation,
    )
    out_dir = os.path.join(args.models_dir, "evaluations", args.name)
    evaluation.write_report(results, out_dir)
    card = zoo_building.card_from_records(args.name, train_record, results, target)
    if methods.get(card["method"]).stochastic:
        card["evaluation"]["by_prediction"] = prediction_modes(
            model, info, card["recipe"], _own_mode(card), num_samples=args.num_samples, limit=args.limit,
            data_dir=args.data_dir,
        )
    zoo_building.register(args.name, target, card, folder=args.models_dir)
    print(render(args.models_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
