"""Where the claims of one request are written: one transaction for a
request of several instances, so that a request failing part-way leaves
every table as it was (``ClaimSession``)."""
import contextlib

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import errors as db_errors
from hoststate.db import schema
from hoststate.scheduler import claims


class Deadlocked(exception.HoststateError):
    """The database aborted a request's claims to break a deadlock with
    another writer (or they waited too long for a row lock); nothing of
    them was kept, and the whole request may be tried again."""

    msg_fmt = "claims on %(node)s deadlocked with another writer: %(reason)s"


class ClaimSession:
    """Where the claims of one request are written.

    A request for one instance claims in a transaction of its own, as
    ``claim`` does: nothing is written unless the claim succeeds. A
    request for several (``together=True``) claims every instance in one
    transaction per cell database, committed when all are placed and
    rolled back otherwise, so a request that fails part-way leaves every
    table as it was, generations and timestamps included, and no other
    reader ever sees half a request. Its node rows are read with a row
    lock, so its claims wait for other writers instead of losing to them;
    two such requests locking nodes in opposite orders deadlock, the
    database aborts one, and ``claim`` raises Deadlocked (the scheduler
    then tries the whole request again). Each claim runs in a savepoint: a
    claim rejected half-way (the instance already placed) undoes only
    itself.

    A context manager: leaving it without an exception commits.
    """

    def __init__(self, together=False):
        self.together = together
        self._stack = contextlib.ExitStack()
        self._connections = {}

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return self._stack.__exit__(kind, value, traceback)

    def claim(self, context, node_id, request, instance_uuid, seen=None):
        """Claim on node ``node_id``; the node row as stored after it (in
        this session). Raises ClaimRejected or Deadlocked. ``seen`` is
        used by a claim of its own transaction only (a shared one locks
        and reads its nodes)."""
        if not self.together:
            return claims.claim(context, node_id, request, instance_uuid,
                                seen)
        conn = self._connection(context)
        try:
            with conn.begin_nested():
                return claims.claim_on(conn, context, node_id, request,
                                       instance_uuid, lock=True)
        except (exception.GenerationConflict, exception.NotFound):
            raise exception.ClaimRejected(
                node=str(node_id), reasons=["the node changed or was "
                                            "deleted under a row lock"])
        except sa.exc.DBAPIError as exc:
            victim = _deadlock_in(exc)
            if victim is not None:
                raise Deadlocked(node=str(node_id),
                                 reason=str(victim.orig).strip()
                                 .splitlines()[0]) from None
            raise

    def read_node(self, context, node_id):
        """The node's row as this session sees it (its own claims
        included), or None outside a shared transaction."""
        conn = self._connections.get(id(db_api.engine_of(context)))
        if conn is None:
            return None
        rows = db_api.select_rows(conn, schema.compute_nodes, where=(
            schema.compute_nodes.c.id == node_id,), read_deleted="yes")
        return rows[0] if rows else None

    def _connection(self, context):
        engine = db_api.engine_of(context)
        conn = self._connections.get(id(engine))
        if conn is None:
            conn = self._stack.enter_context(engine.connect())
            conn.execution_options(**{db_api.WRITE_INTENT: True})
            self._stack.enter_context(_named_errors())
            self._stack.enter_context(conn.begin())
            self._connections[id(engine)] = conn
        return conn


def _deadlock_in(exc):
    """The deadlock error behind ``exc``, if any: MySQL rolls the whole
    transaction back on a deadlock, so undoing the savepoint fails next
    and that error is the one raised, with the deadlock as its context."""
    while exc is not None:
        if db_errors.is_deadlock(exc):
            return exc
        exc = exc.__context__
    return None


@contextlib.contextmanager
def _named_errors():
    """Integrity errors at commit as the named errors db_api raises."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise db_errors.named_integrity_error(exc) from exc
