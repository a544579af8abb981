"""ResourceTracker: one compute node's claims and usage.

One tracker per node, each with its own fair lock, so claims on different
nodes of one agent never wait for each other (Nova holds one lock for every
node of a host). The ComputeNode row in the database is the truth at claim
time: a claim re-reads it when a compare-and-swap save finds it moved, and
checks again against what is really there, so two trackers (or two
processes) claiming on one node never over-commit it and never lose each
other's usage. The periodic update recounts usage from scratch from the
instances and migrations in the database.
"""
import contextlib
import logging

from hoststate import exception
from hoststate.conf import CONF
from hoststate.hardware import numa as hw_numa
from hoststate.hardware import usage as hw_usage
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import states
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import give_back
from hoststate.resource_tracker import locks
from hoststate.resource_tracker import moves
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import recount_fast

LOG = logging.getLogger(__name__)

#: How often a write re-reads and retries after losing a compare-and-swap.
CAS_RETRIES = 50


class ResourceTracker(moves.MoveClaims, give_back.GiveBack):
    """Claims and usage of ``nodename``, a node of compute host ``host``."""

    def __init__(self, context, host, nodename, driver):
        self.context = context
        self.host = host
        self.nodename = nodename
        self.driver = driver
        self.lock = locks.FairLock()
        self.node = None
        #: instance uuid -> Consumption this tracker claimed or counted
        self.consumptions = {}
        #: instance uuid -> Consumption a move claim took here
        self.move_consumptions = {}
        #: instance uuid -> Migration in progress at this node
        self.tracked_migrations = {}
        #: changes this tracker made to its node or its consumptions, and
        #: their number at the last set_node (see update_available_resource)
        self._edits = 0
        self._edits_at_set_node = 0
        #: what the periodic update's steady-state check keeps from one
        #: cycle to the next
        self._recount_memo = recount_fast.TrackerMemo()

    # --- state -----------------------------------------------------------

    def disabled(self):
        """True when claims must be refused: no node yet, or driver says so."""
        return self.node is None or not self.driver.node_is_available(
            self.nodename)

    def tracked_instances(self):
        return set(self.consumptions)

    def set_node(self, node):
        """Adopt ``node`` (as stored) as this tracker's view of its row.

        Given the node it holds already (the agent found the row as it was
        when this node was read), only the mark moves: sources read from
        now on are fresh (see ``update_available_resource``)."""
        if node is not self.node:
            self.node = node
        self._edits_at_set_node = self._edits

    def _saved(self, node):
        """Adopt ``node`` as this tracker just wrote it: a change of its
        own, unlike ``set_node``."""
        self.node = node
        self._edits += 1

    # --- claims ----------------------------------------------------------

    @contextlib.contextmanager
    def instance_claim(self, instance, image_meta=None, held=None):
        """Claim the resources of a new ``instance`` on this node.

        A context manager: the claim is aborted if the block raises. A claim
        that does not fit raises ComputeResourcesUnavailable with every
        reason, and changes neither the instance nor the node.

        ``held``: the instance's ledger rows (mappings, on any node), when
        the caller read them with the instance after the scheduler's
        claim (``instance.get_placed``); otherwise an adoption reads its
        row here.
        """
        with self.lock:
            self._require_enabled()
            if self._claimed_by_scheduler(instance):
                fitted = self._adopted(instance, held)
            else:
                fitted = self._claim_new(instance, image_meta)
            self.consumptions[instance.uuid] = fitted
            self._edits += 1
        try:
            yield fitted
        except Exception:
            self.abort_instance_claim(instance)
            raise

    def _claim_new(self, instance, image_meta):
        wanted = cons.Consumption.of(
            instance.flavor, hw_usage.is_boot_from_volume(instance),
            pci_requests=instance.obj_get("pci_requests"))
        requested_numa = instance.obj_get("numa_topology") or \
            self.numa_request(instance.flavor, image_meta)
        fitted = self._take(wanted, requested_numa, instance.uuid,
                            instance.uuid, instance)
        try:
            self._place_instance(instance, fitted)
        except Exception:
            self._give_back(instance.uuid, instance)
            raise
        return fitted

    def _adopted(self, instance, rows=None):
        """What a scheduler's claim took here for ``instance``: its ledger
        row, exactly (the instance's flavor if the row is missing; the
        next recount records it). ``rows``: the instance's rows as the
        caller read them, None to read them here."""
        held = self._held(instance.uuid) if rows is None else next(
            (row for row in rows if row["consumer_uuid"] == instance.uuid
             and row["compute_node_id"] == self.node.id), None)
        if held is None:
            return _consumption_of_instance(instance)
        return cons.Consumption.held(held).with_requests(
            instance.obj_get("pci_requests"))

    def numa_request(self, flavor, image_meta):
        """The NUMA topology ``flavor`` and ``image_meta`` ask for, bounded
        by this node: a guest larger than the node is refused as a claim
        that does not fit, before its CPU sets are built."""
        try:
            return hw_numa.get_constraints(
                flavor, image_meta, max_vcpus=self.node.vcpus,
                where=self.nodename)
        except hw_numa.NUMARequestTooLarge as exc:
            raise exception.ComputeResourcesUnavailable(
                node=self.nodename, reasons=[str(exc)]) from None

    def _claimed_by_scheduler(self, instance):
        """Whether ``instance`` is stored as placed on this node already.

        A scheduler's claim writes the node's usage and the instance's
        placement in one transaction, so such an instance is counted in
        the node as stored: claiming it again would count it twice. The
        tracker adopts it instead (and a recount would count it too).
        """
        if not instance.obj_attr_is_set("id"):
            return False
        changed = instance.obj_what_changed()
        return (instance.obj_get("host") == self.host and
                instance.obj_get("node") == self.nodename and
                instance.obj_get("compute_id") == self.node.id and
                not changed & {"host", "node", "compute_id"})

    def abort_instance_claim(self, instance):
        """Undo an instance claim: usage back, instance unplaced."""
        with self.lock:
            self._edits += 1
            self.consumptions.pop(instance.uuid, None)
            self._give_back(instance.uuid, instance)
            instance.numa_topology = None
            instance.host = None
            instance.node = None
            instance.compute_id = None
            if instance.obj_attr_is_set("id"):
                instance.save()

    def update_usage(self, instance):
        """Follow a state change of a tracked instance.

        An instance that is deleted or shelved-offloaded gives back
        everything the ledger holds for it on this node (tracked or not:
        after a restart the ledger still knows); an untracked one that
        holds resources again (unshelve) takes them. Does nothing on a
        disabled node.
        """
        with self.lock:
            if self.disabled():
                return
            removable = states.allows_resource_removal(
                instance.vm_state, instance.obj_get("task_state"))
            tracked = self.consumptions.get(instance.uuid)
            self._edits += 1
            if removable:
                self.consumptions.pop(instance.uuid, None)
                self._give_back_instance(instance, tracked=tracked is not None)
            elif tracked is None and \
                    instance.obj_get("node") == self.nodename:
                wanted = _consumption_of_instance(instance)
                self._apply_with_retry(lambda node, edit: self._record(
                    node, edit, wanted, instance.uuid, instance))
                self.consumptions[instance.uuid] = wanted

    # --- periodic update ---------------------------------------------------

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
        edit = _LedgerEdit()
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

    # --- node writes ------------------------------------------------------

    def _require_enabled(self):
        if self.disabled():
            raise exception.ComputeResourcesUnavailable(
                node=self.nodename,
                reasons=[f"node {self.nodename} is not available"])

    def _take(self, wanted, requested_numa, consumer, instance_uuid,
              instance=None):
        """Fit ``wanted`` on the node as stored, add it there and record it
        in the ledger as ``consumer``'s (one transaction); return the
        fitted consumption. Raises ComputeResourcesUnavailable (with the
        Shortfalls) if it does not fit the node as it really is, by the
        whole capacity rule the scheduler's claim checks too (no instance
        larger than its node included). ``instance`` is counted in the
        node's stats (a move claim's is not: it lives elsewhere)."""
        def claim(node, edit):
            fitted, shortfalls = cons.fit(node, wanted, requested_numa)
            if shortfalls:
                raise exception.ComputeResourcesUnavailable(
                    node=self.nodename, reasons=shortfalls)
            self._record(node, edit, fitted, consumer, instance,
                         instance_uuid)
            return fitted
        return self._apply_with_retry(claim)

    def _record(self, node, edit, consumption, consumer, instance=None,
                instance_uuid=None):
        """Count ``consumption`` on ``node`` and add its ledger row."""
        self._count(node, consumption, instance, 1)
        edit.added.append(self._allocation(consumption.ledger_row(
            consumer, instance_uuid or consumer, node.id)))

    def _allocation(self, row):
        """An Allocation of ``row`` (stored row, or values to store)."""
        if isinstance(row, allocation_obj.Allocation):
            return row
        return allocation_obj.Allocation.from_row(self.context, row)

    @staticmethod
    def _count(node, fitted, instance, sign):
        """Add or remove a consumption, and the instance in the node's stats
        (a move claim counts resources only: the instance lives elsewhere)."""
        cons.apply(node, fitted, sign)
        if instance is not None:
            node_stats.apply_stats(node, instance, sign)

    def _apply_with_retry(self, change):
        """Apply ``change`` to a copy of the node and compare-and-swap it in,
        with the ledger rows it adds and removes, in one transaction.

        ``change(node, edit)`` changes the node and lists its ledger
        changes in ``edit``. On a conflict (the node moved, or a ledger
        row to give back was given back by another writer) the node is
        re-read and ``change`` runs again on what is really stored, so
        another writer's update is never overwritten. A change that
        leaves the node and the ledger as they were writes nothing.

        A change that fails on the node as this tracker last saw it (a claim
        that does not fit, CPUs to unpin that are not pinned) is tried once
        more on the node as stored: a scheduler claims on the row behind
        the tracker's back, so what it last saw may be out of date. Only a
        failure on the stored node is the caller's.
        """
        fresh = False
        for _ in range(CAS_RETRIES):
            node = self.node.obj_clone()
            edit = _LedgerEdit()
            try:
                result = change(node, edit)
            except Exception:
                if fresh:
                    raise
                self._reread_node()
                fresh = True
                continue
            if not node.obj_what_changed() and not edit:
                return result          # nothing to write
            try:
                if edit:
                    node.save_with_ledger(edit.added, edit.removed,
                                          edit.rekeyed)
                else:
                    node.save()
            except exception.GenerationConflict:
                self._reread_node()
                fresh = True
                continue
            self._saved(node)
            return result
        raise exception.GenerationConflict(
            table="compute_nodes", row_id=self.node.id,
            seen_generation=self.node.generation)

    def _reread_node(self):
        self.node = cn_obj.ComputeNode.get_by_id(self.context, self.node.id)

    def _place_instance(self, instance, fitted):
        instance.host = self.host
        instance.node = self.nodename
        instance.compute_id = self.node.id
        if not instance.obj_get("launched_on"):
            instance.launched_on = self.host
        instance.numa_topology = fitted.numa_topology
        if instance.obj_attr_is_set("id"):
            instance.save()


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


class _LedgerEdit:
    """The ledger rows one node write adds, removes and hands over."""

    __slots__ = ("added", "removed", "rekeyed")

    def __init__(self):
        self.added, self.removed, self.rekeyed = [], [], []

    def __bool__(self):
        return bool(self.added or self.removed or self.rekeyed)


def _consumption_of_instance(instance):
    return cons.Consumption.of(
        instance.flavor, hw_usage.is_boot_from_volume(instance),
        numa_topology=instance.obj_get("numa_topology"),
        pci_requests=instance.obj_get("pci_requests"))
