"""Engines for the three supported databases.

SQLite is the embedded default; PostgreSQL (psycopg 3) and MariaDB/MySQL
(PyMySQL) are the production databases. URLs without a driver name are given
the one hoststate depends on, so ``postgresql://`` and ``mysql://`` from an
existing nova.conf work unchanged.
"""
import os
import re
import threading
import weakref

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hoststate import exception
from hoststate.db import sqlite_checkpoints

_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "sqlite": "sqlite",
}

#: How long SQLite waits for another connection's write lock, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30


class DatabaseUnavailable(exception.DBError):
    """A database that cannot be used as named: it does not exist, the
    login is refused, the server cannot be reached, a table is missing.
    ``problem`` says what was wrong, ``remedy`` what to do (may be empty);
    see :func:`explain_error`."""

    msg_fmt = "%(problem)s%(remedy)s"

    def __init__(self, problem, remedy=None):
        super().__init__(problem=problem,
                         remedy=f"; {remedy}" if remedy else "")


class SQLiteDirectoryMissing(DatabaseUnavailable):
    """An SQLite file whose directory does not exist: hoststate creates no
    directory for a path it was given (a typo would leave a stray tree)."""

    def __init__(self, url):
        directory = os.path.dirname(os.path.abspath(url.database))
        self.directory = directory
        super().__init__(
            f"database {shown(url)}: directory {directory} does not exist",
            "create it, or name a file in an existing directory with "
            "--database-url or [database] connection")


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


def shown(url):
    """``url`` as it may be printed: the password masked."""
    return make_url(str(url)).render_as_string(hide_password=True)


def require_sqlite_directory(url):
    """Raise SQLiteDirectoryMissing when ``url`` is an SQLite file in a
    directory that does not exist; any other URL passes."""
    url = normalize_url(url)
    if url.get_backend_name() == "sqlite" and not is_sqlite_memory(url):
        if not os.path.isdir(os.path.dirname(os.path.abspath(url.database))):
            raise SQLiteDirectoryMissing(url)
    return url


#: What SQLite says of a file that is not one of its databases, and of a
#: damaged one: their error class (DatabaseError) holds bugs too, so only
#: the message tells these apart (see :func:`is_unusable_sqlite_file`).
_NOT_SQLITE = r"file is not a database"
_DAMAGED_SQLITE = r"database disk image is malformed"

#: (pattern of the driver's message, problem, remedy); the first match
#: explains a database error. ``{url}`` is the database, password masked;
#: ``{address}`` its server; ``{then_sync}`` the advice to create the
#: schema, empty when the command creates it itself.
_DIAGNOSES = (
    (r'database "[^"]*" does not exist|\(1049,|Unknown database',
     "database {url} does not exist",
     "create it (CREATE DATABASE){then_sync}"),
    (r"password authentication failed|no password supplied|\(1045,|"
     r'Access denied|role "[^"]*" does not exist',
     "cannot log in to database {url}",
     "check the user name and password in --database-url or [database] "
     "connection"),
    (r"Connection refused|Can't connect|could not translate host name|"
     r"Name or service not known|timeout expired|timed out|"
     r"No route to host|\(200[356],",
     "cannot reach database {url}",
     "check that the database server is running and listening at "
     "{address}"),
    (r'no such table|relation "[^"]*" does not exist|\(1146,|'
     r"Table '[^']*' doesn't exist",
     "database {url} lacks a hoststate table",
     "run hoststate db sync"),
    (_NOT_SQLITE,
     "{url} is not an SQLite database",
     "name an SQLite database file, or a new file in an existing "
     "directory, with --database-url or [database] connection"),
    (_DAMAGED_SQLITE,
     "SQLite database {url} is damaged",
     "restore it from a backup, or name another with --database-url or "
     "[database] connection"),
)

#: the remedy's ``{then_sync}``, for a command that does not create the
#: schema itself
_THEN_SYNC = ", then run hoststate db sync"


def explain_error(error, url=None, creates_schema=False):
    """A :class:`DatabaseUnavailable` saying, in one line, what was wrong
    with the database and what to do, for an error SQLAlchemy or a driver
    raised. ``url`` defaults to the one the engine that failed recorded on
    the error (see :func:`create_engine`). ``creates_schema``: the caller
    creates the schema itself (``db sync``, ``simulate``), so the remedy
    for a database that does not exist ends at creating it, instead of
    sending the user on to ``hoststate db sync``."""
    url = url if url is not None else getattr(error, "hoststate_url", None)
    where = shown(url) if url is not None else "(unknown URL)"
    reason = _driver_message(error)
    if url is not None and url.get_backend_name() == "sqlite" and \
            "unable to open database file" in reason:
        try:
            require_sqlite_directory(url)
        except SQLiteDirectoryMissing as missing:
            return missing
    for pattern, problem, remedy in _DIAGNOSES:
        if re.search(pattern, reason):
            return DatabaseUnavailable(
                f"{problem.format(url=where)}: {reason}",
                remedy.format(address=_address(url), then_sync=(
                    "" if creates_schema else _THEN_SYNC)))
    return DatabaseUnavailable(f"database {where}: {reason}")


