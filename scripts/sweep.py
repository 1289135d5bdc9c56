"""Sweep beta or the label smoothing of VIB and VdualIB on MNIST: information plane, accuracy, ECE.

    VDUALIB_DATA_DIR=../shared/data python -m scripts.sweep                              # beta
    VDUALIB_DATA_DIR=../shared/data python -m scripts.sweep --parameter label_smoothing

Short runs (defaults: 10,000 training examples, 5 epochs, the zoo's mlp recipe otherwise):
7 betas from 1e-5 to 1e-1, or label smoothing epsilons from 0.01 to 0.6 (with
``label_noise=smoothing`` for both methods, so the VIB's cross-entropy and VdualIB's reverse KL
see the same p~). Writes scripts/results/<parameter>_sweep/<parameter>_sweep.json, then the
.md table and .png figure from it (``--render`` redraws from the JSON alone).
"""

import argparse
import os
import sys

import numpy as np

from scripts.lab import sweep
from vdualib import cli, reports

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DEFAULT_VALUES = {"beta": list(np.logspace(-5, -1, 7)), "label_smoothing": [0.01, 0.03, 0.1, 0.3, 0.6]}


def main(argv=None):
    parser = cli.ArgumentParser(prog="sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parameter", choices=sorted(DEFAULT_VALUES), default="beta", help="the recipe field to sweep")
    parser.add_argument("--values", type=float, nargs="+", default=None, help="values of the field (default: see above)")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE", help="recipe overrides (default: train_size=10000 epochs=5)")
    parser.add_argument("--runs", default=None, help="folder for the training runs (default runs/<parameter>_sweep)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--render", action="store_true", help="only redraw the figure and table from the JSON")
    args = parser.parse_args(argv)

    name = f"{args.parameter}_sweep"
    out = os.path.join(RESULTS, name)
    path = os.path.join(out, f"{name}.json")
    if args.render:
        record = reports.read_json(path)
    else:
        overrides = args.overrides if args.overrides is not None else ["train_size=10000", "epochs=5"]
        values = args.values if args.values is not None else DEFAULT_VALUES[args.parameter]
        try:
            rows = sweep.recipe_sweep(
                args.parameter, values, overrides=overrides, out_dir=args.runs or os.path.join("runs", name), data_dir=args.data_dir
            )
        except (ValueError, FileNotFoundError) as err:
            print(f"sweep: error: {err}", file=sys.stderr)
            return 2
        record = {"parameter": args.parameter, "overrides": overrides, "runs": rows, "provenance": reports.provenance()}
        reports.write_json(path, record)
    parameter = record.get("parameter", "beta")
    sweep.plot_sweep(record["runs"], os.path.join(out, f"{name}.png"), parameter=parameter)
    columns = ["method", parameter, "rate_bits", "izy_bits", "accuracy", "nll", "ece"]
    if all("mean_confidence" in r for r in record["runs"]):
        columns.append("mean_confidence")
    text = (
        f"MNIST, mlp, short runs ({', '.join(record['overrides'])}), test split, 12 samples; rate and izy in bits.\n\n"
        + reports.markdown_table(record["runs"], columns)
    )
    reports.write_text(os.path.join(out, f"{name}.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
