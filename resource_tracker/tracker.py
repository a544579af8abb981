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

from hoststate import exception
from hoststate.hardware import numa as hw_numa
from hoststate.hardware import usage as hw_usage
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import states
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.resource_tracker import give_back
from hoststate.resource_tracker import locks
from hoststate.resource_tracker import moves
from hoststate.resource_tracker import periodic_update
from hoststate.resource_tracker import recount_fast

#: How often a write re-reads and retries after losing a compare-and-swap.
CAS_RETRIES = 50


class ResourceTracker(periodic_update.PeriodicUpdate, moves.MoveClaims,
                      give_back.GiveBack):
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
            edit = periodic_update.LedgerEdit()
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


def _consumption_of_instance(instance):
    return cons.Consumption.of(
        instance.flavor, hw_usage.is_boot_from_volume(instance),
        numa_topology=instance.obj_get("numa_topology"),
        pci_requests=instance.obj_get("pci_requests"))
