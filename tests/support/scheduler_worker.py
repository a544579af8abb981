"""Code run in child processes by the parallel-scheduler tests: schedulers
placing instances, and compute agents recounting at the same time.

Every worker sets itself up (database engine, HostManager load, agents
started), then waits on a ``multiprocessing`` barrier shared with the
test's process, so none starts its loop before all are ready. A worker
whose setup fails aborts the barrier; one that never arrives (killed) makes
the others' waits time out. Either way every party gets
``threading.BrokenBarrierError`` instead of hanging.
"""
import random
import uuid

from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate import exception
from hoststate.db import engine as db_engine
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod

#: What every node of the parallel tests reports.
INVENTORY = dict(vcpus=16, memory_mb=65536, local_gb=2000)
NODES_PER_HOST = 50
FLAVORS = [(1, 1024, 10), (2, 2048, 20), (1, 512, 5)]


def _context(url):
    return hs_context.get_admin_context(engine=db_engine.create_engine(url))


def capacity_conf(**filter_scheduler):
    """A configuration of its own with the four capacity filters and, from
    ``filter_scheduler``, other ``[filter_scheduler]`` options."""
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("enabled_filters", [
        "ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter"],
        group="filter_scheduler")
    for name, value in filter_scheduler.items():
        options.set_override(name, value, group="filter_scheduler")
    return options


def _conf():
    return capacity_conf(host_subset_size=4)


#: Seconds a party waits at the start barrier for the others (their setup:
#: spawning, imports, a HostManager load or an agent start on 250 nodes).
START_TIMEOUT = 180
#: Seconds between two recount cycles of the agents (a periodic task).
RECOUNT_INTERVAL = 0.5


def driver_for(host):
    return fake_driver.FakeDriver.uniform(NODES_PER_HOST, prefix=f"{host}-n",
                                          **INVENTORY)


def start_agents(ctx, hosts):
    """Compute agents for ``hosts`` (their nodes created or taken over)."""
    agents = []
    for host in hosts:
        agent = agent_mod.ComputeAgent(ctx, driver_for(host), host=host)
        agent.start()
        agents.append(agent)
    return agents


def _set_up_then_wait(start, set_up):
    """``set_up()``'s result, once every party is ready at ``start``. A
    failing setup aborts the barrier, so the others fail now rather than
    at the timeout."""
    try:
        result = set_up()
    except BaseException:
        start.abort()
        raise
    start.wait(START_TIMEOUT)
    return result


def schedule_many(url, count, seed, start):
    """Place ``count`` one-instance requests once every party reached the
    ``start`` barrier; returns (placed uuids, NoValidHost count)."""
    def set_up():
        ctx = _context(url)
        conf = _conf()
        manager = host_manager.HostManager(ctx, conf=conf,
                                           refresh_overlap=0.2)
        return manager_mod.Scheduler(manager.load(), conf=conf, seed=seed)

    scheduler = _set_up_then_wait(start, set_up)
    pick = random.Random(seed)
    placed, refused = [], 0
    for _ in range(count):
        vcpus, memory_mb, root_gb = pick.choice(FLAVORS)
        flavor = flavor_obj.Flavor(
            id=vcpus, flavorid=str(vcpus), name=f"f{vcpus}", vcpus=vcpus,
            memory_mb=memory_mb, root_gb=root_gb, ephemeral_gb=0, swap=0,
            extra_specs={})
        instance_uuid = str(uuid.uuid4())
        spec = request_spec.RequestSpec.from_components(
            instance_uuid, flavor, image={"id": str(uuid.uuid4())},
            project_id="p", user_id="u")
        try:
            scheduler.select_destinations(spec, [instance_uuid],
                                          return_alternates=False)
            placed.append(instance_uuid)
        except exception.NoValidHost:
            refused += 1
    return placed, refused


def sync_until(url, hosts, start, stop):
    """Recount ``hosts``' nodes over and over, from the ``start`` barrier
    until the ``stop`` event is set; returns the number of cycles run."""
    def set_up():
        hs_conf.CONF.set_override("cpu_allocation_ratio", 1.0)
        return start_agents(_context(url), hosts)

    agents = _set_up_then_wait(start, set_up)
    cycles = 0
    while not stop.is_set():
        for agent in agents:
            errors = agent.update_available_resource()
            if errors:
                raise RuntimeError(f"update failed: {errors}")
        cycles += 1
        stop.wait(RECOUNT_INTERVAL)     # a periodic task, not a busy loop
    return cycles
