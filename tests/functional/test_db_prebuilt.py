"""Row reads by equality on statements built once (db.prebuilt), on
SQLite, PostgreSQL and MariaDB: the rows the statement built per call
finds, NULL compared as IS NULL, soft-deleted rows as asked, newest
first for select_one."""
import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema

NODES = schema.compute_nodes


def _insert(ctx, name, **overrides):
    values = dict(uuid=f"00000000-0000-0000-0000-0000000000{name[-2:]}",
                  host="h1", hypervisor_hostname=name, vcpus=8,
                  memory_mb=4096, local_gb=100, hypervisor_type="fake",
                  hypervisor_version=1, cpu_info="{}")
    values.update(overrides)
    with db_api.transaction(ctx) as conn:
        return db_api.insert_row(conn, NODES, values)["id"]


def _ids(rows):
    return [row["id"] for row in rows]


def test_equal_scalars_find_what_a_statement_built_per_call_finds(ctx):
    first = _insert(ctx, "n01")
    second = _insert(ctx, "n02", host="h2")
    third = _insert(ctx, "n03")
    with db_api.reading(ctx) as conn:
        assert _ids(db_api.select_rows(conn, NODES, host="h1")) == \
            [first, third]
        assert _ids(db_api.select_rows(conn, NODES, host="h2")) == [second]
        # the same shape again, other values: the built statement rebinds
        assert _ids(db_api.select_rows(conn, NODES, host="h1",
                                       hypervisor_hostname="n03")) == [third]
        assert _ids(db_api.select_rows(conn, NODES, host="h9")) == []
        # a list still reads with IN (...)
        assert _ids(db_api.select_rows(conn, NODES,
                                       host=["h1", "h2"])) == \
            [first, second, third]


def test_none_compares_as_is_null(ctx):
    with_ip = _insert(ctx, "n01", host_ip="10.0.0.1")
    without = _insert(ctx, "n02")
    with db_api.reading(ctx) as conn:
        assert _ids(db_api.select_rows(conn, NODES, host_ip=None)) == \
            [without]
        assert _ids(db_api.select_rows(conn, NODES, host_ip="10.0.0.1")) \
            == [with_ip]


def test_select_one_finds_the_newest_and_honours_read_deleted(ctx):
    older = _insert(ctx, "n01")
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, NODES, older)
    newer = _insert(ctx, "n01", uuid="00000000-0000-0000-0000-000000000099")
    with db_api.reading(ctx) as conn:
        assert db_api.select_one(conn, NODES, exception.NotFound(),
                                 hypervisor_hostname="n01")["id"] == newer
        assert db_api.select_one(conn, NODES, exception.NotFound(), "yes",
                                 hypervisor_hostname="n01")["id"] == newer
        assert db_api.select_one(conn, NODES, exception.NotFound(), "only",
                                 hypervisor_hostname="n01")["id"] == older
        with pytest.raises(exception.NotFound, match="gone"):
            db_api.select_one(conn, NODES, exception.NotFound("gone"),
                              hypervisor_hostname="n02")


def test_a_read_takes_no_write_lock_on_sqlite(ctx):
    """A read beside an open writing transaction does not wait for it
    (SQLite: the read's BEGIN is deferred; the others have row locks)."""
    node = _insert(ctx, "n01")
    with db_api.transaction(ctx) as writing:
        writing.execute(sa.update(NODES).where(NODES.c.id == node)
                        .values(vcpus=16))
        with db_api.reading(ctx) as conn:
            [row] = db_api.select_rows(conn, NODES, id=node)
    assert row["vcpus"] == 8          # the write was not committed yet


# --- deletes on statements built once (issue 14) --------------------------------

def test_a_prebuilt_delete_rebinds_and_deletes_only_the_row_named(ctx):
    first, second = _insert(ctx, "n01"), _insert(ctx, "n02")
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, NODES, first, host="h1")
        with pytest.raises(exception.NotFound):
            db_api.delete_row(conn, NODES, first, host="h1")   # gone
        # the same shape, another row: the statement is rebound
        db_api.delete_row(conn, NODES, second, host="h1")
    with db_api.reading(ctx) as conn:
        rows = db_api.select_rows(conn, NODES, read_deleted="yes")
    assert [(row["id"], row["deleted"]) for row in rows] == \
        [(first, first), (second, second)]


def test_read_back_returns_the_row_as_deleted(ctx):
    node = _insert(ctx, "n01")
    with db_api.transaction(ctx) as conn:
        row = db_api.delete_row(conn, NODES, node, read_back=True)
        stored = db_api.select_one(conn, NODES, exception.NotFound(), "yes",
                                   id=node)
    assert dict(row) == dict(stored)
    assert row["deleted"] == node and row["deleted_at"] is not None
    other = _insert(ctx, "n02")
    with db_api.transaction(ctx) as conn:
        assert db_api.delete_row(conn, NODES, other) is None


def test_a_prebuilt_delete_with_a_failed_condition_changes_nothing(ctx):
    node = _insert(ctx, "n01")
    with db_api.transaction(ctx) as conn:
        with pytest.raises(exception.ObjectActionError):
            db_api.delete_row(conn, NODES, node, read_back=True, host="h2")
        with pytest.raises(exception.GenerationConflict):
            db_api.delete_row(conn, NODES, node, seen_generation=7)
    with db_api.reading(ctx) as conn:
        assert _ids(db_api.select_rows(conn, NODES)) == [node]


def test_a_table_without_history_loses_the_row(ctx):
    ledger = schema.allocations
    node = _insert(ctx, "n01")
    with db_api.transaction(ctx) as conn:
        conn.execute(sa.insert(ledger).values(
            consumer_uuid="c1", instance_uuid="c1", compute_node_id=node,
            vcpus=1, memory_mb=512, disk_gb=1, created_at=db_api.utcnow()))
        assert db_api.delete_rows(conn, ledger, consumer_uuid="c1") == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(
            ledger)).scalar() == 0
