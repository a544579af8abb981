"""What a driver's error means, on SQLite, PostgreSQL and MariaDB: a
deadlock victim to retry, or an integrity error by name (a duplicate, a
missing reference), read from SQLSTATE (psycopg), errno (PyMySQL) or the
message (sqlite3, which has neither)."""
import sqlalchemy as sa

from hoststate import exception

_UNIQUE_VIOLATION = {"23505", 1062, "UNIQUE constraint failed"}
_FK_VIOLATION = {"23503", 1451, 1452, "FOREIGN KEY constraint failed"}

#: What PostgreSQL (SQLSTATE) and MySQL/MariaDB (errno) say when they
#: abort a transaction that waited on another in a cycle (or too long).
_DEADLOCK = {"40P01", "40001", 1213, 1205}


def is_deadlock(exc):
    """Whether a driver error means "this transaction was chosen as a
    deadlock victim (or gave up waiting for a lock)": the caller rolls
    back and tries the whole transaction again."""
    return isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None and \
        bool(_error_codes(exc) & _DEADLOCK)


def _error_codes(exc):
    """What identifies the error: SQLSTATE (psycopg), errno (PyMySQL)."""
    orig = exc.orig
    codes = {getattr(orig, "sqlstate", None)}
    if getattr(orig, "args", None):
        codes.add(orig.args[0])
    return codes


def _matches(exc, known):
    text = str(exc.orig)
    return bool(_error_codes(exc) & known) or any(
        isinstance(code, str) and code in text for code in known)


def named_integrity_error(exc):
    """The named error (DuplicateRecord, ReferenceNotFound, DBError) of a
    driver's IntegrityError."""
    table = _table_in_statement(exc.statement)
    detail = _short(str(exc.orig))
    if _matches(exc, _UNIQUE_VIOLATION):
        return exception.DuplicateRecord(table=table, detail=detail)
    if _matches(exc, _FK_VIOLATION):
        return exception.ReferenceNotFound(table=table, reason=detail)
    return exception.DBError(reason=detail)


def _short(text):
    return text.strip().splitlines()[0][:300]


def _table_in_statement(statement):
    words = (statement or "").replace('"', " ").replace("`", " ").split()
    for keyword in ("INTO", "UPDATE", "FROM"):
        if keyword in words:
            index = words.index(keyword) + 1
            if index < len(words):
                return words[index]
    return "unknown"
