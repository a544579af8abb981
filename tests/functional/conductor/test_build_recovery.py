"""Builds change hands by compare-and-swap, and builds nobody will finish
are ended by any conductor's sweep (conductor.build_sweep), on every
database: an agent takes a build once; a cast that no longer stands is
dropped; a build claimed but never cast, a hand-back never rescheduled
and a build spawning on a dead host end ERROR with a fault, their claim
given back; a build spawning on a live host, or not yet old, is left;
two sweeps, or a sweep and the agent, racing for one build act once.

Time is not waited for: the instance's stamps are moved back in SQL.
"""
import datetime
import threading

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import exception
from hoststate.conductor import build_sweep
from hoststate.db import api as db_api
from hoststate.db import instance_faults
from hoststate.db import schema
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import service as service_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import compute_rpc
from hoststate.resource_tracker import fake_driver
from support.conductor import claim_plain

HOST, NODE = "sweep-1", "sweep-1-node1"
LONG_AGO = datetime.datetime(2000, 1, 1)
#: build_sweep.lost_after of the ``conf`` fixture
LOST_S = 130


@pytest.fixture
def conf():
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("rpc_response_timeout", 30)
    # lost after 2 x 30 + service_down_time 60 + report_interval 10 s
    return conf


@pytest.fixture
def agent(ctx):
    """A started agent of one node (its service up)."""
    driver = fake_driver.FakeDriver.uniform(1, prefix=f"{HOST}-node",
                                            vcpus=8, memory_mb=16384,
                                            local_gb=100)
    agent = agent_mod.ComputeAgent(ctx, driver, host=HOST)
    agent.start()
    return agent


@pytest.fixture
def node(agent):
    return agent.tracker(NODE).node


def _row(ctx, instance_uuid):
    table = schema.instances
    with ctx.engine.connect() as conn:
        return conn.execute(sa.select(table).where(
            table.c.uuid == instance_uuid)).one()


def _held(ctx, instance_uuid):
    table = schema.allocations
    with ctx.engine.connect() as conn:
        return conn.execute(sa.select(table.c.compute_node_id).where(
            table.c.instance_uuid == instance_uuid)).scalars().all()


def _used(ctx, node_id):
    node = cn_obj.ComputeNode.get_by_id(ctx, node_id)
    return node.vcpus_used, node.memory_mb_used, node.local_gb_used


def _age(ctx, instance_uuid, seconds, **values):
    """Move the instance's stamps ``seconds`` into the past (and set
    ``values``), as if it had been left that long."""
    table = schema.instances
    with ctx.engine.begin() as conn:
        then = conn.execute(sa.select(db_api.server_utcnow())).scalar() \
            - datetime.timedelta(seconds=seconds)
        conn.execute(sa.update(table).where(table.c.uuid == instance_uuid)
                     .values(created_at=then, updated_at=then, **values))


def _claimed(ctx, node):
    return claim_plain(ctx, node.id, vcpus=2, memory_mb=1024, root_gb=10)


# --- taking a build ------------------------------------------------------------

def test_an_agent_takes_a_build_once(ctx, node):
    instance_uuid = _claimed(ctx, node)
    instance, held = instance_obj.take_build(ctx, instance_uuid, HOST, NODE)
    assert (instance.uuid, instance.task_state) == (instance_uuid,
                                                    states.SPAWNING)
    assert [row["compute_node_id"] for row in held] == [node.id]
    assert instance_obj.take_build(ctx, instance_uuid, HOST, NODE) is None
    # another node's cast of it does not stand either
    assert instance_obj.take_build(ctx, _claimed(ctx, node), HOST,
                                   "sweep-1-node9") is None


def test_finishing_a_build_taken_back_writes_nothing(ctx, node):
    instance_uuid = _claimed(ctx, node)
    instance, _ = instance_obj.take_build(ctx, instance_uuid, HOST, NODE)
    _age(ctx, instance_uuid, 0, task_state=states.SCHEDULING)
    instance.vm_state = states.ACTIVE
    instance.task_state = None
    with pytest.raises(exception.UnexpectedInstanceState) as raised:
        instance.save(expected_vm_state=[states.BUILDING],
                      expected_task_state=[states.SPAWNING])
    assert str(raised.value) == (
        f"instance {instance_uuid} is no longer vm_state in ['building'] and "
        f"task_state in ['spawning']; nothing written")
    row = _row(ctx, instance_uuid)
    assert (row.vm_state, row.task_state) == ("building", "scheduling")


# --- the sweep ---------------------------------------------------------------------

def test_a_build_claimed_but_never_cast_ends_in_error(ctx, conf, node):
    before = _used(ctx, node.id)
    instance_uuid = _claimed(ctx, node)
    assert _used(ctx, node.id) != before
    sweep = build_sweep.BuildSweep(conf, ctx.engine)
    assert build_sweep.lost_after(conf) == LOST_S
    _age(ctx, instance_uuid, LOST_S - 10)
    assert sweep.sweep() == []              # not lost yet
    _age(ctx, instance_uuid, LOST_S + 1)

    assert sweep.sweep() == [instance_uuid]

    row = _row(ctx, instance_uuid)
    assert (row.vm_state, row.task_state, row.host, row.node) == (
        "error", None, None, None)
    assert _held(ctx, instance_uuid) == []
    assert _used(ctx, node.id) == before
    assert instance_faults.latest_reasons(ctx, [instance_uuid]) == {
        instance_uuid: [f"{HOST}/{NODE}: no agent took the build within "
                        f"{LOST_S} s (its cast was lost)"]}
    assert sweep.sweep() == []
    # the agent's cast, arriving now, no longer stands
    assert instance_obj.take_build(ctx, instance_uuid, HOST, NODE) is None


