"""The generic query functions on SQLite, PostgreSQL and MariaDB."""
import threading

import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema

NODES = schema.compute_nodes


def _node_values(**overrides):
    values = dict(uuid="00000000-0000-0000-0000-00000000000a", host="h1",
                  hypervisor_hostname="n1", vcpus=8, memory_mb=4096,
                  local_gb=100, hypervisor_type="fake", hypervisor_version=1,
                  cpu_info="{}")
    values.update(overrides)
    return values


def _insert_node(ctx, **overrides):
    with db_api.transaction(ctx) as conn:
        return db_api.insert_row(conn, NODES, _node_values(**overrides))


def _stored(ctx, row_id):
    with ctx.engine.connect() as conn:
        return conn.execute(sa.select(NODES).where(NODES.c.id == row_id)).one()._mapping


def test_insert_fills_server_defaults(ctx):
    row = _insert_node(ctx)
    assert (row["generation"], row["vcpus_used"], row["deleted"],
            row["mapped"]) == (0, 0, 0, 0)
    # a new compute node is stamped updated too (schedulers refresh by it)
    assert row["created_at"] is not None
    assert row["updated_at"] == row["created_at"]


def test_cas_update_at_the_seen_generation_writes_and_bumps_it(ctx):
    row = _insert_node(ctx)
    with db_api.transaction(ctx) as conn:
        new = db_api.cas_update(conn, NODES, row["id"], 0, {"vcpus_used": 3})
    assert (new["vcpus_used"], new["generation"]) == (3, 1)
    assert new["updated_at"] is not None
    assert _stored(ctx, row["id"])["generation"] == 1


def test_cas_update_at_a_stale_generation_raises_and_changes_nothing(ctx):
    row = _insert_node(ctx)
    with db_api.transaction(ctx) as conn:
        db_api.cas_update(conn, NODES, row["id"], 0, {"vcpus_used": 1})

    with pytest.raises(exception.GenerationConflict) as err:
        with db_api.transaction(ctx) as conn:
            db_api.cas_update(conn, NODES, row["id"], 0, {"vcpus_used": 7})

    assert (err.value.table, err.value.row_id, err.value.seen_generation) == \
        ("compute_nodes", row["id"], 0)
    stored = _stored(ctx, row["id"])
    assert (stored["vcpus_used"], stored["generation"]) == (1, 1)


def test_cas_update_of_a_deleted_row_is_not_found(ctx):
    row = _insert_node(ctx)
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, NODES, row["id"])
    with pytest.raises(exception.NotFound):
        with db_api.transaction(ctx) as conn:
            db_api.cas_update(conn, NODES, row["id"], 0, {"vcpus_used": 1})


def test_concurrent_read_modify_write_loses_no_update(ctx):
    """Four writers add 1 to vcpus_used 25 times each, re-reading on conflict."""
    row_id = _insert_node(ctx)["id"]
    writers, increments = 4, 25
    conflicts = []

    def writer():
        for _ in range(increments):
            while True:
                seen = _stored(ctx, row_id)
                try:
                    with db_api.transaction(ctx) as conn:
                        db_api.cas_update(conn, NODES, row_id, seen["generation"],
                                          {"vcpus_used": seen["vcpus_used"] + 1})
                    break
                except exception.GenerationConflict:
                    conflicts.append(1)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = _stored(ctx, row_id)
    assert stored["vcpus_used"] == writers * increments
    assert stored["generation"] == writers * increments


def test_soft_delete_marks_the_row_with_its_id_and_hides_it(ctx):
    row = _insert_node(ctx)
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, NODES, row["id"])
        live = db_api.select_rows(conn, NODES, "no")
        everything = db_api.select_rows(conn, NODES, "yes")
        only_deleted = db_api.select_rows(conn, NODES, "only")
    assert live == []
    assert [r["deleted"] for r in everything] == [row["id"]]
    assert [r["id"] for r in only_deleted] == [row["id"]]
    assert everything[0]["deleted_at"] is not None


def test_delete_with_a_constraint_that_no_longer_holds_is_refused(ctx):
    row = _insert_node(ctx)
    with pytest.raises(exception.ObjectActionError):
        with db_api.transaction(ctx) as conn:
            db_api.delete_row(conn, NODES, row["id"], host="another-host")
    assert _stored(ctx, row["id"])["deleted"] == 0


