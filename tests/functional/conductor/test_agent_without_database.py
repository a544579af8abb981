"""A compute agent with no database: its start and periodic updates go
through a conductor and store exactly what an agent with database access
stores."""
import sqlalchemy as sa

from hoststate.db import schema
from hoststate.objects import indirection
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

from support.conductor import agent_context

#: columns that differ between two hosts' otherwise equal nodes
_IDENTITY = {"id", "uuid", "host", "hypervisor_hostname", "service_id",
             "created_at", "updated_at", "deleted_at"}


def _driver(host):
    return fake_driver.FakeDriver.uniform(3, prefix=f"{host}-node", vcpus=16,
                                          memory_mb=32768, local_gb=500)


def _nodes(engine, host):
    nodes = schema.compute_nodes
    with engine.connect() as conn:
        rows = conn.execute(sa.select(nodes).where(nodes.c.host == host)
                            .order_by(nodes.c.hypervisor_hostname)).all()
    return [{k: v for k, v in row._mapping.items() if k not in _IDENTITY}
            for row in rows]


def test_an_agent_without_database_stores_what_a_local_agent_stores(
        conductor, ctx):
    remote = agent_mod.ComputeAgent(agent_context("compute-1"),
                                    _driver("compute-1"), host="compute-1")
    assert remote.start() == {}
    with indirection.serving_locally():
        local = agent_mod.ComputeAgent(ctx, _driver("compute-2"),
                                       host="compute-2")
        assert local.start() == {}

    remote_nodes = _nodes(ctx.engine, "compute-1")
    assert len(remote_nodes) == 3
    assert remote_nodes == _nodes(ctx.engine, "compute-2")


def test_a_changed_inventory_is_saved_through_the_conductor(conductor, ctx):
    driver = _driver("compute-1")
    agent = agent_mod.ComputeAgent(agent_context("compute-1"), driver,
                                   host="compute-1")
    agent.start()
    generations = [n["generation"] for n in _nodes(ctx.engine, "compute-1")]

    driver.set_inventory("compute-1-node2", vcpus=32)
    assert agent.update_available_resource() == {}

    nodes = _nodes(ctx.engine, "compute-1")
    assert [n["vcpus"] for n in nodes] == [16, 32, 16]
    assert [n["generation"] for n in nodes] == [
        generations[0], generations[1] + 1, generations[2]]


def test_a_restarted_agent_finds_its_nodes_through_the_conductor(
        conductor, ctx):
    first = agent_mod.ComputeAgent(agent_context("compute-1"),
                                   _driver("compute-1"), host="compute-1")
    first.start()
    before = _nodes(ctx.engine, "compute-1")

    again = agent_mod.ComputeAgent(agent_context("compute-1"),
                                   _driver("compute-1"), host="compute-1")
    assert again.start() == {}
    assert sorted(again.trackers) == ["compute-1-node1", "compute-1-node2",
                                      "compute-1-node3"]
    assert _nodes(ctx.engine, "compute-1") == before


def _build_then_delete(ctx, agent_ctx, host):
    """A scheduler's claim on the host's first node, adopted by its agent
    (acting with ``agent_ctx``), then the instance deleted by it; the
    ledger rows left for the instance."""
    import uuid as uuid_lib

    from hoststate.objects import allocation as allocation_obj
    from hoststate.objects import states
    from hoststate.resource_tracker import host_rows
    from hoststate.scheduler import claims
    from hoststate.scheduler import request as request_mod
    from support.specs import plain_spec

    agent = agent_mod.ComputeAgent(agent_ctx, _driver(host), host=host)
    agent.start()
    node = agent.tracker(f"{host}-node1").node
    instance_uuid = str(uuid_lib.uuid4())
    with indirection.serving_locally():
        claims.claim(ctx, node.id, request_mod.RequestVector(
            plain_spec(vcpus=3, memory_mb=2048, root_gb=10)), instance_uuid)
    instance, held = host_rows.placed_instance(agent_ctx, instance_uuid)
    with agent.instance_claim(instance, f"{host}-node1", held=held):
        pass
    assert _nodes(ctx.engine, host)[0]["vcpus_used"] == 3
    instance.destroy()
    instance.vm_state = states.DELETED
    instance.task_state = None
    agent.tracker(f"{host}-node1").update_usage(instance)
    with indirection.serving_locally():
        return list(allocation_obj.AllocationList.get_by_instance(
            ctx, instance_uuid))


def test_adopting_and_deleting_through_the_conductor(conductor, ctx):
    assert _build_then_delete(ctx, agent_context("compute-1"),
                              "compute-1") == []
    with indirection.serving_locally():
        assert _build_then_delete(ctx, ctx, "compute-2") == []
    # the same node rows as an agent with the database leaves (the stats
    # included, with the decrement of a deleted instance as it is today)
    assert _nodes(ctx.engine, "compute-1") == _nodes(ctx.engine, "compute-2")
    assert _nodes(ctx.engine, "compute-1")[0]["vcpus_used"] == 0
