"""The simulated cloud's rows, inserted in bulk before the run.

Services, nodes and aggregates of every host, and the pre-filled
instances (``prefill``), in one transaction. A node row is what a new
agent would write: the tracker's own functions of the driver's
inventory, ``periodic.baseline`` for an empty node and
``periodic.recount`` of its instances for a pre-filled one, so a cloud
of 100,000 hosts exists in seconds and agrees with what each agent
counts when it starts.
"""
import functools
import uuid as uuid_lib

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.hardware import capacity as hw_capacity
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import usage_source
from hoststate.simulation import cloud
from hoststate.simulation import prefill as prefill_mod

_CHUNK = 2000
#: hosts written (with their pre-filled instances) per round
CHUNK = 500
#: columns a node row gets from the host, not from its model
_IDENTITY = ("uuid", "host", "hypervisor_hostname", "service_id")


def seed(context, conf, hosts, prefill=0.0, seed=0):
    """Insert the rows of ``hosts``; the number of pre-filled instances.

    Hosts are written CHUNK at a time, their instances planned, counted
    and inserted with them, so memory does not grow with the cloud."""
    models = _Models(conf)
    plans = prefill_mod.plan(hosts, prefill, models.room, seed)
    documents = usage_source.DocumentCache()
    now = db_api.utcnow()
    placed = 0
    with db_api.engine_of(context).begin() as conn:
        for part in _chunks(hosts):
            conn.execute(sa.insert(schema.services), [dict(
                uuid=uuid5("service", h.host), host=h.host,
                binary=service_obj.COMPUTE_BINARY,
                topic=service_obj.COMPUTE_TOPIC, disabled=False,
                forced_down=False, report_count=0, created_at=now,
                updated_at=now, last_seen_up=now) for h in part])
        service_ids = _ids(conn, schema.services.c.host,
                           schema.services.c.id)
        for part in _chunks(hosts, CHUNK):
            rows = {h.host: prefill_mod.rows(h, names, seed)
                    for h, names in zip(part, plans)}
            counted = {h.host: models.node_values(h, prefill_mod.records(
                rows[h.host], documents)) for h in part}
            conn.execute(sa.insert(schema.compute_nodes), [dict(
                counted[h.host][0], uuid=h.node_uuid, host=h.host,
                hypervisor_hostname=h.nodename,
                service_id=service_ids[h.host], created_at=now,
                updated_at=now) for h in part])
            node_ids = _ids(conn, schema.compute_nodes.c.host,
                            schema.compute_nodes.c.id,
                            schema.compute_nodes.c.host.in_(list(rows)))
            instances = [dict(row, compute_id=node_ids[host], created_at=now,
                              updated_at=now)
                         for host, host_rows in rows.items()
                         for row in host_rows]
            if instances:
                conn.execute(sa.insert(schema.instances), instances)
            ledger = [dict(row, compute_node_id=node_ids[host],
                           created_at=now)
                      for host, (_, held) in counted.items() for row in held]
            if ledger:
                conn.execute(sa.insert(schema.allocations), ledger)
            placed += len(instances)
        _seed_aggregates(conn, hosts, now)
    return placed


class _Models:
    """The node row of each host model, empty or with instances."""

    def __init__(self, conf):
        self.conf = conf

    @functools.lru_cache(maxsize=None)
    def resources(self, model):
        host = cloud.SimHost("model", model, cloud.ZONES[0], 0)
        return fake_driver.FakeDriver(
            {host.nodename: cloud.inventory(host)}).get_available_resource(
                host.nodename)

    @functools.lru_cache(maxsize=None)
    def empty(self, model):
        return _values(periodic.baseline(self.conf, self.resources(model),
                                         None))

    def node_values(self, host, instances):
        """(the node row, its ledger rows without the node's id)."""
        if not instances:
            return self.empty(host.model), []
        counted = periodic.recount(self.conf, self.resources(host.model),
                                   None, instances, [])
        return _values(counted.target), counted.added

    def room(self, host):
        """(capacity, used) of an empty node of ``host``'s model: vcpus,
        memory_mb and disk_gb, capacity as total × allocation ratio."""
        node = self.empty(host.model)
        capacity = tuple(
            hw_capacity.limit(node[total], node[ratio])
            for total, _, ratio in hw_capacity.NODE_FIELDS.values())
        return capacity, (node["vcpus_used"], node["memory_mb_used"],
                          node["local_gb_used"])


def _values(node):
    values = node._column_values(
        n for n in node.fields if node.obj_attr_is_set(n))
    for name in _IDENTITY:
        values.pop(name, None)
    return values


def _seed_aggregates(conn, hosts, now):
    for name, members, metadata in cloud.aggregates(hosts):
        aggregate_id = conn.execute(sa.insert(schema.aggregates).values(
            uuid=uuid5("aggregate", name), name=name,
            created_at=now)).inserted_primary_key[0]
        for part in _chunks(members):
            conn.execute(sa.insert(schema.aggregate_hosts), [dict(
                host=h, aggregate_id=aggregate_id, created_at=now)
                for h in part])
        conn.execute(sa.insert(schema.aggregate_metadata), [dict(
            aggregate_id=aggregate_id, key=k, value=v, created_at=now)
            for k, v in metadata.items()])


def compute_services(context):
    """Every compute service seeded, as the Service objects a bulk join
    takes (id, host, binary and topic set): read as two columns, since a
    hundred thousand fully loaded Service objects cost seconds."""
    services = schema.services
    with db_api.reading(context) as conn:
        ids = _ids(conn, services.c.host, services.c.id,
                   services.c.binary == service_obj.COMPUTE_BINARY,
                   services.c.deleted == 0)
    return [service_obj.Service.trusted(
        id=service_id, host=host, binary=service_obj.COMPUTE_BINARY,
        topic=service_obj.COMPUTE_TOPIC)
        for host, service_id in sorted(ids.items(), key=lambda i: i[1])]


def _ids(conn, key, value, *where):
    return dict(conn.execute(sa.select(key, value).where(*where)).all())


def _chunks(items, size=_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def uuid5(kind, name):
    """A repeatable uuid for a simulated row of ``kind`` named ``name``."""
    return str(uuid_lib.uuid5(cloud.NODE_NAMESPACE, f"{kind}:{name}"))
