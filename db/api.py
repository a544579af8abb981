"""The few query functions every persistent object is built from.

Objects never write SQL of their own for the generic cases: they insert,
read, compare-and-swap update and (soft-)delete through these functions, so
that soft delete, ``read_deleted``, timestamps, generations and the mapping
of driver errors to named errors live in one place.
"""
import contextlib
import datetime

import sqlalchemy as sa
from sqlalchemy.ext import compiler as sa_compiler

from hoststate import exception
from hoststate.db import errors
from hoststate.db import prebuilt
from hoststate.db import schema

#: Execution option of a connection whose transaction will write.
WRITE_INTENT = "hoststate_write_intent"


def utcnow():
    """Naive UTC now, the form every DateTime column stores."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class server_utcnow(sa.sql.functions.FunctionElement):
    """The database server's UTC now (naive), as a SQL expression.

    Liveness stamps and judges heartbeats with it, so every process agrees on
    "now" whatever its own clock says. Each dialect gets a clock that moves
    within a transaction (PostgreSQL's now() does not) but stays put within
    a statement; SQLite's is the clock of the machine holding the file.
    Naive, like every DateTime column.
    """

    type = sa.DateTime()
    inherit_cache = True


@sa_compiler.compiles(server_utcnow, "postgresql")
def _server_utcnow_postgresql(element, compiler, **kw):
    # now() is frozen at the start of the transaction; statement_timestamp()
    # is the start of this statement.
    return "timezone('utc', statement_timestamp())"


@sa_compiler.compiles(server_utcnow, "mysql")
@sa_compiler.compiles(server_utcnow, "mariadb")
def _server_utcnow_mysql(element, compiler, **kw):
    return "UTC_TIMESTAMP(6)"


@sa_compiler.compiles(server_utcnow, "sqlite")
def _server_utcnow_sqlite(element, compiler, **kw):
    # %f is seconds with milliseconds; the three zeros make the text the
    # same shape (microseconds) SQLAlchemy writes, so stored times compare
    # correctly as strings.
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


def engine_of(context):
    engine = getattr(context, "engine", None)
    if engine is None:
        raise exception.DBError(
            reason="the request context names no database engine; create it "
                   "with RequestContext(engine=...) or call through a conductor")
    return engine


@contextlib.contextmanager
def transaction(context):
    """One database transaction for ``context``, with named integrity errors.

    On SQLite the transaction takes the write lock when it begins (``BEGIN
    IMMEDIATE``): a transaction that reads and then writes (a claim) would
    otherwise fail at once with "database is locked" whenever another
    connection wrote in between, instead of waiting its turn.
    """
    try:
        with engine_of(context).connect() as conn:
            conn.execution_options(**{WRITE_INTENT: True})
            with conn.begin():
                yield conn
    except sa.exc.IntegrityError as exc:
        raise errors.named_integrity_error(exc) from exc


@contextlib.contextmanager
def reading(context):
    """One read-only transaction for ``context``: on SQLite a deferred
    BEGIN, which takes no write lock (in WAL mode a reader never waits
    for a writer, nor holds one up)."""
    with engine_of(context).connect() as conn:
        with conn.begin():
            yield conn


def not_deleted(table, read_deleted):
    """The WHERE clause for ``read_deleted`` on a soft-delete table."""
    if "deleted" not in table.c or read_deleted == "yes":
        return sa.true()
    if read_deleted == "only":
        return table.c.deleted != 0
    return table.c.deleted == 0


def _equal(table, equals):
    """WHERE clauses: column == value, or IN for a collection of values."""
    clauses = []
    for column, value in equals.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            clauses.append(table.c[column].in_(list(value)))
        else:
            clauses.append(table.c[column] == value)
    return clauses


def select_rows(conn, table, read_deleted="no", order_by=None, where=(),
                for_update=False, **equals):
    """Rows of ``table`` whose columns equal ``equals``, as mappings.

    ``where`` adds SQL clauses of the caller's (an OR, a NOT IN) for what
    plain equality cannot say. ``for_update`` locks the rows until the
    transaction ends and reads their latest committed version (SELECT ...
    FOR UPDATE; SQLite has no row locks, and needs none: a writing
    transaction there holds the database's write lock).
    """
    if order_by is None and not where:
        query, params = prebuilt.select(table, read_deleted, for_update,
                                         False, equals)
        if query is not None:
            return [row._mapping for row in conn.execute(query, params)]
    query = (sa.select(table).where(not_deleted(table, read_deleted))
             .where(*_equal(table, equals), *where))
    query = query.order_by(*(order_by if order_by is not None else [table.c.id]))
    if for_update:
        query = query.with_for_update()
    return [row._mapping for row in conn.execute(query)]


def select_one(conn, table, not_found, read_deleted="no", **equals):
    """The one row matching ``equals``, or ``not_found`` raised.

    With read_deleted="yes" several soft-deleted rows may match; the newest
    (highest id) one is returned, since it is the last to have lived.
    """
    query, params = prebuilt.select(table, read_deleted, False, True,
                                     equals)
    if query is not None:
        rows = [row._mapping for row in conn.execute(query, params)]
    else:
        rows = select_rows(conn, table, read_deleted,
                           order_by=[table.c.id.desc()], **equals)
    if not rows:
        raise not_found
    return rows[0]


def insert_row(conn, table, values):
    """Insert ``values`` and return the stored row (with defaults filled).

    A new compute node also gets ``updated_at``: schedulers find changed
    nodes by that column (an index range from their last watermark), and a
    node nobody has written since its creation is a change too. Both
    stamps are the database server's clock, so every writer's rows order
    the same way whatever its own clock says.
    """
    values = dict(values)
    values.setdefault("created_at", server_utcnow())
    if table.name == "compute_nodes":
        values.setdefault("updated_at", server_utcnow())
    result = conn.execute(sa.insert(table).values(**values))
    (row_id,) = result.inserted_primary_key
    return conn.execute(sa.select(table).where(table.c.id == row_id)).one()._mapping


def cas_update(conn, table, row_id, seen_generation, values, read_back=True):
    """Update a row only if it is still at ``seen_generation``.

    ``UPDATE ... SET ..., generation = generation + 1 WHERE id = :id AND
    generation = :seen``. When no row changes, the row either moved on
    (``GenerationConflict``: re-read and decide again) or is gone
    (``NotFound``). Returns the stored row after the update, or None with
    ``read_back=False`` (a caller that knows what it wrote saves a round
    trip).
    """
    # where the server returns what an UPDATE wrote (SQLite, PostgreSQL),
    # the row read back comes with the UPDATE, in one round trip
    returning = read_back and conn.dialect.update_returning
    query = _cas_statement(table, "updated_at" not in values, returning)
    params = {_ROW_ID: row_id, _SEEN: seen_generation}
    if _has_expressions(values):
        query = query.values(**values)
    else:
        params.update(values)
    result = conn.execute(query, params)
    if returning:
        row = result.first()
        if row is None:
            _raise_missing_or_conflict(conn, table, row_id, seen_generation)
        return row._mapping
    if result.rowcount != 1:
        _raise_missing_or_conflict(conn, table, row_id, seen_generation)
    if not read_back:
        return None
    return conn.execute(sa.select(table).where(table.c.id == row_id)).one()._mapping


def _has_expressions(values):
    """Whether some value is SQL (the server's clock, ``column + 1``), which
    must be part of the statement rather than a bound parameter."""
    return any(isinstance(v, sa.sql.ClauseElement) for v in values.values())


#: Bound-parameter names of the prebuilt statements (no column has them).
_ROW_ID, _SEEN = "_hs_row_id", "_hs_seen_generation"
_STATEMENTS = {}


def _cas_statement(table, stamped, returning=False):
    """The compare-and-swap UPDATE of ``table``, built once.

    The columns to set come as execution parameters, so SQLAlchemy compiles
    one statement per set of columns and caches it; building the statement
    anew with ``.values(**values)`` on every write cost more than the
    write itself (coercing every value into a bound literal).
    """
    key = ("cas", table.name, stamped, returning)
    query = _STATEMENTS.get(key)
    if query is None:
        fixed = {"generation": table.c.generation + 1}
        if stamped:
            fixed["updated_at"] = server_utcnow()
        query = (sa.update(table)
                 .where(table.c.id == sa.bindparam(_ROW_ID))
                 .where(table.c.generation == sa.bindparam(_SEEN))
                 .where(not_deleted(table, "no"))
                 .values(**fixed))
        if returning:
            query = query.returning(*table.c)
        _STATEMENTS[key] = query
    return query


def _insert_statement(table, dialect, stamped):
    """INSERT-if-absent of ``table`` for ``dialect``, built once (values are
    execution parameters; see _cas_statement)."""
    key = ("insert_if_absent", table.name, dialect, stamped)
    query = _STATEMENTS.get(key)
    if query is None:
        fixed = {"created_at": server_utcnow()} if stamped else {}
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql
            query = postgresql.insert(table).values(**fixed) \
                .on_conflict_do_nothing().returning(table.c.id)
        elif dialect in ("mysql", "mariadb"):
            query = sa.insert(table).values(**fixed).prefix_with("IGNORE")
        else:
            query = sa.insert(table).values(**fixed).prefix_with("OR IGNORE")
        _STATEMENTS[key] = query
    return query


def insert_if_absent(conn, table, values):
    """Insert ``values`` unless a row with the same unique key exists, in
    one statement (PostgreSQL ON CONFLICT DO NOTHING, MySQL INSERT IGNORE,
    SQLite INSERT OR IGNORE). True if the row was inserted."""
    dialect = conn.dialect.name
    query = _insert_statement(table, dialect,
                              stamped="created_at" not in values)
    if _has_expressions(values):
        result = conn.execute(query.values(**values))
    else:
        result = conn.execute(query, dict(values))
    if dialect == "postgresql":
        # psycopg reports no row count here; a returned id means inserted
        return result.first() is not None
    return result.rowcount == 1


def _raise_missing_or_conflict(conn, table, row_id, seen_generation):
    current = conn.execute(
        sa.select(table.c.generation)
        .where(table.c.id == row_id)
        .where(not_deleted(table, "no"))).scalar()
    if current is None:
        raise exception.NotFound(
            f"{table.name} row {row_id} does not exist or was deleted")
    raise exception.GenerationConflict(
        table=table.name, row_id=row_id, seen_generation=seen_generation)


def update_row(conn, table, row_id, values, **constraint):
    """Update a row of a table without generations.

    ``constraint`` adds equality conditions that must still hold (an
    instance's expected task state): ``ObjectActionError`` if the row lives
    but a condition failed, ``NotFound`` if there is no live row.
    """
    values = dict(values)
    values.setdefault("updated_at", utcnow())
    query = (sa.update(table).where(table.c.id == row_id)
             .where(not_deleted(table, "no"), *_equal(table, constraint))
             .values(**values))
    if conn.execute(query).rowcount != 1:
        _raise_missing_or_unmatched(conn, table, row_id, "update", constraint)
    return conn.execute(sa.select(table).where(table.c.id == row_id)).one()._mapping


def _raise_missing_or_unmatched(conn, table, row_id, action, constraint):
    exists = conn.execute(sa.select(table.c.id).where(table.c.id == row_id)
                          .where(not_deleted(table, "no"))).scalar()
    if exists is None:
        raise exception.NotFound(f"{table.name} row {row_id} does not exist")
    raise exception.ObjectActionError(
        action=action,
        reason=f"{table.name} row {row_id} no longer matches {constraint}")


def delete_row(conn, table, row_id, seen_generation=None, read_back=False,
               **constraint):
    """Delete a row: soft (``deleted = id``) where the table keeps history.

    ``constraint`` adds equality conditions that must still hold (Nova's
    ``destroy`` of a compute node checks the host did not change), and
    ``seen_generation`` makes the delete a compare-and-swap as well.
    Raises ``ObjectActionError`` if the row exists but a condition failed,
    ``NotFound`` if there is no live row. ``read_back`` (a soft delete):
    returns the row as deleted, with the UPDATE where the server returns
    what it wrote (SQLite, PostgreSQL), else read after it.
    """
    equals = dict(constraint, id=row_id)
    if seen_generation is not None:
        equals["generation"] = seen_generation
    returning = read_back and conn.dialect.update_returning and \
        table.name in schema.SOFT_DELETE_TABLES
    query, params = prebuilt.delete(table, equals, returning=returning)
    if query is None:
        query, params = _delete_where(table, equals, returning), {}
    result = conn.execute(query, params)
    deleted = result.first() if returning else None
    if deleted is not None or (not returning and result.rowcount == 1):
        if not read_back:
            return None
        return deleted._mapping if deleted is not None else select_one(
            conn, table, exception.NotFound(), "yes", id=row_id)
    if seen_generation is not None and not constraint:
        _raise_missing_or_conflict(conn, table, row_id, seen_generation)
    _raise_missing_or_unmatched(conn, table, row_id, "destroy",
                                dict(constraint, generation=seen_generation))


def delete_rows(conn, table, **equals):
    """Delete every live row matching ``equals`` (soft where history is kept).

    Returns how many rows were deleted.
    """
    query, params = prebuilt.delete(table, equals)
    if query is None:
        query, params = _delete_where(table, equals), {}
    return conn.execute(query, params).rowcount


def delete_statement(table, returning=False):
    """The delete of some of ``table``'s rows, its WHERE still to add:
    soft (``deleted = id``, ``deleted_at`` the server's now,
    ``updated_at`` kept) where the table keeps history, else a DELETE;
    ``returning`` (a soft delete): the rows come back with it."""
    if table.name not in schema.SOFT_DELETE_TABLES:
        return sa.delete(table)
    query = sa.update(table).values(deleted=table.c.id,
                                    deleted_at=server_utcnow(),
                                    updated_at=table.c.updated_at)
    return query.returning(*table.c) if returning else query


def _delete_where(table, equals, returning=False):
    """The delete of the live rows matching ``equals`` where a value is a
    collection (an IN), built for this call (``prebuilt.delete`` builds
    the others once)."""
    return delete_statement(table, returning).where(
        not_deleted(table, "no"), *_equal(table, equals))


def undelete_row(conn, table, row_id):
    """Bring a soft-deleted row back to life; NotFound if it is not deleted."""
    query = (sa.update(table).where(table.c.id == row_id, table.c.deleted != 0)
             .values(deleted=0, deleted_at=None, updated_at=server_utcnow(),
                     generation=table.c.generation + 1))
    if conn.execute(query).rowcount != 1:
        raise exception.NotFound(f"{table.name} row {row_id} is not deleted")
    return conn.execute(sa.select(table).where(table.c.id == row_id)).one()._mapping
