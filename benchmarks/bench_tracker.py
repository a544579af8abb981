"""Resource tracker costs: one claim, and a thousand-node periodic update.

CI runs each once (``--benchmark-disable``); run
``pytest benchmarks/bench_tracker.py --benchmark-enable`` for timings.
"""
import uuid

import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import fields as hs_fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.db import schema
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from run_mode import full_mode

HOST = "bench-host"


def _flavor():
    return flavor_obj.Flavor(id=1, flavorid="f1", name="small", vcpus=1,
                             memory_mb=512, root_gb=1, ephemeral_gb=0,
                             swap=0, extra_specs={})


@pytest.fixture
def no_reserve():
    for name in ("reserved_host_memory_mb", "reserved_host_disk_mb",
                 "reserved_host_cpus"):
        hs_conf.CONF.set_override(name, 0)
    yield
    hs_conf.CONF.clear_override("reserved_host_memory_mb")
    hs_conf.CONF.clear_override("reserved_host_disk_mb")
    hs_conf.CONF.clear_override("reserved_host_cpus")


def test_instance_claim_and_abort_on_a_node_with_50_instances(
        benchmark, ctx, no_reserve):
    driver = fake_driver.FakeDriver({"node": fake_driver.NodeInventory(
        vcpus=96, memory_mb=512 * 1024, local_gb=4000)})
    agent = agent_mod.ComputeAgent(ctx, driver, host=HOST)
    agent.start()
    tracker = agent.tracker("node")
    for _ in range(50):
        with tracker.instance_claim(_instance(ctx)):
            pass
    instance = _instance(ctx)

    def claim_and_abort():
        with tracker.instance_claim(instance):
            pass
        tracker.abort_instance_claim(instance)

    benchmark(claim_and_abort)
    assert tracker.node.vcpus_used == 50


def _instance(ctx):
    instance = instance_obj.Instance(
        ctx, uuid=str(uuid.uuid4()), project_id="p", user_id="u",
        vm_state=states.ACTIVE, task_state=None, image_ref="img",
        flavor=_flavor(), instance_type_id=1)
    instance.create()
    return instance


NODES, PER_NODE, CHANGED = 1000, 50, 10
#: nodes in the test run (run_mode): the same check, a fifth of the work
SHORT_NODES = 200


def _insert_instances(ctx, nodenames):
    text = hs_fields.dump_json(_flavor())
    rows = [dict(uuid=str(uuid.uuid4()), host=HOST, node=name,
                 project_id=f"p{n % 7}", vm_state=states.ACTIVE,
                 image_ref="img", instance_type_id=1, flavor=text, deleted=0)
            for name in nodenames for n in range(PER_NODE)]
    with ctx.engine.begin() as conn:
        conn.execute(sa.insert(schema.instances), rows)


def test_periodic_update_of_1000_nodes_with_50_instances_each(
        benchmark, ctx, database, no_reserve, monkeypatch, request):
    if database.backend == "mysql":
        pytest.skip("the issue measures SQLite and PostgreSQL")
    full = full_mode(request.config)
    driver = fake_driver.FakeDriver.uniform(
        NODES if full else SHORT_NODES, prefix="node", vcpus=64, memory_mb=256 * 1024, local_gb=2000)
    nodenames = driver.get_available_nodes()
    _insert_instances(ctx, nodenames)
    agent = agent_mod.ComputeAgent(ctx, driver, host=HOST)
    assert agent.start() == {}
    writes = []
    real_save = cn_obj.ComputeNode.save
    monkeypatch.setattr(cn_obj.ComputeNode, "save",
                        lambda self: (writes.append(self.id), real_save(self)))
    round_number = [0]

    def change_some_nodes():
        round_number[0] += 1
        writes.clear()
        for name in nodenames[:CHANGED]:
            driver.set_inventory(name, vcpus=64 + round_number[0])

    benchmark.pedantic(agent.update_available_resource,
                       setup=change_some_nodes, rounds=3 if full else 1,
                       iterations=1)
    benchmark.extra_info["nodes_written"] = len(writes)
    assert len(writes) == CHANGED
    node = cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, nodenames[-1])
    assert (node.vcpus_used, node.memory_mb_used) == (PER_NODE, PER_NODE * 512)
