"""The build flow the conductor owns: schedule, cast, reschedule.

    boot -> schedule_and_build_instances
              scheduler.select_destinations (claims the chosen node, in
              the database, with the instance row: BUILDING, no task)
              cast build_and_run_instance to each chosen host's agent
    agent -> takes the build (SPAWNING), adopts the claim, spawns, marks
             the instance ACTIVE; or gives its claim back, hands the
             build back (SCHEDULING) and casts build_failed
    conductor (build_failed):
              takes the build back (whatever the failed node still holds
              for it given back), claims the next alternate (the same
              claim the scheduler makes) and casts the build there; with
              no alternate left the instance is ERROR, with a fault
              naming the reason of every attempt (``instance_faults``:
              any conductor answers ``instance_states`` with it)

An instance's attempts are bounded by ``[scheduler] max_attempts``: the
scheduler returns that many nodes per instance, the chosen one and its
alternates, and each alternate is tried once.

Every change of hands is a compare-and-swap on the instance's states
(``instance.set_if``, ``claim_release.take_back``), so an agent, the
conductor that cast the build (``build_watch``) and any conductor's
sweep for builds nobody will finish (``build_sweep``) never act on one
build twice.
"""
import logging

import oslo_messaging as messaging

from hoststate import exception
from hoststate.conductor import build_watch
from hoststate.db import api as db_api
from hoststate.db import instance_faults
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection
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
        #: the builds this conductor cast, until they settle: one on a
        #: host whose agent died is rescheduled (conductor.build_watch)
        self.watch = build_watch.BuildWatch(conf, self.reschedule)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    @indirection.served_locally
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
    @indirection.served_locally
    def build_failed(self, context, instance_uuid, host, nodename,
                     request_spec, alternates, reasons):
        """An agent could not build the instance on its node: give back
        what the node still holds for it and try the next alternate."""
        if context.service_host != host:
            LOG.warning("build_failed for instance %s on host %s refused: "
                        "sent by host %r", instance_uuid, host,
                        context.service_host)
            return
        self.reschedule(_as_conductor(context), instance_uuid, host,
                        nodename, request_spec, alternates, reasons,
                        failed_on(host, nodename))

    def reschedule(self, context, instance_uuid, host, nodename,
                   request_spec, alternates, reasons, expected):
        """Take the build back from ``nodename`` while the instance is as
        ``expected`` (nothing to do otherwise: someone else has it) and
        build it on the next alternate that takes it (ERROR when none
        does)."""
        if not claim_release.take_back(context, instance_uuid, host,
                                       nodename, expected,
                                       {"task_state": states.SCHEDULING}):
            LOG.warning("instance %s is no longer %s: not rescheduled",
                        instance_uuid, expected)
            return
        for index, alternate in enumerate(alternates):
            reason = _claim_alternate(context, self.conf, request_spec,
                                      alternate, instance_uuid)
            if reason is None:
                self._cast(context, alternate.service_host, instance_uuid,
                           alternate.nodename, request_spec,
                           alternates[index + 1:], reasons)
                return
            reasons = reasons + [reason]
        give_up(context, instance_uuid, [states.SCHEDULING],
                "no node could build it", reasons)

    def _cast(self, context, host, instance_uuid, nodename, request_spec,
              alternates, reasons):
        self.watch.watch(context, instance_uuid, host, nodename,
                         request_spec, alternates, reasons)
        self.compute.build_and_run_instance(
            context, host, instance_uuid, nodename, request_spec,
            alternates, reasons=reasons)

    @messaging.expose
    @indirection.served_locally
    def instance_states(self, context, instance_uuids):
        """{uuid: {"vm_state", "host", "node", "reasons"}} (an instance
        not found: vm_state None); the reasons of its newest fault."""
        context = _as_conductor(context)
        found = {i.uuid: i for i in instance_obj.InstanceList.get_by_uuids(
            context.with_read_deleted("yes"), list(instance_uuids))}
        reasons = instance_faults.latest_reasons(context, list(instance_uuids))
        return {uuid: _state_of(found.get(uuid), reasons.get(uuid))
                for uuid in instance_uuids}

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    @indirection.served_locally
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



def failed_on(host, nodename):
    """What an instance whose build failed on ``host``'s ``nodename`` may
    hold: handed back by its agent (SCHEDULING, unplaced by its give
    back), or, when the agent failed before it could hand back (its take
    or its claim raised), still waiting or spawning there."""
    return {"vm_state": [states.BUILDING],
            "task_state": [None, states.SPAWNING, states.SCHEDULING],
            "host": [host, None], "node": [nodename, None]}


def give_up(context, instance_uuid, task_states, message, reasons):
    """ERROR, with a fault saying why (one transaction), for an unplaced
    build in one of ``task_states``; nothing if it moved on meanwhile.
    Whether it was given up."""
    with db_api.transaction(context) as conn:
        ended = instance_obj.set_if(
            conn, instance_uuid, {"vm_state": [states.BUILDING],
                                  "task_state": list(task_states)},
            {"vm_state": states.ERROR, "task_state": None})
        if ended:
            instance_faults.record(conn, instance_uuid, message, reasons)
    if ended:
        LOG.warning("instance %s is ERROR: %s: %s", instance_uuid, message,
                    "; ".join(reasons))
    return ended


def _as_conductor(context):
    """The conductor acts with its own database (the context it was
    served with); the sender's host no longer matters."""
    return context.elevated()


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
