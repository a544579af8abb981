"""The cell tree as one cell's database records it, and its rules.

Each cell's ``cells`` table names its parent (at most one) and its
children, with the transport URL each one's cells service listens on
(credentials included, as Nova's cells v1 kept them). A grandchild is
not in this table: its parent cell records it in its own database, so a
tree of any depth is a chain of these tables.

A cell is named in a *path* from the top, its names joined by ``!`` as
Nova's cells wrote them: ``api!child1!grand1``.

Every rule is checked before anything is written, so a refused add
leaves the table as it was. The URL is checked for its syntax and its
oslo.messaging driver only: nothing connects to it, since no cells
service exists yet that could answer.

Two limits of the database's rules, on purpose: names are compared here
ignoring case (MariaDB's collation would refuse ``Child`` beside
``child`` anyway, so every backend behaves alike); and two *concurrent*
adds of a parent can both succeed (no portable constraint says "one row
with is_parent"), which an operator's command line does not meet.
"""
import importlib.metadata
import math

from hoststate import exception
from hoststate import rpc
from hoststate.conf import CONF
from hoststate.conf import limits
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.cells.rows import CHILD, PARENT, ROLES, Cell  # noqa: F401

#: between the names of a cell path (Nova's cells used the same)
SEPARATOR = "!"
#: between a cell's path and a host of it, as the top shows hosts
#: (``api!child1@host1``; Nova's cells used the same)
ITEM_SEPARATOR = "@"
#: Nova's defaults for a new cell: no offset, unscaled
DEFAULT_WEIGHT_OFFSET = 0.0
DEFAULT_WEIGHT_SCALE = 1.0
#: the entry point group oslo.messaging finds its drivers in
DRIVER_GROUP = "oslo.messaging.drivers"
#: how much of a refused value a message quotes
_QUOTED = 60


# --- input, checked without the database ------------------------------------

def quoted(text):
    """``text`` as a message shows it: repr (whitespace visible), cut."""
    shown = repr(text)
    return shown if len(shown) <= _QUOTED else shown[:_QUOTED] + "..."


def check_name(name):
    """``name`` if it can name a cell, else InvalidCellName: it is one
    segment of a path, so no separator, and it is shown in one-line
    messages and host names, so no whitespace or control characters."""
    if not isinstance(name, str) or not name:
        reason = "it is empty" if name == "" else "it is not text"
    elif len(name) > limits.NAME_LENGTH:
        reason = (f"it has {len(name)} characters, more than "
                  f"{limits.NAME_LENGTH}")
    elif SEPARATOR in name:
        reason = f"it contains {SEPARATOR!r}, the cell path separator"
    elif ITEM_SEPARATOR in name:
        reason = (f"it contains {ITEM_SEPARATOR!r}, which separates a "
                  f"cell path from a host name")
    elif any(ch.isspace() or not ch.isprintable() for ch in name):
        reason = "it contains whitespace or a control character"
    else:
        return name
    raise exception.InvalidCellName(name=quoted(name), reason=reason)


def path(*names):
    """The path of the cell reached through ``names`` from the top:
    ``path("api", "child1")`` is ``"api!child1"``."""
    if not names:
        raise exception.InvalidCellPath(path="''",
                                        reason="it names no cell")
    shown = SEPARATOR.join(map(str, names))
    return SEPARATOR.join(_segment(shown, name) for name in names)


def split(cell_path):
    """The names of ``cell_path`` from the top: ``split("api!child1")``
    is ``["api", "child1"]``; a segment that is not a name (``api!!x``)
    is InvalidCellPath."""
    if not isinstance(cell_path, str) or not cell_path:
        raise exception.InvalidCellPath(path=quoted(cell_path),
                                        reason="it names no cell")
    return [_segment(cell_path, name)
            for name in cell_path.split(SEPARATOR)]


def _segment(cell_path, name):
    try:
        return check_name(name)
    except exception.InvalidCellName as exc:
        raise exception.InvalidCellPath(path=quoted(cell_path),
                                        reason=exc.message) from exc


