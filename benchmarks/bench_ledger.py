"""The ledger's steady-state recount: one compute agent's periodic cycle
over 1,000 nodes holding 50 instances each, every node's counters already
equal to reserved + its ledger rows, so the cycle checks everything and
writes nothing.

Goal: <= 1 s per cycle on PostgreSQL for 1,000 nodes x 50 instances.

CI runs it once with 50 nodes x 10 instances (``--benchmark-disable``);
run ``pytest benchmarks/bench_ledger.py --benchmark-enable`` for the full
figure.

The cloud is built in bulk, not claim by claim: ``agent.start()`` creates
the nodes, then the instances, their ledger rows (amounts by the claim's
own rule, ``Consumption.of``) and the node counters and stats they imply
are written with multi-row SQL. Were the build inconsistent, the timed
cycle would repair something, and the checks after it would fail.
"""
import json
import time
import uuid

import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.conf import node_defaults
from hoststate.db import api as db_api
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.objects import fields as hs_fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from support.ledger import violations
from run_mode import full_mode

HOST = "ledger-host"
INVENTORY = dict(vcpus=128, memory_mb=512 * 1024, local_gb=4000)
FLAVORS = [
    flavor_obj.Flavor(id=1, flavorid="s", name="small", vcpus=1,
                      memory_mb=1024, root_gb=10),
    flavor_obj.Flavor(id=2, flavorid="m", name="medium", vcpus=2,
                      memory_mb=4096, root_gb=20, ephemeral_gb=10),
    # swap 512 MiB: 10.5 GiB, held as 11
    flavor_obj.Flavor(id=3, flavorid="w", name="swap", vcpus=1,
                      memory_mb=2048, root_gb=10, swap=512),
]
#: every BOOT_FROM_VOLUME-th instance has no image: its root disk is not
#: counted
BOOT_FROM_VOLUME = 10


def _full(request):
    """Full sizes when timings are wanted (``--benchmark-enable``)."""
    return full_mode(request.config)


class _Placed:
    """One instance of the bulk build, as node_stats reads one."""

    def __init__(self, index):
        self.uuid = str(uuid.uuid4())
        self.flavor = FLAVORS[index % len(FLAVORS)]
        self.image_ref = None if index % BOOT_FROM_VOLUME == 0 else "image"
        self.vm_state = states.ACTIVE
        self.project_id = f"p{index % 7}"

    def obj_get(self, name, default=None):
        value = getattr(self, name, None)
        return default if value is None else value

    def consumption(self):
        return cons.Consumption.of(self.flavor,
                                   is_bfv=self.image_ref is None)


def _instance_row(placed, nodename, node_id, texts):
    return dict(uuid=placed.uuid, host=HOST, node=nodename,
                compute_id=node_id, launched_on=HOST,
                vm_state=placed.vm_state, project_id=placed.project_id,
                user_id="u", image_ref=placed.image_ref,
                instance_type_id=placed.flavor.id,
                flavor=texts[placed.flavor.id],
                vcpus=placed.flavor.vcpus, memory_mb=placed.flavor.memory_mb,
                root_gb=placed.flavor.root_gb,
                ephemeral_gb=placed.flavor.ephemeral_gb, deleted=0,
                created_at=db_api.utcnow())


def _node_values(one_node, reserved, stored_stats):
    """Counters and stats of a node holding ``one_node``'s instances: the
    same on every node, which all hold the same mix."""
    held = [p.consumption() for p in one_node]
    used = dict(
        vcpus_used=reserved.reserved_vcpus + sum(h.vcpus for h in held),
        memory_mb_used=reserved.reserved_memory_mb +
        sum(h.memory_mb for h in held),
        local_gb_used=reserved.reserved_disk_gb +
        sum(h.disk_gb for h in held))
    stats = node_stats.instance_stats(one_node)
    stats["failed_builds"] = stored_stats.get("failed_builds", "0")
    return dict(used, free_ram_mb=INVENTORY["memory_mb"] -
                used["memory_mb_used"],
                free_disk_gb=INVENTORY["local_gb"] - used["local_gb_used"],
                running_vms=len(one_node),
                current_workload=int(stats["io_workload"]),
                stats=json.dumps(stats, sort_keys=True))


def _build_cloud(ctx, per_node):
    """Instances, ledger rows and node counters for every node of HOST, in
    one transaction; returns the number of instances."""
    texts = {f.id: hs_fields.dump_json(f) for f in FLAVORS}
    nodes_t = schema.compute_nodes
    with ctx.engine.begin() as conn:
        node_ids = dict(conn.execute(
            sa.select(nodes_t.c.hypervisor_hostname, nodes_t.c.id)
            .where(nodes_t.c.host == HOST, nodes_t.c.deleted == 0)).all())
        stored_stats = json.loads(conn.execute(
            sa.select(nodes_t.c.stats).where(nodes_t.c.host == HOST)
            .limit(1)).scalar_one() or "{}")
        instances, rows, one_node = [], [], None
        for nodename, node_id in node_ids.items():
            placed = [_Placed(i) for i in range(per_node)]
            one_node = placed
            instances += [_instance_row(p, nodename, node_id, texts)
                          for p in placed]
            rows += [p.consumption().ledger_row(p.uuid, p.uuid, node_id)
                     for p in placed]
        conn.execute(sa.insert(schema.instances), instances)
        db_ledger.insert(conn, rows)
        reserved = node_defaults.resolve(hs_conf.CONF)
        conn.execute(sa.update(nodes_t).where(nodes_t.c.host == HOST).values(
            generation=nodes_t.c.generation + 1,
            updated_at=db_api.utcnow(),
            **_node_values(one_node, reserved, stored_stats)))
    return len(instances)


def _stored(ctx):
    """Everything a write would change: each node's generation, updated_at
    and counters, and every ledger row."""
    nodes_t, ledger_t = schema.compute_nodes, schema.allocations
    with ctx.engine.connect() as conn:
        nodes = conn.execute(sa.select(
            nodes_t.c.id, nodes_t.c.generation, nodes_t.c.updated_at,
            nodes_t.c.vcpus_used, nodes_t.c.memory_mb_used,
            nodes_t.c.local_gb_used, nodes_t.c.stats)
            .order_by(nodes_t.c.id)).all()
        rows = conn.execute(sa.select(ledger_t).order_by(ledger_t.c.id)).all()
    return nodes, rows


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_steady_state_recount_of_1000_nodes_with_50_instances(
        benchmark, ctx, request):
    nodes, per_node = (1_000, 50) if _full(request) else (50, 10)
    driver = fake_driver.FakeDriver.uniform(nodes, prefix="ledger-n",
                                            **INVENTORY)
    agent = agent_mod.ComputeAgent(ctx, driver, host=HOST)
    assert agent.start() == {}
    instances = _build_cloud(ctx, per_node)
    with ctx.engine.begin() as conn:    # planner statistics after the load
        conn.execute(sa.text("ANALYZE"))
    before = _stored(ctx)
    seconds = []

    def one_cycle():
        started = time.perf_counter()
        errors = agent.update_available_resource()
        seconds.append(time.perf_counter() - started)
        return errors

    errors = benchmark.pedantic(one_cycle, rounds=3 if _full(request) else 1,
                                iterations=1)
    benchmark.extra_info.update(nodes=nodes, instances=instances,
                                seconds=[round(s, 3) for s in seconds])

    assert errors == {}
    assert instances == nodes * per_node
    assert len(before[1]) == instances
    assert violations(ctx.engine, hs_conf.CONF) == []
    # nothing to repair: not one node or ledger row written
    assert _stored(ctx) == before
