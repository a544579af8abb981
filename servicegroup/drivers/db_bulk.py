"""Bulk heartbeats of the db driver: one thread reporting for many services.

``DbDriver.join`` gives each member a thread that saves its Service object
(a read, then a compare-and-swap). That is right for one service per
process and impossible for the 100,000 simulated hosts of ``hoststate
simulate``. ``DbDriver.join_many`` hands its members to one
:class:`BulkReporter` instead, which beats them all every
``report_interval`` with statements of at most :data:`CHUNK` ids::

    UPDATE services SET report_count = report_count + 1,
                        last_seen_up = <server now>, updated_at = <server now>,
                        generation = generation + 1
     WHERE id IN (...) AND deleted = 0

A row ends up as a single member's heartbeat leaves it: the count one
higher, ``last_seen_up`` on the database server's clock, and the
generation moved, so a compare-and-swap writer that read the row before
(an operator disabling the service) fails, re-reads and keeps the count.
The increment itself needs no compare-and-swap: it is computed by the
server, so it cannot overwrite anybody's write.

Each statement is its own transaction: other writers (SQLite has one at a
time) wait for one chunk, never for a whole round.

Both reporters (this one and ``db_member``'s) run on a :class:`Beater`
thread: first beat after ``initial_delay``, then one per interval.

Failures are per member, as on the single path: a failed statement marks
its members disconnected until one of their heartbeats succeeds; a row
that is gone (the service was deleted) marks its member disconnected. Logs
are per batch, not per member (a database outage would otherwise log
100,000 lines): the first failure while every member was fine is logged
once as an error, the return of the last disconnected member once as info.
"""
import logging
import threading
import time

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema

#: The db driver's logger: its heartbeat logs come under one name.
LOG = logging.getLogger("hoststate.servicegroup.drivers.db")

_SERVICES = schema.services
#: Ids per UPDATE: a few hundred bound parameters plan quickly on every
#: backend (and stay far below SQLite's limit of 32,766).
CHUNK = 500
#: How long stop() waits for a round in progress to finish.
JOIN_TIMEOUT_S = 10.0

#: "Not soft-deleted", written so that no index can serve it and every
#: backend finds the chunk's rows by primary key. As ``deleted = 0``, on a
#: table without statistics yet (just seeded, as a simulation does)
#: PostgreSQL scans the (host, binary, deleted) unique index instead, that
#: is the whole table for every chunk: 10,000 members took 2.5 s a round
#: instead of 0.3 s. (``deleted`` is NOT NULL: the coalesce changes nothing.)
_LIVE = sa.func.coalesce(_SERVICES.c.deleted, 0) == 0
_HEARTBEAT = (
    sa.update(_SERVICES)
    .where(_SERVICES.c.id.in_(sa.bindparam("ids", expanding=True)), _LIVE)
    .values(report_count=_SERVICES.c.report_count + 1,
            last_seen_up=db_api.server_utcnow(),
            updated_at=db_api.server_utcnow(),
            generation=_SERVICES.c.generation + 1))
_PRESENT = (sa.select(_SERVICES.c.id)
            .where(_SERVICES.c.id.in_(sa.bindparam("ids", expanding=True)),
                   _LIVE))


class Beater:
    """A thread that calls ``beat()`` after ``initial_delay`` seconds, then
    every report_interval until stopped: what both of the db driver's
    reporters (a member's, a batch's) are built on."""

    def __init__(self, conf, initial_delay, name):
        self.conf = conf
        self.stopping = threading.Event()
        self._initial_delay = initial_delay
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=name)

    def beat(self):
        raise NotImplementedError

    def start(self):
        self.thread.start()

    def stop(self, wait=True):
        """Tell the thread to stop; with ``wait``, wait for it (a database
        call in progress finishes first). Without, many stop at once. The
        rows are left as they are."""
        self.stopping.set()
        if wait and self.thread.is_alive() and \
                self.thread is not threading.current_thread():
            self.thread.join(JOIN_TIMEOUT_S)

    def _run(self):
        """Beat at a fixed rate; a late beat is not made up with a burst,
        so the database sees at most one write per member and interval."""
        if self.stopping.wait(self._initial_delay):
            return
        due = time.monotonic()
        while True:
            self.beat()
            due = max(due + self.conf.report_interval, time.monotonic())
            if self.stopping.wait(due - time.monotonic()):
                return


