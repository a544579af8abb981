"""The mc driver: a service is up while its memcached key exists.

Nova's memcached driver, with what it left open decided:

* **Keys.** A member's liveness key is Nova's ``"<topic>:<host>"``; its value
  is the report time as ISO-8601 UTC text. A daemon thread per joined member
  sets it every ``report_interval`` seconds with an expiry of
  ``service_down_time``, so the key's lifetime *is* the liveness window.
  memcached counts expiry in whole seconds on its own one-second clock, so a
  key lives between ``service_down_time - 1`` and ``service_down_time``
  seconds after its last write (Nova's behaviour too). A key that is not a
  legal memcached key (whitespace, control or non-ASCII characters, longer
  than 250 bytes) is replaced by ``hoststate-sg:<sha1 of it>``.
* **Bulk is-up** (``are_up``) is one multi-get of every service's key (one
  ``get`` per server with several servers).
* **get_all.** memcached cannot list keys, so each group keeps a members list,
  JSON in ``MEMBER_BUCKETS`` keys ``"<group>#members.<i>"`` (a host goes in
  bucket ``crc32(host) % MEMBER_BUCKETS``; the ``#`` keeps these keys apart
  from any ``"<topic>:<host>"``). Members add themselves with check-and-set
  (``gets``/``cas``, ``add`` for a new bucket); every heartbeat reads the
  member's own bucket and adds it again if it is missing (memcached
  restarted, or evicted the bucket), so the list heals within one
  ``report_interval``. Buckets keep that read small (about 1/16 of the
  members). ``get_all`` reads the buckets, then multi-gets their members'
  liveness keys, and returns those that exist: the list only says *who to
  ask*, never who is up. ``leave`` removes the host; entries of hosts that
  died without leaving are pruned by the next write to their bucket
  (a join, leave or re-add of another host there).
* **Storage.** ``memcached_servers`` unset: an in-process :class:`LocalStore`
  with expiry on ``time.monotonic``, shared by every mc driver of the
  process; it serves a single process only (tests, ``hoststate simulate``).
  One server: a pymemcache ``Client``. Several: a pymemcache ``HashClient``
  (rendezvous hashing, a consistent hash: adding or removing a server moves
  only the keys that hash to it). The ring is **fixed**: pymemcache's
  failover (drop a failing server, rehash its keys elsewhere, answer misses
  meanwhile) is turned off, because every process would decide that alone
  and a checker would then read where members do not write, silently seeing
  them down. A key always lives on one server; if that server cannot be
  reached the answer is an error, not a guess.
* **Errors.** ``is_up``, ``are_up``, ``get_all`` and ``updated_time`` raise
  ServiceGroupUnavailable(driver='mc') when memcached cannot be reached
  (short connect/IO timeouts; never ``ignore_exc``, which would turn an
  outage into misses, i.e. "everything down"). Heartbeats never raise: a
  failure is logged once, retried every beat, and the recovery logged once;
  after a memcached restart (all keys lost) members are back within one
  ``report_interval``. ``leave`` only logs if memcached is unreachable (the
  key then expires by itself).
"""
import datetime
import hashlib
import json
import logging
import random
import re
import threading
import time
import zlib

from pymemcache.exceptions import MemcacheClientError, MemcacheError

from hoststate import exception
from hoststate.servicegroup.drivers import base
from hoststate.servicegroup.drivers.mc_clients import (
    CONNECT_TIMEOUT_S, IO_TIMEOUT_S, PROCESS_STORE, LocalStore, make_client)

__all__ = ["MemcachedDriver", "LocalStore", "PROCESS_STORE", "make_client",
           "liveness_key", "bucket_key", "bucket_of", "MEMBER_BUCKETS"]

LOG = logging.getLogger(__name__)

#: Keys holding a group's members list (see the module docstring).
MEMBER_BUCKETS = 16
#: Check-and-set attempts on a members bucket before giving up until the
#: next heartbeat.
CAS_ATTEMPTS = 20

_PLAIN_KEY = re.compile(r"[!-~]{1,250}\Z").match


def _safe_key(key):
    if _PLAIN_KEY(key):
        return key
    return "hoststate-sg:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def liveness_key(group, host):
    """The key whose existence means ``host`` of ``group`` is up."""
    return _safe_key(f"{group}:{host}")


def bucket_key(group, index):
    return _safe_key(f"{group}#members.{index}")


