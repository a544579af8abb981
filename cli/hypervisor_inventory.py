"""The hypervisor views (Nova's os-hypervisors), read in bulk.

A *hypervisor* is a live compute node whose host has a live compute
service (see :mod:`hoststate.cli.inventory` for the shared conventions);
its ``state`` and ``status`` are that service's.
"""
import dataclasses
import json

import sqlalchemy as sa

from hoststate.cli import columns
from hoststate.cli import inventory
from hoststate.db import schema

_NODES = schema.compute_nodes
_SERVICES = schema.services

#: Node columns summed by hypervisor-stats, in Nova's order.
STATS_COLUMNS = (
    "vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "free_ram_mb",
    "local_gb", "local_gb_used", "free_disk_gb", "disk_available_least",
    "running_vms", "current_workload")


@dataclasses.dataclass(frozen=True)
class HypervisorRow:
    id: int
    hypervisor_hostname: str
    state: str
    status: str
    host: str
    hypervisor_type: str


@dataclasses.dataclass(frozen=True)
class HypervisorDetail:
    """Every field of Nova's hypervisor detail; ``cpu_info`` is the parsed
    document when it is JSON, else its text; ``traits`` (hoststate's) the
    node's traits, its driver's and its operators'."""

    id: int
    uuid: str
    hypervisor_hostname: str
    state: str
    status: str
    host_ip: str | None
    hypervisor_type: str
    hypervisor_version: int
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    free_ram_mb: int | None
    local_gb: int
    local_gb_used: int
    free_disk_gb: int | None
    disk_available_least: int | None
    running_vms: int | None
    current_workload: int | None
    cpu_info: object
    traits: list
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    service_host: str
    service_id: int
    service_disabled_reason: str | None


#: HypervisorDetail fields that are the node's own, as stored.
_COPIED_NODE_FIELDS = (
    "id", "uuid", "hypervisor_hostname", "hypervisor_type",
    "hypervisor_version", "vcpus", "vcpus_used", "memory_mb",
    "memory_mb_used", "free_ram_mb", "local_gb", "local_gb_used",
    "free_disk_gb", "disk_available_least", "running_vms",
    "current_workload", "cpu_allocation_ratio", "ram_allocation_ratio",
    "disk_allocation_ratio")


@dataclasses.dataclass(frozen=True)
class HypervisorStats:
    count: int
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    free_ram_mb: int
    local_gb: int
    local_gb_used: int
    free_disk_gb: int
    disk_available_least: int
    running_vms: int
    current_workload: int


def _states_by_host(context, conf, services):
    """{host: state} of ``services`` ({host: mapping}), one liveness call."""
    hosts = sorted(services)
    states, warnings = inventory.service_states(
        context, conf, [services[h] for h in hosts])
    return dict(zip(hosts, states)), warnings


def list_hypervisors(context, conf):
    """Every hypervisor, sorted by id, as Columns of HypervisorRow, in two
    queries and one liveness call (a host with many nodes is asked about
    once)."""
    nodes = inventory.read_columns(context, sa.select(
        _NODES.c.id, _NODES.c.hypervisor_hostname, _NODES.c.host,
        _NODES.c.hypervisor_type)
        .where(_NODES.c.deleted == 0).order_by(_NODES.c.id))
    services = inventory.compute_services_for_liveness(context)
    services = {host: services[host] for host in set(nodes["host"])
                if host in services}
    states, warnings = _states_by_host(context, conf, services)
    statuses = {host: inventory.status_of(service)
                for host, service in services.items()}
    hosts = nodes["host"]
    if not all(map(services.__contains__, hosts)):   # nodes to leave out
        kept = [i for i, host in enumerate(hosts) if host in services]
        nodes = {name: [column[i] for i in kept]
                 for name, column in nodes.items()}
        hosts = nodes["host"]
    return inventory.Result(columns.Columns(HypervisorRow, dict(
        id=nodes["id"], hypervisor_hostname=nodes["hypervisor_hostname"],
        state=list(map(states.__getitem__, hosts)),
        status=list(map(statuses.__getitem__, hosts)),
        host=hosts, hypervisor_type=nodes["hypervisor_type"])), warnings)


def find_node_id(context, key):
    """The id of the live node whose hypervisor_hostname, uuid or id is
    ``key``; HypervisorNotFound or HypervisorAmbiguous otherwise."""
    matches = [_NODES.c.hypervisor_hostname == key, _NODES.c.uuid == key]
    if key.isascii() and key.isdigit() and int(key) <= inventory.MAX_ID:
        matches.append(_NODES.c.id == int(key))
    ids = [row.id for row in inventory.read(context, sa.select(_NODES.c.id)
           .where(_NODES.c.deleted == 0, sa.or_(*matches))
           .order_by(_NODES.c.id))]
    if not ids:
        raise inventory.HypervisorNotFound(node=key)
    if len(ids) > 1:
        raise inventory.HypervisorAmbiguous(
            node=key, ids=", ".join(map(str, ids)))
    return ids[0]


def show_hypervisor(context, conf, key):
    """The detail of one hypervisor, by name, uuid or id. Allocation
    ratios are the effective ones (a stored 0.0 or None reads as the
    configured ratio, as the scheduler reads it)."""
    from hoststate.objects import compute_node as cn_obj    # its ratios
    node = cn_obj.ComputeNode.get_by_id(context, find_node_id(context, key))
    service = inventory.compute_services(context, [node.host]).get(node.host)
    if service is None:
        raise inventory.HypervisorNotFound(
            node=key, detail=f": its host {node.host} has no "
                             f"{inventory.COMPUTE_BINARY} service")
    states, warnings = _states_by_host(context, conf, {node.host: service})
    detail = HypervisorDetail(
        **{name: node.obj_get(name) for name in _COPIED_NODE_FIELDS},
        host_ip=None if node.host_ip is None else str(node.host_ip),
        cpu_info=_document(node.cpu_info), traits=node.traits(),
        state=states[node.host],
        status=inventory.status_of(service), service_host=service["host"],
        service_id=service["id"],
        service_disabled_reason=service["disabled_reason"])
    return inventory.Result(detail, warnings)


def _document(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def hypervisor_stats(context):
    """Nova's hypervisor statistics, in one query: sums over the
    hypervisors whose compute service is enabled (Nova leaves disabled
    services out: their capacity cannot be scheduled to)."""
    joined = _NODES.join(_SERVICES, sa.and_(
        _SERVICES.c.host == _NODES.c.host, _SERVICES.c.deleted == 0,
        _SERVICES.c.binary == inventory.COMPUTE_BINARY,
        _SERVICES.c.disabled == sa.false()))
    row = inventory.read(context, sa.select(
        sa.func.count(),
        *(sa.func.coalesce(sa.func.sum(_NODES.c[name]), 0)
          for name in STATS_COLUMNS))
        .select_from(joined).where(_NODES.c.deleted == 0))[0]
    return HypervisorStats(*map(int, row))
