"""Whole cells in one process: the cells v1 tree of ``hoststate simulate
--cells``, and of the cells service's tests and benchmarks.

Each cell has a database of its own and a bus of its own (a vhost of a
RabbitMQ broker, or a virtual host of the in-process bus:
``local:///<name>``), and runs its real services on them: compute agents
on fake drivers (only the hypervisor is fake), a scheduler, a conductor
and the cells service. Nothing is shared between two cells but the
process, as two deployments share nothing but the network.

    top = Cell("api", "local:///run-api", sqlite_engine(scratch, "api"))
    child = Cell("cell1", "local:///run-cell1",
                 sqlite_engine(scratch, "cell1"), layout=[4, 4])
    link(top, child)            # both cells tables, as cell-add does
    for cell in (top, child): cell.start()
    wait_until(lambda: heard_all(top), "cell1 up at the top")
"""
import concurrent.futures
import os
import pathlib
import shutil
import subprocess
import time
import urllib.parse

from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import context as hs_context
from hoststate import exception
from hoststate import rpc
from hoststate.cells import service as cells_service
from hoststate.cells import tree
from hoststate.conductor import rpcapi as conductor_rpcapi
from hoststate.conductor import service as conductor_service
from hoststate.db import engine as db_engine
from hoststate.db import schema
from hoststate.objects import indirection
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import compute_rpc
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import rpc_server
from hoststate.scheduler import rpcapi as scheduler_rpcapi

#: each fake node unless told otherwise: 8 vCPUs, 16 GiB, 200 GiB
NODE_SHAPE = dict(vcpus=8, memory_mb=16384, local_gb=200)
#: the cells timings of an in-process tree unless the configuration or
#: the caller sets them: a child is heard every second, so it is down at
#: its parent within ``down_after_broadcasts`` seconds, and a build not
#: answered in 10 s is given up on (a run lasts seconds, not hours)
CELLS_DEFAULTS = dict(broadcast_interval=1, instance_sync_interval=1,
                      call_timeout=10)
RPC_RESPONSE_TIMEOUT_S = 20


def cell_conf(name, bus_url, config_files=None, **cells_options):
    """A configuration of its own for cell ``name`` on ``bus_url``:
    ``config_files`` read first (an operator's ``[cells]`` timings then
    win over ``CELLS_DEFAULTS``), ``cells_options`` over everything."""
    conf = hconf.load([], config_files=config_files, conf=cfg.ConfigOpts())
    conf.set_override("transport_url", bus_url)
    conf.set_default("rpc_response_timeout", RPC_RESPONSE_TIMEOUT_S)
    conf.set_override("host", f"{name}-services")
    for option, value in CELLS_DEFAULTS.items():
        conf.set_default(option, value, group="cells")
    for option, value in dict(enable=True, name=name,
                              **cells_options).items():
        conf.set_override(option, value, group="cells")
    return conf


def sqlite_engine(directory, name):
    """An engine on a new SQLite file ``<directory>/<name>.sqlite`` with
    hoststate's tables (a cell's database in a simulation's scratch
    directory: new, so the tables are made whole, not migrated)."""
    path = pathlib.Path(directory) / f"{name}.sqlite"
    engine = db_engine.create_engine(f"sqlite:///{path}")
    schema.metadata.create_all(engine)
    return engine


