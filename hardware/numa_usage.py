"""A host's NUMA usage with one placed guest added or removed.

:func:`usage_from_instance` is Nova's ``numa_usage_from_instance_numa``.
For every host cell a placed guest cell sits on (same ``id``):

* ``memory_usage`` changes by the guest cell's MiB (whatever its pages:
  memory_usage counts all guest memory, as in Nova);
* ``cpu_usage`` changes by its floating vCPUs (``cpuset``);
* its pinned host CPUs (``cpu_pinning`` values and ``cpuset_reserved``)
  are pinned or unpinned through NUMACell.pin_cpus / unpin_cpus - with
  their sibling threads under the ``isolate`` thread policy - so pinning a
  pinned CPU or unpinning a free one raises the typed errors of
  objects/numa.py;
* the ``used`` pages of the guest's page size change by the guest
  memory in pages (rounded up); a guest without a page size uses pages of
  the host cell's smallest size, as in Nova 34 (a pinned guest, which
  fits against free small pages, then sees the memory of every guest on
  the cell).

Removal never takes a count below zero (clamped, as Nova's ``max(0, ...)``)
but pinning errors always raise. Guest cells on a cell the host does not
have are ignored, as Nova does (a host that lost a cell must still be able
to count the rest).
"""
from hoststate.hardware import numa_fit
from hoststate.hardware.numa_errors import NUMACellNotPlaced
from hoststate.hardware.numa_pages import is_page_size_word
from hoststate.objects import fields

_ISOLATE = fields.CPUThreadAllocationPolicy.ISOLATE


def _pages_delta(memory_mb, size_kb):
    return -(-memory_mb * 1024 // size_kb)          # ceil


def _check_placed(guest_cell):
    if is_page_size_word(guest_cell.pagesize):
        raise NUMACellNotPlaced(
            cell=guest_cell.id,
            reason="its page size request was never resolved to a size")
    _, dedicated = numa_fit.split_cpus(guest_cell)
    if dedicated and not guest_cell.cpu_pinning:
        raise NUMACellNotPlaced(
            cell=guest_cell.id,
            reason="vCPUs %s are to be pinned but have no pinning"
                   % sorted(dedicated))


def _smallest_page(host_cell):
    """The smallest page size (KiB) the host cell reports, or None."""
    return min((p.size_kb for p in host_cell.mempages or ()), default=None)


def usage_from_instance(host_topology, instance_topology, free=False):
    """A new NUMATopology: ``host_topology`` plus (or, with ``free``,
    minus) the usage of the placed ``instance_topology``.

    None for a None host; a copy of the host for a None guest. Neither
    input is changed. Raises NUMACellNotPlaced for a guest cell that was
    never fitted, and the CPU(Un)Pinning errors for inconsistent pinning.
    """
    if host_topology is None:
        return None
    result = host_topology.obj_clone()
    if instance_topology is None:
        return result
    sign = -1 if free else 1
    for host_cell in result.cells:
        memory_usage = host_cell.memory_usage
        cpu_usage = host_cell.cpu_usage
        for guest_cell in instance_topology.cells:
            if guest_cell.id != host_cell.id:
                continue
            _check_placed(guest_cell)
            shared, _ = numa_fit.split_cpus(guest_cell)
            memory_usage += sign * guest_cell.memory
            cpu_usage += sign * len(shared)
            size_kb = guest_cell.pagesize or _smallest_page(host_cell)
            for pages in host_cell.mempages or ():
                if pages.size_kb == size_kb:
                    delta = _pages_delta(guest_cell.memory, pages.size_kb)
                    pages.used = max(0, pages.used + sign * delta)
            pinned = set((guest_cell.cpu_pinning or {}).values())
            pinned |= set(guest_cell.cpuset_reserved or ())
            if not pinned:
                continue
            isolate = guest_cell.cpu_thread_policy == _ISOLATE
            if free:
                if isolate:
                    host_cell.unpin_cpus_with_siblings(pinned)
                else:
                    host_cell.unpin_cpus(pinned)
            elif isolate:
                host_cell.pin_cpus_with_siblings(pinned)
            else:
                host_cell.pin_cpus(pinned)
        host_cell.memory_usage = max(0, memory_usage)
        host_cell.cpu_usage = max(0, cpu_usage)
    return result
