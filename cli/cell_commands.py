"""``hoststate cell-add``, ``cell-list`` and ``cell-remove``: this cell's
parent and children in its own database (``--database-url`` or
``[database] connection``), as Nova's cells v1 kept them.

    hoststate cell-add NAME (--parent | --child) --transport-url URL
                       [--weight-offset F] [--weight-scale F] [--no-check]
    hoststate cell-list
    hoststate cell-remove NAME
    hoststate cell-capacities

``cell-capacities`` asks this cell's running cells service (on its bus,
so ``[cells] enable`` must be true) what it holds: its own nodes' free
resources and flavor units, each child's last report with its state
(``up``, ``down``, ``unheard``) and age, and the sum it sends up; what
the cell choice here works from.

A refused input (a name, URL or weight that cannot be stored) is a usage
error, exit status 2; a refused change of the tree (a name already there,
this cell itself, a second parent, a cell that is not there) exits 1.
Either way nothing is written. Transport URLs are shown with their
passwords hidden.

Before it writes, ``cell-add`` asks the cells service at the URL who it
is (:mod:`hoststate.cells.handshake`): nothing answering, another cell
answering, or a link that would make a loop is a one-line error (exit
1) and nothing is stored. ``--no-check`` records a cell whose service
is not running yet.
"""

from hoststate import exception
from hoststate.cli import failures
from hoststate.cli import inventory
from hoststate.cli import output
from hoststate.cells import rows


def add_commands(commands):
    add = commands.add_parser(
        "cell-add", help="record this cell's parent or a child cell")
    add.add_argument("name", metavar="NAME",
                     help="the cell's name (no whitespace, no '!')")
    role = add.add_mutually_exclusive_group(required=True)
    role.add_argument("--parent", dest="role", action="store_const",
                      const="parent", help="NAME is this cell's parent")
    role.add_argument("--child", dest="role", action="store_const",
                      const="child", help="NAME is a child of this cell")
    add.add_argument("--transport-url", required=True, metavar="URL",
                     help="the bus NAME's cells service listens on, "
                          "credentials included, e.g. "
                          "rabbit://user:password@host:5672/vhost")
    add.add_argument("--weight-offset", type=float, default=None,
                     metavar="F", help="added to the cell's weight when "
                                       "cells are chosen (default 0)")
    add.add_argument("--weight-scale", type=float, default=None,
                     metavar="F", help="multiplies the cell's weight "
                                       "(default 1)")
    add.add_argument("--no-check", dest="check", action="store_false",
                     help="do not ask the cells service at URL first "
                          "(it is not running yet)")
    output.add_format_option(add, rows.Cell, listing=False)
    add.set_defaults(handler=cell_add_command)

    listing = commands.add_parser(
        "cell-list", help="list this cell's parent and children")
    output.add_format_option(listing, rows.Cell)
    listing.set_defaults(handler=cell_list_command)

    remove = commands.add_parser(
        "cell-remove", help="forget this cell's parent or a child cell")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=cell_remove_command)

    capacities = commands.add_parser(
        "cell-capacities",
        help="what this cell's cells service holds of its own and its "
             "children's capacity")
    output.add_format_option(capacities, rows.CellCapacity)
    capacities.set_defaults(handler=cell_capacities_command)


def _tree():
    from hoststate.cells import tree     # only for these commands
    return tree


def cell_add_command(args):
    tree = _tree()
    weights = {key: value for key, value in (
        ("weight_offset", args.weight_offset),
        ("weight_scale", args.weight_scale)) if value is not None}
    conf, ctx = inventory.connect(args)
    try:
        if args.check:
            from hoststate.cells import handshake
            tree.check_new(ctx, args.name, args.role, args.transport_url,
                           conf=conf, **weights)
            handshake.check(conf, args.name, args.role, args.transport_url)
        cell = tree.add(ctx, args.name, args.role, args.transport_url,
                        conf=conf, **weights)
    except exception.CellInputInvalid as exc:
        raise failures.UsageError(exc.message) from exc
    output.emit_record(args, cell.as_shown())


def cell_list_command(args):
    _, ctx = inventory.connect(args)
    output.emit_list(args, rows.Cell,
                     [c.as_shown() for c in _tree().list_cells(ctx)])


def cell_remove_command(args):
    _, ctx = inventory.connect(args)
    try:
        cell = _tree().remove(ctx, args.name)
    except exception.CellInputInvalid as exc:
        raise failures.UsageError(exc.message) from exc
    print(f"removed cell {cell.name} ({cell.role} of this cell)")


def cell_capacities_command(args):
    from hoststate import context as hs_context
    from hoststate.cells import rpcapi
    from hoststate.cli import cell_listing
    from hoststate.cli import common
    from hoststate.cli import cells_command
    conf = common.load_conf(args)
    cells_command.require_cells(
        conf, "cell-capacities asks this cell's cells service, which runs "
              "only with cells enabled")
    with cell_listing.answered(conf):
        found = rpcapi.CellsAPI(conf).capacities(
            hs_context.get_admin_context(engine=None))
    output.emit_list(args, rows.CellCapacity, found)
