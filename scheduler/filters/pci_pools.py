"""A node's PCI pools as the filters read them, once per distinct pool list.

Shared by the PciPassthroughFilter (do the free devices meet the
requests?) and the NUMATopologyFilter (which fits the guest's NUMA cells
with the devices in view, as Nova 34 does).
"""
import numpy as np

from hoststate.hardware import pci as hw_pci


def device_stats(pools):
    """The PciDeviceStats of a node's pool list, None without pools."""
    return None if pools is None else hw_pci.PciDeviceStats.from_pools(pools)


def free_devices(pools):
    """Free devices of a pool list; -1 without pools (so that no request
    count, always at least 1, is met)."""
    return -1 if pools is None else device_stats(pools).free_count()


def request_list(request):
    """The request's InstancePCIRequest list ([] when there is none)."""
    return hw_pci.request_list(request.pci_requests)


def stats_by_code(table):
    """PciDeviceStats by pci_stats code (cached on the column); the stats
    are only read (support_requests works on a copy)."""
    return table.interned["pci_stats"].map(device_stats, dtype=object)


def stats_at(table, row):
    """The PciDeviceStats of ``row``'s node; empty (every request fails)
    for a node without pools, as Nova's HostState holds them."""
    stats = stats_by_code(table)[table.codes("pci_stats")[row]]
    return hw_pci.PciDeviceStats() if stats is None else stats


def free_by_code(table):
    """free_devices by pci_stats code (cached on the column)."""
    return table.interned["pci_stats"].map(free_devices, dtype=np.int64)
