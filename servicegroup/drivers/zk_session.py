"""The zk driver's ZooKeeper client, and how it plays dead.

``make_client`` builds the KazooClient the driver owns, with a
:class:`SeverableHandler`: kazoo's default threading handler, except that
its connections can be cut as a crashed process's would be.

Why a handler: ``Driver.abandon`` must leave the ephemeral znodes to the
server, which deletes them when the session expires (``recv_timeout``
after the last ping). A clean ``KazooClient.stop()`` sends closeSession,
which deletes them at once; so the client must stop pinging without
saying goodbye. kazoo 2.11 has no public call for that:

* ``set_hosts`` to an unreachable address does not touch the live
  connection (its documentation says so), and with an ensemble the
  reconnection loop still walks the old host list first, so the session
  would simply move to another server;
* the socket is a private attribute of kazoo's connection handler.

The handler is public, though (``KazooClient(handler=...)``), and every
connection comes from its ``create_connection``. :meth:`sever` shuts down
the sockets it made (``SHUT_RDWR``: not one more byte leaves, so neither a
ping nor a closeSession queued later can reach the server) and refuses
every new connection. kazoo sees a dropped connection, fails to reconnect,
and ``stop()`` then ends its loop with nothing sent; the server expires
the session after its timeout, as after SIGKILL. kazoo's complaints about
all that go to DEBUG (``zk_outage.KazooLog``).

Bounded waits. kazoo gives one TCP connection attempt the whole session
timeout (``[zookeeper] recv_timeout``, 4 s by default) and the driver
used to wait as long for a first connection, so a one-shot command
(``hoststate service-list``) with ZooKeeper down took ~5 s. Now:

* one TCP connection attempt to one server takes at most
  :func:`connect_timeout` (``min(recv_timeout, 1 s)``): the handler caps
  the timeout kazoo asks for. A refused connection fails at once anyway;
  the cap matters for a server whose host drops packets;
* the driver waits at most :func:`first_connection_wait`
  (``min(recv_timeout, 2 s)``) for its first connection: enough for a
  handshake with a healthy server (milliseconds) after one attempt at a
  black-holed one, and kazoo retries refused connections from 0.1 s
  apart meanwhile. A read after that, still unconnected, raises
  ServiceGroupUnavailable at once; kazoo keeps trying in the background
  and ``stop`` cuts an unconnected client (nothing to say goodbye on)
  rather than wait for an attempt in progress.
"""
import socket
import threading
import weakref

from kazoo.client import KazooClient
from kazoo.handlers.threading import SequentialThreadingHandler

from hoststate import exception
from hoststate.servicegroup.drivers import zk_outage

#: Seconds one TCP connection attempt to one server may take at most.
CONNECT_TIMEOUT_S = 1.0
#: Seconds the driver waits at most for its first connection.
FIRST_CONNECTION_WAIT_S = 2.0
#: Random spread of the reconnection delays (20 %), so that a whole cloud
#: does not reconnect to a restarted ensemble in the same instant.
_JITTER = 0.2


class SeverableHandler(SequentialThreadingHandler):
    """kazoo's threading handler with connections that can be cut."""

    def __init__(self, connect_timeout=None):
        super().__init__()
        #: cap of the timeout of a TCP connection attempt (None: kazoo's)
        self.connect_timeout = connect_timeout
        self._sever_lock = threading.Lock()
        self._severed = False
        self._sockets = weakref.WeakSet()

    def create_connection(self, address, timeout=None, **kwargs):
        if self.connect_timeout is not None:
            timeout = (self.connect_timeout if timeout is None
                       else min(timeout, self.connect_timeout))
        with self._sever_lock:
            if self._severed:
                raise _refused()
        sock = super().create_connection(address, timeout=timeout, **kwargs)
        with self._sever_lock:
            if not self._severed:
                self._sockets.add(sock)
                return sock
        sock.close()
        raise _refused()

    def sever(self):
        """Cut every connection and refuse new ones, for good."""
        with self._sever_lock:
            self._severed = True
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def _refused():
    return ConnectionRefusedError("severed: this client plays a crashed "
                                  "process or was stopped, and connects no "
                                  "more")


def can_sever(client):
    return isinstance(client.handler, SeverableHandler)


def session_id(client):
    """The id of ``client``'s current session (None before the first)."""
    client_id = client.client_id
    return client_id[0] if client_id else None


def connect_timeout(session_timeout):
    """Seconds one TCP connection attempt may take (see the docstring)."""
    return min(session_timeout, CONNECT_TIMEOUT_S)


def first_connection_wait(session_timeout):
    """Seconds the driver waits for its first connection."""
    return min(session_timeout, FIRST_CONNECTION_WAIT_S)


def retry_gap(conf):
    """The longest time between two reconnection attempts, in seconds:
    ``min(sg_retry_interval, report_interval) / 2``, so members are back
    within one report_interval of the ensemble's return."""
    return min(conf.zookeeper.sg_retry_interval, conf.report_interval) / 2.0


def make_client(conf, timeout):
    """A KazooClient for ``[zookeeper] address``, not started; ``timeout``
    is the session timeout in seconds.

    Reconnection attempts back off from 0.1 s to at most
    :func:`retry_gap` apart (jitter included); kazoo logs through a
    ``zk_outage.KazooLog`` (its chatter at DEBUG).
    """
    if not conf.zookeeper.address:
        raise exception.ConfigInvalid(
            value=conf.zookeeper.address, group="zookeeper", option="address",
            reason='required when servicegroup_driver is "zk"')
    gap = retry_gap(conf)
    return KazooClient(
        hosts=conf.zookeeper.address, timeout=timeout,
        handler=SeverableHandler(connect_timeout(timeout)),
        logger=zk_outage.KazooLog(),
        connection_retry=dict(max_tries=-1, delay=min(0.1, gap), backoff=2,
                              max_jitter=_JITTER, max_delay=gap / (1 + _JITTER)),
        command_retry=dict(max_tries=3, delay=0.1, backoff=2, max_delay=1.0,
                           deadline=timeout))
