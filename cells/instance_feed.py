"""A child cell's feed of instance changes to its parent: the database end.

The cells service of a child reads here what to send up (the transport is
not this module's business): every instance created, changed or deleted
since a watermark, as plain JSON-safe dicts, in pages.

**The change stamp.** An instance's change stamp is ``deleted_at`` once
it is deleted, else ``updated_at``, else ``created_at`` (and the epoch for
a row that has none, written by hand). ``change_stamp`` is its one
definition: the query filters and orders by it and each row carries it as
``changed_at`` (ISO text with microseconds), so what the parent stores is
exactly what the feed paged by. Three indexes (``instances`` created_at,
updated_at, deleted_at; migration 0007) serve the query: a stamp at or
after a watermark means one of the three columns is, which the database
can answer from its indexes before the exact test.

**Paging.** Rows come ordered by (stamp, instance id), at most ``limit``
of them, with a *cursor*: the text ``"<stamp ISO>/<id>"`` of the last
row. Given back as the watermark, the cursor reads strictly after that
(stamp, id), so rows sharing a stamp across a page boundary are neither
lost nor repeated, however many share it. A watermark may also be a bare
time (a ``datetime`` or its ISO text): everything stamped at or after it.
None reads everything. When a page is empty the watermark is given back
as it came.

**Clocks, and why the sender reads again.** Stamps come from the database
server's clock (``server_utcnow``: creation, deletion, compare-and-swap
writes) or from a process's own (``utcnow``: ``update_row``), and a
transaction that commits after a later-stamped one may carry the earlier
stamp: a cursor already past it would never see that row. So a sender
that has read to the end starts its next round ``OVERLAP_S`` before where
it stopped (``rewound``), and the parent makes receiving a row again
harmless (``cells.instance_store.apply_changes`` stores a row only if its
``changed_at`` is newer than the one it holds). A row stamped more than
``OVERLAP_S`` out of order is not seen until it changes again.

A sync round::

    cursor = instance_feed.rewound(last_cursor)   # None the first time
    while True:
        rows, cursor = instance_feed.changes_since(ctx, cursor, limit)
        send(rows)
        if len(rows) < limit:
            break
    last_cursor = cursor
"""
import datetime
import typing

import sqlalchemy as sa
from sqlalchemy.ext import compiler as sa_compiler

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema

#: Seconds a sender reads again before where it stopped (see above): more
#: than clocks of the database server and the writers are apart, plus the
#: longest transaction that stamps an instance.
OVERLAP_S = 5.0
#: The most rows one page may ask for (``[cells]
#: instance_update_sync_database_limit`` has the same bound).
MAX_LIMIT = 10000
#: The stamp of a row that has none (rows written without the API).
EPOCH = datetime.datetime(1970, 1, 1)
#: What a row of the feed says of an instance besides ``deleted`` and
#: ``changed_at``: the columns the top keeps (``schema.cell_instances``).
FIELDS = ("uuid", "host", "node", "vm_state", "task_state", "vcpus",
          "memory_mb", "root_gb", "ephemeral_gb", "project_id")
#: between the stamp and the id of a cursor
_CURSOR_SEPARATOR = "/"


class Watermark(typing.NamedTuple):
    """Where a page starts: at ``stamp`` (``after_id`` None), or strictly
    after (``stamp``, ``after_id``) in the feed's order."""

    stamp: datetime.datetime
    after_id: int | None = None


class _epoch(sa.sql.functions.FunctionElement):
    """``EPOCH`` as a SQL date and time: a bound text beside DATETIME
    columns would make MariaDB's COALESCE text."""

    type = schema.DateTime
    inherit_cache = True


@sa_compiler.compiles(_epoch)
def _epoch_default(element, compiler, **kw):
    # SQLite stores times as text of this shape (microseconds)
    return f"'{EPOCH:%Y-%m-%d %H:%M:%S.%f}'"


