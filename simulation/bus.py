"""``hoststate simulate --transport-url URL``: the same simulation with its
agents and its scheduler talking over a message bus.

Behind the bus, in this process: a conductor (the object endpoint, on the
simulation's database) and the scheduler service (the simulation's own
Scheduler behind its RPC endpoint). In front of it: the loop asks for
destinations and gives back claims through the scheduler's RPC client,
and every agent works without a database, its context naming no engine
and its remotable calls (registration, reads of what changed, adoption,
saves, give-backs on delete, periodic recounts) going to the conductor;
only the agents' threads send theirs there (``indirection.calling``), the
harness (seeding, liveness, the report) keeps the database.

The decisions are the scheduler's, one call at a time, so a seed places
the same way on any bus as with direct calls; what the bus adds is its
latency (the report's select percentiles include it).
"""
from hoststate import context as hs_context
from hoststate import rpc
from hoststate.conductor import rpcapi as conductor_rpcapi
from hoststate.conductor import service as conductor_service
from hoststate.objects import indirection
from hoststate.scheduler import rpc_server
from hoststate.scheduler import rpcapi as scheduler_rpcapi


class Bus:
    """The servers and clients of a simulation on ``conf``'s bus."""

    def __init__(self, conf, context, scheduler):
        self.conf = conf
        self.context = context
        self._servers = [
            conductor_service.make_server(conf, context.engine,
                                          "simulation-conductor"),
            rpc_server.build_server(conf, context, scheduler=scheduler,
                                    server="simulation-scheduler")]
        for server in self._servers:
            server.start()
        self.scheduler_api = scheduler_rpcapi.SchedulerAPI(conf)
        self.conductor_api = conductor_rpcapi.ConductorAPI(conf)
        #: what the Loop's scheduler steps read (the table, liveness)
        self.host_manager = scheduler.host_manager

    @property
    def url(self):
        return rpc.shown_url(rpc.transport_url(self.conf))

    # --- the scheduler, as the loop calls it --------------------------------

    def select_destinations(self, spec):
        return self.scheduler_api.select_destinations(
            self.context, spec, None, return_alternates=True)

    def release(self, selection, instance_uuid):
        self.scheduler_api.release_claim(self.context, selection,
                                         instance_uuid)

    # --- the agents ------------------------------------------------------------

    def agent_context(self, host):
        return hs_context.RequestContext(
            engine=None, service_host=host, is_admin=True, roles=["admin"],
            overwrite=False)

    def agents_calling(self):
        """The block's remotable calls (this thread's) go to the
        conductor."""
        return indirection.calling(self.conductor_api)

    def stop(self):
        for server in self._servers:
            server.stop()
        for server in self._servers:
            server.wait()
        rpc.cleanup()
