"""``vdualib-evaluate``: evaluate classifiers on clean, corrupted and out-of-distribution test data.

Writes ``metrics.json`` (every metric per split, corruption and severity, with each model's name,
sha256, the prediction mode, the data split and provenance), ``examples.npz`` (each model's
per-example clean test scores, for paired bootstrap intervals between models),
``report.md`` and PNG plots (reliability diagram, accuracy/ECE against severity, OOD score
histograms) into ``--out``, and prints the summary tables.

Examples::

    vdualib-evaluate --model mnist-dualib-mlp --ood fashion_mnist
    vdualib-evaluate --model mnist-dualib-mlp --prediction mu
    vdualib-evaluate --compare det.keras vib.keras dualib.keras --dataset cifar10 \\
        --ood uniform gaussian --severities 1 3 5 --out runs/compare
"""

import sys

from vdualib import cli

cli.quiet_tensorflow()  # first: the imports below load TensorFlow, whose start-up banners a command does not print

from vdualib import corruptions, datasets, evaluation, zoo  # noqa: E402

PROG = "vdualib-evaluate"


def build_parser():
    """The command's ``argparse`` parser.

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().print_help()
        usage: vdualib-evaluate [-h] ...
        >>> args = build_parser().parse_args(["--model", "mnist-dualib-mlp", "--prediction", "mu"])
        >>> args.model, args.prediction, args.out
        ('mnist-dualib-mlp', 'mu', 'runs/evaluate')
    """

    parser = cli.ArgumentParser(
        prog=PROG,
        description="Evaluate classifiers on clean, corrupted and out-of-distribution test data.",
        epilog=evaluation.CORRUPTIONS_NOTE.replace("`", ""),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a .keras file or a zoo name (see vdualib.zoo.list_models())")
    which.add_argument("--compare", nargs="+", metavar="MODEL", help="several models (files or zoo names) in one report")
    parser.add_argument(
        "--dataset",
        default=None,
        help=f"{', '.join(datasets.DATASETS)} (its test split is used); default for zoo models: the one they were trained on",
    )
    parser.add_argument(
        "--prediction",
        choices=list(evaluation.PREDICTIONS),
        default="samples",
        help="samples (default): the mean over the model's S encoder samples; "
        "mu: the decoder at the mean of e(z|x), the dual IB paper's protocol",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help="encoder samples S >= 1 with --prediction samples (default: each model's own); "
        "the decoder at mu is --prediction mu, not --num-samples 0",
    )
    parser.add_argument(
        "--corruptions",
        nargs="+",
        default=["all"],
        help="corruption names, 'all' (default) or 'none'; digits: "
        + ", ".join(corruptions.corruption_names(True))
        + "; RGB: the same without the geometric four, plus saturate",
    )
    parser.add_argument("--severities", nargs="+", type=int, default=list(corruptions.SEVERITIES), help="severities 1..5 (default all)")
    parser.add_argument(
        "--ood",
        nargs="*",
        default=[],
        help="out-of-distribution sets: data set names of the same image shape, " + ", ".join(evaluation.NOISE_SETS),
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the corruptions, noise sets and temperature-scaling split")
    parser.add_argument(
        "--data-dir", default=None, help="folder with the data files (default: $VDUALIB_DATA_DIR, then the Keras cache)"
    )
    parser.add_argument("--out", default="runs/evaluate", help="output folder (default runs/evaluate)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def run(args):
    """Evaluate the models ``args`` names and write the report; returns the exit status.

    Args:
        args: the parsed ``argparse.Namespace``.

    Returns:
        0.

    Example:
        >>> run(build_parser().parse_args(["--model", "mnist-dualib-mlp", "--out", "out/eval", "--prediction", "mu",
        ...                                "--corruptions", "none", "--limit", "200", "--no-progress"]))     # a quick look
        <BLANKLINE>
        clean:
        | model | method | S | accuracy | ...
        ...
        wrote out/eval/metrics.json, examples.npz, report.md and plots
        0
    """

    cli.check_writable_dir(args.out)  # before an evaluation that can take an hour
    corruption_names = args.corruptions[0] if args.corruptions in (["all"], ["none"]) else args.corruptions
    specs = args.compare or [args.model]
    loaded = [zoo.load(spec) for spec in specs]
    described = [zoo.describe(spec, model) for spec, model in zip(specs, loaded)]
    cards = [card for _, card in described]
    dataset = args.dataset or evaluation.zoo_dataset(cards)
    results = evaluation.evaluate(
        [(model, info) for model, (info, _) in zip(loaded, described)],
        dataset,
        corruption_names=corruption_names,
        severities=args.severities,
        ood=args.ood,
        num_samples=args.num_samples,
        prediction=args.prediction,
        batch_size=args.batch_size,
        num_bins=args.num_bins,
        limit=args.limit,
        corruption_limit=args.corruption_limit,
        seed=args.seed,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        # zoo models: temperature scaling is fitted on the split their recipe held out of training
        validation=evaluation.zoo_validation(cards, dataset, args.data_dir),
    )
    evaluation.write_report(results, args.out)
    tables = evaluation.summary_tables(results)
    for name in ("clean", "corruption_summary", "ood"):
        if name in tables:
            print(f"\n{name.replace('_', ' ')}:\n{tables[name]}")
    print(f"wrote {args.out}/metrics.json, examples.npz, report.md and plots")
    return 0


def main(argv=None):
    """Entry point of ``vdualib-evaluate``; returns the exit status (2 for bad input).

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--model", "no-such-model"])     # bad input: one line on stderr
        2
        >>> # main(["--model", "mnist-dualib-mlp", "--out", "out/eval"]) evaluates and reports as run() does, and returns 0
    """
    return cli.main(build_parser, run, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
