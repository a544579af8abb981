"""The build flow the conductor owns: schedule, cast, reschedule.

    boot -> schedule_and_build_instances
              scheduler.select_destinations (claims the chosen node, in
              the database, with the instance row, BUILDING)
              cast build_and_run_instance to each chosen host's agent
    agent -> adopts the claim, spawns, marks the instance ACTIVE
          or casts build_failed (its claim given back)
    conductor (build_failed):
              gives back whatever the failed node still holds for the
              instance, claims the next alternate (the same claim the
              scheduler makes) and casts the build there; with no
              alternate left the instance is ERROR, and the reasons of
              every attempt are logged and kept for ``instance_states``

An instance's attempts are bounded by ``[scheduler] max_attempts``: the
scheduler returns that many nodes per instance, the chosen one and its
alternates, and each alternate is tried once.
"""
import logging

import oslo_messaging as messaging

from hoststate import exception
from hoststate.conductor import build_watch
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.scheduler import claim_release
from hoststate.scheduler import claims
from hoststate.scheduler import request as request_mod

LOG = logging.getLogger(__name__)

#: the compute-task API's RPC version; history:
#: 1.0 - schedule_and_build_instances, build_failed, instance_states,
#:       delete_instance
TASK_API_VERSION = "1.0"
#: how many failed builds' reasons a conductor keeps for instance_states
REASONS_KEPT = 10_000


class ComputeTaskEndpoint:
    """The build flow on the ``conductor`` topic (namespace
    ``compute_task``)."""

    target = messaging.Target(namespace="compute_task",
                              version=TASK_API_VERSION)

    def __init__(self, conf, scheduler, compute):
        self.conf = conf
        #: anything with select_destinations(context, spec, uuids,
        #: return_alternates): the scheduler's RPC client, or in-process
        self.scheduler = scheduler
        #: the agents' client (resource_tracker.compute_rpc.ComputeAPI)
        self.compute = compute
        #: {instance uuid: [reason of each failed attempt]} of instances
        #: that ended in ERROR (newest REASONS_KEPT)
        self.failures = {}
        #: the builds this conductor cast, until they settle: one on a
        #: host whose agent died is rescheduled (conductor.build_watch)
        self.watch = build_watch.BuildWatch(conf, self._reschedule)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def schedule_and_build_instances(self, context, request_spec,
                                     instance_uuids):
        """[[instance uuid, host, node]] where each build was cast;
        NoValidHost (nothing claimed) when some instance fits nowhere."""
        chosen = self.scheduler.select_destinations(
            context, request_spec, instance_uuids, return_alternates=True)
        cast = []
        for instance_uuid, (selection, *alternates) in zip(instance_uuids,
                                                           chosen):
            self._cast(_as_conductor(context), selection.service_host,
                       instance_uuid, selection.nodename, request_spec,
                       alternates, [])
            cast.append([instance_uuid, selection.service_host,
                         selection.nodename])
        return cast

    @messaging.expose
    def build_failed(self, context, instance_uuid, host, nodename,
                     request_spec, alternates, reasons):
        """An agent could not build the instance on its node: give back
        what the node still holds for it and try the next alternate."""
        if context.service_host != host:
            LOG.warning("build_failed for instance %s on host %s refused: "
                        "sent by host %r", instance_uuid, host,
                        context.service_host)
            return
        self._reschedule(_as_conductor(context), instance_uuid, host,
                         nodename, request_spec, alternates, reasons)

    def _reschedule(self, context, instance_uuid, host, nodename,
                    request_spec, alternates, reasons):
        """Give back what ``nodename`` holds for the instance and build
        it on the next alternate that takes it (ERROR when none does)."""
        _give_back(context, host, nodename, instance_uuid)
        for index, alternate in enumerate(alternates):
            reason = _claim_alternate(context, self.conf, request_spec,
                                      alternate, instance_uuid)
            if reason is None:
                self._cast(context, alternate.service_host, instance_uuid,
                           alternate.nodename, request_spec,
                           alternates[index + 1:], reasons)
                return
            reasons = reasons + [reason]
        self._give_up(context, instance_uuid, reasons)

    def _cast(self, context, host, instance_uuid, nodename, request_spec,
              alternates, reasons):
        self.watch.watch(context, instance_uuid, host, nodename,
                         request_spec, alternates, reasons)
        self.compute.build_and_run_instance(
            context, host, instance_uuid, nodename, request_spec,
            alternates, reasons=reasons)

    @messaging.expose
    def instance_states(self, context, instance_uuids):
        """{uuid: {"vm_state", "host", "node", "reasons"}} (an instance
        not found: vm_state None)."""
        found = {i.uuid: i for i in instance_obj.InstanceList.get_by_uuids(
            _as_conductor(context).with_read_deleted("yes"),
            list(instance_uuids))}
        return {uuid: _state_of(found.get(uuid), self.failures.get(uuid))
                for uuid in instance_uuids}

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def delete_instance(self, context, instance_uuid):
        """Delete the instance on its host's agent (an instance on no host,
        one that failed to build, is deleted here). Returns its node."""
        instance = instance_obj.Instance.get_by_uuid(
            _as_conductor(context), instance_uuid)
        if instance.host:
            return self.compute.terminate_instance(context, instance.host,
                                                   instance_uuid)
        instance.destroy()
        return None

    def _give_up(self, context, instance_uuid, reasons):
        instance = instance_obj.Instance.get_by_uuid(context, instance_uuid)
        instance.vm_state = states.ERROR
        instance.task_state = None
        instance.save()
        while len(self.failures) >= REASONS_KEPT:
            self.failures.pop(next(iter(self.failures)))
        self.failures[instance_uuid] = reasons
        LOG.warning("instance %s is ERROR: no node could build it: %s",
                    instance_uuid, "; ".join(reasons))


def _as_conductor(context):
    """The conductor acts with its own database (the context it was
    served with); the sender's host no longer matters."""
    return context.elevated()


def _give_back(context, host, nodename, instance_uuid):
    try:
        node = cn_obj.ComputeNode.get_by_host_and_nodename(context, host,
                                                           nodename)
    except exception.ComputeNodeNotFound:
        return
    claim_release.release(context, node.id, instance_uuid)


def _claim_alternate(context, conf, spec, alternate, instance_uuid):
    """None once ``alternate``'s node is claimed for the instance (the
    scheduler's own claim, checked against the node as it is now), else
    why not."""
    try:
        node = cn_obj.ComputeNode.get_by_uuid(context,
                                              alternate.compute_node_uuid)
        request = request_mod.RequestVector(spec, conf)
        claims.claim(context, node.id, request, instance_uuid)
    except (exception.ClaimRejected, exception.NotFound) as exc:
        return f"{alternate.service_host}/{alternate.nodename}: {exc}"
    return None


def _state_of(instance, reasons):
    if instance is None:
        return {"vm_state": None, "host": None, "node": None,
                "reasons": reasons or []}
    deleted = instance.obj_get("deleted")
    return {"vm_state": states.DELETED if deleted else instance.vm_state,
            "host": instance.host, "node": instance.node,
            "reasons": reasons or []}
