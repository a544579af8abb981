"""The periodic recount: a node's usage from scratch.

    driver inventory + instances on the node + in-progress migrations -> usage

Pure functions over objects: no database, no locks. The tracker reads what
they need, calls ``recount``, and writes only the fields ``differences``
finds changed.
"""
import collections.abc
import dataclasses
import logging

from hoststate.conf import node_defaults
from hoststate.hardware import pci as hw_pci
from hoststate.hardware import usage as hw_usage
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import hv_spec
from hoststate.objects import states
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats

LOG = logging.getLogger(__name__)


def baseline(conf, resources, node):
    """A ComputeNode holding the inventory and only the reserved usage.

    Its ratios and reserved amounts are ``conf.node_defaults.resolve``'s
    with ``configured_wins``: a configured ``*_allocation_ratio`` always
    wins, a node that has none yet gets ``initial_*_allocation_ratio``,
    otherwise the node keeps what it has (an operator may have set it per
    node).
    """
    defaults = node_defaults.resolve(conf, node, configured_wins=True)
    target = cn_obj.ComputeNode(
        vcpus=resources["vcpus"], memory_mb=resources["memory_mb"],
        local_gb=resources["local_gb"],
        hypervisor_type=resources.get("hypervisor_type") or "unknown",
        hypervisor_version=resources.get("hypervisor_version") or 0,
        hypervisor_hostname=resources.get("hypervisor_hostname"),
        cpu_info=resources.get("cpu_info") or "",
        disk_available_least=resources.get("disk_available_least"),
        host_ip=conf.my_ip,
        supported_hv_specs=[hv_spec.HVSpec.from_list(triple) for triple in
                            resources.get("supported_instances") or []],
        numa_topology=_copy(resources.get("numa_topology")),
        pci_device_pools=_pci_pools(resources),
        driver_traits=resources.get("traits") or [],
        vcpus_used=defaults.reserved_vcpus,
        memory_mb_used=defaults.reserved_memory_mb,
        local_gb_used=defaults.reserved_disk_gb,
        current_workload=0, running_vms=0, **defaults.ratios())
    cons.refresh_free(target)
    return target


def new_node(conf, resources):
    """A node the database has not seen yet, as its first recount will find
    it: the inventory, the reserved usage and the stats of no instances
    (so that the first periodic update has nothing to write)."""
    return recount(conf, resources, None, [], []).target


@dataclasses.dataclass
class Recount:
    """A node's usage as its ledger says, after the ledger was checked
    against the instances on the node.

    ``target`` is the node to store; ``added`` (allocations row values)
    and ``removed`` (stored rows) are the ledger repairs to write with it,
    ``warnings`` say why each was made; ``consumptions`` are what each
    instance counted here holds as its own consumer.
    """

    target: object
    consumptions: dict
    added: list = dataclasses.field(default_factory=list)
    removed: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    #: [(counter, stored, reserved + the ledger as stored, recounted)]
    #: where the first two differed
    repairs: list = dataclasses.field(default_factory=list)


