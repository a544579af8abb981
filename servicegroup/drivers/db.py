"""The db liveness driver: heartbeats in the ``services`` table.

A joined service saves ``report_count + 1`` every ``report_interval``
seconds; that save stamps ``last_seen_up``. A service is up when
``|now - (last_seen_up or created_at)| <= service_down_time``; ``updated_at``
never counts, because enabling or disabling a service moves it (Nova bug
1420848).

Whose clock is "now"
--------------------
The database server's, for both sides. The heartbeat's UPDATE sets
``last_seen_up`` to the server's UTC now (``db_api.server_utcnow()``), and
every read that judges liveness selects the server's UTC now in the same
statement and computes the elapsed time against it. No process's own clock
enters the judgement, so a compute host whose clock runs 30 s ahead or
behind is judged exactly like one with a perfect clock, and two schedulers
with different clocks give the same answer. (With SQLite the "server" is
the machine holding the file, so every process shares one clock anyway.)

The one exception is a service that never heartbeat: ``created_at`` is
written by the creating process on its own clock, so a badly skewed host
may be judged down until its first heartbeat (``initial_delay`` seconds).

Cost
----
``are_up`` answers for any number of services with one query. It also
keeps that read in memory as, per service, the monotonic time until which
it stays up; ``are_up(services, max_age=...)`` answers from it while it is
younger than ``max_age``, still turning down a service whose window ran out
since the read.
"""
import logging
import math
import operator
import threading
import time

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api as sg_api
from hoststate.servicegroup.drivers import base

LOG = logging.getLogger(__name__)

_SERVICES = schema.services
#: "up until" of a service that is down (or was not found) in a bulk read.
_NEVER = -math.inf
#: Reads a versioned object's id where oslo.versionedobjects stores it,
#: without the field property's overhead (10,000 property reads cost ~4 ms;
#: the goal for a cached bulk answer is 1 ms). Should the storage name ever
#: change, the AttributeError sends every call down the ordinary path.
_FAST_ID = operator.attrgetter("_obj_id")
#: Above this many ids, a bulk read selects their id range, not an IN list.
_IN_LIST_MAX = 500
#: What a database that cannot be reached raises (refused, reset, timed out,
#: no pooled connection free); anything else is a bug, raised as it is.
_UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError,
                sa.exc.DisconnectionError, sa.exc.TimeoutError)
#: How long stop() and leave() wait for a heartbeat in progress to finish.
_JOIN_TIMEOUT_S = 10.0


class _Member:
    """One joined member: its heartbeat thread and how its last beat went."""

    def __init__(self, member, group, service):
        self.member = member
        self.group = group
        self.service = service
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # the thread and heartbeat() share it
        self.disconnected = False
        # The driver heartbeats on its own copy of the row, read at the first
        # beat and again after any failure: a failed or conflicting save
        # leaves the copy unsure of what the row holds.
        self.stale = True
        self.thread = None