def test_deleting_twice_is_not_found(ctx):
    row = _insert_node(ctx)
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, NODES, row["id"])
    with pytest.raises(exception.NotFound):
        with db_api.transaction(ctx) as conn:
            db_api.delete_row(conn, NODES, row["id"])


def test_duplicate_host_and_node_is_a_named_error_and_rolls_back(ctx):
    _insert_node(ctx)
    with pytest.raises(exception.DuplicateRecord) as err:
        with db_api.transaction(ctx) as conn:
            db_api.insert_row(conn, NODES, _node_values(
                uuid="00000000-0000-0000-0000-00000000000b", host="h2"))
            db_api.insert_row(conn, NODES, _node_values(
                uuid="00000000-0000-0000-0000-00000000000c"))
    assert err.value.table == "compute_nodes"
    with ctx.engine.connect() as conn:
        hosts = conn.execute(sa.select(NODES.c.host)).scalars().all()
    assert hosts == ["h1"]          # the h2 row of the failed transaction too


def test_duplicate_uuid_is_a_named_error(ctx):
    _insert_node(ctx)
    with pytest.raises(exception.DuplicateRecord):
        _insert_node(ctx, host="h2")


def test_reference_to_a_missing_service_is_a_named_error(ctx):
    with pytest.raises(exception.ReferenceNotFound) as err:
        _insert_node(ctx, service_id=999)
    assert err.value.table == "compute_nodes"


def test_select_one_of_nothing_raises_the_given_error(ctx):
    with pytest.raises(exception.ComputeNodeNotFound) as err:
        with db_api.transaction(ctx) as conn:
            db_api.select_one(conn, NODES,
                              exception.ComputeNodeNotFound(key="n9"),
                              hypervisor_hostname="n9")
    assert str(err.value) == "Compute node n9 could not be found"


def test_context_without_an_engine_is_a_clear_error():
    from hoststate import context
    with pytest.raises(exception.DBError, match="names no database engine"):
        with db_api.transaction(context.get_admin_context()):
            pass


def test_update_row_with_a_constraint_that_holds_writes(ctx):
    with db_api.transaction(ctx) as conn:
        row = db_api.insert_row(conn, schema.instances, dict(
            uuid="00000000-0000-0000-0000-0000000000f1", task_state="spawning"))
        new = db_api.update_row(conn, schema.instances, row["id"],
                                {"task_state": None}, task_state="spawning")
    assert new["task_state"] is None


def test_update_row_with_a_constraint_that_failed_changes_nothing(ctx):
    with db_api.transaction(ctx) as conn:
        row = db_api.insert_row(conn, schema.instances, dict(
            uuid="00000000-0000-0000-0000-0000000000f2", task_state="deleting"))
    with pytest.raises(exception.ObjectActionError, match="no longer matches"):
        with db_api.transaction(ctx) as conn:
            db_api.update_row(conn, schema.instances, row["id"],
                              {"task_state": None}, task_state="spawning")
    with pytest.raises(exception.NotFound):
        with db_api.transaction(ctx) as conn:
            db_api.update_row(conn, schema.instances, row["id"] + 100, {})
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(schema.instances.c.task_state)).scalar() \
            == "deleting"


def test_delete_rows_soft_deletes_every_match_and_counts_them(ctx):
    for index, host in enumerate(["a", "a", "b"]):
        _insert_node(ctx, uuid=f"00000000-0000-0000-0000-00000000010{index}",
                     host=host, hypervisor_hostname=f"n{index}")
    with db_api.transaction(ctx) as conn:
        deleted = db_api.delete_rows(conn, NODES, host="a")
        left = [r["host"] for r in db_api.select_rows(conn, NODES)]
        gone = [r["deleted"] == r["id"] for r in
                db_api.select_rows(conn, NODES, "only")]
    assert (deleted, left, gone) == (2, ["b"], [True, True])


def test_select_rows_takes_extra_clauses(ctx):
    for index, vcpus in enumerate([4, 8, 16]):
        _insert_node(ctx, uuid=f"00000000-0000-0000-0000-00000000020{index}",
                     hypervisor_hostname=f"n{index}", vcpus=vcpus)
    with db_api.transaction(ctx) as conn:
        rows = db_api.select_rows(
            conn, NODES, where=[sa.or_(NODES.c.vcpus < 5, NODES.c.vcpus > 10)])
    assert [r["vcpus"] for r in rows] == [4, 16]
