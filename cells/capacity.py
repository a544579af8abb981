"""What a cell's capacity broadcast says: free resources and flavor units.

A cell reports to its parent how much it still holds, computed from its
scheduler's columnar host table, so the parent sees what the scheduler
sees:

* over the nodes the scheduler may place on: candidates of the table
  (``HostTable.candidates``) whose compute service is enabled and up
  (``ComputeFilter``'s mask: the same columns, the same rule);
* ``free_vcpus``, ``free_memory_mb``, ``free_disk_gb``: the sum over
  those nodes of ``hardware.capacity.free`` (total × allocation ratio −
  used, the reserved baseline being part of used), an over-committed node
  counting 0 rather than taking from the others;
* ``units``: for each flavor of ``[cells] capacity_flavors`` (parsed by
  ``capabilities.parse_flavors``, which checks it when the configuration
  is read), how many more instances fit, counted per node by
  ``hardware.capacity.instances_that_fit`` (two nodes with 3 free vCPUs
  each hold no 4-vCPU instance, although 6 are free in sum).

``[cells] reserve_percent`` is Nova's cells v1 option with Nova's
meaning: on every node, that percentage of its memory and of its disk is
held back before the flavor units are counted (Nova's
``_update_our_capacity`` left vCPUs and the free totals as they were,
and so does this). Here a node's amount is its capacity, total ×
allocation ratio, which is what Nova's total was before ratios.

The report's size depends on the flavor list only, never on the number
of nodes (``to_primitive`` writes every number in one fixed width), and
``merge`` adds children's reports to their parent's for sending further
up.
"""
import dataclasses
import math

import numpy as np

from hoststate.cells import capabilities
from hoststate.hardware import capacity as hw_capacity
from hoststate.scheduler.filters import compute

#: every number of a report's primitive: 17 significant digits (a float64
#: exactly) in one width, so the message size never depends on magnitudes
_NUMBER = "{:.16e}"
#: the free totals of a report, in the order its primitive lists them
TOTALS = ("free_vcpus", "free_memory_mb", "free_disk_gb")


# --- the report -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CapacityReport:
    """A cell's capacity, or a subtree's once merged: ``nodes`` counted,
    free totals (vCPUs, MiB, GiB) and ``units`` {flavor name: instances
    that still fit}."""

    nodes: int = 0
    free_vcpus: float = 0.0
    free_memory_mb: float = 0.0
    free_disk_gb: float = 0.0
    units: dict = dataclasses.field(default_factory=dict)

    def to_primitive(self):
        """The JSON-ready form a broadcast carries: numbers as text of one
        fixed width, flavors sorted by name."""
        return {
            "nodes": _NUMBER.format(self.nodes),
            "free": [_NUMBER.format(getattr(self, n)) for n in TOTALS],
            "units": {name: _NUMBER.format(count)
                      for name, count in sorted(self.units.items())},
        }

    @classmethod
    def from_primitive(cls, primitive):
        """``to_primitive``'s inverse (exact: 17 digits are a float64)."""
        free = dict(zip(TOTALS, map(float, primitive["free"])))
        return cls(nodes=int(float(primitive["nodes"])),
                   units={name: int(float(count))
                          for name, count in primitive["units"].items()},
                   **free)


def schedulable_rows(table):
    """Rows of the nodes a cell offers: the table's candidates whose
    compute service is enabled and up (``ComputeFilter``'s rule)."""
    rows = np.flatnonzero(table.candidates())
    up = compute.ComputeFilter(None).filter_mask(table, rows, None)
    return rows[up]


def report(table, flavors, reserve_percent=0.0):
    """The ``CapacityReport`` of ``table`` for ``flavors``
    (``capabilities.Flavor``s: a name and the sizes of a
    ``hardware.capacity.Wanted``), ``reserve_percent`` of each node's
    memory and disk held back from the units (see the module
    docstring)."""
    rows = schedulable_rows(table)
    free = {resource: float(np.fmax(hw_capacity.free(*view), 0.0).sum())
            for resource, view in hw_capacity.table_view(table, rows).items()}
    held = _Reserved(table, reserve_percent / 100.0) if reserve_percent \
        else table
    units = {flavor.name: int(hw_capacity.instances_that_fit(
        held, rows, flavor)) for flavor in flavors}
    return CapacityReport(
        nodes=len(rows), free_vcpus=free["vcpus"],
        free_memory_mb=free["memory_mb"], free_disk_gb=free["disk_gb"],
        units=units)


def report_from_conf(table, conf):
    """``report`` with the flavors and reserve of ``conf.cells``."""
    return report(table,
                  capabilities.parse_flavors(conf.cells.capacity_flavors),
                  conf.cells.reserve_percent)


def merge(reports):
    """One report of several (a cell's own and its children's): every
    number summed, flavor units summed per flavor name."""
    reports = list(reports)
    units = {}
    for each in reports:
        for name, count in each.units.items():
            units[name] = units.get(name, 0) + count
    sums = {name: sum(getattr(r, name) for r in reports)
            for name in ("nodes",) + TOTALS}
    return CapacityReport(units=units, **sums)


def consumed(report, wanted, count, flavors):
    """``report`` after ``count`` instances taking ``wanted`` (a
    ``hardware.capacity.Wanted``) were built in the cell: what a parent
    assumes of a child between two of its broadcasts, so that builds sent
    back to back do not all go to the cell that looked roomiest at the
    last broadcast.

    The free totals lose what the instances take. A flavor's units lose,
    per instance, as many of that flavor's slots as the instance can
    cover in its largest dimension (one for the flavor itself or a
    smaller one; two for an instance twice as large): an estimate on the
    safe side, since the cell's next broadcast says what it really holds.
    ``flavors``: the ``capabilities.Flavor``s the unit names stand for."""
    sizes = {f.name: f for f in flavors}
    units = {}
    for name, left in report.units.items():
        flavor = sizes.get(name)
        taken = count * (_slots(wanted, flavor) if flavor else 1)
        units[name] = max(left - taken, 0)
    return dataclasses.replace(
        report, units=units,
        free_vcpus=max(report.free_vcpus - count * wanted.vcpus, 0.0),
        free_memory_mb=max(report.free_memory_mb
                           - count * wanted.memory_mb, 0.0),
        free_disk_gb=max(report.free_disk_gb - count * wanted.disk_gb, 0.0))


def _slots(wanted, flavor):
    """Slots of ``flavor`` one instance taking ``wanted`` uses up, at
    least one: the largest ratio of its sizes to the flavor's, rounded
    up."""
    ratios = [w / f for w, f in ((wanted.vcpus, flavor.vcpus),
                                 (wanted.memory_mb, flavor.memory_mb),
                                 (wanted.disk_gb, flavor.disk_gb)) if f > 0]
    return max(1, math.ceil(max(ratios, default=1)))


class _Reserved:
    """The table as ``hardware.capacity.table_view`` reads it, with
    ``fraction`` of each node's memory and disk capacity (total × ratio)
    counted as used: the columns it changes are computed, every other is
    the table's own."""

    def __init__(self, table, fraction):
        self._table = table
        memory = hw_capacity.limit(table.total_usable_ram_mb,
                                   table.ram_allocation_ratio)
        disk_gb = hw_capacity.limit(table.total_usable_disk_gb,
                                    table.disk_allocation_ratio)
        with np.errstate(invalid="ignore"):
            self.free_ram_mb = table.free_ram_mb - fraction * memory
            self.disk_mb_used = table.disk_mb_used + \
                1024 * fraction * disk_gb

    def __getattr__(self, name):
        return getattr(self._table, name)
