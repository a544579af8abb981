"""The message bus: one oslo.messaging transport per process, its clients
and servers, and the serializer that carries contexts and versioned
objects.

``[DEFAULT] transport_url`` names the broker (``rabbit://user:pass@host:
5672/vhost`` in production). Unset, the bus is oslo.messaging's in-process
``fake://`` driver: every client and server of the process then shares one
transport (that driver's queues live in the transport object), so
``hoststate simulate`` and single-process use need no broker. That is
``local://`` (:mod:`hoststate.local_bus`), oslo.messaging's ``fake://``
driver without its 50 ms polling; ``fake://`` itself also works.

Servers run their endpoints on threads (oslo.messaging's ``threading``
executor); hoststate never uses eventlet.

``[oslo_messaging_rabbit]`` keeps oslo.messaging's defaults, on purpose
(measured for issue 15): a call's cost on RabbitMQ is the Python work of
kombu and py-amqp on both sides plus the publisher confirm of the call,
and no option changes either. A ``rabbit://`` transport gets hoststate's
connections (:mod:`hoststate.rabbit_driver`: replies unconfirmed, no
busy polling while idle, a stop seen within half a second;
``direct_mandatory_flag``, which only replies
used, no longer applies). Turning heartbeats off saves nothing
measurable and loses dead-peer detection;
``rabbit_qos_prefetch_count`` has no effect on RPC (messages are
acknowledged as they arrive, before dispatch). The reconnect defaults
bring a broker restart back within :func:`reconnect_bound`; they stay,
so that many agents do not hammer a broker that is starting.
"""
import concurrent.futures
import functools
import logging
import re
import threading
import warnings

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import oslo_messaging as messaging
    from oslo_versionedobjects import base as ovo_base
    from oslo_versionedobjects import exception as ovo_exception

from hoststate import context as hs_context
from hoststate import exception
from hoststate import rabbit_driver
from hoststate.objects import base as objects_base
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)

#: the bus of a process whose transport_url is unset
IN_PROCESS_URL = "local://"

#: exceptions a server may send back to be raised again by the caller
#: (the dispatcher's too, so a client sees NoSuchMethod on every bus)
ALLOWED_EXMODS = [exception.__name__, "oslo_messaging.rpc.dispatcher"]

#: user:password@ in a URL (also in each host of a multi-host URL)
_PASSWORD = re.compile(r"((?://|,)[^:/@,]*:)[^@]*@")

#: kombu.Connection's connect_timeout (oslo.messaging leaves the default)
KOMBU_CONNECT_TIMEOUT_S = 5

_lock = threading.Lock()
_transports = {}


def transport_url(conf):
    """The URL of the bus ``conf`` names (the in-process one when unset)."""
    return conf.transport_url or IN_PROCESS_URL


def is_in_process(conf):
    return transport_url(conf).split(":", 1)[0] in ("local", "fake")


def get_transport(conf, url=None):
    """The process's transport for ``url`` (default: ``conf``'s bus),
    made on first use.

    One per URL: the in-process driver only connects clients and servers
    of the same process (and of the same virtual host: ``local:///cell1``
    and ``local:///cell2`` are two buses, as two RabbitMQ vhosts are).
    A cells service reaches its parent's and children's buses this way."""
    url = url or transport_url(conf)
    with _lock:
        transport = _transports.get(url)
        if transport is None:
            try:
                transport = rabbit_driver.adopt(messaging.get_rpc_transport(
                    conf, url=url, allowed_remote_exmods=ALLOWED_EXMODS))
            except (messaging.InvalidTransportURL,
                    messaging.DriverLoadFailure) as exc:
                raise exception.ConfigInvalid(
                    group="DEFAULT", option="transport_url",
                    value=shown_url(url), reason=str(exc)) from exc
            _transports[url] = transport
        return transport


def reconnect_bound(conf):
    """Seconds within which a connection that lost the broker is back once
    the broker answers again: its longest single wait between two tries,
    ``kombu_reconnect_delay`` + ``rabbit_interval_max`` (the wait starts at
    ``rabbit_retry_interval`` and grows by ``rabbit_retry_backoff`` up to
    that cap) + ``kombu_reconnect_splay``, then one try, which kombu gives
    up after its connect timeout."""
    rabbit = conf.oslo_messaging_rabbit
    return (rabbit.kombu_reconnect_delay + rabbit.rabbit_interval_max
            + rabbit.kombu_reconnect_splay + KOMBU_CONNECT_TIMEOUT_S)


def cleanup():
    """Close every transport of the process (at exit, or between tests).

    Leaves no thread behind (heartbeat and reply threads are joined).
    Each transport that made calls takes up to 5 s (oslo.messaging's
    longest poll step) for its reply thread to notice the stop; several
    are closed side by side."""
    with _lock:
        transports = list(_transports.values())
        _transports.clear()
    if len(transports) < 2:
        for transport in transports:
            transport.cleanup()
        return
    # side by side: each may wait for its reply thread (a process with
    # many buses, a cells service, would otherwise wait for each in turn)
    with concurrent.futures.ThreadPoolExecutor(len(transports)) as pool:
        list(pool.map(lambda transport: transport.cleanup(), transports))


def shown_url(url):
    """``url`` with every password replaced by ``***`` (messages, reports)."""
    return _PASSWORD.sub(r"\1***@", url)


