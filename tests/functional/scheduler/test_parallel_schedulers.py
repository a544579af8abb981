"""Eight scheduler processes place 2,000 instances on 100 nodes while
compute agents recount those nodes: nothing is over-committed, and each
node's stored usage is exactly its placed instances plus its reserve.

Every worker is set up and waiting at a barrier (the test's process is a
party too) before any of them starts, so the schedulers and the recounts
really run at the same time. At the end the allocation ledger must hold
every invariant (support.ledger), with exactly one row per placed
instance, on the node the instance row names.

PostgreSQL and MariaDB only: this is about concurrent writers on a
production database (SQLite serialises writers by locking the file).
"""
import multiprocessing
import threading

import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.db import schema
from support import ledger
from support import scheduler_worker as worker

SCHEDULERS = 8
REQUESTS = 2_000
HOSTS = [f"host{i:02d}" for i in range(2)]           # 2 x 50 = 100 nodes
NODES = len(HOSTS) * worker.NODES_PER_HOST


@pytest.fixture
def cpu_ratio_one():
    hs_conf.CONF.set_override("cpu_allocation_ratio", 1.0)
    yield
    hs_conf.CONF.clear_override("cpu_allocation_ratio")


def _run(database):
    """Run the schedulers and the recounting agents together; returns
    (each scheduler's (placed, refused), each agent process's cycles)."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as shared, spawn.Pool(SCHEDULERS + 2) as pool:
        # one party per worker (the pool has exactly one process for each)
        # and the test's own process
        start = shared.Barrier(SCHEDULERS + 2 + 1)
        stop = shared.Event()
        syncers = [pool.apply_async(worker.sync_until, (
            database.url, HOSTS[i::2], start, stop)) for i in range(2)]
        schedulers = [pool.apply_async(worker.schedule_many, (
            database.url, REQUESTS // SCHEDULERS, seed, start))
            for seed in range(SCHEDULERS)]
        _wait_for_every_worker(start, syncers + schedulers)
        try:
            results = [s.get(timeout=900) for s in schedulers]
        finally:
            stop.set()
        cycles = [s.get(timeout=300) for s in syncers]
    return results, cycles


def _wait_for_every_worker(start, running):
    """Pass the start barrier with every worker, or fail with the error of
    the worker whose setup broke it."""
    try:
        start.wait(worker.START_TIMEOUT)
    except threading.BrokenBarrierError:
        errors = []
        for result in running:
            result.wait(60)
            if result.ready() and not result.successful():
                try:
                    result.get()
                except threading.BrokenBarrierError:
                    continue
                except Exception as exc:
                    errors.append(repr(exc))
        pytest.fail(f"a worker never reached the start barrier: {errors}")


@pytest.mark.slow
@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_parallel_schedulers_and_trackers_never_over_commit(
        ctx, database, cpu_ratio_one):
    agents = worker.start_agents(ctx, HOSTS)
    results, cycles = _run(database)
    placed = [u for uuids, _ in results for u in uuids]
    refused = sum(r for _, r in results)
    assert len(placed) + refused == REQUESTS
    assert min(cycles) >= 1                 # the trackers really ran
    for agent in agents:                    # and once more, after
        assert agent.update_available_resource() == {}
    nodes, by_node = _stored(ctx)
    assert len(nodes) == NODES
    assert sum(by_node_count for by_node_count, _ in by_node.values()) == \
        len(placed)
    reserved = (hs_conf.CONF.reserved_host_cpus,
                hs_conf.CONF.reserved_host_memory_mb)
    for name, node in nodes.items():
        count, (vcpus, memory_mb) = by_node.get(name, (0, (0, 0)))
        # stored usage = reserve + the instances placed there, exactly
        assert (node.vcpus_used, node.memory_mb_used) == \
            (reserved[0] + vcpus, reserved[1] + memory_mb), name
        assert node.vcpus_used <= node.vcpus * 1.0
        assert node.memory_mb_used <= node.memory_mb
    # 100 nodes x 16 vCPUs = 1,600 vCPUs for ~2,700 asked: the cloud
    # filled up, so the refusals are real
    assert refused > 0
    assert ledger.violations(ctx.engine, hs_conf.CONF) == []
    rows, placed_on = _ledger_and_placements(ctx, placed)
    assert len(rows) == len(placed)
    # one row per placed instance, its own consumer, on its node
    assert set(rows) == set(placed_on)


def _ledger_and_placements(ctx, placed):
    """([(consumer, instance, node id)] of the ledger, the same triples
    the placed instances' rows say (node id from the node they name))."""
    rows_t, inst_t, nodes_t = (schema.allocations, schema.instances,
                               schema.compute_nodes)
    with ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(
            rows_t.c.consumer_uuid, rows_t.c.instance_uuid,
            rows_t.c.compute_node_id)).all()
        named = conn.execute(
            sa.select(inst_t.c.uuid, nodes_t.c.id)
            .join(nodes_t, sa.and_(nodes_t.c.host == inst_t.c.host,
                                   nodes_t.c.hypervisor_hostname ==
                                   inst_t.c.node,
                                   nodes_t.c.deleted == 0))
            .where(inst_t.c.deleted == 0)).all()
    node_of = dict(named)
    return ([tuple(r) for r in rows],
            [(uuid, uuid, node_of.get(uuid)) for uuid in placed])


def _stored(ctx):
    nodes_t, inst_t = schema.compute_nodes, schema.instances
    with ctx.engine.connect() as conn:
        nodes = {r.hypervisor_hostname: r for r in conn.execute(
            sa.select(nodes_t).where(nodes_t.c.deleted == 0))}
        sums = conn.execute(
            sa.select(inst_t.c.node, sa.func.count(),
                      sa.func.sum(inst_t.c.vcpus),
                      sa.func.sum(inst_t.c.memory_mb))
            .where(inst_t.c.deleted == 0, inst_t.c.node.isnot(None))
            .group_by(inst_t.c.node)).all()
    return nodes, {node: (int(n), (int(v), int(m)))
                   for node, n, v, m in sums}