@sa_compiler.compiles(_epoch, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"TIMESTAMP '{EPOCH:%Y-%m-%d %H:%M:%S}'"


@sa_compiler.compiles(_epoch, "mysql")
@sa_compiler.compiles(_epoch, "mariadb")
def _epoch_mysql(element, compiler, **kw):
    return f"CAST('{EPOCH:%Y-%m-%d %H:%M:%S}' AS DATETIME(6))"


def change_stamp(table=schema.instances):
    """The change stamp of a row of ``table`` as a SQL expression: the one
    definition the feed filters, orders and reports by (see the module's
    docstring)."""
    epoch = _epoch()
    live = sa.func.coalesce(table.c.updated_at, table.c.created_at, epoch,
                            type_=schema.DateTime)
    gone = sa.func.coalesce(table.c.deleted_at, table.c.updated_at,
                            table.c.created_at, epoch, type_=schema.DateTime)
    return sa.case((table.c.deleted != 0, gone), else_=live)


def iso(stamp):
    """``stamp`` as the feed writes it: ISO text with microseconds."""
    return stamp.isoformat(timespec="microseconds")


def parse_time(value, name="watermark"):
    """``value`` (a datetime or its ISO text) as a naive UTC datetime, the
    form every DateTime column stores; InvalidArgument otherwise."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise exception.InvalidArgument(
                name=name, value=value,
                reason="it is not an ISO date and time") from None
    if not isinstance(value, datetime.datetime):
        raise exception.InvalidArgument(
            name=name, value=value,
            reason="a datetime or its ISO text is required")
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def parse_watermark(watermark):
    """``watermark`` (None, a time, or a cursor) as a Watermark, or None
    for "everything"; InvalidArgument for anything else."""
    if watermark is None:
        return None
    if isinstance(watermark, str) and _CURSOR_SEPARATOR in watermark:
        stamp, _, after = watermark.rpartition(_CURSOR_SEPARATOR)
        if not after.isdigit() or not after.isascii():
            raise exception.InvalidArgument(
                name="watermark", value=watermark,
                reason="a cursor ends with an instance id")
        return Watermark(parse_time(stamp), int(after))
    return Watermark(parse_time(watermark))


def cursor(stamp, row_id):
    """The cursor of the row (``stamp``, ``row_id``): JSON-safe text."""
    return f"{iso(stamp)}{_CURSOR_SEPARATOR}{row_id}"


def rewound(watermark):
    """Where the next round of a sender starts: ``OVERLAP_S`` before
    ``watermark`` (a cursor or a time), as a time; None stays None."""
    start = parse_watermark(watermark)
    if start is None:
        return None
    return start.stamp - datetime.timedelta(seconds=OVERLAP_S)


def _checked_limit(limit):
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= MAX_LIMIT:
        raise exception.InvalidArgument(
            name="limit", value=limit,
            reason=f"a whole number from 1 to {MAX_LIMIT} is required")
    return limit


def _since(table, stamp, start):
    """WHERE clauses of the rows after ``start``: the exact test, and the
    same widened to what the three stamp indexes can answer (every
    stamp of a row is one of those columns, or the epoch)."""
    if start.after_id is None:
        exact = stamp >= start.stamp
    else:
        exact = sa.or_(stamp > start.stamp,
                       sa.and_(stamp == start.stamp,
                               table.c.id > start.after_id))
    if start.stamp <= EPOCH:
        return [exact]
    indexed = sa.or_(table.c.created_at >= start.stamp,
                     table.c.updated_at >= start.stamp,
                     table.c.deleted_at >= start.stamp)
    return [indexed, exact]


def _as_sent(row):
    sent = {name: row._mapping[name] for name in FIELDS}
    sent["deleted"] = row.deleted != 0
    sent["changed_at"] = iso(row.changed_at)
    return sent


def changes_since(context, watermark, limit):
    """(rows, next watermark): the instances of this cell's database whose
    change stamp is at or after ``watermark`` (None: all; a cursor:
    strictly after it), deleted ones included, ordered by (stamp, id), at
    most ``limit``; each row a dict of ``FIELDS``, ``deleted`` (bool) and
    ``changed_at`` (ISO text). The next watermark is the cursor of the last
    row, or ``watermark`` itself when there is none. See the module's
    docstring for the paging and clock contract."""
    start = parse_watermark(watermark)
    limit = _checked_limit(limit)
    table = schema.instances
    stamp = change_stamp(table)
    query = sa.select(table.c.id, table.c.deleted,
                      *(table.c[name] for name in FIELDS),
                      stamp.label("changed_at"))
    if start is not None:
        query = query.where(*_since(table, stamp, start))
    query = query.order_by(stamp, table.c.id).limit(limit)
    with db_api.reading(context) as conn:
        found = conn.execute(query).all()
    if not found:
        return [], watermark
    last = found[-1]
    return [_as_sent(row) for row in found], cursor(last.changed_at, last.id)
