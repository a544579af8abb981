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
the session after its timeout, as after SIGKILL.
"""
import socket
import threading
import weakref

from kazoo.client import KazooClient
from kazoo.handlers.threading import SequentialThreadingHandler

from hoststate import exception

#: Random spread of the reconnection delays (20 %), so that a whole cloud
#: does not reconnect to a restarted ensemble in the same instant.
_JITTER = 0.2


class SeverableHandler(SequentialThreadingHandler):
    """kazoo's threading handler with connections that can be cut."""

    def __init__(self):
        super().__init__()
        self._sever_lock = threading.Lock()
        self._severed = False
        self._sockets = weakref.WeakSet()

    def create_connection(self, *args, **kwargs):
        sock = super().create_connection(*args, **kwargs)
        with self._sever_lock:
            if not self._severed:
                self._sockets.add(sock)
                return sock
        sock.close()
        raise ConnectionRefusedError("severed: this client plays a crashed "
                                     "process and connects no more")

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


def can_sever(client):
    return isinstance(client.handler, SeverableHandler)


def session_id(client):
    """The id of ``client``'s current session (None before the first)."""
    client_id = client.client_id
    return client_id[0] if client_id else None


def make_client(conf, timeout):
    """A KazooClient for ``[zookeeper] address``, not started.

    Reconnection attempts back off from 0.1 s to at most
    ``min(sg_retry_interval, report_interval) / 2`` apart (jitter
    included), so members are back within one report_interval of the
    ensemble's return.
    """
    if not conf.zookeeper.address:
        raise exception.ConfigInvalid(
            value=conf.zookeeper.address, group="zookeeper", option="address",
            reason='required when servicegroup_driver is "zk"')
    gap = min(conf.zookeeper.sg_retry_interval, conf.report_interval) / 2.0
    return KazooClient(
        hosts=conf.zookeeper.address, timeout=timeout,
        handler=SeverableHandler(),
        connection_retry=dict(max_tries=-1, delay=min(0.1, gap), backoff=2,
                              max_jitter=_JITTER, max_delay=gap / (1 + _JITTER)),
        command_retry=dict(max_tries=3, delay=0.1, backoff=2, max_delay=1.0,
                           deadline=timeout))
