"""``hoststate conductor``: the compute proxy and build flow as a service
(nova-conductor's role).

    hoststate [--config-file nova.conf] conductor [--workers N]

Serves, on the bus (``[DEFAULT] transport_url``, topic ``conductor``):

* the remotable object calls of compute agents that have no database
  access (:mod:`hoststate.conductor.manager`, checked by
  :mod:`hoststate.conductor.policy`);
* the build flow (:mod:`hoststate.conductor.build`): ``hoststate boot``
  and ``delete``, and the agents' failed builds, asking the scheduler
  service for destinations.

Each of the ``--workers`` processes (default ``[conductor] workers``;
unset means one per CPU) has its own database engine and transport;
any number of conductors, on any number of machines, serve the same topic
and share nothing but the database. Runs until SIGTERM or SIGINT, then
exits 0 once the calls in progress are answered; SIGHUP re-reads the
configuration files. See :mod:`hoststate.cli.service_process`.
"""
from hoststate.cli import common
from hoststate.cli import service_process
from hoststate.db import engine as db_engine

def add_commands(commands):
    conductor = commands.add_parser(
        "conductor", help="serve agents without database access and the "
                          "build flow on the bus until stopped")
    service_process.add_workers_option(conductor, "conductor")
    conductor.set_defaults(handler=conductor_command, log_as_service=True)


def conductor_command(args):
    conf = common.load_conf(args)
    url = common.database_url(args, conf)

    def make_servers():
        # in the process that serves (each worker after its fork)
        from hoststate.cli import inventory
        from hoststate.conductor import service
        from hoststate.scheduler import rpcapi as scheduler_rpcapi
        from hoststate import context as hs_context
        context = inventory.require_schema(hs_context.get_admin_context(
            engine=db_engine.create_engine(url)))
        scheduler = scheduler_rpcapi.SchedulerAPI(
            conf, timeout=conf.rpc_response_timeout)
        return [service.make_server(conf, context.engine, conf.host,
                                    scheduler=scheduler)]

    return service_process.serve(conf, "conductor", make_servers,
                                 workers_of(args, conf), debug=args.debug)


def workers_of(args, conf):
    """--workers, else ``[conductor] workers``, else the CPU count."""
    return service_process.workers(args.workers, conf.conductor.workers)
