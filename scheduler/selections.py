"""The Selections a select_destinations returns: the chosen node of each
instance and its alternates, with the limits a claim there enforces.

A request returns several (the chosen node and ``max_attempts - 1``
alternates per instance), so they are built from values the table
already holds: the limits of a row (total x ratio per resource) are
computed once and kept while only usage changes (``scheduler.derived``),
the zone comes from the aggregate set's zone, and the objects are made
with ``trusted`` (no field coercion: every value is the table's own).
"""
import json


from hoststate.hardware import capacity
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
    zones = table.zone_codes()
    result = [selection(table, chosen, placement.claim, zones)]
    for row in placement.ranked:
        if len(result) > alternates:
            break
        if row in selected or table.cell_of(row) != cell:
            continue
        result.append(selection(table, row, zones=zones))
    return result


def selection(table, row, claim=None, zones=None):
    """The Selection of ``row`` (the chosen node if ``claim`` is the
    stored row a claim wrote, else an alternate); ``zones``: the table's
    ``zone_codes()`` when the caller has them."""
    codes, zones = zones or table.zone_codes()
    uuid = table.uuid[row]
    allocation = None
    if claim is not None:
        allocation = json.dumps({"compute_node_uuid": uuid,
                                 "generation": int(claim["generation"])})
    return selection_obj.Selection.trusted(
        service_host=table.host_of(row), nodename=table.nodename_of(row),
        compute_node_uuid=uuid, cell_uuid=table.cell_of(row),
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
    return spec_obj.SchedulerLimits.trusted(numa_topology=numa,
                                            **limit_values(table, row))


def limit_values(table, row):
    """{resource: int(total x ratio)} of ``row``: kept per candidate row
    while nothing but usage changes (totals and ratios are never written
    by a usage change: ``derived.Derived.value``), computed on the row
    otherwise."""
    store = derived.of(table)
    mask, _ = store.candidates()
    if not (row < len(mask) and mask[row]):
        return _limit_values(table, row)
    kept = store.value(("limits by row",), dict)
    found = kept.get(row)
    if found is None:
        found = kept[row] = _limit_values(table, row)
    return dict(found)


def _limit_values(table, row):
    """The rule on the row's numbers (Python floats: no numpy call)."""
    columns = table.columns
    return {name: int(capacity.limit(float(columns[total][row]),
                                     float(columns[ratio][row])))
            for name, (total, ratio) in _LIMITS.items()}
