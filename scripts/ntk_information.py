"""Repository alias of the installed ``vdualib-ntk-information`` command (:mod:`vdualib.commands.ntk_information`).

Regenerate the committed results from the repository root with
``python scripts/ntk_information.py --output-dir scripts/results/ntk``.
"""

from vdualib.commands.ntk_information import main

if __name__ == "__main__":
    raise SystemExit(main())
