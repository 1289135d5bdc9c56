"""Compare training schedules of a zoo recipe from their per-epoch logs (the runs' ``log.csv``).

    python -m scripts.zoo_schedule            # renders scripts/results/zoo_schedule/{schedule.md,schedule.png}

Every ``<zoo name>-<variant>.csv`` in ``--dir`` is one run of the recipe with one change (the
variant), as ``vdualib-train`` writes it (``--set augment=crop --set epochs=20`` ...). The
report puts the variants of each zoo name side by side: held-out validation accuracy at a few
epochs, the best epoch, and the last training accuracy (a training accuracy near 1 with a flat
validation curve is a model that has stopped learning anything that generalises). The schedule
each zoo recipe takes is decided in ``vdualib.recipes`` and points here for its evidence.
"""

import argparse
import csv
import os
import sys

from vdualib import cli

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "results", "zoo_schedule")
CHECKPOINTS = (5, 10, 20, 50, 100, 200)


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="zoo_schedule", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=DEFAULT_DIR, help="folder of <zoo name>-<variant>.csv logs; the report is written there")
    return parser.parse_args(argv)


def read_log(path):
    """``[{"epoch": 1-based int, "accuracy", "val_accuracy"}]`` from a run's ``log.csv``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"epoch", "accuracy", "val_accuracy"} <= set(rows[0]):
        raise ValueError(f"{path} is not a training log with epoch, accuracy and val_accuracy columns.")
    return [{"epoch": int(r["epoch"]) + 1, "accuracy": float(r["accuracy"]), "val_accuracy": float(r["val_accuracy"])} for r in rows]


def runs_in(folder, names):
    """``{zoo name: {variant: log}}`` for the ``<zoo name>-<variant>.csv`` files in ``folder``."""
    runs = {}
    for file_name in sorted(os.listdir(folder)):
        if not file_name.endswith(".csv"):
            continue
        stem = file_name[:-4]
        matches = [n for n in names if stem.startswith(n + "-")]
        if not matches:
            raise ValueError(f"{file_name}: name it <zoo name>-<variant>.csv with a zoo name of vdualib.recipes.")
        name = max(matches, key=len)
        runs.setdefault(name, {})[stem[len(name) + 1 :]] = read_log(os.path.join(folder, file_name))
    return runs


def table_rows(runs):
    rows = []
    for name, variants in runs.items():
        for variant, log in variants.items():
            best = max(log, key=lambda r: r["val_accuracy"])
            row = {"model": name, "variant": variant, "epochs run": log[-1]["epoch"]}
            for epoch in CHECKPOINTS:
                if any(r["epoch"] == epoch for r in log):
                    row[f"val acc @ {epoch}"] = next(r["val_accuracy"] for r in log if r["epoch"] == epoch)
            row.update({"best val acc": best["val_accuracy"], "at epoch": best["epoch"], "last train acc": log[-1]["accuracy"]})
            rows.append(row)
    return rows


def figure(runs, path):
    from vdualib import plotting

    fig, axes = plotting.pyplot().subplots(1, len(runs), figsize=(6 * len(runs), 3.6), squeeze=False)
    for axis, (name, variants) in zip(axes[0], runs.items()):
        for variant, log in variants.items():
            epochs = [r["epoch"] for r in log]
            line = axis.plot(epochs, [r["val_accuracy"] for r in log], label=f"{variant}: validation")[0]
            axis.plot(epochs, [r["accuracy"] for r in log], linestyle=":", color=line.get_color(), label=f"{variant}: training")
        axis.set_ylim(0.95, 1.0)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.set_ylabel("accuracy")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return plotting.save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    from vdualib import recipes, reports

    runs = runs_in(args.dir, recipes.recipe_names())
    if not runs:
        raise SystemExit(f"zoo_schedule: error: no <zoo name>-<variant>.csv logs in {args.dir}.")
    figure(runs, os.path.join(args.dir, "schedule.png"))
    rows = table_rows(runs)
    columns = [key for key in ("model", "variant", "epochs run", *(f"val acc @ {e}" for e in CHECKPOINTS)) if any(key in r for r in rows)]
    columns += ["best val acc", "at epoch", "last train acc"]
    text = (
        "Schedule variants of the zoo recipes (held-out validation accuracy by epoch; `scripts/zoo_schedule.py`):\n\n"
        + reports.markdown_table(rows, columns, digits=4)
    )
    reports.write_text(os.path.join(args.dir, "schedule.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
