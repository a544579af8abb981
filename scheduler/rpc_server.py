"""The server side of the scheduler's RPC API (topic ``scheduler``): one
HostManager and Scheduler per process, as ``hoststate scheduler`` runs
them, behind an oslo.messaging endpoint.

The client is :mod:`hoststate.scheduler.rpcapi` (its docstring holds the
version history).

Concurrency: oslo.messaging's threading executor runs calls on a pool of
threads, but a Scheduler and its HostManager are not thread safe (a
select refreshes the host-state table in place, consumes rows, advances
one seeded random generator, and keeps derived columns of the table),
and nothing in them locks. So the endpoint runs one call at a time, under
one lock per process; parallelism comes from more worker processes, each
with a HostManager of its own, whose claims in the cell database keep
them from over-committing a node (as parallel Nova schedulers do).
"""
import logging
import threading
import warnings

from hoststate import exception
from hoststate import rpc
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler import rpcapi

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import oslo_messaging as messaging

LOG = logging.getLogger(__name__)


class SchedulerEndpoint:
    """The methods a scheduler serves (the API version in ``target``)."""

    target = messaging.Target(version=rpcapi.VERSION)

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self._lock = threading.Lock()

    @messaging.expose
    @messaging.expected_exceptions(exception.NoValidHost)
    def select_destinations(self, context, spec, instance_uuids,
                            return_alternates=True):
        """Per instance, [chosen Selection, alternates...] (see
        ``manager.Scheduler.select_destinations``). The caller's context
        is not used: the scheduler reads and claims in the cell database
        its HostManager was built on."""
        LOG.debug("select_destinations: %s instance(s), request %s",
                  len(instance_uuids or ()) or spec.obj_get("num_instances"),
                  spec.obj_get("instance_uuid"))
        with self._lock:
            try:
                return self.scheduler.select_destinations(
                    spec, instance_uuids, return_alternates)
            except exception.NoValidHost as exc:
                _reasons_for_the_wire(exc)
                raise

    @messaging.expose
    def release_claim(self, context, selection, instance_uuid):
        """Give back the claim of ``instance_uuid`` on ``selection``'s
        node (``manager.Scheduler.release``)."""
        with self._lock:
            self.scheduler.release(selection, instance_uuid)


def _reasons_for_the_wire(exc):
    """Put NoValidHost's reasons, as text, among the keyword arguments
    oslo.messaging sends with an error: the class is then rebuilt at the
    caller with them (``NoValidHost(message, reasons=..., reason=...)``).
    A reason's structure (a filter's shortfalls) stays on this side."""
    exc.kwargs["reasons"] = [str(reason) for reason in exc.reasons]


def build_scheduler(conf, context, seed=None):
    """A Scheduler claiming in ``context``'s database, over a HostManager
    loaded from it (liveness from ``servicegroup_driver``)."""
    manager = host_manager.HostManager(context, conf=conf)
    return manager_mod.Scheduler(manager.load(), conf=conf, seed=seed)


def build_server(conf, context, scheduler=None, server=None):
    """An RPC server (not started) of topic ``scheduler`` and of
    ``server`` (default ``[DEFAULT] host``) on it, serving ``scheduler``
    (default: ``build_scheduler(conf, context)``); the contexts of the
    calls it receives name ``context``'s engine."""
    if scheduler is None:
        scheduler = build_scheduler(conf, context)
    return rpc.get_server(conf, rpcapi.TOPIC, server or conf.host,
                          [SchedulerEndpoint(scheduler)],
                          engine=context.engine)
