"""ComputeAgent: the trackers of every node one compute host's driver reports.

The part nova-compute's manager plays: it keeps one ResourceTracker per
node, creates a node's ComputeNode the first time the driver reports it,
brings back a soft-deleted one, takes over a node another host owned (a
rebalance), deletes a node the driver says is gone for good, and runs the
periodic update of every node so that one node's failure never stops the
others.

At start the nodes are registered in bulk (:meth:`ComputeAgent.
register_nodes`): one read finds the stored ones, the new ones are written
with multi-row INSERTs in one transaction and their ids and stamps read
back in one narrow query, so a host with thousands of nodes (bare metal,
``hoststate compute --fake-nodes``) starts in a few statements, not a few
per node.
"""
import logging


from hoststate import exception
from hoststate.conf import CONF
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import host_rows
from hoststate.resource_tracker import node_sources
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import recount_fast
from hoststate.resource_tracker import tracker as tracker_mod
from hoststate.resource_tracker import usage_source

LOG = logging.getLogger(__name__)


class ComputeAgent:
    def __init__(self, context, driver, host=None):
        self.context = context
        self.driver = driver
        self.host = host or CONF.host
        self.service = None
        #: nodename -> ResourceTracker
        self.trackers = {}
        #: whether every tracker's node was read since the last update
        #: (register_nodes just did): the update need not read them again
        self._nodes_fresh = False
        #: nodename -> (compute_nodes row, the ComputeNode built from it)
        #: of the last reload (see _reload_nodes)
        self._read_rows = {}
        #: nodename -> the inventory register_nodes created it from, until
        #: the next update (which has nothing to recount for such a node
        #: while the inventory is the same and nothing is on it)
        self._created_from = {}
        #: what this agent read through a conductor, kept between cycles
        #: (unused with a database: local reads are cheap)
        self._mirror = host_rows.HostMirror(self.host)

    def start(self):
        """Register (or find) this host's compute service and, in bulk, its
        nodes; then count every node (the first periodic update). The names
        of the host's stored nodes, which that update compares with what
        the driver reports, come from the read that found the nodes when
        it found them all and nothing was created since."""
        self.service = _ensure_service(self.context, self.host)
        _, stored_names = self._register()
        return self._update_all(stored_names)

    def register_nodes(self):
        """Give a tracker to every node the driver reports that has none:
        the stored node when it is live, on this host, under this service;
        a new one for each the database has never seen, all inserted in one
        transaction. The rest (a node to undelete or take over, a driver
        without node uuids, a node whose inventory cannot be read) take the
        one-by-one path of the periodic update, which also reports their
        errors. Returns the names of the nodes it created."""
        return self._register()[0]

    def _register(self):
        """``register_nodes``: (the names of the nodes created, the sorted
        names of the host's live nodes as read, or None if not read or if
        nodes were created)."""
        every_node_read_now = not self.trackers
        reported = self._reported_inventories()
        stored, names = self._stored_nodes(
            [r["uuid"] for r in reported.values()])
        new = {}
        for nodename, resources in reported.items():
            node = stored.get(resources["uuid"])
            if node is None:
                new[nodename] = resources
            elif self._is_mine(node, nodename):
                self._track(nodename, node)
        for nodename, node in self._create_nodes(new).items():
            self._track(nodename, node)
            self._created_from[nodename] = new[nodename]
        self._nodes_fresh = every_node_read_now
        return sorted(new), None if new else names

    def _reported_inventories(self):
        """{nodename: resources} of the reported nodes without a tracker
        whose driver gives a uuid and a valid inventory."""
        found = {}
        for nodename in self.driver.get_available_nodes():
            if nodename in self.trackers:
                continue
            try:
                resources = self.driver.get_available_resource(nodename)
                driver_api.validate_resources(resources)
            except Exception:   # the periodic update reports it, per node
                continue
            if resources.get("uuid"):
                found[nodename] = resources
        return found

    def _stored_nodes(self, node_uuids):
        """({uuid: ComputeNode} of the stored nodes of ``node_uuids``, the
        sorted names of the host's live nodes or None).

        The host's live rows are read first (one query): when they hold
        every uuid asked (a restart, or a node seeded for the agent) they
        are the stored nodes, and their names are the host's; otherwise
        the nodes are looked up by uuid, deleted ones and other hosts' too
        (a node to undelete or take over), and the names are not known."""
        rows = [row for row in usage_source.read_nodes(
            self.context, self.host, self._mirror) if not row.deleted]
        by_uuid = {row.uuid: row for row in rows}
        if not all(node_uuid in by_uuid for node_uuid in node_uuids):
            return self._stored_by_uuid(node_uuids), None
        nodes = usage_source.nodes_of_rows(
            self.context, [by_uuid[node_uuid] for node_uuid in node_uuids])
        return ({node.uuid: node for node in nodes},
                sorted(row.hypervisor_hostname for row in rows))

    def _stored_by_uuid(self, node_uuids):
        """{uuid: ComputeNode} of the stored nodes (deleted ones too)."""
        everywhere = self.context.with_read_deleted("yes")
        found = {}
        for start in range(0, len(node_uuids), cn_obj.BULK_ROWS):
            chunk = node_uuids[start:start + cn_obj.BULK_ROWS]
            for node in cn_obj.ComputeNodeList.get_all_by_uuids(everywhere,
                                                                chunk):
                if node.uuid not in found or not node.deleted:
                    found[node.uuid] = node
        return found

    def _is_mine(self, node, nodename):
        return (not node.deleted and node.host == self.host
                and node.service_id == self.service.id
                and node.hypervisor_hostname == nodename)

    def _track(self, nodename, node):
        tracker = tracker_mod.ResourceTracker(self.context, self.host,
                                              nodename, self.driver)
        tracker.set_node(node)
        self.trackers[nodename] = tracker

    def _create_nodes(self, reported):
        """{nodename: stored ComputeNode} for new nodes ``reported``
        ({nodename: resources}), inserted in one transaction. When one of
        them collides with a stored row (its name under another uuid),
        nothing is inserted here and every one of them is left to the
        one-by-one path, which names the culprit.

        The objects returned are the ones written, completed with what the
        database filled in (id, time stamps, generation, column defaults)
        by one narrow read: loading thousands of full rows back into
        objects would cost more than everything else here together."""
        nodes = [self._new_node(nodename, resources)
                 for nodename, resources in reported.items()]
        if not nodes:
            return {}
        try:
            nodes = cn_obj.ComputeNodeList.create_all(self.context, nodes)
        except exception.DuplicateRecord:
            return {}
        LOG.debug("host %s registered %d new node(s)", self.host, len(nodes))
        return {node.hypervisor_hostname: node for node in nodes}

    def _new_node(self, nodename, resources):
        """A new ComputeNode for ``nodename``, not yet stored."""
        node = periodic.new_node(CONF, resources)
        node._context = self.context
        node.update(dict(host=self.host, service_id=self.service.id,
                         hypervisor_hostname=nodename,
                         uuid=resources["uuid"]))
        return node

    def tracker(self, nodename):
        """The tracker of ``nodename``; ComputeHostNotFound if not ours."""
        try:
            return self.trackers[nodename]
        except KeyError:
            raise exception.ComputeHostNotFound(
                host=f"{self.host}/{nodename}") from None

    def instance_claim(self, instance, nodename, image_meta=None,
                       held=None):
        """Claim ``instance`` on ``nodename`` (a context manager, as the
        tracker's; ``held``: see there). A node this agent does not
        manage is refused with ComputeResourcesUnavailable, like a
        disabled one, and nothing changes."""
        tracker = self.trackers.get(nodename)
        if tracker is None:
            raise exception.ComputeResourcesUnavailable(
                node=nodename, reasons=[
                    f"node {nodename} is not managed by host {self.host}"])
        return tracker.instance_claim(instance, image_meta, held=held)

    def update_available_resource(self):
        """One periodic cycle over every node; returns {nodename: error}.

        A node whose update fails is logged and reported in the result; the
        other nodes are updated all the same.
        """
        return self._update_all(None)

    def _update_all(self, stored_names):
        """``update_available_resource``; ``stored_names``: the names of
        the host's live nodes if they were just read, else None."""
        nodenames = list(self.driver.get_available_nodes())
        self._forget_vanished_nodes(set(nodenames), stored_names)
        if not self._nodes_fresh:
            self._reload_nodes()
        self._nodes_fresh = False
        by_node, migrations, others, ledger = usage_source.read_host(
            self.context, self.host, self._mirror)
        cycle = recount_fast.CycleMemo()
        # through a conductor, the cycle's node writes go in one call
        batch = [] if indirection.is_remote() else None
        errors = {}
        for nodename in nodenames:
            try:
                self._update_node(nodename, node_sources.of_node(
                    self.host, nodename, by_node, migrations, others,
                    ledger), cycle, batch)
            except Exception as exc:  # one node must not stop the others
                LOG.exception("update of node %s failed", nodename)
                errors[nodename] = exc
        self._created_from.clear()
        self._save_batch(batch, errors)
        return errors

    def _save_batch(self, batch, errors):
        """Write the cycle's deferred node writes in one call; redo the
        ones that conflicted (or that the call could not write at all)
        the usual way, node by node, whose errors are reported per node."""
        if not batch:
            return
        try:
            answer = cn_obj.ComputeNodeList.save_all(
                self.context, [p.node for p in batch],
                [p.edit_values() for p in batch])
            saved = {node.id: node for node in answer["saved"]}
        except Exception:
            LOG.warning("the bulk save of %d node(s) failed; saving them "
                        "one by one", len(batch), exc_info=True)
            saved = {}
        for pending in batch:
            tracker, node = pending.tracker, saved.get(pending.node.id)
            if node is not None and tracker.bulk_saved(pending, node):
                continue
            try:
                tracker.redo(pending.resources)
            except Exception as exc:
                LOG.exception("update of node %s failed", tracker.nodename)
                errors[tracker.nodename] = exc

    def _reload_nodes(self):
        """Give every tracker its node as stored, so that the recount also
        corrects a row changed behind the agent's back.

        Read before the usage: a claim landing between the two reads moves
        the generation, so the recount's compare-and-swap fails and it
        counts again from fresh reads; no claim is written away.

        The rows are read as they are stored, and a ComputeNode is built
        only for a row that is not, column for column, the one the
        tracker's node was built from (any write moves the generation and
        the time stamp; a change behind the agent's back shows in its
        column). A tracker whose node is that very object is given it
        again, which marks its sources fresh as a new node would.
        """
        if not self.trackers:
            return
        rows = usage_source.read_nodes(self.context, self.host, self._mirror)
        if not rows:
            return
        changed = [row for row in rows if not self._node_of_row(row)]
        built = usage_source.nodes_of_rows(self.context, changed)
        nodes = {row.id: (row, node) for row, node in zip(changed, built)}
        for row in rows:
            tracker = self.trackers.get(row.hypervisor_hostname)
            if tracker is None or tracker.node.id != row.id:
                continue
            with tracker.lock:
                # asked again under the lock: a tracker that wrote its
                # node meanwhile holds another object, and is given the row
                # as read (as before: its next compare-and-swap re-reads)
                read = self._node_of_row(row)
                if read is None:
                    row_and_node = nodes.get(row.id) or \
                        self._build_node(row)
                    self._read_rows[tracker.nodename] = row_and_node
                    read = row_and_node[1]
                tracker.set_node(read)

    def _node_of_row(self, row):
        """The node this agent built from exactly ``row`` and its tracker
        still holds, or None."""
        tracker = self.trackers.get(row.hypervisor_hostname)
        seen = self._read_rows.get(row.hypervisor_hostname)
        if tracker is None or seen is None or seen[1] is not tracker.node \
                or seen[0] != row:
            return None
        return seen[1]

    def _build_node(self, row):
        return row, usage_source.nodes_of_rows(self.context, [row])[0]

    def _update_node(self, nodename, sources, cycle=None, batch=None):
        resources = self.driver.get_available_resource(nodename)
        driver_api.validate_resources(resources)
        instances, migrations, _, ledger = sources
        created_from = self._created_from.pop(nodename, None)
        if created_from == resources and not instances and \
                not migrations and not any(ledger.values()):
            # stored a moment ago as the recount of no instances on this
            # very inventory (periodic.new_node), after which the host-wide
            # read found nothing on it: the recount would change nothing
            return
        tracker = self.trackers.get(nodename)
        if tracker is None:
            tracker = tracker_mod.ResourceTracker(
                self.context, self.host, nodename, self.driver)
            tracker.set_node(self._init_node(nodename, resources))
            self.trackers[nodename] = tracker
            # The node was read after the host-wide read: a claim between
            # the two would be in the node but not in those instances, and
            # a recount from them would write it away. Read again, after.
            sources = None
        tracker.update_available_resource(resources, sources, cycle=cycle,
                                          batch=batch)

    def _init_node(self, nodename, resources):
        """The stored node for ``nodename``: found, undeleted, taken over or
        created."""
        node = _find_node(self.context, self.host, nodename,
                          resources.get("uuid"))
        if node is None:
            return self._create_node(nodename, resources)
        if node.deleted:
            LOG.info("node %s was deleted; bringing it back", nodename)
            node.undelete()
        if node.host != self.host or node.service_id != self.service.id:
            LOG.info("taking node %s over from host %s", nodename, node.host)
            node.host = self.host
            node.service_id = self.service.id
            node.save()
        return node

    def _create_node(self, nodename, resources):
        """A new node: the inventory, reserved usage and initial ratios."""
        node = periodic.new_node(CONF, resources)
        node._context = self.context
        node.update(dict(host=self.host, service_id=self.service.id,
                         hypervisor_hostname=nodename))
        if resources.get("uuid"):
            node.uuid = resources["uuid"]
        try:
            node.create()
        except exception.DuplicateRecord as exc:
            raise exception.HoststateError(
                f"node {nodename} of host {self.host} exists under another "
                f"uuid than the driver reports ({resources.get('uuid')}): "
                f"{exc}") from exc
        return node

    def _forget_vanished_nodes(self, reported, stored=None):
        """Delete nodes the driver no longer reports and says are gone
        (``stored``: the names of the host's live nodes, read if None)."""
        if stored is None:
            stored = cn_obj.ComputeNodeList.get_nodenames_by_host(
                self.context, self.host)
        for name in sorted(set(stored) - reported):
            self.trackers.pop(name, None)
            self._read_rows.pop(name, None)
            if not self.driver.is_node_deleted(name):
                continue
            try:
                cn_obj.ComputeNode.get_by_host_and_nodename(
                    self.context, self.host, name).destroy()
                LOG.info("deleted node %s: the driver says it is gone", name)
            except (exception.ObjectActionError, exception.NotFound):
                LOG.info("node %s was taken over by another host", name)


def _ensure_service(context, host):
    try:
        return service_obj.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        service = service_obj.Service(
            context, host=host, binary=service_obj.COMPUTE_BINARY,
            topic=service_obj.COMPUTE_TOPIC)
        service.create()
        return service


def _find_node(context, host, nodename, node_uuid):
    """A node by the driver's uuid (deleted ones too), else by name."""
    everywhere = context.with_read_deleted("yes")
    if node_uuid:
        try:
            return cn_obj.ComputeNode.get_by_uuid(everywhere, node_uuid)
        except exception.ComputeNodeNotFound:
            return None
    for lookup in (lambda: cn_obj.ComputeNode.get_by_host_and_nodename(
                       context, host, nodename),
                   lambda: cn_obj.ComputeNode.get_by_nodename(context, nodename)):
        try:
            return lookup()
        except exception.ComputeNodeNotFound:
            continue
    return None
