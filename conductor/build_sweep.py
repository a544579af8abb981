"""Builds nobody will finish, found by any conductor and ended.

A build changes hands by messages, and oslo.messaging acknowledges a
message as it arrives, before it is handled: the process that dies
holding one loses it. Three ways a build is then left BUILDING, its
claim held, with nobody to finish it:

* **a cast never taken**: the conductor died between the scheduler's
  claim and its cast (or its select call timed out while the scheduler
  went on and claimed): the instance is placed, with no task;
* **a hand-back never rescheduled**: the agent handed a failed build
  back (SCHEDULING) and the conductor that took its ``build_failed``
  died, or a conductor died rescheduling one;
* **a builder gone with its watcher**: the agent took the build
  (SPAWNING) and died, and so did the conductor that cast it, whose
  ``build_watch`` would have rescheduled it.

Every conductor with the build flow sweeps for these every
``rpc_response_timeout`` or ``report_interval``, whichever is longer
(one indexed query on ``instances (vm_state, task_state)``, at most
``BATCH`` rows) and ends each in ERROR with a
fault that says why, its claim given back, through the same
compare-and-swap the agents and the watch use
(``claim_release.take_back``): an agent taking the build a moment later
finds it gone and drops it, and two conductors sweeping at once end it
once. Ended, not rescheduled: the request and its alternates died with
the conductor that held them.

``lost_after`` is twice ``rpc_response_timeout`` (a live conductor casts
within one timeout of the claim: its select call is bounded by one; an
agent takes a cast within moments of it) plus ``service_down_time`` and
``report_interval``: a cast to a host that died is the watch's, which
reschedules it once the host has been down that long and it looks again;
the sweep only ends what no live conductor will. For the same reason a
build spawning on a host that is down is ended only when two sweeps in a
row (``sweep_every`` apart, at least the watch's ``report_interval``)
found the host down.
"""
import datetime
import logging
import threading

import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import instance_faults
from hoststate.db import schema
from hoststate.objects import indirection
from hoststate.objects import service as service_obj
from hoststate.objects import states
from hoststate.scheduler import claim_release
from hoststate.servicegroup import api as sg_api

LOG = logging.getLogger(__name__)

#: the most builds one sweep ends (the next sweep takes the rest)
BATCH = 500


def lost_after(conf):
    """Seconds after which a build that has not changed hands is lost."""
    return (2 * conf.rpc_response_timeout + conf.service_down_time
            + max(1, conf.report_interval))


def sweep_every(conf):
    """Seconds between sweeps: at least ``report_interval``, how often a
    watch looks (see ``_why_lost``)."""
    return max(1, conf.rpc_response_timeout, conf.report_interval)


class BuildSweep:
    """One conductor's sweep, on a daemon thread from ``start`` to
    ``stop``."""

    def __init__(self, conf, engine):
        self.conf = conf
        self.context = hs_context.get_admin_context(engine=engine)
        self._stopped = threading.Event()
        self._thread = None
        self._servicegroup = None
        #: the spawning builds the last sweep found on a host down
        self._down_before = set()

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run,
                                            name="build-sweep", daemon=True)
            self._thread.start()

    def stop(self):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        if self._servicegroup is not None:
            self._servicegroup.stop()
            self._servicegroup = None

    @indirection.served_locally
    def _run(self):
        while not self._stopped.wait(sweep_every(self.conf)):
            try:
                self.sweep()
            except Exception:   # noqa: BLE001 - the next sweep tries again
                LOG.exception("build sweep failed")

    def sweep(self):
        """End the lost builds found now; the uuids ended."""
        ended, down, up = [], set(), {}
        for row in self._candidates():
            reason = self._why_lost(row, down, up)
            if reason is not None and self._end(row, reason):
                ended.append(row.uuid)
        self._down_before = down
        return ended

    def _candidates(self):
        table = schema.instances
        stamp = sa.func.coalesce(table.c.updated_at, table.c.created_at)
        with db_api.reading(self.context) as conn:
            now = conn.execute(sa.select(db_api.server_utcnow())).scalar()
            since = now - datetime.timedelta(seconds=lost_after(self.conf))
            return list(conn.execute(
                sa.select(table.c.uuid, table.c.host, table.c.node,
                          table.c.task_state)
                .where(table.c.deleted == 0,
                       table.c.vm_state == states.BUILDING,
                       sa.or_(table.c.task_state.is_(None),
                              table.c.task_state.in_((states.SCHEDULING,
                                                      states.SPAWNING))),
                       stamp < since)
                .order_by(stamp).limit(BATCH)))

    def _why_lost(self, row, down, up):
        """Why the build is lost, or None when it is not (yet): spawning
        on a host that is up (a slow hypervisor, not a lost build), or
        found down for the first time (added to ``down``). ``up``: each
        host's liveness, asked once per sweep."""
        lost = lost_after(self.conf)
        where = f"{row.host}/{row.node}"
        if row.task_state is None:
            return (f"{where}: no agent took the build within {lost} s "
                    f"(its cast was lost)")
        if row.task_state == states.SCHEDULING:
            return (f"the failed build was not rescheduled within {lost} s "
                    f"(its conductor was lost)")
        if row.host not in up:
            up[row.host] = self._host_is_up(row.host)
        if up[row.host]:
            return None
        down.add(row.uuid)
        if row.uuid not in self._down_before:
            return None
        return f"{where}: compute service down while building"

    def _host_is_up(self, host):
        try:
            service = service_obj.Service.get_by_compute_host(self.context,
                                                              host)
        except exception.NotFound:
            return False
        if self._servicegroup is None:
            self._servicegroup = sg_api.API(self.conf, self.context)
        return self._servicegroup.service_is_up(service)

    def _end(self, row, reason):
        expected = {"vm_state": [states.BUILDING],
                    "task_state": [row.task_state], "host": [row.host],
                    "node": [row.node]}
        ended = claim_release.take_back(
            self.context, row.uuid, row.host, row.node, expected,
            {"vm_state": states.ERROR, "task_state": None},
            also=lambda conn: instance_faults.record(
                conn, row.uuid, "build lost", [reason], host=row.host))
        if ended:
            LOG.warning("instance %s is ERROR: build lost: %s", row.uuid,
                        reason)
        return ended
