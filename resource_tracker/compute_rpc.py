"""The compute agent on the bus: builds and deletes cast to its host.

The conductor casts ``build_and_run_instance`` to the chosen host's agent
(topic ``compute``, server = the host). The agent adopts the claim the
scheduler (or the conductor, for an alternate) took in the database, asks
its driver to spawn the instance, and marks it ACTIVE. When the claim
cannot be adopted or the spawn fails, the agent gives the claim back
(the tracker's abort) and casts ``build_failed`` to the conductor, which
tries the next alternate.

Builds change hands by compare-and-swap on the instance's states, so an
agent and a conductor never both act on one build: the agent takes the
build (BUILDING with no task -> SPAWNING) before anything else, and a
cast that no longer stands (rescheduled while this agent was dead, see
``conductor.build_watch``, or ended by a ``conductor.build_sweep``) is
dropped; it marks the instance ACTIVE, or hands a failed build back
(SCHEDULING), only while it is still SPAWNING.

``terminate_instance`` deletes an instance on its host: the row first,
then the usage given back, in that order (see ``simulation.fleet``).

Everything the agent writes goes through its context: the database, or a
conductor for an agent without one; the context of a cast names the
conductor's identity, so the agent acts as its own host
(``service_host``) before it writes anything.
"""
import copy
import logging

import oslo_messaging as messaging

from hoststate import exception
from hoststate import rpc
from hoststate.conf import rpc as conf_rpc
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.resource_tracker import host_rows

LOG = logging.getLogger(__name__)

TOPIC = "compute"
#: the compute API's RPC version; history:
#: 1.0 - build_and_run_instance, terminate_instance
VERSION = "1.0"


class ComputeEndpoint:
    """What the conductor asks of one compute agent."""

    target = messaging.Target(version=VERSION)

    def __init__(self, agent, conductor):
        self.agent = agent
        #: the conductor's compute-task client (build_failed)
        self.conductor = conductor

    @messaging.expose
    def build_and_run_instance(self, context, instance_uuid, nodename,
                               request_spec, alternates, reasons=()):
        context = self._as_agent(context)
        instance = None
        try:
            taken = host_rows.take_build(context, instance_uuid,
                                         self.agent.host, nodename)
            if taken is None:
                self._dropped(instance_uuid, nodename)
                return
            instance, held = taken
            with self.agent.instance_claim(instance, nodename, held=held):
                self._spawn(instance, nodename)
            instance.vm_state = states.ACTIVE
            instance.task_state = None
            instance.save(expected_vm_state=[states.BUILDING],
                          expected_task_state=[states.SPAWNING])
        except exception.UnexpectedInstanceState as exc:
            # a conductor took the build back while it spawned (this host
            # was judged down): it is rescheduled or ERROR there, and the
            # next recount forgets what this agent still counts
            LOG.warning("build of instance %s on node %s abandoned: %s",
                        instance_uuid, nodename, exc)
            return
        except Exception as exc:   # noqa: BLE001 - every failure reschedules
            LOG.warning("build of instance %s on node %s failed: %s",
                        instance_uuid, nodename, exc)
            if instance is not None and instance.obj_get("host") and \
                    not self._hand_back(instance):
                return
            self.conductor.build_failed(
                context, instance_uuid, self.agent.host, nodename,
                request_spec, alternates, list(reasons) + [
                    f"{self.agent.host}/{nodename}: {_reason(exc)}"])
            return
        LOG.info("instance %s is ACTIVE on node %s", instance_uuid, nodename)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def terminate_instance(self, context, instance_uuid):
        context = self._as_agent(context)
        instance = instance_obj.Instance.get_by_uuid(context, instance_uuid)
        if instance.host != self.agent.host:
            raise exception.InstanceNotFound(
                key=f"{instance_uuid} on host {self.agent.host}")
        instance.destroy()
        instance.vm_state = states.DELETED
        instance.task_state = None
        self.agent.tracker(instance.node).update_usage(instance)
        return instance.node

    def _dropped(self, instance_uuid, nodename):
        """A build cast here that no longer stands (the instance is not
        waiting on this node any more: a cast left in this host's queue
        while the agent was dead, rescheduled elsewhere by the conductor's
        build watch, taken back as lost by a build sweep, or deleted) is
        dropped, with no build_failed: nothing here holds anything for
        it."""
        LOG.warning("build of instance %s on node %s dropped: it is no "
                    "longer waiting there", instance_uuid, nodename)

    def _hand_back(self, instance):
        """Hand a build that failed before its claim was adopted back to
        the conductors (SCHEDULING: one finds it another node; left there,
        a build sweep ends it), unless one took it back already. Whether
        it was handed back. (A failed spawn is handed back by its claim's
        abort, see ``_spawn``.)"""
        instance.task_state = states.SCHEDULING
        try:
            instance.save(expected_vm_state=[states.BUILDING],
                          expected_task_state=[states.SPAWNING])
        except exception.UnexpectedInstanceState as exc:
            LOG.warning("failed build of instance %s not handed back: %s",
                        instance.uuid, exc)
            return False
        return True

    def _as_agent(self, context):
        context = copy.copy(context)
        context.service_host = self.agent.host
        if context.engine is None:
            context.engine = self.agent.context.engine
        return context

    def _spawn(self, instance, nodename):
        """Ask the driver to spawn; a failed spawn hands the build back
        (SCHEDULING) in the save that gives its claim back (the claim's
        abort), while the row is still this host's to write."""
        spawn = getattr(self.agent.driver, "spawn", None)
        if spawn is None:
            return
        try:
            spawn(instance, nodename)
        except Exception:
            instance.task_state = states.SCHEDULING
            raise


def _reason(exc):
    exc = rpc.original_error(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ComputeAPI:
    """The conductor's client of the compute agents."""

    def __init__(self, conf):
        self._client = rpc.get_client(
            conf, TOPIC, VERSION,
            version_cap=conf_rpc.version_cap(conf, "compute"),
            timeout=conf.rpc_response_timeout)

    def build_and_run_instance(self, context, host, instance_uuid, nodename,
                               request_spec, alternates, reasons):
        self._client.prepare(server=host).cast(
            context, "build_and_run_instance", instance_uuid=instance_uuid,
            nodename=nodename, request_spec=request_spec,
            alternates=alternates, reasons=reasons)

    @rpc.errors_as_sent
    def terminate_instance(self, context, host, instance_uuid):
        return self._client.prepare(server=host).call(
            context, "terminate_instance", instance_uuid=instance_uuid)


def make_server(conf, agent, conductor):
    """The agent's RPC server (not started) on its host's compute queue."""
    return rpc.get_server(conf, TOPIC, agent.host,
                          [ComputeEndpoint(agent, conductor)],
                          engine=agent.context.engine)
