"""ComputeService: a compute agent's life, for a process that embeds one.

What nova-compute's service wrapper does around its manager, reduced to
what hoststate tracks:

    start   register the compute service and its nodes (the first update),
            then join the service group so schedulers see the host up
    run     update every node every ``update_resources_interval`` seconds
            until ``stop()`` is asked for
    close   leave the service group (zk and mc: down at once; db: the
            heartbeats stop) and stop the servicegroup API

``stop()`` only sets an event: an update in progress finishes, then
``run()`` leaves the group and returns. Call it from another thread than
``run()``'s (a signal handler interrupting ``run()``'s own wait could
deadlock on the event's lock); ``hoststate compute`` runs ``run()`` in a
thread and keeps the main thread for signals.

The service group is passed in (anything with ``join``/``leave``/
``service_is_up``/``stop``, normally ``hoststate.servicegroup.api.API``):
the resource tracker does not depend on the liveness drivers, which sit
beside it, not below it.
"""
import logging
import threading
import time

from hoststate.conf import compute as compute_conf
from hoststate.resource_tracker import agent as agent_mod

LOG = logging.getLogger(__name__)


def periodic_interval(conf):
    """Seconds between two periodic updates, or None for never.

    ``update_resources_interval``: 0 means the default period (60 s, as
    Nova's periodic tasks), a negative number means never.
    """
    interval = conf.update_resources_interval
    if interval < 0:
        return None
    return interval or compute_conf.DEFAULT_UPDATE_RESOURCES_INTERVAL


class ComputeService:
    """One compute host's agent, its liveness and its periodic update.

    :param context: admin context on the cell database.
    :param driver: the virt driver reporting this host's nodes.
    :param host: the service's host name.
    :param servicegroup: the liveness API to join, or None to stay out of
        the service group (a one-shot inventory report).
    :param interval: seconds between periodic updates; None: never.
    """

    def __init__(self, context, driver, host, servicegroup=None,
                 interval=compute_conf.DEFAULT_UPDATE_RESOURCES_INTERVAL):
        self.agent = agent_mod.ComputeAgent(context, driver, host)
        self.host = host
        self.servicegroup = servicegroup
        self.interval = interval
        self._stopping = threading.Event()
        self._joined = None       # the group joined, until left
        self._closed = False

    @property
    def service(self):
        """The compute Service row (set by ``start``)."""
        return self.agent.service

    @property
    def nodenames(self):
        """Names of the nodes this service tracks, sorted."""
        return sorted(self.agent.trackers)

    def start(self):
        """Register the service and its nodes, then join the service group.

        Returns {nodename: error} of the nodes whose first update failed.
        A liveness backend that cannot be reached fails the start (after
        leaving again): a compute service nobody can see up would only be
        skipped by every scheduler, silently.
        """
        try:
            errors = self.agent.start()
            if self.servicegroup is not None:
                self._join()
        except Exception:
            self.close()
            raise
        return errors

    def _join(self):
        topic = self.service.topic
        self.servicegroup.join(self.host, topic, self.service)
        self._joined = topic
        self.servicegroup.service_is_up(self.service)

    def update(self):
        """One periodic update of every node; returns {nodename: error}.

        Never raises: a failure before any node could be updated (the
        driver's node list, the database) is logged and returned under the
        key None, and the next period tries again.
        """
        try:
            return self.agent.update_available_resource()
        except Exception as exc:  # a periodic task must outlive one failure
            LOG.error("periodic update of host %s failed", self.host,
                      exc_info=True)
            return {None: exc}

    def run(self):
        """Update every ``interval`` seconds until ``stop()``, then close.

        The period runs from the start of one update to the start of the
        next; an update that overruns it is followed by the next at once.
        """
        try:
            next_start = self._after(time.monotonic())
            while not self._stopping.wait(_until(next_start)):
                next_start = self._after(time.monotonic())
                self.update()
        finally:
            self.close()

    def _after(self, start):
        return None if self.interval is None else start + self.interval

    def stop(self):
        """Ask ``run()`` to return after the update in progress (from
        another thread: see the module docstring)."""
        self._stopping.set()

    @property
    def stopping(self):
        """Whether ``stop()`` was asked for."""
        return self._stopping.is_set()

    def close(self):
        """Leave the service group and stop the servicegroup API (once)."""
        if self._closed:
            return
        self._closed = True
        if self.servicegroup is None:
            return
        try:
            if self._joined is not None:
                self.servicegroup.leave(self.host, self._joined)
                self._joined = None
        finally:
            self.servicegroup.stop()


def _until(moment):
    """Seconds from now to the monotonic ``moment`` (None: forever)."""
    return None if moment is None else max(0.0, moment - time.monotonic())
