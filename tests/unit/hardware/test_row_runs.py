"""Rows that are one run of the table read as slices, and read the same
values as a gather."""
import numpy as np
import pytest

from hoststate.hardware import row_runs

COLUMN = np.arange(10, dtype=float) * 1.5


@pytest.mark.parametrize("mask, run", [
    ([1, 1, 1, 1], slice(0, 4)),
    ([0, 1, 1, 0], slice(1, 3)),
    ([0, 0, 0, 1], slice(3, 4)),
    ([1, 0, 1, 1], None),
    ([0, 0, 0, 0], None),
])
def test_only_consecutive_rows_are_a_run(mask, run):
    rows = row_runs.of(np.flatnonzero(mask))
    assert getattr(rows, "span", None) == run
    assert row_runs.take(COLUMN, rows).tolist() == \
        COLUMN[np.flatnonzero(mask)].tolist()


def test_rows_taken_from_a_run_are_plain_rows_again():
    run = row_runs.of(np.arange(2, 6))
    survivors = run[np.array([True, False, True, True])]
    assert survivors.span is None
    assert row_runs.take(COLUMN, survivors).tolist() == \
        COLUMN[[2, 4, 5]].tolist()
    assert run[1:].span is None
    assert row_runs.take(COLUMN, run[1:]).tolist() == COLUMN[3:6].tolist()
