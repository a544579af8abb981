"""One NUMA node, three answers: the scheduler's filters on its table, the
scheduler's database claim, and the compute tracker's claim (issue 13:
the filter and the claims agree).

A compute agent on a FakeDriver reports the node (NUMA topology, PCI
devices); the agent's tracker claims what a test puts there first. Then
one flavor (and PCI requests) is asked three ways, each leaving the node
as it found it:

* ``filters``: NUMATopologyFilter and PciPassthroughFilter on a freshly
  loaded scheduler table;
* ``scheduler``: ``scheduler.claims.claim`` in the database, read back
  from the ledger, then released;
* ``tracker``: ``ResourceTracker.instance_claim``, then aborted.

Each claim answers a :class:`Placed` (host cells, NUMA nodes of the
devices taken) or a :class:`Refused` (the resources short).
"""
import dataclasses
import uuid

import numpy as np

from hoststate import exception
from hoststate.hardware import consumption as cons
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import claim_release
from hoststate.scheduler import claims
from hoststate.scheduler import host_manager
from hoststate.scheduler.filters import numa as numa_filter
from hoststate.scheduler.filters import pci as pci_filter
from hoststate.scheduler.request import RequestVector
from support import scheduler_worker

HOST, NODE = "numa-host", "numa-node"
VF = {"vendor_id": "8086", "product_id": "154c"}


def vf(address, numa_node):
    """A VF device dict as a driver reports it."""
    return dict(VF, address=address, numa_node=numa_node, dev_type="type-VF")


def start_agent(ctx, topology, pci_devices=()):
    """An agent reporting one node of ``topology`` and ``pci_devices``;
    64 GiB and 64 vCPUs, so the node's own capacity never decides."""
    driver = fake_driver.FakeDriver({NODE: fake_driver.NodeInventory(
        vcpus=64, memory_mb=65536, local_gb=100, numa_topology=topology,
        pci_devices=list(pci_devices))})
    agent = agent_mod.ComputeAgent(ctx, driver, host=HOST)
    assert agent.start() == {}
    return agent


def flavor(vcpus=1, memory_mb=512, **extra_specs):
    return flavor_obj.Flavor(
        id=1, flavorid="f1", name="flavor1", vcpus=vcpus,
        memory_mb=memory_mb, root_gb=1, ephemeral_gb=0, swap=0,
        extra_specs=extra_specs)


def vf_requests(policy, count=1):
    return pci_obj.InstancePCIRequests(requests=[pci_obj.InstancePCIRequest(
        count=count, spec=[dict(VF)], numa_policy=policy)])


def _instance(ctx, the_flavor, pci=None):
    instance = instance_obj.Instance(
        ctx, uuid=str(uuid.uuid4()), project_id="p1", user_id="u1",
        vm_state=states.BUILDING, task_state=states.SPAWNING,
        image_ref="image-1", flavor=the_flavor,
        instance_type_id=the_flavor.id, vcpus=the_flavor.vcpus,
        memory_mb=the_flavor.memory_mb, root_gb=the_flavor.root_gb,
        ephemeral_gb=the_flavor.ephemeral_gb, pci_requests=pci)
    instance.create()
    return instance


def place(ctx, agent, the_flavor, pci=None):
    """Claim an instance of ``the_flavor`` on the node through the tracker
    and keep it (what is already on the node); its Consumption."""
    with agent.tracker(NODE).instance_claim(
            _instance(ctx, the_flavor, pci)) as fitted:
        return fitted


@dataclasses.dataclass(frozen=True)
class Placed:
    cells: tuple                # host cell per guest cell
    device_nodes: tuple = ()    # NUMA node of every device taken


@dataclasses.dataclass(frozen=True)
class Refused:
    resources: tuple            # the resources short, e.g. ("numa",)


def _placed(consumption):
    allocation = consumption.pci_allocation
    takes = [] if allocation is None else [
        (dict(take.pool)["numa_node"], take.count)
        for request in allocation.requests for take in request.takes]
    return Placed(
        tuple(cell.id for cell in consumption.numa_topology.cells),
        tuple(node for node, count in takes for _ in range(count)))


def _refused(shortfalls):
    return Refused(tuple(sorted({s.resource for s in shortfalls})))


def _spec(the_flavor, pci):
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), the_flavor, image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1", pci_requests=pci)


def filters_pass(ctx, the_flavor, pci=None):
    """Whether the NUMA and PCI filters pass the node, on a scheduler
    table loaded now."""
    conf = scheduler_worker.capacity_conf()
    hosts = host_manager.HostManager(ctx, conf=conf,
                                     servicegroup=host_manager.ALL_UP)
    table = hosts.load().table
    request = RequestVector(_spec(the_flavor, pci), conf)
    rows = np.array([table.row_of_host_node[(HOST, NODE)]])
    return all(bool(f.filter_mask(table, rows, request)[0]) for f in (
        numa_filter.NUMATopologyFilter(conf),
        pci_filter.PciPassthroughFilter(conf)))


def scheduler_claim(ctx, the_flavor, pci=None):
    """The scheduler's database claim of one instance on the node: what
    its ledger row holds, or what it was refused for. Released after."""
    conf = scheduler_worker.capacity_conf()
    node = cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, NODE)
    request = RequestVector(_spec(the_flavor, pci), conf)
    instance_uuid = str(uuid.uuid4())
    try:
        claims.claim(ctx, node.id, request, instance_uuid)
    except exception.ClaimRejected as rejected:
        return _refused(rejected.shortfalls)
    held = allocation_obj.Allocation.get_by_consumer(ctx, instance_uuid,
                                                     node.id)
    answer = _placed(cons.Consumption.held(held))
    claim_release.release(ctx, node.id, instance_uuid)
    return answer


def tracker_claim(ctx, agent, the_flavor, pci=None):
    """The tracker's claim of one instance on the node, then aborted."""
    tracker = agent.tracker(NODE)
    instance = _instance(ctx, the_flavor, pci)
    try:
        with tracker.instance_claim(instance) as fitted:
            answer = _placed(fitted)
    except exception.ComputeResourcesUnavailable as refused:
        return _refused(refused.shortfalls)
    tracker.abort_instance_claim(instance)
    return answer


def three_answers(ctx, agent, the_flavor, pci=None):
    """(filters pass?, scheduler claim, tracker claim); the node is as it
    was after each."""
    before = _usage(ctx)
    answers = (filters_pass(ctx, the_flavor, pci),
               scheduler_claim(ctx, the_flavor, pci),
               tracker_claim(ctx, agent, the_flavor, pci))
    assert _usage(ctx) == before
    return answers


def _usage(ctx):
    node = cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, NODE)
    return (node.vcpus_used, node.memory_mb_used,
            node.numa_topology.to_json(),
            node.pci_device_pools.to_json() if node.obj_get(
                "pci_device_pools") is not None else None)
