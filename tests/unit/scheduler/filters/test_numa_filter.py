"""NUMATopologyFilter on the host-state table (conformance items 23-26).

Most hosts are Nova's scheduler fakes (numa_builders):

    nova_numa_topology()       two cells, each: shared CPUs {0,1} / {4,5},
                               dedicated {2,3} / {6,7}, 512 MiB, 4 KiB
                               pages (512 MiB) and 512 x 2 MiB pages,
                               one thread per core (no SMT)
    nova_numa_topology_w_ht()  two cells, each: dedicated CPUs only, two
                               cores of two threads, 512 MiB, no pages

The property tests at the end check the vectorized mask against a plain
loop over hosts that calls the hardware fit directly.
"""
import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from hoststate.hardware import numa as hw_numa
from hoststate.objects import fields
from hoststate.objects import image_meta
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.scheduler import filters
from hoststate.scheduler.filters import numa as numa_filter
from hoststate.scheduler.records import ServiceRecord
from hoststate.scheduler.request import RequestVector
from support.host_tables import all_rows, make_table, passing_hosts, node_record

from ...hardware import numa_builders as nb

UUID = "0b6f3c4e-5a8e-4d55-9d36-1f2bbd1c1e70"
FILTER = numa_filter.NUMATopologyFilter(None)


def request(numa=None, vcpus=2, memory_mb=1024, image=None, pci=None,
            **extra_specs):
    """A RequestVector for a flavor (extra specs as keywords) and, when
    given, an explicit guest topology and InstancePCIRequests."""
    spec = request_spec.RequestSpec.from_components(
        UUID, nb.flavor(vcpus=vcpus, memory_mb=memory_mb, **extra_specs),
        image=image, numa_topology=numa, pci_requests=pci)
    return RequestVector(spec)


def passing(table, req):
    return passing_hosts(FILTER, table, req)


def explain(table, req):
    return FILTER.explain(table, all_rows(table), req)


def two_cell_guest(first_cpus, first_mb, second_cpus, second_mb):
    return nb.guest(nb.guest_cell(0, cpuset=first_cpus, memory=first_mb),
                    nb.guest_cell(1, cpuset=second_cpus, memory=second_mb))


# --- item 23: topology or not, and the limits --------------------------------

def test_numa_guest_on_host_without_numa_fails():
    table = make_table([dict(host="host1")])
    req = request(two_cell_guest({0}, 512, {1}, 512))
    assert passing(table, req) == []
    assert explain(table, req) == "1 hosts have no NUMA topology"


def test_numa_host_takes_guest_without_numa():
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology()),
                        dict(host="host2")])
    req = request()
    assert req.numa_request is None
    assert passing(table, req) == ["host1", "host2"]
    assert explain(table, req) is None


def test_pass_and_the_limits_carry_the_node_ratios():
    # Guest cell 0: 1 shared vCPU, 512 MiB; cell 1: 2 shared vCPUs,
    # 512 MiB. Each host cell has 2 shared CPUs and 512 MiB: fits, even at
    # ratio 1; here the node's ratios are 21 and 1.3.
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology(),
                             cpu_allocation_ratio=21.0,
                             ram_allocation_ratio=1.3)])
    req = request(two_cell_guest({0}, 512, {1, 2}, 512), vcpus=3)
    assert passing(table, req) == ["host1"]
    limits = numa_filter.numa_limits(table, 0)
    assert isinstance(limits, numa_obj.NUMATopologyLimits)
    assert (limits.cpu_allocation_ratio, limits.ram_allocation_ratio) == \
        (21.0, 1.3)


# --- item 24: per-cell overcommit --------------------------------------------

def test_three_shared_vcpus_on_a_two_cpu_cell_fail():
    # Guest cell 1 has 3 shared vCPUs (1,2,3); both host cells have 2
    # shared CPUs. 3 > 2 * ratio 1 (and a guest never overcommits
    # against itself, whatever the ratio).
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology(),
                             cpu_allocation_ratio=1.0,
                             ram_allocation_ratio=1.0)])
    req = request(two_cell_guest({0}, 512, {1, 2, 3}, 512), vcpus=4)
    assert passing(table, req) == []
    assert "3 shared vCPUs exceed the cell's 2 shared CPUs" in \
        explain(table, req)