def is_unusable_sqlite_file(error):
    """Whether ``error`` (of any class) is SQLite saying its file is not
    a database or is damaged: an expected failure, for the command to
    explain (:func:`explain_error`), not a bug."""
    return re.search(f"{_NOT_SQLITE}|{_DAMAGED_SQLITE}",
                     _driver_message(error)) is not None


def _driver_message(error):
    """The first line of what the database driver said."""
    orig = getattr(error, "orig", None) or error
    args = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int):      # PyMySQL
        text = f"({args[0]}, {args[1]!r})"
    else:
        text = str(orig)
    lines = [line.strip() for line in text.strip().splitlines()]
    text = lines[0] if lines and lines[0] else type(orig).__name__
    return re.sub(r"\s+", " ", text.removeprefix("connection failed: "))


def _address(url):
    if url is None or not url.host:
        return "the configured address"
    return f"{url.host}:{url.port}" if url.port else url.host


def create_engine(url, **kwargs):
    """Create an engine for ``url`` with hoststate's per-dialect settings.

    SQLite gets foreign keys on (SQLite leaves them off by default), a busy
    timeout instead of immediate "database is locked" errors, and WAL journal
    mode for a file database so readers (schedulers) never block the writer
    (a compute agent's periodic update), with the log's checkpoints in a
    thread of their own (``sqlite_checkpoints``). An in-memory database is shared by
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
    _record_url_on_errors(engine, url)
    if backend == "sqlite":
        wal = not is_sqlite_memory(url)
        _install_sqlite_pragmas(engine, wal=wal)
        if wal and not url.database.startswith("file:"):
            sqlite_checkpoints.install(engine, url.database)
    return engine


_SINGLE_STATEMENTS = weakref.WeakKeyDictionary()
_SINGLE_STATEMENTS_LOCK = threading.Lock()


def for_single_statements(engine):
    """The same database as ``engine`` through a pool of its own, for
    statements that are each their own transaction (created once per
    engine, disposed with it; None for SQLite, whose engine is shared).

    Its connections are in autocommit mode from the start (no BEGIN, no
    COMMIT, no ROLLBACK round trip: MariaDB's driver sends one for each,
    even with nothing to end), and are not pinged before they are handed
    out: a pre-ping is one more round trip, a tenth of a claim, and a
    statement that is its own transaction is safe to try again once its
    caller knows it did not commit (``scheduler.claims``).
    """
    if engine.url.get_backend_name() == "sqlite":
        return None
    with _SINGLE_STATEMENTS_LOCK:
        sibling = _SINGLE_STATEMENTS.get(engine)
        if sibling is None:
            sibling = create_engine(
                engine.url, pool_pre_ping=False, pool_reset_on_return=None,
                isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True)
            # the first connection tells the dialect what the server is
            # (MariaDB or MySQL), which decides the statements it is given
            sibling.connect().close()
            _SINGLE_STATEMENTS[engine] = sibling
            sa.event.listen(engine, "engine_disposed",
                            lambda _engine: sibling.dispose())
    return sibling


def fetch_one(engine, statement, params):
    """Run one SQL text on a pooled connection of ``engine`` through the
    driver's own cursor: the first row as a dict (None when there is no
    row, or no result set at all).

    For a statement run so often that SQLAlchemy's per-execution work
    (execution context, result metadata, row objects) shows: the claim's.
    Errors come out as SQLAlchemy's (``IntegrityError``, ``DBAPIError``
    with ``connection_invalidated`` where the driver lost its connection,
    which then leaves the pool), with the URL as every engine error has it
    (``explain_error``). Statement events do not fire for it.
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
            if cursor.description is None:
                return None
            names = [column[0] for column in cursor.description]
            values = cursor.fetchone()
        finally:
            close_cursor(cursor)
    except engine.dialect.loaded_dbapi.Error as exc:
        lost = engine.dialect.is_disconnect(
            exc, connection.dbapi_connection, None)
        if lost:
            connection.invalidate(exc)
        error = sa.exc.DBAPIError.instance(
            statement, params, exc, engine.dialect.loaded_dbapi.Error,
            connection_invalidated=lost, dialect=engine.dialect)
        error.hoststate_url = engine.url
        raise error from exc
    finally:
        connection.close()
    return None if values is None else dict(zip(names, values))


def close_cursor(cursor):
    """Close a cursor; one whose connection is gone may fail to."""
    try:
        cursor.close()
    except Exception:       # noqa: BLE001 - the statement's error matters
        pass


def _record_url_on_errors(engine, url):
    """Every error the engine raises, connecting included, carries
    ``hoststate_url`` (its URL), so that whoever reports it can say which
    database failed (see :func:`explain_error`); the error itself is not
    changed, callers that catch SQLAlchemy's classes still do."""
    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context):
        # None when the error is not the database's (an exception raised
        # inside the block that held the connection)
        if context.sqlalchemy_exception is not None:
            context.sqlalchemy_exception.hoststate_url = url


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
