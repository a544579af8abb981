"""What the zk driver says about its connection: one warning when it is
lost, one line when it is back, and kazoo's own chatter at DEBUG.

kazoo logs every failed (re)connection attempt at WARNING ("Connection
dropped: ... Connection refused", "Transition to CONNECTING", ...): with
the driver's backoff that is a line every second or so for as long as an
outage lasts, on every process, and a client cut on purpose
(``abandon``, a simulated crash) complains the same way. So the driver's
clients log through :class:`KazooLog` (``KazooClient(logger=...)``, which
kazoo hands on to its connection thread): kazoo's records go on to the
logger ``hoststate.servicegroup.drivers.zk.kazoo`` at DEBUG (``--debug``
shows them), except errors, which are bugs (kazoo's "Unhandled exception
in connection loop", a state listener that raised) and keep their level.
The adapter remembers kazoo's last complaint, which the driver quotes.
kazoo's module loggers (``kazoo.handlers.threading``,
``kazoo.recipe.watchers``) log only exceptions raised in the driver's own
callbacks: bugs, left as they are.

The driver itself tells the user through :class:`Outage`, as the mc
driver does for a failing heartbeat:

* ONE warning at the start of an outage, naming the servers, kazoo's last
  complaint and what happens meanwhile (reconnecting; liveness unknown
  here; the members joined here), when the connection of a driver that
  was connected is lost, or when members are joined before a first
  connection;
* ONE line at INFO when the connection is back, with how long it was
  gone (and whether the session had expired, so the members were made
  again);
* nothing from a reader that never connected (a one-shot ``hoststate
  service-list``): its reads raise ``ServiceGroupUnavailable`` with
  :meth:`Outage.reason`, and saying it is the caller's business (a
  scheduler that stays gets the recovery line later);
* nothing at all once the driver stops or plays a crash (``silence``).
"""
import dataclasses
import logging
import threading
import time

from kazoo.client import KazooState

#: The zk driver's logger: its logs come under one name.
LOG = logging.getLogger("hoststate.servicegroup.drivers.zk")
#: Where kazoo's own records of the driver's clients go, at DEBUG.
KAZOO_LOG = logging.getLogger("hoststate.servicegroup.drivers.zk.kazoo")
#: kazoo warnings that follow the one saying why
_NOT_A_REASON = frozenset(["Transition to CONNECTING"])
#: what kazoo wraps a socket error in, in this order
_WRAPPING = ("Connection dropped: ", "socket connection error: ")


class KazooLog(logging.LoggerAdapter):
    """The ``logger`` of the driver's KazooClients (kazoo calls debug,
    info, warning, warn, exception and log on it; all end in ``log``)."""

    def __init__(self, logger=KAZOO_LOG):
        super().__init__(logger, {})
        #: kazoo's last warning, as text (why it could not connect)
        self.last_complaint = None

    def log(self, level, msg, *args, **kwargs):
        if level < logging.ERROR:
            if level >= logging.WARNING and msg not in _NOT_A_REASON:
                self.last_complaint = _plain(_text(msg, args))
            level = min(level, logging.DEBUG)
        super().log(level, msg, *args, **kwargs)

    def warn(self, msg, *args, **kwargs):
        """kazoo still calls the deprecated name (an unknown event)."""
        self.warning(msg, *args, **kwargs)


def _text(msg, args):
    try:
        return str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        return str(msg)


def _plain(text):
    """kazoo's complaint without its wrapping: "Connection refused"."""
    for prefix in _WRAPPING:
        text = text.removeprefix(prefix)
    return text


def kazoo_log_of(client):
    """The KazooLog ``client`` logs through, or None (a client made
    elsewhere)."""
    logger = getattr(client, "logger", None)
    return logger if isinstance(logger, KazooLog) else None


def servers_of(client):
    """``host:port,...`` of a KazooClient's servers."""
    return ",".join(f"{host}:{port}" for host, port in client.hosts)


