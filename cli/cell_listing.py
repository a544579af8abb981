"""The operator listings across cells: what ``host-list``,
``service-list``, ``hypervisor-list`` and ``hypervisor-stats`` print at
a cell with ``[cells] enable = true``.

Such a cell asks the cells service on its own bus (``[DEFAULT]
transport_url``), which gathers its own rows and every cell's below
(:func:`hoststate.cells.routing.view`). Each row then carries a ``cell``
column first (the cell's path); hosts stay as their cell names them, the
column says where. ``--cell PATH`` keeps that cell and the cells below
it (``api!c1`` takes in ``api!c1!g1``, not ``api!c10``).

A cell that is down has no rows, never zeros: a listing warns on stderr
once per such cell and still exits 0; ``hypervisor-stats`` sums the cells
that answered, and lists them (``cells``) beside those that did not
(``cells_down``).

Without ``[cells] enable`` none of this runs: the commands read their
database as they always did, with the columns they always had.
"""
import argparse
import contextlib
import dataclasses
import datetime

from hoststate import context as hs_context
from hoststate import exception
from hoststate.cells import rows as cell_rows
from hoststate.cli import common
from hoststate.cli import failures
from hoststate.cli import hypervisor_inventory as hypervisors
from hoststate.cli import inventory
from hoststate.cli import output
from hoststate.db import engine as db_engine

#: the column every cross-cell row starts with
CELL_COLUMN = "cell"
#: what a down cell's warning says is missing, per kind of listing
_MISSING = {"hosts": "hosts", "services": "services",
            "hypervisors": "hypervisors"}


class CellsNotEnabled(failures.UsageError):
    msg_fmt = ("--cell %(path)s needs [cells] enable = true (this cell "
               "lists its own database only)")


class CellNotInView(exception.CellNotFound):
    msg_fmt = ("cell %(name)s is not in the tree this cell sees; its "
               "cells are %(known)s")


def _with_cell(base, name):
    """``base``'s dataclass with the ``cell`` column first (one
    definition of the fields: the base view's)."""
    fields = [(CELL_COLUMN, str)] + [(f.name, f.type)
                                     for f in dataclasses.fields(base)]
    return dataclasses.make_dataclass(name, fields, frozen=True)


CellHostRow = _with_cell(inventory.HostRow, "CellHostRow")
CellServiceRow = _with_cell(inventory.ServiceRow, "CellServiceRow")
CellHypervisorRow = _with_cell(hypervisors.HypervisorRow,
                               "CellHypervisorRow")

#: the fields hypervisor-stats sums (Nova's, with the count first)
STATS_SUMMED = tuple(f.name for f in
                     dataclasses.fields(hypervisors.HypervisorStats))


@dataclasses.dataclass(frozen=True)
class CellHypervisorStats(hypervisors.HypervisorStats):
    """Nova's sums over the cells that answered (``cells``), and the
    cells that did not (``cells_down``), whose nodes are not counted."""

    cells: list
    cells_down: list


#: listing kind -> row type
ROW_TYPES = {"hosts": CellHostRow, "services": CellServiceRow,
             "hypervisors": CellHypervisorRow}


#: the columns a cells listing adds to its base view's
CELLS_ONLY = {False: (CELL_COLUMN,), True: ("cells", "cells_down")}


class _Fields(tuple):
    """A view's column names that also admit the columns only a cells
    listing has (``cells_only``): ``-c cell`` is checked before the
    configuration is read (output.check_options), so it must pass there;
    a command without cells refuses it itself (``refuse_cells_columns``).
    Error messages list the base columns, as they always did."""

    cells_only = ()

    def __contains__(self, name):
        return name in self.cells_only or tuple.__contains__(self, name)


def add_options(parser, base):
    """The output options of ``base`` (a view's dataclass) and
    ``--cell`` on a listing's ``parser``."""
    record = base is hypervisors.HypervisorStats
    output.add_format_option(parser, base, listing=not record)
    fields = _Fields(f.name for f in dataclasses.fields(base))
    fields.cells_only = CELLS_ONLY[record]
    parser.set_defaults(view_fields=fields)
    parser.add_argument("--cell", type=cell_path, metavar="PATH",
                        help="with [cells] enable: only this cell and the "
                             "cells below it (e.g. api!child1)")


