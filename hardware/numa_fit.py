"""Fitting a guest NUMA topology onto a host's NUMA cells.

:func:`fit_instance_to_host` is Nova's ``numa_fit_instance_to_host``: the
one check both the scheduler (optimistic, on its snapshot) and the resource
tracker (authoritative, at claim time) run. It never changes its inputs; it
returns a :class:`Fit` holding a new, placed InstanceNUMATopology or the
reasons nothing fits.

Per guest cell on a candidate host cell, in this order (the first failure
is the reason given for that pair):

1. memory. With a page size request, the cell's memory must be a whole
   number of free pages of the chosen size (``small``: the host cell's
   smallest size; ``large``: the largest other size that fits; ``any``:
   the largest size that fits; a number: exactly that size). Pages are
   never overcommitted. Without a page size request, on a host cell that
   reports its pages, the memory must fit in pages of the smallest size:
   the free ones for a guest with pinned CPUs (dedicated or mixed, which
   never overcommit), all of them for a floating one. On a cell that
   reports no pages, a guest with pinned CPUs needs that much memory
   free, a floating one no more than the cell has (a guest never
   overcommits against itself). These are Nova 34's rules.
2. CPU capacity: floating guest CPUs may not outnumber the host cell's
   shared CPUs, nor pinned ones (plus one for isolated emulator threads)
   its dedicated CPUs, whatever the ratios.
3. limits, only when given and only for a guest with floating CPUs
   (shared or mixed, as in Nova): its floating CPUs must stay within
   ``len(cpuset) * cpu_allocation_ratio`` counting ``cpu_usage``, and its
   memory within ``memory * ram_allocation_ratio`` counting
   ``memory_usage``, page size requested or not. Without limits these
   usage checks are skipped, as in Nova (the checks of 1 and 2 still
   hold); a guest with only pinned CPUs is held by 1 instead.
4. pinning, for guest CPUs in ``pcpuset``: they need that many free
   dedicated host CPUs (``pcpuset - pinned_cpus``, never overcommitted),
   placed by the thread policy (see numa_pinning.pin_cell).

A guest of N cells needs N distinct host cells. Host cells are first
ordered by free resources, most free first (Nova's default spreading;
``pack=True`` puts the most used first, like Nova's
``[compute] packing_host_numa_cells_allocation_strategy``) - only when the
host has more cells than the guest. Then guest cell 0 takes the first host
cell it fits on, guest cell 1 the first remaining one, and so on,
backtracking: the result is the first fitting permutation in
``itertools.permutations`` order. So a guest cell may land on a host cell
with another id ("swapped") when that is what fits.

With the guest's PCI requests and the host's pools, the PCI devices are
in view too (numa_pci_fit.py, as Nova 34): host cells holding devices
are tried first (last for a guest without requests), and a permutation
is taken only if the devices can be served on its cells under each
request's NUMA affinity policy.
"""
import dataclasses
import typing

from hoststate.hardware import numa_pci_fit
from hoststate.hardware.numa_pages import choose_page_size
from hoststate.hardware.numa_pinning import pin_cell
from hoststate.objects import fields
from hoststate.objects import numa as numa_obj

_DEDICATED = fields.CPUAllocationPolicy.DEDICATED


@dataclasses.dataclass(frozen=True)
class Fit:
    """The outcome of a fit: a placed topology, or why there is none.

    ``topology`` is the placed InstanceNUMATopology (None when nothing
    fits, or when nothing was requested); ``reasons`` lists human
    sentences, empty exactly when it fits. Unpacks as
    ``topology, reasons = fit``; true when it fits.
    """

    topology: typing.Optional[numa_obj.InstanceNUMATopology]
    reasons: list = dataclasses.field(default_factory=list)

    @property
    def fits(self):
        return not self.reasons

    def __bool__(self):
        return self.fits

    def __iter__(self):
        return iter((self.topology, self.reasons))


def host_has_threads(host_topology):
    """Whether any host cell has a core with more than one thread."""
    if host_topology is None:
        return False
    return any(len(sibling) > 1 for cell in host_topology.cells
               for sibling in cell.siblings)


def split_cpus(guest_cell):
    """(floating guest CPUs, guest CPUs to pin) of ``guest_cell``.

    A cell saved before pcpuset existed keeps a dedicated guest's CPUs in
    ``cpuset``; they are pinned CPUs all the same.
    """
    if guest_cell.cpu_policy == _DEDICATED and not guest_cell.pcpuset:
        return set(), set(guest_cell.cpuset)
    return set(guest_cell.cpuset), set(guest_cell.pcpuset)


# --- limits ------------------------------------------------------------------

def _ratios(limits):
    """(cpu ratio, ram ratio) of ``limits``; None for a limit not given."""
    if limits is None:
        return None, None
    if isinstance(limits, dict):
        get = limits.get
    elif hasattr(limits, "obj_get"):
        get = limits.obj_get
    else:
        def get(name):
            return getattr(limits, name, None)
    return get("cpu_allocation_ratio"), get("ram_allocation_ratio")


