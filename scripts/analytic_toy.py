"""Repository wrapper of the installed ``vdualib-analytic-toy`` command (:mod:`vdualib.commands.analytic_toy`).

Writes into ``scripts/results/ib`` unless ``--out`` is given. Regenerate the committed results from
the repository root with ``VDUALIB_DATA_DIR=../shared/data python scripts/analytic_toy.py``.
"""

import os
import sys

from vdualib.commands.analytic_toy import main as command_main

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ib")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg in ("--out", "--out-dir") or arg.startswith(("--out=", "--out-dir=")) for arg in argv):
        argv = ["--out", RESULTS, *argv]
    return command_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