class Cell:
    """One cell: its configuration, database, agents and services.

    ``layout``: the node count of each of its hosts (``<name>-h1``...;
    empty for the top, which holds no hosts); ``views``: a function of
    the cell's conf giving its cells service's listing callable (the
    command line's, :mod:`hoststate.cli.cell_views`), or None.
    """

    def __init__(self, name, bus_url, engine, layout=(), node_shape=None,
                 views=None, config_files=None, **cells_options):
        self.name = name
        self.bus_url = bus_url
        self.conf = cell_conf(name, bus_url, config_files, **cells_options)
        self.ctx = hs_context.get_admin_context(engine=engine)
        self.layout = list(layout)
        self.hosts = [f"{name}-h{i}" for i in range(1, len(self.layout) + 1)]
        self.node_shape = node_shape or NODE_SHAPE
        self.views = views
        self.service = None
        self.conductor = None
        self.scheduler = None
        self.agents = []
        self._servers = []

    @property
    def nodes(self):
        return sum(self.layout)

    # --- the services -------------------------------------------------------

    def start(self):
        """The cell's services, agents first (the scheduler's table then
        holds their nodes from its first read)."""
        self.start_agents()
        if self.hosts:
            self.start_scheduler()
        self.start_conductor()
        self.start_cells_service()
        return self

    def start_agents(self):
        tasks = conductor_rpcapi.ComputeTaskAPI(self.conf)
        for host, count in zip(self.hosts, self.layout):
            driver = fake_driver.FakeDriver.uniform(
                count, prefix=f"{host}-node", **self.node_shape)
            agent = agent_mod.ComputeAgent(self.ctx, driver, host=host)
            with indirection.serving_locally():
                agent.start()
            self.agents.append(agent)
            self._servers.append(compute_rpc.make_server(self.conf, agent,
                                                         tasks))
        for server in self._servers:
            server.start()

    def start_conductor(self):
        self.conductor = conductor_service.make_server(
            self.conf, self.ctx.engine, f"{self.name}-conductor",
            scheduler=scheduler_rpcapi.SchedulerAPI(
                self.conf, timeout=self.conf.rpc_response_timeout))
        self.conductor.start()
        return self.conductor

    def start_scheduler(self):
        self.scheduler = rpc_server.build_server(self.conf, self.ctx)
        self.scheduler.start()
        return self.scheduler

    def stop_scheduler(self):
        """Its queue stays: a call sent meanwhile waits for the next one
        (until the call's own timeout: RabbitMQ drops it then)."""
        if self.scheduler is not None:
            _stopped(self.scheduler)
            self.scheduler = None

    def stop_conductor(self):
        """Its queue stays: calls sent meanwhile wait for the next one."""
        if self.conductor is not None:
            _stopped(self.conductor)
            self.conductor = None

    def start_cells_service(self):
        views = self.views(self.conf) if self.views else None
        self.service = cells_service.make_service(self.conf, self.ctx,
                                                  views=views)
        self.service.start()
        return self.service

    def stop_cells_service(self):
        """The cell falls silent towards its parent (its broadcasts stop)
        while its agents, scheduler and conductor go on."""
        if self.service is not None:
            _stopped(self.service)
            self.service = None

    def stop(self):
        """Every service of the cell, side by side (each oslo.messaging
        server may wait out a poll of its listener before it stops)."""
        servers = [s for s in (self.service, self.conductor, self.scheduler)
                   if s is not None] + self._servers
        self.service, self.conductor, self.scheduler = None, None, None
        self._servers = []
        if servers:
            with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
                list(pool.map(_stopped, servers))

    # --- what is read of it -------------------------------------------------

    def instances(self, read_deleted="no"):
        """{uuid: (vm_state, host)} of this cell's database."""
        from hoststate.db import api as db_api
        with db_api.reading(self.ctx) as conn:
            rows = db_api.select_rows(conn, schema.instances,
                                      read_deleted=read_deleted)
        return {row["uuid"]: (row["vm_state"], row["host"]) for row in rows}


def _stopped(server):
    server.stop()
    server.wait()


def stop_all(cells):
    """Stop ``cells``: every cells service's loops first (no loop then
    waits out a call to a cell already stopped), then every service,
    side by side."""
    stop_loops = [cell.service.stop_loops for cell in cells
                  if cell.service is not None]
    if stop_loops:
        with concurrent.futures.ThreadPoolExecutor(len(stop_loops)) as pool:
            list(pool.map(lambda stop: stop(), stop_loops))
    if cells:
        with concurrent.futures.ThreadPoolExecutor(len(cells)) as pool:
            list(pool.map(lambda cell: cell.stop(), cells))


def stop_cells_services(cells):
    """Stop the cells services of ``cells`` side by side (a run's kill:
    their other services go on)."""
    if cells:
        with concurrent.futures.ThreadPoolExecutor(len(cells)) as pool:
            list(pool.map(lambda cell: cell.stop_cells_service(), cells))


