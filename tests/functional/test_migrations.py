"""Alembic migrations build exactly the schema the code declares."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hoststate.db import migration
from hoststate.db import schema


def test_sync_builds_the_declared_schema(empty_database):
    engine = empty_database.engine
    assert migration.current_revision(engine) is None

    assert migration.sync(engine) == migration.head_revision() == "0002"

    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}),
            schema.metadata)
    assert diff == []


def test_sync_twice_is_a_no_op(empty_database):
    engine = empty_database.engine
    migration.sync(engine)
    assert migration.sync(engine) == "0002"


def test_downgrade_to_base_removes_every_table(empty_database):
    engine = empty_database.engine
    migration.sync(engine)
    assert migration.downgrade(engine, "base") is None
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
