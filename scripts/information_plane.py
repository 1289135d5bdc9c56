"""``python -m scripts.information_plane``: the information-plane study (12-bit task and a VIB/VdualIB MNIST layer).

A thin front end over :func:`scripts.lab.information_study.run_study` and
:func:`~scripts.lab.information_study.render`: it parses the settings, checks the
output folder before any training, and reports bad input as one line (exit 2).

Example::

    VDUALIB_DATA_DIR=../shared/data python -m scripts.information_plane --output-dir runs/information-plane
    python -m scripts.information_plane --parts mnist --mnist-epochs 2
    python -m scripts.information_plane --render-only --output-dir scripts/results/information
"""

import dataclasses
import os

from scripts.lab import information_study as study
from scripts.lab.information_study import PARTS
from vdualib import cli
from vdualib.information.stochastic_layer import StochasticLayerSettings
from vdualib.information.twelve_bit import BINNING_RANGES, TwelveBitSettings

PROG = "python -m scripts.information_plane"
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "information")


def build_parser():
    """The command's ``argparse`` parser; defaults are those of the settings classes.

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().parse_args(["--epochs", "300"]).epochs     # 300
    """

    twelve, layer = TwelveBitSettings(), StochasticLayerSettings()
    parser = cli.ArgumentParser(
        prog=PROG,
        description="Information-plane study of the 12-bit task (tanh/ReLU, several seeds) and of a VIB/VdualIB "
        "MNIST stochastic layer; writes information_plane.json, figures and a Markdown summary (bits).",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="where the JSON, PNGs and .md go (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS,
                        help="parts to run; a part not run keeps its results from the existing JSON (default: both)")
    parser.add_argument("--render-only", action="store_true", help="re-render figures and Markdown from the existing JSON")
    group = parser.add_argument_group("12-bit task")
    group.add_argument("--epochs", type=int, default=twelve.epochs, help="training epochs per run (default %(default)s)")
    group.add_argument("--seeds", type=int, default=twelve.seeds, help="random seeds per activation (default %(default)s)")
    group.add_argument("--activations", nargs="+", default=list(twelve.activations), choices=sorted(BINNING_RANGES))
    group.add_argument("--train-fraction", type=float, default=twelve.train_fraction)
    group.add_argument("--batch-size", type=int, default=twelve.batch_size)
    group.add_argument("--learning-rate", type=float, default=twelve.learning_rate)
    group.add_argument("--num-bins", type=int, default=twelve.num_bins)
    group.add_argument("--every-epoch-until", type=int, default=twelve.every_epoch_until, help="record every epoch up to this one")
    group.add_argument("--points-per-decade", type=int, default=twelve.points_per_decade, help="recorded epochs per decade after that")
    group.add_argument("--no-kde", action="store_true", help="skip the KDE recording of seed 0")
    group.add_argument("--kde-noise-variance", type=float, default=twelve.kde_noise_variance)
    group.add_argument("--kde-points-per-decade", type=int, default=twelve.kde_points_per_decade)
    group.add_argument("--kde-subset", type=int, default=twelve.kde_subset, help="patterns the KDE bounds use (O(N^2) cost)")
    group = parser.add_argument_group("MNIST stochastic layer")
    group.add_argument("--mnist-epochs", type=int, default=layer.epochs)
    group.add_argument("--mnist-train-size", type=int, default=layer.train_size)
    group.add_argument("--mnist-fixed-size", type=int, default=layer.fixed_size)
    group.add_argument("--mnist-latent-dim", type=int, default=layer.latent_dim)
    group.add_argument("--mnist-betas", type=float, nargs="+", default=list(layer.betas),
                       help="rate weights; each gives a VIB and a VdualIB run (default %(default)s)")
    return parser


def settings_from_args(args):
    """``(TwelveBitSettings, StochasticLayerSettings)`` from parsed arguments.

    Args:
        args: the ``argparse.Namespace`` of :func:`build_parser`.

    Returns:
        ``(TwelveBitSettings, StochasticLayerSettings)``.

    Raises:
        ValueError: a bad value (from the settings' checks).

    Example:
        >>> twelve, layer = settings_from_args(build_parser().parse_args(["--epochs", "300"]))
    """

    twelve = TwelveBitSettings(
        epochs=args.epochs, seeds=args.seeds, activations=tuple(args.activations), train_fraction=args.train_fraction,
        batch_size=args.batch_size, learning_rate=args.learning_rate, num_bins=args.num_bins,
        every_epoch_until=args.every_epoch_until, points_per_decade=args.points_per_decade, kde=not args.no_kde,
        kde_noise_variance=args.kde_noise_variance, kde_points_per_decade=args.kde_points_per_decade,
        kde_subset=args.kde_subset,
    )
    layer = dataclasses.replace(
        StochasticLayerSettings(), epochs=args.mnist_epochs, train_size=args.mnist_train_size,
        fixed_size=args.mnist_fixed_size, latent_dim=args.mnist_latent_dim, betas=tuple(args.mnist_betas),
    )
    return twelve, layer


def _work(args):
    twelve, layer = settings_from_args(args)
    return cli.run_or_render(
        study,
        args.output_dir,
        args.render_only,
        lambda: study.run_study(args.output_dir, parts=args.parts, twelve_bit=twelve, stochastic_layer=layer, data_dir=args.data_dir),
    )


def main(argv=None):
    """Entry point of ``python -m scripts.information_plane``; returns the exit status.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--render-only", "--output-dir", "out/information_plane"])
    """
    return cli.main(build_parser, _work, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())
