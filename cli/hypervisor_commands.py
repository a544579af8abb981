"""``hoststate hypervisor-list|hypervisor-show|hypervisor-stats|
hypervisor-delete``: compute nodes as Nova's os-hypervisors shows them, and
the removal of one its driver no longer reports."""
from hoststate.cli import cell_listing
from hoststate.cli import hypervisor_inventory as hypervisors
from hoststate.cli import inventory
from hoststate.cli import output


def add_commands(commands):
    listing = commands.add_parser(
        "hypervisor-list",
        help="list compute nodes with their service's state and status")
    cell_listing.add_options(listing, hypervisors.HypervisorRow)
    listing.set_defaults(handler=hypervisor_list_command)

    show = commands.add_parser(
        "hypervisor-show", help="every detail of one compute node")
    show.add_argument("node", metavar="NODE",
                      help="the node's hypervisor_hostname, uuid or id")
    output.add_format_option(show, hypervisors.HypervisorDetail,
                             listing=False)
    show.set_defaults(handler=hypervisor_show_command)

    stats = commands.add_parser(
        "hypervisor-stats",
        help="capacity and usage summed over the enabled compute nodes")
    cell_listing.add_options(stats, hypervisors.HypervisorStats)
    stats.set_defaults(handler=hypervisor_stats_command)

    delete = commands.add_parser(
        "hypervisor-delete",
        help="delete a compute node its driver no longer reports",
        description="Delete a compute node (soft delete, as Nova). Refused, "
                    "with nothing changed, while instances or unfinished "
                    "migrations are on it. An agent whose driver still "
                    "reports the node brings it back at its next update.")
    delete.add_argument("node", metavar="NODE",
                        help="the node's hypervisor_hostname, uuid or id")
    delete.set_defaults(handler=hypervisor_delete_command)


def hypervisor_list_command(args):
    conf, ctx = cell_listing.connect(args)
    if ctx is None:
        return cell_listing.emit_listing(args, conf, "hypervisors")
    result = hypervisors.list_hypervisors(ctx, conf)
    output.warn(result.warnings)
    output.emit_list(args, hypervisors.HypervisorRow, result.value)


def hypervisor_show_command(args):
    conf, ctx = inventory.connect(args)
    result = hypervisors.show_hypervisor(ctx, conf, args.node)
    output.warn(result.warnings)
    output.emit_record(args, result.value)


def hypervisor_stats_command(args):
    conf, ctx = cell_listing.connect(args)
    if ctx is None:
        return cell_listing.emit_stats(args, conf)
    output.emit_record(args, hypervisors.hypervisor_stats(ctx))


def hypervisor_delete_command(args):
    from hoststate.cli import node_removal
    _, ctx = inventory.connect(args)
    for removed in node_removal.delete_nodes(
            ctx, [hypervisors.find_node_id(ctx, args.node)]):
        print(removed)
