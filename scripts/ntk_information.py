"""``python -m scripts.ntk_information``: information of infinite NTK ensembles against training time and sample size.

A thin front end over :func:`scripts.lab.ntk_study.run_study` and
:func:`~scripts.lab.ntk_study.render`: it parses the settings, checks the output
folder before any computation, and reports bad input as one line (exit 2).

Example::

    VDUALIB_DATA_DIR=../shared/data python -m scripts.ntk_information --output-dir runs/ntk-information
    python -m scripts.ntk_information --datasets 12bit --sizes-12bit 64,128 --num-test 128
    python -m scripts.ntk_information --render-only --output-dir scripts/results/ntk
"""

import argparse
import os

from scripts.lab import ntk_study as study
from scripts.lab.ntk_study import NTKStudySettings
from vdualib import cli
from vdualib.ntk.kernels import ACTIVATIONS
from vdualib.ntk.tasks import TASKS

PROG = "python -m scripts.ntk_information"
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ntk")


def _sizes(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be comma-separated integers, e.g. 128,256; got {text!r}.") from None


def build_parser():
    """The command's ``argparse`` parser; defaults are those of :class:`~scripts.lab.ntk_study.NTKStudySettings`.

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().parse_args(["--num-times", "8"]).num_times     # 8
    """

    defaults = NTKStudySettings()
    parser = cli.ArgumentParser(
        prog=PROG,
        description="Information curves (bits) of infinite NTK ensembles against training time and sample size, "
        "for the 12-bit task and an MNIST subset; writes JSON, PNGs and a Markdown table.",
    )
    parser.add_argument("--datasets", nargs="+", choices=TASKS, default=list(defaults.tasks))
    for task in TASKS:
        parser.add_argument(f"--sizes-{task}", type=_sizes, default=defaults.sizes[task],
                            help=f"nested training-set sizes for {task} (comma separated, increasing, >= 4)")
    parser.add_argument("--num-test", type=int, default=defaults.num_test, help="test points (information and accuracy)")
    parser.add_argument("--t-min", type=float, default=defaults.t_min, help="smallest training time")
    parser.add_argument("--t-max", type=float, default=defaults.t_max, help="largest finite training time (t = inf is added)")
    parser.add_argument("--num-times", type=int, default=defaults.num_times, help="log-spaced finite times")
    parser.add_argument("--depth", type=int, default=defaults.depth, help="hidden layers")
    parser.add_argument("--activation", choices=ACTIVATIONS, default=defaults.activation)
    parser.add_argument("--w-std", type=float, default=defaults.w_std)
    parser.add_argument("--b-std", type=float, default=defaults.b_std)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--diag-reg", type=float, default=defaults.diag_reg, help="relative diagonal regulariser of Theta")
    parser.add_argument("--noise-variance", type=float, default=defaults.noise_variance,
                        help="variance of the noise added to the outputs")
    parser.add_argument("--num-draws", type=int, default=defaults.num_draws, help="z samples per point for the contrastive bounds")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz and ib-12bit.npz (else $VDUALIB_DATA_DIR)")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="where the JSON, PNGs and .md go (default %(default)s)")
    parser.add_argument("--render-only", action="store_true", help="re-render figures and Markdown from the JSON")
    return parser


def settings_from_args(args):
    """:class:`~scripts.lab.ntk_study.NTKStudySettings` from parsed arguments.

    Args:
        args: the ``argparse.Namespace`` of :func:`build_parser`.

    Returns:
        An :class:`~scripts.lab.ntk_study.NTKStudySettings`.

    Raises:
        ValueError: a bad value (from the settings' checks).

    Example:
        >>> settings_from_args(build_parser().parse_args(["--num-times", "8"])).num_times     # 8
    """

    return NTKStudySettings(
        tasks=tuple(args.datasets), sizes={task: getattr(args, f"sizes_{task}") for task in TASKS},
        num_test=args.num_test, t_min=args.t_min, t_max=args.t_max, num_times=args.num_times, depth=args.depth,
        activation=args.activation, w_std=args.w_std, b_std=args.b_std, learning_rate=args.learning_rate,
        diag_reg=args.diag_reg, noise_variance=args.noise_variance, num_draws=args.num_draws, seed=args.seed,
    )


def _work(args):
    settings = settings_from_args(args)
    return cli.run_or_render(
        study, args.output_dir, args.render_only, lambda: study.run_study(args.output_dir, settings, data_dir=args.data_dir)
    )


def main(argv=None):
    """Entry point of ``python -m scripts.ntk_information``; returns the exit status.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--render-only", "--output-dir", "out/ntk"])
    """
    return cli.main(build_parser, _work, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())
