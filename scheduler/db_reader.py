"""What the HostManager reads from a cell database, in a few plain queries.

Rows stay SQLAlchemy row mappings (no versioned objects): a full load of a
hundred thousand nodes must take seconds, not minutes.

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

_SERVICE_COLUMNS = ("id", "uuid", "host", "disabled", "disabled_reason",
                    "forced_down", "created_at", "last_seen_up",
                    "updated_at", "version", "deleted")


def server_now(conn):
    """The database server's UTC now."""
    return conn.execute(sa.select(db_api.server_utcnow())).scalar()


def _since(table, since):
    clauses = [table.c.updated_at >= since]
    if "deleted_at" in table.c:
        clauses.append(table.c.deleted_at >= since)
    return sa.or_(*clauses)


def read_nodes(conn, since=None):
    """Compute node rows: the live ones, or with ``since`` every row
    (deleted ones too, ``deleted`` != 0) that changed at or after it."""
    columns = [_NODES.c[name] for name in nodes.NODE_COLUMNS]
    query = sa.select(*columns, _NODES.c.deleted)
    if since is None:
        query = query.where(_NODES.c.deleted == 0)
    else:
        query = query.where(_since(_NODES, since))
    return [row._mapping for row in conn.execute(query.order_by(_NODES.c.id))]


def read_node(conn, node_id):
    """The row of node ``node_id`` (deleted or not), as a list of 0 or 1."""
    columns = [_NODES.c[name] for name in nodes.NODE_COLUMNS]
    query = sa.select(*columns, _NODES.c.deleted).where(_NODES.c.id == node_id)
    return [row._mapping for row in conn.execute(query)]


def read_services(conn, since=None):
    """Compute service rows as (live ServiceRecords, deleted hosts)."""
    query = sa.select(*[_SERVICES.c[name] for name in _SERVICE_COLUMNS]) \
        .where(_SERVICES.c.binary == service_obj.COMPUTE_BINARY)
    if since is None:
        query = query.where(_SERVICES.c.deleted == 0)
    else:
        query = query.where(_since(_SERVICES, since))
    live, deleted = [], []
    for row in conn.execute(query.order_by(_SERVICES.c.id)):
        if row.deleted:
            deleted.append(row.host)
            continue
        live.append(records.ServiceRecord(
            id=row.id, uuid=row.uuid, host=row.host, disabled=row.disabled,
            disabled_reason=row.disabled_reason, forced_down=row.forced_down,
            created_at=row.created_at, last_seen_up=row.last_seen_up,
            updated_at=row.updated_at, version=row.version))
    return live, deleted


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
    for row in conn.execute(sa.select(schema.aggregate_hosts.c.aggregate_id,
                                      schema.aggregate_hosts.c.host)):
        hosts.setdefault(row.aggregate_id, []).append(row.host)
    for row in conn.execute(sa.select(
            schema.aggregate_metadata.c.aggregate_id,
            schema.aggregate_metadata.c.key,
            schema.aggregate_metadata.c.value)):
        metadata.setdefault(row.aggregate_id, {})[row.key] = row.value
    return [records.AggregateRecord(
        id=row.id, uuid=row.uuid, name=row.name, hosts=hosts.get(row.id, ()),
        metadata=metadata.get(row.id, {}))
        for row in conn.execute(sa.select(
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