def test_1024_mib_on_a_512_mib_cell_fails():
    # Guest cell 0 wants 1024 MiB; each host cell has 512 MiB (ratio 1).
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology(),
                             cpu_allocation_ratio=1.0,
                             ram_allocation_ratio=1.0)])
    req = request(two_cell_guest({0}, 1024, {1, 2}, 512), vcpus=3,
                  memory_mb=1536)
    assert passing(table, req) == []
    assert "needs 1024 MiB of 4 KiB pages, the cell has 512 MiB" in \
        explain(table, req)


def _one_cell_host(cpu_usage=0, memory_usage=0):
    """One cell: shared CPUs {0,1}, 1024 MiB, with some use already."""
    return nb.host(nb.host_cell(0, cpuset={0, 1}, memory=1024,
                                cpu_usage=cpu_usage,
                                memory_usage=memory_usage))


def test_cpu_ratio_decides_per_node_on_one_shared_topology():
    # 1 shared CPU in use + 2 wanted = 3 against a limit of 2 x ratio:
    # ratio 1 -> 2 (fails), 1.5 -> 3 (passes: not more than the limit),
    # 2 -> 4 (passes). The three nodes share one topology text.
    topology = _one_cell_host(cpu_usage=1)
    table = make_table([
        dict(host="host%d" % i, numa_topology=topology,
             cpu_allocation_ratio=ratio, ram_allocation_ratio=1.0)
        for i, ratio in enumerate([1.0, 1.5, 2.0])])
    assert len(table.interned["numa_topology"]) == 1
    req = request(nb.guest(nb.guest_cell(0, cpuset={0, 1}, memory=256)))
    assert passing(table, req) == ["host1", "host2"]


def test_ram_ratio_decides_per_node_on_one_shared_topology():
    # 512 MiB in use + 768 wanted = 1280 MiB against 1024 x ratio:
    # 1.0 -> 1024 and 1.2 -> 1228.8 fail, 1.25 -> 1280 passes.
    topology = _one_cell_host(memory_usage=512)
    table = make_table([
        dict(host="host%d" % i, numa_topology=topology,
             cpu_allocation_ratio=16.0, ram_allocation_ratio=ratio)
        for i, ratio in enumerate([1.0, 1.2, 1.25])])
    req = request(nb.guest(nb.guest_cell(0, cpuset={0}, memory=768)))
    assert passing(table, req) == ["host2"]
    assert "exceed the limit of 1024 MiB" in explain(
        make_table([dict(host="host0", numa_topology=topology,
                         ram_allocation_ratio=1.0)]), req)


def test_pinned_guests_ignore_the_ram_ratio_on_every_node():
    """Issue 13, case 3, through the filter: a guest with pinned CPUs and
    no page size fits against free 4 KiB pages, whatever memory_usage and
    the node's RAM ratio say (Nova 34)."""
    topology = nb.host(nb.host_cell(0, pcpuset={0, 1}, memory=1024,
                                    memory_usage=768))
    table = make_table([
        dict(host="host%d" % i, numa_topology=topology,
             ram_allocation_ratio=ratio) for i, ratio in enumerate([1.0,
                                                                  4.0])])
    req = request(nb.guest(nb.dedicated_cell(pcpuset={0}, memory=512)),
                  vcpus=1, memory_mb=512)
    assert passing(table, req) == ["host0", "host1"]


def test_shared_guests_with_huge_pages_meet_the_ram_ratio():
    """Issue 13, case 4, through the filter: 8000 MiB in use + 1024 MiB of
    1 GiB pages against 8192 MiB x ratio: 1.0 fails, 1.2 passes."""
    topology = nb.host(nb.host_cell(
        0, cpuset={0, 1}, memory=8192, memory_usage=8000, mempages=[
            nb.pages(4, 1048576), nb.pages(2048, 1024), nb.pages(nb.GiB_KB,
                                                                 2)]))
    table = make_table([
        dict(host="host%d" % i, numa_topology=topology,
             ram_allocation_ratio=ratio) for i, ratio in enumerate([1.0,
                                                                  1.2])])
    req = request(nb.guest(nb.guest_cell(0, cpuset={0}, memory=1024,
                                         pagesize=nb.GiB_KB)),
                  vcpus=1, memory_mb=1024)
    assert passing(table, req) == ["host1"]


