"""A cloud already in use: instances on the nodes before the stream starts.

Each node gets its own target share of its capacity, drawn uniformly
around ``--prefill`` (from ``PREFILL_SPREAD`` below it to as much above,
kept within 0..``PREFILL_MAX``), and is filled with instances of the
plain flavors of the mix (``workload.FLAVOR_MIX`` without pinning or
GPUs, in their shares) drawn one by one, each kept only if the node's
vCPUs, memory and disk after it stay within the target share of their
capacity (total × allocation ratio); ``PREFILL_MISSES`` refusals in a
row close the node. Some nodes end far emptier than others, each with a
mix of sizes: the uneven cloud a scheduler really meets.

Nothing here counts usage: the fleet writes each node as the tracker's
own recount (``periodic.recount``) makes it from these instances, the
same function every agent runs later, so the figures agree from the
start. Pre-filled instances live through the whole run.
"""
import functools
import random
import uuid as uuid_lib

from hoststate.objects import fields as hs_fields
from hoststate.objects import states
from hoststate.resource_tracker import usage_source
from hoststate.simulation import workload

PREFILL_SPREAD = 0.3
PREFILL_MAX = 0.95
PREFILL_MISSES = 5


def plain_flavors():
    """[(name, share)] of the mix's flavors without extra specs."""
    return [(name, share) for name, share, *_, extra in workload.FLAVOR_MIX
            if not extra]


def target_range(fraction):
    """(lowest, highest) share of its capacity a node is filled to."""
    return (max(0.0, fraction - PREFILL_SPREAD),
            min(PREFILL_MAX, fraction + PREFILL_SPREAD))


def plan(hosts, fraction, capacity_of, seed=0):
    """Per host of ``hosts``, in order, the flavor names of its pre-filled
    instances (a generator: a large cloud is planned as it is written).

    ``capacity_of(host)`` is (capacity, used): the (vcpus, memory_mb,
    disk_gb) the host can hold (total × ratio), and what it holds empty
    (reserved).
    """
    pick = random.Random(seed + 101)
    names, shares = zip(*plain_flavors())
    sizes = {name: _size(flavor)
             for name, flavor in workload.flavors().items()}
    for host in hosts:
        if fraction <= 0:
            yield []
            continue
        capacity, used = capacity_of(host)
        low, high = target_range(fraction)
        target = min(high, max(low, pick.uniform(
            fraction - PREFILL_SPREAD, fraction + PREFILL_SPREAD)))
        budget = [target * c for c in capacity]
        used, chosen, misses = list(used), [], 0
        while misses < PREFILL_MISSES:
            name = pick.choices(names, shares)[0]
            after = [u + s for u, s in zip(used, sizes[name])]
            if all(a <= b for a, b in zip(after, budget)):
                used, misses = after, 0
                chosen.append(name)
            else:
                misses += 1
        yield chosen


def rows(host, names, seed=0):
    """The instance rows (column values, without ``compute_id``) of
    ``host``'s planned flavors: active instances placed on its node."""
    if not names:       # seeding a generator costs more than the rest
        return []
    pick = random.Random(f"{seed}:{host.host}")
    return [dict(
        _flavor_columns(name),
        uuid=str(uuid_lib.UUID(int=pick.getrandbits(128), version=4)),
        project_id=workload.pick_project(pick), user_id="simulation",
        host=host.host, node=host.nodename, launched_on=host.host,
        vm_state=states.ACTIVE, task_state=None,
        image_ref=workload.IMAGE["id"],
        os_type=workload.IMAGE["properties"]["os_type"]) for name in names]


def records(instance_rows, documents):
    """``instance_rows`` as the records an agent's recount reads back
    (``usage_source.InstanceRecord``); ``documents`` parses each distinct
    flavor text once."""
    columns = usage_source.InstanceRecord.__slots__
    return [usage_source.InstanceRecord(
        tuple(row.get(name) for name in columns), documents)
        for row in instance_rows]


@functools.lru_cache(maxsize=None)
def _flavor_columns(name):
    """What an instance row of flavor ``name`` stores of it: its id, sizes
    and document (as Instance stores it)."""
    flavor = workload.flavors()[name]
    return dict(instance_type_id=flavor.id, vcpus=flavor.vcpus,
                memory_mb=flavor.memory_mb, root_gb=flavor.root_gb,
                ephemeral_gb=flavor.ephemeral_gb,
                flavor=hs_fields.dump_json(flavor))


def _size(flavor):
    return (flavor.vcpus, flavor.memory_mb,
            flavor.root_gb + flavor.ephemeral_gb)
