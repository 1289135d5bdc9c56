"""Train a small VdualIB classifier on MNIST for one epoch and report it.

Prints the test accuracy, the rate I(X;Z) bound (nats and bits) and the 15-bin ECE. Data
come from ``--data-dir`` or ``$VDUALIB_DATA_DIR`` (then the Keras cache / download).
"""

import argparse
import math
import sys

from vdualib import cli

cli.quiet_tensorflow()  # first: the imports below load TensorFlow, whose start-up banners a command does not print

import keras  # noqa: E402

import vdualib  # noqa: E402
from vdualib import checks, datasets, metrics  # noqa: E402

PROG = "vdualib-quickstart"


def build_parser():
    """The command's ``argparse`` parser.

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().print_help()
        usage: vdualib-quickstart [-h] ...
    """
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (at least 1)")
    parser.add_argument("--beta", type=float, default=1e-3, help="weight of the rate (VIB convention)")
    parser.add_argument("--latent-dim", type=int, default=64, help="K, the size of z")
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz (default: $VDUALIB_DATA_DIR, then the Keras cache)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order and the encoder's noise")
    parser.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    return parser


def run(args):
    """Train, evaluate and print as ``args`` asks; returns the exit status.

    Every setting is checked before the data are read or anything is trained.

    Args:
        args: the parsed ``argparse.Namespace``.

    Returns:
        0.

    Raises:
        ValueError: ``--epochs`` below 1, ``--train-size`` below one batch (100), a negative
            ``--seed``, or a bad ``--beta`` / ``--latent-dim``.

    Example:
        >>> keras.config.disable_interactive_logging()     # no progress bar: Keras logs it instead
        >>> run(build_parser().parse_args(["--epochs", "1", "--train-size", "200"]))
        test accuracy ...
        I(X;Z) <= rate ... nats = ... bits
        I(Z;Y) >= izy ... nats = ... bits
        ECE (15 bins) ...
        0
        >>> keras.config.enable_interactive_logging()
    """
    epochs = checks.positive_int("--epochs", args.epochs)
    seed = checks.non_negative_int("--seed", args.seed)
    beta = checks.finite_float("--beta", args.beta, low=0.0)
    latent_dim = checks.positive_int("--latent-dim", args.latent_dim)
    if args.train_size is not None and args.train_size < 100:
        raise ValueError(f"--train-size must be at least one batch (100), got {args.train_size}.")



    (x_train, y_train), (x_test, y_test) = datasets.load("mnist", data_dir=args.data_dir)
    if args.train_size is not None:
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    keras.utils.set_random_seed(seed)
    model = vdualib.build_classifier("mlp", 10, method="dualib", beta=beta, latent_dim=latent_dim, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x_train, y_train, epochs=epochs, batch_size=100, verbose=1)
    result = model.evaluate(x_test, y_test, batch_size=500, verbose=0, return_dict=True)
    probs = model.predict(x_test, batch_size=500, verbose=0)
    ece = metrics.expected_calibration_error(probs, y_test, num_bins=15)
    print(f"test accuracy  {result['accuracy']:.4f}")
    print(f"I(X;Z) <= rate {result['rate']:.2f} nats = {result['rate'] / math.log(2):.2f} bits")
    print(f"I(Z;Y) >= izy  {result['izy']:.3f} nats = {result['izy'] / math.log(2):.3f} bits")
    print(f"ECE (15 bins)  {ece:.4f}")
    return 0


def main(argv=None):
    """Entry point of ``vdualib-quickstart``: train, evaluate and print (see the module docstring).

    Prints the test accuracy, the logged rate and izy (nats and bits) and the 15-bin ECE.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--epochs", "0"])     # bad input: one line on stderr
        2
        >>> # main(["--epochs", "1", "--train-size", "2000"]) trains and reports as run() does, and returns 0
    """
    return cli.main(build_parser, run, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
