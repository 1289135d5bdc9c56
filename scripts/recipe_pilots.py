"""Short pilot runs of a zoo recipe, to choose its optimizer settings on the validation split.

    nohup python -m scripts.recipe_pilots --runs runs/pilots > pilots.log 2>&1 &
    python -m scripts.recipe_pilots --runs runs/pilots --report-only   # JSON, Markdown, PNG

The CIFAR-10 recipe's weight decay, weight averaging and learning-rate warm-up are chosen here.
Each pilot is the deterministic ResNet-20 recipe shortened to ``--epochs`` (its cosine schedule
ends with the pilot) with one setting changed. Two stages:

1. the decoupled decay value, on the kernels only (``DECAYS``);
2. from the best decay of stage 1, EMA of the weights (momentum 0.999) and a 2-epoch linear
   warm-up of the learning rate, one at a time.

Rule (fixed here before any pilot ran, and recorded in the JSON): a pilot's score is its mean validation
accuracy over the last 3 epochs; stage 1 takes the highest score; a stage-2 change is adopted
only if it beats the stage-1 best by more than one binomial standard error of the validation
accuracy (sqrt(a (1 - a) / n), n the validation split), since a smaller difference is within the
split's noise. The deterministic network stands for the three methods of the data set: they
share the optimizer and schedule (``vdualib.recipes``). A pilot is shorter than the recipe's 100
epochs, so it applies less decay in total (the sum of lr * weight_decay over its steps); a decay
value chosen here may be on the large side for the full schedule, which its curve then shows.

Every pilot is a normal ``vdualib.training.train`` run folder (checkpoint each epoch, exact
resume): restarting the script resumes the pilot that was running and skips finished ones.
Results go to ``scripts/results/pilots/<zoo name>/pilots.{json,md,png}``.
"""

import argparse
import math
import os
import sys

from vdualib import cli

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "pilots")

NAME = "cifar10-deterministic-resnet20"
DECAYS = (1e-3, 2.5e-3, 5e-3)
STAGE2 = {"ema": {"weight_ema": 0.999}, "warmup": {"lr_warmup_epochs": 2}}
LAST = 3
RULE = (
    f"score = mean validation accuracy over the last {LAST} epochs; stage 1 (weight_decay in {list(DECAYS)}, "
    "scope kernels) takes the highest score; a stage-2 change (EMA 0.999, 2-epoch LR warm-up) is adopted only "
    "if its score beats the stage-1 best by more than one binomial standard error sqrt(a(1-a)/n) of the "
    "validation split; the adopted changes form the recipe."
)


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="recipe_pilots", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="folder of the pilots' run folders (resumed where they stopped)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder of the report (a subfolder per zoo name)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each pilot (its cosine schedule ends with it)")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                        help="dtype policy of every pilot (bfloat16 pays only on CPUs with native bf16 instructions)")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--report-only", action="store_true", help="write the report from the run folders, train nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every pilot (for a small trial: --set train_size=512)")
    args = parser.parse_args(argv)
    if args.epochs < LAST + 1:
        parser.error(f"--epochs must be at least {LAST + 1}")
    return args


def pilot_name(changes):
    """A folder name for a pilot from its changes, e.g. ``weight_decay=0.001,weight_ema=0.999``."""
    return ",".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}" for key, value in sorted(changes.items()))


def score(history):
    """The pilot's score: mean ``val_accuracy`` over its last :data:`LAST` epochs (``None`` before then)."""
    values = [h["val_accuracy"] for h in history if "val_accuracy" in h]
    return sum(values[-LAST:]) / LAST if len(values) >= LAST else None


def stage1():
    return [{"weight_decay": value} for value in DECAYS]


def stage2(best_decay):
    return {label: dict(weight_decay=best_decay, **changes) for label, changes in STAGE2.items()}


def choose(results, validation_size):
    """Apply the rule to finished pilots.

    Args:
        results: ``{pilot name: {"changes": dict, "score": float or None, "finished": bool}}``.
        validation_size: examples in the validation split (for the standard error).

    Returns:
        ``{"stage1_best": changes or None, "adopted": changes or None, "margin": float or None,
        "complete": bool}``: ``adopted`` is the recipe's choice once every pilot has finished.
    """
    first = [results.get(pilot_name(c)) for c in stage1()]
    if not all(r and r["finished"] for r in first):
        return {"stage1_best": None, "adopted": None, "margin": None, "complete": False}
    best = max(first, key=lambda r: r["score"])
    margin = math.sqrt(best["score"] * (1 - best["score"]) / validation_size)
    adopted = dict(best["changes"])
    complete = True
    for changes in stage2(best["changes"]["weight_decay"]).values():
        run = results.get(pilot_name(changes))
        if not (run and run["finished"]):
            complete = False
        elif run["score"] > best["score"] + margin:
            adopted.update(changes)
    return {"stage1_best": best["changes"], "adopted": adopted if complete else None, "margin": margin, "complete": complete}


def read_pilot(run_dir):
    """``(history, finished)`` of a pilot folder (an empty history when it has not started)."""
    from vdualib import reports

    for file_name, finished in (("train.json", True), ("checkpoint.json", False)):
        path = os.path.join(run_dir, file_name)
        if os.path.exists(path):
            return reports.read_json(path)["history"], finished
    return [], False


