"""The Selections a select_destinations returns: the chosen node of each
instance and its alternates, with the limits a claim there enforces.

A request returns several (the chosen node and ``max_attempts - 1``
alternates per instance), so they are built from values the table
already holds: the limits are derived columns (``scheduler.derived``,
total x ratio per resource, computed once per table state), the zone
comes from the aggregate set's zone, and the objects are made with
``trusted`` (no field coercion: every value is the table's own).
"""
import json

import numpy as np

from hoststate.hardware import capacity
from hoststate.hardware.row_runs import take
from hoststate.objects import numa as numa_obj
from hoststate.objects import request_spec as spec_obj
from hoststate.objects import selection as selection_obj
from hoststate.scheduler import derived

ALLOCATION_REQUEST_VERSION = "hoststate-1.0"

#: Limit of each resource: (total column, ratio column).
_LIMITS = {"vcpu": ("vcpus_total", "cpu_allocation_ratio"),
           "memory_mb": ("total_usable_ram_mb", "ram_allocation_ratio"),
           "disk_gb": ("total_usable_disk_gb", "disk_allocation_ratio")}


def of_placement(table, placement, placements, alternates):
    """[the Selection of ``placement``'s node, then up to ``alternates``
    others of its ranking in the same cell, none chosen by any of
    ``placements``]."""
    chosen = placement.row
    selected = {p.row for p in placements}
    cell = table.cell_of(chosen)
    result = [selection(table, chosen, placement.claim)]
    for row in placement.ranked:
        if len(result) > alternates:
            break
        if row in selected or table.cell_of(row) != cell:
            continue
        result.append(selection(table, row))
    return result


def selection(table, row, claim=None):
    """The Selection of ``row`` (the chosen node if ``claim`` is the
    stored row a claim wrote, else an alternate)."""
    codes, zones = table.zone_codes()
    allocation = None
    if claim is not None:
        allocation = json.dumps({"compute_node_uuid": table.uuid[row],
                                 "generation": int(claim["generation"])})
    return selection_obj.Selection.trusted(
        service_host=table.host_of(row), nodename=table.nodename_of(row),
        compute_node_uuid=table.uuid[row], cell_uuid=table.cell_of(row),
        limits=limits(table, row), allocation_request=allocation,
        allocation_request_version=ALLOCATION_REQUEST_VERSION
        if allocation else None,
        availability_zone=zones[codes[row]])


def limits(table, row):
    """The limits a claim on ``row`` enforces (Nova's filters set them
    on the host state; here they follow from the row)."""
    numa = None
    if table.value("numa_topology", row) is not None:
        numa = numa_obj.NUMATopologyLimits(
            cpu_allocation_ratio=float(table.cpu_allocation_ratio[row]),
            ram_allocation_ratio=float(table.ram_allocation_ratio[row]))
    store = derived.of(table)
    mask, _ = store.candidates()
    candidate = row < len(mask) and mask[row]
    return spec_obj.SchedulerLimits.trusted(
        numa_topology=numa, **{name: int(limit(table, row, name, candidate))
                               for name in _LIMITS})


def limit(table, row, name, candidate):
    """total x ratio of resource ``name`` on ``row``: a derived column
    read when ``row`` is a ``candidate``, else computed on the row."""
    if candidate:
        # totals and ratios: never written by a usage change
        return derived.of(table).column(
            ("limit", name), lambda rows: _limits(table, rows, name),
            dtype=np.float64, fill=np.nan, usage=False)[row]
    return _limits(table, np.array([row]), name)[0]


def _limits(table, rows, name):
    total, ratio = _LIMITS[name]
    return capacity.limit(take(table.columns[total], rows),
                          take(table.columns[ratio], rows))
