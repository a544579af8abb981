"""``hoststate simulate``: a cloud, its agents and a scheduler in one process.

By default the database is a new SQLite file in a temporary directory,
removed afterwards (``--keep-database`` keeps it); ``--database-url`` names
another, which must hold no compute nodes yet (a simulation never writes
into a real cloud).
"""
import contextlib
import json
import os
import shutil
import sys
import tempfile

import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate import exception
from hoststate.cli import common
from hoststate.cli import progress
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.db import schema
from hoststate.simulation import plot
from hoststate.simulation import report as report_mod
from hoststate.simulation import runner

#: liveness of a simulation unless the configuration sets it: a run lasts
#: a minute, so a crashed agent must be seen down within seconds
REPORT_INTERVAL = 1
SERVICE_DOWN_TIME = 5          # report intervals
NODES_PER_SECOND_OF_INTERVAL = 10000


def add_commands(commands):
    sim = commands.add_parser(
        "simulate", help="simulate a cloud: agents, a request stream and "
                         "a scheduler, then report")
    sim.add_argument("--nodes", type=_positive("--nodes"), default=1000,
                     help="compute nodes (one per host; default 1000)")
    sim.add_argument("--requests", type=_positive("--requests"),
                     default=4000, help="boot requests (default 4000)")
    sim.add_argument("--seed", type=int, default=0,
                     help="seed of the cloud, the stream and the scheduler; "
                          "the same seed gives the same placements")
    sim.add_argument("--servicegroup", choices=("db", "zk", "mc"),
                     help="liveness driver (default: servicegroup_driver, "
                          "db)")
    sim.add_argument("--kill-agents", type=_non_negative("--kill-agents"),
                     default=0, metavar="K",
                     help="crash K agents half-way through the stream")
    sim.add_argument("--json", action="store_true",
                     help="print the report as JSON")
    sim.add_argument("--plot", metavar="FILE.png",
                     help="draw utilization over time to FILE.png")
    sim.add_argument("--keep-database", action="store_true",
                     help="keep the temporary SQLite database")
    sim.set_defaults(handler=simulate_command)


def simulate_command(args):
    options = runner.Options(nodes=args.nodes, requests=args.requests,
                             seed=args.seed, kill_agents=args.kill_agents)
    if options.kill_agents > options.nodes:
        raise exception.HoststateError(
            f"--kill-agents {options.kill_agents} is more than --nodes "
            f"{options.nodes}")
    conf = common.load_conf(args)
    with _simulation_settings(conf, args.servicegroup, options.nodes):
        report = _run(conf, args, options)
    if args.plot:
        plot.draw(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(report_mod.format_text(report))
        if args.plot:
            print(f"  plot               {os.path.abspath(args.plot)}")
    return 0 if report["overcommit"]["overcommitted_nodes"] == 0 else 3


def _run(conf, args, options):
    scratch = None if args.database_url else tempfile.mkdtemp(
        prefix="hoststate-simulate-")
    url = args.database_url or f"sqlite:///{scratch}/simulation.sqlite"
    try:
        return _simulate(conf, url, options, quiet=args.json)
    finally:
        if scratch and args.keep_database:
            print(f"database kept: {url}", file=sys.stderr)
        elif scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _simulate(conf, url, options, quiet):
    engine = db_engine.create_engine(url)
    try:
        migration.sync(engine)
        _require_empty(engine)
        context = hs_context.get_admin_context(engine=engine)
        bar = progress.ProgressBar(enabled=False if quiet else None)
        try:
            result = runner.Simulation(context, conf, options,
                                       progress=bar.update).run()
        finally:
            bar.close()
        return report_mod.build(result, context, conf)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _simulation_settings(conf, servicegroup, nodes):
    """Liveness timings and filters for a simulation, where the
    configuration does not set them; undone afterwards (CONF is the
    process's)."""
    # a heartbeat round and a liveness read touch every service: in a
    # large cloud they come less often (10 s at 100,000 hosts)
    interval = max(REPORT_INTERVAL, nodes // NODES_PER_SECOND_OF_INTERVAL)
    defaults = [("report_interval", interval, None),
                ("service_down_time", interval * SERVICE_DOWN_TIME, None),
                ("enabled_filters", runner.FILTERS, "filter_scheduler")]
    for name, value, group in defaults:
        conf.set_default(name, value, group=group)
    if servicegroup:
        conf.set_override("servicegroup_driver", servicegroup)
    try:
        yield conf
    finally:
        for name, _, group in defaults:
            conf.clear_default(name, group=group)
        conf.clear_override("servicegroup_driver")


def _require_empty(engine):
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(
            schema.compute_nodes)).scalar()
    if count:
        raise exception.HoststateError(
            f"{engine.url.render_as_string(hide_password=True)} already "
            f"holds {count} compute nodes; hoststate simulate needs an "
            f"empty database")


def _positive(flag):
    return common.int_at_least(1, "a positive integer", flag)


def _non_negative(flag):
    return common.int_at_least(0, "an integer of 0 or more", flag)
