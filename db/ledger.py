"""The ledger's statements: rows of ``allocations`` added, changed, given
back and summed, on a connection whose transaction also writes the
node's counters (a ledger change never commits alone)."""
import collections.abc

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema

TABLE = schema.allocations
_INSERT = sa.insert(TABLE)


def insert(conn, rows):
    """Add rows (dicts of column values); DuplicateRecord when a consumer
    already holds something on that node."""
    if not rows:
        return
    now = db_api.utcnow()
    stamped = [dict(row, created_at=now) for row in rows]
    # one row (a claim) as one statement, not the executemany path
    conn.execute(_INSERT, stamped[0] if len(stamped) == 1 else stamped)


def delete(conn, rows):
    """Remove exactly these rows (mappings or objects with ``id``,
    ``consumer_uuid`` and ``compute_node_id``); LedgerConflict if one is
    gone already (another writer gave it back)."""
    for row in rows:
        gone = db_api.delete_rows(conn, TABLE, id=_get(row, "id"))
        if gone != 1:
            raise exception.LedgerConflict(
                consumer=_get(row, "consumer_uuid"),
                node_id=_get(row, "compute_node_id"), table="allocations",
                row_id=_get(row, "id"), seen_generation=-1)


def rekey(conn, consumer_uuid, new_consumer_uuid):
    """Hand every row of ``consumer_uuid`` to ``new_consumer_uuid``."""
    conn.execute(sa.update(TABLE).where(TABLE.c.consumer_uuid ==
                                        consumer_uuid)
                 .values(consumer_uuid=new_consumer_uuid,
                         updated_at=db_api.utcnow()))


def rows_of(conn, node_id, consumer_uuid=None, for_update=False):
    """The node's rows (of one consumer, if given), as mappings."""
    equals = {"compute_node_id": node_id}
    if consumer_uuid is not None:
        equals["consumer_uuid"] = consumer_uuid
    return db_api.select_rows(conn, TABLE, for_update=for_update, **equals)


def totals_by_node(conn, node_ids=None):
    """{node id: (vcpus, memory_mb, disk_gb, rows)} summed over the
    ledger, in one query (nodes without rows are absent)."""
    query = sa.select(TABLE.c.compute_node_id, sa.func.sum(TABLE.c.vcpus),
                      sa.func.sum(TABLE.c.memory_mb),
                      sa.func.sum(TABLE.c.disk_gb), sa.func.count()) \
        .group_by(TABLE.c.compute_node_id)
    if node_ids is not None:
        query = query.where(TABLE.c.compute_node_id.in_(list(node_ids)))
    return {row[0]: tuple(int(v) for v in row[1:])
            for row in conn.execute(query)}


def _get(row, name):
    return row[name] if isinstance(row, collections.abc.Mapping) \
        else getattr(row, name)
