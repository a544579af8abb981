"""Builds cast to an agent that died: noticed and rescheduled.

A build is a cast: the conductor never hears back from an agent that was
killed after taking the message off its queue (oslo.messaging acknowledges
a message as it arrives, before dispatch), and the instance would stay
BUILDING on a dead host, its claim held, forever.

So each conductor watches the builds it cast, with what it cast (the
request and the alternates left), until each one settles. Once a second
(``report_interval``) it reads the watched instances: one that is no
longer BUILDING, or no longer on the host it was cast to (its agent
reported a failure and some conductor rescheduled it), is dropped; one
still BUILDING there, cast more than ``service_down_time`` ago, whose
host's compute service is down (the servicegroup's own judgement, the one
the scheduler makes) is taken back and rescheduled exactly as a failed
build is: the dead node's claim given back, the next alternate claimed
and built, or ERROR with every attempt's reason.

Only the conductor that cast a build watches it, so conductors need no
coordination; an agent that comes back finds the instance gone from its
node, and its recount agrees with the ledger. A build whose conductor
dies with it is ended by another conductor's ``build_sweep``.
"""
import dataclasses
import logging
import threading
import time

from hoststate import exception
from hoststate.objects import instance as instance_obj
from hoststate.objects import indirection
from hoststate.objects import service as service_obj
from hoststate.objects import states
from hoststate.servicegroup import api as sg_api

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Cast:
    """One build as it was cast, enough to reschedule it."""
    host: str
    nodename: str
    request_spec: object
    alternates: list
    reasons: list
    at: float


def on_node(host, nodename):
    """What a build cast to ``host``'s ``nodename`` holds until it
    settles: waiting for the agent there, or spawning."""
    return {"vm_state": [states.BUILDING],
            "task_state": [None, states.SPAWNING],
            "host": [host], "node": [nodename]}


class BuildWatch:
    """The builds one conductor cast, swept by a daemon thread while any
    is watched. ``reschedule(context, instance_uuid, host, nodename,
    request_spec, alternates, reasons, expected)`` is the build flow's
    own: it takes the build back only while the instance is still as
    ``expected``, so a watch racing a build sweep, or the agent coming
    back, never acts twice."""

    def __init__(self, conf, reschedule, clock=time.monotonic):
        self.conf = conf
        self._reschedule = reschedule
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = {}
        self._context = None
        self._thread = None
        self._servicegroup = None
        self._stopped = threading.Event()

    def watch(self, context, instance_uuid, host, nodename, request_spec,
              alternates, reasons):
        """Watch a build just cast (``context``: the conductor's own)."""
        with self._lock:
            self._context = context
            self._pending[instance_uuid] = Cast(
                host, nodename, request_spec, list(alternates),
                list(reasons), self._clock())
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="build-watch", daemon=True)
                self._thread.start()

    def watched(self):
        with self._lock:
            return set(self._pending)

    def sweep(self):
        """Drop the settled builds, reschedule those on a dead host;
        returns the uuids rescheduled."""
        with self._lock:
            pending, context = dict(self._pending), self._context
        if not pending:
            return []
        found = {i.uuid: i for i in instance_obj.InstanceList.get_by_uuids(
            context, list(pending))}
        stranded = []
        for uuid, cast in pending.items():
            instance = found.get(uuid)
            if (instance is None or instance.vm_state != states.BUILDING
                    or (instance.host, instance.node)
                    != (cast.host, cast.nodename)):
                self._drop(uuid, cast)
            elif self._stranded(context, cast):
                stranded.append(uuid)
        for uuid in stranded:
            cast = pending[uuid]
            if not self._drop(uuid, cast):
                continue    # cast again meanwhile: the newer cast counts
            LOG.warning("instance %s still building on host %s, whose "
                        "compute service is down: rescheduling", uuid,
                        cast.host)
            self._reschedule(context, uuid, cast.host, cast.nodename,
                             cast.request_spec, cast.alternates,
                             cast.reasons + [f"{cast.host}/{cast.nodename}:"
                                             f" compute service down"],
                             on_node(cast.host, cast.nodename))
        return stranded

    def _drop(self, uuid, cast):
        with self._lock:
            if self._pending.get(uuid) is cast:
                del self._pending[uuid]
                return True
            return False

    def _stranded(self, context, cast):
        if self._clock() - cast.at <= self.conf.service_down_time:
            return False
        try:
            service = service_obj.Service.get_by_compute_host(context,
                                                              cast.host)
        except exception.NotFound:
            return True
        return not self._liveness(context).service_is_up(service)

    def _liveness(self, context):
        if self._servicegroup is None:
            self._servicegroup = sg_api.API(self.conf, context)
        return self._servicegroup

    def stop(self):
        """Stop watching (the conductor's server stops): the thread ends
        at once, and a later cast starts none."""
        self._stopped.set()
        with self._lock:
            self._pending.clear()
            thread, servicegroup = self._thread, self._servicegroup
            self._servicegroup = None
        if thread is not None:
            thread.join()
        if servicegroup is not None:
            servicegroup.stop()

    @indirection.served_locally
    def _run(self):
        """Sweep until nothing is watched (the next cast starts a new
        thread), so an idle conductor, or a test's, keeps no thread."""
        while not self._stopped.wait(max(1, self.conf.report_interval)):
            try:
                self.sweep()
            except Exception:   # noqa: BLE001 - the next sweep tries again
                LOG.exception("build watch sweep failed")
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
