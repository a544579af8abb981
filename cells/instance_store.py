"""The top cell's view of every instance of every cell: the database end.

Children send their instance changes up (``cells.instance_feed`` reads
them; the transport is not this module's business) and the top keeps one
``cell_instances`` row per instance uuid: which cell holds it (its path,
``api!child1!grand1``), where and in what state, its sizes, and
``changed_at``, the child's own stamp of the change.

Rules, all kept by ``apply_changes`` in one transaction per call:

* **Re-sending is harmless.** A change is stored only if its
  ``changed_at`` is newer than the one held (a sender reads again
  ``instance_feed.OVERLAP_S`` back, and messages may arrive out of
  order): an older or equal one changes nothing. A deletion is final:
  nothing the same cell sends after it brings the instance back.
* **An instance lives in exactly one cell.** A change from a cell other
  than the one holding the instance (live or deleted there) is refused;
  if the sender still has it live, its uuid is in ``conflicts`` and the
  top routes a delete down to it. An instance that no cell holds (a
  build given up, ``forward_failed``), or that was deleted in the cell
  that held it, goes to the cell that reports it (a build that
  succeeded after all).
* **Before a build goes down**, the top records which child it sends it
  to (``record_forward``: BUILDING, ``changed_at`` NULL, the child has
  said nothing yet); while the child has said nothing the top may hand
  the build to the next child (``move_forward``, a compare-and-swap on
  the holder), give it up (``forward_failed``) or forget it when every
  cell said it could not build it (``drop_forward``). The first report
  from the child or from a cell below it (the child chose a grandchild)
  takes it, with the reporting cell's exact path.

Paths are compared exactly here, and in SQL by the column's collation:
MariaDB's ignores case, as the cell tree does (``cells.tree``: two live
cells never differ by case only). Every input is checked before
anything is read or written; a bad one is a typed error
(``InvalidCellInstance``, ``InvalidCellPath``, ``InvalidArgument``)
naming the field and the value.

Concurrency: the rows of a call are locked in uuid order (SELECT ... FOR
UPDATE) and absent ones inserted if still absent (``insert_if_absent``),
so two calls for the same uuid serialise. MariaDB may still pick one of
two inserts of the same new uuid as a deadlock victim (gap locks); the
whole call, idempotent by the first rule, is then run again.
"""
import logging

import sqlalchemy as sa

from hoststate.cells import instance_checks
from hoststate.cells import instance_feed
from hoststate.cells import tree
from hoststate.db import api as db_api
from hoststate.db import errors as db_errors
from hoststate.db import schema
from hoststate.objects import states

LOG = logging.getLogger(__name__)

TABLE = schema.cell_instances
SIZES, TEXTS = instance_checks.SIZES, instance_checks.TEXTS
MAX_ROWS = instance_checks.MAX_ROWS
#: How many times a call chosen as a deadlock victim is run in all.
DEADLOCK_ATTEMPTS = 5

STORED, UNCHANGED, REFUSED = "stored", "unchanged", "refused"
checked_uuid = instance_checks.checked_uuid
checked_path = instance_checks.checked_path
checked_sizes = instance_checks.checked_sizes
checked_change = instance_checks.checked_change


def _text(field, value, uuid):
    return instance_checks.checked_value(field, value, uuid,
                                         instance_checks.TEXT_FIELD)


# --- what a change does to what is stored --------------------------------------

def decide(stored, cell_path, change):
    """STORED, UNCHANGED or REFUSED: what ``change`` from ``cell_path``
    does to ``stored`` (the row held for its uuid, as a mapping, or
    None). The rules of the module's docstring, and nothing else."""
    if stored is None:
        return STORED
    holder, deleted = stored["cell_path"], stored["deleted"] != 0
    if holder != cell_path and stored["changed_at"] is None and \
            not deleted and _under(cell_path, holder or ""):
        return STORED       # a build handed to a child, made below it
    if holder == cell_path:
        if deleted:
            return UNCHANGED                # a deletion is final
        seen = stored["changed_at"]
        return STORED if seen is None or change["changed_at"] > seen \
            else UNCHANGED
    if holder is None or deleted:
        return STORED                       # nobody holds it (any more)
    return REFUSED


def _values(cell_path, change):
    values = {name: change[name] for name in TEXTS + SIZES}
    values.update(uuid=change["uuid"], cell_path=cell_path,
                  changed_at=change["changed_at"],
                  updated_at=db_api.server_utcnow())
    return values


