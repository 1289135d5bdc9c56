"""Beta sweep of VIB and VdualIB on MNIST: the information plane and accuracy/ECE against beta.

    VDUALIB_DATA_DIR=../shared/data python scripts/beta_sweep.py

Short runs (defaults: 10,000 training examples, 5 epochs, the zoo's mlp recipe otherwise) at
7 betas from 1e-5 to 1e-1. Writes scripts/results/beta_sweep/beta_sweep.json, then
beta_sweep.md and beta_sweep.png from it (``--render`` redraws from the JSON alone).
"""

import argparse
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "beta_sweep")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="beta_sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--betas", type=float, nargs="+", default=list(np.logspace(-5, -1, 7)))
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE", help="recipe overrides (default: train_size=10000 epochs=5)")
    parser.add_argument("--runs", default="runs/beta_sweep", help="folder for the training runs")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--render", action="store_true", help="only redraw the figure and table from the JSON")
    args = parser.parse_args(argv)
    from vdualib import reports, sweep

    path = os.path.join(OUT, "beta_sweep.json")
    if args.render:
        record = reports.read_json(path)
    else:
        overrides = args.overrides if args.overrides is not None else ["train_size=10000", "epochs=5"]
        try:
            rows = sweep.beta_sweep(args.betas, overrides=overrides, out_dir=args.runs, data_dir=args.data_dir)
        except (ValueError, FileNotFoundError) as err:
            print(f"beta_sweep: error: {err}", file=sys.stderr)
            return 2
        record = {"overrides": overrides, "runs": rows, "provenance": reports.provenance()}
        reports.write_json(path, record)
    sweep.plot_sweep(record["runs"], os.path.join(OUT, "beta_sweep.png"))
    columns = ["method", "beta", "rate_bits", "izy_bits", "accuracy", "nll", "ece"]
    text = (
        f"MNIST, mlp, short runs ({', '.join(record['overrides'])}), test split, 12 samples; rate and izy in bits.\n\n"
        + reports.markdown_table(record["runs"], columns)
    )
    reports.write_text(os.path.join(OUT, "beta_sweep.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
