"""Issue 13, case 6, through the claims: the guest's NUMA cells are chosen
with its PCI devices in view, and the filters, the scheduler's database
claim and the tracker's claim agree on the cell and on the device (SQLite,
PostgreSQL, MariaDB). The hardware and filter tests are in
tests/unit/hardware/test_numa_pci_fit.py and
tests/unit/scheduler/filters/test_numa_filter.py.

The node: two equal cells (two shared CPUs, 4096 MiB each), each on its
own socket, and two VFs, both on cell 1. The guest: one cell of one
vCPU and 1024 MiB, asking for one VF.
"""
import uuid

import pytest

from hoststate.hardware import consumption as cons
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import request_spec
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from support import scheduler_worker
from support.numa_claims import HOST, NODE, Placed, Refused, flavor, place, \
    start_agent, three_answers, vf, vf_requests

GUEST = dict(memory_mb=1024, **{"hw:numa_nodes": "1"})


@pytest.fixture
def agent(ctx):
    return start_agent(ctx, fake_driver.numa_host(
        cells=2, cores_per_cell=2, threads_per_core=1,
        memory_mb_per_cell=4096), [vf("0000:82:00.1", 1),
                                   vf("0000:82:00.2", 1)])


@pytest.mark.parametrize("policy", [None, "legacy", "required", "preferred",
                                    "socket"])
def test_the_guest_goes_to_the_cell_of_its_device(ctx, agent, policy):
    """Without the devices in view the guest would take cell 0 (equal
    cells keep their order) and a required VF would be missing there,
    so the host was refused; Nova tries the cell holding devices first,
    and so do the filters and both claims."""
    assert three_answers(ctx, agent, flavor(**GUEST), vf_requests(policy)) \
        == (True, Placed((1,), (1,)), Placed((1,), (1,)))


@pytest.mark.parametrize("policy, answer", [
    ("required", Refused(("numa",))),
    ("legacy", Refused(("numa",))),        # no VF of unknown NUMA node
    ("socket", Refused(("numa",))),        # cell 0 is on another socket
    ("preferred", Placed((0,), (1,))),     # the VF from cell 1
])
def test_when_the_device_cell_is_full_the_policy_decides(ctx, agent, policy,
                                                         answer):
    """An instance holding one VF and 3584 MiB sits on cell 1 already:
    3584 + 1024 > 4096 x ratio 1, so the guest fits cell 0 only, and
    the other VF is on cell 1."""
    assert place(ctx, agent, flavor(memory_mb=3584, **{
        "hw:numa_nodes": "1"}), vf_requests("required")).numa_topology \
        .cells[0].id == 1
    assert three_answers(ctx, agent, flavor(**GUEST), vf_requests(policy)) \
        == (answer != Refused(("numa",)), answer, answer)


def test_the_recount_takes_the_same_device_again(ctx, agent):
    """The periodic recount gives the instance its devices again on the
    cells it holds: the node it stores is the claim's, to the device."""
    fitted = place(ctx, agent, flavor(**GUEST), vf_requests("required"))
    assert [c.id for c in fitted.numa_topology.cells] == [1]
    stored = cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, NODE)
    assert [(p.numa_node, p.count) for p in stored.pci_device_pools] == \
        [(1, 1)]
    assert agent.tracker(NODE).update_available_resource() is False


def test_select_destinations_claims_the_cell_and_the_device(ctx, agent):
    """The whole scheduler: the two filters, the claim in the database,
    the ledger row naming cell 1 and a VF of NUMA node 1."""
    conf = scheduler_worker.capacity_conf(enabled_filters=[
        "ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter",
        "NUMATopologyFilter", "PciPassthroughFilter"])
    hosts = host_manager.HostManager(ctx, conf=conf,
                                     servicegroup=host_manager.ALL_UP)
    scheduler = manager_mod.Scheduler(hosts.load(), conf=conf, seed=1)
    spec = request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor(**GUEST), image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1",
        pci_requests=vf_requests("required"))
    [[chosen]] = scheduler.select_destinations(spec, return_alternates=False)
    assert chosen.nodename == NODE
    node = cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, NODE)
    held = cons.Consumption.held(allocation_obj.Allocation.get_by_consumer(
        ctx, spec.instance_uuid, node.id))
    assert [c.id for c in held.numa_topology.cells] == [1]
    assert [dict(take.pool)["numa_node"] for request in
            held.pci_allocation.requests for take in request.takes] == [1]
    assert [(p.numa_node, p.count) for p in node.pci_device_pools] == \
        [(1, 1)]
