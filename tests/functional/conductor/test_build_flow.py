"""The conductor's build flow in one process on the in-process bus: a
scheduler, a conductor and three agents (one node each); builds end
ACTIVE, a failing node's build is rescheduled on an alternate with its
claim given back, and a build no node can make ends ERROR with the
reasons of every attempt."""
import threading
import time
import uuid

import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import exception
from hoststate import rpc
from hoststate.conductor import rpcapi
from hoststate.conductor import service as conductor_service
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import allocation as allocation_obj
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import compute_rpc
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as scheduler_mod
from hoststate.objects import indirection
from support.conductor import agent_context
from support.specs import plain_spec

HOSTS = ("build-1", "build-2", "build-3")
WAIT_S = 30


class InProcessScheduler:
    """The scheduler service's client, in process."""

    def __init__(self, ctx, conf):
        self.ctx, self.conf, self.scheduler = ctx, conf, None

    def select_destinations(self, context, spec, instance_uuids,
                            return_alternates=True):
        if self.scheduler is None:      # the agents have started by now
            hosts = host_manager.HostManager(self.ctx, conf=self.conf)
            self.scheduler = scheduler_mod.Scheduler(hosts.load(),
                                                     conf=self.conf, seed=1)
        return self.scheduler.select_destinations(
            spec, instance_uuids=instance_uuids,
            return_alternates=return_alternates)


@pytest.fixture(params=["agents with the database",
                        "agents through the conductor"])
def cloud(request, ctx):
    """The agents write with the database, or through the conductor (the
    test's own reads are then made with the database: reading())."""
    remote = request.param == "agents through the conductor"
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("rpc_response_timeout", 20)
    tasks = rpcapi.ComputeTaskAPI(conf)
    servers, drivers = [conductor_service.make_server(
        conf, ctx.engine, "conductor-1",
        scheduler=InProcessScheduler(ctx, conf))], {}
    servers[0].start()
    if remote:
        rpcapi.use_conductor(conf)
    for host in HOSTS:
        # build-3 has the least memory: the scheduler ranks it last
        driver = drivers[host] = fake_driver.FakeDriver.uniform(
            1, prefix=f"{host}-node", vcpus=4, local_gb=100,
            memory_mb=6144 if host == "build-3" else 8192)
        agent = agent_mod.ComputeAgent(agent_context(host) if remote
                                       else ctx, driver, host=host)
        agent.start()
        servers.append(compute_rpc.make_server(conf, agent, tasks))
        servers[-1].start()
    yield tasks, drivers
    indirection.set_api(None)
    for server in servers:
        server.stop()
        server.wait()
    rpc.cleanup()
    # the conductor's build watch stopped with its server
    assert [t.name for t in threading.enumerate()
            if t.name == "build-watch"] == []


def _settled(tasks, ctx, uuids):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        states = tasks.instance_states(ctx, uuids)
        if all(s["vm_state"] in ("active", "error") for s in states.values()):
            return states
        time.sleep(0.05)
    pytest.fail(f"builds not settled within {WAIT_S} s: {states}")


def _used(ctx):
    with indirection.serving_locally():
        return {n.host: (n.vcpus_used, n.memory_mb_used)
                for n in cn_obj.ComputeNodeList.get_all(ctx)}


def _ledger_hosts(ctx, instance_uuid):
    with indirection.serving_locally():
        nodes = {n.id: n.host for n in cn_obj.ComputeNodeList.get_all(ctx)}
        return sorted(nodes[a.compute_node_id] for a in
                      allocation_obj.AllocationList.get_by_instance(
                          ctx, instance_uuid))


def test_builds_end_active_where_the_scheduler_placed_them(cloud, ctx):
    tasks, drivers = cloud
    uuids = [str(uuid.uuid4()) for _ in range(3)]
    cast = tasks.schedule_and_build_instances(ctx, plain_spec(vcpus=2),
                                              uuids)
    states = _settled(tasks, ctx, uuids)
    assert {u: (s["vm_state"], s["host"]) for u, s in states.items()} == {
        u: ("active", host) for u, host, _ in cast}
    assert sorted(u for d in drivers.values() for u, _ in d.spawned) == \
        sorted(uuids)
    assert sum(vcpus for vcpus, _ in _used(ctx).values()) == 6


def test_a_failed_build_is_rescheduled_on_an_alternate(cloud, ctx):
    tasks, drivers = cloud
    # the two nodes ranked first fail their builds: the build is tried on
    # one, then the other (alternates), and ends on build-3
    for host in HOSTS[:2]:
        drivers[host].fail_builds(f"{host}-node1")
    instance_uuid = str(uuid.uuid4())
    tasks.schedule_and_build_instances(ctx, plain_spec(vcpus=3),
                                       [instance_uuid])
    state = _settled(tasks, ctx, [instance_uuid])[instance_uuid]
    assert (state["vm_state"], state["host"]) == ("active", "build-3")
    assert sorted(failed for host in HOSTS[:2]
                  for failed in drivers[host].failed_spawns) == sorted(
        (instance_uuid, f"{host}-node1") for host in HOSTS[:2])
    # the failed nodes hold nothing of it; the one that built it does
    assert _ledger_hosts(ctx, instance_uuid) == ["build-3"]


def test_a_build_no_node_can_make_ends_in_error_with_every_reason(cloud,
                                                                   ctx):
    tasks, drivers = cloud
    for host in HOSTS:
        drivers[host].fail_builds(f"{host}-node1")
    before = _used(ctx)
    instance_uuid = str(uuid.uuid4())
    tasks.schedule_and_build_instances(ctx, plain_spec(vcpus=1),
                                       [instance_uuid])
    state = _settled(tasks, ctx, [instance_uuid])[instance_uuid]
    assert state["vm_state"] == "error"
    assert sorted(r.split(":")[0] for r in state["reasons"]) == sorted(
        f"{h}/{h}-node1" for h in HOSTS)
    assert _used(ctx) == before
    assert _ledger_hosts(ctx, instance_uuid) == []


def test_no_valid_host_reaches_the_caller_with_nothing_claimed(cloud, ctx):
    tasks, _ = cloud
    before = _used(ctx)
    with pytest.raises(exception.NoValidHost):
        tasks.schedule_and_build_instances(ctx, plain_spec(vcpus=64),
                                           [str(uuid.uuid4())])
    assert _used(ctx) == before


def test_delete_goes_to_the_agent_and_gives_the_usage_back(cloud, ctx):
    tasks, _ = cloud
    before = _used(ctx)
    instance_uuid = str(uuid.uuid4())
    tasks.schedule_and_build_instances(ctx, plain_spec(vcpus=2),
                                       [instance_uuid])
    _settled(tasks, ctx, [instance_uuid])
    assert tasks.delete_instance(ctx, instance_uuid).endswith("-node1")
    assert _used(ctx) == before
    assert tasks.instance_states(ctx, [instance_uuid])[instance_uuid][
        "vm_state"] == "deleted"
