"""The tracker's side of the ledger: every claim is a row, every way of
giving back returns exactly the row, and the recount checks and repairs.

Each test ends with the ledger's invariants (``support.ledger``).
"""
import logging

import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.db import schema
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from support import ledger as ledger_checks

from .conftest import HOST, NODE, flavor, make_agent, make_driver, make_instance

GPU = dict(vendor_id="10de", product_id="20b5", dev_type="type-PCI")


def _rows(ctx, **equals):
    table = schema.allocations
    query = sa.select(table).order_by(table.c.id)
    for name, value in equals.items():
        query = query.where(table.c[name] == value)
    with ctx.engine.connect() as conn:
        return [r._mapping for r in conn.execute(query)]


def _amounts(rows):
    return [(r["consumer_uuid"], r["vcpus"], r["memory_mb"], r["disk_gb"])
            for r in rows]


def _node(ctx, host=HOST, nodename=NODE):
    return cn_obj.ComputeNode.get_by_host_and_nodename(ctx, host, nodename)


def _free_devices(node):
    return sum(pool.count for pool in node.pci_device_pools or ())


def _pinned(node):
    return [sorted(cell.pinned_cpus) for cell in node.numa_topology.cells]


def _clean(ctx, pci_devices=None):
    assert ledger_checks.violations(ctx.engine, hs_conf.CONF,
                                    pci_devices) == []


def _device_driver(nodes=(NODE,), devices=2):
    topology = fake_driver.numa_host(dedicated_per_cell=4)
    return fake_driver.FakeDriver({name: fake_driver.NodeInventory(
        vcpus=sum(len(c.cpuset | c.pcpuset) for c in topology.cells),
        memory_mb=sum(c.memory for c in topology.cells), local_gb=100,
        numa_topology=topology,
        pci_devices=[dict(GPU, address=f"0000:8{i}:00.{n}")
                     for n in range(devices)])
        for i, name in enumerate(nodes)})


def _gpu_instance(ctx, count=1, **extra):
    request = pci_obj.InstancePCIRequest(
        count=count, spec=[{"vendor_id": GPU["vendor_id"]}],
        request_id="5d3c0c1e-8f43-4f0e-9c87-3b8a7c1f1f10")
    return make_instance(
        ctx, flavor(vcpus=2, memory_mb=512, root_gb=1, extra_specs={
            "hw:cpu_policy": "dedicated"}, **extra),
        pci_requests=pci_obj.InstancePCIRequests(requests=[request]))


def _gpu_running(ctx):
    """An agent with devices and a GPU instance running on its node."""
    agent = make_agent(ctx, _device_driver())
    instance = _gpu_instance(ctx)
    with agent.tracker(NODE).instance_claim(instance):
        pass
    return agent, _active(instance)


def _active(instance):
    instance.vm_state, instance.task_state = states.ACTIVE, None
    instance.save()
    return instance


# --- claims and what gives them back ------------------------------------------

def test_a_claim_is_one_row_with_its_pinned_cpus_and_devices(ctx,
                                                              no_reserve):
    agent = make_agent(ctx, _device_driver())
    node_id = _node(ctx).id
    instance = _gpu_instance(ctx)
    with agent.tracker(NODE).instance_claim(instance):
        pass
    [row] = _rows(ctx)
    assert (row["consumer_uuid"], row["instance_uuid"],
            row["compute_node_id"], row["vcpus"], row["memory_mb"],
            row["disk_gb"]) == (instance.uuid, instance.uuid, node_id, 2,
                                512, 1)
    stored = instance_obj.Instance.get_by_uuid(ctx, instance.uuid)
    pinned = sorted(stored.numa_topology.cells[0].cpu_pinning.values())
    assert sorted(cpu for cpus in _pinned(_node(ctx)) for cpu in cpus) == \
        pinned
    assert '"count": 1' in row["pci_allocation"]
    assert _free_devices(_node(ctx)) == 1
    _clean(ctx, {node_id: 2})


def test_abort_gives_back_exactly_the_row(ctx, no_reserve):
    agent = make_agent(ctx, _device_driver())
    before = _node(ctx)
    instance = _gpu_instance(ctx)
    tracker = agent.tracker(NODE)
    with tracker.instance_claim(instance):
        pass
    tracker.abort_instance_claim(instance)
    after = _node(ctx)
    assert _rows(ctx) == []
    assert (_pinned(after), _free_devices(after), after.vcpus_used,
            after.memory_mb_used, after.local_gb_used) == (
        _pinned(before), 2, before.vcpus_used, before.memory_mb_used,
        before.local_gb_used)
    _clean(ctx, {after.id: 2})


@pytest.mark.parametrize("vm_state, task_state", [
    (states.DELETED, None), (states.SHELVED_OFFLOADED, None)])
