"""Derived columns: per-row values computed once over the whole table and
kept while the table does not change, instead of per request over
gathered rows.

A select reads the same things again and again: which rows are
candidates, whether each is enabled and up, in the requested zone, has
room for a flavor of this size, its raw weight for each weigher. Each is
a function of the row's columns and of a few request values (the
*key*: a zone name, a flavor's memory). A derived column holds that
function's value for every candidate row (``fill`` elsewhere), built
once per table state and key.

Invalidation follows the table's ``version``: every write bumps it. A
write that changed only one row's usage (``consume``, ``write_usage``)
is logged by the table (``HostTable.rows_changed_since``), and then only
that row is computed again, by the same function on that row alone (an
element-wise computation gives the same bits on one row as on all).
Any other write (nodes, services, aggregates, liveness, ratios) rebuilds
every derived column on its next read, as does a usage change that made
a row a candidate or not.

The store hangs on the table (``of(table)``) and holds at most
``MAX_COLUMNS`` columns (a cache keyed by request values would otherwise
grow with every new flavor); past that it starts again.
"""
import numpy as np

from hoststate.hardware import row_runs

#: Derived columns kept per table before the store starts again.
MAX_COLUMNS = 256
#: Changed rows a column with a one-row face computes one by one.
FEW_ROWS = 8
#: What a usage change (``HostTable.consume`` and ``write_usage``, logged
#: by ``_usage_changed``) may write: these columns, and the interned
#: ``USAGE_WRITTEN_DOCUMENTS``. A derived column or value reading none of
#: them survives a usage change as it is.
USAGE_WRITTEN = frozenset((
    "free_ram_mb", "free_disk_mb", "disk_mb_used", "vcpus_used",
    "num_instances", "num_io_ops", "failed_builds", "generation", "ready"))
USAGE_WRITTEN_DOCUMENTS = frozenset(("stats", "numa_topology", "pci_stats"))


class _Column:
    __slots__ = ("values", "version")

    def __init__(self, values, version):
        self.values = values
        self.version = version


