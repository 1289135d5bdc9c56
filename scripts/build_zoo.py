"""Add a trained model to the zoo: copy its weights into models/, evaluate it, write its card.

    python scripts/build_zoo.py --name mnist-dualib-mlp --run-dir runs/mnist-dualib-mlp

Exports the weights without optimizer state, runs the evaluation (temperature scaling fitted on
the recipe's held-out validation split) (test split, every corruption at severities 1-5, the card's OOD sets,
12 samples, 15-bin ECE) into ``models/evaluations/<name>/`` (metrics.json, report.md, PNGs),
writes ``models/cards/<name>.json`` from train.json + metrics.json, updates
``models/registry.json`` and regenerates ``models/README.md``, ``models/table.md`` and
``models/targets.md`` and ``models/recipes.md`` (blocks the top-level README includes) and each ``evaluations/<name>/curve.png``. ``--render`` only regenerates these from the cards.
"""

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="build_zoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        "--reevaluate",
        action="store_true",
        help="evaluate the published models/<name>.keras again (after an evaluation change) instead of exporting the run's model",
    )
    args = parser.parse_args(argv)
    if not args.render and not (args.name and args.run_dir):
        parser.error("--name and --run-dir are required (or --render)")
    if args.num_samples is None and args.prediction == "samples":
        args.num_samples = 12
    return args


README_HEAD = """# The vdualib zoo

Reference models, loadable in one line: `vdualib.zoo.load("mnist-dualib-mlp")`. Every number
below is read from the cards in `cards/`, which `scripts/build_zoo.py` writes from the training
record and the evaluation's `evaluations/<name>/metrics.json`; regenerate this page with
`python scripts/build_zoo.py --render`.

Test split, predictions as the column "prediction" says (the mean over S encoder samples, or the
decoder at the mean of e(z|x)), 15-bin top-label ECE. "ECE after TS": temperature scaling
fitted on the held-out validation split of the recipe, scored on the test split (the baseline a
calibration claim has to beat). Corruptions: regenerated MNIST-C / CIFAR-10-C style families (`vdualib.corruptions`),
not the published files, mean over families and severities 1-5. OOD AUROC: higher is better.
CIFAR-10 models are trained and measured on the JPEG rendition of CIFAR-10 (`cifar10-jpeg.zip`).

"""


def targets_table():
    """The Markdown table of ``vdualib.zoo.TARGETS`` (written to ``models/targets.md``)."""
    from vdualib import reports, zoo

    rows = [
        {"dataset": dataset, "deterministic": entry["accuracy"]["deterministic"], "vib_dualib": entry["accuracy"]["stochastic"],
         "ece": entry["ece"], "anchor": entry["anchor"]}
        for dataset, entry in zoo.TARGETS.items()
    ]
    columns = [("dataset", "data set"), ("deterministic", "test accuracy, deterministic"), ("vib_dualib", "test accuracy, VIB and VdualIB"),
               ("ece", "ECE before TS, VIB and VdualIB"), ("anchor", "anchor")]
    return reports.markdown_table(rows, columns, digits=3)


def render(models_dir):
    """Regenerate ``models/README.md``, ``models/table.md`` and every ``evaluations/<name>/curve.png``
    from the cards; returns the README text."""
    from vdualib import reports, zoo

    table = zoo.cards_table(models_dir)
    reports.write_text(os.path.join(models_dir, "table.md"), table)
    targets = targets_table()
    reports.write_text(os.path.join(models_dir, "targets.md"), targets)
    recipes = zoo.recipes_table(models_dir)
    reports.write_text(os.path.join(models_dir, "recipes.md"), recipes)
    curves = []
    for record in zoo.cards(models_dir):
        name = record["name"]
        if record.get("training", {}).get("curve"):
            zoo.curve_figure(record, os.path.join(models_dir, "evaluations", name, "curve.png"))
            curves.append(f"- [{name}](evaluations/{name}/curve.png)")
    text = (
        README_HEAD + table + "\n## Recipes\n\nWhether each model was trained with today's recipe (`vdualib-train --list`); "
        "a model trained with an earlier one keeps its figures above until it is retrained:\n\n" + recipes
        + "\n## Targets and training curves\n\nThe column \"target (test)\" checks each card against "
        "`vdualib.zoo.TARGETS`:\n\n" + targets + "\nEach model's per-epoch accuracy (training, held-out validation) "
        "against its target, drawn from its card:\n\n" + "\n".join(curves) + "\n"
    )
    reports.write_text(os.path.join(models_dir, "README.md"), text)
    return text


def main(argv=None):
    args = parse_args(argv)
    from vdualib import datasets, evaluation, reports, zoo

    if args.render:
        print(render(args.models_dir))
        return 0
    train_record = reports.read_json(os.path.join(args.run_dir, "train.json"))
    try:
        zoo.check_name(args.name, train_record.get("recipe"))
    except ValueError as err:
        raise SystemExit(f"build_zoo: error: {err}") from None
    dataset = train_record["recipe"]["dataset"]
    target = os.path.join(args.models_dir, f"{args.name}.keras")
    if args.reevaluate:
        if not os.path.isfile(target):
            raise SystemExit(f"build_zoo: error: --reevaluate needs the published {target}; drop the flag to export it.")
    else:
        zoo.export(os.path.join(args.run_dir, "model.keras"), target)
    model, info, _ = zoo.resolve(target)
    info["label"] = args.name
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
    card = zoo.card_from_records(args.name, train_record, results, target)
    zoo.register(args.name, target, card, folder=args.models_dir)
    print(render(args.models_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
