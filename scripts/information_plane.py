"""Repository alias of the installed ``vdualib-information-plane`` command (:mod:`vdualib.commands.information_plane`).

Regenerate the committed results from the repository root with
``python scripts/information_plane.py --output-dir scripts/results/information``.
"""

from vdualib.commands.information_plane import main

if __name__ == "__main__":
    raise SystemExit(main())
