"""The engine for single statements (``db.engine.for_single_statements``)
and the driver-level ``fetch_one`` the scheduler's claim runs on it: rows
as dicts, SQLAlchemy's error classes, the URL on every error, and a lost
connection marked as such and dropped from the pool."""
import pytest
import sqlalchemy as sa

from hoststate.db import engine as db_engine
from hoststate.db import schema

servers = pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                                  indirect=True)


def _compiled(engine, statement, **params):
    """(SQL text, parameters) of ``statement`` for the driver."""
    compiled = statement.compile(dialect=engine.dialect)
    return str(compiled), {**compiled.params, **params}


def _services_insert(engine, uuid):
    return _compiled(engine, sa.insert(schema.services).values(
        uuid=sa.bindparam("uuid"), host="h1", binary="nova-compute",
        topic="compute", report_count=0), uuid=uuid)


@servers
def test_single_statements_commit_on_their_own(database):
    single = db_engine.for_single_statements(database.engine)
    assert single is db_engine.for_single_statements(database.engine)
    # PostgreSQL's INSERT returns the new id; MariaDB's no result set
    assert db_engine.fetch_one(single, *_services_insert(single, "u1")) == \
        ({"id": 1} if single.dialect.name == "postgresql" else None)
    # another connection sees it at once: nothing waited for a COMMIT
    with database.engine.connect() as conn:
        assert conn.execute(sa.select(schema.services.c.host)).scalars() \
            .all() == ["h1"]
    select = sa.select(schema.services.c.host, schema.services.c.uuid) \
        .where(schema.services.c.uuid == sa.bindparam("uuid"))
    assert db_engine.fetch_one(single, *_compiled(single, select,
                                                  uuid="u1")) == \
        {"host": "h1", "uuid": "u1"}
    assert db_engine.fetch_one(single, *_compiled(single, select,
                                                  uuid="none")) is None


@servers
def test_errors_are_sqlalchemy_errors_with_the_url(database):
    single = db_engine.for_single_statements(database.engine)
    db_engine.fetch_one(single, *_services_insert(single, "u1"))
    with pytest.raises(sa.exc.IntegrityError) as duplicate:
        db_engine.fetch_one(single, *_services_insert(single, "u1"))
    assert not duplicate.value.connection_invalidated
    assert duplicate.value.hoststate_url == single.url
    with pytest.raises(sa.exc.ProgrammingError) as wrong:
        db_engine.fetch_one(single, "SELECT nothing FROM nowhere", {})
    assert wrong.value.hoststate_url == single.url


@servers
def test_a_lost_connection_is_marked_and_leaves_the_pool(database):
    single = db_engine.for_single_statements(database.engine)
    with single.connect() as conn:
        if single.dialect.name == "postgresql":
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            kill = f"SELECT pg_terminate_backend({pid})"
        else:
            pid = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            kill = f"KILL {pid}"
    with database.admin.connect() as admin:
        admin.exec_driver_sql(kill)
    with pytest.raises(sa.exc.DBAPIError) as lost:
        db_engine.fetch_one(single, "SELECT 1", {})
    assert lost.value.connection_invalidated
    # the next statement gets a new connection
    assert db_engine.fetch_one(single, "SELECT 1 AS one", {}) == {"one": 1}


def test_sqlite_has_no_engine_for_single_statements(tmp_path):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert db_engine.for_single_statements(engine) is None
