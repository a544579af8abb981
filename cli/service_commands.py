"""``hoststate service-list``: every service and whether it is alive
(Nova's os-services)."""
from hoststate.cli import cell_listing
from hoststate.cli import inventory
from hoststate.cli import output


def add_commands(commands):
    services = commands.add_parser(
        "service-list",
        help="list services: zone, enabled or disabled, up or down")
    services.add_argument("--host", help="only the services of this host")
    services.add_argument("--binary",
                          help="only services of this binary, e.g. "
                               "nova-compute")
    cell_listing.add_options(services, inventory.ServiceRow)
    services.set_defaults(handler=service_list_command)


def service_list_command(args):
    """State comes from the configured servicegroup driver in one call;
    when its backend cannot be reached the states are ``unknown`` (forced
    down ones stay ``down``) and a warning goes to stderr: the rest of the
    listing is still worth seeing, and exit status stays 0. With [cells]
    enable: every cell's services, through the cells service."""
    conf, ctx = cell_listing.connect(args)
    if ctx is None:
        return cell_listing.emit_listing(
            args, conf, "services", {"host": args.host,
                                     "binary": args.binary})
    result = inventory.list_services(ctx, conf, host=args.host,
                                     binary=args.binary)
    output.warn(result.warnings)
    output.emit_list(args, inventory.ServiceRow, result.value)