def link(parent, child, weight_offset=0.0):
    """Each cell's row naming the other (what ``cell-add`` writes)."""
    with indirection.serving_locally():
        tree.add(parent.ctx, child.name, tree.CHILD, child.bus_url,
                 weight_offset=weight_offset, own_name=parent.name,
                 conf=parent.conf)
        tree.add(child.ctx, parent.name, tree.PARENT, parent.bus_url,
                 own_name=child.name, conf=child.conf)


def children_up(top):
    """{name: up?} of every child, as the top's cells service sees them
    now (one rule: :meth:`Neighbours.is_up`)."""
    neighbours = top.service.neighbours
    return {c.cell.name: neighbours.is_up(c) for c in neighbours.children()}


def wait_until(predicate, what, timeout=30.0, step=0.05):
    """Return ``predicate()``'s first true value, polling; AssertionError
    naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(step)


# --- one bus per cell ---------------------------------------------------------

class BusUnavailable(exception.HoststateError):
    msg_fmt = "simulate --cells: cannot make a bus per cell on %(url)s: " \
              "%(reason)s"


class Buses:
    """A bus per cell of run ``run`` on the broker of ``base_url``:
    ``local://`` gives virtual hosts of the in-process bus
    (``local:///<run>-<cell>``: the local driver keys its exchanges by
    virtual host), ``rabbit://user:pass@host:port/...`` vhosts of that
    broker (``<run>-<cell>``, made by :meth:`create` with ``rabbitmqctl``
    on this machine and deleted by :meth:`delete`, which a run calls
    however it ends)."""

    CTL_TIMEOUT_S = 60

    def __init__(self, base_url, run):
        self.base_url = base_url
        self.run = run
        parts = urllib.parse.urlsplit(base_url)
        self.scheme = parts.scheme
        if self.scheme not in ("local", "rabbit"):
            raise BusUnavailable(url=rpc.shown_url(base_url),
                                 reason="only local:// and rabbit:// are "
                                        "supported")
        self._parts = parts
        self.made = []
        self._ctl = None
        if self.scheme == "rabbit":
            self._ctl = shutil.which("rabbitmqctl") or \
                "/usr/sbin/rabbitmqctl"
            if not os.path.exists(self._ctl):
                raise BusUnavailable(url=rpc.shown_url(base_url),
                                     reason="rabbitmqctl is not installed")

    def vhost(self, cell):
        return f"{self.run}-{cell}"

    def url(self, cell):
        """The bus URL of ``cell`` (its vhost need not exist yet)."""
        if self.scheme == "local":      # urlunsplit would drop the "//"
            return f"local:///{self.vhost(cell)}"
        return urllib.parse.urlunsplit(self._parts._replace(
            path="/" + self.vhost(cell), query="", fragment=""))

    def create(self, cells):
        """The vhosts of ``cells`` (nothing to make on ``local://``);
        BusUnavailable naming rabbitmqctl's complaint when it fails."""
        if self.scheme != "rabbit":
            return
        user = urllib.parse.unquote(self._parts.username or "guest")
        for cell in cells:
            vhost = self.vhost(cell)
            self._run_ctl("add_vhost", vhost)
            self.made.append(vhost)
            self._run_ctl("set_permissions", "-p", vhost, user,
                          ".*", ".*", ".*")

    def delete(self):
        """Every vhost :meth:`create` made (their queues with them);
        problems are returned, not raised: a cleanup goes on."""
        problems = []
        while self.made:
            vhost = self.made.pop()
            try:
                self._run_ctl("delete_vhost", vhost)
            except BusUnavailable as exc:
                problems.append(exc.message)
        return problems

    def _run_ctl(self, *args):
        try:
            done = subprocess.run([self._ctl, *args], capture_output=True,
                                  text=True, timeout=self.CTL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BusUnavailable(url=rpc.shown_url(self.base_url),
                                 reason=f"rabbitmqctl {args[0]}: {exc}")
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise BusUnavailable(
                url=rpc.shown_url(self.base_url),
                reason=f"rabbitmqctl {args[0]} failed: "
                       f"{said[-1] if said else done.returncode}")
