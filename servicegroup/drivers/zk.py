"""ZooKeeper liveness driver: one ephemeral znode per live member.

Joining group ``G`` as member ``H`` creates the ephemeral znode
``<sg_prefix>/G/H`` holding ``{"pid", "started_at", "host"}`` as JSON. It
lives as long as the process's ZooKeeper session: ``leave``/``stop`` delete
it at once; after a crash (even SIGKILL) the session expires after
``[zookeeper] recv_timeout`` ms and ZooKeeper deletes it. No heartbeats.
``join_many`` creates the znodes of a whole batch at once (``zk_register``:
every create sent, then every answer awaited); ``abandon`` plays the crash
(``zk_session``: the connection is cut, no closeSession is sent, the
server expires the session).

Checking is local: the first question about a group sets up a kazoo
``ChildrenWatch`` on ``<sg_prefix>/G`` that keeps its children in memory,
so ``is_up``/``are_up``/``get_all`` cost no round trip.

Documented choices:

* **Unknown is an error.** While the client is not CONNECTED, or a group's
  members have not been read on the current connection, ``is_up``,
  ``are_up``, ``get_all`` and ``updated_time`` raise
  ``ServiceGroupUnavailable(driver='zk')``; never "all down" (a scheduler
  would refuse every host) nor "all up" (it would pick dead ones). Caches
  are dropped at every disconnection (events are missed meanwhile) and read
  again on reconnection.
* **Connection.** The constructor creates (``zk_session.make_client``) and
  starts the client and waits at most ``zk_session.first_connection_wait``
  (``min(recv_timeout, 2 s)``) for a first connection, without raising:
  kazoo keeps trying in the background. A one-shot reader with ZooKeeper
  down so fails within that bound.
* **Sessions.** A state listener (kazoo's connection thread, no I/O) marks
  caches stale on SUSPENDED/LOST; on CONNECTED a worker thread
  (``handler.spawn``) re-creates joined members whose znode is gone (after
  LOST; all at once) and re-reads the groups asked about.
* **Logs** (``zk_outage``): one warning when the connection is lost (or
  members are joined before the first one), one line when it is back;
  kazoo's own retry chatter at DEBUG; nothing from ``abandon``.
* **join** never blocks on an unreachable ensemble: the member is created
  on the next connection. A znode of the member left by an earlier session
  (a restarted process) is replaced: one member per ``(group, host)``.
* ``updated_time`` is the znode's mtime: when the member (re)joined on its
  current session (the znode is never rewritten).
* A service whose topic is None never joined a group: it is down.
"""
import datetime
import functools
import json
import os
import posixpath
import threading

from kazoo import exceptions as kazoo_exc
from kazoo.client import KazooState
from kazoo.recipe.watchers import ChildrenWatch

from hoststate import exception
from hoststate.servicegroup.drivers import base
from hoststate.servicegroup.drivers import zk_answers
from hoststate.servicegroup.drivers import zk_outage
from hoststate.servicegroup.drivers import zk_register
from hoststate.servicegroup.drivers import zk_session

LOG = zk_outage.LOG


