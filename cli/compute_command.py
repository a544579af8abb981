"""``hoststate compute``: run a compute agent (nova-compute's role).

    hoststate [--config-file nova.conf] compute [--fake-nodes N] [--host NAME]
              [--once] [--prune]

The agent registers this host's ``nova-compute`` service and its nodes,
joins the service group (``servicegroup_driver``) and recounts every node
each ``update_resources_interval`` seconds, until SIGTERM or SIGINT: the
update in progress finishes, the host leaves the service group and the
command exits 0. A second signal ends it at once. SIGHUP re-reads the
configuration files (options Nova marks mutable take their new value).

``--once`` registers, updates every node once and exits; it does not join
the service group (a cron job that reports inventory is not a live service,
and with zk or mc a join and leave would only flash the host up).

``--prune`` first deletes this host's nodes that the driver does not
report (see :mod:`hoststate.cli.node_removal`: refused, with nothing
changed, while instances are on them) and prints each one deleted.

Logging (``hoststate.cli.logs``): a service's format, with time stamps,
on stderr; the global ``--debug`` logs debug messages and full
tracebacks. When Nova's logging options send the log somewhere
(``log_file``, ``log_dir``, ``use_journal``, ``use_syslog``,
``log_config_append``), oslo.log writes it there, as for the other
services.

Without database access: with ``[database] connection`` unset, no
``--database-url`` and ``[DEFAULT] transport_url`` set, the agent sends
every read and write to the conductors on that bus
(:mod:`hoststate.conductor`), as a nova-compute without database
credentials does; it may then write only its own host's rows.

The driver is ``[DEFAULT] compute_driver`` (``linux``: this machine, one
node), or, with ``--fake-nodes N`` (at most 100,000, see
:data:`MAX_FAKE_NODES`), N in-memory nodes named ``<host>-node1`` ..
``<host>-node<N>`` of one shape (64 vCPUs, 256 GiB, 2 TB unless
``--fake-node-shape`` says otherwise).
"""
import argparse
import contextlib
import logging
import signal
import threading

from oslo_config import types

from hoststate import context as hs_context
from hoststate import exception
from hoststate.cli import common
from hoststate.cli import compute_service
from hoststate.cli import inventory
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import service as service_mod
from hoststate.resource_tracker import virt_drivers
from hoststate.servicegroup import api as sg_api

LOG = logging.getLogger("hoststate.compute")

#: vcpus, memory_mb, local_gb of a fake node: a common two-socket server
FAKE_NODE_SHAPE = (64, 256 * 1024, 2000)
#: loggers of the liveness backends' connections (see _quiet)
CONNECTION_LOGGERS = ("kazoo", "pymemcache", "hoststate.servicegroup.drivers")
#: how many node names the start line spells out
NAMES_SHOWN = 5
#: Upper bound of --fake-nodes: a typo (a few zeros too many) is refused
#: before anything is sized by it. Memory grows with the count: measured
#: with ``compute --once`` on SQLite, about 14 KiB per node (the driver's
#: inventories, the trackers and their rows in flight): peak RSS 200 MiB at
#: 10,000 nodes and 1.4 GiB at 100,000, the latter taking about two minutes
#: to register. The same bound as ``hoststate simulate --nodes``, a whole
#: simulated cloud; no real host has more nodes than that.
MAX_FAKE_NODES = 100_000


class OptionConflict(exception.HoststateError, ValueError):
    msg_fmt = "%(option)s %(reason)s"


class JoinFailed(exception.HoststateError):
    msg_fmt = ("host %(host)s cannot join the service group "
               "(servicegroup_driver %(driver)s): %(reason)s")


