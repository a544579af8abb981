"""Giving a scheduler's claim back (``claims.claim``'s inverse): when a
request fails after its claim (a build on a dead host, a later instance
of the request with no room), exactly what the instance's ledger rows on
the node hold goes back, in one transaction with the node's counters and
the instance row, which is unplaced again."""
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.scheduler.claims import CLAIM_RETRIES


#: What a claim sets on an instance row, as it was before (a scheduler
#: only claims unplaced instances).
_UNPLACED = {"host": None, "node": None, "compute_id": None,
             "launched_on": None, "numa_topology": None}


def release(context, node_id, instance_uuid):
    """Give back a claim this scheduler made (the request failed later):
    exactly what the instance's ledger rows on the node hold, in one
    transaction with the node's counters and the instance row, which is
    unplaced. Returns the node row as stored, or None when the ledger
    holds nothing for the instance there."""
    for _ in range(CLAIM_RETRIES):
        try:
            with db_api.transaction(context) as conn:
                return _release_on(conn, context, node_id, instance_uuid)
        except exception.GenerationConflict:
            continue
    raise exception.GenerationConflict(
        table="compute_nodes", row_id=node_id, seen_generation=-1)


def take_back(context, instance_uuid, host, nodename, expected, values,
              also=None):
    """Take a build back from ``host``'s ``nodename``: while the instance
    is still as ``expected`` (``instance.set_if``), give back what the
    node holds for it and write ``values`` with the instance unplaced,
    all in one transaction. False, with nothing written, when the
    instance moved on (another conductor, or its agent, got there
    first). The instance row is compared and locked first, so its agent
    taking or finishing the build waits for this and then finds it
    gone. ``also(conn)``: more to write in the same transaction (a
    fault)."""
    node_id = _node_id(context, host, nodename)
    table = schema.instances
    for _ in range(CLAIM_RETRIES):
        try:
            with db_api.transaction(context) as conn:
                if not instance_obj.set_if(conn, instance_uuid, expected,
                                           {}):
                    return False
                if node_id is not None:
                    _release_on(conn, context, node_id, instance_uuid)
                conn.execute(sa.update(table).where(
                    table.c.uuid == instance_uuid, table.c.deleted == 0)
                    .values(**dict(values, **_UNPLACED)))
                if also is not None:
                    also(conn)
                return True
        except exception.GenerationConflict:
            continue
    raise exception.GenerationConflict(
        table="compute_nodes", row_id=node_id, seen_generation=-1)


def _node_id(context, host, nodename):
    if host is None or nodename is None:
        return None
    try:
        return cn_obj.ComputeNode.get_by_host_and_nodename(
            context, host, nodename).id
    except exception.ComputeNodeNotFound:
        return None


def _release_on(conn, context, node_id, instance_uuid):
    held_rows = [row for row in db_ledger.rows_of(conn, node_id)
                 if row["instance_uuid"] == instance_uuid]
    if not held_rows:
        return None
    node = cn_obj.ComputeNode._from_db_object(
        context, cn_obj.ComputeNode(context), db_api.select_one(
            conn, schema.compute_nodes, exception.ComputeNodeNotFound(
                key=node_id), id=node_id))
    instances = db_api.select_rows(conn, schema.instances,
                                   uuid=instance_uuid)
    for row in held_rows:
        cons.apply(node, cons.Consumption.held(row), -1)
    if instances and instances[0]["compute_id"] == node_id:
        instance = instance_obj.Instance._from_db_object(
            context, instance_obj.Instance(context), instances[0])
        node_stats.apply_stats(node, instance, -1)
        db_api.update_row(conn, schema.instances, instance.id,
                          dict(_UNPLACED))
    node_values = node._column_values(node.obj_what_changed() - {"uuid"})
    row = db_api.cas_update(conn, schema.compute_nodes, node.id,
                            node.generation, node_values)
    db_ledger.delete(conn, held_rows)
    return row
