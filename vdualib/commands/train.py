"""Train a zoo recipe: ``vdualib-train --recipe mnist-dualib-mlp --out runs/mnist-dualib-mlp``.

Checkpoints every epoch; ``--resume`` continues an interrupted run exactly (it must be given the
same recipe, overrides and precision). ``--set key=value`` overrides recipe fields (``--list``
shows the recipes and their fields); the data set, method and backbone are part of a recipe's
name and are chosen with ``--recipe``. A loss that turns NaN stops the run with exit status 2.
"""

import argparse
import json
import sys

from vdualib import cli

cli.quiet_tensorflow()  # first: the imports below load TensorFlow, whose start-up banners a command does not print

from vdualib import distribute, recipes, training  # noqa: E402


def build_parser():
    """The command's ``argparse`` parser (``--recipe``, ``--out``, ``--set``, ``--resume``, ...).

    Returns:
        An ``argparse.ArgumentParser``.

    Example:
        >>> build_parser().parse_args(["--recipe", "mnist-vib-mlp", "--set", "epochs=2"]).overrides
        ['epochs=2']
    """

    parser = cli.ArgumentParser(prog="vdualib-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", help=f"recipe name, one of: {', '.join(recipes.recipe_names())}")
    parser.add_argument("--out", help="output folder (default runs/<recipe>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--precision", default="float32", choices=training.PRECISIONS, help="Keras dtype policy (default float32; a mixed policy is faster only on hardware with that 16-bit arithmetic: a GPU, or a CPU with AVX512-BF16/AMX for mixed_bfloat16; emulated elsewhere, it is slower, and the command warns)")
    parser.add_argument("--strategy", default="default", choices=distribute.STRATEGIES, help="tf.distribute strategy (multi_worker: see docs/training.md, training on several machines)")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (default: $VDUALIB_DATA_DIR, then the Keras cache)")
    parser.add_argument("--list", action="store_true", help="print the recipes as JSON and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def work(args):
    """Train the recipe ``args`` names (or print the recipes with ``--list``) and print a summary.

    Args:
        args: the ``argparse.Namespace`` of :func:`build_parser`.

    Returns:
        0.

    Raises:
        ValueError: no ``--recipe``, a bad override, ``--out`` not writable, a mismatched resume or
            a loss that became NaN.
        FileNotFoundError: ``--resume`` without a checkpoint, or missing data.

    Example:
        >>> work(build_parser().parse_args(["--list"]))     # the recipes as JSON
        {
          "mnist-deterministic-mlp": {
            "backbone_width": 1.0,
        ...
        0
        >>> # with --recipe it trains as vdualib.training.train does (see its example)
    """

    if args.list:
        print(json.dumps(recipes.RECIPES, indent=2))
        return 0
    if not args.recipe:
        raise ValueError("--recipe is required (or --list).")
    recipe = recipes.get_recipe(args.recipe, args.overrides)
    out = cli.check_writable_dir(f"runs/{args.recipe}" if args.out is None else args.out)
    record = training.train(
        recipe,
        out,
        resume=args.resume,
        precision=args.precision,
        strategy=args.strategy,
        data_dir=args.data_dir,
        verbose=0 if args.quiet else 1,
        name=args.recipe,
    )
    last = record["history"][-1]
    print(
        f"{record['name']}: {len(record['history'])} epochs in {record['train_seconds']:.0f} s; "
        f"val accuracy {last.get('val_accuracy', float('nan')):.4f}; model {out}/model.keras sha256 {record['sha256'][:12]}"
    )
    return 0


def main(argv=None):
    """Entry point of ``vdualib-train``; returns the exit status.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for bad input (one line on stderr).

    Example:
        >>> main(["--recipe", "mnist-dualib-mlp", "--set", "epochs=0"])     # bad input: one line on stderr
        2
        >>> # main(["--recipe", "mnist-dualib-mlp"]) trains as work() does and returns 0
    """
    return cli.main(build_parser, work, "vdualib-train", argv)


if __name__ == "__main__":
    sys.exit(main())
