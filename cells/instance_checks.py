"""What the top's store of every instance takes from a cell, checked
before anything is read or written (:mod:`hoststate.cells.
instance_store`): each value a typed error naming the field, the value
and the instance."""
import uuid as uuid_lib

from hoststate import exception
from hoststate.cells import instance_feed
from hoststate.cells import tree
from hoststate.db import schema
from hoststate.objects import base as obj_base
from hoststate.objects import bounded

SIZES = ("vcpus", "memory_mb", "root_gb", "ephemeral_gb")
TEXTS = ("host", "node", "vm_state", "task_state", "project_id")
#: The most rows one ``apply_changes`` takes (a sender pages by
#: ``instance_feed.MAX_LIMIT`` at most).
MAX_ROWS = instance_feed.MAX_LIMIT

SIZE_FIELD = bounded.NonNegativeInteger()
TEXT_FIELD = bounded.String()


def _invalid(field, value, uuid, reason):
    return exception.InvalidCellInstance(
        field=field, value=tree.quoted(value), uuid=tree.quoted(uuid),
        reason=reason)


def checked_uuid(value):
    """``value`` as a canonical uuid text, or InvalidCellInstance."""
    if not obj_base.is_uuid_like(value):
        raise _invalid("uuid", value, value, "it is not a UUID")
    return str(uuid_lib.UUID(value))


def checked_path(cell_path):
    """``cell_path`` if it is a path (``tree.split``) the table can hold,
    else InvalidCellPath."""
    tree.split(cell_path)
    if len(cell_path) > schema.CELL_PATH_LENGTH:
        raise exception.InvalidCellPath(
            path=tree.quoted(cell_path),
            reason=f"it has {len(cell_path)} characters, more than "
                   f"{schema.CELL_PATH_LENGTH}")
    return cell_path


def checked_value(field, value, uuid, check):
    """``value`` through ``check`` (a bounded field), or None."""
    if value is None:
        return None
    try:
        return check.coerce(None, field, value)
    except (TypeError, ValueError) as exc:
        raise _invalid(field, value, uuid, str(exc)) from None


def checked_sizes(sizes, uuid):
    """{size: whole number >= 0, or None} of ``sizes`` (a dict with some
    of ``SIZES`` and nothing else)."""
    if not isinstance(sizes, dict):
        raise _invalid("sizes", sizes, uuid, "a dict is required")
    unknown = sorted(set(map(str, sizes)) - set(SIZES))
    if unknown:
        raise _invalid("sizes", sizes, uuid, f"unknown sizes {unknown}; "
                                             f"known: {list(SIZES)}")
    return {name: checked_value(name, sizes.get(name), uuid, SIZE_FIELD)
            for name in SIZES}


def checked_change(row):
    """One change a cell sent (a row of ``instance_feed.changes_since``)
    as stored: uuid canonical, texts and sizes in bounds, ``deleted`` a
    bool, ``changed_at`` a naive UTC datetime. Keys beyond those are
    ignored (a newer child may send more)."""
    if not isinstance(row, dict):
        raise _invalid("row", row, None, "a dict is required")
    uuid = checked_uuid(row.get("uuid"))
    change = {"uuid": uuid}
    change.update((name, checked_value(name, row.get(name), uuid, TEXT_FIELD))
                  for name in TEXTS)
    change.update(checked_sizes({n: row.get(n) for n in SIZES}, uuid))
    if not isinstance(row.get("deleted"), bool):
        raise _invalid("deleted", row.get("deleted"), uuid,
                       "True or False is required")
    change["deleted"] = row["deleted"]
    if row.get("changed_at") is None:
        raise _invalid("changed_at", None, uuid, "a change has a stamp")
    try:
        change["changed_at"] = instance_feed.parse_time(row["changed_at"])
    except exception.InvalidArgument as exc:
        raise _invalid("changed_at", row["changed_at"], uuid,
                       exc.reason) from None
    return change


def checked_rows(rows):
    """``rows`` (a list of changes) checked, sorted by (uuid, stamp)."""
    if not isinstance(rows, (list, tuple)):
        raise exception.InvalidArgument(name="rows", value=type(rows),
                                        reason="a list of dicts is required")
    if len(rows) > MAX_ROWS:
        raise exception.InvalidArgument(
            name="rows", value=len(rows),
            reason=f"at most {MAX_ROWS} rows a call")
    return sorted((checked_change(row) for row in rows),
                  key=lambda change: (change["uuid"], change["changed_at"]))
