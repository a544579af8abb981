"""The simulated cloud's rows, inserted in bulk before the run.

Services, nodes and aggregates of every host, and the pre-filled
instances (``prefill``), in one transaction. A node row is what a new
agent would write: the tracker's own functions of the driver's
inventory, ``periodic.new_node`` for an empty node and
``periodic.recount`` of its instances for a pre-filled one, so a cloud
of 100,000 hosts exists in seconds and agrees with what each agent
counts when it starts: its first recount writes nothing. (An empty node
seeded as ``periodic.baseline`` lacked the stats of no instances, so
every agent's start wrote them, and a cloud with both empty and filled
nodes could not be seeded at all: their rows had different columns.)
"""
import functools

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.hardware import capacity as hw_capacity
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import usage_source
from hoststate.simulation import bulk_rows
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
    and inserted with them, so memory does not grow with the cloud. Rows
    go in through ``bulk_rows``: values shared by every row of a statement
    (the time stamps, an empty node of one model) are converted once."""
    models = _Models(conf)
    plans = prefill_mod.plan(hosts, prefill, models.room, seed)
    documents = usage_source.DocumentCache()
    now = db_api.utcnow()
    placed = 0
    with db_api.engine_of(context).begin() as conn:
        _seed_services(conn, hosts, now)
        service_ids = _ids(conn, schema.services.c.host,
                           schema.services.c.id)
        for part in _chunks(hosts, CHUNK):
            rows = {h.host: prefill_mod.rows(h, names, seed)
                    for h, names in zip(part, plans)}
            counted = {h.host: models.node_values(h, prefill_mod.records(
                rows[h.host], documents)) for h in part}
            _seed_nodes(conn, part, counted, service_ids, now)
            if not any(rows.values()):
                continue
            node_ids = _ids(conn, schema.compute_nodes.c.host,
                            schema.compute_nodes.c.id,
                            schema.compute_nodes.c.host.in_(list(rows)))
            placed += _insert_dicts(conn, schema.instances, [
                dict(row, compute_id=node_ids[host])
                for host, host_rows in rows.items() for row in host_rows],
                created_at=now, updated_at=now)
            _insert_dicts(conn, schema.allocations, [
                dict(row, compute_node_id=node_ids[host])
                for host, (_, held) in counted.items() for row in held],
                created_at=now)
        _seed_aggregates(conn, hosts, now)
    return placed


def _seed_services(conn, hosts, now):
    """One compute service per host, born reporting (``last_seen_up``)."""
    shared = dict(binary=service_obj.COMPUTE_BINARY,
                  topic=service_obj.COMPUTE_TOPIC, disabled=False,
                  forced_down=False, report_count=0, created_at=now,
                  updated_at=now, last_seen_up=now)
    for part in _chunks(hosts):
        bulk_rows.insert_many(conn, schema.services, ("uuid", "host"), [
            (uuid5("service", h.host), h.host) for h in part], shared)


def _seed_nodes(conn, hosts, counted, service_ids, now):
    """The node rows of ``hosts`` (``counted``: host -> (values, ledger)),
    in the order of ``hosts`` (the ids, hence the scheduler's rows, follow
    it); one statement per run of nodes with the same columns. The values
    of an empty node are one dict per model: made a tuple once."""
    shared = dict(created_at=now, updated_at=now)
    as_tuple = {}
    run, keys = [], None
    for h in hosts:
        values = counted[h.host][0]
        if values.keys() != keys:
            _insert_nodes(conn, keys, run, shared)
            run, keys = [], values.keys()
        held = as_tuple.get(id(values))
        if held is None or held[0] is not values:
            held = as_tuple[id(values)] = (values, tuple(values.values()))
        run.append((h.node_uuid, h.host, h.nodename, service_ids[h.host])
                   + held[1])
    _insert_nodes(conn, keys, run, shared)


def _insert_nodes(conn, keys, rows, shared):
    if rows:
        bulk_rows.insert_many(conn, schema.compute_nodes,
                              _IDENTITY + tuple(keys), rows, shared)


def _insert_dicts(conn, table, rows, **shared):
    """Insert ``rows`` (dicts), in order, a statement per run of rows with
    the same keys; their number."""
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or rows[end].keys() != rows[start].keys():
            columns = tuple(rows[start])
            bulk_rows.insert_many(conn, table, columns, [
                tuple(map(row.get, columns)) for row in rows[start:end]],
                shared)
            start = end
    return len(rows)


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
        """An empty node as its agent's first recount finds it (the stats
        of no instances included: nothing for that recount to write)."""
        return _values(periodic.new_node(self.conf, self.resources(model)))

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
            bulk_rows.insert_many(
                conn, schema.aggregate_hosts, ("host",),
                [(h,) for h in part],
                dict(aggregate_id=aggregate_id, created_at=now))
        conn.execute(sa.insert(schema.aggregate_metadata), [dict(
            aggregate_id=aggregate_id, key=k, value=v, created_at=now)
            for k, v in metadata.items()])


def compute_services(context):
    """(host, Service) of every compute service seeded, in id order: the
    Service objects a bulk join takes (id, host, binary and topic set),
    read as two columns, since a hundred thousand fully loaded Service
    objects cost seconds."""
    services = schema.services
    with db_api.reading(context) as conn:
        ids = _ids(conn, services.c.host, services.c.id,
                   services.c.binary == service_obj.COMPUTE_BINARY,
                   services.c.deleted == 0)
    trusted = service_obj.Service.trusted
    return [(host, trusted(id=service_id, host=host,
                           binary=service_obj.COMPUTE_BINARY,
                           topic=service_obj.COMPUTE_TOPIC))
            for host, service_id in sorted(ids.items(), key=_second)]


def _second(item):
    return item[1]


def _ids(conn, key, value, *where):
    return dict(conn.execute(sa.select(key, value).where(*where)).all())


def _chunks(items, size=_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def uuid5(kind, name):
    """A repeatable uuid for a simulated row of ``kind`` named ``name``."""
    return cloud.name_uuid(f"{kind}:{name}")
