"""``hoststate hypervisor-list|hypervisor-show|hypervisor-stats``: compute
nodes as Nova's os-hypervisors shows them."""
from hoststate.cli import hypervisor_inventory as hypervisors
from hoststate.cli import inventory
from hoststate.cli import output


def add_commands(commands):
    listing = commands.add_parser(
        "hypervisor-list",
        help="list compute nodes with their service's state and status")
    output.add_format_option(listing)
    listing.set_defaults(handler=hypervisor_list_command)

    show = commands.add_parser(
        "hypervisor-show", help="every detail of one compute node")
    show.add_argument("node", metavar="NODE",
                      help="the node's hypervisor_hostname, uuid or id")
    output.add_format_option(show)
    show.set_defaults(handler=hypervisor_show_command)

    stats = commands.add_parser(
        "hypervisor-stats",
        help="capacity and usage summed over the enabled compute nodes")
    output.add_format_option(stats)
    stats.set_defaults(handler=hypervisor_stats_command)


def hypervisor_list_command(args):
    conf, ctx = inventory.connect(args)
    result = hypervisors.list_hypervisors(ctx, conf)
    output.warn(result.warnings)
    output.emit_list(args, hypervisors.HypervisorRow, result.value)


def hypervisor_show_command(args):
    conf, ctx = inventory.connect(args)
    result = hypervisors.show_hypervisor(ctx, conf, args.node)
    output.warn(result.warnings)
    output.emit_record(args, result.value)


def hypervisor_stats_command(args):
    _, ctx = inventory.connect(args)
    output.emit_record(args, hypervisors.hypervisor_stats(ctx))
