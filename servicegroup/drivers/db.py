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

Many services in one process
----------------------------
``join_many`` reports for a whole batch from one thread with bulk
statements (see ``db_bulk``); its members are otherwise like joined ones
(leave, stop, heartbeat, disconnected). ``abandon`` stops every heartbeat
and writes nothing, as a crashed process would: the members go down
service_down_time after their last heartbeat.

Cost
----
``are_up`` answers for any number of services with one query. It also
keeps that read in memory as, per service, the monotonic time until which
it stays up; ``are_up(services, max_age=...)`` answers from it while it is
younger than ``max_age``, still turning down a service whose window ran out
since the read.
"""
import datetime
import logging
import math
import operator
import threading
import time

import numpy as np
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.servicegroup import api as sg_api
from hoststate.servicegroup.drivers import base
from hoststate.servicegroup.drivers import db_bulk
from hoststate.servicegroup.drivers import db_member

LOG = logging.getLogger(__name__)

_SERVICES = schema.services
#: "up until" of a service that is down (or was not found) in a bulk read.
_NEVER = -math.inf
_EPOCH = datetime.datetime(1970, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)
#: numpy's "not a time" as the int64 it is stored as.
_NAT = np.iinfo(np.int64).min
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


class DbDriver(base.Driver):
    """Liveness from heartbeats stored in the database (Nova's default)."""

    name = "db"

    def __init__(self, conf, context=None,
                 initial_delay=float(sg_api.INITIAL_REPORTING_DELAY)):
        super().__init__(conf, context)
        self.initial_delay = initial_delay
        # (member, group) -> its MemberReporter or BulkReporter
        self._reporters = {}
        self._lock = threading.Lock()
        # (monotonic time of the read, service ids read (sorted),
        #  monotonic time until which each stays up)
        self._bulk = (None, np.zeros(0, dtype=np.int64), np.zeros(0))

    # --- reporting ---------------------------------------------------------

    def join(self, member, group, service=None):
        """Heartbeat ``service`` from a background thread until leave/stop.

        The first beat comes after ``initial_delay`` seconds. Joining a
        member again replaces its reporter.
        """
        _require_created(member, group, service)
        self.leave(member, group)
        reporter = db_member.MemberReporter(
            self.conf, member, group, service, self._context_of(service),
            self.initial_delay)
        with self._lock:
            self._reporters[(member, group)] = reporter
        reporter.start()

    def join_many(self, members):
        """Heartbeat every ``(member, group, service)`` from one thread with
        bulk statements (see ``db_bulk``), first after ``initial_delay``.

        A service whose context names no database (a process served by a
        conductor) cannot be updated in bulk and is joined singly.
        """
        batch, single = {}, []
        for member, group, service in members:
            _require_created(member, group, service)
            context = self._context_of(service)
            if getattr(context, "engine", None) is None:
                single.append((member, group, service))
            else:
                batch[(member, group)] = (service.id, context)
        for key in batch:
            self.leave(*key)
        for member, group, service in single:
            self.join(member, group, service)
        if batch:
            reporter = db_bulk.BulkReporter(self.conf, batch, self.initial_delay)
            with self._lock:
                self._reporters.update(dict.fromkeys(batch, reporter))
            reporter.start()

    def leave(self, member, group):
        """Stop heartbeating ``member``; the row is left as it is, so the
        service goes down once service_down_time has passed."""
        with self._lock:
            reporter = self._reporters.pop((member, group), None)
        if reporter is not None and reporter.drop((member, group)):
            reporter.stop()

    def stop(self):
        """Stop every heartbeat thread: they wake at once from their wait
        (one in the middle of a database call finishes it first)."""
        with self._lock:
            reporters = list({id(r): r for r in self._reporters.values()}
                             .values())
            self._reporters.clear()
        for reporter in reporters:
            reporter.stop(wait=False)
        for reporter in reporters:
            reporter.stop()

    def abandon(self):
        """Stop every heartbeat, as a crashed process would: nothing is
        written, the rows keep their last heartbeat, and the members go
        down service_down_time after it. (That is all ``stop`` does here:
        a heartbeat row has no goodbye to say.)"""
        self.stop()

    def heartbeat(self, member, group):
        """Heartbeat a joined member now, as its thread does every
        report_interval (for a service that wants to report at once).
        Returns whether the heartbeat was saved; raises only KeyError, for
        a member that has not joined."""
        reporter = self._reporters.get((member, group))
        if reporter is None:
            raise KeyError(f"{group} {member} has not joined")
        return reporter.heartbeat((member, group))

    def disconnected(self, member, group):
        """Whether the last heartbeat of ``member`` failed (Nova's
        ``model_disconnected``)."""
        reporter = self._reporters.get((member, group))
        return bool(reporter and reporter.disconnected((member, group)))

    def _context_of(self, service):
        """The driver's context, else the one the service was loaded with."""
        return self.context if self.context is not None else service._context

    # --- judging -----------------------------------------------------------

    def is_up(self, service):
        """Whether ``service`` heartbeat within service_down_time, read
        fresh from the database; unknown services are down."""
        service_id = _service_id(service)
        if service_id is None:
            return False
        if getattr(self._context_of(service), "engine", None) is None:
            # a process served by a conductor reads no database: judge the
            # stamps the service object holds (as Nova's db driver does)
            return _is_up(db_api.utcnow(),
                          _naive(service.obj_get("last_seen_up")),
                          self.conf.service_down_time)
        now, rows = self._read(_SERVICES.c.id == service_id)
        return bool(rows) and _is_up(now, rows[0].heartbeat,
                                     self.conf.service_down_time)

    def are_up(self, services, max_age=None):
        """``[is_up(s) for s in services]`` with one query.

        With ``max_age`` (seconds), the last bulk read answers instead when
        it is younger and covered every service asked about.
        """
        ids = _service_ids(services)
        stored = [i is not None for i in ids]
        answers = self.are_up_ids([i for i in ids if i is not None],
                                  max_age=max_age)
        found = iter(answers.tolist())
        return [next(found) if known else False for known in stored]

    def are_up_ids(self, ids, max_age=None):
        """``are_up`` of the services of ``ids`` (ints), as a bool array:
        the form a scheduler asks in for a whole table of hosts."""
        ids = np.asarray(ids, dtype=np.int64)
        if max_age is not None:
            answers = self._from_memory(ids, max_age)
            if answers is not None:
                return answers
        read_at = time.monotonic()
        # a table's services come in id order: then they are their own set
        ordered = len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1]))
        wanted = ids if ordered else np.unique(ids)
        up_until = np.full(len(wanted), _NEVER)
        if len(wanted):
            now, found, heartbeats = self._read_columns(
                _id_clause(wanted.tolist()))
            until = _up_until(read_at, now, heartbeats,
                              self.conf.service_down_time)
            # a range read brings ids nobody asked about: skip them
            at = np.minimum(np.searchsorted(wanted, found), len(wanted) - 1)
            asked = wanted[at] == found
            up_until[at[asked]] = until[asked]
        self._bulk = (read_at, wanted, up_until)
        return up_until[np.searchsorted(wanted, ids)] >= read_at

    @property
    def last_bulk_read(self):
        """Monotonic time of the last bulk read (None before the first)."""
        return self._bulk[0]

    def _from_memory(self, ids, max_age):
        """Answers (a bool array) from the last bulk read, or None when it
        is too old or did not cover every id."""
        read_at, known, up_until = self._bulk
        now = time.monotonic()
        if read_at is None or now - read_at >= max_age:
            return None
        if not len(ids):
            return np.zeros(0, dtype=bool)
        if not len(known):
            return None
        at = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        if not np.array_equal(known[at], ids):
            return None
        return up_until[at] >= now

    def get_all(self, group):
        """Hosts of ``group`` (a topic) that are up, sorted; one query."""
        now, rows = self._read(_SERVICES.c.topic == group)
        up, _ = _elapsed_up(now, _datetimes([row.heartbeat for row in rows]),
                            self.conf.service_down_time)
        return sorted({row.host for row, alive in zip(rows, up.tolist())
                       if alive})

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
        matching ``where``, from one statement."""
        now, rows = self._read_rows(where)
        return now, [row for row in rows if row.id is not None]

    def _read_rows(self, where):
        """(the server's now, every row of the statement, the clock's too).

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
        return now, rows

    def _read_columns(self, *where):
        """``_read`` as columns: (now, ids as an int array, heartbeats as
        a datetime64[us] array), without a Python object per service."""
        now, rows = self._read_rows(where)
        ids, _, heartbeats = zip(*rows)
        clock = ids.index(None)      # the clock's row, usually the first
        ids = ids[:clock] + ids[clock + 1:]
        heartbeats = heartbeats[:clock] + heartbeats[clock + 1:]
        return now, np.array(ids, dtype=np.int64), _datetimes(heartbeats)

    def _execute(self, query):
        """The rows of a read; an unreachable database is ServiceGroupUnavailable,
        never an answer of "all down"."""
        try:
            with db_api.engine_of(self.context).connect() as conn:
                return conn.execute(query).all()
        except _UNREACHABLE as exc:
            raise exception.ServiceGroupUnavailable(
                driver=self.name, reason=_first_line(exc)) from exc


