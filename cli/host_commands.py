"""``hoststate host-list|host-describe|host-update|host-action`` (Nova's
os-hosts).

Where host operations run: until the conductor carries them over RPC to
the compute agent of HOST, ``host-update --maintenance``, the driver half of
``host-update --status`` and ``host-action`` call the virt driver that
``[DEFAULT] compute_driver`` names *in this command's own process*, i.e. on
the machine where the command runs, whatever HOST is. Run them on HOST
itself. (The ``fake`` driver only records them; the ``linux`` driver
supports none of them.) The service record that ``--status`` changes is
written to the database from wherever the command runs, and is what the
scheduler obeys.

``host-update --trait T --no-trait U`` adds and removes operator traits
on every node of HOST, in the database (the driver plays no part): the
traits the scheduler's trait specs and isolated aggregates read, beside
the ones the virt driver reports (``hoststate.objects.traits``).
"""
from hoststate import exception
from hoststate.cli import cell_listing
from hoststate.cli import inventory
from hoststate.cli import output
from hoststate.objects import traits as traits_mod
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import virt_drivers

#: Longest disabled_reason the services column holds (as Nova's API checks).
MAX_REASON_LENGTH = 255
#: Compare-and-swap attempts of a status change racing with heartbeats.
STATUS_ATTEMPTS = 3
_FLAGS = {"enable": True, "disable": False}
#: fields of what host-update and host-action print
UPDATE_FIELDS = ("host", "status", "maintenance_mode", "operator_traits")
ACTION_FIELDS = ("host", "power_action")


class HostOperationNotSupported(exception.HoststateError):
    msg_fmt = ("%(operation)s of host %(host)s is not supported by the "
               "%(driver)s driver (compute_driver = %(option)s); nothing "
               "was changed")


class HostWithoutNodes(exception.NotFound):
    msg_fmt = "host %(host)s has no compute node to take traits"


class StatusNotChanged(exception.HoststateError):
    msg_fmt = ("host %(host)s is now %(maintenance_mode)s, but its status "
               "was not changed: %(reason)s")


def add_commands(commands):
    hosts = commands.add_parser(
        "host-list", help="list hosts with their services and zones")
    hosts.add_argument("--zone", help="only hosts in this availability "
                                      "zone (none if it does not exist)")
    cell_listing.add_options(hosts, inventory.HostRow)
    hosts.set_defaults(handler=host_list_command)

    describe = commands.add_parser(
        "host-describe", help="a host's capacity, usage and usage by project")
    describe.add_argument("host", metavar="HOST")
    output.add_format_option(describe, inventory.HostResource)
    describe.set_defaults(handler=host_describe_command)

    update = commands.add_parser(
        "host-update", help="enable or disable a compute host, or put it "
                            "in or out of maintenance (through the driver "
                            "of the machine this runs on)")
    update.add_argument("host", metavar="HOST")
    update.add_argument("--status", choices=sorted(_FLAGS),
                        help="whether the scheduler may place on the host")
    update.add_argument("--maintenance", choices=sorted(_FLAGS),
                        help="maintenance mode, through the virt driver")
    update.add_argument("--reason", help="why, with --status disable "
                        f"(at most {MAX_REASON_LENGTH} characters)")
    update.add_argument("--trait", action="append", default=[],
                        dest="traits", metavar="TRAIT",
                        help="add this trait (a standard one or "
                             "CUSTOM_...) to every node of the host; "
                             "repeat for more")
    update.add_argument("--no-trait", action="append", default=[],
                        dest="no_traits", metavar="TRAIT",
                        help="remove this operator trait from every node "
                             "of the host; repeat for more")
    output.add_format_option(update, UPDATE_FIELDS, listing=False)
    update.set_defaults(handler=host_update_command, usage_error=update.error)

    action = commands.add_parser(
        "host-action", help="start up, shut down or reboot a host through "
                            "the virt driver of the machine this runs on")
    action.add_argument("host", metavar="HOST")
    action.add_argument("action", choices=driver_api.HOST_POWER_ACTIONS)
    output.add_format_option(action, ACTION_FIELDS, listing=False)
    action.set_defaults(handler=host_action_command)


def host_list_command(args):
    """With [cells] enable: every cell's hosts, through the cells
    service (hoststate.cli.cell_listing)."""
    conf, ctx = cell_listing.connect(args)
    if ctx is None:
        return cell_listing.emit_listing(args, conf, "hosts",
                                         {"zone": args.zone})
    output.emit_list(args, inventory.HostRow,
                     inventory.list_hosts(ctx, conf, zone=args.zone))


def host_describe_command(args):
    _, ctx = inventory.connect(args)
    output.emit_list(args, inventory.HostResource,
                     inventory.describe_host(ctx, args.host))


def host_update_command(args):
    _check_update_options(args)
    conf, ctx = inventory.connect(args)
    output.emit_record(args, update_host(
        ctx, conf, args.host, enabled=_FLAGS.get(args.status),
        maintenance=_FLAGS.get(args.maintenance), reason=args.reason,
        add_traits=args.traits, remove_traits=args.no_traits))