def recount(conf, resources, node, instances, migration_sides, ledger=()):
    """Usage of the node from its ledger, checked against what runs there.

    ``instances`` are those whose host and node are this node (objects or
    ``usage_source.InstanceRecord``s); ``migration_sides`` are (instance,
    flavor, numa, pci_requests, consumer) for each in-progress migration
    counted here (see ``migration_sides``); ``ledger`` the node's
    allocations rows (mappings, Allocations, or ``usage_source.LedgerRows``).

    The check is by instance: what the ledger holds for an instance on
    this node must be what the instance (and its move) takes here. An
    instance without rows gets them, rows of an instance not here any
    more are removed, rows whose amounts differ are replaced; each with a
    warning. The usage is then the reserved baseline plus every row, the
    NUMA cells, pinned cpus and PCI devices exactly as the rows say.
    """
    ledger = _readable(ledger)
    target = baseline(conf, resources, node)
    node_id = node.obj_get("id") if node is not None else None
    name = resources.get("hypervisor_hostname") or (
        node.obj_get("hypervisor_hostname") if node is not None else None)
    counted = [i for i in instances if not states.allows_resource_removal(
        i.vm_state, i.obj_get("task_state"))]
    result = Recount(target, {})
    result.repairs = _counter_repairs(node, target, ledger)
    expected = _expected(counted, migration_sides)
    kept = _check_ledger(result, expected, _by_instance(ledger), name)
    held = [(row, cons.Consumption.held(row)) for row in kept]
    recorded = {row_field(row, "instance_uuid") for row in kept}
    adding = [(uuid, consumer, wanted)
              for uuid, wants in expected.items() if uuid not in recorded
              for consumer, wanted in wants]
    everything = [c for _, c in held] + [w for _, _, w in adding]
    cons.add_scalars(target, sum(c.vcpus for c in everything),
                     sum(c.memory_mb for c in everything),
                     sum(c.disk_gb for c in everything))
    for row, consumption in held:
        _take_held(target, consumption, row, name, result)
        if row_field(row, "consumer_uuid") == row_field(row, "instance_uuid"):
            result.consumptions[row_field(row, "instance_uuid")] = consumption
    for instance_uuid, consumer, wanted in adding:
        fitted = _add_devices(target, wanted, instance_uuid)
        result.added.append(fitted.ledger_row(consumer, instance_uuid,
                                              node_id))
        if consumer == instance_uuid:
            result.consumptions[instance_uuid] = fitted
    result.repairs = [(name, old, said, target.obj_get(name))
                      for name, old, said in result.repairs]
    target.stats = node_stats.instance_stats(counted, node)
    target.running_vms = len(counted)
    target.current_workload = int(target.stats["io_workload"])
    return result


def _expected(counted, migration_sides):
    """{instance uuid: [(consumer, Consumption wanted)]} on this node."""
    plain = {}
    expected = {}
    for instance in counted:
        expected.setdefault(instance.uuid, []).append((
            instance.uuid, _consumption(
                instance.flavor, instance, instance.obj_get("numa_topology"),
                instance.obj_get("pci_requests"), plain)))
    for instance, flavor, numa_topology, pci_requests, consumer in \
            migration_sides:
        expected.setdefault(instance.uuid, []).append((
            consumer, _consumption(flavor, instance, numa_topology,
                                   pci_requests, plain)))
    return expected


def _by_instance(ledger):
    rows = {}
    for row in ledger:
        rows.setdefault(row_field(row, "instance_uuid"), []).append(row)
    return rows


def _check_ledger(result, expected, rows_by_instance, name):
    """The rows that stay; the others go to ``result.removed``."""
    kept = []
    for instance_uuid, rows in rows_by_instance.items():
        wants = expected.get(instance_uuid)
        if wants is None:
            result.removed.extend(rows)
            result.warnings.append(
                f"node {name}: instance {instance_uuid} holds "
                f"{_describe(rows)} in the ledger but is not here any "
                "more; the rows are removed")
        elif _totals(rows) != _totals(w for _, w in wants):
            result.removed.extend(rows)
            result.warnings.append(
                f"node {name}: the ledger holds {_describe(rows)} for "
                f"instance {instance_uuid}, which takes "
                f"{_describe(w for _, w in wants)} here; the rows are "
                "replaced")
        elif _devices_unrecorded(rows, wants):
            result.removed.extend(rows)
            result.warnings.append(
                f"node {name}: instance {instance_uuid} holds PCI devices "
                "the ledger does not name; they are recorded")
        else:
            kept.extend(rows)
    for instance_uuid, wants in expected.items():
        if instance_uuid not in rows_by_instance:
            result.warnings.append(
                f"node {name}: instance {instance_uuid} runs here without "
                f"a ledger row; recorded {_describe(w for _, w in wants)}")
    return kept


def _devices_unrecorded(rows, wants):
    """Whether the instance asks for PCI devices and its rows name none
    (a row back-filled from the instances, which never said which)."""
    asks = any(cons._has_pci(w.pci_requests) for _, w in wants)
    return asks and not any(row_field(row, "pci_allocation") for row in rows)


def _take_held(target, consumption, row, name, result):
    """Add a kept row's NUMA cells, pinned cpus and devices to the node;
    a row whose devices or cpus are not there any more is warned about
    and counted without them."""
    if consumption.numa_topology is None and \
            consumption.pci_allocation is None:
        return
    try:
        cons.apply_devices(target, consumption, 1)
    except Exception as exc:  # devices gone, or pinned twice
        result.warnings.append(
            f"node {name}: the NUMA or PCI usage the ledger records for "
            f"{row_field(row, 'consumer_uuid')} cannot be counted ({exc}); "
            "its cpu, memory and disk are")


