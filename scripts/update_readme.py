"""Regenerate the generated blocks of README.md and of every docs/*.md page from the committed result files.

    python -m scripts.update_readme                       # rewrite every block that is out of date
    python -m scripts.update_readme --check               # exit 1, naming each block that is out of date
    python -m scripts.update_readme docs/evaluation.md    # the pages named only

Each block ``<!-- BEGIN path/to/file.md -->`` ... ``<!-- END path/to/file.md -->`` of a page is
replaced by the content of that file (paths relative to the repository root). The files are
rendered by the scripts from their JSON; nothing in a block is typed by hand. A result file's
relative links are written from the repository root; in a page of a subfolder (docs/) they are
rewritten relative to the page, so that they resolve where the page is read. A BEGIN marker
without its END, a block named twice on one page and a block naming a missing file are errors
(exit 2).
Run it from the repository root after a script has rewritten its results.
"""

import argparse
import glob
import os
import re
import sys

from vdualib import cli, reports

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"<!-- BEGIN (\S+) -->\n(.*?)<!-- END \1 -->", re.S)
MARKER = re.compile(r"<!-- (BEGIN|END) (\S+) -->")
# a Markdown link or image target: ](target) or ](target "title")
LINK = re.compile(r"(\]\()([^)\s]+)")
NOT_RELATIVE = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.I)


def pages(root=None):
    """The pages whose blocks this script keeps: ``README.md`` and every ``docs/*.md``, sorted.

    Args:
        root: the repository root (default :data:`ROOT`).

    Returns:
        A list of absolute paths, README.md first.
    """
    root = root or ROOT
    return [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))


def blocks(text):
    """``(path, current content)`` of each generated block in ``text``."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def check_markers(text, page):
    """Refuse a page whose markers do not pair up: a BEGIN without its END (or an END without its
    BEGIN, or blocks crossing each other) and a block named twice, which :func:`blocks` and
    :func:`update_block` would otherwise skip or update only once.

    Raises:
        ValueError: naming the page and the block.
    """
    open_name, seen = None, set()
    for m in MARKER.finditer(text):
        kind, name = m.groups()
        if kind == "BEGIN":
            if open_name is not None:
                raise ValueError(f"{page}: block {name} begins inside block {open_name}; close {open_name} first.")
            if name in seen:
                raise ValueError(f"{page}: block {name} appears twice; keep one.")
            open_name = name
            seen.add(name)
        else:
            if name != open_name:
                raise ValueError(f"{page}: '<!-- END {name} -->' does not close the block open here ({open_name}).")
            open_name = None
    if open_name is not None:
        raise ValueError(f"{page}: block {open_name} has no '<!-- END {open_name} -->'.")


def rebase_links(content, page_dir, root=None):
    """Rewrite the relative link targets of ``content`` (written from ``root``, default
    :data:`ROOT`) relative to ``page_dir``; URLs, anchors and absolute paths are left alone.

    Example:
        >>> rebase_links("[x](scripts/a.md#top)", os.path.join(ROOT, "docs"))
        '[x](../scripts/a.md#top)'
    """
    root = root or ROOT
    if os.path.normpath(page_dir) == os.path.normpath(root):
        return content

    def rebase(m):
        target = m.group(2)
        if NOT_RELATIVE.match(target):
            return m.group(0)
        path, hash_, anchor = target.partition("#")
        if not path:
            return m.group(0)
        relative = os.path.relpath(os.path.join(root, path), page_dir).replace(os.sep, "/")
        return m.group(1) + relative + hash_ + anchor

    return LINK.sub(rebase, content)


def expected(path, page=None):
    """The content a block naming ``path`` should hold on ``page`` (default: a page at the root).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        where = f"{os.path.relpath(page, ROOT)}: a" if page else "A"
        raise FileNotFoundError(f"{where} block names {path}, which does not exist; run the script that writes it.")
    with open(full, encoding="utf-8") as f:
        content = f.read().rstrip("\n") + "\n"
    return rebase_links(content, os.path.dirname(os.path.abspath(page)) if page else ROOT)


def stale(page):
    """``(path, expected content)`` of each block of ``page`` that is out of date."""
    with open(page, encoding="utf-8") as f:
        text = f.read()
    check_markers(text, os.path.relpath(page, ROOT))
    out = []
    for path, content in blocks(text):
        want = expected(path, page)
        if content != want:
            out.append((path, want))
    return out


def update_block(readme_path, name, content):
    """Replace the text between ``<!-- BEGIN {name} -->`` and ``<!-- END {name} -->``.

    Raises ``ValueError`` when the markers are missing, so a renamed block is
    noticed instead of silently skipped.

    The file is rewritten atomically.

    Args:
        readme_path: the Markdown file.
        name: the block's name in its markers.
        content: the new text between the markers.

    Example:
        >>> update_block("README.md", "models/README.md", open("models/README.md").read())
    """
    with open(readme_path, encoding="utf-8") as f:
        text = f.read()
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{readme_path} has no '{begin}' ... '{end}' block; add the two markers.")
    new = text[: start + len(begin)] + "\n" + content.rstrip("\n") + "\n" + text[stop:]
    reports.write_text(readme_path, new)


def main(argv=None):
    parser = cli.ArgumentParser(
        prog="python -m scripts.update_readme", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pages", nargs="*", metavar="PAGE", help="Markdown pages (default: README.md and docs/*.md)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    args = parser.parse_args(argv)
    chosen = [os.path.abspath(page) for page in args.pages] or pages()
    try:
        found = [(page, path, content) for page in chosen for path, content in stale(page)]
    except (OSError, ValueError) as err:
        print(f"update_readme: {err}", file=sys.stderr)
        return 2
    if args.check:
        for page, path, _ in found:
            print(f"out of date: {os.path.relpath(page, ROOT)}: {path}")
        return 1 if found else 0
    for page, path, content in found:
        update_block(page, path, content)
    print(f"updated {len(found)} block(s) in {len(chosen)} page(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