# --- item 25: dedicated + require needs SMT siblings -------------------------

def _policy_table():
    return make_table([
        dict(host="host1", numa_topology=nb.nova_numa_topology()),
        dict(host="host2", numa_topology=nb.nova_numa_topology_w_ht())])


def test_require_thread_policy_fails_without_siblings_and_passes_with():
    # 2 vCPUs pinned under require: host2's cells each have two free
    # sibling pairs; host1's cores have one thread each.
    req = request(vcpus=2, memory_mb=512, **{
        "hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require"})
    table = _policy_table()
    assert passing(table, req) == ["host2"]
    only_host1 = make_table([dict(host="host1",
                                  numa_topology=nb.nova_numa_topology())])
    assert explain(only_host1, req) == (
        "1 hosts have no SMT sibling threads (thread policy require)")


def test_require_from_the_image_counts_too():
    image = image_meta.ImageMeta.from_dict(
        {"properties": {"hw_cpu_thread_policy": "require"}})
    req = request(vcpus=2, memory_mb=512, image=image,
                  **{"hw:cpu_policy": "dedicated"})
    assert numa_filter.wants_smt(req)
    assert passing(_policy_table(), req) == ["host2"]


def test_prefer_thread_policy_takes_either_host():
    req = request(vcpus=2, memory_mb=512, **{
        "hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer"})
    assert not numa_filter.wants_smt(req)
    assert passing(_policy_table(), req) == ["host1", "host2"]


def test_isolate_thread_policy_leaves_out_smt_hosts():
    """Issue 13, case 5, through the filter: host2 has SMT and only
    dedicated CPUs (cpu_dedicated_set): Nova 34 refuses isolate there;
    host1, without SMT, pins plainly."""
    req = request(vcpus=2, memory_mb=512, **{
        "hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"})
    assert passing(_policy_table(), req) == ["host1"]
    smt_only = make_table([dict(host="host2",
                                numa_topology=nb.nova_numa_topology_w_ht())])
    assert "where Nova refuses isolate" in explain(smt_only, req)


# --- issue 13, case 6: the PCI devices in view ---------------------------------

VF = {"vendor_id": "8086", "product_id": "154c"}


def vf_pools(*numa_nodes):
    """A pool list of one VF on each of ``numa_nodes``."""
    return pci_obj.PciDevicePoolList.from_dicts([
        dict(VF, numa_node=node, count=1, dev_type="type-VF")
        for node in numa_nodes])


def vf_request(policy):
    return pci_obj.InstancePCIRequests(requests=[pci_obj.InstancePCIRequest(
        count=1, spec=[dict(VF)], numa_policy=policy)])


def _two_equal_cells(cell_1_memory_usage=0):
    """Shared CPUs {0,1} / {2,3}, 1024 MiB each, both on socket 0; cell
    1 may be busy."""
    return nb.host(nb.host_cell(0, cpuset={0, 1}, memory=1024, socket=0),
                   nb.host_cell(1, cpuset={2, 3}, memory=1024, socket=0,
                                memory_usage=cell_1_memory_usage))


def _case_6_table():
    """host0: the VF on cell 1, which has room: the guest goes there.
    host1: the VF on cell 1, which is busy (900 + 512 MiB > 1024 x 1):
    the guest fits cell 0 only. host2: the VF on cell 0. host3: no
    devices. RAM ratio 1 throughout."""
    return make_table([dict(node, ram_allocation_ratio=1.0) for node in [
        dict(host="host0", numa_topology=_two_equal_cells(),
             pci_device_pools=vf_pools(1)),
        dict(host="host1", numa_topology=_two_equal_cells(900),
             pci_device_pools=vf_pools(1)),
        dict(host="host2", numa_topology=_two_equal_cells(900),
             pci_device_pools=vf_pools(0)),
        dict(host="host3", numa_topology=_two_equal_cells())]])


