"""The information-plane table: one row per (epoch, layer), saved as CSV or JSON.

Columns: ``epoch`` (completed training epochs, 0 = before training), ``layer``
(name), ``ixt`` and ``ity`` (bits unless the recorder was asked for nats),
``grad_mean``, ``grad_std``, ``snr`` (NaN when gradients were not recorded),
plus any extra estimator outputs (for example ``ixt_lower`` of the KDE bounds).

Example:
    >>> rows = [{"epoch": 0, "layer": "h", "ixt": 3.0, "ity": 0.5}]
    >>> save_table(rows, "plane.csv")
    >>> load_table("plane.csv")[0]["ixt"]
    3.0
"""

import csv
import io
import math
import os

import numpy as np

from vdualib.reports import read_json, write_json, write_text

__all__ = ["COLUMNS", "save_table", "load_table", "mean_table", "table_to_json", "table_from_json", "series", "drift_diffusion_epoch"]

COLUMNS = ("epoch", "layer", "ixt", "ity", "grad_mean", "grad_std", "snr")


def _columns(rows):
    extra = sorted({key for row in rows for key in row} - set(COLUMNS))
    return list(COLUMNS) + extra


def _format(path):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".csv", ".json"):
        raise ValueError(f"table path must end in .csv or .json; got {path!r}.")
    return ext


def _significant(value, digits):
    if digits is None or not isinstance(value, (float, np.floating)) or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def table_to_json(rows, significant_digits=None):
    """Columnar form ``{"columns": [...], "rows": [[...], ...]}`` of a table, floats optionally
    rounded to ``significant_digits`` (to keep committed JSON small).

    Args:
        rows: the table, a list of dicts with ``epoch``, ``layer`` and numeric columns.
        significant_digits: round floats to this many significant digits, or ``None``.

    Returns:
        A dict with ``columns`` (the standard columns, then the extras sorted) and ``rows``.

    Example:
        >>> table_to_json([{"epoch": 0, "layer": "h", "ixt": 3.14159}], 3)["rows"][0][:3]
        [0, 'h', 3.14]
    """
    rows = list(rows)
    columns = _columns(rows)
    return {"columns": columns, "rows": [[_significant(row.get(c, math.nan), significant_digits) for c in columns] for row in rows]}


def table_from_json(data):
    """Rows (list of dicts) from :func:`table_to_json` output (also after a JSON round trip).

    Args:
        data: a dict with ``columns`` and ``rows``.

    Returns:
        A list of dicts; ``epoch`` as int, ``layer`` as str, other values as float (null -> NaN).

    Example:
        >>> rows = [{"epoch": 0, "layer": "h", "ixt": 3.0, "ity": 0.5, "grad_mean": 1.0, "grad_std": 0.5, "snr": 2.0}]
        >>> table_from_json(table_to_json(rows)) == rows     # for rows with every column
        True
    """
    return [{c: _parse(c, v) for c, v in zip(data["columns"], values)} for values in data["rows"]]


def save_table(rows, path):
    """Write the rows (a list of dicts) to ``path`` (``.csv`` or ``.json``), atomically.

    Args:
        rows: the table, a list of dicts with ``epoch``, ``layer`` and numeric columns.
        path: a ``.csv`` or ``.json`` path.

    Raises:
        ValueError: another extension.

    Example:
        >>> save_table([{"epoch": 0, "layer": "h", "ixt": 3.0, "ity": 0.5}], "plane.csv")
        >>> load_table("plane.csv")[0]["ity"]
        0.5
    """
    ext = _format(path)
    rows = list(rows)
    columns = _columns(rows)
    if ext == ".json":
        write_json(path, table_to_json(rows))
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = [row.get(c, math.nan) for c in columns]
        writer.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in values])
    write_text(path, buffer.getvalue())


def _parse(column, value):
    if column == "layer":
        return value
    if column == "epoch":
        return int(value)
    if value is None:  # write_json stores NaN as null
        return math.nan
    return float(value)