def _naive(stamp):
    """A time stamp as the naive UTC the columns hold (objects are aware)."""
    if stamp is None or stamp.tzinfo is None:
        return stamp
    return stamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _is_up(now, heartbeat, down_time):
    """Nova's rule for one service (see ``_elapsed_up``)."""
    up, _ = _elapsed_up(now, _datetimes([heartbeat]), down_time)
    return bool(up[0])


def _datetimes(values):
    """Naive datetimes (or None) as a datetime64[us] array (NaT for None).
    Counted in whole microseconds since the epoch by timedelta arithmetic:
    numpy's own conversion of datetime objects is five times slower."""
    return np.fromiter(
        [_NAT if v is None else (v - _EPOCH) // _MICROSECOND for v in values],
        dtype=np.int64, count=len(values)).view("datetime64[us]")


def _elapsed_up(now, heartbeats, down_time):
    """(up mask, seconds since each heartbeat) of ``heartbeats`` (a
    datetime64[us] array, NaT for none) at ``now``: Nova's rule, with
    ``abs()`` so a heartbeat from the future (a clock moved back) counts
    only within the window too. The seconds are whole microseconds over
    10**6, as ``timedelta.total_seconds`` gives them."""
    missing = np.isnat(heartbeats)
    micros = (np.datetime64(now, "us") - heartbeats).astype(np.int64)
    seconds = np.where(missing, 0, micros) / 1e6
    return ~missing & (np.abs(seconds) <= down_time), seconds


def _up_until(read_at, now, heartbeats, down_time):
    """The monotonic time at which each service read at ``read_at`` goes
    down (``_NEVER`` for one that is down): its elapsed time only grows
    after the read."""
    up, seconds = _elapsed_up(now, heartbeats, down_time)
    # the time left first: (read_at + down_time) - seconds can round to
    # below read_at for a service exactly at the boundary, which is up
    return np.where(up, read_at + (down_time - seconds), _NEVER)


def _id_clause(wanted):
    """IN for a few ids; for many, their id range, the extra rows skipped
    by the caller: 10,000 bound parameters cost PostgreSQL and MariaDB
    more to send and plan than reading the rows does."""
    if len(wanted) <= _IN_LIST_MAX:
        return _SERVICES.c.id.in_(sorted(wanted))
    return _SERVICES.c.id.between(min(wanted), max(wanted))


def _require_created(member, group, service):
    # obj_get, not obj_attr_is_set: the latter lists the object's fields
    # on every call, a third of a bulk join of 100,000 services
    if getattr(service, "obj_get", None) is None or \
            service.obj_get("id") is None:
        raise ValueError("the db servicegroup driver needs the created "
                         "Service of %s/%s to heartbeat on" % (group, member))


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


def _first_line(exc):
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() \
        else type(exc).__name__
