"""The database fixture itself: isolated, real, and cleaned up."""
import sqlalchemy as sa

from hoststate.db import schema


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
