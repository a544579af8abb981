"""PciPassthroughFilter: the host's free PCI devices must meet the requests.

Nova's semantics (``pci_passthrough_filter.py``): without PCI requests
every host passes; a host without PCI pools fails; otherwise the host's
pools must support every request together
(:meth:`hoststate.hardware.pci.PciDeviceStats.support_requests`).

NUMA affinity: when the guest has a NUMA topology, the requests are
checked against the host cells the guest is fitted to (under the node's
ratios, see ``filters.numa``), with the host topology for the ``socket``
policy - the same call, on the same cells, as the tracker's claim
(``hardware.consumption.fit``), so a host this filter passes is one the
claim accepts. Where the guest does not fit at all, the claim checks the
devices without NUMA cells, and so does this filter (the
NUMATopologyFilter is what rejects such a host).

Two stages, as in the NUMA filter: the free device count per distinct pool
list (cached on the interned column) must reach the devices requested in
all, vectorized; then ``support_requests`` runs once per distinct pool
list - or, with a NUMA request, per distinct (pool list, host topology,
fitted cells).
"""
import numpy as np

from hoststate.hardware import pci as hw_pci
from hoststate.scheduler import filters
from hoststate.scheduler.filters import numa as numa_filter


def device_stats(pools):
    """The PciDeviceStats of a node's pool list, None without pools."""
    return None if pools is None else hw_pci.PciDeviceStats.from_pools(pools)


def free_devices(pools):
    """Free devices of a pool list; -1 without pools (so that no request
    count, always at least 1, is met)."""
    return -1 if pools is None else device_stats(pools).free_count()


def request_list(request):
    """The request's InstancePCIRequest list ([] when there is none)."""
    requests = request.pci_requests
    if requests is None:
        return []
    return list(getattr(requests, "requests", requests) or ())


def stats_by_code(table):
    """PciDeviceStats by pci_stats code (cached on the column); the stats
    are only read (support_requests works on a copy)."""
    return table.interned["pci_stats"].map(device_stats, dtype=object)


def count_allows(table, rows, wanted):
    """Mask over ``rows``: the host has pools with ``wanted`` devices free
    in all (necessary: every request takes its own devices)."""
    free = table.interned["pci_stats"].map(free_devices, dtype=np.int64)
    return free[table.codes("pci_stats")[rows]] >= wanted


class _Cells:
    """Fitted host cell ids per row, for the rows of one filter call: the
    NUMA fit runs once per distinct fit key (None: no NUMA request)."""

    def __init__(self, table, rows, request):
        self.shape = numa_filter.NUMARequestShape.of(request)
        self.fits = self.inverse = None
        if self.shape is not None and len(rows):
            self.fits, self.inverse = numa_filter.fit_groups(
                table, rows, self.shape)

    def keys(self):
        """Per row, an int naming the cells it was fitted to (-1: none),
        or None without a NUMA request. Fits under other ratios that chose
        the same cells share a key: the devices only see the cells."""
        if self.fits is None:
            return None
        ids = {}
        by_fit = np.fromiter(
            (-1 if fit.cells is None else ids.setdefault(fit.cells, len(ids))
             for fit in self.fits), dtype=np.int64, count=len(self.fits))
        return by_fit[self.inverse]

    def of(self, position):
        """Host cell ids the guest at ``position`` was fitted to, or None
        (no NUMA request, or it does not fit: the claim then uses none)."""
        if self.fits is None:
            return None
        return self.fits[self.inverse[position]].cells


def _rejection(table, row, requests, cells):
    stats = stats_by_code(table)[table.codes("pci_stats")[row]]
    if stats is None:
        return "no PCI devices"
    return stats.rejection(requests, cells,
                           table.value("numa_topology", row))


class PciPassthroughFilter(filters.BaseHostFilter):
    """Hosts whose free PCI devices meet the request (see module doc)."""

    SHORT_OF = "pci"

    def filter_mask(self, table, rows, request):
        requests = request_list(request)
        if not requests:
            return filters.all_rows_pass(rows)
        wanted = sum(r.count for r in requests)
        mask = count_allows(table, rows, wanted)
        survivors = rows[mask]
        if len(survivors):
            mask[mask] = self._supported(table, survivors, request, requests)
        return mask

    def _supported(self, table, rows, request, requests):
        """support_requests per distinct pool list among ``rows`` - with a
        NUMA request, per distinct (pool list, host topology, fitted
        cells): the socket policy reads the host topology."""
        cells = _Cells(table, rows, request)
        codes = table.codes("pci_stats")[rows]
        cell_keys = cells.keys()
        if cell_keys is None:
            first, inverse = numa_filter.distinct(codes)
        else:
            first, inverse = numa_filter.distinct(
                codes, table.codes("numa_topology")[rows], cell_keys)
        ok = np.fromiter(
            (_rejection(table, int(rows[i]), requests, cells.of(i)) is None
             for i in first), dtype=bool, count=len(first))
        return ok[inverse]

    def explain(self, table, removed_rows, request):
        """Hosts without pools, hosts short of devices in all, and the
        first failing request of the first host that had enough."""
        requests = request_list(request)
        if not requests or len(removed_rows) == 0:
            return None
        wanted = sum(r.count for r in requests)
        codes = table.codes("pci_stats")[removed_rows]
        stats = stats_by_code(table)[codes]
        no_pools = np.fromiter((s is None for s in stats), dtype=bool,
                               count=len(codes))
        short = ~no_pools & ~count_allows(table, removed_rows, wanted)
        parts = []
        if no_pools.any():
            parts.append("%d hosts have no PCI devices" % no_pools.sum())
        if short.any():
            parts.append("%d hosts have fewer than %d free PCI devices"
                         % (short.sum(), wanted))
        rest = removed_rows[~no_pools & ~short]
        if len(rest):
            row = int(rest[0])
            cells = _Cells(table, rest[:1], request).of(0)
            reason = _rejection(table, row, requests, cells)
            if reason is not None:
                parts.append("%s (%s): %s" % (table.host_of(row),
                                               table.nodename_of(row),
                                               reason))
        return "; ".join(parts) or None
