"""The database fixture itself: isolated, real, and cleaned up."""
import pytest
import sqlalchemy as sa

from hoststate.db import schema
from support import databases


def test_each_test_gets_an_empty_database_with_the_schema(database):
    with database.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        counts = {t: conn.execute(sa.select(sa.func.count()).select_from(
            schema.metadata.tables[t])).scalar() for t in schema.metadata.tables}
    assert set(schema.metadata.tables) <= tables
    assert set(counts.values()) == {0}
    assert database.engine.dialect.name == {
        "sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"
    }[database.backend] or database.engine.dialect.name == "mariadb"


def _shape(engine):
    """Tables with their columns, indexes and foreign keys, as the server
    reports them."""
    inspector = sa.inspect(engine)
    return {table: (
        [(c["name"], str(c["type"]), c["nullable"])
         for c in inspector.get_columns(table)],
        sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
               for i in inspector.get_indexes(table)),
        sorted((tuple(f["constrained_columns"]), f["referred_table"],
                tuple(f["referred_columns"]))
               for f in inspector.get_foreign_keys(table)))
        for table in inspector.get_table_names()}


def test_a_reused_database_has_the_declared_schema(database, tmp_path):
    built = databases.IsolatedDatabase(database.backend, tmp_path)
    try:
        built.create_schema()           # create_all, no template
        assert _shape(database.engine) == _shape(built.engine)
    finally:
        built.drop()


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_a_reused_database_is_as_fresh_as_a_new_one(database, tmp_path):
    """A database given back is emptied when taken: no rows, ids from 1."""
    with database.engine.begin() as conn:
        conn.execute(sa.insert(schema.aggregates).values(
            uuid="a1", name="first", created_at=None))
    database.drop()
    again = databases.IsolatedDatabase(database.backend, tmp_path,
                                       with_schema=True)
    try:
        assert again.name == database.name              # it was reused
        with again.engine.begin() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(
                schema.aggregates)).scalar() == 0
            inserted = conn.execute(sa.insert(schema.aggregates).values(
                uuid="a2", name="second", created_at=None))
            assert inserted.inserted_primary_key[0] == 1
    finally:
        again.drop()


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_a_database_still_in_use_is_dropped_not_reused(database, tmp_path):
    lingering = sa.create_engine(database.url).connect()
    try:
        database.drop()
        again = databases.IsolatedDatabase(database.backend, tmp_path,
                                           with_schema=True)
        try:
            assert again.name != database.name
        finally:
            again.drop()
    finally:
        lingering.close()


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_a_database_dropped_twice_is_given_to_one_test_only(database,
                                                            tmp_path):
    database.drop()
    database.drop()
    first, second = [databases.IsolatedDatabase(
        database.backend, tmp_path, with_schema=True) for _ in range(2)]
    try:
        assert first.name == database.name != second.name
    finally:
        first.drop()
        second.drop()
