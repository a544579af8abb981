"""An instance counted into (or out of) a host-state table row, in memory.

Nova's consume_from_request, for a scheduler that does not claim in a
database (simulations without one, benchmarks, tests): cpu, memory and
disk, the NUMA cells the fit chose and the PCI devices taken. What was
taken is returned, so that giving it back restores the row exactly.
"""
import dataclasses

from hoststate.hardware import consumption as cons
from hoststate.hardware import numa as hw_numa
from hoststate.scheduler.filters import numa as numa_filter

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
    table.consume(row, request.vcpus, request.memory_mb, request.disk_mb,
                  _documents(table, row, request))
    return Taken(request.vcpus, request.memory_mb, request.disk_mb, before)


def give_back(table, row, taken):
    """Undo ``consume``: the amounts out, the documents as they were."""
    table.consume(row, -taken.vcpus, -taken.memory_mb, -taken.disk_mb,
                  taken.documents_before, count=-1)


def _documents(table, row, request):
    """The numa_topology and pci_stats texts of ``row`` with the NUMA
    cells and PCI devices the instance takes there (chosen together, by
    the claims' ``consumption.fit_devices``); a document that does not
    change (nothing asked, or it does not fit) is left out."""
    topology = table.value("numa_topology", row)
    numa_request = request.numa_request if topology is not None else None
    limits = None if numa_request is None else \
        numa_filter.numa_limits(table, row)
    devices = cons.fit_devices(topology, numa_request, limits,
                               request.pci_requests,
                               table.value("pci_stats", row))
    documents = {}
    if devices.numa_topology is not None:
        documents["numa_topology"] = hw_numa.usage_from_instance(
            topology, devices.numa_topology).to_json()
    if devices.allocation is not None:
        documents["pci_stats"] = devices.stats.to_pool_list().to_json()
    return documents
