"""Benchmark of the mutual-information estimators: error against ground truth, and speed (repository only).

Part 1 (:mod:`vdualib.information.estimator_error`): each estimator on
distributions with known mutual information at ``--sizes`` samples over
``--repeats`` seeds (bits). Part 2 (:mod:`scripts.lab.information_benchmark`):
binning and KDE timings, and the wall time of the 12-bit training loop with and
without the ``InformationPlane`` callback (target: under 20% added time).

Writes ``benchmark_information.json`` (with provenance) and renders
``estimator_error.md`` and ``benchmark_information.md`` from it. Run from the
repository root; the default output is ``scripts/results/information``.
"""

import os

from vdualib import cli

DEFAULT_OUTPUT = os.path.join("scripts", "results", "information")
JSON_NAME = "benchmark_information.json"


def render(output_dir):
    """``estimator_error.md`` and ``benchmark_information.md`` from the JSON."""
    from scripts.lab.information_benchmark import speed_markdown
    from vdualib.information.estimator_error import error_markdown
    from vdualib.reports import read_json, write_text

    data = read_json(os.path.join(output_dir, JSON_NAME))
    write_text(os.path.join(output_dir, "estimator_error.md"), error_markdown(data["errors"], data["config"]["repeats"]))
    write_text(os.path.join(output_dir, "benchmark_information.md"), speed_markdown(data["speed"]))


def work(args):
    from scripts.lab.information_benchmark import callback_overhead, estimator_speed
    from vdualib.datasets import load_ib_12bit
    from vdualib.information.estimator_error import default_cases, estimator_error
    from vdualib.reports import provenance, read_json, write_json

    cli.check_writable_dir(args.output_dir, "--output-dir")
    json_path = os.path.join(args.output_dir, JSON_NAME)
    if not args.render_only:
        data = {"config": {k: v for k, v in vars(args).items() if k not in ("output_dir", "data_dir", "render_only")}}
        if args.skip_errors:  # the kept rows, with the settings they were measured with
            previous = read_json(json_path)
            data["errors"] = previous["errors"]
            data["config"].update({key: previous["config"][key] for key in ("sizes", "repeats", "noise_variance", "truth_draws")})
        else:
            cases = default_cases(args.noise_variance, args.truth_draws)
            data["errors"] = estimator_error(cases, args.sizes, args.repeats, progress=True)
        x, y = load_ib_12bit(args.data_dir)
        data["speed"] = estimator_speed(args.timing_repeats)
        data["speed"]["twelve_bit_study"] = callback_overhead(x, y, args.study_epochs, args.study_repeats)
        data["provenance"] = provenance(data_split="synthetic distributions; ib-12bit.npz for the study timing")
        write_json(json_path, data)
        print(f"wrote {json_path}")
    render(args.output_dir)


def main(argv=None):
    cli.quiet_tensorflow()
    parser = cli.ArgumentParser(
        prog="benchmark_information",
        description="Error of the MI estimators against ground truth at N = 1,000 and 10,000, and their speed; "
        "writes benchmark_information.json, estimator_error.md and benchmark_information.md.",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT, help="default %(default)s")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $VDUALIB_DATA_DIR)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3, help="seeds per error-table row")
    parser.add_argument("--noise-variance", type=float, default=0.1, help="KDE noise variance in the error study")
    parser.add_argument("--truth-draws", type=int, default=4, help="Monte Carlo noise draws per point for the KDE truth")
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--study-epochs", type=int, default=3000)
    parser.add_argument("--study-repeats", type=int, default=2)
    parser.add_argument("--skip-errors", action="store_true", help="time only (keeps the existing error rows)")
    parser.add_argument("--render-only", action="store_true", help="re-render the Markdown from the existing JSON")
    args = parser.parse_args(argv)
    return cli.run(lambda: work(args), prog="benchmark_information")


if __name__ == "__main__":
    raise SystemExit(main())
