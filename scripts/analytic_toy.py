"""``python -m scripts.analytic_toy``: the dualIB paper's toy problem and the 12-bit task through the analytical solvers.

A thin front end over :func:`scripts.lab.ib_study.run_study` and
:func:`vdualib.ib.plots.save_study_figures`: it parses the settings, checks the output folder
before any solving, writes ``analytic_toy.json`` and the figures, and reports bad input as one
line (exit 2). Information in bits.

Example::

    VDUALIB_DATA_DIR=../shared/data python -m scripts.analytic_toy --out runs/analytic-toy
    python -m scripts.analytic_toy --conditionals          # the toy problem only (no data needed)
    python -m scripts.analytic_toy --render-only --out scripts/results/ib
"""

import os

from scripts.lab import ib_study as study
from scripts.lab.ib_study import CONDITIONALS
from vdualib import cli
from vdualib.ib import plots
from vdualib.ib.curve import DIRECTIONS

PROG = "python -m scripts.analytic_toy"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ib")


def build_parser():
    """The command's ``argparse`` parser (defaults are those of :func:`scripts.lab.ib_study.run_study`).

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().parse_args(["--n-betas", "200"]).n_betas     # 200
    """

    parser = cli.ArgumentParser(
        prog=PROG,
        description="Solve the dualIB paper's toy problem and the 12-bit task with the analytical IB and dualIB "
        "solvers; write analytic_toy.json and PNG figures (information in bits).",
    )
    parser.add_argument("--out", "--out-dir", dest="out", default=DEFAULT_OUT,
                        help="output folder for the JSON and figures (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="folder holding ib-12bit.npz (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--n-betas", type=int, default=1000, help="toy sweep size, beta = 2^linspace(6, 1, n)")
    parser.add_argument("--direction", choices=DIRECTIONS, default="best",
                        help="runs compared at each beta (default %(default)s: annealing down, up and a fresh solve)")
    parser.add_argument("--max-iter", type=int, default=10_000, help="iteration cap per beta and run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial encoder and perturbations")
    parser.add_argument("--conditionals", nargs="*", choices=CONDITIONALS, default=list(CONDITIONALS),
                        help="how p(y|x) of the 12-bit task is built from its deterministic labels (one sweep each; "
                        "none: the toy problem only)")
    parser.add_argument("--label-noise", type=float, default=1e-3,
                        help="eps of p(y|x) = (1 - eps) onehot + eps/2 for the label-noise construction")
    parser.add_argument("--twelve-bit-clusters", type=int, default=8, help="number of clusters for the 12-bit task")
    parser.add_argument("--twelve-bit-n-betas", type=int, default=80)
    parser.add_argument("--twelve-bit-beta-min", type=float, default=0.02)
    parser.add_argument("--twelve-bit-beta-max", type=float, default=1e3)
    parser.add_argument("--render-only", action="store_true", help="redraw the figures from the existing JSON")
    return parser


def work(args):
    """Run (or reload) the study, write its JSON and figures, print a summary.

    Args:
        args: the parsed ``argparse.Namespace``.

    Raises:
        ValueError: a bad option or ``--out`` not writable.
        FileNotFoundError: ``--render-only`` without a record, or missing data.

    Example:
        >>> work(build_parser().parse_args(["--out", "out/toy", "--conditionals"]))
    """

    cli.check_writable_dir(args.out)
    if args.render_only:
        record = study.read_record(args.out)
    else:
        record = study.run_study(
            n_betas=args.n_betas, conditionals=tuple(args.conditionals), label_noise=args.label_noise,
            twelve_bit_clusters=args.twelve_bit_clusters,
            twelve_bit_betas=(args.twelve_bit_beta_min, args.twelve_bit_beta_max, args.twelve_bit_n_betas),
            direction=args.direction, max_iter=args.max_iter, seed=args.seed, data_dir=args.data_dir, progress=True,
        )
        study.write_record(record, args.out)
    plots.save_study_figures(record, args.out)
    toy = record["toy"]
    print(f"toy: 1/rho^2 = {toy['ib_beta0_one_over_rho_squared']:.4f}; first transitions {toy['first_transitions']}")
    print(f"wrote {os.path.join(args.out, study.RECORD_NAME)} and figures in {args.out}")


def main(argv=None):
    """Entry point of ``python -m scripts.analytic_toy``; returns the exit status (2 on bad input).

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--out", "out/toy", "--render-only"])
    """
    return cli.main(build_parser, work, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())
