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
"""
import logging
import re
import threading
import warnings

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import oslo_messaging as messaging
    from oslo_versionedobjects import base as ovo_base

from hoststate import context as hs_context
from hoststate import exception
from hoststate.objects import base as objects_base

LOG = logging.getLogger(__name__)

#: the bus of a process whose transport_url is unset
IN_PROCESS_URL = "local://"

#: exceptions a server may send back to be raised again by the caller
#: (the dispatcher's too, so a client sees NoSuchMethod on every bus)
ALLOWED_EXMODS = [exception.__name__, "oslo_messaging.rpc.dispatcher"]

#: user:password@ in a URL (also in each host of a multi-host URL)
_PASSWORD = re.compile(r"((?://|,)[^:/@,]*:)[^@]*@")

_lock = threading.Lock()
_transports = {}


def transport_url(conf):
    """The URL of the bus ``conf`` names (the in-process one when unset)."""
    return conf.transport_url or IN_PROCESS_URL


def is_in_process(conf):
    return transport_url(conf).split(":", 1)[0] in ("local", "fake")


def get_transport(conf):
    """The process's transport for ``conf``'s bus, made on first use.

    One per URL: the in-process driver only connects clients and servers
    of the same process."""
    url = transport_url(conf)
    with _lock:
        transport = _transports.get(url)
        if transport is None:
            try:
                transport = messaging.get_rpc_transport(
                    conf, url=url, allowed_remote_exmods=ALLOWED_EXMODS)
            except (messaging.InvalidTransportURL,
                    messaging.DriverLoadFailure) as exc:
                raise exception.ConfigInvalid(
                    group="DEFAULT", option="transport_url",
                    value=_without_password(url), reason=str(exc)) from exc
            _transports[url] = transport
        return transport


def cleanup():
    """Close every transport of the process (at exit, or between tests)."""
    with _lock:
        transports = list(_transports.values())
        _transports.clear()
    for transport in transports:
        transport.cleanup()


def _without_password(url):
    """``url`` with every password replaced by ``***`` (error messages)."""
    return _PASSWORD.sub(r"\1***@", url)


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
        return self._objects.deserialize_entity(context, entity)

    def serialize_context(self, context):
        return context.to_dict()

    def deserialize_context(self, context):
        return hs_context.RequestContext.from_dict(context,
                                                   engine=self._engine)


class HoststateObjectSerializer(ovo_base.VersionedObjectSerializer):
    OBJ_BASE_CLASS = objects_base.HoststateObject


def get_client(conf, topic, version, version_cap=None, timeout=None,
               server=None):
    """An RPC client of ``topic`` sending at most ``version_cap``."""
    target = messaging.Target(topic=topic, version=version, server=server)
    return messaging.get_rpc_client(
        get_transport(conf), target, version_cap=version_cap,
        serializer=RequestContextSerializer(), timeout=timeout)


def get_server(conf, topic, server, endpoints, engine=None):
    """An RPC server of ``topic`` (and of ``server`` on it) running
    ``endpoints`` on threads; ``engine`` is the database its contexts
    name."""
    target = messaging.Target(topic=topic, server=server)
    return messaging.get_rpc_server(
        get_transport(conf), target, endpoints,
        serializer=RequestContextSerializer(engine),
        access_policy=messaging.ExplicitRPCAccessPolicy)