def load_table(path):
    """Read a table written by :func:`save_table`; returns a list of dicts with numbers restored.

    Args:
        path: a ``.csv`` or ``.json`` path.

    Returns:
        A list of dicts (``epoch`` int, ``layer`` str, the rest float; missing values NaN).

    Raises:
        ValueError: another extension.
        FileNotFoundError: the file does not exist.

    Example:
        >>> save_table([{"epoch": 0, "layer": "h", "ixt": 3.0, "ity": 0.5}], "plane.csv")
        >>> load_table("plane.csv")[0]["ixt"]
        3.0
    """
    ext = _format(path)
    if ext == ".json":
        return table_from_json(read_json(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; save the table first.")
    with open(path, encoding="utf-8", newline="") as f:
        return [{c: _parse(c, v) for c, v in row.items()} for row in csv.DictReader(f)]


def mean_table(tables):
    """Average several tables with the same (epoch, layer) rows (for example one per seed).

    Numeric columns are averaged (NaN-aware); ``{column}_std`` holds the
    standard deviation across tables of ``ixt`` and ``ity``. Rows keep the
    first table's order.

    Args:
        tables: tables (lists of row dicts) with the same (epoch, layer) rows.

    Returns:
        A list of row dicts with the averaged columns and ``ixt_std``, ``ity_std``.

    Raises:
        ValueError: no table, an empty first table, or tables with different rows.

    Example:
        >>> tables = [[{"epoch": 0, "layer": "h", "ixt": 3.0 + seed, "ity": 0.5}] for seed in range(2)]
        >>> mean_table(tables)[0]["ixt"], mean_table(tables)[0]["ixt_std"]
        (3.5, 0.5)
    """
    tables = [list(t) for t in tables]
    if not tables or not tables[0]:
        raise ValueError("mean_table needs at least one non-empty table.")
    keys = [(row["epoch"], row["layer"]) for row in tables[0]]
    index = [{(row["epoch"], row["layer"]): row for row in table} for table in tables]
    if any(set(keys) != set(table) for table in index):
        raise ValueError("mean_table needs tables with the same (epoch, layer) rows; record every run on one schedule.")
    numeric = [c for c in _columns(tables[0]) if c not in ("epoch", "layer")]
    averaged = []
    for key in keys:
        row = {"epoch": key[0], "layer": key[1]}
        for column in numeric:
            values = np.array([table[key].get(column, math.nan) for table in index], dtype=np.float64)
            finite = values[~np.isnan(values)]
            row[column] = float(finite.mean()) if finite.size else math.nan
            if column in ("ixt", "ity"):
                row[f"{column}_std"] = float(finite.std()) if finite.size else math.nan
        averaged.append(row)
    return averaged


def series(rows, layer, column):
    """``(epochs, values)`` of one layer's ``column``, sorted by epoch, as float arrays.

    Args:
        rows: the table, a list of dicts with ``epoch``, ``layer`` and numeric columns.
        layer: the layer's name.
        column: a column name, e.g. ``"ixt"``.

    Returns:
        ``(epochs, values)``, float64 arrays ``[E]``.

    Example:
        >>> rows = [{"epoch": epoch, "layer": "dense", "ixt": 4.0 - epoch, "ity": 0.5} for epoch in (2, 0, 1)]
        >>> epochs, ixt = series(rows, "dense", "ixt")
        >>> epochs, ixt
        (array([0., 1., 2.]), array([4., 3., 2.]))
    """
    selected = sorted((row["epoch"], row[column]) for row in rows if row["layer"] == layer)
    return np.array([e for e, _ in selected], dtype=float), np.array([v for _, v in selected], dtype=float)


def drift_diffusion_epoch(rows, layer):
    """The drift-to-diffusion transition of a layer, or ``None``: the first recorded epoch after
    the peak of the gradient signal-to-noise (mean / std) at which the mean falls below the std.

    Starting from the SNR peak ignores early crossings while the drift phase is still building up.

    Args:
        rows: the table, a list of dicts with ``epoch``, ``layer`` and numeric columns.
            It needs the ``grad_mean`` and ``grad_std`` columns.
        layer: the layer's name.

    Returns:
        The epoch (an int), or ``None`` when the mean never falls below the std after the peak.

    Example:
        >>> rows = [{"epoch": epoch, "layer": "dense", "grad_mean": 1.0 / epoch, "grad_std": 0.3} for epoch in range(1, 6)]
        >>> drift_diffusion_epoch(rows, "dense")     # the first epoch with grad_mean < grad_std
        4
    """
    epochs, means = series(rows, layer, "grad_mean")
    _, stds = series(rows, layer, "grad_std")
    keep = (epochs > 0) & (stds > 0)
    epochs, means, stds = epochs[keep], means[keep], stds[keep]
    if not epochs.size:
        return None
    peak = int(np.argmax(means / stds))
    below = np.flatnonzero(means[peak:] < stds[peak:])
    return int(epochs[peak + below[0]]) if below.size else None
