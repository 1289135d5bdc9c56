"""Reports: atomic files, JSON with provenance, and Markdown tables.

Every command writes one JSON with everything it measured plus provenance, then renders
Markdown (and PNGs) from that JSON, so a table is never typed by hand.
"""

import contextlib
import datetime
import hashlib
import json
import math
import os
import platform
import tempfile
from importlib import metadata

import numpy as np

import vdualib

__all__ = [
    "atomic_path",
    "write_json",
    "read_json",
    "write_text",
    "sha256_file",
    "provenance",
    "recorded_path",
    "markdown_table",
]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    A failure inside the block removes the temporary file, so readers never
    see a partial file. Use for writers that need a file name
    (``savefig``, ``model.save``, ``np.savez``).

    Args:
        path: the final file; its folder is created if needed.

    Yields:
        The temporary path (a string) to write to, in ``path``'s folder with ``path``'s extension.

    Example:
        >>> with atomic_path("out/notes.txt") as tmp:     # as for model.save(tmp)
        ...     with open(tmp, "w") as file:
        ...         _ = file.write("done")
        >>> os.listdir("out")
        ['notes.txt']
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=directory)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_json(path, data):
    """Write ``data`` as indented JSON, atomically; numpy values become plain
    numbers and non-finite floats become ``null`` / ``"inf"`` (valid JSON).

    Args:
        path: the output file (its folder is created).
        data: dicts, lists, numbers, strings, numpy arrays and scalars.

    Example:
        >>> write_json("out/metrics.json", {"ece": np.float32(0.012), "nll": float("nan")})
        >>> with open("out/metrics.json") as file:     # nll: null
        ...     print(file.read())
        {
          "ece": 0.012,
          "nll": null
        }
    """
    text = json.dumps(_to_jsonable(data), indent=2, sort_keys=False, allow_nan=False)
    write_text(path, text + "\n")


def read_json(path, remedy="run the script that writes it again"):
    """Read a JSON file written by :func:`write_json`.

    Args:
        path: the file.
        remedy: what the user should do about a damaged file, for the error message.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not valid JSON (truncated or edited by hand), naming it.

    Returns:
        The parsed JSON (usually a dict).

    Example:
        >>> write_json("out/metrics.json", {"ece": 0.012, "nll": float("nan")})
        >>> read_json("out/metrics.json")
        {'ece': 0.012, 'nll': None}
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; run the script that writes it first.")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}): it is damaged; {remedy}.") from None


def write_text(path, text):
    """Write ``text`` to ``path`` atomically (temp file + rename).

    Args:
        path: the output file (its folder is created).
        text: the content, written as UTF-8.

    Example:
        >>> write_text("out/report.md", markdown_table([{"model": "vib", "ece": 0.01234}]))
        >>> with open("out/report.md") as file:
        ...     print(file.read())
        | model | ece |
        | --- | --- |
        | vib | 0.0123 |
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def sha256_file(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks.

    Args:
        path: the file.
        chunk_size: bytes read at a time.

    Returns:
        The hex digest, 64 characters.

    Raises:
        FileNotFoundError: no such file.

    Example:
        >>> write_text("out/a.txt", "abc")
        >>> sha256_file("out/a.txt")
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(**extra):
    """Provenance for a report: vdualib version, time, machine, library versions.

    Library versions are read from installed package metadata, so calling this
    does not import TensorFlow.

    Args:
        **extra: JSON-ready fields added to the record (e.g. ``data_split=...``, ``model_sha256=...``).

    Returns:
        A dict with ``vdualib_version``, ``created`` (UTC, ISO 8601), ``python``, ``machine``,
        ``packages`` (name -> version) and the ``extra`` fields.

    Example:
        >>> record = provenance(data_split="mnist test")
        >>> record["vdualib_version"] == vdualib.__version__, record["data_split"]
        (True, 'mnist test')
    """
    versions = {}
    for package in ("tensorflow", "tensorflow-cpu", "keras", "tensorflow-probability", "numpy", "scipy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    record = {
        "vdualib_version": vdualib.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "packages": versions,
    }
    record.update(extra)
    return record


def recorded_path(path):
    """``path`` as a report records it: relative to the current folder when it lies inside it
    (so a report committed with a repository does not name the machine's folders), absolute
    otherwise.

    Args:
        path: a file or folder path (str or ``os.PathLike``).

    Returns:
        str, with ``/`` separators.

    Example:
        >>> recorded_path(os.path.join(os.getcwd(), "models", "evaluations", "x", "metrics.json"))
        'models/evaluations/x/metrics.json'
        >>> recorded_path("/elsewhere/runs")
        '/elsewhere/runs'
    """
    absolute = os.path.abspath(os.fspath(path))
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive (Windows)
        relative = os.pardir
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return absolute.replace(os.sep, "/")
    return relative.replace(os.sep, "/")


def _format_cell(value, digits):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6):
            return f"{value:.{digits}g}" if digits > 0 else f"{value:g}"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows, columns=None, digits=4):
    """Render a list of dicts as a Markdown table.

    ``columns`` is a list of keys or of ``(key, header)`` pairs; by default every
    key of any row, in order of first appearance (missing cells and ``None`` stay empty).
    Floats get ``digits`` decimals.

    Args:
        rows: a non-empty list of dicts.
        columns: keys or ``(key, header)`` pairs, or ``None`` for every key.
        digits: decimals of floats (tiny or huge floats use ``g`` format with as many significant digits).

    Returns:
        The table as a string ending in a newline.

    Raises:
        ValueError: no rows.

    Example:
        >>> print(markdown_table([{"model": "vib", "ece": 0.01234}], digits=3))
        | model | ece |
        | --- | --- |
        | vib | 0.012 |
    """
    if not rows:
        raise ValueError("markdown_table needs at least one row.")
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    columns = [c if isinstance(c, tuple) else (c, c) for c in columns]
    lines = [
        "| " + " | ".join(header for _, header in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_format_cell(row.get(key, ""), digits) for key, _ in columns) + " |")
    return "\n".join(lines) + "\n"