def test_delete_and_shelve_offload_give_the_devices_back_at_once(
        ctx, no_reserve, vm_state, task_state):
    agent = make_agent(ctx, _device_driver())
    instance = _gpu_instance(ctx)
    tracker = agent.tracker(NODE)
    with tracker.instance_claim(instance):
        pass
    instance.vm_state, instance.task_state = vm_state, task_state
    instance.save()
    tracker.update_usage(instance)
    node = _node(ctx)
    assert _rows(ctx) == []
    assert (_free_devices(node), _pinned(node), node.vcpus_used) == \
        (2, [[], []], 0)
    _clean(ctx, {node.id: 2})


def test_a_delete_after_a_restart_still_gives_back_what_the_row_holds(
        ctx, no_reserve):
    driver = _device_driver()
    agent = make_agent(ctx, driver)
    instance = _gpu_instance(ctx)
    with agent.tracker(NODE).instance_claim(instance):
        pass
    restarted = make_agent(ctx, driver)         # knows nothing in memory
    instance.vm_state = states.DELETED
    instance.save()
    instance.destroy()
    restarted.tracker(NODE).update_usage(instance)
    assert _rows(ctx) == []
    assert _free_devices(_node(ctx)) == 2
    _clean(ctx, {_node(ctx).id: 2})


# --- moves ---------------------------------------------------------------------

def _two_device_hosts(ctx):
    source = make_agent(ctx, _device_driver(nodes=("src-node",)))
    dest = agent_mod.ComputeAgent(ctx, _device_driver(nodes=("dst-node",)),
                                  host="dest-host")
    assert dest.start() == {}
    return source, dest


def _node_ids(ctx):
    return {"src": _node(ctx, HOST, "src-node").id,
            "dst": _node(ctx, "dest-host", "dst-node").id}


def _moving(ctx, claim_at_dest):
    """Two hosts with devices, a GPU instance active on the source, and
    ``claim_at_dest(dest tracker, instance)``'s move claim made: (source
    agent, destination agent, node ids, instance, move claim)."""
    source, dest = _two_device_hosts(ctx)
    instance = _gpu_instance(ctx)
    with source.tracker("src-node").instance_claim(instance):
        pass
    _active(instance)
    with claim_at_dest(dest.tracker("dst-node"), instance) as claim:
        pass
    return source, dest, _node_ids(ctx), instance, claim


def _resize(tracker, instance):
    return tracker.resize_claim(instance, instance.flavor)


def test_a_move_claim_is_the_migrations_row_and_confirm_hands_it_over(
        ctx, no_reserve):
    source, dest, ids, instance, claim = _moving(ctx, _resize)
    migration = claim.migration
    assert sorted((r["consumer_uuid"], r["compute_node_id"])
                  for r in _rows(ctx)) == sorted(
        [(instance.uuid, ids["src"]), (migration.uuid, ids["dst"])])
    assert [_free_devices(_node(ctx, *where)) for where in (
        (HOST, "src-node"), ("dest-host", "dst-node"))] == [1, 1]
    # the move finishes at the destination, then is confirmed
    instance.host, instance.node = "dest-host", "dst-node"
    instance.vm_state, instance.task_state = states.RESIZED, None
    instance.save()
    source.tracker("src-node").drop_move_claim_at_source(instance, migration)
    [row] = _rows(ctx)
    assert (row["consumer_uuid"], row["compute_node_id"]) == \
        (instance.uuid, ids["dst"])
    assert _free_devices(_node(ctx, HOST, "src-node")) == 2
    _clean(ctx, {ids["src"]: 2, ids["dst"]: 2})


def test_revert_after_a_restart_returns_the_devices_at_once(ctx,
                                                            no_reserve):
    source, dest, ids, instance, claim = _moving(ctx, _resize)
    instance.task_state = states.RESIZE_MIGRATING
    instance.save()
    # the destination's agent restarts: its memory of the claim is gone,
    # the migration context is all the instance says of it
    restarted = agent_mod.ComputeAgent(ctx, dest.driver, host="dest-host")
    assert restarted.start() == {}
    assert _free_devices(_node(ctx, "dest-host", "dst-node")) == 1
    migration = migration_obj.Migration.get_by_id(ctx, claim.migration.id)
    restarted.tracker("dst-node").drop_move_claim_at_dest(instance, migration)
    node = _node(ctx, "dest-host", "dst-node")
    assert (_free_devices(node), _pinned(node), node.vcpus_used) == \
        (2, [[], []], 0)
    assert _amounts(_rows(ctx)) == [(instance.uuid, 2, 512, 1)]
    _clean(ctx, {ids["src"]: 2, ids["dst"]: 2})


def test_an_evacuated_instance_is_let_go_at_its_source(ctx, no_reserve):
    source, dest, ids, instance, claim = _moving(
        ctx, lambda tracker, instance: tracker.rebuild_claim(instance))
    # rebuilt at the destination
    instance.host, instance.node = "dest-host", "dst-node"
    instance.save()
    source.tracker("src-node").drop_evacuated_instance(instance,
                                                       claim.migration)
    [row] = _rows(ctx)
    assert (row["consumer_uuid"], row["compute_node_id"]) == \
        (instance.uuid, ids["dst"])
    assert _free_devices(_node(ctx, HOST, "src-node")) == 2
    assert migration_obj.Migration.get_by_id(
        ctx, claim.migration.id).status == "done"
    _clean(ctx, {ids["src"]: 2, ids["dst"]: 2})


