"""The periodic recount: a node's usage from scratch.

    driver inventory + instances on the node + in-progress migrations -> usage

Pure functions over objects: no database, no locks. The tracker reads what
they need, calls ``recount``, and writes only the fields ``differences``
finds changed.
"""
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
    target, _ = recount(conf, resources, None, [], [])
    return target


def recount(conf, resources, node, instances, migration_sides):
    """Usage of the node from scratch.

    ``instances`` are those whose host and node are this node (objects or
    ``usage_source.InstanceRecord``s); ``migration_sides`` are (instance,
    flavor, numa, pci_requests) for each in-progress migration counted here
    (see ``migration_sides``). Returns (target ComputeNode, {instance uuid:
    Consumption}). Cpus, memory and disk are summed as plain numbers and set
    once; only instances with NUMA or PCI needs are applied one by one.
    """
    target = baseline(conf, resources, node)
    consumptions = {}
    counted = [i for i in instances if not states.allows_resource_removal(
        i.vm_state, i.obj_get("task_state"))]
    plain = {}   # (id(flavor), boot from volume) -> Consumption
    for instance in counted:
        consumptions[instance.uuid] = _consumption(
            instance.flavor, instance, instance.obj_get("numa_topology"),
            instance.obj_get("pci_requests"), plain)
    moving = [_consumption(flavor, instance, numa_topology, pci_requests,
                           plain)
              for instance, flavor, numa_topology, pci_requests
              in migration_sides]
    everything = list(consumptions.values()) + moving
    cons.add_scalars(target, sum(c.vcpus for c in everything),
                     sum(c.memory_mb for c in everything),
                     sum(c.disk_gb for c in everything))
    for instance_uuid, wanted in list(consumptions.items()):
        if wanted.numa_topology is not None or cons._has_pci(
                wanted.pci_requests):
            consumptions[instance_uuid] = _add_devices(target, wanted,
                                                       instance_uuid)
    for wanted in moving:
        if wanted.numa_topology is not None or cons._has_pci(
                wanted.pci_requests):
            _add_devices(target, wanted, None)
    target.stats = node_stats.instance_stats(counted, node)
    target.running_vms = len(counted)
    target.current_workload = int(target.stats["io_workload"])
    return target, consumptions


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
                                         instance.task_state)):
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
            sides.append((instance, flavor, numa_topology, pci_requests))
    return sides, stale


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
    for name in _COMPARED:
        new = target.obj_get(name)
        old = node.obj_get(name)
        if _comparable(new) != _comparable(old):
            changes[name] = new
    return changes


_COMPARED = (
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
    "local_gb_used", "free_ram_mb", "free_disk_gb", "disk_available_least",
    "current_workload", "running_vms", "hypervisor_type", "hypervisor_version",
    "hypervisor_hostname", "cpu_info", "host_ip", "supported_hv_specs",
    "stats", "numa_topology", "pci_device_pools") + node_defaults.RATIOS


def _comparable(value):
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if hasattr(value, "to_list"):
        return value.to_list()
    return str(value) if value is not None and not isinstance(
        value, (int, float, str, dict)) else value


def _copy(obj):
    return None if obj is None else obj.obj_clone()


def _pci_pools(resources):
    devices = resources.get("pci_passthrough_devices") or []
    return hw_pci.PciDeviceStats.from_devices(devices).to_pool_list()
