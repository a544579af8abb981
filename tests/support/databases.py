"""Isolated databases on real servers, for tests and benchmarks alike.

Each test gets a database of its own. Building one (an empty database,
then ``create_all``) is most of what a short database test costs: 130 to
190 ms on a quiet machine, several times that on a busy one. A test that
wants the schema therefore gets a database an earlier test of the session
gave back, emptied when it is taken (``_Reused``: 40 ms): by then every
fixture of that earlier test has ended, so nothing it started can still
write into it. A database that holds other tables than the schema's, many
rows, or still has a connection open to it is dropped instead, as every
database was before. (A PostgreSQL template copy was tried first: 26 ms
quiet, but 150 to 340 ms under load.)

Databases of tests that start from an empty one (``empty_database``
alone) are created and dropped each time.
"""
import atexit
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


def _drop_statement(backend, name):
    force = " WITH (FORCE)" if backend == "postgresql" else ""
    return f"DROP DATABASE IF EXISTS {name}{force}"


class _Reused:
    """Databases with the schema that finished tests gave back, per
    (server, admin URL), emptied when the next test takes one."""

    #: a database holding more rows than this is dropped, not emptied
    MAX_ROWS = 5000

    def __init__(self):
        self.given_back = []        # (backend, admin URL, name)

    def give_back(self, backend, admin_url, name):
        self.given_back.append((backend, admin_url, name))

    def take(self, backend, admin_url):
        """The name of an emptied database of that server, or None."""
        for at in range(len(self.given_back) - 1, -1, -1):
            if self.given_back[at][:2] == (backend, admin_url):
                _, _, name = self.given_back.pop(at)
                if self._empty(backend, admin_url, name):
                    return name
                _drop(admin_url, backend, name)
        return None

    def drop_all(self):
        while self.given_back:
            backend, admin_url, name = self.given_back.pop()
            _drop(admin_url, backend, name)

    def _empty(self, backend, admin_url, name):
        """Empty ``name`` as a fresh one is (no rows, counters at 1): True,
        or False when it should be dropped instead (other tables than
        the schema's, many rows, or a connection still open to it)."""
        url = db_engine.normalize_url(admin_url).set(database=name)
        engine = _admin_engine(url.render_as_string(hide_password=False))
        try:
            with engine.connect() as conn:
                rows, others, empty = _SERVER_QUERIES[backend]
                if set(rows(conn, name)) != set(schema.metadata.tables) or \
                        sum(rows(conn, name).values()) > self.MAX_ROWS or \
                        others(conn, name):
                    return False
                empty(conn)
            return True
        finally:
            engine.dispose()


def _empty_postgresql(conn):
    deletes = [f'DELETE FROM "{t.name}"'
               for t in reversed(schema.metadata.sorted_tables)]
    restarts = [f'ALTER SEQUENCE "{name}" RESTART' for (name,) in
                conn.exec_driver_sql(
                    "SELECT sequence_name FROM information_schema.sequences "
                    "WHERE sequence_schema = 'public'")]
    conn.exec_driver_sql("; ".join(deletes + restarts))


def _empty_mysql(conn):
    """Delete every row; reset the counters that moved (an ALTER TABLE is
    what costs here, so only where needed)."""
    moved = [name for (name,) in conn.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND auto_increment > 1")]
    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
    for table in schema.metadata.sorted_tables:
        conn.exec_driver_sql(f"DELETE FROM `{table.name}`")
    for name in moved:
        conn.exec_driver_sql(f"ALTER TABLE `{name}` AUTO_INCREMENT = 1")
    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


def _rows_postgresql(conn, _name):
    return dict(conn.exec_driver_sql(
        "SELECT relname, n_live_tup FROM pg_stat_user_tables "
        "WHERE schemaname = 'public'").all())


def _others_postgresql(conn, name):
    return conn.exec_driver_sql(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
        "AND pid <> pg_backend_pid()", (name,)).scalar()


def _rows_mysql(conn, name):
    return dict(conn.exec_driver_sql(
        "SELECT table_name, table_rows FROM information_schema.tables "
        "WHERE table_schema = %s", (name,)).all())


def _others_mysql(conn, name):
    return conn.exec_driver_sql(
        "SELECT COUNT(*) FROM information_schema.processlist "
        "WHERE db = %s AND id <> CONNECTION_ID()", (name,)).scalar()


#: per server: {table: rows (estimated)}, the number of other connections
#: to the database, and how to empty it
_SERVER_QUERIES = {
    "postgresql": (_rows_postgresql, _others_postgresql, _empty_postgresql),
    "mysql": (_rows_mysql, _others_mysql, _empty_mysql),
}


_REUSED = _Reused()


def _drop(admin_url, backend, name):
    admin = _admin_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(_drop_statement(backend, name))
    finally:
        admin.dispose()


def finish():
    """Drop the databases kept for reuse (at the end of a session)."""
    _REUSED.drop_all()


atexit.register(finish)     # a session that did not reach its end


class IsolatedDatabase:
    """A database of its own for one test, dropped afterwards.

    ``url`` is the database's URL; ``create_schema`` builds the tables from
    hoststate's schema (tests of the migrations start from an empty one).
    ``with_schema`` builds them at once, or reuses an emptied database.
    """

    def __init__(self, backend, tmp_path, with_schema=False):
        self.backend = backend
        self.name = f"hs_test_{uuid.uuid4().hex[:16]}"
        self.has_schema = self.dropped = False
        self.reusable = with_schema and backend != "sqlite"
        self.admin_url = servers.require(backend)
        #: an admin engine on the server (None for SQLite), for tests
        #: that act on the server's side (terminate a connection)
        self.admin = None
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp_path / (self.name + '.sqlite')}"
        else:
            self.admin = _admin_engine(self.admin_url)
            self._create(with_schema)
            self.url = str(db_engine.normalize_url(self.admin_url).set(
                database=self.name).render_as_string(hide_password=False))
        self.engine = db_engine.create_engine(self.url)
        if with_schema:
            self.create_schema()

    def _create(self, with_schema):
        reused = _REUSED.take(self.backend, self.admin_url) \
            if self.reusable else None
        if reused is not None:
            self.name, self.has_schema = reused, True
            return
        charset = " CHARACTER SET utf8mb4" if self.backend == "mysql" else ""
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {self.name}{charset}")

    def create_schema(self):
        if not self.has_schema:
            schema.metadata.create_all(self.engine)
            self.has_schema = True

    def drop(self):
        """Drop it (or give it back for reuse); a second call does nothing."""
        self.engine.dispose()
        if self.backend == "sqlite" or self.dropped:
            return
        self.dropped = True
        self.admin.dispose()
        if self.reusable:
            _REUSED.give_back(self.backend, self.admin_url, self.name)
        else:
            _drop(self.admin_url, self.backend, self.name)


@pytest.fixture(scope="session", autouse=True)
def databases_dropped_at_the_end():
    """The databases kept for reuse dropped when the session ends."""
    yield
    finish()


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """An isolated, empty database on each backend (with the schema
    already when the test asks for ``database``)."""
    database = IsolatedDatabase(request.param, tmp_path,
                                with_schema="database" in request.fixturenames)
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