class Derived:
    """The derived columns of one table, and its candidate rows."""

    def __init__(self, table):
        self.table = table
        self.version = None         # table version the candidates are of
        self.mask = None            # candidate mask over ``size`` rows
        self.rows = None            # candidate rows (a Run when one run)
        self.columns = {}
        self.values = {}            # key -> any value of the candidates
        self.constants = {}         # column name -> [value or None, version]
        self._changed = (None, None)    # (version, to), changed_rows
        self._candidates_changed = (None, None)

    def sync(self):
        """Bring the candidates to the table's version: rebuild everything
        after a change that is not a usage-only one, or that changed
        whether a row is a candidate (only the rows changed are read)."""
        table = self.table
        if self.version == table.version:
            return
        changed = None if self.version is None else \
            self.changed_rows(self.version)
        if changed is not None and len(self.mask) == table.size and \
                self._still_candidates(changed):
            self.version = table.version
            return
        self.mask = table.candidates()
        self.rows = row_runs.of(np.flatnonzero(self.mask))
        self.columns.clear()
        self.values.clear()
        self.constants.clear()
        self.version = table.version

    def _still_candidates(self, changed):
        """Whether each of the rows ``changed`` is a candidate exactly
        when the mask says it is (a few rows one by one, as numbers)."""
        table, mask = self.table, self.mask
        if len(changed) <= FEW_ROWS:
            return all(bool(table.candidates(row)) == mask[row]
                       for row in changed)
        rows = np.asarray(changed, dtype=np.intp)
        return bool((table.candidates(rows) == mask[rows]).all())

    def changed_rows(self, version):
        """``HostTable.rows_changed_since(version)`` as a sorted list of
        distinct rows (None when more than usage changed). The last
        answer is kept: every cache of a select asks since the same
        version, the one of the select before."""
        table = self.table
        asked = (version, table.version)
        if self._changed[0] != asked:
            changed = table.rows_changed_since(version)
            self._changed = (asked, None if changed is None
                             else sorted(set(changed)))
        return self._changed[1]

    def candidates(self):
        """(mask over ``size`` rows, rows) of the candidate nodes."""
        self.sync()
        return self.mask, self.rows

    def column(self, key, compute, dtype=bool, fill=False, usage=True,
               one_row=None):
        """The derived column ``key``: ``compute(rows)`` (values for an
        int array of candidate rows) at every candidate row, ``fill``
        elsewhere. Read only; it changes in place when the table does.
        ``usage=False`` says ``compute`` reads nothing a usage change
        writes (see ``HostTable._usage_changed``): such a change then
        leaves the column as it is. ``one_row(row)``, when given, is
        ``compute`` on one int row (the same rule on numbers, the same
        value): what a usage change of a few rows computes again, without
        numpy's cost per call on arrays of one."""
        table = self.table
        found = self.columns.get(key)
        if found is not None:
            version = table.version
            if found.version == version:
                return found.values     # made at this version
            if self.version != version:
                self.sync()             # may drop every column
            if self.columns.get(key) is found and \
                    self._caught_up(found, compute, usage, one_row):
                return found.values
        self.sync()
        if len(self.columns) >= MAX_COLUMNS:
            self.columns.clear()
        values = np.full(table.size, fill, dtype=dtype)
        if len(self.rows):
            values[self.rows] = compute(self.rows)
        self.columns[key] = _Column(values, table.version)
        return values

    def _caught_up(self, found, compute, usage, one_row=None):
        """Bring column ``found`` to the table's version: its changed
        candidate rows computed again (none when ``compute`` reads no
        usage), one by one with ``one_row`` when there are few; False
        when the log no longer reaches back."""
        if usage:
            rows = self._changed_candidates(found.version)
            if rows is None:
                return False
            if one_row is not None and len(rows) <= FEW_ROWS:
                values = found.values
                for row in rows.tolist():
                    values[row] = one_row(row)
            elif len(rows):
                found.values[rows] = compute(rows)
        found.version = self.table.version
        return True

    def _changed_candidates(self, version):
        """The candidate rows (an int array) among ``changed_rows``, or
        None; the last answer is kept (read after ``sync``: the mask is
        the one of the table's version)."""
        asked = (version, self.table.version)
        if self._candidates_changed[0] != asked:
            changed = self.changed_rows(version)
            if changed is not None:
                mask = self.mask
                changed = np.asarray([row for row in changed if mask[row]],
                                     dtype=np.intp)
            self._candidates_changed = (asked, changed)
        return self._candidates_changed[1]

    def value(self, key, compute):
        """``compute()`` once per table state (nothing but a usage change
        in between) and ``key``: for what depends only on the candidates
        and on columns a usage change never writes."""
        self.sync()
        if key not in self.values:
            if len(self.values) >= MAX_COLUMNS:
                self.values.clear()
            self.values[key] = compute()
        return self.values[key]

    def constant(self, name):
        """Whether table column ``name`` holds one number on every
        candidate row (NaN never counts as one). A usage change keeps the
        answer when the rows it changed still hold that number; when they
        do not, the answer is False until the next rebuild (never wrong,
        at worst not known)."""
        table = self.table
        found = self.constants.get(name)
        if found is not None and found[1] == table.version:
            return found[0] is not None
        self.sync()
        found = self.constants.get(name)
        if found is not None and found[0] is None:
            found[1] = table.version    # not known until the next rebuild
        elif found is not None:
            changed = self.changed_rows(found[1])
            if changed is None:
                found = None
            else:
                column = table.columns[name]
                if found[0] is not None and any(
                        self.mask[row] and not column[row] == found[0]
                        for row in changed):
                    found[0] = None
                found[1] = table.version
        if found is None:
            values = row_runs.take(table.columns[name], self.rows)
            one = values[0] if len(values) and \
                values.min() == values.max() else None
            found = self.constants[name] = [one, table.version]
        return found[0] is not None


def of(table):
    """The Derived store of ``table`` (made on first use)."""
    store = table.__dict__.get("_derived")
    if store is None:
        store = table.__dict__["_derived"] = Derived(table)
    return store
