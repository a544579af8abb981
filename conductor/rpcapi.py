"""The conductor's client: where an agent without a database sends its
remotable object calls.

:class:`ConductorAPI` is an oslo.versionedobjects indirection API; an agent
installs it with :func:`use_conductor` and from then on every remotable
method of every hoststate object runs on some conductor (whichever takes
the message off the shared ``conductor`` topic), with the agent's context
naming its host.

``[upgrade_levels] conductor`` caps the RPC version sent, so agents can be
upgraded before conductors.
"""
import logging
import warnings

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import oslo_messaging as messaging
    from oslo_versionedobjects import base as ovo_base

from hoststate import rpc
from hoststate.conf import rpc as conf_rpc
from hoststate.conductor import build
from hoststate.conductor import manager
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)

TOPIC = "conductor"


class ConductorAPI(ovo_base.VersionedObjectIndirectionAPI):
    def __init__(self, conf):
        self._client = rpc.get_client(
            conf, TOPIC, manager.OBJECT_API_VERSION,
            version_cap=conf_rpc.version_cap(conf, "conductor"),
            timeout=conf.rpc_response_timeout)
        self._objects = self._client.prepare(namespace="objects")

    @rpc.errors_as_sent
    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        return self._objects.call(
            context, "object_class_action_versions", objname=objname,
            objmethod=objmethod, object_versions=object_versions,
            args=args, kwargs=kwargs)

    @rpc.errors_as_sent
    def object_action(self, context, objinst, objmethod, args, kwargs):
        return self._objects.call(
            context, "object_action", objinst=objinst, objmethod=objmethod,
            args=args, kwargs=kwargs)

    @rpc.errors_as_sent
    def object_backport_versions(self, context, objinst, object_versions):
        return self._objects.call(
            context, "object_backport_versions", objinst=objinst,
            object_versions=object_versions)

    def ping(self, context, timeout):
        return self._objects.prepare(timeout=timeout).call(context, "ping")

    # ovo's older entry points, which hoststate never serves
    def object_class_action(self, *args, **kwargs):
        raise NotImplementedError("use object_class_action_versions")

    def object_backport(self, *args, **kwargs):
        raise NotImplementedError("use object_backport_versions")


class ComputeTaskAPI:
    """The build flow's client: ``hoststate boot`` and ``delete``, and
    agents reporting a failed build."""

    def __init__(self, conf, timeout=None):
        client = rpc.get_client(
            conf, TOPIC, build.TASK_API_VERSION,
            version_cap=conf_rpc.version_cap(conf, "conductor"),
            timeout=timeout or conf.rpc_response_timeout)
        self._tasks = client.prepare(namespace="compute_task")

    @rpc.errors_as_sent
    def schedule_and_build_instances(self, context, request_spec,
                                     instance_uuids):
        return self._tasks.call(context, "schedule_and_build_instances",
                                request_spec=request_spec,
                                instance_uuids=list(instance_uuids))

    def build_failed(self, context, instance_uuid, host, nodename,
                     request_spec, alternates, reasons):
        self._tasks.cast(context, "build_failed", instance_uuid=instance_uuid,
                         host=host, nodename=nodename,
                         request_spec=request_spec, alternates=alternates,
                         reasons=reasons)

    @rpc.errors_as_sent
    def instance_states(self, context, instance_uuids):
        return self._tasks.call(context, "instance_states",
                                instance_uuids=list(instance_uuids))

    @rpc.errors_as_sent
    def delete_instance(self, context, instance_uuid):
        return self._tasks.call(context, "delete_instance",
                                instance_uuid=instance_uuid)


#: longest wait for one answer while an agent waits for a conductor
PING_TIMEOUT_S = 2


def wait_for_conductor(api, context, conf, attempts=None):
    """Return once a conductor answers, asking again after each silent
    ``min(rpc_response_timeout, PING_TIMEOUT_S)`` seconds (a call sent
    before any conductor has declared its queue is lost, not kept), with
    a warning each time, as nova-compute waits for nova-conductor; at
    most ``attempts`` times (None: until one answers). Returns the
    number of silent attempts."""
    timeout = min(conf.rpc_response_timeout, PING_TIMEOUT_S)
    silent = 0
    while attempts is None or silent < attempts:
        try:
            api.ping(context, timeout)
            return silent
        except messaging.MessagingTimeout:
            silent += 1
            LOG.warning("no conductor answered on topic %s within %s s; "
                        "waiting for one", TOPIC, timeout)
    raise messaging.MessagingTimeout(
        f"no conductor answered in {attempts} attempt(s)")


def use_conductor(conf):
    """Send this process's remotable calls to the conductors of ``conf``'s
    bus; returns the API (``indirection.set_api(None)`` undoes it)."""
    api = ConductorAPI(conf)
    indirection.set_api(api)
    return api
