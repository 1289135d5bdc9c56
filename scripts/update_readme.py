"""Regenerate the README's generated blocks from the committed result files.

Each block ``<!-- BEGIN path/to/file.md -->`` ... ``<!-- END path/to/file.md -->`` in README.md
is replaced by the content of that file (paths relative to the repository root). The files are
rendered by the scripts from their JSON; nothing in a block is typed by hand. ``--check`` exits
1 when a block is out of date.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"<!-- BEGIN (\S+) -->\n(.*?)<!-- END \1 -->", re.S)


def blocks(text):
    """``(path, current content)`` of each generated block in ``text``."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def expected(path):
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        raise FileNotFoundError(f"README block names {path}, which does not exist; run the script that writes it.")
    with open(full, encoding="utf-8") as f:
        return f.read().rstrip("\n") + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="update_readme", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that every block is up to date")
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    args = parser.parse_args(argv)
    from vdualib import reports

    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    stale = [path for path, content in blocks(text) if content != expected(path)]
    if args.check:
        for path in stale:
            print(f"out of date: {path}")
        return 1 if stale else 0
    for path in stale:
        reports.update_readme_block(args.readme, path, expected(path))
    print(f"updated {len(stale)} block(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