def check_weight(name, field, value):
    """``value`` as a float if it is a finite number, else
    InvalidCellWeight (a weight is added to and multiplies scores)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return float(value)
    raise exception.InvalidCellWeight(field=field, value=quoted(value),
                                      name=name,
                                      reason="it must be a finite number")


def check_transport_url(name, url, conf=CONF):
    """``url`` if oslo.messaging can parse it and its driver is
    installed, else InvalidCellTransportURL (its passwords hidden). Does
    not connect: nothing may be listening there yet."""
    def refuse(reason):
        shown = rpc.shown_url(url) if isinstance(url, str) else repr(url)
        if len(shown) > _QUOTED:
            shown = shown[:_QUOTED] + "..."
        return exception.InvalidCellTransportURL(
            url=shown, name=name, reason=rpc.shown_url(reason))

    if not isinstance(url, str) or not url:
        raise refuse("it is empty")
    if len(url) > limits.TEXT_LENGTH:
        raise refuse(f"it has {len(url)} characters, more than "
                     f"{limits.TEXT_LENGTH}")
    import oslo_messaging as messaging      # loaded by rpc already
    try:
        driver = messaging.TransportURL.parse(conf, url).transport
    except (messaging.InvalidTransportURL, ValueError) as exc:
        raise refuse(f"oslo.messaging cannot parse it: "
                     f"{str(exc) or type(exc).__name__}") from exc
    problem = driver_problem(driver)
    if problem:
        raise refuse(problem)
    return url


def driver_problem(driver):
    """Why oslo.messaging has no usable driver ``driver`` (None when it
    has): not installed at all, or installed without what it imports."""
    found = importlib.metadata.entry_points(group=DRIVER_GROUP)
    named = [entry for entry in found if entry.name == driver]
    if not named:
        known = ", ".join(sorted({entry.name for entry in found}))
        return (f"no oslo.messaging driver {driver!r} is installed "
                f"(installed: {known})")
    try:
        named[0].load()
    except ImportError as exc:
        return f"the oslo.messaging driver {driver!r} cannot be loaded: {exc}"
    return None


def checked(name, role, transport_url, weight_offset=DEFAULT_WEIGHT_OFFSET,
            weight_scale=DEFAULT_WEIGHT_SCALE, conf=CONF):
    """The ``cells`` row values of a new cell, every input checked."""
    if role not in ROLES:
        raise exception.InvalidArgument(name="role", value=role,
                                        reason=f"a cell is one of {ROLES}")
    name = check_name(name)
    return {"name": name, "is_parent": role == PARENT,
            "weight_offset": check_weight(name, "weight offset",
                                          weight_offset),
            "weight_scale": check_weight(name, "weight scale", weight_scale),
            "transport_url": check_transport_url(name, transport_url, conf)}


# --- the table -----------------------------------------------------------------

def add(context, name, role, transport_url,
        weight_offset=DEFAULT_WEIGHT_OFFSET,
        weight_scale=DEFAULT_WEIGHT_SCALE, own_name=None, conf=CONF):
    """Record ``name`` as this cell's parent or child (``role``) and
    return it. ``own_name`` is this cell's name (default ``[cells]
    name``). Refuses, before writing: bad input (see ``checked``), this
    cell itself, a live cell of the same name, a second parent."""
    values = checked(name, role, transport_url, weight_offset, weight_scale,
                     conf)
    own_name = conf.cells.name if own_name is None else own_name
    if _same(name, own_name):
        raise exception.CellIsSelf(name=name, role=role)
    try:
        with db_api.transaction(context) as conn:
            _refuse_conflicts(db_api.select_rows(conn, schema.cells), name,
                              role)
            return Cell.of_row(db_api.insert_row(conn, schema.cells, values))
    except exception.DuplicateRecord as exc:
        # added meanwhile, or equal by the database's collation only
        raise _exists(context, name) from exc


def check_new(context, name, role, transport_url,
              weight_offset=DEFAULT_WEIGHT_OFFSET,
              weight_scale=DEFAULT_WEIGHT_SCALE, own_name=None, conf=CONF):
    """Everything ``add`` refuses, checked without writing (a command
    asks this before it contacts the cell, then ``add`` checks again)."""
    checked(name, role, transport_url, weight_offset, weight_scale, conf)
    own_name = conf.cells.name if own_name is None else own_name
    if _same(name, own_name):
        raise exception.CellIsSelf(name=name, role=role)
    with db_api.reading(context) as conn:
        _refuse_conflicts(db_api.select_rows(conn, schema.cells), name,
                          role)


def _same(one, other):
    return one.casefold() == other.casefold()


def _refuse_conflicts(live, name, role):
    for row in live:
        if _same(row["name"], name):
            raise exception.CellExists(name=row["name"],
                                       role=Cell.of_row(row).role)
    parents = [row["name"] for row in live if row["is_parent"]]
    if role == PARENT and parents:
        raise exception.CellParentExists(parent=parents[0])


def _exists(context, name):
    with db_api.reading(context) as conn:
        rows = db_api.select_rows(conn, schema.cells, name=name)
    role = Cell.of_row(rows[0]).role if rows else "parent or child"
    return exception.CellExists(name=rows[0]["name"] if rows else name,
                                role=role)


def list_cells(context):
    """Every live cell of the tree: the parent first, then the children
    by name."""
    table = schema.cells
    with db_api.reading(context) as conn:
        rows = db_api.select_rows(conn, table, order_by=[
            table.c.is_parent.desc(), table.c.name, table.c.id])
    return [Cell.of_row(row) for row in rows]


def remove(context, name):
    """Remove the live cell ``name`` (compared ignoring case, as ``add``
    does; a soft delete: the row stays as history) and return it;
    CellNotFound when there is none."""
    check_name(name)
    with db_api.transaction(context) as conn:
        rows = [row for row in db_api.select_rows(conn, schema.cells)
                if _same(row["name"], name)]
        if not rows:
            raise exception.CellNotFound(name=name)
        db_api.delete_row(conn, schema.cells, rows[0]["id"])
    return Cell.of_row(rows[0])
