"""A compute agent with no database: its start and periodic updates go
through a conductor and store exactly what an agent with database access
stores."""
import sqlalchemy as sa

from hoststate.db import schema
from hoststate.objects import indirection
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

from tests.functional.conductor.conftest import agent_context

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
