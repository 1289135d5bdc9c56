"""Compare the deterministic, VIB and VdualIB zoo models of each data set side by side.

    python scripts/compare.py                      # every data set whose three models are in the zoo
    python scripts/compare.py --datasets mnist

Joins the per-model evaluations in models/evaluations/<name>/metrics.json (written by
scripts/build_zoo.py: same split, corruptions, severities 1-5, OOD sets and seed) into one
report per data set under scripts/results/compare/<dataset>/ (metrics.json, report.md,
reliability diagrams overlaid, accuracy/ECE against severity, OOD histograms), and a summary
(compare.json, compare.md) saying on each measure whether VdualIB beats VIB and the
deterministic network. ``--reevaluate`` runs the three models again in one evaluation instead.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "scripts", "results", "compare")
BACKBONE = {"mnist": "mlp", "fashion_mnist": "convnet", "cifar10": "resnet20"}
METHODS = ("deterministic", "vib", "dualib")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vdualib-compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(BACKBONE), choices=list(BACKBONE))
    parser.add_argument("--models-dir", default=os.path.join(ROOT, "models"))
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--reevaluate", action="store_true", help="evaluate the three models again, in one run")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    from vdualib import comparison, evaluation, recipes, reports, zoo

    summary = {"datasets": {}, "provenance": reports.provenance()}
    text = []
    for dataset in args.datasets:
        names = [recipes.model_name(dataset, m, BACKBONE[dataset]) for m in METHODS]
        paths = [os.path.join(args.models_dir, "evaluations", n, "metrics.json") for n in names]
        missing = [n for n, p in zip(names, paths) if not os.path.exists(p)]
        if missing:
            print(f"{dataset}: skipped, not in the zoo yet: {', '.join(missing)}")
            continue
        out_dir = os.path.join(args.out, dataset)
        if args.reevaluate:
            loaded = []
            for name in names:
                model, info = evaluation.load_model(name)
                info["label"] = name
                loaded.append((model, info))
            results = evaluation.evaluate(loaded, dataset, ood=zoo.OOD_SETS[dataset], data_dir=args.data_dir)
        else:
            results = comparison.merge_evaluations(paths)
        evaluation.write_report(results, out_dir)
        rows = comparison.summary_rows(results)
        deltas = comparison.method_deltas(rows)
        summary["datasets"][dataset] = {"rows": rows, "deltas": deltas, "notes": results["notes"]}
        wins = {b: sum(d["better"] for d in deltas if d["versus"] == b) for b in ("vib", "deterministic")}
        counts = {b: sum(1 for d in deltas if d["versus"] == b) for b in ("vib", "deterministic")}
        text.append(f"#### {dataset}\n")
        text.extend(f"> {note}\n" for note in results["notes"])
        text.append(reports.markdown_table(rows))
        text.append(
            f"\nVdualIB is better than VIB on {wins['vib']} of {counts['vib']} measures and better than the "
            f"deterministic network on {wins['deterministic']} of {counts['deterministic']} "
            f"(full report: `scripts/results/compare/{dataset}/report.md`).\n"
        )
        text.append(reports.markdown_table(deltas, ["measure", "versus", "dualib", "difference", "better"]))
    if not summary["datasets"]:
        print("no data set has its three models in the zoo; run scripts/build_zoo.py first", file=sys.stderr)
        return 2
    reports.write_json(os.path.join(args.out, "compare.json"), summary)
    reports.write_text(os.path.join(args.out, "compare.md"), "\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
