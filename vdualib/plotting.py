"""Figures: one way to get ``pyplot`` and one atomic PNG writer for every report and script.

matplotlib's backend is never switched: :func:`pyplot` imports ``matplotlib.pyplot`` lazily and
uses whatever the user chose; with no display matplotlib itself falls back to ``Agg``. Importing
vdualib never imports matplotlib or changes a notebook's backend.

Example:
    >>> from vdualib import plotting
    >>> plt = plotting.pyplot()
    >>> figure, axis = plt.subplots()
    >>> plotting.save_figure(figure, "runs/example.png")   # atomic; closes the figure
    'runs/example.png'
"""

import os

from vdualib import reports

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot``, imported on first use with the user's backend.

    Returns:
        The ``matplotlib.pyplot`` module.

    Example:
        >>> fig, ax = pyplot().subplots()
    """
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path, dpi=110):
    """Write ``figure`` to ``path`` atomically (a partial file is never visible) and close it.

    Args:
        figure: a ``matplotlib.figure.Figure``.
        path: the output file; the format follows its extension (``.png``, ``.pdf``, ``.svg``).
        dpi: resolution in dots per inch.

    Returns:
        ``path``.

    Example:
        >>> fig, ax = pyplot().subplots()
        >>> save_figure(fig, "out/curve.png", dpi=150)
        'out/curve.png'
    """
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    try:
        with reports.atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    finally:
        pyplot().close(figure)
    return path