@pytest.mark.parametrize("policy, hosts", [
    ("required", ["host0", "host2"]),
    ("legacy", ["host0", "host2"]),
    (None, ["host0", "host2"]),
    ("preferred", ["host0", "host1", "host2"]),
    ("socket", ["host0", "host1", "host2"]),    # one socket
])
def test_the_guest_is_fitted_with_its_devices_in_view(policy, hosts):
    """Issue 13, case 6, through the filter (Nova's answers): a host
    whose VF sits on the other cell passes when that cell can take the
    guest; when it cannot, only preferred and socket take a VF from
    another cell; a host without devices fails (Nova's empty stats)."""
    guest = nb.guest(nb.guest_cell(0, cpuset={0}, memory=512))
    req = request(guest, vcpus=1, memory_mb=512, pci=vf_request(policy))
    assert passing(_case_6_table(), req) == hosts


def test_a_refusal_for_the_devices_is_explained():
    guest = nb.guest(nb.guest_cell(0, cpuset={0}, memory=512))
    req = request(guest, vcpus=1, memory_mb=512,
                  pci=vf_request("required"))
    table = make_table([dict(host="host1",
                             numa_topology=_two_equal_cells(900),
                             pci_device_pools=vf_pools(1),
                             ram_allocation_ratio=1.0)])
    assert explain(table, req) == (
        "host1 (node1): the PCI requests are met on none of the 1 sets of "
        "host cells the guest's NUMA cells fit on (host cells [0]: PCI "
        "request #0 (1 x [{'vendor_id': '8086', 'product_id': '154c'}], "
        "numa_policy required) cannot be met: 0 matching devices free on "
        "or near NUMA cells [0], 1 requested (free: 8086:154c numa 1 "
        "{'dev_type': 'type-VF'} x1))")


def test_pools_join_the_fit_key_only_with_pci_requests():
    """Four nodes of one topology and ratios, three distinct pool lists:
    a guest without PCI requests fits once for all of them (the pools
    change which cell, never whether); one with PCI requests fits once
    per pool list."""
    table = make_table([
        dict(host="host%d" % i, numa_topology=_two_equal_cells(),
             pci_device_pools=vf_pools(*nodes))
        for i, nodes in enumerate([(0,), (1,), (1,), (0, 1)])])
    rows = all_rows(table)
    guest = nb.guest(nb.guest_cell(0, cpuset={0}, memory=512))
    plain = numa_filter.NUMARequestShape.of(request(guest))
    fits, inverse = numa_filter.fit_groups(table, rows, plain)
    assert len(fits) == 1 and inverse.tolist() == [0, 0, 0, 0]
    with_pci = numa_filter.NUMARequestShape.of(
        request(guest, pci=vf_request("required")))
    fits, inverse = numa_filter.fit_groups(table, rows, with_pci)
    assert len(fits) == 3
    assert [fits[i].cells for i in inverse] == [(0,), (1,), (1,), (0,)]


# --- item 26: the exact check decides what the totals let through ------------

def test_fails_when_the_exact_fit_fails_though_totals_allow():
    # 3 dedicated vCPUs in one guest cell. The host has 2 + 2 = 4 free
    # dedicated CPUs in all (so the vectorized totals pass), but no cell
    # has 3: the fit fails.
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology())])
    req = request(vcpus=3, memory_mb=256, **{"hw:cpu_policy": "dedicated"})
    shape = numa_filter.NUMARequestShape.of(req)
    rows = all_rows(table)
    assert numa_filter.totals_allow(table, rows, shape).tolist() == [True]
    assert FILTER.filter_mask(table, rows, req).tolist() == [False]
    assert "3 dedicated vCPUs exceed the cell's 2 dedicated CPUs" in \
        explain(table, req)


def test_totals_remove_hosts_before_any_fit():
    # 5 dedicated vCPUs > 4 free in all: out without a fit; the explanation
    # says so and still gives the fit's reason for the first host.
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology())])
    req = request(vcpus=5, memory_mb=256, **{"hw:cpu_policy": "dedicated"})
    shape = numa_filter.NUMARequestShape.of(req)
    assert numa_filter.totals_allow(table, all_rows(table),
                                    shape).tolist() == [False]
    text = explain(table, req)
    assert text.startswith("1 hosts have too few cells, CPUs or memory in "
                           "all for 1 cells, 0 shared + 5 dedicated vCPUs, "
                           "256 MiB; host1 (node1): ")


