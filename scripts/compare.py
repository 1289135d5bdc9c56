"""``python -m scripts.compare``: the deterministic, VIB and VdualIB models of each data set, side by side.

Joins the zoo's per-model evaluations (``<models-dir>/evaluations/<name>/metrics.json``: same
split, corruptions, severities, OOD sets and seed) into one report per data set under
``<out>/<dataset>/`` (metrics.json, report.md, overlaid reliability diagrams, accuracy/ECE against
severity, OOD histograms), and a summary (``compare.json``, ``compare.md``) saying on each measure
whether VdualIB beats VIB and the deterministic network, with a 95% paired bootstrap interval
over the test examples on the clean measures, accuracy and NLL under corruption and the OOD
AUROCs (from each evaluation's ``examples.npz``). ``--reevaluate`` evaluates the zoo models again in one run instead;
``--evaluations`` compares any metrics.json files of one evaluation.

Examples::

    python -m scripts.compare                                   # every data set whose three models have evaluations
    python -m scripts.compare --datasets mnist --reevaluate --prediction mu
    python -m scripts.compare --evaluations runs/det/metrics.json runs/vib/metrics.json runs/dualib/metrics.json
"""

import sys

from scripts.lab import comparison
from vdualib import cli, datasets, evaluation

PROG = "python -m scripts.compare"


def build_parser():
    """The command's ``argparse`` parser.

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().print_help()
    """

    parser = cli.ArgumentParser(
        prog=PROG,
        description="Compare the deterministic, VIB and VdualIB models of each data set side by side.",
        epilog="--models-dir defaults to the zoo folder (vdualib.zoo.models_dir(); $VDUALIB_MODELS_DIR overrides).",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--datasets", nargs="+", default=None, choices=list(datasets.DATASETS), help="default: all")
    which.add_argument("--evaluations", nargs="+", metavar="METRICS_JSON", help="metrics.json files of one evaluation to join")
    parser.add_argument("--models-dir", default=None, help="the zoo folder holding evaluations/<name>/metrics.json")
    parser.add_argument("--out", default="runs/compare", help="output folder (default runs/compare)")
    parser.add_argument("--reevaluate", action="store_true", help="evaluate the zoo models again, in one run")
    parser.add_argument(
        "--prediction", choices=list(evaluation.PREDICTIONS), default="samples", help="with --reevaluate: samples or mu"
    )
    parser.add_argument("--data-dir", default=None, help="folder with the data files (with --reevaluate)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def run(args):
    """Compare as ``args`` asks, write the reports and print the summary; returns the exit status.

    Args:
        args: the parsed ``argparse.Namespace``.

    Returns:
        0.

    Example:
        >>> run(build_parser().parse_args(["--datasets", "mnist", "--out", "out/compare"]))
    """

    cli.check_writable_dir(args.out)
    if args.evaluations and args.reevaluate:
        raise ValueError("--reevaluate evaluates the zoo's models; drop it to join --evaluations files.")
    if args.evaluations:
        summary = comparison.compare_files(args.evaluations, out_dir=args.out, progress=not args.no_progress)
    else:
        summary = comparison.compare_zoo(
            args.datasets,
            models_dir=args.models_dir,
            out_dir=args.out,
            reevaluate=args.reevaluate,
            prediction=args.prediction,
            data_dir=args.data_dir,
            progress=not args.no_progress,
        )
        for dataset, missing in summary["skipped"].items():
            print(f"{dataset}: skipped, not in the zoo yet: {', '.join(missing)}")
    print(comparison.summary_markdown(summary))
    return 0


def main(argv=None):
    """Entry point of ``python -m scripts.compare``; returns the exit status (2 for bad input).

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--help"])
    """
    return cli.main(build_parser, run, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