def _write(conn, row_id, cell_path, change):
    """Overwrite row ``row_id`` (locked by this transaction) with
    ``change``; a deletion sets ``deleted`` to the row's id, as every
    soft-deleted table does."""
    values = _values(cell_path, change)
    if change["deleted"]:
        values.update(deleted=TABLE.c.id, deleted_at=db_api.server_utcnow())
    else:
        values.update(deleted=0, deleted_at=None)
    conn.execute(sa.update(TABLE).where(TABLE.c.id == row_id)
                 .values(**values))


def _locked(conn, uuids):
    """{uuid: row} of the stored rows of ``uuids``, locked in uuid order
    until the transaction ends."""
    rows = db_api.select_rows(conn, TABLE, read_deleted="yes",
                              order_by=[TABLE.c.uuid], for_update=True,
                              uuid=sorted(uuids))
    return {row["uuid"]: row for row in rows}


def _read_locked(conn, uuid):
    return _locked(conn, [uuid]).get(uuid)


def _apply_one(conn, cell_path, change, stored):
    """What ``change`` did: (outcome, the row now held or None)."""
    if stored is None:
        values = dict(_values(cell_path, change), deleted=0)
        if db_api.insert_if_absent(conn, TABLE, values):
            stored = _read_locked(conn, change["uuid"])
            if change["deleted"]:
                _write(conn, stored["id"], cell_path, change)
            return STORED, None
        stored = _read_locked(conn, change["uuid"])   # inserted meanwhile
    outcome = decide(stored, cell_path, change)
    if outcome == STORED:
        _write(conn, stored["id"], cell_path, change)
        return outcome, None
    return outcome, stored


def _apply(conn, cell_path, changes):
    result = {STORED: 0, UNCHANGED: 0, REFUSED: 0, "conflicts": []}
    held = _locked(conn, {change["uuid"] for change in changes})
    for at, change in enumerate(changes):
        outcome, stored = _apply_one(conn, cell_path, change,
                                     held.get(change["uuid"]))
        if stored is None and at + 1 < len(changes) and \
                changes[at + 1]["uuid"] == change["uuid"]:
            # the next change of the same uuid reads what this one wrote
            stored = _read_locked(conn, change["uuid"])
        held[change["uuid"]] = stored
        result[outcome] += 1
        if outcome == REFUSED and not change["deleted"] and \
                change["uuid"] not in result["conflicts"]:
            result["conflicts"].append(change["uuid"])
    return result