@dataclasses.dataclass(frozen=True)
class Recovery:
    """The outage a (re)connection ended."""
    seconds: float
    #: a warning (or a caller's error) said it began, so its end is told
    told: bool
    #: the session expired meanwhile: every member was made again
    expired: bool
    #: the first connection of the client
    first: bool


class Outage:
    """The ups and downs of one client's connection, each told once.

    ``down`` runs on kazoo's connection thread (a state listener: no I/O,
    logging only), the rest on any thread.
    """

    def __init__(self, servers, retry_gap, session_timeout, kazoo_log=None):
        self.servers = servers
        self._retry_gap = retry_gap
        self._session_timeout = session_timeout
        self._kazoo_log = kazoo_log
        self._lock = threading.Lock()
        self._since = time.monotonic()     # not connected yet
        self._told = False
        self._expired = False
        self._connected_once = False
        self._silent = False

    def silence(self):
        """Say nothing more: the driver stops, or plays a crash."""
        with self._lock:
            self._silent = True

    def down(self, state, members):
        """The connection is gone (kazoo state ``state``); warn if this
        starts an outage. ``members``: how many members are joined here."""
        with self._lock:
            if self._silent:
                return
            if self._since is None:
                self._since = time.monotonic()
            if state == KazooState.LOST and self._connected_once:
                self._expired = True
        self.warn(members)

    def warn(self, members):
        """The one warning of the current outage (nothing if told, or
        connected)."""
        with self._lock:
            if self._silent or self._since is None or self._told:
                return
            self._told = True
            first = not self._connected_once
        LOG.warning(self._warning(first, members))

    def up(self):
        """Connected: the Recovery of the outage this ends, or None."""
        with self._lock:
            since, self._since = self._since, None
            if since is None:
                return None
            recovery = Recovery(time.monotonic() - since, self._told,
                                self._expired, not self._connected_once)
            self._told = self._expired = False
            self._connected_once = True
        return recovery

    def reason(self, state):
        """Why a read cannot be answered now, for ServiceGroupUnavailable;
        the caller tells it, so the recovery will be logged."""
        with self._lock:
            since = self._since
            first = not self._connected_once
            if since is not None:
                self._told = True
        seconds = 0.0 if since is None else time.monotonic() - since
        why = self._complaint()
        why = f": {why}" if why else ""
        how = (f"no connection in {seconds:.1f} s" if first else
               f"lost {seconds:.1f} s ago")
        return (f"not connected to ZooKeeper at {self.servers} (session "
                f"{state}; {how}{why})")

    def report(self, recovery, rejoined):
        """Log the end of ``recovery``'s outage, once the ``rejoined``
        members were made again: INFO if its start was told."""
        if recovery is None:
            return
        log = LOG.info if recovery.told else LOG.debug
        joined = f"; {_members(rejoined)} joined" if rejoined else ""
        if recovery.first:
            log("connected to ZooKeeper at %s after %.1f s%s", self.servers,
                recovery.seconds, joined)
        elif recovery.expired:
            log("connection to ZooKeeper at %s back after %.1f s, on a new "
                "session (the old one expired)%s%s", self.servers,
                recovery.seconds, joined, " again" if joined else "")
        else:
            log("connection to ZooKeeper at %s back after %.1f s, same "
                "session", self.servers, recovery.seconds)

    def _complaint(self):
        """kazoo's last warning (why it could not connect), or None."""
        return self._kazoo_log.last_complaint if self._kazoo_log else None

    def _warning(self, first, members):
        what = (f"ZooKeeper at {self.servers} not reachable" if first else
                f"lost the connection to ZooKeeper at {self.servers}")
        why = self._complaint()
        text = (f"{what}{f' ({why})' if why else ''}; reconnecting every "
                f"{self._retry_gap:.1f} s at most, liveness unknown here "
                f"until then")
        if not members:
            return text
        if first:
            return (f"{text}; members joined here: {members}, made once "
                    f"it connects")
        return (f"{text}; members joined here: {members}, their znodes "
                f"outlive the connection by at most "
                f"{self._session_timeout:g} s (the session timeout) and are "
                f"made again if the session expires")


def _members(count):
    return f"{count} member{'' if count == 1 else 's'}"