def add_commands(commands):
    compute = commands.add_parser(
        "compute", help="run a compute agent: register this host and its "
                        "nodes, keep them up to date until stopped")
    compute.add_argument(
        "--host", type=_host_name,
        help="service host name (default: [DEFAULT] host)")
    compute.add_argument(
        "--fake-nodes", metavar="N",
        type=common.int_between(1, MAX_FAKE_NODES, "--fake-nodes"),
        help=f"report N fake nodes instead of [DEFAULT] compute_driver's "
             f"(at most {MAX_FAKE_NODES:,})")
    compute.add_argument(
        "--fake-node-shape", type=_shape, metavar="VCPUS,MEMORY_MB,LOCAL_GB",
        help="inventory of each fake node (default: %s)"
             % ",".join(map(str, FAKE_NODE_SHAPE)))
    compute.add_argument(
        "--once", action="store_true",
        help="update every node once and exit, without joining the "
             "service group")
    compute.add_argument(
        "--prune", action="store_true",
        help="first delete this host's nodes the driver no longer reports "
             "(refused while instances are on them)")
    compute.set_defaults(handler=compute_command, log_as_service=True)


_positive_int = common.int_at_least(1, "a positive integer")


def _shape(text):
    parts = text.split(",")
    try:
        if len(parts) == 3:
            return tuple(_positive_int(part.strip()) for part in parts)
    except argparse.ArgumentTypeError:
        pass
    raise argparse.ArgumentTypeError(
        f"must be three positive integers VCPUS,MEMORY_MB,LOCAL_GB, "
        f"not {text!r}")


def _host_name(text):
    try:
        return types.HostDomain()(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a host name, domain name or IP address, "
            f"not {text!r}") from None


# --- the command ---------------------------------------------------------

def compute_command(args):
    conf = common.load_conf(args)
    host = args.host or conf.host
    driver, driver_name = build_driver(args, conf, host)
    context = agent_context(args, conf, host)
    if args.prune:
        if context.engine is None:
            raise OptionConflict(
                option="--prune",
                reason="needs database access; this agent has none (it "
                       "works through a conductor)")
        prune(context, driver, host)
    try:
        if args.once:
            return _run_once(context, driver, host, driver_name)
        _require_shared_liveness(conf)
        with compute_service.service_logging(conf, args.debug):
            return _serve(conf, context, driver, host, driver_name)
    finally:
        if context.engine is None:
            from hoststate import rpc
            rpc.cleanup()


def through_conductor(args, conf):
    """Whether the agent works without database access: no database is
    named (``[database] connection`` or ``--database-url``) and a bus is
    (``transport_url``), as for a nova-compute with no database
    credentials."""
    return (not args.database_url and not conf.database.connection
            and bool(conf.transport_url))


def agent_context(args, conf, host):
    """The context the agent acts with: on its database, or, through a
    conductor, with no engine and its host named for the conductor's
    ownership checks (every remotable call of the process goes there)."""
    if through_conductor(args, conf):
        from hoststate.conductor import rpcapi   # only without a database
        api = rpcapi.use_conductor(conf)
        context = hs_context.RequestContext(
            engine=None, service_host=host, is_admin=True, roles=["admin"],
            overwrite=False)
        rpcapi.wait_for_conductor(api, context, conf)
        return context
    _, context = inventory.connect(args)
    context.service_host = host
    return context


def prune(context, driver, host):
    """Delete ``host``'s nodes that ``driver`` does not report, all or
    none; print each one deleted."""
    from hoststate.cli import node_removal      # only with --prune
    unreported = node_removal.unreported_node_ids(
        context, host, driver.get_available_nodes())
    removed = node_removal.delete_nodes(context, unreported)
    for node in removed:
        print(node, flush=True)
    return removed


def _serve(conf, context, driver, host, driver_name):
    """Start, then update periodically until a signal; exit 0 once the
    host has left the service group."""
    interval = service_mod.periodic_interval(conf)
    with stop_on_signals() as stopper, compute_service.reload_on_sighup(conf):
        with _quiet(CONNECTION_LOGGERS):
            service = service_mod.ComputeService(
                context, driver, host, sg_api.API(conf, context=context),
                interval)
            stopper.attach(service)
            if not service.stopping:
                _start(service, conf.servicegroup_driver)
                _log_start(service, driver_name, conf.servicegroup_driver,
                           interval)
        with compute_service.builds_served(conf, service):
            _run_in_thread(service)
    LOG.info("compute agent of host %s stopped", host)
    return 0




def _run_in_thread(service):
    """``service.run()`` in a thread, while this (main) thread waits and
    handles signals: its handler sets the service's stop event, which it
    must not do from inside the thread waiting on that event."""
    worker = threading.Thread(target=service.run, name="hoststate-compute")
    worker.start()
    worker.join()