def _check_update_options(args):
    """Usage errors (exit 2) before anything is read or changed."""
    if args.status is None and args.maintenance is None and \
            not args.traits and not args.no_traits:
        args.usage_error("give --status, --maintenance, --trait or "
                         "--no-trait")
    try:
        _check_traits(args.traits, args.no_traits)
    except traits_mod.InvalidTrait as exc:
        args.usage_error(str(exc))
    if args.reason is not None and args.status != "disable":
        args.usage_error("--reason goes with --status disable")
    if args.reason is not None and len(args.reason) > MAX_REASON_LENGTH:
        args.usage_error(f"--reason is {len(args.reason)} characters long; "
                         f"at most {MAX_REASON_LENGTH}")


def host_action_command(args):
    conf, ctx = inventory.connect(args)
    output.emit_record(args, power_action(ctx, conf, args.host, args.action))


def update_host(context, conf, host, enabled=None, maintenance=None,
                reason=None, add_traits=(), remove_traits=()):
    """Change ``host``'s maintenance mode, status and/or operator traits,
    maintenance first: it is the part a driver may refuse, and a refusal
    then leaves everything as it was. Trait names are checked before
    anything is read (InvalidTrait), and a host without nodes cannot take
    traits (HostWithoutNodes, nothing changed); the traits are written
    last, in one transaction for every node of the host (the driver plays
    no part in them, and is not loaded for them alone). Returns {host,
    status, maintenance_mode, operator_traits}, None for what was not
    asked."""
    add_traits, remove_traits = _check_traits(add_traits, remove_traits)
    service = inventory.compute_service(context, host)
    if add_traits or remove_traits:
        _require_nodes(context, host)
    result = dict.fromkeys(UPDATE_FIELDS)
    result["host"] = host
    if maintenance is not None or enabled is not None:
        _update_service(context, conf, host, service, enabled, maintenance,
                        reason, result)
    if add_traits or remove_traits:
        result["operator_traits"] = set_operator_traits(
            context, host, add_traits, remove_traits)
    return result


def _update_service(context, conf, host, service, enabled, maintenance,
                    reason, result):
    """The maintenance mode (through the driver) and the status parts of
    ``update_host``, written into ``result``."""
    driver = virt_drivers.load_driver(conf)
    if maintenance is not None:
        result["maintenance_mode"] = _call_driver(
            conf, host, "maintenance mode", driver.host_maintenance_mode,
            host, maintenance)
    if enabled is not None:
        try:
            set_service_enabled(context, service["id"], enabled, reason)
        except exception.HoststateError as exc:
            if maintenance is None:
                raise
            raise StatusNotChanged(host=host, reason=exc,
                                   maintenance_mode=result[
                                       "maintenance_mode"]) from None
        _tell_driver_enabled(driver, enabled)
        result["status"] = inventory.status_of({"disabled": not enabled})


def _check_traits(added, removed):
    """(added, removed) as sorted trait names; InvalidTrait naming the
    option and the first name that is no trait, or one given to both."""
    added = traits_mod.check(added, "--trait")
    removed = traits_mod.check(removed, "--no-trait")
    both = sorted(set(added) & set(removed))
    if both:
        raise traits_mod.InvalidTrait(
            field="--no-trait", value=both[0],
            reason="it is given to --trait too")
    return added, removed


def _require_nodes(context, host):
    from hoststate.objects import compute_node as cn_obj     # writes only
    if not cn_obj.ComputeNodeList.get_nodenames_by_host(context, host):
        raise HostWithoutNodes(host=host)


def set_operator_traits(context, host, added, removed):
    """Add and remove operator traits on every node of ``host`` (one
    transaction); the sorted operator traits of its nodes afterwards
    (together, should they differ)."""
    from hoststate.objects import compute_node as cn_obj     # writes only
    nodes = cn_obj.ComputeNodeList.update_operator_traits(
        context, host, added, removed)
    return sorted({name for node in nodes for name in node.operator_traits})


def set_service_enabled(context, service_id, enabled, reason=None):
    """Enable (clearing the reason) or disable the service, by
    compare-and-swap; a heartbeat saved in between makes it re-read and
    try again, up to STATUS_ATTEMPTS times."""
    from hoststate.objects import service as service_obj    # writes only
    for _ in range(STATUS_ATTEMPTS):
        service = service_obj.Service.get_by_id(context, service_id)
        service.disabled = not enabled
        service.disabled_reason = None if enabled else reason
        try:
            service.save()
            return service
        except exception.GenerationConflict as exc:
            conflict = exc
    raise conflict


def _tell_driver_enabled(driver, enabled):
    """The service record decides where the scheduler places; a driver
    without set_host_enabled has nothing more to do."""
    try:
        driver.set_host_enabled(enabled)
    except driver_api.NotSupportedByDriver:
        pass


def power_action(context, conf, host, action):
    """Start up, shut down or reboot ``host`` through the driver; returns
    {host, power_action}."""
    inventory.compute_service(context, host)
    driver = virt_drivers.load_driver(conf)
    return dict(zip(ACTION_FIELDS, (host, _call_driver(
        conf, host, action, driver.host_power_action, action))))


def _call_driver(conf, host, operation, method, *arguments):
    try:
        return method(*arguments)
    except driver_api.NotSupportedByDriver:
        raise HostOperationNotSupported(
            operation=operation, host=host,
            driver=virt_drivers.driver_name(conf),
            option=conf.compute_driver) from None
