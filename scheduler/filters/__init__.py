"""Host filters: each turns the request and the host-state table into a
boolean mask over candidate rows.

A filter implements ``filter_mask(table, rows, request)``: ``rows`` are the
row indices still candidates (an int array, in table order), the result is a
bool array of the same length. Cheap filters are one vector expression over
columns gathered at ``rows``; filters with per-host work (NUMA fit, PCI
pools, JSON queries) apply a vectorized necessary condition first and run
the exact check from ``hoststate.hardware`` only on what is left, once per
distinct document (see ``scheduler.interned``).

A filter whose mask is element-wise says what of the request it reads
(``mask_key``): the scheduler then keeps its mask over every candidate as
a derived column (``scheduler.derived``), refreshed as the table changes,
and when every filter of a request is such, the whole run
(``scheduler.filter_chain``).

``explain(table, removed_rows, request)`` may say why hosts were removed
(for capacity: which resource, requested and at most free), and
``shortfalls(...)`` says it as ``hardware.capacity.Shortfall``s; NoValidHost
carries both in its FilterOutcomes.
"""
import numpy as np

# (not as ``capacity``: that is the name of this package's capacity filters)
from hoststate.hardware import capacity as hw_capacity
from hoststate.hardware import row_runs
from hoststate.scheduler import filter_chain
from hoststate.scheduler import plugins


class BaseHostFilter:
    """One filter. Subclasses set the class attributes and filter_mask."""

    #: Skip this filter for the second and later instances of a request.
    run_filter_once_per_request = False
    #: On a rebuild (hint _nova_check_type=rebuild) the filter still runs;
    #: otherwise every host passes.
    RUN_ON_REBUILD = False
    #: The resource a filter whose explanation is text only stands for
    #: ("numa", "pci"): when it removes every host, its shortfall names
    #: that resource and carries the explanation, without numbers.
    SHORT_OF = None

    def __init__(self, conf):
        self.conf = conf

    @property
    def name(self):
        return type(self).__name__

    def run_for(self, request):
        """Whether this filter applies to ``request`` at its index."""
        if self.run_filter_once_per_request and request.index > 0:
            return False
        if request.is_rebuild and not self.RUN_ON_REBUILD:
            return False
        return True

    def filter_mask(self, table, rows, request):
        raise NotImplementedError

    #: ``filter_mask`` also takes one int row, and gives that row's
    #: answer (a bool, by the same rule): a derived mask then computes
    #: again the few rows a usage change touched one by one.
    MASK_OF_ONE_ROW = False
    #: Whether the mask reads what a usage change (a claim, a consume)
    #: writes: then a derived mask is computed again on the rows changed.
    MASK_READS_USAGE = True

    def mask_reads_usage(self, request):
        """``MASK_READS_USAGE`` for ``request`` (a filter whose columns
        depend on the request says which)."""
        return self.MASK_READS_USAGE

    def mask_key(self, request):
        """What of ``request`` this filter's mask depends on (hashable),
        when the mask is element-wise (each row's answer reads that row's
        columns and nothing else) and never None: it is then kept as a
        derived column (``scheduler.derived``) per table state and key.
        None (the default): computed per request."""
        return None

    def explain(self, table, removed_rows, request):
        """A sentence on why ``removed_rows`` failed, or None."""
        return None

    def shortfalls(self, table, removed_rows, request, detail):
        """The Shortfalls behind ``detail`` (this filter's explanation of
        removing every row of ``removed_rows``): by default one without
        numbers for a filter that names its resource in ``SHORT_OF``,
        else none. Capacity filters give their numbers."""
        if self.SHORT_OF is None or detail is None:
            return []
        return [hw_capacity.Shortfall(self.SHORT_OF, detail=detail)]


class FilterOutcome:
    """What one filter run did: how many hosts it removed, and why (the
    text ``detail``, and ``shortfalls`` when it removed every host left and
    can say which resource was short)."""

    __slots__ = ("name", "before", "removed", "detail", "shortfalls")

    def __init__(self, name, before, removed, detail=None, shortfalls=()):
        self.name = name
        self.before = before
        self.removed = removed
        self.detail = detail
        self.shortfalls = tuple(shortfalls)

    def __str__(self):
        text = f"{self.name} removed {self.removed} of {self.before} hosts"
        return f"{text} ({self.detail})" if self.detail else text

    def __repr__(self):
        return f"FilterOutcome({self})"


