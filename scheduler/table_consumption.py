"""An instance counted into (or out of) a host-state table row, in memory.

Nova's consume_from_request, for a scheduler that does not claim in a
database (simulations without one, benchmarks, tests): cpu, memory and
disk, the NUMA cells the fit chose and the PCI devices taken. What was
taken is returned, so that giving it back restores the row exactly.
"""
import dataclasses

from hoststate.hardware import numa as hw_numa
from hoststate.hardware import pci as hw_pci
from hoststate.objects import numa as numa_obj

#: Interned columns a consumption rewrites.
DOCUMENTS = ("numa_topology", "pci_stats")


@dataclasses.dataclass(frozen=True)
class Taken:
    vcpus: float
    memory_mb: float
    disk_mb: float
    documents_before: dict


def consume(table, row, request):
    """Count one instance of ``request`` into ``row``; what was taken."""
    before = {name: table.interned[name].keys[table.codes(name)[row]]
              for name in DOCUMENTS}
    documents = {}
    numa = _numa_usage(table, row, request)
    if numa is not None:
        documents["numa_topology"] = numa
    pci = _pci_pools(table, row, request)
    if pci is not None:
        documents["pci_stats"] = pci
    table.consume(row, request.vcpus, request.memory_mb, request.disk_mb,
                  documents)
    return Taken(request.vcpus, request.memory_mb, request.disk_mb, before)


def give_back(table, row, taken):
    """Undo ``consume``: the amounts out, the documents as they were."""
    table.consume(row, -taken.vcpus, -taken.memory_mb, -taken.disk_mb,
                  taken.documents_before, count=-1)


def _numa_usage(table, row, request):
    if request.numa_request is None:
        return None
    topology = table.value("numa_topology", row)
    if topology is None:
        return None
    limits = numa_obj.NUMATopologyLimits(
        cpu_allocation_ratio=float(table.cpu_allocation_ratio[row]),
        ram_allocation_ratio=float(table.ram_allocation_ratio[row]))
    fit = hw_numa.fit_instance_to_host(topology, request.numa_request, limits)
    if not fit.fits:
        return None
    return hw_numa.usage_from_instance(topology, fit.topology).to_json()


def _pci_pools(table, row, request):
    if request.pci_requests is None or not request.pci_requests.requests:
        return None
    stats = hw_pci.PciDeviceStats.from_pools(table.value("pci_stats", row))
    try:
        stats.apply_requests(request.pci_requests)
    except hw_pci.PciDeviceRequestFailed:
        return None
    return stats.to_pool_list().to_json()
