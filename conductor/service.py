"""A conductor's RPC server: the object endpoint (and, as it grows, the
build flow) on the ``conductor`` topic, against one cell database.

Any number of conductors serve the same topic: each message goes to one
of them, and they share nothing but the database (every write they make
is a compare-and-swap or a single transaction), so adding a conductor
adds capacity with no coordination.
"""
from hoststate import rpc
from hoststate.conductor import build
from hoststate.conductor import build_sweep
from hoststate.conductor import manager
from hoststate.conductor import rpcapi
# registers the agents' remotable row reads (ComputeHostRows)
from hoststate.resource_tracker import host_rows  # noqa: F401
from hoststate.resource_tracker import compute_rpc


def endpoints(conf, scheduler=None):
    """The object endpoint, and the build flow when there is a scheduler
    to ask (``scheduler``: the scheduler service's client, or anything
    with its ``select_destinations``)."""
    served = [manager.ObjectEndpoint()]
    if scheduler is not None:
        served.append(build.ComputeTaskEndpoint(
            conf, scheduler, compute_rpc.ComputeAPI(conf)))
    return served


class ConductorServer:
    """The RPC server and what runs beside it (the build flow's watch and
    sweep threads), started and stopped together."""

    def __init__(self, server, served, sweep=None):
        self._server = server
        self._sweep = sweep
        self._watches = [e.watch for e in served
                         if isinstance(e, build.ComputeTaskEndpoint)]

    def start(self):
        self._server.start()
        if self._sweep is not None:
            self._sweep.start()

    def stop(self):
        self._server.stop()
        if self._sweep is not None:
            self._sweep.stop()
        for watch in self._watches:
            watch.stop()

    def wait(self):
        self._server.wait()


def make_server(conf, engine, server_name=None, scheduler=None):
    """The conductor's server (not started) for ``engine``'s database."""
    served = endpoints(conf, scheduler)
    return ConductorServer(
        rpc.get_server(conf, rpcapi.TOPIC, server_name or conf.host, served,
                       engine=engine), served,
        # with the build flow: builds nobody will finish are ended here
        sweep=None if scheduler is None else build_sweep.BuildSweep(
            conf, engine))