def _totals(consumptions):
    totals = [0, 0, 0]
    for c in consumptions:
        totals[0] += row_field(c, "vcpus")
        totals[1] += row_field(c, "memory_mb")
        totals[2] += row_field(c, "disk_gb")
    return tuple(totals)


def _describe(consumptions):
    vcpus, memory_mb, disk_gb = _totals(consumptions)
    return f"{vcpus} vcpus, {memory_mb} MiB, {disk_gb} GiB"


def row_field(row, name):
    """A column of a ledger row: a mapping's key, else an attribute (an
    Allocation's field)."""
    if isinstance(row, collections.abc.Mapping):
        return row[name]
    return getattr(row, name)


def _readable(ledger):
    """Ledger rows as the recount reads them: mappings or Allocations
    (``usage_source.LedgerRows`` are tuples, and give their mappings)."""
    mappings = getattr(ledger, "mappings", None)
    return mappings() if mappings is not None else list(ledger)


def _counter_repairs(node, baseline_node, ledger):
    """[(counter, stored, reserved + the ledger as stored)] where a stored
    node's counters are not what its ledger says (before the ledger itself
    is checked: a row repaired below is its own warning, and the counters
    follow it without another)."""
    if node is None:
        return []
    held = _totals(ledger)
    found = []
    for name, amount in zip(_USAGE_COUNTERS, held):
        expected = baseline_node.obj_get(name) + amount
        if node.obj_get(name) != expected:
            found.append((name, node.obj_get(name), expected))
    return found


_USAGE_COUNTERS = ("vcpus_used", "memory_mb_used", "local_gb_used")


def _consumption(flavor, instance, numa_topology, pci_requests, plain):
    """An instance's consumption; those without NUMA or PCI needs share one
    per flavor object (instances read together share their flavor objects,
    so a node of fifty same-flavor instances computes it once)."""
    is_bfv = hw_usage.is_boot_from_volume(instance)
    if numa_topology is not None or cons._has_pci(pci_requests):
        return cons.Consumption.of(flavor, is_bfv, numa_topology=numa_topology,
                                   pci_requests=pci_requests)
    key = (id(flavor), is_bfv)
    if key not in plain:
        plain[key] = (flavor, cons.Consumption.of(flavor, is_bfv))
    return plain[key][1]


def _add_devices(target, wanted, instance_uuid):
    """Add one consumption's NUMA and PCI use; PCI devices are given again
    from the pools (a device nobody can serve any more is not counted)."""
    allocation = None
    if cons._has_pci(wanted.pci_requests) and \
            target.obj_get("pci_device_pools") is not None:
        stats = hw_pci.PciDeviceStats.from_pools(target.pci_device_pools)
        cells = cons._cell_ids(wanted.numa_topology)
        try:
            allocation = stats.apply_requests(
                wanted.pci_requests, cells, target.obj_get("numa_topology"))
        except hw_pci.PciDeviceRequestFailed:
            LOG.warning("instance %s holds PCI requests its node cannot "
                        "serve any more; not counted", instance_uuid)
    fitted = wanted.with_fit(wanted.numa_topology, allocation)
    try:
        cons.apply_devices(target, fitted, 1)
    except Exception as exc:  # a pinning conflict between two instances
        LOG.warning("instance %s: %s; its NUMA usage is not counted",
                    instance_uuid, exc)
        cons.apply_devices(target, fitted.with_fit(None, allocation), 1)
    return fitted


def migration_sides(host, nodename, migrations, instances_by_uuid):
    """Which migrations count here, and with which side of the move.

    Returns (sides, stale): sides as ``recount`` takes them, stale the
    migrations that are no longer their instance's current move. Only the
    newest migration of each instance is considered.
    """
    sides, stale = [], []
    for migration in _newest_per_instance(migrations):
        instance = instances_by_uuid.get(migration.instance_uuid)
        if instance is None or not (
                states.is_resizing(instance.vm_state, instance.task_state) or
                states.is_live_migrating(instance.vm_state,
                                         instance.task_state) or
                migration.migration_type == "evacuation"):
            continue
        context = instance.obj_get("migration_context")
        if context is not None and context.migration_id != migration.id:
            stale.append(migration)
            continue
        side = _side_counted_here(host, nodename, migration, instance)
        if side is None or context is None:
            continue
        flavor, numa_topology, pci_requests = context.side(side)
        if flavor is not None:
            sides.append((instance, flavor, numa_topology, pci_requests,
                          _consumer_of_side(side, migration, instance)))
    return sides, stale


