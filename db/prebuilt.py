"""SELECTs of whole rows and DELETEs by equality, built once per shape.

``db.api.select_rows`` and ``select_one`` build their statement from the
columns compared; on the objects' hot reads (an instance by uuid, a node
by id, a ledger row) building it cost more than running it. Here it is
built once per (table, columns compared, which of them with NULL, soft
delete mode, order, lock) and its values are bound as parameters.
"""
import sqlalchemy as sa

from hoststate.db import api as db_api

_BUILT = {}


def select(table, read_deleted, for_update, newest_first, equals):
    """(statement, parameters) of a SELECT of whole rows whose columns
    equal scalar ``equals``, the statement built once per shape (the
    columns compared, which of them with NULL) and its values bound as
    parameters; (None, None) when a value is a collection (an IN). Building
    the statement anew cost more than running it on the objects' hot
    reads (an instance by uuid, a node by id, a ledger row)."""
    shape = _shape(equals)
    if shape is None:
        return None, None
    names, nulls = shape
    key = ("select", table.name, read_deleted, for_update, newest_first,
           names, nulls)
    query = _BUILT.get(key)
    if query is None:
        query = (sa.select(table).where(db_api.not_deleted(table, read_deleted))
                 .where(*_clauses(table, names, nulls))
                 .order_by(table.c.id.desc() if newest_first
                           else table.c.id))
        if for_update:
            query = query.with_for_update()
        _BUILT[key] = query
    return query, _params(equals, names, nulls)


def delete(table, equals, returning=False):
    """(statement, parameters) of deleting the live rows whose columns
    equal scalar ``equals`` (``db.api.delete_statement``: soft where the
    table keeps history; ``returning`` the soft-deleted rows). Built once
    per shape, as ``select``; (None, None) for an IN."""
    shape = _shape(equals)
    if shape is None:
        return None, None
    names, nulls = shape
    key = ("delete", table.name, names, nulls, returning)
    query = _BUILT.get(key)
    if query is None:
        query = _BUILT[key] = db_api.delete_statement(table, returning).where(
            db_api.not_deleted(table, "no"), *_clauses(table, names, nulls))
    return query, _params(equals, names, nulls)


def _shape(equals):
    """(sorted column names, which values are None), or None when a value
    is a collection (an IN, built each time)."""
    if any(isinstance(v, (list, tuple, set, frozenset))
           for v in equals.values()):
        return None
    names = tuple(sorted(equals))
    return names, tuple(equals[name] is None for name in names)


def _clauses(table, names, nulls):
    return [table.c[name].is_(None) if null else
            table.c[name] == sa.bindparam(f"_eq_{name}",
                                          type_=table.c[name].type)
            for name, null in zip(names, nulls)]


def _params(equals, names, nulls):
    return {f"_eq_{name}": equals[name]
            for name, null in zip(names, nulls) if not null}
