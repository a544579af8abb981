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
"""
from hoststate import exception
from hoststate.cli import inventory
from hoststate.cli import output
from hoststate.resource_tracker import driver as driver_api
from hoststate.resource_tracker import virt_drivers

#: Longest disabled_reason the services column holds (as Nova's API checks).
MAX_REASON_LENGTH = 255
#: Compare-and-swap attempts of a status change racing with heartbeats.
STATUS_ATTEMPTS = 3
_FLAGS = {"enable": True, "disable": False}
#: fields of what host-update and host-action print
UPDATE_FIELDS = ("host", "status", "maintenance_mode")
ACTION_FIELDS = ("host", "power_action")


class HostOperationNotSupported(exception.HoststateError):
    msg_fmt = ("%(operation)s of host %(host)s is not supported by the "
               "%(driver)s driver (compute_driver = %(option)s); nothing "
               "was changed")


class StatusNotChanged(exception.HoststateError):
    msg_fmt = ("host %(host)s is now %(maintenance_mode)s, but its status "
               "was not changed: %(reason)s")


def add_commands(commands):
    hosts = commands.add_parser(
        "host-list", help="list hosts with their services and zones")
    hosts.add_argument("--zone", help="only hosts in this availability "
                                      "zone (none if it does not exist)")
    output.add_format_option(hosts, inventory.HostRow)
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
    conf, ctx = inventory.connect(args)
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
        maintenance=_FLAGS.get(args.maintenance), reason=args.reason))


def _check_update_options(args):
    """Usage errors (exit 2) before anything is read or changed."""
    if args.status is None and args.maintenance is None:
        args.usage_error("give --status, --maintenance or both")
    if args.reason is not None and args.status != "disable":
        args.usage_error("--reason goes with --status disable")
    if args.reason is not None and len(args.reason) > MAX_REASON_LENGTH:
        args.usage_error(f"--reason is {len(args.reason)} characters long; "
                         f"at most {MAX_REASON_LENGTH}")


def host_action_command(args):
    conf, ctx = inventory.connect(args)
    output.emit_record(args, power_action(ctx, conf, args.host, args.action))


def update_host(context, conf, host, enabled=None, maintenance=None,
                reason=None):
    """Change ``host``'s maintenance mode and/or status, maintenance first:
    it is the part a driver may refuse, and a refusal then leaves
    everything as it was. Returns {host, status, maintenance_mode}, None
    for what was not asked."""
    service = inventory.compute_service(context, host)
    driver = virt_drivers.load_driver(conf)
    result = dict.fromkeys(UPDATE_FIELDS)
    result["host"] = host
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
    return result


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
