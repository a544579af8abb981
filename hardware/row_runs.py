"""Rows of the scheduler's table that are one ascending run, read as slices.

A request usually starts from every candidate node, and in a table without
removed nodes those are rows ``0 .. n-1``: then a filter or weigher that
reads a column for the rows (``column[rows]``, a gathered copy, the most
frequent operation of a select) can read a slice of it instead, which
costs nothing. ``Run`` is such a row array, marked with its slice; rows
derived from it (a filter's survivors) are plain index arrays again.

``take(column, rows)`` reads a column either way. A slice is a view of
the table's column: callers only read what ``take`` returns.
"""
import numpy as np


class Run(np.ndarray):
    """Row indices ``start .. stop-1`` in order; ``span`` is their slice
    (None on an array derived from one)."""

    def __array_finalize__(self, source):
        self.span = None


def of(rows):
    """``rows`` (ascending, distinct: ``np.flatnonzero`` of a mask) as a
    Run when they are one run of consecutive rows, else as they are."""
    count = len(rows)
    if count == 0 or rows[-1] - rows[0] != count - 1:
        return rows
    run = rows.view(Run)
    run.span = slice(int(rows[0]), int(rows[-1]) + 1)
    return run


def take(column, rows):
    """``column[rows]``: a slice (a view) when ``rows`` is a Run."""
    span = getattr(rows, "span", None)
    return column[rows] if span is None else column[span]