class LostConductor:
    """The conductor's client of an agent whose build_failed reaches a
    conductor that dies with it: what was sent, and nothing done."""

    def __init__(self):
        self.sent = []

    def build_failed(self, context, instance_uuid, *args):
        self.sent.append(instance_uuid)


def test_a_hand_back_never_rescheduled_ends_in_error(ctx, conf, agent,
                                                      node):
    before = _used(ctx, node.id)
    instance_uuid = _claimed(ctx, node)
    agent.driver.fail_builds(NODE)
    lost = LostConductor()
    endpoint = compute_rpc.ComputeEndpoint(agent, lost)
    endpoint.build_and_run_instance(ctx, instance_uuid, NODE,
                                    request_spec=None, alternates=[])
    assert lost.sent == [instance_uuid]
    row = _row(ctx, instance_uuid)
    assert (row.vm_state, row.task_state, row.host) == (
        "building", "scheduling", None)
    assert _held(ctx, instance_uuid) == []
    assert _used(ctx, node.id) == before
    _age(ctx, instance_uuid, LOST_S + 1)

    assert build_sweep.BuildSweep(conf, ctx.engine).sweep() == [
        instance_uuid]
    assert instance_faults.latest_reasons(ctx, [instance_uuid]) == {
        instance_uuid: [f"the failed build was not rescheduled within "
                        f"{LOST_S} s (its conductor was lost)"]}
    assert _row(ctx, instance_uuid).vm_state == "error"
    assert _used(ctx, node.id) == before


def test_a_build_spawning_on_a_live_host_is_left(ctx, conf, node):
    instance_uuid = _claimed(ctx, node)
    instance_obj.take_build(ctx, instance_uuid, HOST, NODE)
    _age(ctx, instance_uuid, 3600)           # a slow hypervisor
    assert build_sweep.BuildSweep(conf, ctx.engine).sweep() == []
    assert _row(ctx, instance_uuid).task_state == "spawning"
    assert _held(ctx, instance_uuid) == [node.id]


def test_a_build_spawning_on_a_dead_host_ends_in_error(ctx, conf, node):
    before = _used(ctx, node.id)
    instance_uuid = _claimed(ctx, node)
    instance_obj.take_build(ctx, instance_uuid, HOST, NODE)
    service = service_obj.Service.get_by_compute_host(ctx, HOST)
    with ctx.engine.begin() as conn:      # its last heartbeat, an hour ago
        conn.execute(sa.update(schema.services)
                     .where(schema.services.c.id == service.id)
                     .values(created_at=LONG_AGO, updated_at=LONG_AGO,
                             last_seen_up=LONG_AGO))
    sweep = build_sweep.BuildSweep(conf, ctx.engine)
    _age(ctx, instance_uuid, LOST_S - 10)
    assert sweep.sweep() == []              # not lost yet
    _age(ctx, instance_uuid, LOST_S + 1)
    # found down once: a live watch of the conductor that cast it gets a
    # sweep's time to reschedule it first
    assert sweep.sweep() == []
    assert _row(ctx, instance_uuid).task_state == "spawning"

    assert sweep.sweep() == [instance_uuid]
    sweep.stop()
    assert _used(ctx, node.id) == before
    assert instance_faults.latest_reasons(ctx, [instance_uuid]) == {
        instance_uuid: [f"{HOST}/{NODE}: compute service down while "
                        f"building"]}


def test_two_sweeps_at_once_end_a_build_once(ctx, conf, node):
    before = _used(ctx, node.id)
    instance_uuid = _claimed(ctx, node)
    _age(ctx, instance_uuid, LOST_S + 1)
    sweeps = [build_sweep.BuildSweep(conf, ctx.engine) for _ in range(2)]
    found = [sweep._candidates() for sweep in sweeps]   # both see it
    assert [[r.uuid for r in rows] for rows in found] == [[instance_uuid]] * 2
    barrier, ended = threading.Barrier(2), []

    def end(sweep, rows):
        barrier.wait()
        ended.append(sweep._end(rows[0], "lost"))

    workers = [threading.Thread(target=end, args=pair)
               for pair in zip(sweeps, found)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(ended) == [False, True]
    assert _used(ctx, node.id) == before
    table = schema.instance_faults
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)
                            ).scalar() == 1


def test_a_sweep_and_the_agent_racing_for_a_build_act_once(ctx, conf, node):
    instance_uuid = _claimed(ctx, node)
    _age(ctx, instance_uuid, LOST_S + 1)
    sweep = build_sweep.BuildSweep(conf, ctx.engine)
    [row] = sweep._candidates()
    barrier, results = threading.Barrier(2), {}

    def take():
        barrier.wait()
        results["agent"] = instance_obj.take_build(ctx, instance_uuid, HOST,
                                                   NODE) is not None

    def end():
        barrier.wait()
        results["sweep"] = sweep._end(row, "lost")

    workers = [threading.Thread(target=take), threading.Thread(target=end)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(results.values()) == [False, True]
    stored = _row(ctx, instance_uuid)
    if results["agent"]:
        assert (stored.vm_state, stored.task_state) == ("building",
                                                        "spawning")
        assert _held(ctx, instance_uuid) == [node.id]
    else:
        assert (stored.vm_state, stored.host) == ("error", None)
        assert _held(ctx, instance_uuid) == []
