"""A request's whole run of filters, kept between selects while only
usage changes.

When every filter a request runs reads a derived column
(``BaseHostFilter.mask_key``), the outcome of the run over the same
input rows is a function of those columns alone: for each input row,
the first filter that removes it (or none). That is kept per table
state, filter keys and input rows (the request filters' cached answer,
the same array while nothing but usage changes); a usage change of some
rows moves only those rows, so a select reads the survivors, and each
filter's removed count, without a pass over the table.

A run that leaves no host is not kept: the caller runs the filters
again to explain it.
"""
import numpy as np

from hoststate.hardware import row_runs

#: ``first_fail`` of a row that passes every filter / is not an input row
PASSED, NOT_IN = -1, -2


class _Chain:
    __slots__ = ("rows", "first_fail", "removed", "survivors", "version")

    def __init__(self, rows, first_fail, removed, survivors, version):
        self.rows = rows                # the input rows (kept alive: ``is``)
        self.first_fail = first_fail    # per table row: filter index
        self.removed = removed          # per filter: rows it removed
        self.survivors = survivors      # read-only row array
        self.version = version


def survivors(store, table, rows, request, running):
    """(surviving rows, [(filter, before, removed)] for each filter that
    removed hosts), or None when some host survives no filter (then the
    caller's own run explains why). ``running``: (filter, mask_key) of
    every filter the request runs, in order; every key is set."""
    columns = [mask_column(store, table, f, key, request)
               for f, key in running]
    holder = store.value(("filter chain",
                          tuple((f.name, key) for f, key in running)), dict)
    entry = holder.get("entry")
    if entry is None or entry.rows is not rows or \
            not _caught_up(entry, store, table, columns):
        entry = _build(table, rows, columns)
        if entry is None:
            holder.pop("entry", None)
            return None
        holder["entry"] = entry
    before = len(rows)
    removed = []
    for (host_filter, _), count in zip(running, entry.removed):
        if count:
            removed.append((host_filter, before, count))
            before -= count
    return entry.survivors, removed


def mask_column(store, table, host_filter, key, request):
    """The derived column of ``host_filter``'s mask for ``key`` (its
    ``mask_key`` of ``request``), with its one-row face when the filter
    has one (``MASK_OF_ONE_ROW``)."""
    def compute(some):
        return host_filter.filter_mask(table, some, request)
    return store.column((host_filter.name, key), compute,
                        usage=host_filter.mask_reads_usage(request),
                        one_row=compute if host_filter.MASK_OF_ONE_ROW
                        else None)


def _build(table, rows, columns):
    """The chain of ``columns`` over ``rows`` from scratch (None when no
    row survives)."""
    alive = np.zeros(table.size, dtype=bool)
    alive[getattr(rows, "span", None) or rows] = True
    first_fail = np.where(alive, PASSED, NOT_IN).astype(np.int16)
    removed = []
    for index, column in enumerate(columns):
        failing = alive & ~column
        count = int(np.count_nonzero(failing))
        if count:
            first_fail[failing] = index
            alive &= column
        removed.append(count)
    survivors = _survivors(first_fail)
    if survivors is None:
        return None
    return _Chain(rows, first_fail, removed, survivors, table.version)


def _survivors(first_fail):
    rows = np.flatnonzero(first_fail == PASSED)
    if len(rows) == 0:
        return None
    rows = row_runs.of(rows)
    rows.flags.writeable = False        # shared by every select reading it
    return rows


def _caught_up(entry, store, table, columns):
    """Move the rows a usage change touched since the entry was made;
    False when it cannot (another change, the log gone, no survivor)."""
    if entry.version == table.version:
        return True
    changed = store.changed_rows(entry.version)
    if changed is None:
        return False
    first_fail, removed = entry.first_fail, entry.removed
    moved = False
    for row in changed:
        old = int(first_fail[row])
        if old == NOT_IN:
            continue
        new = next((index for index, column in enumerate(columns)
                    if not column[row]), PASSED)
        if new == old:
            continue
        if old != PASSED:
            removed[old] -= 1
        if new != PASSED:
            removed[new] += 1
        first_fail[row] = new
        moved = moved or PASSED in (old, new)
    if moved:
        entry.survivors = _survivors(first_fail)
        if entry.survivors is None:
            return False
    entry.version = table.version
    return True
