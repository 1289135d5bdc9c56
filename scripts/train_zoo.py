"""Train zoo recipes one after another, resuming each, and add each finished model to the zoo.

    nohup python -m scripts.train_zoo --runs ../zoo-runs --models-dir models > zoo.log 2>&1 &

Run it from a separate git worktree at a fixed commit (with its own environment) so that work on
the main tree cannot change a run half-way. For each name, in order: a run whose ``train.json``
exists is done (if it followed today's recipe; a run of an earlier recipe is refused, not
published); one with a checkpoint is resumed (``vdualib-train --resume``); otherwise it
starts. A finished run goes through ``scripts/build_zoo.py`` into ``--models-dir`` at once, so
the ``*-dualib-*`` recipes that follow take p~ from the new deterministic model of their data
set (their recipes name it). Copy ``models/`` back to the main tree and commit it after each
model. Restarting this script after it was stopped continues where it stopped.

The order puts each data set's deterministic reference before the models whose p~ it gives.
Precision (``--precision auto``): ``mixed_bfloat16`` for the convolutional backbones where the
machine computes bfloat16 natively (``vdualib.training.native_precision``), ``float32``
everywhere else (emulated, bfloat16 is several times slower: ``docs/performance.md`` measures
it) and for the MLP. CIFAR-10 corruptions are evaluated on ``test[:2000]``.
"""

import argparse
import os
import subprocess
import sys

from vdualib import cli, recipes, reports

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = (
    "mnist-deterministic-mlp",
    "fashion-mnist-deterministic-convnet",
    "cifar10-deterministic-resnet20",
    "cifar10-dualib-resnet20",
    "cifar10-vib-resnet20",
    "mnist-dualib-mlp",
    "mnist-vib-mlp",
    "fashion-mnist-dualib-convnet",
    "fashion-mnist-vib-convnet",
)
#: backbone -> precision on a CPU with native bfloat16 (``--precision auto``)
PRECISION = {"mlp": "float32", "convnet": "mixed_bfloat16", "resnet20": "mixed_bfloat16"}
CORRUPTION_LIMIT = {"resnet20": 2000}


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="train_zoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="folder of the run folders (one per zoo name)")
    parser.add_argument("--models-dir", required=True, help="the zoo folder the finished models are added to")
    parser.add_argument("--names", nargs="+", default=list(ORDER), help="zoo names, in order")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "mixed_bfloat16"),
                        help="auto: bfloat16 for convolutional backbones where the CPU has native bfloat16, else float32")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)

    unknown = [name for name in args.names if name not in recipes.RECIPES]
    if unknown:
        parser.error(f"unknown zoo names {unknown}; choose from {recipes.recipe_names()}")
    return args


def _check_finished(name, out):
    """A finished run is built only if it followed today's recipe of ``name``."""

    recorded = reports.read_json(os.path.join(out, "train.json")).get("recipe")
    try:
        outdated = recipes.outdated_fields(recorded)
        if recipes.model_name(recorded["dataset"], recorded["method"], recorded["backbone"]) != name:
            outdated = {"model (the run is of another zoo name)": None}
    except ValueError as err:
        outdated = {f"an unreadable recipe: {err}": None}
    if outdated:
        raise SystemExit(
            f"train_zoo: error: {out} holds a finished run of another recipe than today's {name} "
            f"(differs in {sorted(outdated)}); move it away to retrain {name}."
        )


def precision_of(backbone, choice):
    """The precision a backbone trains in under ``--precision choice``."""
    if choice != "auto":
        return choice
    from vdualib import training

    return PRECISION[backbone] if training.native_precision(PRECISION[backbone]) else "float32"


def _run(command, dry_run, env):
    print("+", " ".join(command), flush=True)
    if not dry_run:
        subprocess.run(command, check=True, env=env, cwd=ROOT)


def main(argv=None):
    args = parse_args(argv)
    env_data = ["--data-dir", args.data_dir] if args.data_dir else []
    env = dict(os.environ, VDUALIB_MODELS_DIR=os.path.abspath(args.models_dir))  # references resolve in this zoo
    for name in args.names:
        backbone = name.rsplit("-", 1)[-1]
        out = os.path.join(args.runs, name)
        if os.path.exists(os.path.join(out, "train.json")):
            _check_finished(name, out)
            print(f"{name}: trained", flush=True)
        else:
            resume = ["--resume"] if os.path.exists(os.path.join(out, "checkpoint.json")) else []
            train = [sys.executable, "-m", "vdualib.commands.train", "--recipe", name, "--out", out, "--quiet"]
            _run(train + ["--precision", precision_of(backbone, args.precision)] + resume + env_data, args.dry_run, env)
        card = os.path.join(args.models_dir, "cards", f"{name}.json")
        built = os.path.exists(card) and os.path.getmtime(card) > os.path.getmtime(os.path.join(out, "train.json")) if not args.dry_run else False
        if not built:
            limit = ["--corruption-limit", str(CORRUPTION_LIMIT[backbone])] if backbone in CORRUPTION_LIMIT else []
            build = [sys.executable, "-m", "scripts.build_zoo", "--name", name, "--run-dir", os.path.abspath(out)]
            _run(build + ["--models-dir", os.path.abspath(args.models_dir)] + limit + env_data, args.dry_run, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
