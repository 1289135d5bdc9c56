"""Benchmark: where the time of a full evaluation goes.

Evaluates a ResNet-20 VdualIB classifier on the CIFAR-10 test split with 12
encoder samples, plus all fifteen RGB corruptions at one severity, through the
same code path as ``vdualib-evaluate`` (:func:`vdualib.evaluation.evaluate`),
and splits the wall time into the model's forward passes, the metrics and the
corruptions. Target: metrics and corruptions under 10% of the total, the
forward pass dominating. The weights are freshly initialised: the time of a
forward pass does not depend on their values.

Writes ``benchmark.json`` (all timings plus provenance) and ``benchmark.md``
(a table generated from the JSON) into ``--out``; ``--render`` regenerates the
table from the committed JSON without measuring.
"""

import os
import sys
import tempfile
import time

from vdualib import cli, evaluation, methods, reports, zoo

TARGET_SHARE = 0.10
METHOD = "dualib"


def build_parser():
    parser = cli.ArgumentParser(prog="benchmark_evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-examples", type=int, default=10000, help="CIFAR-10 test images (default all 10,000)")
    parser.add_argument("--num-samples", type=int, default=12, help="encoder samples per prediction (default 12)")
    parser.add_argument("--severity", type=int, default=3, choices=range(1, 6), help="corruption severity (default 3)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--render", action="store_true", help="only re-render benchmark.md from an existing benchmark.json")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "evaluation")
    )
    return parser


def render_markdown(record):
    """The benchmark table, generated from the JSON record."""
    timings, total = record["timings_seconds"], record["timings_seconds"]["total"]
    config = record["config"]
    families = len(record["per_corruption_seconds"])
    rows = [
        {"stage": stage, "seconds": timings[key], "share": f"{100 * timings[key] / total:.1f}%"}
        for stage, key in (
            (f"model forward passes ({config['num_samples']} samples)", "forward"),
            ("metrics (incl. temperature scaling)", "metrics"),
            (f"corruptions ({families} families)", "corruptions"),
            ("other (data, bookkeeping)", "other"),
            ("total", "total"),
        )
    ]
    share = record["metrics_and_corruptions_share"]
    load = record.get("load_average_1min")
    load_text = f", load average {load['before']:.1f} before / {load['after']:.1f} after" if load else ""
    header = (
        f"ResNet-20 {methods.get(config.get('method', METHOD)).title}, {config['num_examples']:,} CIFAR-10 test images "
        f"({'the JPEG rendition' if config['data_source'] == 'jpeg' else 'canonical'}), "
        f"{config['num_samples']} samples, clean + {families} corruptions at severity "
        f"{config['severity']}, batch {config['batch_size']}, on {record['provenance']['machine']} (shared{load_text}). "
        f"Metrics + corruptions: **{100 * share:.1f}%** of the total (target < {100 * TARGET_SHARE:.0f}%).\n\n"
    )
    per_corruption = [
        {"corruption": name, "seconds": seconds} for name, seconds in record["per_corruption_seconds"].items()
    ]
    return (
        header
        + reports.markdown_table(rows, ["stage", "seconds", "share"], digits=3)
        + "\nTime to generate each corruption of all the images:\n\n"
        + reports.markdown_table(per_corruption, digits=2)
    )


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.render:
        measure(args)
    text = render_markdown(reports.read_json(os.path.join(args.out, "benchmark.json")))
    reports.write_text(os.path.join(args.out, "benchmark.md"), text)
    print(text)
    return 0


def measure(args):
    """Run the timed evaluation and write ``benchmark.json``."""
    import vdualib
    from vdualib import datasets

    datasets.load("cifar10", data_dir=args.data_dir)  # decode and cache outside the timed run
    model = vdualib.build_classifier("resnet20", 10, method=METHOD, num_samples=args.num_samples, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"cifar10-{METHOD}-resnet20-untrained.keras")
        model.save(path)
        untrained = zoo.load(path)
        loaded = (untrained, zoo.describe(path, untrained)[0])
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    results = evaluation.evaluate(
        [loaded],
        "cifar10",
        corruption_names="all",
        severities=[args.severity],
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        limit=args.num_examples,
        data_dir=args.data_dir,
    )
    total = time.perf_counter() - start
    model_timings = results["models"][0]["timings_seconds"]
    timings = {
        "total": total,
        "forward": model_timings["forward"],
        "metrics": model_timings["metrics"],
        "corruptions": results["timings_seconds"]["corruptions"],
    }
    timings["other"] = total - timings["forward"] - timings["metrics"] - timings["corruptions"]
    share = (timings["metrics"] + timings["corruptions"]) / total
    record = {
        "config": {
            "model": f"build_classifier('resnet20', 10, method='{METHOD}')",
            "method": METHOD,
            "parameters": results["models"][0]["parameters"],
            "num_examples": results["num_examples"],
            "num_samples": args.num_samples,
            "severity": args.severity,
            "batch_size": args.batch_size,
            "data_source": results["data_source"],
        },
        "timings_seconds": timings,
        "per_corruption_seconds": results["timings_seconds"]["per_corruption"],
        "metrics_and_corruptions_share": share,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "target_share": TARGET_SHARE,
        "target_met": share < TARGET_SHARE,
        "provenance": reports.provenance(split=results["split"]),
    }
    reports.write_json(os.path.join(args.out, "benchmark.json"), record)


if __name__ == "__main__":
    sys.exit(main())