class BulkReporter(Beater):
    """Heartbeats of a batch of members from one thread.

    ``members``: ``{(member, group): (service id, context)}``; the context
    names the database (each cell has its own), and members are beaten per
    database.
    """

    def __init__(self, conf, members, initial_delay):
        super().__init__(conf, initial_delay,
                         name=f"hoststate-bulk-heartbeat-{len(members)}")
        self._members = dict(members)
        self._lock = threading.Lock()        # _members and _disconnected
        self._beat_lock = threading.Lock()   # one round at a time
        self._disconnected = set()

    def drop(self, key):
        """Stop reporting ``key``; True when no member is left. Waits for
        a round in progress, so no heartbeat of ``key`` follows."""
        with self._beat_lock, self._lock:
            self._members.pop(key, None)
            self._disconnected.discard(key)
            return not self._members

    def disconnected(self, key):
        """Whether the last heartbeat of ``key`` failed."""
        return key in self._disconnected

    def heartbeat(self, key):
        """Heartbeat ``key`` alone, now; whether it was saved."""
        return key in self.beat([key])

    def beat(self, keys=None):
        """One heartbeat of ``keys`` (every member when None); never raises.
        Returns the keys whose heartbeat was saved."""
        with self._beat_lock:
            with self._lock:
                wanted = self._members if keys is None else {
                    k: self._members[k] for k in keys if k in self._members}
                batches = _per_database(wanted)
            saved, failed, errors = set(), set(), []
            for context, ids in batches:
                for start in range(0, len(ids), CHUNK):
                    _beat_chunk(context, dict(ids[start:start + CHUNK]),
                                saved, failed, errors)
            self._record(saved, failed, errors[0] if errors else None)
        return saved

    def _record(self, saved, failed, error):
        """Update who is disconnected; log a run of failures and the
        recovery once each."""
        with self._lock:
            was_failing = bool(self._disconnected)
            self._disconnected -= saved
            self._disconnected |= failed & self._members.keys()
            failing, total = len(self._disconnected), len(self._members)
        if failing and not was_failing:
            LOG.error("Heartbeats of %d of %d services failed; reporting them "
                      "as disconnected until a heartbeat succeeds (further "
                      "failures are not logged): %s", failing, total, error,
                      exc_info=None if isinstance(error, _Gone) else error)
        elif was_failing and not failing:
            LOG.info("Heartbeats of %d services recovered", total)


class _Gone(Exception):
    """Rows of members that are not there (deleted services)."""

    def __init__(self, count):
        super().__init__(f"{count} service rows not found (deleted?)")


def _beat_chunk(context, chunk, saved, failed, errors):
    """Heartbeat ``chunk`` ({service id: key}); adds its keys to ``saved``
    or ``failed``, and the error to ``errors``."""
    try:
        missing = _heartbeat(context, list(chunk))
    except Exception as exc:  # nothing may stop the heartbeats
        failed.update(chunk.values())
        errors.append(exc)
        return
    lost = {chunk.pop(service_id) for service_id in missing}
    if lost:
        failed.update(lost)
        errors.append(_Gone(len(lost)))
    saved.update(chunk.values())


def _per_database(members):
    """``[(context, [(service id, key), ...])]``, one entry per engine."""
    groups = {}
    for key, (service_id, context) in members.items():
        engine = db_api.engine_of(context)
        groups.setdefault(engine, (context, []))[1].append((service_id, key))
    return list(groups.values())


def _heartbeat(context, ids):
    """One bulk heartbeat of ``ids``, in one transaction; the ids of rows
    that are not there."""
    with db_api.transaction(context) as conn:
        if conn.execute(_HEARTBEAT, {"ids": ids}).rowcount == len(ids):
            return set()
        present = set(conn.execute(_PRESENT, {"ids": ids}).scalars())
    return set(ids) - present