def test_totals_count_free_huge_pages():
    # Cell 0 of Nova's fake has 512 MiB but 512 free 2 MiB pages (1 GiB):
    # 768 MiB in 2 MiB pages = 384 pages fits it, so the memory total
    # must count pages, not only the cell's 512 MiB.
    table = make_table([dict(host="host1", numa_topology=nb.host(
        nb.nova_numa_topology().cells[0]))])
    req = request(vcpus=1, memory_mb=768, **{"hw:mem_page_size": "2048"})
    assert passing(table, req) == ["host1"]


def test_totals_count_the_isolated_emulator_cpu():
    # 2 dedicated vCPUs + 1 CPU for isolated emulator threads = 3 free
    # dedicated CPUs wanted: a cell with 2 is out before any fit, one with
    # 3 fits.
    def pinned_host(cpus):
        return nb.host(nb.host_cell(0, pcpuset=set(range(cpus)),
                                    memory=1024))
    table = make_table([dict(host="host1", numa_topology=pinned_host(2)),
                        dict(host="host2", numa_topology=pinned_host(3))])
    req = request(vcpus=2, memory_mb=256, **{
        "hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"})
    shape = numa_filter.NUMARequestShape.of(req)
    assert shape.pinned == 3
    assert numa_filter.totals_allow(table, all_rows(table),
                                    shape).tolist() == [False, True]
    assert passing(table, req) == ["host2"]


