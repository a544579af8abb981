"""The stores the mc driver talks to.

``make_client(memcached_servers)``: the in-process :data:`PROCESS_STORE`
when unset, a pymemcache ``Client`` for one server, a ``HashClient`` with a
fixed ring for several (see the mc module's docstring for why fixed).

:class:`LocalStore`, the in-process stand-in for memcached, has the subset
of pymemcache's client API the driver calls (get, get_many, gets, set,
set_many, add, cas, delete, delete_many), with memcached's answers, and
expiry on ``time.monotonic``. It is thread-safe but lives in one process:
services in other processes cannot see it, so it serves tests and
``hoststate simulate`` only.

Unlike memcached, expiry is exact: a key set with ``expire=n`` exists for
``n`` seconds (memcached's one-second clock makes that n-1 to n).
"""
import itertools
import sys
import threading
import time

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.client.rendezvous import RendezvousHash

__all__ = ["LocalStore", "PROCESS_STORE", "CachedRendezvousHash",
           "make_client", "CONNECT_TIMEOUT_S", "IO_TIMEOUT_S"]

CONNECT_TIMEOUT_S = 1.0
IO_TIMEOUT_S = 2.0

#: Sweep expired keys every this many writes, so dead keys do not pile up.
_SWEEP_EVERY = 1024


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


class LocalStore:
    """A dict of ``key -> (value bytes, expires_at or None, cas token)``."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._items = {}
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._writes = itertools.count(1)

    # -- reads -------------------------------------------------------------

    def get(self, key, default=None):
        with self._lock:
            item = self._live(key, self._clock())
        return default if item is None else item[0]

    def get_many(self, keys):
        with self._lock:
            now = self._clock()
            found = {}
            for key in keys:
                item = self._live(key, now)
                if item is not None:
                    found[key] = item[0]
            return found

    get_multi = get_many

    def gets(self, key, default=None, cas_default=None):
        with self._lock:
            item = self._live(key, self._clock())
        return (default, cas_default) if item is None else (item[0], item[2])

    # -- writes (``noreply`` accepted and ignored: every answer is known) --

    def set(self, key, value, expire=0, noreply=None, flags=None):
        with self._lock:
            self._store(key, value, expire)
        return True

    def set_many(self, values, expire=0, noreply=None, flags=None):
        """Set every ``{key: value}``; the keys not stored (none)."""
        with self._lock:
            for key, value in values.items():
                self._store(key, value, expire)
        return []

    set_multi = set_many

    def add(self, key, value, expire=0, noreply=None, flags=None):
        with self._lock:
            if self._live(key, self._clock()) is not None:
                return False
            self._store(key, value, expire)
        return True

    def cas(self, key, value, cas, expire=0, noreply=False, flags=None):
        """True if stored, False if the key changed since ``gets`` (memcached
        EXISTS), None if it is gone (NOT_FOUND)."""
        with self._lock:
            item = self._live(key, self._clock())
            if item is None:
                return None
            if item[2] != int(cas):
                return False
            self._store(key, value, expire)
        return True

    def delete(self, key, noreply=None):
        with self._lock:
            found = self._live(key, self._clock()) is not None
            self._items.pop(key, None)
        return found

    def delete_many(self, keys, noreply=None):
        with self._lock:
            for key in keys:
                self._items.pop(key, None)
        return True

    delete_multi = delete_many

    def flush_all(self, delay=0, noreply=None):
        with self._lock:
            self._items.clear()
        return True

    def close(self):
        """Nothing to close; the keys stay (the store outlives drivers)."""

    # -- internals (the lock is held) ---------------------------------------

    def _live(self, key, now):
        item = self._items.get(key)
        if item is not None and item[1] is not None and item[1] <= now:
            del self._items[key]
            return None
        return item

    def _store(self, key, value, expire):
        now = self._clock()
        expires_at = now + expire if expire else None
        self._items[key] = (_as_bytes(value), expires_at, next(self._tokens))
        if next(self._writes) % _SWEEP_EVERY == 0:
            for old in [k for k, item in self._items.items()
                        if item[1] is not None and item[1] <= now]:
                del self._items[old]


#: The store every mc driver of this process shares when no server is set.
PROCESS_STORE = LocalStore()


class CachedRendezvousHash(RendezvousHash):
    """pymemcache's rendezvous hash, remembering each key's server.

    The hash is pure-Python murmur3 once per key and server: 10,000 keys on
    two servers cost ~0.2 s per multi-get without this. The ring is fixed
    (see make_client), so an answer stays right; it is forgotten anyway
    when a server is added or removed.
    """

    MAX_KEYS = 200_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._servers = {}

    def add_node(self, node):
        super().add_node(node)
        self._servers = {}

    def remove_node(self, node):
        super().remove_node(node)
        self._servers = {}

    def get_node(self, key):
        node = self._servers.get(key)
        if node is None:
            node = super().get_node(key)
            if node is not None:
                if len(self._servers) >= self.MAX_KEYS:
                    self._servers = {}
                self._servers[key] = node
        return node


def make_client(servers):
    """The store for ``memcached_servers``: the process store when unset."""
    servers = list(servers or [])
    if not servers:
        return PROCESS_STORE
    options = dict(connect_timeout=CONNECT_TIMEOUT_S, timeout=IO_TIMEOUT_S,
                   no_delay=True, ignore_exc=False, default_noreply=False)
    if len(servers) == 1:
        return Client(servers[0], **options)
    # A fixed ring: retry a failing server on every call (retry_timeout
    # -inf) and never drop it (retry_attempts unreachable), so a failure
    # raises instead of answering the default (a miss) or rehashing.
    return HashClient(servers, hasher=CachedRendezvousHash,
                      retry_attempts=sys.maxsize, retry_timeout=float("-inf"),
                      **options)
