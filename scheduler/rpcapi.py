"""The client side of the scheduler's RPC API (topic ``scheduler``).

The conductor asks a scheduler service for destinations through this
class, as Nova's conductor does through ``nova.scheduler.rpcapi``; the
server side is :mod:`hoststate.scheduler.rpc_server`.

API version history:

* 1.0 - ``select_destinations(spec, instance_uuids, return_alternates)``
  returning, per instance, [chosen Selection, alternates...];
  ``release_claim(selection, instance_uuid)`` giving back the claim of a
  build that failed on its chosen node.

A new method or argument adds a minor version (1.1 ...) here and on the
server's target, and the client sends it only when
``can_send_version`` says the cap allows it.
"""
from hoststate import exception
from hoststate import rpc
from hoststate.conf import rpc as conf_rpc

TOPIC = "scheduler"
#: the newest version this release speaks (history above)
VERSION = "1.0"


def version_cap(conf):
    """The newest version this process sends: ``[upgrade_levels]
    scheduler`` (``conf.rpc.version_cap``)."""
    return conf_rpc.version_cap(conf, "scheduler")


class SchedulerAPI:
    """Calls to whichever scheduler service answers on the topic."""

    def __init__(self, conf, timeout=None):
        """``timeout``: seconds a select may take, ``long_rpc_timeout``
        unless given (the conductor gives ``rpc_response_timeout``: its
        own caller waits no longer, and a select message that expires
        unanswered is dropped by the broker, so a scheduler that comes
        back later claims nothing for a boot that already failed)."""
        self.conf = conf
        self.timeout = timeout
        self.client = rpc.get_client(conf, TOPIC, VERSION,
                                     version_cap=version_cap(conf))

    def select_destinations(self, context, spec, instance_uuids,
                            return_alternates=True):
        """Per instance, [chosen Selection, alternates...], each claimed
        (the chosen one) by the scheduler in its cell's database.

        A call with ``long_rpc_timeout``, as Nova's conductor makes it: a
        big request on a big cloud may take longer than an ordinary call.
        Raises NoValidHost with the reasons the scheduler gave.
        """
        client = self.client.prepare(
            version="1.0", timeout=self.timeout or self.conf.long_rpc_timeout)
        try:
            return client.call(context, "select_destinations", spec=spec,
                               instance_uuids=instance_uuids,
                               return_alternates=return_alternates)
        except exception.NoValidHost as exc:
            raise _no_valid_host(exc) from exc

    def release_claim(self, context, selection, instance_uuid):
        """Give back what the claim of ``instance_uuid`` on
        ``selection``'s node holds (its build there failed); nothing when
        it holds nothing there."""
        client = self.client.prepare(version="1.0")
        client.call(context, "release_claim", selection=selection,
                    instance_uuid=instance_uuid)


def _no_valid_host(exc):
    """``exc`` as a plain NoValidHost with its reasons as text, whichever
    the bus: over a broker the one raised is oslo.messaging's copy, whose
    text ends with the server's traceback (kept as the cause, shown with
    --debug), and whose reasons are the text the server sent; on the
    in-process bus it is the scheduler's own, whose reasons are objects
    (a filter's shortfalls). A caller sees the same on both."""
    return exception.NoValidHost(reasons=[str(r) for r in exc.reasons])
