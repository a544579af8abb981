"""A conductor's RPC server: the object endpoint (and, as it grows, the
build flow) on the ``conductor`` topic, against one cell database.

Any number of conductors serve the same topic: each message goes to one
of them, and they share nothing but the database (every write they make
is a compare-and-swap or a single transaction), so adding a conductor
adds capacity with no coordination.
"""
from hoststate import rpc
from hoststate.conductor import manager
from hoststate.conductor import rpcapi
# registers the agents' remotable row reads (ComputeHostRows)
from hoststate.resource_tracker import host_rows  # noqa: F401


def endpoints():
    return [manager.ObjectEndpoint()]


def make_server(conf, engine, server_name=None):
    """The conductor's server (not started) for ``engine``'s database."""
    return rpc.get_server(conf, rpcapi.TOPIC, server_name or conf.host,
                          endpoints(), engine=engine)