def original_error(exc):
    """A typed error that came over a broker as the error it was.

    oslo.messaging raises an allowed remote error as a subclass of its
    class named ``<Class>_Remote``, whose text ends with the server's
    whole traceback: a command's one-line message would carry it. This is
    the same error, of its own class, with its own message and facts
    (a hoststate error's keyword arguments travel with it); the remote
    one is kept as the cause. Any other exception is returned as it is.
    """
    cls = type(exc)
    if not cls.__name__.endswith("_Remote") or len(cls.__mro__) < 2:
        return exc
    base = cls.__mro__[1]
    try:
        clean = base(*exc.args, **getattr(exc, "kwargs", {}))
    except Exception:   # noqa: BLE001 - an error we cannot rebuild
        return exc
    clean.__cause__ = exc
    return clean


def errors_as_sent(call):
    """``call`` (a client method) raising remote errors as their own
    class (see ``original_error``)."""
    @functools.wraps(call)
    def wrapper(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except exception.HoststateError as exc:
            clean = original_error(exc)
            if clean is exc:
                raise
            raise clean from exc
    return wrapper


class RequestContextSerializer(messaging.Serializer):
    """Contexts as dicts on the wire, versioned objects as primitives.

    The serving side gives the context it rebuilds its own database engine
    (``engine``): a context never carries credentials over the bus.
    """

    def __init__(self, engine=None):
        self._objects = HoststateObjectSerializer()
        self._engine = engine

    def serialize_entity(self, context, entity):
        return self._objects.serialize_entity(context, entity)

    def deserialize_entity(self, context, entity):
        if self._engine is None:
            return self._objects.deserialize_entity(context, entity)
        # a server with a database loads what it receives itself: an
        # object too new for it is refused, never sent to a conductor to
        # backport (which, in a process that also holds agents, would be
        # this very server)
        with indirection.serving_locally():
            return self._objects.deserialize_entity(context, entity)

    def serialize_context(self, context):
        return context.to_dict()

    def deserialize_context(self, context):
        return hs_context.RequestContext.from_dict(context,
                                                   engine=self._engine)


class HoststateObjectSerializer(ovo_base.VersionedObjectSerializer):
    """ovo's serializer for hoststate's objects; a primitive that cannot be
    loaded (an unknown class or version this side cannot backport, a part
    missing, a value a field refuses) is a typed error naming it, raised
    before anything runs with it."""

    OBJ_BASE_CLASS = objects_base.HoststateObject

    def _process_object(self, context, objprim):
        name = objprim.get(f"{self.OBJ_BASE_CLASS.OBJ_SERIAL_NAMESPACE}.name")
        version = objprim.get(
            f"{self.OBJ_BASE_CLASS.OBJ_SERIAL_NAMESPACE}.version")
        try:
            return super()._process_object(context, objprim)
        except (exception.HoststateError, messaging.MessagingException):
            raise
        except (ovo_exception.IncompatibleObjectVersion,
                ovo_exception.UnsupportedObjectError) as exc:
            raise exception.UnknownObject(objname=str(name)[:255],
                                          version=str(version)[:64],
                                          reason=str(exc)[:255]) from exc
        except Exception as exc:   # noqa: BLE001 - any malformed primitive
            raise exception.MalformedObject(
                objname=str(name)[:255],
                reason=f"{type(exc).__name__}: {str(exc)[:255]}") from exc


def get_client(conf, topic, version, version_cap=None, timeout=None,
               server=None, url=None):
    """An RPC client of ``topic`` sending at most ``version_cap``, on
    ``url``'s bus (default: ``conf``'s)."""
    target = messaging.Target(topic=topic, version=version, server=server)
    return messaging.get_rpc_client(
        get_transport(conf, url), target, version_cap=version_cap,
        serializer=RequestContextSerializer(), timeout=timeout)


#: how often an idle server thread looks whether its server was stopped
#: (seconds); futurist's own is 1 s, which every server's ``wait`` paid
WORKER_STOP_SEEN_S = 0.1


def _workers_see_stops_sooner():
    """An idle worker of futurist's thread pool (oslo.messaging's
    ``threading`` executor) sleeps on its queue for ``MAX_IDLE_FOR``
    seconds before it looks at its stop flag, so stopping any RPC server
    took a second (a service's SIGTERM, every test's teardown). Waking
    ten times a second instead costs an idle thread nothing measurable.
    Left alone if futurist no longer has that knob."""
    try:
        from futurist import _thread as futurist_thread
    except ImportError:
        return
    worker = getattr(futurist_thread, "ThreadWorker", None)
    if worker is not None and getattr(worker, "MAX_IDLE_FOR", 0) > \
            WORKER_STOP_SEEN_S:
        worker.MAX_IDLE_FOR = WORKER_STOP_SEEN_S


def get_server(conf, topic, server, endpoints, engine=None, url=None):
    """An RPC server of ``topic`` (and of ``server`` on it) running
    ``endpoints`` on threads; ``engine`` is the database its contexts
    name."""
    _workers_see_stops_sooner()
    target = messaging.Target(topic=topic, server=server)
    return messaging.get_rpc_server(
        get_transport(conf, url), target, endpoints,
        serializer=RequestContextSerializer(engine),
        access_policy=messaging.ExplicitRPCAccessPolicy)
