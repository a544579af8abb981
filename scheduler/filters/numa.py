"""NUMATopologyFilter: the guest's NUMA cells must fit the host's.

Nova's semantics (``numa_topology_filter.py``), reproduced:

* a guest with dedicated CPUs and thread policy ``require`` fails on a host
  without SMT sibling threads;
* a guest with a NUMA topology fails on a host without one; a host with a
  NUMA topology passes a guest without one;
* otherwise :func:`hoststate.hardware.numa.fit_instance_to_host` must place
  the guest, with the node's allocation ratios as the per-cell limits
  (:func:`numa_limits`) and, when the guest asks for PCI devices, the
  requests and the node's pools in view (cells with devices first, a
  placement only if its cells serve the devices under their NUMA
  affinity policy), exactly as the claims will (``hardware.consumption.
  fit_devices``).

The exact fit is Python work per host, so it runs in two stages. First a
necessary condition, vectorized: per distinct host topology (an interned
column, see ``scheduler.interned``) a few totals are computed once and
cached on the column (cells, shared CPUs, free dedicated CPUs, memory,
SMT), then compared with the request's totals for every row at once. Then
the exact fit runs on the survivors once per distinct (topology, cpu
ratio, ram ratio) - a ratio the guest cannot be affected by is left out
of the key; the pool list joins the key only for a guest with PCI
requests (without any, the order the pools put the cells in changes
which cells are chosen, never whether the guest fits) - and the answer
is scattered back to the rows.

A fit costs milliseconds (it clones objects), so its outcome is also
kept across calls, keyed by what it depends on: the guest's cells and PCI
requests (the request's part), the host topology's text, the pool list's
text (with PCI requests) and the ratios that matter. A
second instance of a request, or the next request of the same flavor,
fits only on topologies it has not met (a claim changes a host's text).

The fit helpers here (:func:`numa_limits`, :func:`distinct`) serve the
PciPassthroughFilter and the in-memory consumption too.
"""
import collections

import numpy as np

from hoststate.hardware import numa as hw_numa
from hoststate.objects import fields
from hoststate.objects import numa as numa_obj
from hoststate.scheduler import filters
from hoststate.scheduler.filters import pci_pools

_REQUIRE = fields.CPUThreadAllocationPolicy.REQUIRE

#: Per distinct host topology: what any guest placed on it is bounded by.
SUMMARY_DTYPE = np.dtype([
    ("cells", np.int64),        # number of NUMA cells (0: no topology)
    ("shared", np.int64),       # shared CPUs over all cells
    ("free_pcpus", np.int64),   # free dedicated CPUs over all cells
    ("memory_kb", np.float64),  # per cell the most a guest cell may take
    ("threads", bool),          # some core has SMT sibling threads
])


def host_summary(topology):
    """Totals of one host topology that bound any fit on it (one tuple of
    SUMMARY_DTYPE). A guest cell takes at most its host cell's memory, or
    the pages of one size (all of them, for a floating guest without a
    page size), so per cell the larger of the two."""
    if topology is None or not topology.cells:
        return (0, 0, 0, 0.0, False)
    memory_kb = 0.0
    for cell in topology.cells:
        pages_kb = max((p.total_kb for p in cell.mempages), default=0)
        memory_kb += max(cell.memory * 1024, pages_kb)
    return (len(topology.cells),
            sum(len(cell.cpuset) for cell in topology.cells),
            sum(cell.avail_pcpus for cell in topology.cells),
            memory_kb, hw_numa.host_has_threads(topology))


def host_summaries(table):
    """SUMMARY_DTYPE records by numa_topology code (cached on the column,
    extended as new topologies arrive)."""
    return table.interned["numa_topology"].map(host_summary,
                                               dtype=SUMMARY_DTYPE)


