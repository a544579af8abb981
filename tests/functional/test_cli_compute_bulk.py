"""``hoststate compute`` registers its nodes in bulk
(``ComputeAgent.register_nodes``), on SQLite, PostgreSQL and MariaDB: a
few statements for any number of new nodes, nothing written by the first
update, and the one-by-one path still there for what bulk cannot do
(undelete, take over, a name under another uuid, a failing driver)."""
import contextlib

import pytest
import sqlalchemy as sa

from hoststate.db import schema
from hoststate.objects import compute_node as cn_obj
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

NODES = schema.compute_nodes
SHAPE = dict(vcpus=16, memory_mb=65536, local_gb=500)
#: rows per INSERT in these tests, so that 10 nodes take three statements
CHUNK = 4


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(cn_obj, "BULK_ROWS", CHUNK)


@contextlib.contextmanager
def statements(engine):
    """The SQL statements ``engine`` runs within the block (a list)."""
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def writes_to_nodes(seen):
    return [s.split(" ")[0] for s in seen if s.startswith((
        "INSERT INTO compute_nodes", "UPDATE compute_nodes"))]


def stored(database):
    with database.engine.connect() as conn:
        return {row.hypervisor_hostname: row for row in conn.execute(
            sa.select(NODES).order_by(NODES.c.id))}


def start(ctx, driver, host="bulk"):
    agent = agent_mod.ComputeAgent(ctx, driver, host=host)
    return agent, agent.start()


def test_new_nodes_take_one_insert_per_chunk_and_no_update(ctx, database):
    driver = fake_driver.FakeDriver.uniform(10, prefix="bulk-node", **SHAPE)
    with statements(database.engine) as seen:
        agent, errors = start(ctx, driver)
    assert errors == {}
    assert writes_to_nodes(seen) == ["INSERT"] * 3          # 4 + 4 + 2 rows
    rows = stored(database)
    assert sorted(rows) == sorted(driver.get_available_nodes())
    assert sorted(agent.trackers) == sorted(rows)
    row = rows["bulk-node7"]
    assert (row.host, row.service_id, row.uuid, row.vcpus, row.memory_mb,
            row.local_gb, row.deleted, row.generation) == (
        "bulk", agent.service.id, driver.get_available_resource(
            "bulk-node7")["uuid"], 16, 65536, 500, 0, 0)
    assert row.created_at is not None and row.updated_at is not None


def test_bulk_nodes_are_what_one_by_one_creation_stores(ctx, database):
    """A node registered in bulk and one created alone (the one-by-one
    path of the periodic update) of the same inventory are the same row
    but for the names, ids and stamps."""
    bulk, _ = start(ctx, fake_driver.FakeDriver.uniform(
        1, prefix="bulk-node", **SHAPE), host="h-bulk")
    alone = agent_mod.ComputeAgent(ctx, fake_driver.FakeDriver.uniform(
        1, prefix="alone-node", **SHAPE), host="h-alone")
    alone.service = agent_mod._ensure_service(ctx, "h-alone")
    assert alone.update_available_resource() == {}     # no bulk step
    rows = stored(database)
    skip = {"id", "uuid", "host", "service_id", "hypervisor_hostname",
            "created_at", "updated_at", "generation"}

    def compared(row):
        return {c: v for c, v in row._mapping.items() if c not in skip}
    assert compared(rows["bulk-node1"]) == compared(rows["alone-node1"])
    # created as the recount finds them: the first update rewrote neither
    assert (rows["alone-node1"].generation,
            rows["bulk-node1"].generation) == (0, 0)
    assert bulk.tracker("bulk-node1").node.id == rows["bulk-node1"].id


def test_a_restart_writes_no_node(ctx, database):
    driver = fake_driver.FakeDriver.uniform(6, prefix="again-node", **SHAPE)
    start(ctx, driver)
    before = stored(database)
    with statements(database.engine) as seen:
        agent, errors = start(ctx, driver)
    assert (errors, writes_to_nodes(seen)) == ({}, [])
    assert len(agent.trackers) == 6
    assert stored(database) == before


def test_deleted_and_foreign_nodes_take_the_one_by_one_path(ctx, database):
    driver = fake_driver.FakeDriver.uniform(5, prefix="mix-node", **SHAPE)
    first, _ = start(ctx, driver)
    first.tracker("mix-node1").node.destroy()           # to bring back
    with database.engine.begin() as conn:                # another host's
        conn.execute(sa.update(NODES).where(
            NODES.c.hypervisor_hostname == "mix-node2").values(host="other"))
    driver.add_node("mix-node6", fake_driver.NodeInventory(**SHAPE))
    agent, errors = start(ctx, driver)
    rows = stored(database)
    assert errors == {}
    assert sorted(sorted(agent.trackers)) == [f"mix-node{i}" for i in range(1, 7)]
    assert {name: (row.host, row.deleted == 0) for name, row in
            rows.items()} == {f"mix-node{i}": ("bulk", True)
                              for i in range(1, 7)}


def test_a_name_under_another_uuid_fails_that_node_only(ctx, database):
    driver = fake_driver.FakeDriver.uniform(3, prefix="dup-node", **SHAPE)
    agent, _ = start(ctx, driver)
    with database.engine.begin() as conn:        # node 2 "re-created"
        conn.execute(sa.update(NODES).where(
            NODES.c.hypervisor_hostname == "dup-node2").values(
            uuid="00000000-0000-0000-0000-000000000002"))
    driver.add_node("dup-node4", fake_driver.NodeInventory(**SHAPE))
    _, errors = start(ctx, driver)
    assert list(errors) == ["dup-node2"]
    assert "exists under another uuid" in str(errors["dup-node2"])
    assert sorted(stored(database)) == [f"dup-node{i}" for i in range(1, 5)]


def test_a_node_the_driver_cannot_read_is_reported_not_registered(
        ctx, database, monkeypatch):
    driver = fake_driver.FakeDriver.uniform(3, prefix="bad-node", **SHAPE)
    read = driver.get_available_resource

    def flaky(nodename):
        if nodename == "bad-node2":
            raise RuntimeError("hypervisor not answering")
        return read(nodename)
    monkeypatch.setattr(driver, "get_available_resource", flaky)
    _, errors = start(ctx, driver)
    assert {name: str(exc) for name, exc in errors.items()} == {
        "bad-node2": "hypervisor not answering"}
    assert sorted(stored(database)) == ["bad-node1", "bad-node3"]
