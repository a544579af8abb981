"""``hoststate cells``: a cell's cells service (nova-cells' role).

    hoststate [--config-file nova.conf] cells

Serves on this cell's bus (``[DEFAULT] transport_url``, topic
``cells``) and talks to the parent and children its ``cells`` table
names (``cell-add``): broadcasts this cell's capabilities and capacity
up, picks a child cell for each build that comes down, sends its
instances' changes up and routes deletes and listings down. See
:mod:`hoststate.cells.service`. ``[cells] enable`` must be true and
``[cells] name`` is this cell's name.

One process (one worker): what a cells service heard from its children
is its own, so a second one on the same cell is a second, independent
service, not a worker. Runs until SIGTERM or SIGINT, as the other
services (:mod:`hoststate.cli.service_process`).
"""
from hoststate import exception
from hoststate.cli import common
from hoststate.cli import service_process
from hoststate.db import engine as db_engine


def add_commands(commands):
    cells = commands.add_parser(
        "cells", help="run this cell's cells service until stopped")
    cells.set_defaults(handler=cells_command, log_as_service=True)


def require_cells(conf, reason):
    """ConfigInvalid naming ``[cells] enable`` and ``reason`` unless this
    cell takes part in cells (one rule for every command that needs the
    cells service)."""
    if not conf.cells.enable:
        raise exception.ConfigInvalid(group="cells", option="enable",
                                      value=False, reason=reason)


def cells_command(args):
    conf = common.load_conf(args)
    require_cells(conf, "the cells service runs only in a cell that takes "
                        "part in cell scheduling")
    from hoststate.cells import scheduling
    scheduling.chain(conf)      # an unknown filter or weigher: one line now
    url = common.database_url(args, conf)

    def make_servers():
        from hoststate import context as hs_context
        from hoststate.cells import service
        from hoststate.cli import cell_views
        from hoststate.cli import inventory
        context = inventory.require_schema(hs_context.get_admin_context(
            engine=db_engine.create_engine(url)))
        return [service.make_service(conf, context,
                                     views=cell_views.rows_for(conf))]

    return service_process.serve(conf, "cells", make_servers, 1,
                                 debug=args.debug)
