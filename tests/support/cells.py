"""Whole cells in one process, for the cells service's tests and
benchmarks: each cell with a database of its own (``IsolatedDatabase``)
and a bus of its own (a vhost of the session's RabbitMQ, or a virtual
host of the in-process bus), running its real services: a scheduler, a
conductor, compute agents on fake drivers (with the database) and the
cells service. Only the hypervisor is fake.

    top = InProcessCell("api", bus_url("api"), backend, tmp_path)
    child = InProcessCell("c1", bus_url("c1"), backend, tmp_path,
                          hosts=2)
    link(top, child)            # both cells tables, as cell-add does
    for cell in (top, child): cell.start()
"""
import concurrent.futures
import time

from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import context as hs_context
from hoststate.cells import service as cells_service
from hoststate.cells import tree
from hoststate.cli import cell_views
from hoststate.conductor import rpcapi as conductor_rpcapi
from hoststate.conductor import service as conductor_service
from hoststate.objects import indirection
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import compute_rpc
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import rpc_server
from hoststate.scheduler import rpcapi as scheduler_rpcapi
from support.databases import IsolatedDatabase

#: each fake node: 8 vCPUs, 16 GiB, 200 GiB
NODE_SHAPE = dict(vcpus=8, memory_mb=16384, local_gb=200)


def cell_conf(name, bus_url, **cells_options):
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", bus_url)
    conf.set_override("rpc_response_timeout", 20)
    conf.set_override("host", f"{name}-services")
    options = dict(enable=True, name=name, broadcast_interval=1,
                   instance_sync_interval=1, call_timeout=10)
    options.update(cells_options)
    for option, value in options.items():
        conf.set_override(option, value, group="cells")
    return conf


class InProcessCell:
    def __init__(self, name, bus_url, backend, tmp_path, hosts=0,
                 nodes_per_host=1, node_shape=None, **cells_options):
        self.name = name
        self.bus_url = bus_url
        self.conf = cell_conf(name, bus_url, **cells_options)
        self.database = IsolatedDatabase(backend, tmp_path, with_schema=True)
        self.ctx = hs_context.get_admin_context(engine=self.database.engine)
        self.hosts = [f"{name}-h{i}" for i in range(1, hosts + 1)]
        self.nodes_per_host = nodes_per_host
        self.node_shape = node_shape or NODE_SHAPE
        self.service = None
        self.conductor = None
        self.scheduler = None
        self.agents = []
        self._servers = []

    # --- the services -------------------------------------------------------

    def start(self):
        """The cell's services, agents first (the scheduler's table then
        holds their nodes from its first read)."""
        tasks = conductor_rpcapi.ComputeTaskAPI(self.conf)
        for host in self.hosts:
            driver = fake_driver.FakeDriver.uniform(
                self.nodes_per_host, prefix=f"{host}-node",
                **self.node_shape)
            agent = agent_mod.ComputeAgent(self.ctx, driver, host=host)
            with indirection.serving_locally():
                agent.start()
            self.agents.append(agent)
            self._servers.append(compute_rpc.make_server(self.conf, agent,
                                                         tasks))
        for server in self._servers:
            server.start()
        if self.hosts:
            self.start_scheduler()
        self.start_conductor()
        self.start_cells_service()
        return self

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
            self.conductor.stop()
            self.conductor.wait()
            self.conductor = None

    def start_cells_service(self):
        self.service = cells_service.make_service(
            self.conf, self.ctx, views=cell_views.rows_for(self.conf))
        self.service.start()
        return self.service

    def stop_cells_service(self):
        if self.service is not None:
            self.service.stop()
            self.service.wait()
            self.service = None

    def stop(self):
        """Every service of the cell, side by side (each oslo.messaging
        server may wait out a poll of its listener before it stops)."""
        self.stop_cells_service()
        servers = [s for s in (self.conductor, self.scheduler)
                   if s is not None] + self._servers
        self.conductor, self.scheduler, self._servers = None, None, []
        if servers:
            with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
                list(pool.map(_stopped, servers))

    def drop(self):
        self.database.drop()

    # --- what the tests read ------------------------------------------------

    def instances(self, read_deleted="no"):
        """{uuid: (vm_state, host)} of this cell's database."""
        from hoststate.db import api as db_api
        from hoststate.db import schema
        with db_api.reading(self.ctx) as conn:
            rows = db_api.select_rows(conn, schema.instances,
                                      read_deleted=read_deleted)
        return {row["uuid"]: (row["vm_state"], row["host"]) for row in rows}


def _stopped(server):
    server.stop()
    server.wait()


def stop_all(cells):
    """Stop ``cells`` side by side."""
    if cells:
        with concurrent.futures.ThreadPoolExecutor(len(cells)) as pool:
            list(pool.map(lambda cell: cell.stop(), cells))


def link(parent, child, weight_offset=0.0):
    """Each cell's row naming the other (what ``cell-add`` writes)."""
    with indirection.serving_locally():
        tree.add(parent.ctx, child.name, tree.CHILD, child.bus_url,
                 weight_offset=weight_offset, own_name=parent.name,
                 conf=parent.conf)
        tree.add(child.ctx, parent.name, tree.PARENT, parent.bus_url,
                 own_name=child.name, conf=child.conf)


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