def test_one_fit_per_topology_and_relevant_ratio():
    # 6 nodes, 2 topologies, cpu ratios 1 / 2 and ram ratios 1 / 2 mixed.
    nodes = [dict(host="host%d" % i,
                  numa_topology=(nb.nova_numa_topology() if i % 2 else
                                 nb.nova_numa_topology_w_ht()),
                  cpu_allocation_ratio=1.0 + (i // 2) % 2,
                  ram_allocation_ratio=1.0 + (i // 4))
             for i in range(6)]
    table = make_table(nodes)
    rows = all_rows(table)
    # shared guest without pages: both ratios matter -> (topology, cpu,
    # ram) combinations: i=0..5 give (ht,1,1) (nova,1,1) (ht,2,1)
    # (nova,2,1) (ht,1,2) (nova,1,2): 6 fits
    shared = numa_filter.NUMARequestShape.of(
        request(nb.guest(nb.guest_cell(0, cpuset={0}, memory=256))))
    fits, inverse = numa_filter.fit_groups(table, rows, shared)
    assert len(fits) == 6 and sorted(set(inverse.tolist())) == list(range(6))
    # dedicated guest in 2 MiB pages: no ratio matters -> one per topology
    pinned = numa_filter.NUMARequestShape.of(request(
        vcpus=1, memory_mb=256, **{"hw:cpu_policy": "dedicated",
                                   "hw:mem_page_size": "2048"}))
    fits, inverse = numa_filter.fit_groups(table, rows, pinned)
    assert len(fits) == 2
    assert inverse.tolist() == [inverse[0], inverse[1]] * 3


def test_kept_fits_follow_a_changed_topology():
    # Fit outcomes are kept across calls by topology text: when the node
    # reports its cell full (a claim landed), the next call sees it.
    # (ratio 1 throughout: only the text changes)
    record = node_record(host="host1", numa_topology=_one_cell_host(),
                         ram_allocation_ratio=1.0)
    table = make_table([])
    table.write_nodes([record])
    table.set_services([ServiceRecord(id=1, host="host1")])
    req = request(nb.guest(nb.guest_cell(0, cpuset={0, 1}, memory=512)))
    assert passing(table, req) == ["host1"]
    full = node_record(host="host1", uuid=record["uuid"],
                       numa_topology=_one_cell_host(memory_usage=1024),
                       ram_allocation_ratio=1.0)
    table.write_nodes([full])
    assert passing(table, req) == []


def test_no_rows_gives_an_empty_mask():
    table = make_table([dict(host="host1")])
    req = request(two_cell_guest({0}, 512, {1}, 512))
    mask = FILTER.filter_mask(table, np.zeros(0, dtype=np.intp), req)
    assert mask.dtype == bool and mask.shape == (0,)


def test_filter_is_registered_under_its_name():
    conf = None
    [loaded] = filters.plugins.filters.load(["NUMATopologyFilter"], conf)
    assert isinstance(loaded, numa_filter.NUMATopologyFilter)


# --- the vectorized mask equals a loop over hosts ----------------------------

RATIOS = st.sampled_from([1.0, 1.5, 2.0, 0.5, 16.0])
#: guests that fit many generated hosts, so ratios decide more often
SMALL_GUESTS = {
    "small": nb.guest(nb.guest_cell(0, cpuset={0, 1}, memory=256)),
    "pinned": nb.guest(nb.dedicated_cell(0, pcpuset={0}, memory=128)),
    "none": None,
}


@st.composite
def busy_hosts(draw):
    """1-2 cells of 2-4 shared and 0-2 dedicated CPUs and 1024 MiB, whose
    shared CPUs and memory are already in use up to twice over: whether a
    small guest fits then turns on the node's ratios."""
    cells, cpu = [], 0
    for cell_id in range(draw(st.sampled_from([1, 2]))):
        shared = set(range(cpu, cpu + draw(st.integers(2, 4))))
        dedicated = set(range(cpu + len(shared),
                              cpu + len(shared) + draw(st.integers(0, 2))))
        cpu += len(shared) + len(dedicated)
        cells.append(nb.host_cell(
            cell_id, cpuset=shared, pcpuset=dedicated, memory=1024,
            cpu_usage=draw(st.integers(0, 2 * len(shared))),
            memory_usage=draw(st.sampled_from([0, 256, 512, 768, 1024,
                                               1536]))))
    return nb.host(*cells)


def topologies():
    return st.sampled_from(["busy", "any", "busy"]).flatmap(
        lambda kind: busy_hosts() if kind == "busy" else nb.hosts())


@st.composite
def numa_scenarios(draw):
    """Hosts sharing a few distinct topologies (or none), with their own
    ratios; and a guest (or none)."""
    topologies_drawn = draw(st.lists(topologies(), min_size=1, max_size=4))
    nodes = []
    for i in range(draw(st.integers(2, 12))):
        which = draw(st.integers(-1, len(topologies_drawn) - 1))
        nodes.append(dict(
            host="host%d" % i,
            numa_topology=topologies_drawn[which] if which >= 0 else None,
            cpu_allocation_ratio=draw(RATIOS),
            ram_allocation_ratio=draw(RATIOS)))
    kind = draw(st.sampled_from(["any", "small", "any", "pinned", "none"]))
    if kind == "any":
        return nodes, draw(nb.any_guests())
    return nodes, SMALL_GUESTS[kind]


def reference(node, guest):
    """Nova's host_passes for one host, on the hardware functions."""
    if guest is None:
        return True
    text = node["numa_topology"] and node["numa_topology"].to_json()
    topology = numa_obj.NUMATopology.from_json(text) if text else None
    dedicated_require = any(
        cell.cpu_policy == fields.CPUAllocationPolicy.DEDICATED and
        cell.cpu_thread_policy == fields.CPUThreadAllocationPolicy.REQUIRE
        for cell in guest.cells)
    if dedicated_require and not hw_numa.host_has_threads(topology):
        return False
    if topology is None:
        return False
    limits = numa_obj.NUMATopologyLimits(
        cpu_allocation_ratio=node["cpu_allocation_ratio"],
        ram_allocation_ratio=node["ram_allocation_ratio"])
    return hw_numa.fit_instance_to_host(topology, guest, limits).fits


@hypothesis.settings(max_examples=50, deadline=None)
@hypothesis.given(scenario=numa_scenarios())
def test_mask_equals_per_host_reference(scenario):
    nodes, guest = scenario
    table = make_table(nodes)
    rows = all_rows(table)
    req = request(guest)
    expected = [reference(node, guest) for node in nodes]
    assert FILTER.filter_mask(table, rows, req).tolist() == expected
    # a subset of rows (what earlier filters left) gives the same answers
    subset = rows[::2]
    assert FILTER.filter_mask(table, subset, req).tolist() == expected[::2]
    if not any(expected) and guest is not None:
        assert explain(table, req)
