"""Deleting compute nodes a driver no longer reports: ``hoststate
hypervisor-delete NODE`` and ``hoststate compute --prune``.

As Nova refuses to delete a compute service that still hosts instances
(HTTP 409, "migrate or delete the instances first", with no way to force
it), a node is refused while a live instance is placed on it or an
unfinished migration has it at either end: deleting it would leave those
instances on a node nobody tracks, and their usage with nobody to give it
back. There is no ``--force``.

The check and the delete are one transaction, and the delete is a
compare-and-swap on each node's generation: a claim that lands on a node
in between makes the whole removal fail with nothing changed, and a claim
that comes after finds the node deleted (claims never write a deleted
node). Several nodes are deleted all or none.

The delete is Nova's soft delete (``deleted = id``): an agent whose driver
reports the node again brings it back, with its id and uuid, as Nova's
resource tracker does.
"""
import dataclasses

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import migration as migration_obj

_NODES = schema.compute_nodes
_INSTANCES = schema.instances
_MIGRATIONS = schema.migrations


class NodeInUse(exception.HoststateError):
    msg_fmt = ("node %(node)s of host %(host)s still has %(what)s; migrate "
               "or delete them first (nothing was deleted)")


class NodeChanged(exception.HoststateError):
    msg_fmt = ("node %(node)s of host %(host)s changed while it was being "
               "deleted (a claim?); nothing was deleted, try again")


@dataclasses.dataclass(frozen=True)
class RemovedNode:
    id: int
    uuid: str
    hypervisor_hostname: str
    host: str

    def __str__(self):
        return (f"deleted node {self.hypervisor_hostname} (id {self.id}, "
                f"uuid {self.uuid}) of host {self.host}")


def delete_nodes(context, node_ids):
    """Soft-delete the live nodes ``node_ids`` in one transaction; returns
    their RemovedNode records, in id order. NodeInUse or NodeChanged (and
    nothing deleted) otherwise."""
    if not node_ids:
        return []
    with db_api.transaction(context) as conn:
        nodes = conn.execute(sa.select(
            _NODES.c.id, _NODES.c.uuid, _NODES.c.hypervisor_hostname,
            _NODES.c.host, _NODES.c.generation)
            .where(_NODES.c.id.in_(sorted(set(node_ids))),
                   _NODES.c.deleted == 0)
            .order_by(_NODES.c.id)).all()
        for node in nodes:
            _refuse_if_in_use(conn, node)
        for node in nodes:
            try:
                db_api.delete_row(conn, _NODES, node.id,
                                  seen_generation=node.generation)
            except (exception.GenerationConflict, exception.NotFound):
                raise NodeChanged(node=node.hypervisor_hostname,
                                  host=node.host) from None
    return [RemovedNode(n.id, n.uuid, n.hypervisor_hostname, n.host)
            for n in nodes]


def _refuse_if_in_use(conn, node):
    instances = conn.execute(sa.select(sa.func.count()).where(
        _INSTANCES.c.deleted == 0, _INSTANCES.c.host == node.host,
        _INSTANCES.c.node == node.hypervisor_hostname)).scalar()
    moving = conn.execute(sa.select(sa.func.count()).where(
        _MIGRATIONS.c.deleted == 0,
        _MIGRATIONS.c.status.notin_(migration_obj.DONE_STATUSES),
        sa.or_(sa.and_(_MIGRATIONS.c.source_compute == node.host,
                       _MIGRATIONS.c.source_node == node.hypervisor_hostname),
               sa.and_(_MIGRATIONS.c.dest_compute == node.host,
                       _MIGRATIONS.c.dest_node == node.hypervisor_hostname)))
    ).scalar()
    found = [f"{count} {what}" for count, what in (
        (instances, "instance(s)"), (moving, "unfinished migration(s)"))
        if count]
    if found:
        raise NodeInUse(node=node.hypervisor_hostname, host=node.host,
                        what=" and ".join(found))


def unreported_node_ids(context, host, reported):
    """Ids of ``host``'s live nodes whose names are not in ``reported``."""
    with db_api.transaction(context) as conn:
        rows = conn.execute(sa.select(_NODES.c.id, _NODES.c.hypervisor_hostname)
                            .where(_NODES.c.deleted == 0,
                                   _NODES.c.host == host)).all()
    reported = set(reported)
    return [row.id for row in rows if row.hypervisor_hostname not in reported]
