"""``hoststate simulate``: a cloud, its agents and a scheduler in one process.

By default the database is a new SQLite file in a temporary directory,
removed afterwards (``--keep-database`` keeps it); ``--database-url`` names
another, which must hold no compute nodes yet (a simulation never writes
into a real cloud).

What can be checked before a run is checked before it, so nothing is
simulated for a result that could not be kept: the arguments' bounds,
that ``--plot`` can be written where it names, that the database can be
reached, then (after its schema is brought up to date) that it is empty,
then that the liveness driver (``--servicegroup``) can answer: with
ZooKeeper or memcached unreachable every host would be unknown and the
run would place nothing.

Ctrl-C or SIGTERM stops a run cleanly: background threads stopped, the
temporary database removed (unless kept), one line, exit 128 + signal.
The exit status is 3 when the run broke an invariant (see
``report.broken``).
"""
import argparse
import contextlib
import json
import math
import shutil
import signal
import sys
import tempfile
import threading

import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate import exception
from hoststate.cli import common
from hoststate.cli import failures
from hoststate.cli import progress
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.db import schema
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api as sg_api
from hoststate.simulation import plot
from hoststate.simulation import prefill as prefill_mod
from hoststate.simulation import report as report_mod
from hoststate.simulation import runner
from hoststate.simulation import cells_report
from hoststate.simulation import cells_run

#: liveness of a simulation unless the configuration sets it: a run lasts
#: a minute, so a crashed agent must be seen down within seconds
REPORT_INTERVAL = 1
SERVICE_DOWN_TIME = 5          # report intervals
NODES_PER_SECOND_OF_INTERVAL = 10000
#: Upper bounds of --nodes and --requests: a typo (a few zeros too many)
#: is refused before anything is sized by it. Memory grows with both;
#: measured on this code (tracemalloc and peak RSS): about 90 MiB to start,
#: 4.6 KiB per node (rows seeded, the scheduler's table), 40 KiB per agent
#: started (one per host the run touches), about 3 KiB per living instance
#: (7 KiB for one that will be deleted) and a few bytes per request. At
#: both bounds that is about 10 GiB at worst, and a run of hours: 100,000
#: nodes take about 50 s to set up (peak RSS 0.6 GiB before any agent),
#: and requests are placed at about 80 a second on two cores.
MAX_NODES = 100_000
MAX_REQUESTS = 1_000_000
MAX_SEED = 2 ** 63 - 1
#: bounds of --cells (every cell's servers in this process: see
#: cells_run) and of --rate
MAX_CELLS, MAX_RATE = 16, 10_000
EXIT_BROKEN = 3
#: what to check when the liveness driver cannot answer
_LIVENESS_REMEDY = {
    "zk": "check that ZooKeeper is running at [zookeeper] address",
    "mc": "check that memcached is running at [DEFAULT] memcached_servers",
}


class LivenessUnavailable(exception.HoststateError):
    msg_fmt = ("simulate: servicegroup_driver %(driver)s cannot say which "
               "hosts are up: %(reason)s%(remedy)s")