def _consumer_of_side(side, migration, instance):
    """Who holds a side of a move in the ledger: the destination is the
    migration's until the move is confirmed; the source stays the
    instance's (on one node both are there, and the old side is then the
    migration's too)."""
    same_node = (migration.source_compute, migration.source_node) == \
        (migration.dest_compute, migration.dest_node)
    if side == "new" or same_node:
        return migration.uuid
    return instance.uuid


def _side_counted_here(host, nodename, migration, instance):
    here = instance.obj_get("host") == host and \
        instance.obj_get("node") == nodename
    incoming = (migration.dest_compute, migration.dest_node) == (host, nodename)
    outgoing = (migration.source_compute, migration.source_node) == \
        (host, nodename)
    if incoming and outgoing:
        # same node: the instance itself counts one flavor; the migration
        # holds the other (the new one until the resize finishes).
        return "new" if instance.obj_get("instance_type_id") == \
            migration.old_instance_type_id else "old"
    if incoming and not here:
        return "new"
    if outgoing and not here:
        return "old"
    return None


def _newest_per_instance(migrations):
    newest = {}
    for migration in migrations:
        when = migration.obj_get("updated_at") or migration.obj_get("created_at")
        seen = newest.get(migration.instance_uuid)
        if seen is None or (when, migration.id) > seen[0]:
            newest[migration.instance_uuid] = ((when, migration.id), migration)
    return [entry[1] for entry in newest.values()]


def differences(node, target):
    """{field: value} of ``target`` that differ from the stored ``node``.

    Documents compare by their stable JSON text, so an equal topology
    rebuilt from scratch is not a change; updated_at never counts.
    """
    changes = {}
    for name in COMPARED:
        new = target.obj_get(name)
        old = node.obj_get(name)
        if comparable(new) != comparable(old):
            changes[name] = new
    return changes


COMPARED = (
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
    "local_gb_used", "free_ram_mb", "free_disk_gb", "disk_available_least",
    "current_workload", "running_vms", "hypervisor_type", "hypervisor_version",
    "hypervisor_hostname", "cpu_info", "host_ip", "supported_hv_specs",
    "stats", "numa_topology", "pci_device_pools", "driver_traits") + \
    node_defaults.RATIOS


def comparable(value):
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if hasattr(value, "to_list"):
        return value.to_list()
    return str(value) if value is not None and not isinstance(
        value, (int, float, str, dict)) else value


def _copy(obj):
    return None if obj is None else obj.obj_clone()


def _pci_pools(resources):
    devices = resources.get("pci_passthrough_devices") or []
    return hw_pci.PciDeviceStats.from_devices(devices).to_pool_list()


def device_repairs(node, target):
    """[(what, stored, as the ledger says)] of the NUMA and PCI usage a
    recount changes on a node whose NUMA cells are the same (cpus pinned
    per cell, memory used per cell) and of its free PCI devices: each a
    difference between the node and its ledger rows, not an inventory
    change."""
    if node is None:
        return []
    found = []
    old, new = node.obj_get("numa_topology"), target.obj_get("numa_topology")
    if old is not None and new is not None and _same_cells(old, new):
        for before, after in zip(old.cells, new.cells):
            for name in ("pinned_cpus", "memory_usage", "cpu_usage"):
                was, now = before.obj_get(name), after.obj_get(name)
                if was != now:
                    found.append((f"NUMA cell {before.id} {name}",
                                  _shown(was), _shown(now)))
    was, now = _free_devices(node), _free_devices(target)
    if was != now and node.obj_get("pci_device_pools") is not None:
        found.append(("free PCI devices", was, now))
    return found


def _same_cells(old, new):
    return [(c.id, c.cpuset, c.pcpuset, c.memory) for c in old.cells] == \
        [(c.id, c.cpuset, c.pcpuset, c.memory) for c in new.cells]


def _free_devices(node):
    pools = node.obj_get("pci_device_pools")
    return sum(pool.count for pool in pools.objects) if pools else 0


def _shown(value):
    return sorted(value) if isinstance(value, (set, frozenset)) else value
