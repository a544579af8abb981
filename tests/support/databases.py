"""Isolated databases on real servers, for tests and benchmarks alike."""
import uuid

import pytest
import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.db import schema
from support import servers

BACKENDS = ("sqlite", "postgresql", "mysql")


def _admin_engine(url):
    return db_engine.create_engine(url, poolclass=sa.pool.NullPool,
                                   isolation_level="AUTOCOMMIT")


class IsolatedDatabase:
    """A database of its own for one test, dropped afterwards.

    ``url`` is the database's URL; ``create_schema`` builds the tables from
    hoststate's schema (tests of the migrations start from an empty one).
    """

    def __init__(self, backend, tmp_path):
        self.backend = backend
        self.name = f"hs_test_{uuid.uuid4().hex[:16]}"
        admin_url = servers.require(backend)
        if backend == "sqlite":
            self.admin = None
            self.url = f"sqlite:///{tmp_path / (self.name + '.sqlite')}"
        else:
            self.admin = _admin_engine(admin_url)
            charset = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {self.name}{charset}")
            self.url = str(db_engine.normalize_url(admin_url).set(
                database=self.name).render_as_string(hide_password=False))
        self.engine = db_engine.create_engine(self.url)

    def create_schema(self):
        schema.metadata.create_all(self.engine)

    def drop(self):
        self.engine.dispose()
        if self.admin is None:
            return
        force = " WITH (FORCE)" if self.backend == "postgresql" else ""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.name}{force}")
        self.admin.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """An isolated, empty database on each backend."""
    database = IsolatedDatabase(request.param, tmp_path)
    yield database
    database.drop()


@pytest.fixture
def database(empty_database):
    """An isolated database with hoststate's schema, on each backend."""
    empty_database.create_schema()
    return empty_database


@pytest.fixture
def ctx(database):
    """An admin request context bound to the test's database."""
    return hs_context.get_admin_context(engine=database.engine)


def snapshot(engine):
    """{table: every row, every column, in primary-key order}: what a
    test compares to prove that nothing in the database changed."""
    found = {}
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            found[table.name] = [tuple(row) for row in conn.execute(
                sa.select(table).order_by(*order))]
    return found