def run_filters(filters, table, rows, request, outcomes=None, store=None):
    """Run ``filters`` in order on ``rows``; stop at zero hosts.

    Returns the surviving rows. When ``outcomes`` is a list, a
    FilterOutcome is appended for each filter that removed hosts (with its
    explanation only when it removed every host left, so a successful
    request pays nothing for it).

    With ``store`` (the table's ``derived.Derived``; every row of ``rows``
    must be a candidate) a filter with a ``mask_key`` reads its derived
    column, and the survivors are a mask over the table until a filter
    without one needs them as rows: no gather, no copy per filter. When
    every filter has one, the run is ``filter_chain``'s, and the rows it
    returns are read-only (shared by the selects that read them).
    """
    running = [(f, None if store is None else f.mask_key(request))
               for f in filters if f.run_for(request)]
    if store is not None and all(key is not None for _, key in running):
        # every filter reads a derived column: the run itself is kept
        kept = filter_chain.survivors(store, table, rows, request, running)
        if kept is not None:
            survivors, removed = kept
            if outcomes is not None:
                outcomes.extend(FilterOutcome(f.name, before, count)
                                for f, before, count in removed)
            return survivors
    alive = None                # mask over the table, while one is read
    for host_filter, key in running:
        if key is not None:
            if alive is None:
                alive = _mask_of(rows, table.size)
            rows, alive = _apply_derived(host_filter, key, table, rows,
                                         alive, request, outcomes, store)
            if len(rows) == 0:
                return rows
            continue
        if alive is not None:
            rows, alive = row_runs.of(np.flatnonzero(alive)), None
        mask = host_filter.filter_mask(table, rows, request)
        if mask is None:
            if outcomes is not None:
                outcomes.append(FilterOutcome(
                    host_filter.name, len(rows), len(rows),
                    "the filter gave no answer, which stops filtering"))
            return rows[:0]
        if mask.all():
            continue                  # nothing removed: no copy
        kept = rows[mask]
        if outcomes is not None and len(kept) < len(rows):
            detail, shortfalls = None, ()
            if len(kept) == 0:
                detail = host_filter.explain(table, rows, request)
                shortfalls = host_filter.shortfalls(table, rows, request,
                                                    detail)
            outcomes.append(FilterOutcome(host_filter.name, len(rows),
                                          len(rows) - len(kept), detail,
                                          shortfalls))
        rows = kept
        if len(rows) == 0:
            break
    if alive is not None:
        rows = row_runs.of(np.flatnonzero(alive))
    return rows


def _mask_of(rows, size):
    """``rows`` as a mask over ``size`` rows."""
    mask = np.zeros(size, dtype=bool)
    mask[getattr(rows, "span", None) or rows] = True
    return mask


def _apply_derived(host_filter, key, table, rows, alive, request, outcomes,
                   store):
    """One filter read from its derived column: (rows, mask) after it.
    While hosts are left, ``rows`` only stands for their count (the
    survivors are ``alive``); with none left it is an empty row array."""
    column = filter_chain.mask_column(store, table, host_filter, key,
                                      request)
    kept_mask = alive & column
    before = len(rows)
    kept = int(np.count_nonzero(kept_mask))
    if kept == before:
        return rows, alive
    if outcomes is not None:
        detail, shortfalls = None, ()
        if kept == 0:
            removed = np.flatnonzero(alive)
            detail = host_filter.explain(table, removed, request)
            shortfalls = host_filter.shortfalls(table, removed, request,
                                                detail)
        outcomes.append(FilterOutcome(host_filter.name, before,
                                      before - kept, detail, shortfalls))
    if kept == 0:
        return np.zeros(0, dtype=np.intp), kept_mask
    return _Count(kept), kept_mask


class _Count:
    """How many rows survive, while they are a mask (see run_filters)."""

    __slots__ = ("count",)

    def __init__(self, count):
        self.count = count

    def __len__(self):
        return self.count


def all_rows_pass(rows):
    return np.ones(len(rows), dtype=bool)


def load(conf, names=None):
    """The enabled filters (``[filter_scheduler] enabled_filters``)."""
    if names is None:
        names = conf.filter_scheduler.enabled_filters
    return plugins.filters.load(list(names), conf)
