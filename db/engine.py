"""Engines for the three supported databases.

SQLite is the embedded default; PostgreSQL (psycopg 3) and MariaDB/MySQL
(PyMySQL) are the production databases. URLs without a driver name are given
the one hoststate depends on, so ``postgresql://`` and ``mysql://`` from an
existing nova.conf work unchanged.
"""
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hoststate import exception

_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "sqlite": "sqlite",
}

#: How long SQLite waits for another connection's write lock, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30


def normalize_url(url):
    """Return ``url`` as a SQLAlchemy URL naming the driver hoststate uses."""
    try:
        parsed = make_url(str(url))
    except sa.exc.ArgumentError as exc:
        raise exception.DBError(reason=f"invalid database URL {url!r}: {exc}")
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _DEFAULT_DRIVERS:
        raise exception.DBError(
            reason=f"unsupported database {backend!r} in {parsed!r}; "
                   f"hoststate supports sqlite, postgresql and mysql/mariadb")
    if not driver:
        parsed = parsed.set(drivername=_DEFAULT_DRIVERS[backend])
    return parsed


def is_sqlite_memory(url):
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(url, **kwargs):
    """Create an engine for ``url`` with hoststate's per-dialect settings.

    SQLite gets foreign keys on (SQLite leaves them off by default), a busy
    timeout instead of immediate "database is locked" errors, and WAL journal
    mode for a file database so readers (schedulers) never block the writer
    (a compute agent's periodic update). An in-memory database is shared by
    every connection of the engine, otherwise each would see an empty one.
    """
    url = normalize_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        kwargs["connect_args"].setdefault("check_same_thread", False)
        if is_sqlite_memory(url):
            kwargs.setdefault("poolclass", sa.pool.StaticPool)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    if backend in ("mysql", "mariadb"):
        kwargs.setdefault("connect_args", {}).setdefault("charset", "utf8mb4")
    engine = sa.create_engine(url, **kwargs)
    if backend == "sqlite":
        _install_sqlite_pragmas(engine, wal=not is_sqlite_memory(url))
    return engine


def _install_sqlite_pragmas(engine, wal):
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # pysqlite opens transactions lazily and not for DDL; turn that off so
        # SQLAlchemy's BEGIN is the real transaction start (needed for
        # consistent compare-and-swap and for transactional migrations).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        # a transaction that will write takes the write lock now (see
        # db.api.transaction); readers never wait for it in WAL mode
        if connection.get_execution_options().get("hoststate_write_intent"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