class DbDriver(base.Driver):
    """Liveness from heartbeats stored in the database (Nova's default)."""

    name = "db"

    def __init__(self, conf, context=None,
                 initial_delay=float(sg_api.INITIAL_REPORTING_DELAY)):
        super().__init__(conf, context)
        self.initial_delay = initial_delay
        self._members = {}
        self._lock = threading.Lock()
        # (monotonic time of the read, {service id: up until, monotonic})
        self._bulk = (None, {})

    # --- reporting ---------------------------------------------------------

    def join(self, member, group, service=None):
        """Heartbeat ``service`` from a background thread until leave/stop.

        The first beat comes after ``initial_delay`` seconds. Joining a
        member again replaces its reporter.
        """
        if service is None or not service.obj_attr_is_set("id"):
            raise ValueError("the db servicegroup driver needs the created "
                             "Service of %s/%s to heartbeat on" % (group, member))
        self.leave(member, group)
        state = _Member(member, group, service)
        state.thread = threading.Thread(
            target=self._run, args=(state,), daemon=True,
            name=f"hoststate-heartbeat-{group}-{member}")
        with self._lock:
            self._members[(member, group)] = state
        state.thread.start()

    def leave(self, member, group):
        """Stop heartbeating ``member``; the row is left as it is, so the
        service goes down once service_down_time has passed."""
        with self._lock:
            state = self._members.pop((member, group), None)
        if state is not None:
            _stop_all([state])

    def stop(self):
        """Stop every heartbeat thread: they wake at once from their wait
        (one in the middle of a database call finishes it first)."""
        with self._lock:
            states = list(self._members.values())
            self._members.clear()
        _stop_all(states)

    def heartbeat(self, member, group):
        """Heartbeat a joined member now, as its thread does every
        report_interval (for a service that wants to report at once).
        Returns whether the heartbeat was saved; raises only KeyError, for
        a member that has not joined."""
        state = self._members.get((member, group))
        if state is None:
            raise KeyError(f"{group} {member} has not joined")
        return self._beat(state)

    def disconnected(self, member, group):
        """Whether the last heartbeat of ``member`` failed (Nova's
        ``model_disconnected``)."""
        state = self._members.get((member, group))
        return bool(state and state.disconnected)

    def _run(self, state):
        """Beat at a fixed rate; a late beat is not made up with a burst,
        so the database sees at most one write per member and interval."""
        if state.stopping.wait(self.initial_delay):
            return
        due = time.monotonic()
        while True:
            self._beat(state)
            due = max(due + self.conf.report_interval, time.monotonic())
            if state.stopping.wait(due - time.monotonic()):
                return

    def _beat(self, state):
        """One heartbeat; never raises; True when it was saved. Logs the
        first failure of a run of failures and the recovery, once each."""
        with state.lock:
            return self._beat_locked(state)

    def _beat_locked(self, state):
        try:
            self._report(state)
        except Exception as exc:  # nothing may stop the service's heartbeat
            state.stale = True
            if not state.disconnected:
                state.disconnected = True
                LOG.error("Heartbeat of %s %s failed; reporting it as "
                          "disconnected until a heartbeat succeeds (further "
                          "failures are not logged): %s", state.group,
                          state.member, exc, exc_info=True)
            return False
        if state.disconnected:
            state.disconnected = False
            LOG.info("Heartbeat of %s %s recovered", state.group, state.member)
        return True

    def _report(self, state):
        """report_count + 1, saved. An operator's write in between (enable,
        disable) moves the generation: re-read and try once more."""
        if state.stale:
            state.service = self._reread(state.service)
            state.stale = False
        try:
            _increment(state.service)
        except exception.GenerationConflict:
            state.service = self._reread(state.service)
            _increment(state.service)

    def _reread(self, service):
        context = self.context if self.context is not None else service._context
        return service_obj.Service.get_by_id(context, service.id)

    # --- judging -----------------------------------------------------------

    def is_up(self, service):
        """Whether ``service`` heartbeat within service_down_time, read
        fresh from the database; unknown services are down."""
        service_id = _service_id(service)
        if service_id is None:
            return False
        now, rows = self._read(_SERVICES.c.id == service_id)
        return bool(rows) and _is_up(now, rows[0].heartbeat,
                                     self.conf.service_down_time)

    def are_up(self, services, max_age=None):
        """``[is_up(s) for s in services]`` with one query.

        With ``max_age`` (seconds), the last bulk read answers instead when
        it is younger and covered every service asked about.
        """
        ids = _service_ids(services)
        if max_age is not None:
            answers = self._from_memory(ids, max_age)
            if answers is not None:
                return answers
        read_at = time.monotonic()
        down_time = self.conf.service_down_time
        wanted = {i for i in ids if i is not None}
        now, rows = self._read(_id_clause(wanted)) if wanted else (None, [])
        up_until = dict.fromkeys(wanted, _NEVER)
        up_until[None] = _NEVER          # services never stored: down
        for row in rows:
            if row.id in up_until:
                up_until[row.id] = _up_until(read_at, now, row.heartbeat,
                                             down_time)
        self._bulk = (read_at, up_until)
        return [up_until.get(i, _NEVER) >= read_at for i in ids]

    @property
    def last_bulk_read(self):
        """Monotonic time of the last bulk read (None before the first)."""
        return self._bulk[0]

    def _from_memory(self, ids, max_age):
        """Answers from the last bulk read, or None when it is too old or
        did not cover every id."""
        read_at, up_until = self._bulk
        now = time.monotonic()
        if read_at is None or now - read_at >= max_age:
            return None
        try:
            return [up_until[i] >= now for i in ids]
        except KeyError:
            return None

    def get_all(self, group):
        """Hosts of ``group`` (a topic) that are up, sorted; one query."""
        down_time = self.conf.service_down_time
        now, rows = self._read(_SERVICES.c.topic == group)
        return sorted({row.host for row in rows
                       if _is_up(now, row.heartbeat, down_time)})

    def updated_time(self, service):
        """The row's ``updated_at`` (as Nova's db driver returns), or None
        for an unknown service."""
        service_id = _service_id(service)
        if service_id is None:
            return None
        query = sa.select(_SERVICES.c.updated_at).where(
            _SERVICES.c.id == service_id,
            db_api.not_deleted(_SERVICES, "no"))
        rows = self._execute(query)
        return rows[0].updated_at if rows else None

    def _read(self, *where):
        """The server's now, and (id, host, heartbeat) of the live services
        matching ``where``, from one statement.

        The now comes once, as an extra row without an id, not as a column
        of every row: PyMySQL parses 10,000 datetimes in ~50 ms.
        """
        heartbeat = sa.func.coalesce(_SERVICES.c.last_seen_up,
                                     _SERVICES.c.created_at,
                                     type_=sa.DateTime())
        clock = sa.select(sa.null().label("id"), sa.null().label("host"),
                          db_api.server_utcnow().label("heartbeat"))
        services = (sa.select(_SERVICES.c.id, _SERVICES.c.host, heartbeat)
                    .where(db_api.not_deleted(_SERVICES, "no"), *where))
        rows = self._execute(sa.union_all(clock, services))
        now = next(row.heartbeat for row in rows if row.id is None)
        return now, [row for row in rows if row.id is not None]

    def _execute(self, query):
        """The rows of a read; an unreachable database is ServiceGroupUnavailable,
        never an answer of "all down"."""
        try:
            with db_api.engine_of(self.context).connect() as conn:
                return conn.execute(query).all()
        except _UNREACHABLE as exc:
            raise exception.ServiceGroupUnavailable(
                driver=self.name, reason=_first_line(exc)) from exc


