"""Instance faults: why an instance went wrong, as Nova records it.

A conductor that gives a build up (every node tried failed, or nobody
will ever finish it: ``conductor.build_sweep``) writes one fault with the
reason of each attempt, one per line of ``details``, in the transaction
that sets the instance ERROR; any conductor then answers
``instance_states`` (and so ``hoststate boot --wait``) with the newest
fault of each instance, whichever conductor wrote it and however often
conductors restarted since. Only conductors write faults: no agent's
remotable call reaches this table.
"""
import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema

TABLE = schema.instance_faults
#: the code Nova gives a fault that is not a client's mistake
SERVER_ERROR = 500
#: the longest ``message`` the column keeps (the reasons go in details)
MESSAGE_CHARS = 255


def record(conn, instance_uuid, message, reasons, host=None):
    """Add a fault of ``instance_uuid`` on ``conn`` (in the caller's
    transaction): ``message``, cut to its column, and each reason as one
    line of the details."""
    db_api.insert_row(conn, TABLE, {
        "instance_uuid": instance_uuid, "code": SERVER_ERROR,
        "message": message[:MESSAGE_CHARS], "host": host,
        "details": "\n".join(" ".join(str(r).split()) for r in reasons)})


def latest_reasons(context, instance_uuids):
    """{uuid: [reason, ...]} of the newest fault of each instance that has
    one, read in one query."""
    if not instance_uuids:
        return {}
    with db_api.reading(context) as conn:
        rows = conn.execute(
            sa.select(TABLE.c.instance_uuid, TABLE.c.details)
            .where(TABLE.c.instance_uuid.in_(list(instance_uuids)),
                   TABLE.c.deleted == 0)
            .order_by(TABLE.c.id))
        newest = {row.instance_uuid: row.details for row in rows}
    return {uuid: (details or "").splitlines()
            for uuid, details in newest.items()}