def add_commands(commands):
    sim = commands.add_parser(
        "simulate", help="simulate a cloud: agents, a request stream and "
                         "a scheduler, then report")
    sim.add_argument("--nodes", type=_count("--nodes", 1, MAX_NODES),
                     default=runner.DEFAULT_NODES,
                     help=f"compute nodes, one per host (default "
                          f"{runner.DEFAULT_NODES}; at most {MAX_NODES:,})")
    sim.add_argument("--requests", type=_count("--requests", 1, MAX_REQUESTS),
                     default=runner.DEFAULT_REQUESTS,
                     help=f"boot requests (default {runner.DEFAULT_REQUESTS:,}"
                          f"; at most {MAX_REQUESTS:,})")
    sim.add_argument("--prefill", type=_fraction("--prefill",
                                                 prefill_mod.PREFILL_MAX),
                     metavar="SHARE",
                     help=f"fill each node to about this share of its "
                          f"capacity before the stream (default "
                          f"{runner.DEFAULT_PREFILL}; 0 starts empty; at most "
                          f"{prefill_mod.PREFILL_MAX})")
    sim.add_argument("--seed", type=_count("--seed", 0, MAX_SEED), default=0,
                     help="seed of the cloud, the stream and the scheduler; "
                          "the same seed gives the same placements")
    sim.add_argument("--servicegroup", choices=("db", "zk", "mc"),
                     help="liveness driver (default: servicegroup_driver, "
                          "db)")
    sim.add_argument("--kill-agents", type=_count("--kill-agents", 0,
                                                  MAX_NODES),
                     default=0, metavar="K",
                     help="crash K agents half-way through the stream")
    sim.add_argument("--json", action="store_true",
                     help="print the report as JSON")
    sim.add_argument("--plot", metavar="FILE.png",
                     help="draw the run's series to FILE (.png, .svg, .pdf "
                          "and the other types matplotlib writes)")
    sim.add_argument("--transport-url", metavar="URL",
                     help="run the agents through a conductor and the "
                          "scheduler as a service on this bus (local:// "
                          "in process, rabbit://... a broker); default: "
                          "direct calls")
    sim.add_argument("--keep-database", action="store_true",
                     help="keep the temporary SQLite database")
    sim.add_argument("--cells", type=_count("--cells", 1, MAX_CELLS),
                     metavar="K", help=f"a cells v1 tree: a top and K "
                     f"children (at most {MAX_CELLS}) sharing --nodes, each "
                     f"its own database and bus (a vhost per cell of "
                     f"--transport-url, local:// by default)")
    sim.add_argument("--kill-cells", type=_count("--kill-cells", 0,
                                                 MAX_CELLS),
                     default=0, metavar="N",
                     help="with --cells: stop N children's cells services "
                          "half-way through the stream")
    sim.add_argument("--rate", type=_fraction("--rate", MAX_RATE),
                     default=0.0, metavar="PER_S",
                     help="with --cells: boots sent per second (default 0:"
                          " each as soon as the last is answered)")
    sim.set_defaults(handler=simulate_command)


