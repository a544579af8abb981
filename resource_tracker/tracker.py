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
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import states
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import locks
from hoststate.resource_tracker import moves
from hoststate.resource_tracker import periodic

LOG = logging.getLogger(__name__)

#: How often a write re-reads and retries after losing a compare-and-swap.
CAS_RETRIES = 50


class ResourceTracker(moves.MoveClaims):
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
        self._last_saved = None
        #: changes this tracker made to its node or its consumptions, and
        #: their number at the last set_node (see update_available_resource)
        self._edits = 0
        self._edits_at_set_node = 0

    # --- state -----------------------------------------------------------

    def disabled(self):
        """True when claims must be refused: no node yet, or driver says so."""
        return self.node is None or not self.driver.node_is_available(
            self.nodename)

    def tracked_instances(self):
        return set(self.consumptions)

    def set_node(self, node):
        """Adopt ``node`` (as stored) as this tracker's view of its row."""
        self.node = node
        self._last_saved = node.obj_clone()
        self._edits_at_set_node = self._edits

    def _saved(self, node):
        """Adopt ``node`` as this tracker just wrote it: a change of its
        own, unlike ``set_node``."""
        self.node = node
        self._last_saved = node.obj_clone()
        self._edits += 1

    # --- claims ----------------------------------------------------------

    @contextlib.contextmanager
    def instance_claim(self, instance, image_meta=None):
        """Claim the resources of a new ``instance`` on this node.

        A context manager: the claim is aborted if the block raises. A claim
        that does not fit raises ComputeResourcesUnavailable with every
        reason, and changes neither the instance nor the node.
        """
        with self.lock:
            self._require_enabled()
            if self._claimed_by_scheduler(instance):
                fitted = _consumption_of_instance(instance)
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
        fitted = self._take(wanted, requested_numa, instance)
        try:
            self._place_instance(instance, fitted)
        except Exception:
            self._give_back(fitted, instance)
            raise
        return fitted

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
            fitted = self.consumptions.pop(instance.uuid, None)
            if fitted is not None:
                self._give_back(fitted, instance)
            instance.numa_topology = None
            instance.host = None
            instance.node = None
            instance.compute_id = None
            if instance.obj_attr_is_set("id"):
                instance.save()

    def update_usage(self, instance):
        """Follow a state change of a tracked instance.

        A tracked instance that is deleted or shelved-offloaded gives its
        usage back; an untracked one that holds resources again (unshelve)
        takes them. Does nothing on a disabled node.
        """
        with self.lock:
            if self.disabled():
                return
            removable = states.allows_resource_removal(
                instance.vm_state, instance.obj_get("task_state"))
            tracked = self.consumptions.get(instance.uuid)
            self._edits += 1
            if tracked is not None and removable:
                self._give_back(self.consumptions.pop(instance.uuid), instance)
            elif tracked is None and not removable and \
                    instance.obj_get("node") == self.nodename:
                wanted = _consumption_of_instance(instance)
                self._apply_with_retry(
                    lambda node: self._count(node, wanted, instance, 1))
                self.consumptions[instance.uuid] = wanted

    # --- periodic update ---------------------------------------------------

    def update_available_resource(self, resources=None, sources=None):
        """Recount usage from the driver, instances and migrations; save it.

        The node row is written only when a field other than updated_at
        changed. A save that loses a compare-and-swap re-reads and counts
        again; one that fails otherwise leaves this tracker's copy of the
        last saved row in place, so the next cycle writes again. Returns
        True if the row was written. ``sources`` is what the agent already
        read for this node: (instances, migrations, {uuid: instance} for
        the migrations' instances); without it the tracker reads its own.

        ``sources`` must have been read after the node was last given with
        ``set_node`` (the agent reloads its nodes, then reads). If this
        tracker changed its node or consumptions since (a delete's usage
        given back, an instance the scheduler placed adopted), they may
        predate that change: counting from them would put a deleted
        instance back, or forget an adopted one, and neither is caught by
        the compare-and-swap (the tracker's own write moved the generation
        it compares with; an adoption writes nothing). They are read again
        here, under the lock.
        """
        if resources is None:
            resources = self.driver.get_available_resource(self.nodename)
        driver_api.validate_resources(resources)
        with self.lock:
            if self._edits != self._edits_at_set_node:
                sources = None
            attempts = []
            recounted = {}

            def recount(node):
                # A retry follows a lost compare-and-swap: another writer
                # (a scheduler's claim adds an instance in the same
                # transaction as its node write) moved the node, and this
                # node was re-read just now. The instances are read again
                # after it, so none claimed before that read is missed.
                instances, sides = self._count_sources(
                    sources if not attempts else None)
                attempts.append(node.generation)
                target, recounted["consumptions"] = periodic.recount(
                    CONF, resources, node, instances, sides)
                changes = periodic.differences(node, target)
                node.update(changes)
                return bool(changes)
            written = self._apply_with_retry(recount)
            self.consumptions = recounted["consumptions"]
            return written

    def _count_sources(self, sources):
        instances, sides, stale = self._usage_sources(sources)
        for migration in stale:
            migration.status = "error"
            migration.save()
        return instances, sides

    def _usage_sources(self, sources):
        if sources is None:
            sources = self._read_usage_sources()
        instances, migrations, by_uuid = sources
        sides, stale = periodic.migration_sides(
            self.host, self.nodename, migrations, by_uuid)
        self.tracked_migrations = {m.instance_uuid: m for m in migrations
                                   if m not in stale}
        return instances, sides, stale

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
        return instances, migrations, by_uuid

    # --- node writes ------------------------------------------------------

    def _require_enabled(self):
        if self.disabled():
            raise exception.ComputeResourcesUnavailable(
                node=self.nodename,
                reasons=[f"node {self.nodename} is not available"])

    def _take(self, wanted, requested_numa, instance=None):
        """Fit ``wanted`` on the node as stored and add it there; return the
        fitted consumption. Raises ComputeResourcesUnavailable (with the
        Shortfalls) if it does not fit the node as it really is, by the
        whole capacity rule the scheduler's claim checks too (no instance
        larger than its node included)."""
        def claim(node):
            fitted, shortfalls = cons.fit(node, wanted, requested_numa)
            if shortfalls:
                raise exception.ComputeResourcesUnavailable(
                    node=self.nodename, reasons=shortfalls)
            self._count(node, fitted, instance, 1)
            return fitted
        return self._apply_with_retry(claim)

    def _give_back(self, fitted, instance=None):
        self._apply_with_retry(
            lambda node: self._count(node, fitted, instance, -1))

    @staticmethod
    def _count(node, fitted, instance, sign):
        """Add or remove a consumption, and the instance in the node's stats
        (a move claim counts resources only: the instance lives elsewhere)."""
        cons.apply(node, fitted, sign)
        if instance is not None:
            node_stats.apply_stats(node, instance, sign)

    def _apply_with_retry(self, change):
        """Apply ``change`` to a copy of the node and compare-and-swap it in.

        On a conflict the node is re-read and ``change`` runs again on what
        is really stored, so another writer's update is never overwritten.
        A change that leaves the node as it was writes nothing.

        A change that fails on the node as this tracker last saw it (a claim
        that does not fit, CPUs to unpin that are not pinned) is tried once
        more on the node as stored: a scheduler claims on the row behind
        the tracker's back, so what it last saw may be out of date. Only a
        failure on the stored node is the caller's.
        """
        fresh = False
        for _ in range(CAS_RETRIES):
            node = self.node.obj_clone()
            try:
                result = change(node)
            except Exception:
                if fresh:
                    raise
                self._reread_node()
                fresh = True
                continue
            if not node.obj_what_changed():
                return result          # nothing to write
            try:
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