def collect(runs, pilots, base):
    results = {}
    for changes in pilots:
        name = pilot_name(changes)
        history, finished = read_pilot(os.path.join(runs, name))
        results[name] = {
            "changes": changes,
            "recipe_overrides": dict(base, **changes),
            "finished": finished,
            "epochs_done": len(history),
            "score": score(history),
            "curve": [
                {key: h[key] for key in ("epoch", "accuracy", "val_accuracy", "loss", "val_loss") if key in h} for h in history
            ],
        }
    return results


def render(record):
    lines = [
        f"Recipe pilots of `{record['name']}` (`scripts/recipe_pilots.py`): each pilot is the recipe shortened to "
        f"{record['epochs']} epochs with the changes named; validation split of "
        f"{record['validation_size']} held-out training examples. {record['note']}",
        "",
        f"Rule: {record['rule']}",
        "",
        "| pilot | epochs done | score (val acc, last 3) | best val acc | last train acc |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, run in record["pilots"].items():
        curve = run["curve"]
        best = max((h["val_accuracy"] for h in curve), default=None)
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        state = "" if run["finished"] else " (running)" if run["epochs_done"] else " (not started)"
        lines.append(
            f"| {name} | {run['epochs_done']}/{record['epochs']}{state} | {fmt(run['score'])} "
            f"| {fmt(best)} | {fmt(curve[-1]['accuracy'] if curve else None)} |"
        )
    choice = record["choice"]
    best = pilot_name(choice["stage1_best"]) if choice["stage1_best"] else "none yet"
    lines += ["", (
        f"Choice: **{pilot_name(choice['adopted'])}** (stage-1 best {best}; a stage-2 change had to beat its score by "
        f"more than one standard error, {choice['margin']:.4f})" if choice["complete"]
        else f"Choice: pending (stage-1 best: {best})"
    ), ""]
    return "\n".join(lines)


def plot(record, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vdualib import reports

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, run in record["pilots"].items():
        epochs = [h["epoch"] for h in run["curve"]]
        if epochs:
            axes[0].plot(epochs, [h["val_accuracy"] for h in run["curve"]], label=name)
            axes[1].plot(epochs, [h["accuracy"] for h in run["curve"]], label=name)
    for ax, title in zip(axes, ("validation accuracy", "training accuracy (augmented)")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Recipe pilots: {record['name']} ({record['epochs']} epochs each)")
    fig.tight_layout()
    with reports.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def report_folder(out=DEFAULT_OUT):
    """The folder of the report (``pilots.json``, ``.md``, ``.png``) under ``out``: a subfolder per zoo name."""
    return os.path.join(out, NAME)


def write_report(args, base):
    from vdualib import recipes, reports

    recipe = recipes.get_recipe(NAME, base)
    first = collect(args.runs, stage1(), base)
    choice = choose(first, recipe["validation_size"])
    pilots = list(stage1())
    if choice["stage1_best"] is not None:
        pilots += list(stage2(choice["stage1_best"]["weight_decay"]).values())
    results = collect(args.runs, pilots, base)
    record = {
        "name": NAME,
        "epochs": args.epochs,
        "precision": args.precision,
        "validation_size": recipe["validation_size"],
        "rule": RULE,
        "note": "Data: the JPEG rendition of CIFAR-10 (lossy); the test split is not read.",
        "base_overrides": base,
        "pilots": results,
        "choice": choose(results, recipe["validation_size"]),
        "provenance": reports.provenance(),
    }
    out = report_folder(args.out)
    os.makedirs(out, exist_ok=True)
    reports.write_json(os.path.join(out, "pilots.json"), record)
    reports.write_text(os.path.join(out, "pilots.md"), render(record))
    plot(record, os.path.join(out, "pilots.png"))
    return record


def run_pilot(args, base, changes):
    from vdualib import recipes, training

    out = os.path.join(args.runs, pilot_name(changes))
    if os.path.exists(os.path.join(out, "train.json")):
        return
    recipe = recipes.get_recipe(NAME, dict(base, **changes))
    resume = os.path.exists(os.path.join(out, "checkpoint.json"))
    print(f"recipe_pilots: {'resuming' if resume else 'starting'} {pilot_name(changes)}", flush=True)
    training.train(recipe, out, resume=resume, precision=args.precision, data_dir=args.data_dir, name=NAME, verbose=2)


def main(argv=None):
    args = parse_args(argv)
    from vdualib import recipes

    base = {"epochs": args.epochs}
    for item in args.set:
        key, _, value = item.partition("=")
        base[key.strip()] = value.strip()
    base = {key: value for key, value in recipes.get_recipe(NAME, base).items() if key in base}
    if not args.report_only:
        for changes in stage1():
            run_pilot(args, base, changes)
            write_report(args, base)
        best = write_report(args, base)["choice"]["stage1_best"]
        for changes in stage2(best["weight_decay"]).values():
            run_pilot(args, base, changes)
            write_report(args, base)
    record = write_report(args, base)
    print(render(record))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    sys.exit(main())
