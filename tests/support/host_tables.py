"""Host-state tables built from plain descriptions, for filter and weigher
tests (Nova's FakeHostState, as rows of the columnar table).

``node_record(host="host1", free_ram_mb=512, ...)`` gives a compute_nodes
row as the HostManager reads it; documents may be given as Python values
(``stats={"num_instances": "3"}``, ``numa_topology=<NUMATopology>``,
``pci_device_pools=<PciDevicePoolList>``, ``supported_instances=[[...]]``,
``metrics={"cpu.percent": 0.5}``, ``cpu_info={...}``,
``driver_traits=[...]``, ``operator_traits=[...]``) and become the JSON
text the database holds. ``make_table`` adds services (``disabled``,
``forced_down``, ``up`` and ``has_service`` per node description) and
aggregates; a node description may name its ``cell`` (default: the
table's one cell).
"""
import itertools
import json
import uuid as uuid_lib

from hoststate.objects import traits
from hoststate.scheduler import host_table
from hoststate.scheduler.records import AggregateRecord, ServiceRecord

_ids = itertools.count(1)

SERVICE_KEYS = ("disabled", "forced_down", "up", "has_service",
                "disabled_reason")


def node_record(host="host1", nodename=None, **values):
    """A compute_nodes row (a dict) with sensible defaults."""
    node_id = values.pop("id", None) or next(_ids)
    memory_mb = values.pop("memory_mb", values.get("free_ram_mb", 8192))
    local_gb = values.pop("local_gb", 100)
    vcpus = values.pop("vcpus", 8)
    record = {
        "id": node_id, "uuid": values.pop("uuid", str(uuid_lib.uuid4())),
        "host": host, "hypervisor_hostname": nodename or host.replace(
            "host", "node") if nodename is None else nodename,
        "vcpus": vcpus, "vcpus_used": 0, "memory_mb": memory_mb,
        "memory_mb_used": 0, "free_ram_mb": None, "local_gb": local_gb,
        "local_gb_used": 0, "free_disk_gb": None,
        "disk_available_least": None, "hypervisor_type": "QEMU",
        "hypervisor_version": 6000000, "cpu_info": "", "host_ip": None,
        "supported_instances": None, "metrics": None, "pci_stats": None,
        "stats": None, "numa_topology": None, "cpu_allocation_ratio": 16.0,
        "ram_allocation_ratio": 1.5, "disk_allocation_ratio": 1.0,
        "generation": 1, "updated_at": None, "driver_traits": None,
        "operator_traits": None,
    }
    if nodename is None:
        record["hypervisor_hostname"] = host.replace("host", "node") \
            if "host" in host else host
    documents = {
        "stats": lambda v: json.dumps({k: str(x) for k, x in v.items()}),
        "numa_topology": lambda v: v.to_json(),
        "pci_device_pools": lambda v: v.to_json(),
        "supported_instances": json.dumps,
        "metrics": lambda v: json.dumps(
            [{"name": k, "value": x, "source": "fake", "timestamp": None}
             for k, x in v.items()]),
        "cpu_info": json.dumps,
        "driver_traits": traits.to_text,
        "operator_traits": traits.to_text,
    }
    for name, dump in documents.items():
        if name in values:
            value = values.pop(name)
            column = "pci_stats" if name == "pci_device_pools" else name
            record[column] = None if value is None else dump(value)
    record.update(values)
    if record["free_ram_mb"] is None:
        record["free_ram_mb"] = record["memory_mb"] - record["memory_mb_used"]
    if record["free_disk_gb"] is None and "free_disk_gb" not in values:
        record["free_disk_gb"] = record["local_gb"] - record["local_gb_used"]
    return record


def make_table(nodes, aggregates=(), default_zone="nova", cell=None,
               ratio_defaults=None):
    """A HostTable of ``nodes`` (dicts for node_record, plus the service
    keys) and ``aggregates`` ((name, hosts, metadata) tuples or
    AggregateRecords)."""
    table = host_table.HostTable(default_availability_zone=default_zone)
    default_cell = cell or "00000000-0000-0000-0000-000000000001"
    records, cells, services, up = [], [], {}, {}
    for description in nodes:
        description = dict(description)
        service = {k: description.pop(k) for k in SERVICE_KEYS
                   if k in description}
        cells.append(description.pop("cell", None) or default_cell)
        record = node_record(**description)
        records.append(record)
        host = record["host"]
        up[host] = service.get("up", True)
        if service.get("has_service", True) and host not in services:
            services[host] = ServiceRecord(
                id=len(services) + 1, host=host,
                disabled=service.get("disabled", False),
                forced_down=service.get("forced_down", False),
                disabled_reason=service.get("disabled_reason"))
    table.set_aggregates([_aggregate(i, a) for i, a in
                          enumerate(aggregates, 1)])
    table.set_services(list(services.values()))
    # One write per run of nodes of the same cell: rows follow the order
    # of ``nodes`` whatever their cells.
    for node_cell, run in itertools.groupby(zip(cells, records),
                                            key=lambda pair: pair[0]):
        table.write_nodes([record for _, record in run], cell=node_cell,
                          ratio_defaults=ratio_defaults)
    table.set_up(up)
    return table


def _aggregate(number, aggregate):
    if isinstance(aggregate, AggregateRecord):
        return aggregate
    name, hosts, metadata = aggregate
    return AggregateRecord(
        id=number, uuid=str(uuid_lib.uuid4()), name=name, hosts=hosts,
        metadata=metadata)


def all_rows(table):
    """Every candidate row of ``table`` (live, ready, with a service)."""
    import numpy as np
    return np.flatnonzero(table.candidates())


def hosts_at(table, rows):
    """Host names of ``rows``, in order."""
    return [table.host_of(r) for r in rows]


def passing_hosts(host_filter, table, request):
    """Host names of the candidate rows ``host_filter`` lets through."""
    rows = all_rows(table)
    return hosts_at(table, rows[host_filter.filter_mask(table, rows,
                                                        request)])