class NUMARequestShape:
    """The guest's NUMA request reduced to what the vectorized stage and
    the dedup keys need; built once per filter call."""

    def __init__(self, topology, pci_requests=()):
        self.topology = topology
        #: the InstancePCIRequest list the fit keeps in view ([]: none)
        self.pci_requests = list(pci_requests)
        cells = list(topology.cells)
        split = [hw_numa.split_cpus(cell) for cell in cells]
        self.cells = len(cells)
        self.shared = sum(len(shared) for shared, _ in split)
        reserve = 1 if (topology.emulator_threads_isolated and split
                        and split[0][1]) else 0
        self.pinned = sum(len(pinned) for _, pinned in split) + reserve
        self.memory_kb = float(sum(cell.memory for cell in cells) * 1024)
        # pin_cell's require policy fails on a cell without SMT, so a
        # host without any is out (Nova checks this for dedicated guests).
        self.wants_smt = any(pinned and cell.cpu_thread_policy == _REQUIRE
                             for cell, (_, pinned) in zip(cells, split))
        # fit_cell reads both ratios only for guest cells with floating
        # CPUs (shared or mixed), page size or not
        self.uses_cpu_ratio = self.uses_ram_ratio = self.shared > 0
        #: every guest field the fit reads, for the fit cache key
        self.signature = (topology.emulator_threads_policy, tuple(
            (cell.id, tuple(sorted(cell.cpuset)),
             tuple(sorted(cell.pcpuset)), cell.memory, cell.pagesize,
             cell.cpu_policy, cell.cpu_thread_policy) for cell in cells),
            _pci_signature(self.pci_requests))

    @classmethod
    def of(cls, request):
        topology = request.numa_request
        if topology is None or not topology.cells:
            return None
        return cls(topology, pci_pools.request_list(request))

    def describe(self):
        return ("%d cells, %d shared + %d dedicated vCPUs, %d MiB"
                % (self.cells, self.shared, self.pinned,
                   self.memory_kb // 1024))


def _pci_signature(requests):
    """Every field of the PCI requests the fit reads, hashable."""
    return tuple((request.count, request.numa_policy, tuple(
        tuple(sorted((str(k), str(v)) for k, v in spec.items()))
        for spec in request.spec or ())) for request in requests)


def wants_smt(request):
    """Whether the request pins CPUs under thread policy ``require``."""
    shape = NUMARequestShape.of(request)
    return shape is not None and shape.wants_smt


# --- limits and the exact fit ------------------------------------------------

def _ratios(table, rows):
    """(cpu ratios, ram ratios) at ``rows``, as the claim reads them (an
    unset ratio, 0, counts as 1)."""
    cpu = table.cpu_allocation_ratio[rows]
    ram = table.ram_allocation_ratio[rows]
    return np.where(cpu == 0, 1.0, cpu), np.where(ram == 0, 1.0, ram)


def numa_limits(table, row):
    """The NUMATopologyLimits a claim on ``row``'s node enforces: the
    node's cpu and ram allocation ratios (the manager puts them in the
    Selection's SchedulerLimits)."""
    cpu, ram = _ratios(table, np.asarray([row]))
    return numa_obj.NUMATopologyLimits(cpu_allocation_ratio=float(cpu[0]),
                                       ram_allocation_ratio=float(ram[0]))


def fit_at(table, row, shape):
    """The guest of ``shape`` fitted to ``row``'s host under its limits,
    with its PCI requests and the node's pools in view when it has
    any (a Fit)."""
    pci_stats = pci_pools.stats_at(table, row) if shape.pci_requests \
        else None
    return hw_numa.fit_instance_to_host(
        table.value("numa_topology", row), shape.topology,
        numa_limits(table, row), pci_requests=shape.pci_requests,
        pci_stats=pci_stats)


def fit_keys(table, rows, shape):
    """Per row, the columns its fit depends on: numa code, cpu ratio, ram
    ratio (a ratio the request cannot be affected by is 0), and the
    pci_stats code when the request has PCI requests."""
    cpu, ram = _ratios(table, rows)
    zeros = np.zeros(len(rows))
    keys = (table.codes("numa_topology")[rows],
            cpu if shape.uses_cpu_ratio else zeros,
            ram if shape.uses_ram_ratio else zeros)
    if shape.pci_requests:
        keys += (table.codes("pci_stats")[rows],)
    return keys


def distinct(*columns):
    """(position of a first row per distinct key, inverse per row), the
    key of a row being its values in ``columns`` (equal-length arrays).

    Each column is made dense ints by a 1-D unique and folded into one
    int key: much faster than ``np.unique(axis=0)``, which sorts rows as
    opaque bytes.
    """
    n = len(columns[0])
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    combined = np.zeros(n, dtype=np.int64)
    for column in columns:
        values, inverse = np.unique(column, return_inverse=True)
        if len(values) > 1:
            combined = np.unique(combined * len(values) + inverse,
                                 return_inverse=True)[1]
    _, first, inverse = np.unique(combined, return_index=True,
                                  return_inverse=True)
    return first, inverse.reshape(-1)


#: What the filters keep of a Fit: whether it fits and the host cell ids
#: the guest cells went to (None when it does not fit).
FitOutcome = collections.namedtuple("FitOutcome", "fits cells")

#: Fit outcomes by (guest signature, host topology text, cpu ratio, ram
#: ratio[, pool list text]); emptied when full (plain dict operations:
#: safe across threads).
_FIT_CACHE = {}
FIT_CACHE_SIZE = 4096


def _outcome(fit):
    cells = None if fit.topology is None else \
        tuple(cell.id for cell in fit.topology.cells)
    return FitOutcome(fit.fits, cells)


def fit_groups(table, rows, shape):
    """(outcomes, inverse): one FitOutcome per distinct fit key among
    ``rows`` and, per row, the index of its outcome."""
    keys = fit_keys(table, rows, shape)
    codes, cpu, ram = keys[:3]
    first, inverse = distinct(*keys)
    texts = table.interned["numa_topology"].keys
    pool_texts = table.interned["pci_stats"].keys
    outcomes = []
    for i in first:
        cache_key = (shape.signature, texts[codes[i]], float(cpu[i]),
                     float(ram[i]))
        if shape.pci_requests:
            cache_key += (pool_texts[keys[3][i]],)
        outcome = _FIT_CACHE.get(cache_key)
        if outcome is None:
            outcome = _outcome(fit_at(table, int(rows[i]), shape))
            if len(_FIT_CACHE) >= FIT_CACHE_SIZE:
                _FIT_CACHE.clear()
            _FIT_CACHE[cache_key] = outcome
        outcomes.append(outcome)
    return outcomes, inverse


# --- the filter --------------------------------------------------------------

def totals_allow(table, rows, shape):
    """Mask over ``rows``: the host's totals leave room for the guest.

    Necessary for a fit: guest cells go to distinct host cells and none
    takes more shared CPUs, free dedicated CPUs or memory than its host
    cell has, so no sum over the guest can exceed the sum over the host.
    Decided per distinct topology, then gathered by row.
    """
    summary = host_summaries(table)
    ok = ((summary["cells"] >= shape.cells)
          & (summary["shared"] >= shape.shared)
          & (summary["free_pcpus"] >= shape.pinned)
          & (summary["memory_kb"] >= shape.memory_kb))
    if shape.wants_smt:
        ok &= summary["threads"]
    return ok[table.codes("numa_topology")[rows]]


class NUMATopologyFilter(filters.BaseHostFilter):
    """Hosts whose NUMA cells can take the guest's (see module doc)."""

    SHORT_OF = "numa"

    def filter_mask(self, table, rows, request):
        shape = NUMARequestShape.of(request)
        if shape is None:
            return filters.all_rows_pass(rows)
        mask = totals_allow(table, rows, shape)
        survivors = rows[mask]
        if len(survivors):
            fits, inverse = fit_groups(table, survivors, shape)
            fitting = np.fromiter((fit.fits for fit in fits), dtype=bool,
                                  count=len(fits))
            mask[mask] = fitting[inverse]
        return mask

    def explain(self, table, removed_rows, request):
        """How many hosts lack a topology or SMT, how many fall short in
        total, and the fit's own reasons for the first host that got as
        far as the fit (or fell short)."""
        shape = NUMARequestShape.of(request)
        if shape is None or len(removed_rows) == 0:
            return None
        summary = host_summaries(table)[
            table.codes("numa_topology")[removed_rows]]
        no_topology = summary["cells"] == 0
        no_smt = ~no_topology & ~summary["threads"] if shape.wants_smt \
            else np.zeros(len(removed_rows), dtype=bool)
        short = ~no_topology & ~no_smt & ~totals_allow(table, removed_rows,
                                                       shape)
        parts = []
        if no_topology.any():
            parts.append("%d hosts have no NUMA topology"
                         % no_topology.sum())
        if no_smt.any():
            parts.append("%d hosts have no SMT sibling threads (thread "
                         "policy require)" % no_smt.sum())
        if short.any():
            parts.append("%d hosts have too few cells, CPUs or memory in "
                         "all for %s" % (short.sum(), shape.describe()))
        rest = removed_rows[~no_topology & ~no_smt]
        if len(rest):
            row = int(rest[0])
            reasons = fit_at(table, row, shape).reasons
            if reasons:
                parts.append("%s (%s): %s" % (
                    table.host_of(row), table.nodename_of(row),
                    "; ".join(reasons[:2])))
        return "; ".join(parts) or None