def simulate_command(args):
    if args.cells is not None or args.kill_cells or args.rate:
        return _simulate_cells(args)
    options = runner.Options(nodes=args.nodes, requests=args.requests,
                             seed=args.seed, kill_agents=args.kill_agents,
                             prefill=runner.DEFAULT_PREFILL
                             if args.prefill is None else args.prefill,
                             transport_url=args.transport_url)
    if options.kill_agents > options.nodes:
        raise exception.HoststateError(
            f"--kill-agents {options.kill_agents} is more than --nodes "
            f"{options.nodes}")
    plot_path = plot.check_target(args.plot) if args.plot else None
    with _signals_interrupt():
        conf = common.load_conf(args)
        with _simulation_settings(conf, args.servicegroup, options.nodes,
                                  args.transport_url):
            report = _Run(conf, args, options).report()
        _print(report, args.json, plot_path)
        if plot_path:
            plot.draw(report, plot_path)
            if not args.json:
                print(f"  plot               {plot_path}")
    problems = report_mod.broken(report)
    if problems:
        print(f"hoststate: simulate: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_BROKEN
    return 0


def _simulate_cells(args):
    """``--cells``: the tree of :mod:`hoststate.simulation.cells_run`;
    every refused combination is a usage error before anything runs."""
    if cells_run.refused(vars(args)):
        raise failures.UsageError(cells_run.refused(vars(args)))
    options = cells_run.Options(
        cells=args.cells, nodes=args.nodes, requests=args.requests,
        transport_url=args.transport_url or "local://", seed=args.seed,
        kill_cells=args.kill_cells, rate=args.rate,
        config_files=tuple(args.config_file or ()))
    common.load_conf(args)          # a bad file, rabbitmqctl missing: now
    cells_run.require_bus(options)
    with _signals_interrupt():
        shown, done = progress.Progress(), [0]

        def update(count, *rest):
            done[0] = count
            shown.update(count, *rest)
        try:
            result = cells_run.run(options, progress=update)
        except exception.Signalled as exc:      # cleaned up by the run
            raise exception.Interrupted(exc.signum, (
                f": simulate stopped after {done[0]:,} of "
                f"{options.requests:,} requests; the cells' databases and "
                f"buses removed")) from None
        finally:
            shown.close()
    return cells_report.emit(cells_report.build(result), args.json,
                             result.cleanup_problems)


def _print(report, as_json, plot_path):
    if as_json:
        shown = dict(report, plot=plot_path)
        print(json.dumps(shown, indent=2, sort_keys=True))
    else:
        print(report_mod.format_text(report))
    sys.stdout.flush()


class _Run:
    """One simulation on its database: a temporary SQLite file unless
    ``--database-url`` names one; what an interruption says."""

    def __init__(self, conf, args, options):
        self.conf = conf
        self.args = args
        self.options = options
        self.done = 0

    def report(self):
        scratch = None if self.args.database_url else tempfile.mkdtemp(
            prefix="hoststate-simulate-")
        url = self.args.database_url or \
            f"sqlite:///{scratch}/simulation.sqlite"
        try:
            report = self._simulate(url)
        except exception.Signalled as exc:
            self._discard(scratch)
            raise exception.Interrupted(exc.signum, self._stopped(
                scratch, url)) from None
        except BaseException:
            self._discard(scratch)
            raise
        self._discard(scratch)
        if scratch and self.args.keep_database:
            print(f"database kept: {url}", file=sys.stderr)
        return report

    def _discard(self, scratch):
        if scratch and not self.args.keep_database:
            shutil.rmtree(scratch, ignore_errors=True)

    def _stopped(self, scratch, url):
        """What an interruption says after "interrupted by SIGINT"."""
        said = (f": simulate stopped after {self.done:,} of "
                f"{self.options.requests:,} requests")
        if scratch and self.args.keep_database:
            said += f"; database kept: {url}"
        elif scratch:
            said += "; temporary database removed"
        return said

    def _simulate(self, url):
        engine = db_engine.create_engine(url)
        try:
            _require_reachable(engine)
            migration.sync(engine)
            _require_empty(engine)
            context = hs_context.get_admin_context(engine=engine)
            _require_liveness(self.conf, context)
            shown = progress.Progress()
            try:
                result = runner.Simulation(
                    context, self.conf, self.options,
                    progress=self._progress(shown)).run()
            finally:
                shown.close()
            return report_mod.build(result, context, self.conf)
        finally:
            engine.dispose()

    def _progress(self, shown):
        def update(done, total, result):
            self.done = done
            shown.update(done, total, result.placements, result.no_valid_host)
        return update


@contextlib.contextmanager
def _signals_interrupt():
    """SIGINT and SIGTERM raise exception.Signalled in the main thread,
    so the run unwinds through its cleanup (a BaseException: no ``except
    Exception`` on the way keeps the run going); a second signal during
    that cleanup is ignored (it is bounded: threads are given
    threads.STOP_TIMEOUT_S). Outside the main thread (an embedding
    program's worker) signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def interrupt(signum, _frame):
        if not fired:
            fired.append(signum)
            raise exception.Signalled(signum)

    previous = {signum: signal.signal(signum, interrupt)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except exception.Signalled as exc:     # outside the run itself
        raise exception.Interrupted(exc.signum) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _simulation_settings(conf, servicegroup, nodes, transport_url=None):
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
    if transport_url:
        conf.set_override("transport_url", transport_url)
    try:
        yield conf
    finally:
        for name, _, group in defaults:
            conf.clear_default(name, group=group)
        conf.clear_override("servicegroup_driver")
        conf.clear_override("transport_url")


def _require_reachable(engine):
    """One line, before anything else touches the database, when it
    cannot be used: an SQLite directory that is missing, a server that
    refuses, a login or database that does not exist."""
    db_engine.require_sqlite_directory(engine.url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        # simulate creates the schema itself: no "then run db sync"
        raise db_engine.explain_error(exc, engine.url,
                                      creates_schema=True) from None


def _require_liveness(conf, context):
    """One line, before the run, when the configured liveness driver
    cannot answer (ZooKeeper or memcached unreachable): one bulk question
    about a service no host has, which needs the backend (the db driver
    answers it without a query: its database was checked already)."""
    probe = {"host": "hoststate-simulate-probe", "forced_down": False,
             "topic": service_obj.COMPUTE_TOPIC}
    liveness = sg_api.API(conf, context)
    try:
        liveness.services_up([probe])
    except exception.ServiceGroupUnavailable as exc:
        driver = conf.servicegroup_driver
        remedy = _LIVENESS_REMEDY.get(driver)
        reason = exc.kwargs.get("reason", exc)     # without "liveness unknown"
        raise LivenessUnavailable(driver=driver, reason=reason, remedy=(
            f"; {remedy}" if remedy else "")) from None
    finally:
        liveness.stop()


def _require_empty(engine):
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(
            schema.compute_nodes)).scalar()
    if count:
        raise exception.HoststateError(
            f"{engine.url.render_as_string(hide_password=True)} already "
            f"holds {count} compute nodes; hoststate simulate needs an "
            f"empty database")


def _count(flag, low, high):
    return common.int_between(low, high, flag)


def _fraction(flag, high):
    """An argparse ``type``: a finite number from 0 to ``high``."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= high:        # NaN fails this too
            raise argparse.ArgumentTypeError(
                f"{flag} must be a number from 0 to {high}, not "
                f"{common.typed(text)}")
        return value
    return parse