def bucket_of(host):
    return zlib.crc32(host.encode("utf-8")) % MEMBER_BUCKETS


def _field(service, name):
    if hasattr(service, "obj_get"):
        return service.obj_get(name)
    return service.get(name)


# Where oslo.versionedobjects keeps a set field's value. Reading it there
# skips the property's checks, which cost more than the whole multi-get of
# are_up over 10,000 services; if ovo ever stores values elsewhere, the
# fast path just misses and obj_get answers.
_TOPIC_ATTR, _HOST_ATTR = "_obj_topic", "_obj_host"


def _service_key(service):
    """``"<topic>:<host>"`` of a Service object or dict. The group a service
    joins is its topic; a service without one is known by its binary."""
    stored = getattr(service, "__dict__", None)
    if stored is not None and stored.get(_TOPIC_ATTR) and _HOST_ATTR in stored:
        key = f"{stored[_TOPIC_ATTR]}:{stored[_HOST_ATTR]}"
        return key if _PLAIN_KEY(key) else _safe_key(key)
    topic = _field(service, "topic") or _field(service, "binary")
    return liveness_key(topic, _field(service, "host"))


def _naive_utc(value):
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def _decode_hosts(raw):
    return set(json.loads(raw)) if raw else set()


class MemcachedDriver(base.Driver):
    """Liveness as expiring memcached keys; see the module docstring."""

    name = "mc"

    def __init__(self, conf, context=None, client=None, initial_delay=0.0):
        """``client``: a pymemcache client or :class:`LocalStore` to use
        instead of the one ``memcached_servers`` describes (it is then not
        closed by :meth:`stop`). ``initial_delay``: seconds from join to the
        first heartbeat; 0 beats at once, inside ``join``."""
        super().__init__(conf, context)
        self._owns_client = client is None
        self.client = make_client(conf.memcached_servers) if client is None \
            else client
        self._initial_delay = initial_delay
        self._lock = threading.Lock()          # around every client call
        self._reporters = {}                   # (group, member) -> _Reporter
        self._reporters_lock = threading.Lock()

    # -- membership --------------------------------------------------------

    def join(self, member, group, service=None):
        with self._reporters_lock:
            if (group, member) in self._reporters:
                return
            reporter = _Reporter(self, member, group)
            self._reporters[(group, member)] = reporter
        if self._initial_delay > 0:
            reporter.start(self._initial_delay)
        else:
            reporter.beat()
            reporter.start(self.conf.report_interval)

    def leave(self, member, group):
        with self._reporters_lock:
            reporter = self._reporters.pop((group, member), None)
        if reporter is not None:
            reporter.stop()
        try:
            with self._call(f"leave of {group}:{member}"):
                self.client.delete(liveness_key(group, member), noreply=False)
            self._update_bucket(member, group, add=False)
        except exception.ServiceGroupUnavailable as exc:
            LOG.warning("%s could not leave %s now (its key expires within "
                        "service_down_time): %s", member, group, exc)

    def stop(self):
        with self._reporters_lock:
            joined = dict(self._reporters)
        for reporter in joined.values():
            reporter.stop_event.set()          # stop them all at once
        for group, member in joined:
            self.leave(member, group)
        if self._owns_client:
            self.client.close()

    # -- liveness ----------------------------------------------------------

    def is_up(self, service):
        key = _service_key(service)
        with self._call(f"is_up({key})"):
            return self.client.get(key) is not None

    def are_up(self, services):
        keys = [_service_key(service) for service in services]
        if not keys:
            return []
        with self._call(f"are_up of {len(keys)} services"):
            found = self.client.get_many(list(dict.fromkeys(keys)))
        return [key in found for key in keys]

    def get_all(self, group):
        buckets = [bucket_key(group, i) for i in range(MEMBER_BUCKETS)]
        with self._call(f"get_all({group})"):
            lists = self.client.get_many(buckets)
        hosts = set().union(*(_decode_hosts(raw) for raw in lists.values()))
        if not hosts:
            return []
        keys = {liveness_key(group, host): host for host in hosts}
        with self._call(f"get_all({group})"):
            alive = self.client.get_many(list(keys))
        return sorted(keys[key] for key in alive)

    def updated_time(self, service):
        """The newer of the report time in memcached and the service's
        ``updated_at`` (Nova), as a naive UTC datetime."""
        key = _service_key(service)
        with self._call(f"updated_time({key})"):
            raw = self.client.get(key)
        in_db = _naive_utc(_field(service, "updated_at"))
        if raw is None:
            return in_db
        try:
            in_mc = _naive_utc(datetime.datetime.fromisoformat(raw.decode()))
        except (UnicodeDecodeError, ValueError):   # not written by us
            return in_db
        return in_mc if in_db is None or in_db <= in_mc else in_db

    # -- internals ---------------------------------------------------------

    def _call(self, what):
        return _Call(self._lock, what)

    def _beat(self, member, group, stop_event):
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        with self._call(f"heartbeat of {group}:{member}"):
            if stop_event.is_set():            # left meanwhile: no revival
                return
            self.client.set(liveness_key(group, member), stamp.encode(),
                            expire=self.conf.service_down_time, noreply=False)
        if not self._update_bucket(member, group, add=True, stop_event=stop_event):
            raise exception.ServiceGroupUnavailable(
                driver="mc", reason=f"{CAS_ATTEMPTS} check-and-set attempts "
                f"to list {member} in {group} all lost a race")

    def _update_bucket(self, member, group, add, stop_event=None):
        """Add or remove ``member`` in its bucket; False if every CAS lost."""
        key = bucket_key(group, bucket_of(member))
        for attempt in range(CAS_ATTEMPTS):
            with self._call(f"members of {group}"):
                raw, token = self.client.gets(key)
            hosts = _decode_hosts(raw)
            if (member in hosts) == add:
                return True
            hosts = hosts | {member} if add else hosts - {member}
            hosts = self._prune(group, hosts, keep=member)
            value = json.dumps(sorted(hosts)).encode()
            with self._call(f"members of {group}"):
                if stop_event is not None and stop_event.is_set():
                    return True
                if raw is None:
                    stored = self.client.add(key, value, noreply=False)
                else:
                    stored = self.client.cas(key, value, token, noreply=False)
            if stored:
                return True
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        return False

    def _prune(self, group, hosts, keep):
        """Drop hosts whose liveness key is gone (died without leaving).

        A live host pruned in a race with its own heartbeat adds itself
        back at its next beat."""
        others = {liveness_key(group, h): h for h in hosts if h != keep}
        if not others:
            return hosts
        try:
            with self._call(f"members of {group}"):
                alive = self.client.get_many(list(others))
        except exception.ServiceGroupUnavailable:
            return hosts                       # cannot tell: keep them
        return {keep} & hosts | {others[key] for key in alive}