# --- the recount checks and repairs ----------------------------------------------

def _placed(ctx, agent, the_flavor=None):
    instance = make_instance(ctx, the_flavor or flavor(vcpus=1,
                                                         memory_mb=128))
    with agent.tracker(NODE).instance_claim(instance):
        pass
    return _active(instance)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING]


def test_a_steady_recount_finds_nothing_to_repair(ctx, no_reserve, caplog):
    agent = make_agent(ctx, make_driver())
    _placed(ctx, agent)
    caplog.set_level("WARNING")
    assert agent.update_available_resource() == {}
    assert _warnings(caplog) == []
    _clean(ctx)


def test_counters_changed_behind_the_back_are_repaired_and_logged(
        ctx, no_reserve, caplog):
    agent = make_agent(ctx, make_driver())
    _placed(ctx, agent)
    nodes = schema.compute_nodes
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(nodes).values(vcpus_used=3,
                                             generation=nodes.c.generation + 1))
    caplog.set_level("WARNING")
    assert agent.update_available_resource() == {}
    assert _node(ctx).vcpus_used == 1
    assert _warnings(caplog) == [
        f"node {NODE}: vcpus_used was 3, reserved + the ledger said 1; now 1"
        " (repaired)"]
    _clean(ctx)


def test_an_instance_without_a_row_gets_one(ctx, no_reserve, caplog):
    agent = make_agent(ctx, make_driver())
    kept = _placed(ctx, agent)
    with ctx.engine.begin() as conn:
        conn.execute(sa.delete(schema.allocations))
    caplog.set_level("WARNING")
    assert agent.update_available_resource() == {}
    assert _amounts(_rows(ctx)) == [(kept.uuid, 1, 128, 1)]
    assert _warnings(caplog) == [
        f"node {NODE}: instance {kept.uuid} runs here without a ledger row;"
        " recorded 1 vcpus, 128 MiB, 1 GiB"] + [
        f"node {NODE}: {name} was {used}, reserved + the ledger said 0; now"
        f" {used} (repaired)" for name, used in (
            ("vcpus_used", 1), ("memory_mb_used", 128), ("local_gb_used", 1))]
    assert _node(ctx).vcpus_used == 1
    _clean(ctx)


def test_a_row_whose_instance_is_gone_is_removed(ctx, no_reserve, caplog):
    agent = make_agent(ctx, make_driver())
    kept = _placed(ctx, agent)
    gone = _placed(ctx, agent)
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.instances).where(
            schema.instances.c.uuid == gone.uuid).values(
            deleted=schema.instances.c.id))
    caplog.set_level("WARNING")
    assert agent.update_available_resource() == {}
    assert _amounts(_rows(ctx)) == [(kept.uuid, 1, 128, 1)]
    assert _warnings(caplog) == [
        f"node {NODE}: instance {gone.uuid} holds 1 vcpus, 128 MiB, 1 GiB "
        "in the ledger but is not here any more; the rows are removed"]
    assert _node(ctx).vcpus_used == 1
    _clean(ctx)


def test_a_back_filled_row_without_devices_gets_them_recorded(
        ctx, no_reserve, caplog):
    agent, instance = _gpu_running(ctx)
    with ctx.engine.begin() as conn:   # what 0003's back-fill leaves
        conn.execute(sa.update(schema.allocations).values(
            pci_allocation=None))
    caplog.set_level("WARNING")
    assert agent.update_available_resource() == {}
    [row] = _rows(ctx)
    assert '"count": 1' in row["pci_allocation"]
    assert _warnings(caplog) == [
        f"node {NODE}: instance {instance.uuid} holds PCI devices the "
        "ledger does not name; they are recorded"]
    _clean(ctx, {_node(ctx).id: 2})


def test_pinned_cpus_changed_behind_the_back_are_repaired(
        ctx, no_reserve, caplog):
    agent, instance = _gpu_running(ctx)
    held = _node(ctx)
    pinned = _pinned(held)
    # a writer forgets the instance's pinned cpus (not the ledger)
    stripped = held.obj_clone()
    for cell in stripped.numa_topology.cells:
        cell.pinned_cpus = set()
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.compute_nodes).values(
            numa_topology=stripped._column_values(["numa_topology"])[
                "numa_topology"],
            generation=schema.compute_nodes.c.generation + 1))
    caplog.set_level("WARNING")
    assert agent.update_available_resource() == {}
    assert _pinned(_node(ctx)) == pinned
    cell = next(i for i, cpus in enumerate(pinned) if cpus)
    assert f"node {NODE}: NUMA cell {cell} pinned_cpus was []; the ledger " \
        f"says {pinned[cell]} (repaired)" in _warnings(caplog)
    _clean(ctx, {_node(ctx).id: 2})
