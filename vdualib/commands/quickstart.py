"""Train a small VdualIB classifier on MNIST for one epoch and report it.

Prints the test accuracy, the rate I(X;Z) bound (nats and bits) and the 15-bin ECE. Data
come from ``--data-dir`` or ``$VDUALIB_DATA_DIR`` (then the Keras cache / download).
"""

import argparse
import math
import sys

from vdualib import cli


def main(argv=None):
    """Entry point of ``vdualib-quickstart``: train, evaluate and print (see the module docstring).

    Prints the test accuracy, the logged rate and izy (nats and bits) and the 15-bin ECE.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--epochs", "1", "--train-size", "2000"])
    """
    cli.quiet_tensorflow()
    parser = argparse.ArgumentParser(prog="vdualib-quickstart", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--beta", type=float, default=1e-3, help="weight of the rate (VIB convention)")
    parser.add_argument("--latent-dim", type=int, default=64, help="K, the size of z")
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz (default: $VDUALIB_DATA_DIR, then the Keras cache)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order and the encoder's noise")
    parser.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    args = parser.parse_args(argv)

    import keras

    import vdualib
    from vdualib import datasets, metrics

    try:
        (x_train, y_train), (x_test, y_test) = datasets.load("mnist", data_dir=args.data_dir)
        if args.train_size is not None:
            if args.train_size < 100:
                raise ValueError(f"--train-size must be at least one batch (100), got {args.train_size}.")
            x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
        keras.utils.set_random_seed(args.seed)
        model = vdualib.build_classifier("mlp", 10, method="dualib", beta=args.beta, latent_dim=args.latent_dim, seed=args.seed)
    except (ValueError, FileNotFoundError) as err:
        print(f"vdualib-quickstart: error: {err}", file=sys.stderr)
        return 2
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=100, verbose=1)
    result = model.evaluate(x_test, y_test, batch_size=500, verbose=0, return_dict=True)
    probs = model.predict(x_test, batch_size=500, verbose=0)
    ece = metrics.expected_calibration_error(probs, y_test, num_bins=15)
    print(f"test accuracy  {result['accuracy']:.4f}")
    print(f"I(X;Z) <= rate {result['rate']:.2f} nats = {result['rate'] / math.log(2):.2f} bits")
    print(f"I(Z;Y) >= izy  {result['izy']:.3f} nats = {result['izy'] / math.log(2):.3f} bits")
    print(f"ECE (15 bins)  {ece:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
