"""The periodic update half of ResourceTracker: recount a node's usage
from the driver, its instances, migrations and ledger rows, and save it.

Mixed into ResourceTracker (as ``give_back.GiveBack`` and
``moves.MoveClaims`` are): it uses the tracker's node, lock and writes
(``_apply_with_retry``). An agent working through a conductor defers
each node's write into one bulk call per cycle (``PendingWrite``,
``ComputeNodeList.save_all``) and finishes or redoes it here.
"""
import logging

from hoststate.conf import CONF
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import recount_fast

LOG = logging.getLogger(__name__)


class PeriodicUpdate:
    """The periodic update of ResourceTracker."""

    def update_available_resource(self, resources=None, sources=None,
                                  cycle=None, batch=None):
        """Recount usage from the driver, instances and migrations; save it.

        The node row is written only when a field other than updated_at
        changed. A save that loses a compare-and-swap re-reads and counts
        again; one that fails otherwise leaves this tracker's copy of the
        last saved row in place, so the next cycle writes again. Returns
        True if the row was written. ``sources`` is what the agent already
        read for this node: (instances, migrations, {uuid: instance} for
        the migrations' instances, {node id: ledger rows}); without it the
        tracker reads its own.

        ``sources`` must have been read after the node was last given with
        ``set_node`` (the agent reloads its nodes, then reads). If this
        tracker changed its node or consumptions since (a delete's usage
        given back, an instance the scheduler placed adopted), they may
        predate that change: counting from them would put a deleted
        instance back, or forget an adopted one, and neither is caught by
        the compare-and-swap (the tracker's own write moved the generation
        it compares with; an adoption writes nothing). They are read again
        here, under the lock.

        A node in its steady state (every instance holds in the ledger
        what it takes, nothing NUMA or PCI, no field to change) is told
        apart with plain numbers first (``recount_fast``), without the
        full recount. ``cycle`` (a ``recount_fast.CycleMemo``) is what the
        nodes of one agent cycle share for it.

        ``batch`` (a list; an agent working through a conductor): the
        write, if any, is not made but added to it as a
        :class:`PendingWrite`, which the agent sends with the cycle's
        others in one call (``ComputeNodeList.save_all``), then finishes
        here (``bulk_saved``) or redoes the usual way (``redo``).
        """
        if resources is None:
            resources = self.driver.get_available_resource(self.nodename)
        driver_api.validate_resources(resources)
        with self.lock:
            if self._edits != self._edits_at_set_node:
                sources = None
            counted = self._counted_or_none(sources)
            steady = self._steady_consumptions(resources, counted, cycle)
            if steady is not None:
                # what the recount below would find, without building the
                # node: nothing to write, repair or warn about
                self.consumptions = steady
                return False
            attempts = []
            recounted = {}

            def recount(node, edit):
                # A retry follows a lost compare-and-swap: another writer
                # (a scheduler's claim adds an instance in the same
                # transaction as its node write) moved the node, and this
                # node was re-read just now. The instances are read again
                # after it, so none claimed before that read is missed.
                if counted is not None and not attempts:
                    instances, sides, ledger = counted
                else:
                    instances, sides, ledger = self._count_sources(
                        sources if not attempts else None)
                attempts.append(node.generation)
                result = periodic.recount(CONF, resources, node, instances,
                                          sides, ledger)
                recounted["result"] = result
                edit.added.extend(self._allocation(values)
                                  for values in result.added)
                edit.removed.extend(self._allocation(row)
                                    for row in result.removed)
                changes = periodic.differences(node, result.target)
                recounted["devices"] = periodic.device_repairs(
                    node, result.target) if changes.keys() & {
                        "numa_topology", "pci_device_pools"} else []
                node.update(changes)
                return bool(changes) or bool(edit)

            def finish():
                result = recounted["result"]
                self.consumptions = result.consumptions
                self._log_repairs(result.warnings, result.repairs,
                                  recounted["devices"])
            if batch is not None:
                deferred = self._deferred(recount, finish, batch, resources)
                if deferred is not None:
                    return deferred
            written = self._apply_with_retry(recount)
            finish()
            return written

    def _deferred(self, change, finish, batch, resources):
        """``change`` applied once to a copy of the node, its write added
        to ``batch`` instead of made: True; False when there is nothing to
        write (finished); None when the change failed (the usual path
        then tries again on the node as stored, and reports)."""
        node = self.node.obj_clone()
        edit = LedgerEdit()
        try:
            change(node, edit)
        except Exception:
            return None
        if not node.obj_what_changed() and not edit:
            finish()
            return False
        batch.append(PendingWrite(self, node, edit, finish, resources))
        return True

    def bulk_saved(self, pending, node):
        """Adopt ``node``, as the bulk save of ``pending`` wrote it; False
        (nothing adopted) when this tracker changed its node or its
        consumptions since the write was deferred (the lock was let go in
        between): the caller then redoes the update the usual way."""
        with self.lock:
            if self._edits != pending.edits_at:
                return False
            self._saved(node)
            pending.finish()
            return True

    def redo(self, resources):
        """The update the usual way after its bulk write conflicted (or
        was not adopted): from the node as stored and fresh reads."""
        with self.lock:
            self._reread_node()
        return self.update_available_resource(resources)

    def _log_repairs(self, warnings, repairs, devices=()):
        for text in warnings:
            LOG.warning("%s", text)
        for name, old, new in devices:
            LOG.warning("node %s: %s was %s; the ledger says %s (repaired)",
                        self.nodename, name, old, new)
        for name, old, said, new in repairs:
            LOG.warning("node %s: %s was %s, reserved + the ledger said %s;"
                        " now %s (repaired)", self.nodename, name, old, said,
                        new)

    def _steady_consumptions(self, resources, counted, cycle):
        """``recount_fast.steady_consumptions`` of the counted sources;
        None (count the slow way) when there are none, or when the check
        itself failed: the full recount then decides, and reports."""
        if counted is None:
            return None
        try:
            return recount_fast.steady_consumptions(
                CONF, resources, self.node, *counted,
                memo=self._recount_memo, cycle=cycle)
        except Exception:
            LOG.debug("node %s: the steady-state check failed; counting "
                      "the slow way", self.nodename, exc_info=True)
            return None

    def _counted_or_none(self, sources):
        """``_count_sources(sources)``, or None if that failed: the
        recount's own attempts then count again (and retry once, on the
        node as stored, as any change that fails does)."""
        try:
            return self._count_sources(sources)
        except Exception:
            LOG.debug("node %s: counting the sources failed; the recount "
                      "counts them again", self.nodename, exc_info=True)
            return None

    def _count_sources(self, sources):
        instances, sides, stale, ledger = self._usage_sources(sources)
        for migration in stale:
            migration.status = "error"
            migration.save()
        return instances, sides, ledger

    def _usage_sources(self, sources):
        if sources is None:
            sources = self._read_usage_sources()
        instances, migrations, by_uuid, ledger_by_node = sources
        ledger = ledger_by_node.get(self.node.id, [])
        sides, stale = periodic.migration_sides(
            self.host, self.nodename, migrations, by_uuid)
        self.tracked_migrations = {m.instance_uuid: m for m in migrations
                                   if m not in stale}
        return instances, sides, stale, ledger

    def _read_usage_sources(self):
        instances = list(instance_obj.InstanceList.get_by_host_and_node(
            self.context, self.host, self.nodename))
        migrations = list(migration_obj.MigrationList.
                          get_in_progress_by_host_and_node(
                              self.context, self.host, self.nodename))
        by_uuid = {i.uuid: i for i in instances}
        missing = {m.instance_uuid for m in migrations} - set(by_uuid)
        if missing:
            by_uuid.update((i.uuid, i) for i in instance_obj.InstanceList.
                           get_by_uuids(self.context, sorted(missing)))
        ledger = {self.node.id: list(allocation_obj.AllocationList
                                     .get_by_node(self.context,
                                                  self.node.id))}
        return instances, migrations, by_uuid, ledger


class PendingWrite:
    """A tracker's node write deferred into an agent's bulk save."""

    __slots__ = ("tracker", "node", "edit", "finish", "resources",
                 "edits_at")

    def __init__(self, tracker, node, edit, finish, resources):
        self.tracker, self.node, self.edit = tracker, node, edit
        self.finish, self.resources = finish, resources
        self.edits_at = tracker._edits

    def edit_values(self):
        """The ledger edit as ``ComputeNodeList.save_all`` takes it."""
        return {"added": list(self.edit.added),
                "removed": list(self.edit.removed),
                "rekeyed": [list(pair) for pair in self.edit.rekeyed]}


class LedgerEdit:
    """The ledger rows one node write adds, removes and hands over."""

    __slots__ = ("added", "removed", "rekeyed")

    def __init__(self):
        self.added, self.removed, self.rekeyed = [], [], []

    def __bool__(self):
        return bool(self.added or self.removed or self.rekeyed)