def _require_shared_liveness(conf):
    """mc without memcached_servers keeps liveness in this process's
    memory (fine for a simulation in one process): no scheduler could
    ever see this agent up."""
    if conf.servicegroup_driver == "mc" and not conf.memcached_servers:
        raise exception.ConfigInvalid(
            group="DEFAULT", option="memcached_servers",
            value=conf.memcached_servers,
            reason='a compute agent with servicegroup_driver "mc" needs '
                   'a memcached server that schedulers share')


def _start(service, servicegroup_driver):
    try:
        return service.start()
    except exception.ServiceGroupUnavailable as exc:
        raise JoinFailed(host=service.host, driver=servicegroup_driver,
                         reason=exc) from None


def _run_once(context, driver, host, driver_name):
    """Register and update once, outside the service group; exit 1 when
    a node's update failed (a cron job should see it)."""
    service = service_mod.ComputeService(context, driver, host)
    errors = service.start()
    _log_start(service, driver_name, None, None)
    return 1 if errors else 0


def build_driver(args, conf, host):
    """(virt driver, its name for the log): fake nodes when asked for,
    else compute_driver's."""
    name = virt_drivers.driver_name(conf)
    if args.fake_nodes is None and name != "fake":
        if args.fake_node_shape is not None:
            raise OptionConflict(
                option="--fake-node-shape",
                reason=f"needs --fake-nodes (compute_driver is "
                       f"{conf.compute_driver})")
        return virt_drivers.load_driver(conf), name
    vcpus, memory_mb, local_gb = args.fake_node_shape or FAKE_NODE_SHAPE
    driver = fake_driver.FakeDriver.uniform(
        args.fake_nodes or 1, prefix=f"{host}-node", vcpus=vcpus,
        memory_mb=memory_mb, local_gb=local_gb)
    return driver, "fake"


def _log_start(service, driver_name, servicegroup_driver, interval):
    names = service.nodenames
    shown = ", ".join(names[:NAMES_SHOWN]) + (
        ", ..." if len(names) > NAMES_SHOWN else "")
    if servicegroup_driver is None:
        LOG.info("compute agent of host %s updated once: %d node(s) [%s], "
                 "driver %s", service.host, len(names), shown, driver_name)
        return
    period = "never" if interval is None else f"every {interval} s"
    LOG.info("compute agent of host %s started: %d node(s) [%s], driver %s, "
             "servicegroup %s, updates %s", service.host, len(names), shown,
             driver_name, servicegroup_driver, period)


# --- signals and logging ---------------------------------------------------

class _SignalStop:
    """What SIGTERM and SIGINT do: ask the attached service to stop (or,
    before one is attached, remember to), then give both signals back
    their default action, so a second one ends the process at once (an
    update that hangs on an unreachable database)."""

    def __init__(self, signals):
        self.signals = signals
        self.service = None
        self.received = False

    def attach(self, service):
        self.service = service
        if self.received:
            service.stop()

    def handle(self, signum, frame):
        LOG.info("%s received: stopping after the update in progress",
                 signal.Signals(signum).name)
        self.received = True
        if self.service is not None:
            self.service.stop()
        for each in self.signals:
            signal.signal(each, signal.SIG_DFL)


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)):
    """Within the block, ``signals`` stop the service given to the
    yielded object's ``attach``; the previous handlers come back after."""
    stopper = _SignalStop(signals)
    previous = {signum: signal.signal(signum, stopper.handle)
                for signum in signals}
    try:
        yield stopper
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _quiet(names, level=logging.ERROR):
    """Raise the level of loggers ``names`` within the block. While the
    agent starts, a liveness backend's connection retries are noise: the
    start either fails with one message saying why, or connected.
    With --debug (hoststate logging debug) nothing is quieted."""
    if logging.getLogger("hoststate").isEnabledFor(logging.DEBUG):
        names = ()
    loggers = [logging.getLogger(name) for name in names]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(level)
    try:
        yield
    finally:
        for each, old in zip(loggers, levels):
            each.setLevel(old)
