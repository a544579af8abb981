"""SELECTs of whole rows by equality, built once per shape.

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
    if any(isinstance(v, (list, tuple, set, frozenset))
           for v in equals.values()):
        return None, None
    names = tuple(sorted(equals))
    nulls = tuple(equals[name] is None for name in names)
    key = ("select", table.name, read_deleted, for_update, newest_first,
           names, nulls)
    query = _BUILT.get(key)
    if query is None:
        clauses = [table.c[name].is_(None) if null else
                   table.c[name] == sa.bindparam(f"_eq_{name}",
                                                 type_=table.c[name].type)
                   for name, null in zip(names, nulls)]
        query = (sa.select(table).where(db_api.not_deleted(table, read_deleted))
                 .where(*clauses)
                 .order_by(table.c.id.desc() if newest_first
                           else table.c.id))
        if for_update:
            query = query.with_for_update()
        _BUILT[key] = query
    return query, {f"_eq_{name}": equals[name]
                   for name, null in zip(names, nulls) if not null}