def cell_path(text):
    """``--cell``'s value, its syntax checked (a usage error naming it)."""
    from hoststate.cells import tree
    try:
        tree.split(text)
    except exception.InvalidCellPath as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def connect(args):
    """(configuration, context) of a listing: context None when it lists
    every cell through the cells service ([cells] enable), else an admin
    context on this cell's database, as ``inventory.connect`` gives (the
    configuration read once: it is every command's startup cost)."""
    conf = common.load_conf(args)
    if conf.cells.enable:
        return conf, None
    if args.cell is not None:
        raise CellsNotEnabled(path=args.cell)
    refuse_cells_columns(args)
    engine = db_engine.create_engine(common.database_url(args, conf))
    return conf, inventory.require_schema(
        hs_context.get_admin_context(engine=engine))


def refuse_cells_columns(args):
    """``-c cell`` or ``--sort-column cell`` (``cells``, ``cells_down``
    for hypervisor-stats) without cells: the usage error any unknown
    column is."""
    only = args.view_fields.cells_only
    for option, names in (("--column", args.columns),
                          ("--sort-column", getattr(args, "sort_columns",
                                                    []))):
        for name in names:
            if name in only:
                raise output.UnknownColumn(
                    option=option, column=name,
                    known=", ".join(args.view_fields))


# --- asking the tree ---

def gather(conf, kind, options, subtree=None):
    """[{path, state, rows}] of every cell (of ``subtree`` only, when a
    path is given), ordered by path; CellNotInView when no cell answered
    for ``subtree``."""
    from hoststate.cells import rpcapi
    from hoststate.cells import tree
    with answered(conf):
        found = rpcapi.CellsAPI(conf).view(
            hs_context.get_admin_context(engine=None), kind, options)
    found = sorted(found, key=lambda entry: tree.split(entry["path"]))
    if subtree is None:
        return found
    kept = [entry for entry in found if in_subtree(entry["path"], subtree)]
    if not kept:
        raise CellNotInView(name=subtree, known=", ".join(
            entry["path"] for entry in found))
    return kept


@contextlib.contextmanager
def answered(conf):
    """A call to this cell's cells service that timed out is
    CellNotAnswering naming the cell and ``[cells] call_timeout`` (the
    conductor's message would send the operator to the wrong service and
    the wrong timeout)."""
    import oslo_messaging as messaging
    try:
        yield
    except messaging.MessagingTimeout:
        raise exception.CellNotAnswering(
            name=conf.cells.name, timeout=conf.cells.call_timeout,
            what="check that its cells service runs on [DEFAULT] "
                 "transport_url") from None


def in_subtree(path, subtree):
    """Whether cell ``path`` is ``subtree`` or below it (whole names:
    ``api!c1`` is not above ``api!c10``)."""
    from hoststate.cells import tree
    top = tree.split(subtree)
    return tree.split(path)[:len(top)] == top


def down_paths(found):
    return [entry["path"] for entry in found
            if entry["state"] != cell_rows.UP]


def rows_of(kind, found):
    """The rows of the cells that answered, as dicts of ``kind``'s row
    type, each with its cell's path; times back as datetimes."""
    row_type = ROW_TYPES[kind]
    times = [f.name for f in dataclasses.fields(row_type)
             if "datetime" in str(f.type)]
    rows = []
    for entry in found:
        for row in entry["rows"]:
            row = {CELL_COLUMN: entry["path"], **row}
            for name in times:
                if isinstance(row.get(name), str):
                    row[name] = datetime.datetime.fromisoformat(row[name])
            rows.append(row)
    return rows


def warnings_of(kind, found):
    """A line per cell that is down, and each cell's own warnings with
    its path."""
    return [f"cell {path} is down: its {_MISSING[kind]} are not listed"
            for path in down_paths(found)] + [
        f"cell {entry['path']}: {text}" for entry in found
        for text in entry.get("warnings", ())]


def summed_stats(found):
    """CellHypervisorStats: each cell's statistics added up, over the
    cells that answered."""
    up = [entry for entry in found if entry["state"] == cell_rows.UP]
    totals = {name: sum(row[name] for entry in up for row in entry["rows"])
              for name in STATS_SUMMED}
    return CellHypervisorStats(**totals,
                               cells=[entry["path"] for entry in up],
                               cells_down=down_paths(found))


# --- the commands' cells branch ---

def emit_listing(args, conf, kind, options=None):
    """Print listing ``kind`` over every cell (or ``args.cell``'s
    subtree), a warning per cell that is down."""
    found = gather(conf, kind, options or {}, args.cell)
    output.warn(warnings_of(kind, found))
    output.emit_list(args, ROW_TYPES[kind], rows_of(kind, found))


def emit_stats(args, conf):
    output.emit_record(args, summed_stats(
        gather(conf, "hypervisor-stats", {}, args.cell)))
