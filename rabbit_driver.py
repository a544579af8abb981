"""hoststate's RabbitMQ connections: oslo.messaging's rabbit driver with
two changes that make a call cheaper (measured for issue 15), and
nothing else of it changed. Operators keep writing ``rabbit://`` URLs:
:func:`hoststate.rpc.get_transport` hands every rabbit transport it makes
to :func:`adopt`, which gives its driver these connections before the
first one is opened.

1. **Replies are not confirmed.** oslo.messaging puts every channel in
   publisher-confirm mode and waits for the broker's ack of each message:
   a round trip per publish. A reply goes on a channel of the same
   connection that is never put in confirm mode, without that wait and
   without the ``mandatory`` flag (a returned message would come back
   later, in whichever thread next reads the connection). A reply that
   is not delivered (its caller's reply queue is gone, or the connection
   broke just after the write) is dropped, and its caller ends with
   ``MessagingTimeout``, as a caller whose server died does: every call
   is watched by its caller's timer. oslo's reply would instead be sent
   again every 0.25 s for up to ``kombu_missing_consumer_retry_timeout``
   (60 s), holding a server thread, which reaches a caller only in one
   case: a broker restart after which the caller declares its reply
   queue again before that retry gives up; such a caller now times out
   (a broker restart also loses every call not yet taken from its queue,
   which end the same way). Calls and casts keep their confirms: no one
   watches a cast, and a confirmed call is sent again over a connection
   that broke while it was sent.
2. **No busy polling while idle.** After each message, oslo's listeners
   and reply waiter read the socket with a timeout of 1 ms, doubling to
   5 s: a thread that wakes up to no message at 1, 3, 7 ... ms after
   every call, taking the interpreter lock from the thread doing the
   work. A message wakes a reader as soon as it arrives whatever the
   timeout; the timeout only paces the listener's own housekeeping
   (deferred acks, which RPC does not use: it acknowledges as it reads)
   and how soon a stop is seen. Here the timeout is at least
   :data:`IDLE_POLL_MIN_S`.
3. **A stop is seen within** :data:`STOP_SEEN_S`. oslo reads the socket
   in one blocking wait as long as the reader's timeout (up to 5 s for
   a reply waiter) and looks at its stop flag only between waits, so
   closing a transport or stopping a server took up to 5 s per
   connection (a service's SIGTERM, a test's teardown). Here a wait is
   cut into slices of at most :data:`STOP_SEEN_S`; a message still ends
   a wait as soon as it arrives, and the slices cost an idle connection
   a wake-up every half second (it also checks its heartbeat then, as
   it does after any wait).

Left as oslo has them, measured: calls and casts keep their confirms
(dropping a call's saved about 0.05 ms, within the noise), and messages
stay persistent even where queues are not durable (RabbitMQ keeps a
persistent message of a non-durable queue in memory only, as a transient
one: no difference measured).
"""
import logging
import warnings

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import kombu.messaging
    import oslo_messaging
    from oslo_messaging._drivers import impl_rabbit

LOG = logging.getLogger(__name__)

#: shortest wait of an idle reader for its next message (seconds): longer
#: than a call, far shorter than oslo's own idle wait (up to 5 s)
IDLE_POLL_MIN_S = 0.1
#: longest single read of the socket (seconds): how soon a reader sees
#: that it was told to stop
STOP_SEEN_S = 0.5


def adopt(transport):
    """``transport`` with hoststate's connections if it is oslo's rabbit
    driver (any other driver as it is); before its first connection. An
    oslo.messaging whose rabbit driver is not built the way this module
    relies on (its internals, read on 18.x) keeps its own connections,
    with a warning: slower, never wrong."""
    driver = getattr(transport, "_driver", None)
    if not isinstance(driver, impl_rabbit.RabbitDriver):
        return transport
    pool = getattr(driver, "_connection_pool", None)
    if not _fits(pool):
        LOG.warning("oslo.messaging %s: its rabbit driver is not the one "
                    "hoststate.rabbit_driver was written for; using its "
                    "own connections", _oslo_version())
        return transport
    pool.connection_cls = Connection
    return transport


def _fits(pool):
    return (getattr(pool, "connection_cls", None) is impl_rabbit.Connection
            and all(hasattr(impl_rabbit.Connection, name) for name in (
                "consume", "_publish_and_raises_on_missing_exchange")))


def _oslo_version():
    from importlib import metadata
    try:
        return metadata.version("oslo.messaging")
    except metadata.PackageNotFoundError:
        return "(unknown version)"


class Connection(impl_rabbit.Connection):
    """One connection to the broker (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        self._unconfirmed = None     # (py-amqp channel, kombu Producer)
        super().__init__(*args, **kwargs)
        # oslo's consume loop reads in waits of at most _poll_timeout
        self._poll_timeout = min(self._poll_timeout, STOP_SEEN_S)

    def consume(self, timeout=None):
        """oslo's, an idle wait lasting at least IDLE_POLL_MIN_S (module
        docstring, 2): a message still ends it at once."""
        if timeout is not None:
            timeout = max(timeout, IDLE_POLL_MIN_S)
        return super().consume(timeout=timeout)

    def _publish_and_raises_on_missing_exchange(self, exchange, msg,
                                                routing_key=None,
                                                timeout=None,
                                                transport_options=None):
        """A reply (oslo's ``direct_send`` is this method's one caller),
        published on the unconfirmed channel, not mandatory. Runs under
        the connection lock (``_ensure_publishing``), so swapping the
        producer for the time of the publish is seen by no one else."""
        confirmed, self._producer = self._producer, self._reply_producer()
        try:
            super()._publish_and_raises_on_missing_exchange(
                exchange, msg, routing_key=routing_key, timeout=timeout,
                transport_options=oslo_messaging.TransportOptions(
                    at_least_once=False))
        finally:
            self._producer = confirmed

    def _reply_producer(self):
        """The producer of this connection's channel without publisher
        confirms, opened on first use and again after a reconnect."""
        amqp_connection = self.connection.connection
        if self._unconfirmed is not None:
            channel, producer = self._unconfirmed
            if channel.is_open and channel.connection is amqp_connection:
                return producer
        channel = self.connection.channel()
        # py-amqp puts a channel of a confirming connection in confirm
        # mode on its first basic_publish_confirm; this one never sends
        # through it, so the broker acks nothing on it
        channel.basic_publish = channel._basic_publish
        self._unconfirmed = (channel, kombu.messaging.Producer(channel))
        return self._unconfirmed[1]
