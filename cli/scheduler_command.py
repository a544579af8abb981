"""``hoststate scheduler``: the scheduler as a service (nova-scheduler's
role).

    hoststate [--config-file nova.conf] scheduler [--workers N]

Serves ``select_destinations`` and ``release_claim`` on the bus
(``[DEFAULT] transport_url``, topic ``scheduler``; see
:mod:`hoststate.scheduler.rpc_server`), each worker process with a
HostManager of its own over the cell database (``[database] connection``
or ``--database-url``), claiming there. ``--workers`` defaults to
``[scheduler] workers``; unset or 0 means one per CPU, as in Nova.

Runs until SIGTERM or SIGINT, then exits 0 once the calls in progress are
answered; SIGHUP re-reads the configuration files. Logging is oslo.log's,
with Nova's options. See :mod:`hoststate.cli.service_process`.
"""
from hoststate import context as hs_context
from hoststate.cli import common
from hoststate.cli import service_process
from hoststate.db import engine as db_engine

def add_commands(commands):
    scheduler = commands.add_parser(
        "scheduler", help="serve select_destinations on the bus until "
                          "stopped")
    service_process.add_workers_option(scheduler, "scheduler")
    scheduler.set_defaults(handler=scheduler_command, log_as_service=True)


def scheduler_command(args):
    conf = common.load_conf(args)
    url = common.database_url(args, conf)

    def make_servers():
        # in the process that serves (each worker after its fork): a
        # database engine and a transport of its own
        from hoststate.scheduler import rpc_server
        context = hs_context.get_admin_context(
            engine=db_engine.create_engine(url))
        return [rpc_server.build_server(conf, context)]

    return service_process.serve(conf, "scheduler", make_servers,
                                 workers_of(args, conf), debug=args.debug)


def workers_of(args, conf):
    """--workers, else ``[scheduler] workers``, else the CPU count."""
    return service_process.workers(args.workers, conf.scheduler.workers)
