"""What the HostManager reads from a cell database, in a few plain queries.

No versioned objects, and no Python object per node row: the nodes come
as columns (``nodes.NodeColumns``, the cursor's tuples transposed once), a
compute service as a slotted ``ServiceRecord``. A full load of a hundred
thousand nodes must take seconds, not minutes.

Refreshes read only what moved. Every write to a compute node stamps
``updated_at`` with the database server's clock (``db_api.cas_update``),
a new node is stamped at insert and a soft delete stamps ``deleted_at``,
so "changed since the watermark" is two index range scans. The watermark
is the server's clock when the previous read began, less an overlap that
covers transactions that were stamped before that read but committed
after it; rows read twice are recognised by their generation and skipped.
"""
import datetime

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import service as service_obj
from hoststate.scheduler import nodes
from hoststate.scheduler import records

_NODES = schema.compute_nodes
_SERVICES = schema.services

#: The services columns the scheduler reads, in the order of
#: ``records.ServiceRecord``'s arguments.
_SERVICE_COLUMNS = ("id", "host", "disabled", "forced_down",
                    "disabled_reason", "uuid", "created_at", "last_seen_up",
                    "updated_at", "version")


def server_now(conn):
    """The database server's UTC now."""
    return conn.execute(sa.select(db_api.server_utcnow())).scalar()


def _since(table, since):
    clauses = [table.c.updated_at >= since]
    if "deleted_at" in table.c:
        clauses.append(table.c.deleted_at >= since)
    return sa.or_(*clauses)


#: The fields of a node row as read: the scheduler's columns, ``deleted``.
_NODE_NAMES = (*nodes.NODE_COLUMNS, "deleted")


def _node_query():
    columns = [_NODES.c[name] for name in nodes.NODE_COLUMNS]
    return sa.select(*columns, _NODES.c.deleted)


def read_nodes(conn, since=None):
    """Compute node rows as a ``nodes.NodeColumns``: the live ones, or
    with ``since`` every row (deleted ones too, ``deleted`` != 0) that
    changed at or after it. The cursor's tuples are transposed into
    columns at once: no Python object per row survives the read.

    Rows come in id order. A read ``since`` is sorted here, not by the
    database: SQLite answers "changed since, by id" by scanning the whole
    table in id order (tens of milliseconds at 100,000 nodes, for each
    refresh) instead of the two time-stamp indexes."""
    query = _node_query()
    if since is None:
        rows = conn.execute(query.where(_NODES.c.deleted == 0)
                            .order_by(_NODES.c.id)).all()
    else:
        rows = _by_id(conn.execute(query.where(_since(_NODES, since))).all())
    return nodes.NodeColumns.from_rows(_NODE_NAMES, rows)


def _by_id(rows):
    """``rows`` (whose first field is the id) in id order."""
    rows.sort(key=_first)
    return rows


def _first(row):
    return row[0]


def read_node(conn, node_id):
    """The row of node ``node_id`` (deleted or not), as a list of 0 or 1
    (a statement built once: the loop of a simulation reads the node of
    every delete)."""
    return [row._mapping for row in conn.execute(_ONE_NODE, {"id": node_id})]


_ONE_NODE = _node_query().where(_NODES.c.id == sa.bindparam("id"))


def read_services(conn, since=None):
    """Compute service rows as (live ServiceRecords, deleted hosts), in id
    order (a read ``since`` sorted here: see ``read_nodes``).

    The rows come as the driver returns them (``_driver_rows``), their
    time stamps converted once per distinct value (``_Stamps``): after a
    heartbeat round a refresh reads every service again, and SQLAlchemy's
    row objects and one conversion per stamp were most of its time (a
    round stamps hundreds of rows with one server time)."""
    stamps = _Stamps(conn.dialect)
    columns = [_SERVICES.c[name] for name in _SERVICE_COLUMNS]
    compute = _SERVICES.c.binary == service_obj.COMPUTE_BINARY
    if since is None:       # every row live: records straight from rows
        rows = _driver_rows(conn, sa.select(*columns).where(
            compute, _SERVICES.c.deleted == 0).order_by(_SERVICES.c.id))
        return [stamps.record(row) for row in rows], []
    rows = _by_id(_driver_rows(conn, sa.select(*columns, _SERVICES.c.deleted)
                               .where(compute, _since(_SERVICES, since))))
    live = [stamps.record(row[:-1]) for row in rows if not row[-1]]
    return live, [row[1] for row in rows if row[-1]]