def _fmt(number):
    return ("%d" % number) if float(number).is_integer() else ("%g" % number)


# --- one cell ----------------------------------------------------------------

def fit_cell(host_cell, guest_cell, limits=None, reserve=0):
    """(placed copy of ``guest_cell``, None) on ``host_cell``, or
    (None, reason). See the module docstring for the checks."""
    cpu_ratio, ram_ratio = _ratios(limits)
    shared, dedicated = split_cpus(guest_cell)
    if not dedicated:
        reserve = 0

    pagesize = guest_cell.pagesize
    if pagesize:
        pagesize, reason = choose_page_size(host_cell, guest_cell)
    else:
        reason = _memory_without_page_size(host_cell, guest_cell,
                                           pinned=bool(dedicated))
    if reason:
        return None, reason

    if len(shared) > len(host_cell.cpuset):
        return None, ("%d shared vCPUs exceed the cell's %d shared CPUs"
                      % (len(shared), len(host_cell.cpuset)))
    if len(dedicated) + reserve > len(host_cell.pcpuset):
        extra = " (+%d for emulator threads)" % reserve if reserve else ""
        return None, ("%d dedicated vCPUs%s exceed the cell's %d dedicated "
                      "CPUs" % (len(dedicated), extra,
                                len(host_cell.pcpuset)))

    if shared and cpu_ratio is not None:
        limit = len(host_cell.cpuset) * cpu_ratio
        if host_cell.cpu_usage + len(shared) > limit:
            return None, (
                "%d shared vCPUs on top of %d in use exceed the limit of %s "
                "(%d CPUs x ratio %s)"
                % (len(shared), host_cell.cpu_usage, _fmt(limit),
                   len(host_cell.cpuset), _fmt(cpu_ratio)))
    if shared and ram_ratio is not None:
        limit = host_cell.memory * ram_ratio
        if host_cell.memory_usage + guest_cell.memory > limit:
            return None, (
                "%d MiB on top of %d MiB in use exceed the limit of %s MiB "
                "(%d MiB x ratio %s)"
                % (guest_cell.memory, host_cell.memory_usage, _fmt(limit),
                   host_cell.memory, _fmt(ram_ratio)))

    pinning = reserved = None
    if dedicated:
        free = host_cell.avail_pcpus
        if len(dedicated) + reserve > free:
            extra = " (+%d for emulator threads)" % reserve if reserve else ""
            return None, ("%d dedicated vCPUs%s need %d free dedicated CPUs, "
                          "%d free" % (len(dedicated), extra,
                                       len(dedicated) + reserve, free))
        pinning, reserved, reason = pin_cell(
            host_cell, dedicated, guest_cell.cpu_thread_policy, reserve)
        if reason:
            return None, reason

    placed = guest_cell.obj_clone()
    placed.id = host_cell.id
    placed.cpuset = shared
    placed.pcpuset = dedicated
    placed.pagesize = pagesize
    placed.cpu_pinning = pinning
    placed.cpuset_reserved = reserved
    return placed, None


