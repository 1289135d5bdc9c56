"""The controlled study of the dual IB: arms, seeds, two schedules.

    VDUALIB_DATA_DIR=../shared/data python -m scripts.dualib_study                # the short (ablation) study
    python -m scripts.dualib_study --schedule full                                 # the zoo recipes, Fashion-MNIST
    python -m scripts.dualib_study --datasets mnist --seeds 0 1 2                  # a part of it
    python -m scripts.dualib_study --render-only                                   # study.json -> .md, .png
    python -m scripts.dualib_study --smoke [--schedule full]                       # seconds; every step
    python -m scripts.dualib_study --models cifar10-deterministic-resnet20 cifar10-vib-resnet20 \\
        cifar10-dualib-resnet20 --corruption-limit 1000 --train-limit 5000           # trained models, one seed

--schedule short (default) runs the seven arms for 6 epochs on MNIST and Fashion-MNIST (the ablation
study); --schedule full runs the arms deterministic, vib, vib-same-noise and dualib-paper with each
arm's zoo recipe unchanged (Fashion-MNIST: the convnet at width 2, 40 epochs, crop and flip, the
paper's warm-up), seed 0 measuring the zoo model itself when its recipe is identical. The arms, the
schedules, the baselines (deep ensemble and MC dropout from the deterministic runs), the measures and
the decision rules are decided in scripts.lab.dualib_study. Each finished run's rows are written into
<out>/study.json at once and its per-example test scores into <out>/scores/; rerunning skips
finished runs and resumes an interrupted training from its checkpoint (the training runs live in
--runs, the full schedule's under <runs>/full). The report (study.md, study.png, and readme.md for
scripts/update_readme.py) is rendered from the JSON. --smoke runs one epoch of 500 examples per arm
and seeds 0 and 1 (two seeds: the deep ensemble and the pooled bootstrap need them), on 1,000 test examples, into runs/dualib_study_smoke unless --out is given.
"""

import argparse
import os
import sys

from scripts.lab import dualib_study
from vdualib import cli, reports

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dualib_study")
DEFAULT_RUNS = os.path.join(dualib_study.REPOSITORY, "runs", "dualib_study")  # whatever the current folder


def build_parser():
    """The command's argument parser (defaults that depend on ``--smoke`` are filled in by :func:`parse_args`)."""
    datasets = tuple(dict.fromkeys((*dualib_study.SCHEDULES, *dualib_study.FULL_DATASETS)))
    arms = dualib_study.ARM_NAMES
    parser = cli.ArgumentParser(
        prog="dualib_study", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add(
        "--schedule",
        choices=dualib_study.SCHEDULE_NAMES,
        default=dualib_study.SHORT,
        help="short: the seven arms for 6 epochs on MNIST and Fashion-MNIST (the ablation study, default); "
        f"full: each arm's zoo recipe unchanged, the arms {' '.join(dualib_study.FULL_ARMS)} on "
        f"{' '.join(dualib_study.FULL_DATASETS)}",
    )
    add("--datasets", nargs="+", choices=datasets, default=None, help="data sets (default: all of the schedule's)")
    add("--seeds", nargs="+", type=int, default=None, help="seeds, each a run of every arm (default 0 1 2; 0 1 with --smoke)")
    add("--arms", nargs="+", choices=arms, default=None, help="arms (default: all of the schedule's)")
    add("--out", default=None, help="folder of study.json and the report (default scripts/results/dualib_study)")
    add(
        "--runs",
        default=None,
        help="folder of the training runs (default runs/dualib_study; <out>/runs with --smoke); the full schedule "
        "trains into <runs>/full",
    )
    add("--no-baselines", action="store_true", help="skip the deep-ensemble and MC-dropout rows")
    add("--render-only", action="store_true", help="only render the report from study.json")
    add(
        "--smoke",
        action="store_true",
        help="tiny settings laid over the schedule: 1 epoch of 500 examples, seed 0, 1,000 test examples",
    )
    add("--limit", type=int, default=None, help="test examples used (default all; 1000 with --smoke)")
    add(
        "--corruption-limit",
        type=int,
        default=None,
        help="test examples corrupted for the shift measures (default all; 500 with --smoke)",
    )
    add(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="instead of training: measure these zoo names or model.keras files (train.json beside them), one seed each",
    )
    add(
        "--train-limit",
        type=int,
        default=None,
        help="with --models: training examples counted for confident_train_errors (default all)",
    )
    add(
        "--reference",
        action="append",
        default=[],
        metavar="DATASET=MODEL",
        help="p~ reference of a data set instead of its zoo deterministic model",
    )
    add("--data-dir", default=None, help="folder with the data files (default $VDUALIB_DATA_DIR)")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def parse_args(argv=None):
    """The command line, with the defaults of the schedule or of ``--smoke`` filled in."""
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = os.path.join("runs", "dualib_study_smoke") if args.smoke else RESULTS
    if args.seeds is None:
        args.seeds = [0, 1] if args.smoke else [0, 1, 2]
    if args.smoke:
        args.limit = args.limit or 1000
        args.corruption_limit = args.corruption_limit or 500
    return args


def _references(items):
    references = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--reference {item!r} must look like DATASET=MODEL, e.g. mnist=runs/ref/model.keras.")
        dataset, spec = item.split("=", 1)
        references[dataset.strip()] = spec.strip()
    return references


def work(args):
    path = os.path.join(args.out, "study.json")
    if args.train_limit is not None and not args.models:
        raise ValueError("--train-limit applies to --models only; a study run counts every training example.")
    if args.models and args.schedule != dualib_study.SHORT:
        raise ValueError(
            "--models measures trained models as they are (schedule 'models'); --schedule applies to training runs."
        )
    if args.render_only:
        study = reports.read_json(path)
    else:
        cli.check_writable_dir(args.out)
        if args.models:
            study = dualib_study.run_models(
                args.out,
                args.models,
                limit=args.limit,
                corruption_limit=args.corruption_limit,
                train_limit=args.train_limit,
                data_dir=args.data_dir,
                progress=not args.quiet,
            )
        else:
            study = dualib_study.run_study(
                args.out,
                dataset_names=args.datasets,
                arms=args.arms,
                seeds=args.seeds,
                runs_dir=args.runs or (os.path.join(args.out, "runs") if args.smoke else DEFAULT_RUNS),
                references=_references(args.reference),
                limit=args.limit,
                corruption_limit=args.corruption_limit,
                data_dir=args.data_dir,
                progress=not args.quiet,
                schedule=args.schedule,
                smoke=dualib_study.SMOKE_SCHEDULE if args.smoke else None,
                baselines=not args.no_baselines,
            )
    dualib_study.render_report(study, args.out)
    print(f"wrote {os.path.join(args.out, 'study.md')}, study.png and readme.md (the README block):\n")
    with open(os.path.join(args.out, "readme.md"), encoding="utf-8") as f:
        print(f.read())
    return 0


def main(argv=None):
    cli.quiet_tensorflow()
    args = parse_args(argv)
    return cli.run(lambda: work(args), prog="dualib_study")


if __name__ == "__main__":
    sys.exit(main())
