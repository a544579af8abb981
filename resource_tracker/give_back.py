"""Giving back what the ledger holds: a claim aborted, a move's side
dropped, an instance deleted.

Mixed into ResourceTracker (as ``moves.MoveClaims`` is): it uses the
tracker's node, lock and writes. An instance's delete gives back in one
transaction on the node as stored, read in that transaction: the
scheduler's claims move the node behind the tracker's back (two deletes
in three found it moved at 1,000 nodes), so giving back on the node as
last seen would mostly lose the compare-and-swap and read it all the
same. A node and rows without NUMA cells or PCI devices (almost every
delete) are given back with plain numbers on the row as read, without
building a ComputeNode: that cost more than the whole transaction.
"""
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection
from hoststate.objects import node_columns

#: How often a give-back reads the node again after losing a
#: compare-and-swap (only where the node row is not locked by the read:
#: never on SQLite, whose writing transaction holds the database).
GIVE_BACK_RETRIES = 50


class GiveBack:
    """The give-back half of ResourceTracker."""

    def _give_back(self, consumer, instance=None):
        """Give back exactly what the ledger holds for ``consumer`` here
        (nothing if it holds nothing); the consumption given back."""
        def give_back(node, edit):
            held = self._held(consumer)
            if held is None:
                return None
            fitted = cons.Consumption.held(held)
            self._count(node, fitted, instance, -1)
            edit.removed.append(held)
            return fitted
        return self._apply_with_retry(give_back)

    def _held(self, consumer):
        """The ledger row of ``consumer`` on this node, or None."""
        try:
            return allocation_obj.Allocation.get_by_consumer(
                self.context, consumer, self.node.id)
        except exception.AllocationNotFound:
            return None

    def _give_back_instance(self, instance, tracked):
        """Give back every row ``instance`` holds here (its own and a
        same-node move's), and take it out of the node's stats if it is
        counted there: ``tracked`` here, or holding a row of its own (a
        scheduler's claim counts its instance in; a move claim, held by
        the migration, does not). The node, its rows and the write are
        one transaction (see the module docstring)."""
        if indirection.is_remote():
            return self._give_back_instance_remotely(instance, tracked)
        for _ in range(GIVE_BACK_RETRIES):
            try:
                given = self._give_back_stored(instance, tracked)
            except exception.GenerationConflict:
                # the node moved between the read and the write, or a row
                # was given back by another writer (LedgerConflict)
                continue
            if given is not None:
                self._keep_given_back(*given)
            return
        raise exception.GenerationConflict(
            table="compute_nodes", row_id=self.node.id,
            seen_generation=self.node.generation)

    def _give_back_instance_remotely(self, instance, tracked):
        """``_give_back_instance`` for an agent without a database: the
        rows the instance holds here read from a conductor, given back on
        the node with the tracker's usual write (``save_with_ledger``,
        remotable: the conductor checks the node is this host's), which
        re-reads the node and tries again when a claim moved it."""
        def give_back(node, edit):
            rows = [row for row in allocation_obj.AllocationList
                    .get_by_instance(self.context, instance.uuid)
                    if row.compute_node_id == node.id]
            counted = tracked or any(row.consumer_uuid == instance.uuid
                                     for row in rows)
            for row in rows:
                cons.apply(node, cons.Consumption.held(row), -1)
                edit.removed.append(row)
            if counted:
                node_stats.apply_stats(node, instance, -1)
        self._apply_with_retry(give_back)

    def _give_back_stored(self, instance, tracked):
        """One attempt of ``_give_back_instance``: (node row read, the node
        as changed, node row written) when the tracker keeps the node as
        written (``_keeps``), else None (None too when there was nothing
        to give back)."""
        node_id = self.node.id
        with db_api.transaction(self.context) as conn:
            read = [row._mapping for row in conn.execute(
                _node_and_rows(), {"node_id": node_id,
                                   "instance_uuid": instance.uuid})]
            if not read:
                raise exception.ComputeNodeNotFound(key=node_id)
            stored, rows = read[0], allocation_obj.joined_rows(read)
            counted = tracked or any(row["consumer_uuid"] == instance.uuid
                                     for row in rows)
            if not rows and not counted:
                return None
            node = _StoredUsage(stored) if not any(
                map(_holds_devices, rows)) else \
                cn_obj.ComputeNode._from_db_object(
                    self.context, cn_obj.ComputeNode(self.context), stored)
            for row in rows:
                cons.apply(node, cons.Consumption.held(row), -1)
            if counted:
                node_stats.apply_stats(node, instance, -1)
            kept = self._keeps(stored, node)
            written = db_api.cas_update(
                conn, schema.compute_nodes, node_id, stored["generation"],
                _column_values(node), read_back=kept)
            db_ledger.delete(conn, rows)
        return (stored, node, written) if kept else None

    def _keeps(self, stored, node):
        """Whether the tracker takes the node as the give-back writes it:
        when that costs little, a whole node built from the row (NUMA,
        PCI), or this tracker's node if it was the node given back on.
        Otherwise the tracker keeps its node as last seen, as after any
        scheduler's claim: its next write finds the node moved, and reads
        it."""
        return isinstance(node, cn_obj.ComputeNode) or \
            stored["generation"] == self.node.generation

    def _keep_given_back(self, stored, node, written):
        """Hold the node as the give-back wrote it (``_keeps``)."""
        if isinstance(node, cn_obj.ComputeNode):
            node.saved_as(written)
            self._saved(node)
        else:
            self._saved(self.node.stored_with(node.changed, written))


_BUILT = {}


def _node_and_rows():
    """The live node ``node_id`` with the ledger rows ``instance_uuid``
    holds on it, one joined row each (one row with NULL ledger columns
    when it holds none): one statement, built once. Not locked: the
    compare-and-swap and the ledger's delete find another writer's
    change (on SQLite none can come, the write lock is held)."""
    query = _BUILT.get("node_and_rows")
    if query is None:
        nodes, ledger = schema.compute_nodes, schema.allocations
        query = _BUILT["node_and_rows"] = (
            sa.select(nodes, *allocation_obj.joined_columns())
            .select_from(nodes.outerjoin(ledger, sa.and_(
                ledger.c.compute_node_id == nodes.c.id,
                ledger.c.instance_uuid == sa.bindparam("instance_uuid"))))
            .where(nodes.c.id == sa.bindparam("node_id"),
                   db_api.not_deleted(nodes, "no"))
            .order_by(ledger.c.id))
    return query


def _holds_devices(row):
    """Whether a ledger row holds NUMA cells or PCI devices."""
    return row["numa_topology"] is not None or \
        row["pci_allocation"] is not None


def _column_values(node):
    if isinstance(node, cn_obj.ComputeNode):
        return node._column_values(node.obj_what_changed() - {"uuid"})
    return node_columns.column_values(node.changed,
                                      node.changed.__getitem__)


class _StoredUsage:
    """A compute_nodes row read as a ComputeNode's fields, changed as
    one: ``consumption.apply`` and ``node_stats.apply_stats`` read it
    with ``obj_get`` and set attributes, which land in ``changed`` (the
    fields to write) and are read back from there."""

    __slots__ = ("row", "changed")

    def __init__(self, row):
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "changed", {})

    def obj_get(self, name, default=None):
        if name in self.changed:
            value = self.changed[name]
        elif name == "stats":
            value = node_columns.stats_of(self.row["stats"])
        else:
            value = self.row[name]
        return default if value is None else value

    def __getattr__(self, name):
        return self.obj_get(name)

    def __setattr__(self, name, value):
        self.changed[name] = value
