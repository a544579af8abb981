"""Code run in child processes by the parallel-scheduler tests: schedulers
placing instances, and compute agents recounting at the same time."""
import pathlib
import random
import time
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


def _wait_for(path):
    while not pathlib.Path(path).exists():
        time.sleep(0.01)


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


def schedule_many(url, count, seed, start_file):
    """Place ``count`` one-instance requests; returns (placed uuids,
    NoValidHost count)."""
    ctx = _context(url)
    conf = _conf()
    manager = host_manager.HostManager(ctx, conf=conf, refresh_overlap=0.2)
    scheduler = manager_mod.Scheduler(manager.load(), conf=conf, seed=seed)
    pick = random.Random(seed)
    placed, refused = [], 0
    _wait_for(start_file)
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


def sync_until(url, hosts, start_file, stop_file):
    """Recount ``hosts``' nodes over and over until ``stop_file`` exists;
    returns the number of cycles run."""
    ctx = _context(url)
    hs_conf.CONF.set_override("cpu_allocation_ratio", 1.0)
    agents = start_agents(ctx, hosts)
    _wait_for(start_file)
    cycles = 0
    while not pathlib.Path(stop_file).exists():
        for agent in agents:
            errors = agent.update_available_resource()
            if errors:
                raise RuntimeError(f"update failed: {errors}")
        cycles += 1
        time.sleep(0.5)         # a periodic task, not a busy loop
    return cycles
