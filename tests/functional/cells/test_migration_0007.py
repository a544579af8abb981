"""0007 adds ``cell_instances`` and the instance feed's indexes to a
database as 0006 left it (a cloud and its ledger in place), and takes
them away again, on each backend."""
import uuid as uuid_lib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hoststate import context as hs_context
from hoststate.cells import instance_feed
from hoststate.cells import instance_store
from hoststate.db import migration
from hoststate.db import schema

from ..test_migrations import _cloud_at_0002, _ledger

FEED_INDEXES = {("ix_instances_created_at", ("created_at",)),
                ("ix_instances_updated_at", ("updated_at",)),
                ("ix_instances_deleted_at", ("deleted_at",))}
UUID = str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL, "migrated"))
SIZES = dict(vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0)


def _tables(engine):
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _indexes(engine, table):
    with engine.connect() as conn:
        return {(i["name"], tuple(i["column_names"])) for i in
                sa.inspect(conn).get_indexes(table)}


def _unique_keys(engine, table):
    with engine.connect() as conn:
        return {(u["name"], tuple(u["column_names"])) for u in
                sa.inspect(conn).get_unique_constraints(table)}


def test_0007_adds_the_table_and_indexes_beside_what_is_there(
        empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    migration.sync(engine, "0006")
    ledger = _ledger(engine)
    assert "cell_instances" not in _tables(engine)
    assert not FEED_INDEXES & _indexes(engine, "instances")

    assert migration.sync(engine, "0007") == "0007"

    assert "cell_instances" in _tables(engine)
    assert FEED_INDEXES <= _indexes(engine, "instances")
    assert ("ix_cell_instances_cell_path_changed_at",
            ("cell_path", "changed_at")) in _indexes(engine,
                                                     "cell_instances")
    assert ("uniq_cell_instances0uuid", ("uuid",)) in \
        _unique_keys(engine, "cell_instances")
    assert _ledger(engine) == ledger
    # the 0002 cloud's instances were written with no stamps: the feed
    # reads them all from no watermark, none from a later one
    ctx = hs_context.get_admin_context(engine=engine)
    rows, _ = instance_feed.changes_since(ctx, None, 100)
    assert len(rows) == 9
    assert instance_feed.changes_since(
        ctx, "2026-01-01T00:00:00", 100)[0] == []
    assert instance_store.record_forward(ctx, UUID, "api!child1", SIZES,
                                         "project1")
    assert instance_store.owner_of(ctx, UUID) == "api!child1"


def test_0007_builds_the_declared_schema(empty_database):
    engine = empty_database.engine
    assert migration.sync(engine, "0007") == "0007"
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}),
            schema.metadata)
    assert diff == []


def test_0007_unique_uuid_whatever_deleted_says(empty_database):
    """One row per uuid for ever: a second row is refused even when the
    first says its instance was deleted (an old change sent again must
    find it)."""
    engine = empty_database.engine
    migration.sync(engine, "0007")
    table = sa.Table("cell_instances", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        first = conn.execute(sa.insert(table).values(
            uuid=UUID, cell_path="api!c1")).inserted_primary_key[0]
        conn.execute(sa.update(table).where(table.c.id == first)
                     .values(deleted=first))
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.insert(table).values(uuid=UUID,
                                                 cell_path="api!c2"))


def test_0007_keeps_a_path_of_the_longest_length(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0007")
    longest = "!".join(["n" * 50] * 10) + "!" + "x" * 2
    assert len(longest) == schema.CELL_PATH_LENGTH == 512
    table = sa.Table("cell_instances", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(table).values(uuid=UUID, cell_path=longest))
        assert conn.execute(sa.select(table.c.cell_path)).scalar_one() == \
            longest


def test_0007_downgrades_with_a_cloud_in_place(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    migration.sync(engine, "0007")
    ctx = hs_context.get_admin_context(engine=engine)
    instance_store.record_forward(ctx, UUID, "api!child1", SIZES,
                                  "project1")
    ledger = _ledger(engine)
    others = _tables(engine) - {"cell_instances"}

    assert migration.downgrade(engine, "0006") == "0006"

    assert _tables(engine) == others
    assert not FEED_INDEXES & _indexes(engine, "instances")
    assert _ledger(engine) == ledger
    assert migration.sync(engine, "0007") == "0007"
    assert instance_store.owner_of(ctx, UUID) is None   # went with it
