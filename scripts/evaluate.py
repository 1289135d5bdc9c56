"""Evaluate vdualib classifiers on clean, corrupted and out-of-distribution test data.

Writes ``metrics.json`` (every metric per split, corruption and severity, with
each model's name, sha256, the data split and provenance), ``report.md`` and
PNG plots (reliability diagram, accuracy/ECE against severity, OOD score
histograms) into ``--out``, and prints the summary tables.

Examples::

    vdualib-evaluate --model mnist-dualib-mlp --dataset mnist --ood fashion_mnist
    vdualib-evaluate --compare det.keras vib.keras dualib.keras --dataset cifar10 \\
        --ood uniform gaussian --severities 1 3 5 --out runs/compare
"""

import argparse
import sys

from vdualib import corruptions, evaluation


def _severity(text):
    value = int(text)
    if value not in corruptions.SEVERITIES:
        raise argparse.ArgumentTypeError(f"severity must be 1..5, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vdualib-evaluate",
        description=__doc__.split("\n\n")[0],
        epilog=evaluation.CORRUPTIONS_NOTE.replace("`", ""),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a .keras file, or a zoo name if no such file exists")
    which.add_argument(
        "--compare", nargs="+", metavar="MODEL", help="several models (files or zoo names) in one report"
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="mnist, fashion_mnist or cifar10 (its test split is used); default for zoo models: the model's own",
    )
    parser.add_argument(
        "--num-samples", type=int, default=None, help="encoder samples S per prediction (default: each model's own)"
    )
    parser.add_argument(
        "--corruptions",
        nargs="+",
        default=["all"],
        help="corruption names, 'all' (default) or 'none'; digits: "
        + ", ".join(corruptions.corruption_names(True))
        + "; RGB: the same without the geometric four, plus saturate",
    )
    parser.add_argument(
        "--severities",
        nargs="+",
        type=_severity,
        default=list(corruptions.SEVERITIES),
        help="severities 1..5 (default all)",
    )
    parser.add_argument(
        "--ood",
        nargs="*",
        default=[],
        help="out-of-distribution sets: data set names of the same image shape, 'uniform', 'gaussian'",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-bins", type=int, default=15, help="calibration bins (default 15)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT test examples")
    parser.add_argument(
        "--corruption-limit",
        type=int,
        default=None,
        help="corrupt only the first N test examples (bounds the cost of the corrupted copies; clean metrics use all)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the corruptions, noise sets and temperature-scaling split"
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder with the data files (default: $VDUALIB_DATA_DIR, then the Keras cache)"
    )
    parser.add_argument("--out", default="runs/evaluate", help="output folder (default runs/evaluate)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        raise SystemExit("--batch-size must be positive")
    names = args.corruptions
    if names in (["all"], ["none"]):
        names = names[0]
    specs = args.compare or [args.model]
    try:
        models = [evaluation.load_model(spec) for spec in specs]
        dataset = args.dataset or evaluation.zoo_dataset(specs)
        # zoo models: temperature scaling is fitted on the split their recipe held out of training
        validation = evaluation.zoo_validation(specs, dataset, args.data_dir)
        results = evaluation.evaluate(
            models,
            dataset,
            corruption_names=names,
            severities=args.severities,
            ood=args.ood,
            num_samples=args.num_samples,
            batch_size=args.batch_size,
            num_bins=args.num_bins,
            limit=args.limit,
            corruption_limit=args.corruption_limit,
            seed=args.seed,
            data_dir=args.data_dir,
            progress=not args.no_progress,
            validation=validation,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"vdualib-evaluate: error: {error}", file=sys.stderr)
        return 2
    evaluation.write_report(results, args.out)
    tables = evaluation.summary_tables(results)
    for name in ("clean", "corruption_summary", "ood"):
        if name in tables:
            print(f"\n{name.replace('_', ' ')}:\n{tables[name]}")
    print(f"wrote {args.out}/metrics.json, report.md and plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