class ZooKeeperDriver(base.Driver):
    """Liveness from ephemeral znodes under ``[zookeeper] sg_prefix``.

    ``client``: a KazooClient to use instead of creating one from
    ``[zookeeper] address`` (started here if it is not connected; ``stop``
    leaves it open for its owner; ``abandon`` needs it made with a
    ``zk_session.SeverableHandler``).
    """

    name = "zk"

    def __init__(self, conf, context=None, client=None):
        super().__init__(conf, context)
        zk_conf = conf.zookeeper
        self._root = "/" + zk_conf.sg_prefix.strip("/")
        self._timeout = zk_conf.recv_timeout / 1000.0
        self._retry_interval = zk_conf.sg_retry_interval
        #: seconds the constructor waits for a first connection
        self.connect_wait = zk_session.first_connection_wait(self._timeout)
        self._joined = {}          # (group, member) -> znode data
        self._members = {}         # group -> frozenset, read this connection
        self._watches = {}         # group -> ChildrenWatch of this connection
        self._pending = {}         # group -> Event set when a read finished
        self._wanted = set()       # groups asked about, re-read on reconnect
        self._epoch = 0            # bumped at every disconnection
        self._stopped = False
        # no I/O under _cache_lock (the state listener takes it);
        # _member_lock serialises our znode writes
        self._cache_lock = threading.Lock()
        self._member_lock = threading.RLock()
        self._owns_client = client is None
        if client is None:
            client = zk_session.make_client(conf, self._timeout)
        self._client = client
        #: what a failed or timed-out kazoo call raises
        self._io_errors = (kazoo_exc.KazooException,
                           client.handler.timeout_exception)
        self._outage = zk_outage.Outage(
            zk_outage.servers_of(client), zk_session.retry_gap(conf),
            self._timeout, zk_outage.kazoo_log_of(client))
        client.add_listener(self._on_state)
        if client.connected:
            self._on_state(KazooState.CONNECTED)
        else:
            client.start_async().wait(self.connect_wait)

    # --- paths and helpers -------------------------------------------------

    def _path(self, group, member=None):
        path = posixpath.join(self._root, group)
        return path if member is None else posixpath.join(path, member)

    def _wait(self, async_result):
        """The result of a kazoo async call, waiting at most the session
        timeout (a sync call made while connecting could block forever)."""
        return async_result.get(timeout=self._timeout)

    def _unavailable(self, reason):
        return exception.ServiceGroupUnavailable(driver="zk", reason=reason)

    def _connected(self):
        return not self._stopped and self._client.state == KazooState.CONNECTED

    def _require_connected(self):
        if self._stopped:
            raise self._unavailable("the driver is stopped")
        state = self._client.state
        if state != KazooState.CONNECTED:
            raise self._unavailable(self._outage.reason(state))

    # --- session events ----------------------------------------------------

    def _on_state(self, state):
        """kazoo's state listener: runs on its connection thread, no I/O."""
        if self._stopped:
            return
        if state == KazooState.CONNECTED:
            self._client.handler.spawn(self._recover, self._outage.up())
            return
        with self._cache_lock:  # SUSPENDED or LOST: caches may miss events
            self._epoch += 1
            self._members.clear()
            self._watches.clear()
        self._outage.down(state, len(self._joined))

    def _recover(self, recovery=None):
        """After (re)connection: re-create lost members, re-read groups,
        then say the outage ended (``recovery``, see zk_outage)."""
        with self._member_lock:
            joined = list(self._joined)
        failed = self._register(joined)
        if failed and self._connected():  # else the next outage tells it
            self._retry_later(failed)
        with self._cache_lock:
            wanted = list(self._wanted)
        for group in wanted:
            self._start_read(group)
        self._outage.report(recovery, len(joined) - len(failed))

    # --- membership --------------------------------------------------------

    def join(self, member, group, service=None):
        self.join_many([(member, group, service)])

    def join_many(self, members):
        """Create the ephemeral znodes of every ``(member, group, service)``
        at once; those that fail are retried every sg_retry_interval."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        joined = {(group, member): json.dumps(
            {"pid": os.getpid(), "started_at": now, "host": member}).encode()
            for member, group, _ in members}
        with self._member_lock:
            self._joined.update(joined)
            count = len(self._joined)
        if not self._connected():
            self._outage.warn(count)  # once per outage
            return  # _recover registers them on connection
        failed = self._register(list(joined))
        if failed and self._connected():  # else the outage tells it
            self._retry_later(failed)

    def _retry_later(self, failed):
        """One warning for members whose znode could not be made while
        connected, then retries every sg_retry_interval (quietly)."""
        LOG.warning("Joining %d members failed (%s); retrying every %s s",
                    len(failed), next(iter(failed.values())),
                    self._retry_interval)
        self._client.handler.spawn(self._retry_register, list(failed))

    def _retry_register(self, keys):
        while keys and not self._stopped:
            self._client.handler.sleep_func(self._retry_interval)
            if not self._connected():
                return  # _recover registers them on the next connection
            keys = list(self._register(keys))
            if keys:
                LOG.debug("Joining %d members failed again", len(keys))
            else:
                LOG.info("Joined the members that had failed")

    def _register(self, keys):
        """Make sure our ephemeral znodes of the joined ``keys`` exist;
        ``{key: error}`` of those that could not be made."""
        with self._member_lock:
            paths = {self._path(*key): key for key in keys
                     if key in self._joined}
            if not paths or self._stopped:
                return {}
            try:
                failed = zk_register.register(
                    self._client, {p: self._joined[k] for p, k in paths.items()},
                    zk_session.session_id(self._client), self._wait,
                    self._io_errors)
            except self._io_errors as exc:
                failed = dict.fromkeys(paths, exc)
        return {paths[path]: exc for path, exc in failed.items()}

    def leave(self, member, group):
        self._leave_many([(group, member)])

    def _leave_many(self, keys):
        """Forget ``keys`` and delete their znodes (all at once); if that
        fails they go when the session ends."""
        with self._member_lock:
            keys = [k for k in keys if self._joined.pop(k, None) is not None]
            if not keys or not self._connected():
                return  # the znodes go with the session
            try:
                zk_register.unregister(
                    self._client, [self._path(*key) for key in keys],
                    zk_session.session_id(self._client), self._wait)
            except self._io_errors as exc:
                LOG.warning("Could not delete the znodes of %d members on "
                            "leave (they go when the session ends): %s",
                            len(keys), exc)

    # --- the member cache --------------------------------------------------

    def _group_members(self, group):
        """The live members of ``group`` from the watch cache; raises
        ServiceGroupUnavailable when they are not known."""
        if group is None:
            return frozenset()
        members = self._members.get(group)
        if members is not None and self._connected():
            watch = self._watches.get(group)
            if watch is None or not watch._stopped:
                return members
            # kazoo stops a ChildrenWatch whose znode was deleted: read again
            with self._cache_lock:
                self._members.pop(group, None)
                self._watches.pop(group, None)
        return self._read(group)

    def _read(self, group):
        self._require_connected()
        with self._cache_lock:
            self._wanted.add(group)
        self._start_read(group).wait(self._timeout)
        members = self._members.get(group)
        self._require_connected()
        if members is None:
            raise self._unavailable(
                f"members of group {group!r} not read within "
                f"{self._timeout} s")
        return members

    def _start_read(self, group):
        """Set up the group's watch in a worker thread (once at a time);
        returns an Event set when that is done."""
        with self._cache_lock:
            done = self._pending.get(group)
            if done is not None:
                return done
            done = self._pending[group] = threading.Event()
        self._client.handler.spawn(self._watch, group, done)
        return done

    def _watch(self, group, done):
        try:
            with self._cache_lock:
                epoch = self._epoch
                if group in self._members or self._stopped:
                    return
            path = self._path(group)
            self._wait(self._client.ensure_path_async(path))
            # a new watch per connection: _on_children stops the old ones
            watch = ChildrenWatch(
                self._client, path,
                functools.partial(self._on_children, group, epoch),
                allow_session_lost=False)
            with self._cache_lock:
                if epoch == self._epoch:
                    self._watches[group] = watch
        except self._io_errors as exc:  # the reader raises Unavailable
            LOG.debug("Reading members of %s failed: %s", group, exc)
        finally:
            with self._cache_lock:
                self._pending.pop(group, None)
            done.set()

    def _on_children(self, group, epoch, children):
        """ChildrenWatch callback; False stops a watch of an old connection."""
        with self._cache_lock:
            if epoch != self._epoch or self._stopped:
                return False
            self._members[group] = frozenset(children)
        return None

    # --- the checker's side ------------------------------------------------

    def is_up(self, service):
        return zk_answers.is_up(service, self._group_members)

    def are_up(self, services):
        return zk_answers.are_up(services, self._group_members)

    def get_all(self, group):
        return sorted(self._group_members(group))

    def updated_time(self, service):
        self._require_connected()
        group = zk_answers.field(service, "topic")
        host = zk_answers.field(service, "host")
        if group is None or host is None:
            return None
        path = self._path(group, host)
        try:
            stat = self._wait(self._client.exists_async(path))
        except self._io_errors as exc:
            raise self._unavailable(f"reading {group}/{host}: {exc}") from exc
        if stat is None:
            return None
        return datetime.datetime.fromtimestamp(
            stat.mtime / 1000.0, datetime.timezone.utc).replace(tzinfo=None)

    def stop(self):
        """Leave every member, then close the client if it is ours: closing
        the session deletes all its znodes at once, in the server, so they
        are deleted one by one only on a given client. Nothing left to do
        after ``abandon``."""
        if self._stopped:
            return
        with self._member_lock:
            joined = list(self._joined)
            if self._owns_client:
                self._joined.clear()
        self._leave_many(joined)
        self._shut_down()

    def abandon(self):
        """Stop as a crashed process would: the connection is cut before
        anything is deleted or closed (see ``zk_session``), so the znodes
        stay until the server expires the session, ``recv_timeout`` after
        the last ping. A given client is cut too (and left to its owner to
        stop); it must have been made with a ``SeverableHandler``."""
        if self._stopped:
            return
        if not zk_session.can_sever(self._client):
            raise TypeError("abandon needs a KazooClient whose handler is a "
                            "zk_session.SeverableHandler")
        self._stopped = True  # a crash says nothing of the cut (zk_outage)
        self._outage.silence()
        with self._member_lock:
            self._joined.clear()
        self._client.handler.sever()
        self._shut_down()

    def _shut_down(self):
        """Forget everything; an unconnected client of ours is cut first
        (no session to close), so its stop never waits for an attempt in
        progress (a one-shot reader with ZooKeeper down)."""
        self._stopped = True
        self._outage.silence()
        self._client.remove_listener(self._on_state)
        with self._cache_lock:
            self._epoch += 1
            self._members.clear()
            self._watches.clear()
        if self._owns_client:
            if not self._client.connected:
                self._client.handler.sever()
            try:
                self._client.stop()
            finally:
                self._client.close()
