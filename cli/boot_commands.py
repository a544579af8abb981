"""``hoststate boot`` and ``hoststate delete``: the build flow's client.

    hoststate boot --flavor VCPUS,MEMORY_MB,DISK_GB [--count N] [--zone Z]
                   [--hint KEY=VALUE ...] [--wait] [--timeout S]
    hoststate delete UUID

Both talk to the conductors on ``[DEFAULT] transport_url`` and need no
database; with ``[cells] enable = true`` they talk to the cells service
on that bus instead, which builds in (deletes from) the right cell, and
hosts are shown qualified by their cell (``api!child1@host1``).
``boot`` asks a conductor to schedule and build (the conductor
asks the scheduler, which claims a node per instance, then casts each
build to its host's agent) and prints, per instance, where its build was
sent::

    <uuid> <host> <node>

With ``--wait`` it then waits for every build to settle and prints each
instance's final line, ``<uuid> active <host> <node>`` or ``<uuid> error
<reasons>``; the exit status is 1 if any ended in ERROR. A request that
fits nowhere is one line (NoValidHost with its reasons), and nothing is
claimed or written. A conductor or scheduler that does not answer within
``rpc_response_timeout`` is one line too.
"""
import argparse
import contextlib
import time
import uuid as uuid_lib

from hoststate.cli import common
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec

#: Most instances one boot asks for (the uuids travel in the request).
#: The scheduler refuses a count the cloud cannot hold; this bounds what
#: the command builds before it asks.
MAX_COUNT = 10_000
#: Longest --wait, and its default, in seconds.
MAX_WAIT_S = 86_400
DEFAULT_WAIT_S = 300
#: How often --wait asks for the instances' states.
POLL_S = 0.2
#: the states a build ends in
SETTLED = ("active", "error", "deleted")


def add_commands(commands):
    boot = commands.add_parser(
        "boot", help="build instances through the conductor (no database "
                     "needed)")
    boot.add_argument("--flavor", required=True, type=_flavor,
                      metavar="VCPUS,MEMORY_MB,DISK_GB",
                      help="the size of each instance")
    boot.add_argument("--count", type=common.int_between(1, MAX_COUNT,
                                                         "--count"),
                      default=1, help="how many instances (default 1)")
    boot.add_argument("--zone", help="availability zone")
    boot.add_argument("--hint", action="append", default=[], type=_hint,
                      metavar="KEY=VALUE", help="a scheduler hint; may be "
                                                "given several times")
    boot.add_argument("--wait", action="store_true",
                      help="wait for every build to end ACTIVE or ERROR")
    boot.add_argument("--timeout", type=common.int_between(
        1, MAX_WAIT_S, "--timeout"), default=DEFAULT_WAIT_S,
        help=f"longest --wait, seconds (default {DEFAULT_WAIT_S})")
    boot.set_defaults(handler=boot_command)

    delete = commands.add_parser(
        "delete", help="delete an instance through the conductor")
    delete.add_argument("uuid", type=_uuid, help="the instance's uuid")
    delete.set_defaults(handler=delete_command)


_positive = common.int_at_least(1, "a positive integer")
_natural = common.int_at_least(0, "a non-negative integer")


def _flavor(text):
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) == 3:
            return (_positive(parts[0]), _positive(parts[1]),
                    _natural(parts[2]))
    except argparse.ArgumentTypeError:
        pass
    raise argparse.ArgumentTypeError(
        f"must be VCPUS,MEMORY_MB,DISK_GB (two positive integers and a "
        f"non-negative one), not {text!r}")


def _hint(text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"must be KEY=VALUE, not {text!r}")
    return key.strip(), value


def _uuid(text):
    try:
        return str(uuid_lib.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a uuid, not {text!r}") from None


def request_of(args, instance_uuid):
    """The RequestSpec of a boot's arguments (checked before anything is
    sent: ObjectFieldInvalid names a value out of bounds)."""
    vcpus, memory_mb, disk_gb = args.flavor
    name = f"{vcpus}-{memory_mb}-{disk_gb}"
    flavor = flavor_obj.Flavor(id=0, flavorid=name, name=name, vcpus=vcpus,
                               memory_mb=memory_mb, root_gb=disk_gb,
                               ephemeral_gb=0, swap=0, extra_specs={})
    hints = {}
    for key, value in args.hint:
        hints.setdefault(key, []).append(value)
    return request_spec.RequestSpec.from_components(
        instance_uuid, flavor, image={"id": str(uuid_lib.uuid4())},
        scheduler_hints=hints, availability_zone=args.zone,
        num_instances=args.count, project_id="admin")


def boot_command(args):
    conf = common.load_conf(args)
    with _answered(conf):
        return _boot(args, conf)


def _boot(args, conf):
    uuids = [str(uuid_lib.uuid4()) for _ in range(args.count)]
    spec = request_of(args, uuids[0])
    tasks, context = _client(conf)
    for instance_uuid, host, node in tasks.schedule_and_build_instances(
            context, spec, uuids):
        print(instance_uuid, host, node, flush=True)
    if not args.wait:
        return 0
    states = _wait(tasks, context, uuids, args.timeout)
    for instance_uuid in uuids:
        print(_final_line(instance_uuid, states[instance_uuid]), flush=True)
    return 1 if any(states[u]["vm_state"] != "active" for u in uuids) else 0


def delete_command(args):
    conf = common.load_conf(args)
    tasks, context = _client(conf)
    with _answered(conf):
        node = tasks.delete_instance(context, args.uuid)
    print(args.uuid, "deleted", node or "(on no node)", flush=True)
    return 0


def _answered(conf):
    """With cells, a cells service that does not answer is named as such
    (cell_listing.answered); the conductors' timeout is failures'."""
    if not conf.cells.enable:
        return contextlib.nullcontext()
    from hoststate.cli import cell_listing
    return cell_listing.answered(conf)


def _client(conf):
    """The conductors' ComputeTaskAPI, or with [cells] enable the cells
    service of this cell's bus (CellsAPI: the same methods, hosts
    qualified by their cell's path), which picks the cell."""
    from hoststate import context as hs_context
    if conf.cells.enable:
        from hoststate.cells import rpcapi as cells_rpcapi
        tasks = cells_rpcapi.CellsAPI(conf)
    else:
        from hoststate.conductor import rpcapi
        tasks = rpcapi.ComputeTaskAPI(conf)
    return tasks, hs_context.get_admin_context(engine=None)


def _wait(tasks, context, uuids, timeout):
    deadline = time.monotonic() + timeout
    while True:
        states = tasks.instance_states(context, uuids)
        if all(s["vm_state"] in SETTLED for s in states.values()):
            return states
        if time.monotonic() >= deadline:
            return states
        time.sleep(POLL_S)


def _final_line(instance_uuid, state):
    if state["vm_state"] == "active":
        return f"{instance_uuid} active {state['host']} {state['node']}"
    if state["vm_state"] == "error":
        return f"{instance_uuid} error {'; '.join(state['reasons'])}"
    return f"{instance_uuid} {state['vm_state'] or 'unknown'} (not settled)"