def _in_transaction(context, work):
    """``work(conn)`` in one transaction, run again (in all
    ``DEADLOCK_ATTEMPTS`` times) when the database picks it as a deadlock
    victim: every caller's work here is idempotent."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            with db_api.transaction(context) as conn:
                return work(conn)
        except sa.exc.DBAPIError as exc:
            if attempt == DEADLOCK_ATTEMPTS or not db_errors.is_deadlock(exc):
                raise
            LOG.info("cell instances: deadlock victim (attempt %d), "
                     "running again", attempt)


# --- the public calls -------------------------------------------------------

def apply_changes(context, cell_path, rows):
    """Store the changes ``rows`` (``instance_feed.changes_since`` rows)
    that the cell ``cell_path`` sent, by the module's rules, in one
    transaction. Returns {"stored": n, "unchanged": n, "refused": n,
    "conflicts": [uuid, ...]}: the uuids another cell holds that the
    sender still has live, to be deleted there. A bad row refuses the
    whole call before anything is written."""
    cell_path = checked_path(cell_path)
    changes = instance_checks.checked_rows(rows)
    if not changes:
        return {STORED: 0, UNCHANGED: 0, REFUSED: 0, "conflicts": []}
    return _in_transaction(context,
                           lambda conn: _apply(conn, cell_path, changes))


def record_forward(context, uuid, cell_path, sizes, project_id):
    """Record, before a build goes down, that the child ``cell_path``
    holds instance ``uuid`` (BUILDING, ``changed_at`` None). True if it
    is so now (recorded by this call or an identical one before); False
    when the uuid is known otherwise (another holder, a report, a
    deletion), and nothing changed."""
    uuid = checked_uuid(uuid)
    cell_path = checked_path(cell_path)
    values = dict(checked_sizes(sizes, uuid), uuid=uuid, cell_path=cell_path,
                  project_id=_text("project_id", project_id, uuid),
                  vm_state=states.BUILDING, updated_at=db_api.server_utcnow())

    def record(conn):
        if db_api.insert_if_absent(conn, TABLE, values):
            return True
        stored = _read_locked(conn, uuid)
        return stored["cell_path"] == cell_path and \
            stored["changed_at"] is None and stored["deleted"] == 0

    return _in_transaction(context, record)


def _while_unreported(uuid, **equals):
    """The WHERE clauses of a live row of ``uuid`` that no cell has
    reported on yet (``changed_at`` NULL)."""
    return [TABLE.c.uuid == uuid, TABLE.c.deleted == 0,
            TABLE.c.changed_at.is_(None),
            *(TABLE.c[name] == value for name, value in equals.items())]


def _update_if(context, where, values):
    values = dict(values, updated_at=db_api.server_utcnow())
    return _in_transaction(context, lambda conn: conn.execute(
        sa.update(TABLE).where(*where).values(**values)).rowcount == 1)


def move_forward(context, uuid, from_path, to_path):
    """Hand the build of ``uuid`` from the child ``from_path`` (which did
    not answer) to ``to_path``: a compare-and-swap on the holder, True if
    it moved; False if another holder, a report from the child or a
    deletion came first."""
    uuid = checked_uuid(uuid)
    from_path, to_path = checked_path(from_path), checked_path(to_path)
    return _update_if(context, _while_unreported(uuid, cell_path=from_path),
                      {"cell_path": to_path})


def forward_failed(context, uuid, vm_state=states.ERROR):
    """Give the build of ``uuid`` up: no cell holds it (``cell_path``
    NULL, ``vm_state``, no task, no host). True if so; False when a
    child reported on it first (it holds it) or it is not recorded."""
    uuid = checked_uuid(uuid)
    vm_state = _text("vm_state", vm_state, uuid)
    return _update_if(context, _while_unreported(uuid),
                      {"cell_path": None, "vm_state": vm_state,
                       "task_state": None, "host": None, "node": None})


def drop_forward(context, uuid, cell_path):
    """Forget the build of ``uuid`` recorded for ``cell_path`` while no
    cell has reported on it (every cell said it could not build it:
    the table goes back to what it was). True if it went."""
    uuid = checked_uuid(uuid)
    cell_path = checked_path(cell_path)
    return _in_transaction(context, lambda conn: conn.execute(
        sa.delete(TABLE).where(*_while_unreported(
            uuid, cell_path=cell_path))).rowcount == 1)


def owner_of(context, uuid):
    """The path of the cell holding instance ``uuid``, or None (not
    known, deleted, or held by no cell)."""
    uuid = checked_uuid(uuid)
    with db_api.reading(context) as conn:
        rows = db_api.select_rows(conn, TABLE, uuid=uuid)
    return rows[0]["cell_path"] if rows else None


def _as_listed(row):
    listed = {name: row[name] for name in ("uuid", "cell_path") + TEXTS +
              SIZES}
    changed = row["changed_at"]
    listed["changed_at"] = None if changed is None else \
        instance_feed.iso(changed)
    return listed


def _under(cell_path, prefix):
    return cell_path is not None and (
        cell_path == prefix or
        cell_path.startswith(prefix + tree.SEPARATOR))


def list_instances(context, cell_path_prefix=None):
    """The live instances of the cell ``cell_path_prefix`` and the cells
    below it (every one, those no cell holds included, when None), as
    dicts with ``cell_path`` and ``changed_at`` (ISO text or None),
    ordered by (path, uuid). "api!c" does not take in "api!c1"."""
    where = []
    if cell_path_prefix is not None:
        prefix = checked_path(cell_path_prefix)
        where.append(sa.or_(
            TABLE.c.cell_path == prefix,
            TABLE.c.cell_path.startswith(prefix + tree.SEPARATOR,
                                         autoescape=True)))
    with db_api.reading(context) as conn:
        rows = db_api.select_rows(conn, TABLE, where=where)
    if cell_path_prefix is not None:       # exact, whatever the collation
        rows = [row for row in rows if _under(row["cell_path"], prefix)]
    listed = [_as_listed(row) for row in rows]
    return sorted(listed, key=lambda r: (r["cell_path"] or "", r["uuid"]))


def watermark_of(context, cell_path):
    """The newest ``changed_at`` stored for the instances of exactly the
    cell ``cell_path`` (a naive UTC datetime), or None: where a restarted
    child resumes its feed (``instance_feed.rewound`` of it)."""
    cell_path = checked_path(cell_path)
    with db_api.reading(context) as conn:
        newest = conn.execute(sa.select(sa.func.max(TABLE.c.changed_at))
                              .where(TABLE.c.cell_path == cell_path)
                              ).scalar()
    return newest
