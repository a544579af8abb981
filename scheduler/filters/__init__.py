"""Host filters: each turns the request and the host-state table into a
boolean mask over candidate rows.

A filter implements ``filter_mask(table, rows, request)``: ``rows`` are the
row indices still candidates (an int array, in table order), the result is a
bool array of the same length. Cheap filters are one vector expression over
columns gathered at ``rows``; filters with per-host work (NUMA fit, PCI
pools, JSON queries) apply a vectorized necessary condition first and run
the exact check from ``hoststate.hardware`` only on what is left, once per
distinct document (see ``scheduler.interned``).

``explain(table, removed_rows, request)`` may say why hosts were removed
(for capacity: which resource, requested and at most free), and
``shortfalls(...)`` says it as ``hardware.capacity.Shortfall``s; NoValidHost
carries both in its FilterOutcomes.
"""
import numpy as np

# (not as ``capacity``: that is the name of this package's capacity filters)
from hoststate.hardware import capacity as hw_capacity
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


def run_filters(filters, table, rows, request, outcomes=None):
    """Run ``filters`` in order on ``rows``; stop at zero hosts.

    Returns the surviving rows. When ``outcomes`` is a list, a
    FilterOutcome is appended for each filter that removed hosts (with its
    explanation only when it removed every host left, so a successful
    request pays nothing for it).
    """
    for host_filter in filters:
        if not host_filter.run_for(request):
            continue
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
    return rows


def all_rows_pass(rows):
    return np.ones(len(rows), dtype=bool)


def load(conf, names=None):
    """The enabled filters (``[filter_scheduler] enabled_filters``)."""
    if names is None:
        names = conf.filter_scheduler.enabled_filters
    return plugins.filters.load(list(names), conf)