def _is_up(now, heartbeat, down_time):
    """Nova's rule: ``abs()``, so a heartbeat from the future (a clock
    moved back) counts only within the window too."""
    return heartbeat is not None and abs(_seconds(now - heartbeat)) <= down_time


def _up_until(read_at, now, heartbeat, down_time):
    """The monotonic time at which a service read at ``read_at`` goes
    down: its elapsed time only grows after the read."""
    if not _is_up(now, heartbeat, down_time):
        return _NEVER
    return read_at + down_time - _seconds(now - heartbeat)


def _id_clause(wanted):
    """IN for a few ids; for many, their id range, the extra rows skipped
    by the caller: 10,000 bound parameters cost PostgreSQL and MariaDB
    more to send and plan than reading the rows does."""
    if len(wanted) <= _IN_LIST_MAX:
        return _SERVICES.c.id.in_(sorted(wanted))
    return _SERVICES.c.id.between(min(wanted), max(wanted))


def _increment(service):
    service.report_count += 1
    service.save()


def _stop_all(states):
    for state in states:
        state.stopping.set()
    deadline = time.monotonic() + _JOIN_TIMEOUT_S
    for state in states:
        if state.thread is not threading.current_thread():
            state.thread.join(max(0.0, deadline - time.monotonic()))


def _service_id(service):
    """The id of a Service object, a service dict, or an id; None if the
    service was never stored."""
    if isinstance(service, int):
        return service
    if isinstance(service, dict):
        return service.get("id")
    return service.obj_get("id")


def _service_ids(services):
    try:
        return list(map(_FAST_ID, services))
    except AttributeError:  # dicts, ids, or objects without an id
        return [_service_id(service) for service in services]


def _seconds(delta):
    return delta.total_seconds()


def _first_line(exc):
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() \
        else type(exc).__name__
