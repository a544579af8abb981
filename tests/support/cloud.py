"""A cloud in a database: compute services, nodes and aggregates inserted in
bulk (for scheduler tests and benchmarks; the tracker's own tests create
nodes through ComputeAgent instead).

``populate(engine, shapes)`` inserts one service and one node per entry;
a shape is a dict of compute_nodes values (vcpus, memory_mb, local_gb,
used values, ratios, documents as text) plus ``disabled`` and
``forced_down`` for the service.
"""
import json
import uuid as uuid_lib

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema

SUPPORTED = json.dumps([["x86_64", "kvm", "hvm"]])
CPU_INFO = json.dumps({"arch": "x86_64", "vendor": "Intel",
                       "features": ["vmx", "avx2"]})


def node_values(host, nodename, service_id, **shape):
    vcpus = shape.pop("vcpus", 32)
    memory_mb = shape.pop("memory_mb", 131072)
    local_gb = shape.pop("local_gb", 1000)
    used = {"vcpus_used": shape.pop("vcpus_used", 0),
            "memory_mb_used": shape.pop("memory_mb_used", 0),
            "local_gb_used": shape.pop("local_gb_used", 0)}
    values = dict(
        uuid=str(uuid_lib.uuid4()), service_id=service_id, host=host,
        hypervisor_hostname=nodename, vcpus=vcpus, memory_mb=memory_mb,
        local_gb=local_gb, free_ram_mb=memory_mb - used["memory_mb_used"],
        free_disk_gb=local_gb - used["local_gb_used"],
        hypervisor_type="QEMU", hypervisor_version=8002000,
        cpu_info=CPU_INFO, supported_instances=SUPPORTED,
        stats=json.dumps({"num_instances": "0", "io_workload": "0",
                          "failed_builds": "0"}),
        disk_available_least=None, numa_topology=None, pci_stats=None,
        metrics=None, host_ip=None, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0,
        disk_allocation_ratio=1.0, current_workload=0, running_vms=0,
        created_at=db_api.utcnow(), updated_at=db_api.utcnow(), **used)
    values.update(shape)
    return values


def populate(engine, shapes, host_format="compute{:05d}", chunk=2000):
    """Insert a service and a node per shape; return the host names."""
    hosts = [host_format.format(i) for i in range(len(shapes))]
    with engine.begin() as conn:
        for start in range(0, len(shapes), chunk):
            part = range(start, min(start + chunk, len(shapes)))
            conn.execute(sa.insert(schema.services), [dict(
                uuid=str(uuid_lib.uuid4()), host=hosts[i],
                binary="nova-compute", topic="compute",
                disabled=bool(shapes[i].get("disabled", False)),
                forced_down=bool(shapes[i].get("forced_down", False)),
                created_at=db_api.utcnow(), last_seen_up=db_api.utcnow(),
                updated_at=db_api.utcnow()) for i in part])
        ids = dict(conn.execute(sa.select(schema.services.c.host,
                                          schema.services.c.id)).all())
        for start in range(0, len(shapes), chunk):
            part = range(start, min(start + chunk, len(shapes)))
            conn.execute(sa.insert(schema.compute_nodes), [node_values(
                hosts[i], hosts[i], ids[hosts[i]], **{
                    k: v for k, v in shapes[i].items()
                    if k not in ("disabled", "forced_down")})
                for i in part])
    return hosts


def add_aggregate(engine, name, hosts, metadata=None):
    """An aggregate of ``hosts`` with ``metadata``; returns its id."""
    with engine.begin() as conn:
        aggregate_id = conn.execute(sa.insert(schema.aggregates).values(
            uuid=str(uuid_lib.uuid4()), name=name,
            created_at=db_api.utcnow())).inserted_primary_key[0]
        if hosts:
            conn.execute(sa.insert(schema.aggregate_hosts), [
                dict(host=h, aggregate_id=aggregate_id,
                     created_at=db_api.utcnow()) for h in hosts])
        if metadata:
            conn.execute(sa.insert(schema.aggregate_metadata), [
                dict(aggregate_id=aggregate_id, key=k, value=v,
                     created_at=db_api.utcnow()) for k, v in metadata.items()])
    return aggregate_id


def node_rows(engine):
    """Every live compute_nodes row, by hypervisor_hostname."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.compute_nodes).where(
            schema.compute_nodes.c.deleted == 0)).all()
    return {row.hypervisor_hostname: row._mapping for row in rows}