def _memory_without_page_size(host_cell, guest_cell, pinned):
    """Why ``guest_cell``, which names no page size, does not fit the
    memory of ``host_cell``, or None (rule 1 of the module docstring)."""
    memory = guest_cell.memory
    if host_cell.mempages:
        size = min(pages.size_kb for pages in host_cell.mempages)
        if host_cell.can_fit_pagesize(size, memory * 1024, use_free=pinned):
            return None
        pages = next(p for p in host_cell.mempages if p.size_kb == size)
        if (memory * 1024) % size:
            return ("needs %d MiB, not a whole number of the cell's %d KiB "
                    "pages" % (memory, size))
        if pinned:
            return ("needs %d MiB of free %d KiB pages (pinned CPUs never "
                    "overcommit), the cell has %d MiB free"
                    % (memory, size, pages.free_kb // 1024))
        return ("needs %d MiB of %d KiB pages, the cell has %d MiB"
                % (memory, size, pages.total_kb // 1024))
    if pinned:
        if host_cell.avail_memory < memory:
            return ("needs %d MiB free (pinned CPUs never overcommit), the "
                    "cell has %d MiB free" % (memory, host_cell.avail_memory))
        return None
    if memory > host_cell.memory:
        return "needs %d MiB, the cell has %d MiB" % (memory, host_cell.memory)
    return None


# --- the whole guest ---------------------------------------------------------

def _ordered_host_cells(host_cells, guest_cells, pack, pci_requests=None,
                        pci_stats=None):
    """Host cells in the order to try them (Nova's spread / pack sorts,
    then its PCI sort when the host's pools are given)."""
    cells = list(host_cells)
    if len(cells) <= len(guest_cells):
        return cells
    cells.sort(key=lambda c: c.avail_memory, reverse=not pack)
    if not split_cpus(guest_cells[0])[1]:
        cells.sort(key=lambda c: c.cpu_usage, reverse=pack)
    else:
        cells.sort(key=lambda c: c.avail_pcpus, reverse=not pack)
    if pci_stats is not None:
        cells = numa_pci_fit.order_cells(
            cells, numa_pci_fit.has_requests(pci_requests), pci_stats)
    return cells


def _first_assignment(n_guest, n_host, fits, accept=None):
    """Host cell index per guest cell, the first in permutation order
    whose every pair ``fits`` and that ``accept`` (if given) takes."""
    chosen, used = [], set()

    def search(i):
        if i == n_guest:
            return accept is None or accept(chosen)
        for j in range(n_host):
            if j not in used and fits(i, j):
                chosen.append(j)
                used.add(j)
                if search(i + 1):
                    return True
                chosen.pop()
                used.discard(j)
        return False

    return chosen if search(0) else None


def fit_instance_to_host(host_topology, instance_topology, limits=None, *,
                         pack=False, pci_requests=None, pci_stats=None):
    """Place ``instance_topology`` on ``host_topology``: a :class:`Fit`.

    ``limits`` is a NUMATopologyLimits (or a dict with
    ``cpu_allocation_ratio`` / ``ram_allocation_ratio``); None means no
    overcommit accounting of shared CPUs and small-page memory, only the
    capacity checks (a ratio missing from ``limits`` is likewise not
    checked). Dedicated CPUs and huge pages are always checked against
    what is free.

    A guest without NUMA cells (None) fits with nothing to place:
    ``Fit(None, [])``. A host without a NUMA topology (None or no cells)
    cannot take a guest that has cells: ``Fit(None, [reason])``, no
    exception, so the scheduler and the tracker report it like any other
    misfit.

    The placed topology is new: each cell a copy of the guest cell with
    ``id`` the host cell's, ``pagesize`` the size chosen (None when none
    was requested), and for pinned cells ``cpu_pinning`` and
    ``cpuset_reserved`` (the emulator CPU, on guest cell 0, with
    ``emulator_threads_policy`` isolate). Neither input is changed.

    ``pci_requests`` (InstancePCIRequests or a list) and ``pci_stats``
    (the host's PciDeviceStats, only read) bring the PCI devices into
    view, as the module docstring says; the caller then takes the
    devices on the cells of the placed topology.
    """
    if instance_topology is None or not instance_topology.cells:
        return Fit(None, [])
    guest_cells = list(instance_topology.cells)
    if host_topology is None or not host_topology.cells:
        return Fit(None, ["the guest asks for %d NUMA cells and the host "
                          "has no NUMA topology" % len(guest_cells)])
    if len(host_topology.cells) < len(guest_cells):
        return Fit(None, ["the guest asks for %d NUMA cells and the host "
                          "has %d" % (len(guest_cells),
                                      len(host_topology.cells))])
    host_cells = _ordered_host_cells(host_topology.cells, guest_cells, pack,
                                     pci_requests, pci_stats)
    devices = numa_pci_fit.DeviceCheck.of(pci_requests, pci_stats,
                                          host_topology)
    isolated = instance_topology.emulator_threads_isolated
    tried = {}

    def attempt(i, j):
        if (i, j) not in tried:
            reserve = 1 if isolated and i == 0 else 0
            tried[i, j] = fit_cell(host_cells[j], guest_cells[i], limits,
                                   reserve)
        return tried[i, j]

    accept = None if devices is None else \
        (lambda chosen: devices([host_cells[j].id for j in chosen]))
    assignment = _first_assignment(len(guest_cells), len(host_cells),
                                   lambda i, j: attempt(i, j)[0] is not None,
                                   accept)
    if assignment is not None:
        placed = numa_obj.InstanceNUMATopology(
            instance_uuid=instance_topology.instance_uuid,
            emulator_threads_policy=instance_topology.emulator_threads_policy,
            cells=[attempt(i, j)[0] for i, j in enumerate(assignment)])
        return Fit(placed, [])
    if devices is not None and devices.first_refusal is not None:
        return Fit(None, [devices.reason()])
    return Fit(None, _reasons(guest_cells, host_cells, attempt))


def _reasons(guest_cells, host_cells, attempt):
    """Why no permutation of ``host_cells`` takes every guest cell."""
    reasons, fits_on = [], {}
    for i in range(len(guest_cells)):
        for j, host_cell in enumerate(host_cells):
            cell, reason = attempt(i, j)
            if cell is None:
                reasons.append("guest cell %d on host cell %d: %s"
                               % (i, host_cell.id, reason))
            else:
                fits_on.setdefault(i, []).append(host_cell.id)
    if len(fits_on) == len(guest_cells):
        reasons.append(
            "no assignment of the %d guest cells to distinct host cells "
            "fits (%s)" % (len(guest_cells), "; ".join(
                "guest cell %d fits on host cells %s" % (i, sorted(ids))
                for i, ids in sorted(fits_on.items()))))
    return reasons
