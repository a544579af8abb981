"""ComputeAgent: the trackers of every node one compute host's driver reports.

The part nova-compute's manager plays: it keeps one ResourceTracker per
node, creates a node's ComputeNode the first time the driver reports it,
brings back a soft-deleted one, takes over a node another host owned (a
rebalance), deletes a node the driver says is gone for good, and runs the
periodic update of every node so that one node's failure never stops the
others.
"""
import logging

from hoststate import exception
from hoststate.conf import CONF
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import periodic
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

    def start(self):
        """Register (or find) this host's compute service; count every node."""
        self.service = _ensure_service(self.context, self.host)
        return self.update_available_resource()

    def tracker(self, nodename):
        """The tracker of ``nodename``; ComputeHostNotFound if not ours."""
        try:
            return self.trackers[nodename]
        except KeyError:
            raise exception.ComputeHostNotFound(
                host=f"{self.host}/{nodename}") from None

    def instance_claim(self, instance, nodename, image_meta=None):
        """Claim ``instance`` on ``nodename`` (a context manager, as the
        tracker's). A node this agent does not manage is refused with
        ComputeResourcesUnavailable, like a disabled one, and nothing
        changes."""
        tracker = self.trackers.get(nodename)
        if tracker is None:
            raise exception.ComputeResourcesUnavailable(
                node=nodename, reasons=[
                    f"node {nodename} is not managed by host {self.host}"])
        return tracker.instance_claim(instance, image_meta)

    def update_available_resource(self):
        """One periodic cycle over every node; returns {nodename: error}.

        A node whose update fails is logged and reported in the result; the
        other nodes are updated all the same.
        """
        nodenames = list(self.driver.get_available_nodes())
        self._forget_vanished_nodes(set(nodenames))
        self._reload_nodes()
        by_node, migrations, others = usage_source.read_host(self.context,
                                                             self.host)
        errors = {}
        for nodename in nodenames:
            try:
                self._update_node(nodename, _sources_of(
                    self.host, nodename, by_node, migrations, others))
            except Exception as exc:  # one node must not stop the others
                LOG.exception("update of node %s failed", nodename)
                errors[nodename] = exc
        return errors

    def _reload_nodes(self):
        """Give every tracker its node as stored, so that the recount also
        corrects a row changed behind the agent's back.

        Read before the usage: a claim landing between the two reads moves
        the generation, so the recount's compare-and-swap fails and it
        counts again from fresh reads; no claim is written away.
        """
        if not self.trackers:
            return
        try:
            stored = cn_obj.ComputeNodeList.get_all_by_host(self.context,
                                                            self.host)
        except exception.ComputeHostNotFound:
            return
        for node in stored:
            tracker = self.trackers.get(node.hypervisor_hostname)
            if tracker is not None and tracker.node.id == node.id:
                with tracker.lock:
                    tracker.set_node(node)

    def _update_node(self, nodename, sources):
        resources = self.driver.get_available_resource(nodename)
        driver_api.validate_resources(resources)
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
        tracker.update_available_resource(resources, sources)

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
        node = periodic.baseline(CONF, resources, None)
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

    def _forget_vanished_nodes(self, reported):
        """Delete nodes the driver no longer reports and says are gone."""
        stored = cn_obj.ComputeNodeList.get_nodenames_by_host(self.context,
                                                              self.host)
        for name in sorted(set(stored) - reported):
            self.trackers.pop(name, None)
            if not self.driver.is_node_deleted(name):
                continue
            try:
                cn_obj.ComputeNode.get_by_host_and_nodename(
                    self.context, self.host, name).destroy()
                LOG.info("deleted node %s: the driver says it is gone", name)
            except (exception.ObjectActionError, exception.NotFound):
                LOG.info("node %s was taken over by another host", name)


def _sources_of(host, nodename, by_node, migrations, others):
    """The part of a host-wide read that one node's recount needs."""
    instances = by_node.get(nodename, [])
    mine = [m for m in migrations
            if (m.source_compute, m.source_node) == (host, nodename)
            or (m.dest_compute, m.dest_node) == (host, nodename)]
    by_uuid = dict(others)
    by_uuid.update((i.uuid, i) for i in instances)
    return instances, mine, by_uuid


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
