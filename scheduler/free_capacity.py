"""Free capacity of table rows, by the formula a claim checks.

A node's free cpu, memory or disk is its total × allocation ratio − used
(used starting from the reserved baseline), and an instance may
over-commit against other instances, never against itself: one larger
than the node's total fits nowhere there, whatever the ratio. The claim
check, the "no valid host" explanation and the bound on a request's
instance count all read these functions.
"""
import numpy as np


def free_after_overcommit(table, rows):
    """(vcpus, memory MiB, disk GiB) free on ``rows``: arrays, may be
    negative on an over-committed node."""
    t = table
    ram_total = t.total_usable_ram_mb[rows]
    return (t.vcpus_total[rows] * t.cpu_allocation_ratio[rows]
            - t.vcpus_used[rows],
            ram_total * t.ram_allocation_ratio[rows]
            - (ram_total - t.free_ram_mb[rows]),
            t.total_usable_disk_gb[rows] * t.disk_allocation_ratio[rows]
            - t.disk_mb_used[rows] / 1024)


def instances_that_fit(table, rows, vcpus, memory_mb, disk_gb,
                       per_row=False):
    """How many instances of (``vcpus``, ``memory_mb``, ``disk_gb``) the
    free capacity of ``rows`` holds: per row (an array) or in all (a
    number, possibly inf for an instance that takes nothing)."""
    t = table
    free = free_after_overcommit(table, rows)
    larger = ((t.vcpus_total[rows] < vcpus)
              | (t.total_usable_ram_mb[rows] < memory_mb)
              | (t.total_usable_disk_gb[rows] < disk_gb))
    fits = np.minimum.reduce([_times(f, wanted) for f, wanted in
                              zip(free, (vcpus, memory_mb, disk_gb))])
    fits[larger] = 0.0
    fits = np.maximum(fits, 0.0)
    return fits if per_row else float(fits.sum())


def _times(free, wanted):
    """Whole instances of ``wanted`` in ``free``; a resource the instance
    does not take limits nothing, unless it is over-committed already."""
    if wanted > 0:
        return np.floor(free / wanted)
    return np.where(free >= 0, np.inf, 0.0)


def largest_vcpus(table):
    """The most vCPUs any candidate node has (0 without candidates): no
    guest larger than this can be placed, whatever its ratios."""
    rows = np.flatnonzero(table.candidates())
    return int(table.vcpus_total[rows].max()) if len(rows) else 0
