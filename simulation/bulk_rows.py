"""Many rows into one table at once, for seeding a simulated cloud.

SQLAlchemy's executemany builds a parameter dict per row and runs every
value through its type's bind processor: for the few hundred thousand
rows of a 100,000-host cloud that is seconds of Python (about half the
seeding), while SQLite's own ``executemany`` takes tuples as they are.
``insert_many`` compiles the INSERT once, converts each column through its
bind processor only where the type has one (and values shared by every
row once), and hands SQLite the tuples. Other backends keep SQLAlchemy's
path: their drivers' plain ``executemany`` would be slower than the
multi-row statements SQLAlchemy writes for them.
"""
import functools

import sqlalchemy as sa


def insert_many(conn, table, columns, rows, shared=None):
    """Insert ``rows`` (tuples, one value per name of ``columns``) into
    ``table``, each with the values of ``shared`` ({column: value}, the
    same for every row) too."""
    shared = dict(shared or {})
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(sa.insert(table), [dict(zip(columns, row), **shared)
                                        for row in rows])
        return
    plan = _plan(conn.dialect, table, tuple(columns), tuple(shared))
    conn.exec_driver_sql(plan.sql, plan.bind(rows, shared))


class _Plan:
    """The INSERT of some columns, in their order (SQLite's qmark style),
    and how to bind a row to it."""

    def __init__(self, dialect, table, columns, shared):
        names = columns + shared
        computed = [c.name for c in table.c
                    if c.default is not None and c.name not in names]
        if computed:
            raise ValueError(f"cannot insert into {table.name} through the "
                             f"driver: {computed} have defaults computed "
                             f"in Python")
        preparer = dialect.identifier_preparer
        quote = preparer.quote
        self.sql = (f"INSERT INTO {preparer.format_table(table)} "
                    f"({', '.join(quote(name) for name in names)}) "
                    f"VALUES ({', '.join('?' * len(names))})")
        self.convert = [table.c[name].type.dialect_impl(dialect)
                        .bind_processor(dialect) for name in names]
        self.width = len(columns)

    def bind(self, rows, shared):
        """Driver-ready tuples of ``rows`` followed by ``shared``'s values
        (converted once)."""
        convert = self.convert
        tail = tuple(value if convert[self.width + i] is None
                     else convert[self.width + i](value)
                     for i, value in enumerate(shared.values()))
        converting = [(i, convert[i]) for i in range(self.width)
                      if convert[i] is not None]
        if not converting:
            return [tuple(row) + tail for row in rows]
        result = []
        for row in rows:
            row = list(row)
            for i, to_driver in converting:
                row[i] = to_driver(row[i])
            result.append(tuple(row) + tail)
        return result


@functools.lru_cache(maxsize=64)
def _plan(dialect, table, columns, shared):
    return _Plan(dialect, table, columns, shared)