class _Call:
    """Serialise a client call and turn an outage into a typed error."""

    def __init__(self, lock, what):
        self.lock, self.what = lock, what

    def __enter__(self):
        self.lock.acquire()

    def __exit__(self, exc_type, exc, tb):
        self.lock.release()
        if exc is None or isinstance(exc, MemcacheClientError):
            return False                       # success, or our own bug
        if isinstance(exc, (OSError, MemcacheError)):
            raise exception.ServiceGroupUnavailable(
                driver="mc", reason=f"{self.what}: "
                f"{type(exc).__name__}: {exc}") from exc
        return False


class _Reporter:
    """The heartbeat thread of one member."""

    def __init__(self, driver, member, group):
        self.driver, self.member, self.group = driver, member, group
        self.stop_event = threading.Event()
        self.failing = False
        self.thread = threading.Thread(
            target=self._run, daemon=True,
            name=f"mc-heartbeat-{group}:{member}")
        self._first_delay = 0.0

    def start(self, first_delay):
        self._first_delay = first_delay
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=CONNECT_TIMEOUT_S + 2 * IO_TIMEOUT_S)

    def beat(self):
        """One heartbeat; never raises (logs the first failure and the
        recovery, once each)."""
        try:
            self.driver._beat(self.member, self.group, self.stop_event)
        except Exception as exc:  # noqa: BLE001 - nothing reaches the service
            if not self.failing:
                self.failing = True
                LOG.warning("heartbeat of %s in %s failed; retrying every "
                            "%s s: %s", self.member, self.group,
                            self.driver.conf.report_interval, exc)
            return
        if self.failing:
            self.failing = False
            LOG.info("heartbeat of %s in %s recovered", self.member, self.group)

    def _run(self):
        interval = self.driver.conf.report_interval
        next_at = time.monotonic() + self._first_delay
        while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
            self.beat()
            next_at += interval
            now = time.monotonic()
            if next_at < now:                  # a slow beat: do not bunch up
                next_at = now + interval
