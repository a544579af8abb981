"""PciPassthroughFilter: the host's free PCI devices must meet the requests.

Nova's semantics (``pci_passthrough_filter.py``): without PCI requests
every host passes; a host without PCI pools fails; otherwise the host's
pools must support every request together
(:meth:`hoststate.hardware.pci.PciDeviceStats.support_requests`), with no
NUMA cells: the devices' NUMA affinity is the NUMATopologyFilter's, which
fits the guest's cells with the devices in view (``filters.numa``), as
the claims do (``hardware.consumption.fit_devices``). A host both filters
pass is one the claim accepts: a placement whose cells serve the devices
serves them without cells too.

Two stages, as in the NUMA filter: the free device count per distinct pool
list (cached on the interned column) must reach the devices requested in
all, vectorized; then ``support_requests`` runs once per distinct pool
list.
"""
import numpy as np

from hoststate.scheduler import filters
from hoststate.scheduler.filters import numa as numa_filter
from hoststate.scheduler.filters import pci_pools


def count_allows(table, rows, wanted):
    """Mask over ``rows``: the host has pools with ``wanted`` devices free
    in all (necessary: every request takes its own devices)."""
    free = pci_pools.free_by_code(table)
    return free[table.codes("pci_stats")[rows]] >= wanted


def _rejection(table, row, requests):
    stats = pci_pools.stats_by_code(table)[table.codes("pci_stats")[row]]
    if stats is None:
        return "no PCI devices"
    return stats.rejection(requests)


class PciPassthroughFilter(filters.BaseHostFilter):
    """Hosts whose free PCI devices meet the request (see module doc)."""

    SHORT_OF = "pci"

    def filter_mask(self, table, rows, request):
        requests = pci_pools.request_list(request)
        if not requests:
            return filters.all_rows_pass(rows)
        wanted = sum(r.count for r in requests)
        mask = count_allows(table, rows, wanted)
        survivors = rows[mask]
        if len(survivors):
            mask[mask] = self._supported(table, survivors, requests)
        return mask

    def _supported(self, table, rows, requests):
        """support_requests once per distinct pool list among ``rows``."""
        first, inverse = numa_filter.distinct(table.codes("pci_stats")[rows])
        ok = np.fromiter(
            (_rejection(table, int(rows[i]), requests) is None
             for i in first), dtype=bool, count=len(first))
        return ok[inverse]

    def explain(self, table, removed_rows, request):
        """Hosts without pools, hosts short of devices in all, and the
        first failing request of the first host that had enough."""
        requests = pci_pools.request_list(request)
        if not requests or len(removed_rows) == 0:
            return None
        wanted = sum(r.count for r in requests)
        codes = table.codes("pci_stats")[removed_rows]
        stats = pci_pools.stats_by_code(table)[codes]
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
            reason = _rejection(table, row, requests)
            if reason is not None:
                parts.append("%s (%s): %s" % (table.host_of(row),
                                               table.nodename_of(row),
                                               reason))
        return "; ".join(parts) or None
