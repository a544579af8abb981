"""The mc driver: a service is up while its memcached key exists.

Nova's memcached driver, with what it left open decided:

* **Keys.** A member's liveness key is Nova's ``"<topic>:<host>"``; its value
  is the report time as ISO-8601 UTC text. A daemon thread per joined member
  (per batch, for ``join_many``: multi-sets of every key of the batch) sets
  it every ``report_interval`` seconds with an expiry of
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
  buckets holding its members (one multi-get per group, for a member alone
  or a whole batch) and adds them again where they are missing (memcached
  restarted, or evicted the bucket), so the list heals within one
  ``report_interval``. Buckets keep a lone member's read small (about 1/16
  of the members). ``get_all`` reads the buckets, then multi-gets their members'
  liveness keys, and returns those that exist: the list only says *who to
  ask*, never who is up. ``leave`` removes the host; entries of hosts that
  died without leaving are pruned by the next write to their bucket
  (a join, leave or re-add of another host there).
* **Crashing.** ``abandon`` stops every heartbeat thread and writes
  nothing: the keys expire within ``service_down_time`` and the members
  list keeps the hosts until a later write prunes them, as after a crash.
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
    PROCESS_STORE, LocalStore, make_client)
from hoststate.servicegroup.drivers.mc_reporter import Reporter

__all__ = ["MemcachedDriver", "LocalStore", "PROCESS_STORE", "make_client",
           "liveness_key", "bucket_key", "bucket_of", "MEMBER_BUCKETS"]

LOG = logging.getLogger(__name__)

#: Keys holding a group's members list (see the module docstring).
MEMBER_BUCKETS = 16
#: Check-and-set attempts on a members bucket before giving up until the
#: next heartbeat.
CAS_ATTEMPTS = 20
#: Keys per multi-set or multi-delete: bounds one call's time under the
#: client lock (reads of the same driver wait for it).
MANY = 2000

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
        self.join_many([(member, group, service)])

    def join_many(self, members):
        """Report every ``(member, group, service)`` with one thread: each
        beat multi-sets their keys and updates each group's list once."""
        with self._reporters_lock:
            keys = {(group, member) for member, group, _ in members} - \
                self._reporters.keys()
            if not keys:
                return
            reporter = Reporter(self, keys)
            self._reporters.update(dict.fromkeys(keys, reporter))
        if self._initial_delay > 0:
            reporter.start(self._initial_delay)
        else:
            reporter.beat()
            reporter.start(self.conf.report_interval)

    def leave(self, member, group):
        with self._reporters_lock:
            reporter = self._reporters.pop((group, member), None)
        if reporter is not None and reporter.drop((group, member)):
            reporter.stop()
        self._forget([(group, member)], f"leave of {group}:{member}")

    def stop(self):
        """Stop every heartbeat, then delete every member's key and list
        entry (in bulk); close the client if it is ours."""
        self._forget(self._stop_reporters(), "stop")
        if self._owns_client:
            self.client.close()

    def abandon(self):
        """Stop every heartbeat as a crashed process would: no key deleted,
        no list touched. The keys expire within service_down_time."""
        self._stop_reporters()

    def _stop_reporters(self):
        """Stop every reporter (all at once); the keys they beat for."""
        with self._reporters_lock:
            joined = dict(self._reporters)
            self._reporters.clear()
        reporters = {id(r): r for r in joined.values()}.values()
        for reporter in reporters:
            reporter.stop(wait=False)
        for reporter in reporters:
            reporter.stop()
        return list(joined)

    def _forget(self, keys, what):
        """Delete the liveness keys of ``keys`` and take them off their
        groups' lists; only logs if memcached is unreachable (the keys then
        expire by themselves)."""
        try:
            for chunk in _chunks([liveness_key(g, m) for g, m in keys]):
                with self._call(what):
                    self.client.delete_many(chunk, noreply=False)
            for group, members in _by_group(keys).items():
                self._update_buckets(group, members, add=False)
        except exception.ServiceGroupUnavailable as exc:
            LOG.warning("%s: could not delete %d members' keys now (they "
                        "expire within service_down_time): %s", what,
                        len(keys), exc)

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

    def _beat(self, keys, stop_event):
        """Set the liveness keys of ``keys`` (``(group, member)`` pairs)
        with the TTL, then list them in their groups."""
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        value = stamp.encode()
        for chunk in _chunks([liveness_key(g, m) for g, m in keys]):
            with self._call(f"heartbeat of {len(keys)} members"):
                if stop_event.is_set():        # stopped meanwhile: no revival
                    return
                failed = self.client.set_many(
                    dict.fromkeys(chunk, value),
                    expire=self.conf.service_down_time, noreply=False)
            if failed:
                raise exception.ServiceGroupUnavailable(
                    driver="mc", reason=f"{len(failed)} keys not stored")
        for group, members in _by_group(keys).items():
            if not self._update_buckets(group, members, True, stop_event):
                raise exception.ServiceGroupUnavailable(
                    driver="mc", reason=f"{CAS_ATTEMPTS} check-and-set "
                    f"attempts to list members in {group} all lost a race")

    def _update_buckets(self, group, members, add, stop_event=None):
        """Add (or remove) ``members`` in their buckets of ``group``: one
        multi-get of those buckets, then a check-and-set on each bucket
        that needs the change. False if some bucket lost every CAS."""
        wanted = {}
        for member in members:
            wanted.setdefault(bucket_key(group, bucket_of(member)),
                              set()).add(member)
        with self._call(f"members of {group}"):
            lists = self.client.get_many(list(wanted))
        done = True
        for key, hosts in wanted.items():
            if _settled(hosts, _decode_hosts(lists.get(key)), add):
                continue
            done = self._cas_bucket(group, key, hosts, add, stop_event) and done
        return done

    def _cas_bucket(self, group, key, members, add, stop_event):
        """Add or remove ``members`` in bucket ``key``; False if every CAS
        lost."""
        for attempt in range(CAS_ATTEMPTS):
            with self._call(f"members of {group}"):
                raw, token = self.client.gets(key)
            hosts = _decode_hosts(raw)
            if _settled(members, hosts, add):
                return True
            hosts = hosts | members if add else hosts - members
            hosts = self._prune(group, hosts, keep=members)
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
        """Drop hosts whose liveness key is gone (died without leaving),
        except ``keep`` (a set).

        A live host pruned in a race with its own heartbeat adds itself
        back at its next beat."""
        others = {liveness_key(group, h): h for h in hosts - keep}
        if not others:
            return hosts
        try:
            with self._call(f"members of {group}"):
                alive = self.client.get_many(list(others))
        except exception.ServiceGroupUnavailable:
            return hosts                       # cannot tell: keep them
        return keep & hosts | {others[key] for key in alive}


def _settled(members, listed, add):
    """Whether ``listed`` already has (``add``) or lacks every member."""
    return members <= listed if add else listed.isdisjoint(members)


def _chunks(items, size=MANY):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _by_group(keys):
    """``{group: {member, ...}}`` of ``(group, member)`` pairs."""
    groups = {}
    for group, member in keys:
        groups.setdefault(group, set()).add(member)
    return groups


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