def _driver_rows(conn, query):
    """The rows of ``query`` as the DBAPI cursor returns them, without
    SQLAlchemy's result processing: only for columns whose driver values
    the caller converts itself (``_Stamps``; ServiceRecord makes its flags
    bools)."""
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


class _Stamps(dict):
    """The services' time stamps, read as the driver returns them and
    converted as SQLAlchemy would (the column type's result processor),
    each distinct value once: {value as read: value converted}."""

    def __init__(self, dialect):
        super().__init__({None: None})
        self.convert = _SERVICES.c.updated_at.type.dialect_impl(
            dialect).result_processor(dialect, None)

    def __missing__(self, value):
        converted = self[value] = value if self.convert is None \
            else self.convert(value)
        return converted

    def record(self, row):
        """The ServiceRecord of a row of ``_SERVICE_COLUMNS``."""
        (service_id, host, disabled, forced_down, disabled_reason, uuid,
         created_at, last_seen_up, updated_at, version) = row
        return records.ServiceRecord(
            service_id, host, disabled, forced_down, disabled_reason, uuid,
            self[created_at], self[last_seen_up], self[updated_at], version)


_AGGREGATE_TABLES = (schema.aggregates, schema.aggregate_hosts,
                     schema.aggregate_metadata)


def aggregates_fingerprint(conn):
    """One small row per aggregate table (count, highest id, latest stamps):
    it changes whenever a row is added, removed or updated, so the three
    tables are read again only then."""
    query = sa.union_all(*[
        sa.select(sa.literal(t.name).label("name"),
                  sa.func.count().label("rows"),
                  sa.func.max(t.c.id).label("top"),
                  sa.func.max(t.c.updated_at).label("updated"),
                  sa.func.max(t.c.created_at).label("created"))
        for t in _AGGREGATE_TABLES])
    return tuple(sorted(tuple(row) for row in conn.execute(query)))


def read_aggregates(conn):
    """Every aggregate with its hosts and metadata (three small queries)."""
    hosts, metadata = {}, {}
    for aggregate_id, host in conn.execute(sa.select(
            schema.aggregate_hosts.c.aggregate_id,
            schema.aggregate_hosts.c.host)).all():
        held = hosts.get(aggregate_id)
        if held is None:
            hosts[aggregate_id] = [host]
        else:
            held.append(host)
    for aggregate_id, key, value in conn.execute(sa.select(
            schema.aggregate_metadata.c.aggregate_id,
            schema.aggregate_metadata.c.key,
            schema.aggregate_metadata.c.value)).all():
        metadata.setdefault(aggregate_id, {})[key] = value
    return [records.AggregateRecord(
        id=id_, uuid=uuid, name=name, hosts=hosts.get(id_, ()),
        metadata=metadata.get(id_, {}))
        for id_, uuid, name in conn.execute(sa.select(
            schema.aggregates.c.id, schema.aggregates.c.uuid,
            schema.aggregates.c.name).order_by(schema.aggregates.c.id))]


def read_instance_hosts(conn, uuids):
    """{instance uuid: host} of the live instances among ``uuids``."""
    uuids = sorted(set(uuids))
    found = {}
    table = schema.instances
    for start in range(0, len(uuids), 500):
        chunk = uuids[start:start + 500]
        query = sa.select(table.c.uuid, table.c.host).where(
            table.c.uuid.in_(chunk), table.c.deleted == 0)
        found.update((row.uuid, row.host) for row in conn.execute(query))
    return found


def watermark(read_started_at, overlap_seconds):
    """Where the next refresh starts reading."""
    return read_started_at - datetime.timedelta(seconds=overlap_seconds)
