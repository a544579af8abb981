"""PciPassthroughFilter on the host-state table (Nova's pass/fail cases and
conformance item 26), NUMA affinity through the guest's fitted cells, and
property tests against a plain loop over hosts."""
import itertools

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from hoststate.hardware import consumption as cons
from hoststate.hardware import numa as hw_numa
from hoststate.hardware import pci as hw_pci
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.scheduler import filters
from hoststate.scheduler.filters import numa as numa_filter
from hoststate.scheduler.filters import pci as pci_filter
from hoststate.scheduler.request import RequestVector
from support.host_tables import all_rows, make_table, passing_hosts

from ...hardware import numa_builders as nb
from .test_numa_filter import busy_hosts

UUID = "0b6f3c4e-5a8e-4d55-9d36-1f2bbd1c1e70"
FILTER = pci_filter.PciPassthroughFilter(None)
NUMA_FILTER = numa_filter.NUMATopologyFilter(None)
VF = {"vendor_id": "8086", "product_id": "154c"}
GPU = {"vendor_id": "10de", "product_id": "1db4"}


def pools(*dicts):
    """A PciDevicePoolList from flat pool dicts."""
    return pci_obj.PciDevicePoolList.from_dicts(list(dicts))


def vf_pool(count, numa_node=None):
    return dict(VF, count=count, numa_node=numa_node, dev_type="type-VF")


def pci_request(count, spec=VF, policy=None):
    return pci_obj.InstancePCIRequest(count=count, spec=[dict(spec)],
                                      numa_policy=policy)


def request(*pci, numa=None, empty=False):
    """A RequestVector with PCI requests ``pci`` (None when there are none
    and not ``empty``) and an explicit guest NUMA topology."""
    requests = pci_obj.InstancePCIRequests(requests=list(pci)) \
        if pci or empty else None
    spec = request_spec.RequestSpec.from_components(
        UUID, nb.flavor(vcpus=1, memory_mb=512), numa_topology=numa,
        pci_requests=requests)
    return RequestVector(spec)


def passing(table, req):
    return passing_hosts(FILTER, table, req)


def explain(table, req):
    return FILTER.explain(table, all_rows(table), req)


# --- Nova's cases ------------------------------------------------------------

def test_no_pci_request_passes_every_host():
    table = make_table([dict(host="host1"),
                        dict(host="host2", pci_device_pools=pools())])
    assert passing(table, request()) == ["host1", "host2"]
    assert passing(table, request(empty=True)) == ["host1", "host2"]
    assert explain(table, request()) is None


def test_host_without_pools_fails():
    table = make_table([dict(host="host1")])
    req = request(pci_request(1))
    assert passing(table, req) == []
    assert explain(table, req) == "1 hosts have no PCI devices"


def test_matching_free_devices_pass_and_too_few_fail():
    # host1: 2 free VFs; host2: 1 free VF; host3: an empty pool list.
    table = make_table([
        dict(host="host1", pci_device_pools=pools(vf_pool(2))),
        dict(host="host2", pci_device_pools=pools(vf_pool(1))),
        dict(host="host3", pci_device_pools=pools())])
    assert passing(table, request(pci_request(1))) == ["host1", "host2"]
    assert passing(table, request(pci_request(2))) == ["host1"]
    assert passing(table, request(pci_request(3))) == []
    assert explain(table, request(pci_request(3))) == \
        "3 hosts have fewer than 3 free PCI devices"


def test_requests_are_met_together():
    # 2 free VFs: 1 + 1 fit together, 1 + 2 do not (3 in all).
    table = make_table([dict(host="host1",
                             pci_device_pools=pools(vf_pool(2)))])
    assert passing(table, request(pci_request(1), pci_request(1))) == \
        ["host1"]
    assert passing(table, request(pci_request(1), pci_request(2))) == []


# --- item 26: the exact check decides what the count lets through ------------

def test_fails_when_the_exact_check_fails_though_the_count_allows():
    # 2 free GPUs and 1 VF wanted: 2 >= 1 free devices in all (the
    # vectorized count passes), but none matches the VF spec.
    table = make_table([dict(host="host1", pci_device_pools=pools(
        dict(GPU, count=2, numa_node=0, dev_type="type-PCI")))])
    req = request(pci_request(1))
    rows = all_rows(table)
    assert pci_filter.count_allows(table, rows, 1).tolist() == [True]
    assert FILTER.filter_mask(table, rows, req).tolist() == [False]
    assert "0 matching devices free, 1 requested" in explain(table, req)


def test_one_support_check_per_distinct_pool_list():
    # 5 nodes, 2 distinct pool lists: the pool lists are interned once.
    table = make_table([
        dict(host="host%d" % i,
             pci_device_pools=pools(vf_pool(1 + i % 2)))
        for i in range(5)])
    assert len(table.interned["pci_stats"]) == 2
    assert passing(table, request(pci_request(2))) == \
        ["host1", "host3"]


# --- NUMA affinity is the NUMA filter's ---------------------------------------

def _affinity_host():
    """Cell 0: shared CPUs {0,1} unused, 900 of 1024 MiB used; cell 1:
    shared {2,3} with 3 in use, memory free. The one VF is on cell 0.

    A 1 vCPU, 512 MiB guest fits cell 0 only when 900 + 512 = 1412 MiB
    <= 1024 x ram ratio (ratio 2: yes, ratio 1: no); cell 1 always
    (3 + 1 = 4 <= 2 x cpu ratio 4)."""
    return nb.host(
        nb.host_cell(0, cpuset={0, 1}, memory=1024, memory_usage=900),
        nb.host_cell(1, cpuset={2, 3}, memory=1024, cpu_usage=3))


def _one_cell_guest():
    return nb.guest(nb.guest_cell(0, cpuset={0}, memory=512))


def _affinity_table():
    return make_table([
        dict(host="host%d" % i, numa_topology=_affinity_host(),
             pci_device_pools=pools(vf_pool(1, numa_node=0)),
             cpu_allocation_ratio=4.0, ram_allocation_ratio=ratio)
        for i, ratio in enumerate([1.0, 2.0])])


@pytest.mark.parametrize("policy, numa_passes", [
    # host0 (ram ratio 1): the guest fits only cell 1, the VF is on cell
    # 0: required and legacy (no device of unknown node) refuse it,
    # preferred takes the VF from cell 0
    ("required", ["host1"]), ("legacy", ["host1"]),
    ("preferred", ["host0", "host1"])])
def test_devices_are_checked_without_cells_and_the_numa_filter_decides(
        policy, numa_passes):
    """As Nova's PciPassthroughFilter: the free devices are checked with
    no NUMA cells, whatever the policy; the NUMATopologyFilter fits the
    guest's cells with the devices in view, and both together pass what
    the claim takes."""
    table = _affinity_table()
    req = request(pci_request(1, policy=policy), numa=_one_cell_guest())
    assert passing(table, req) == ["host0", "host1"]
    assert passing_hosts(NUMA_FILTER, table, req) == numa_passes


def test_a_host_without_a_numa_topology_passes_on_its_devices():
    # The guest cannot fit (no host topology): this filter checks the
    # devices without NUMA cells; the NUMATopologyFilter is what turns
    # the host down.
    table = make_table([dict(host="host1",
                             pci_device_pools=pools(vf_pool(1, 0)))])
    req = request(pci_request(1, policy="required"), numa=_one_cell_guest())
    assert passing(table, req) == ["host1"]
    assert passing_hosts(NUMA_FILTER, table, req) == []


def test_filter_is_registered_under_its_name():
    [loaded] = filters.plugins.filters.load(["PciPassthroughFilter"], None)
    assert isinstance(loaded, pci_filter.PciPassthroughFilter)


def test_no_rows_gives_an_empty_mask():
    table = make_table([dict(host="host1")])
    mask = FILTER.filter_mask(table, np.zeros(0, dtype=np.intp),
                              request(pci_request(1)))
    assert mask.dtype == bool and mask.shape == (0,)


# --- the vectorized mask equals a loop over hosts ----------------------------

DEVICE_KINDS = [(VF, "type-VF"), (VF, "type-VF"), (VF, "type-PF"),
                (GPU, "type-PCI")]
POLICIES = ["required", None, "legacy", "required", "preferred", "socket"]


@st.composite
def pool_lists(draw):
    chosen = draw(st.lists(st.tuples(
        st.sampled_from(DEVICE_KINDS), st.sampled_from([0, 1, None]),
        st.sampled_from([0, 1, 2, 3, 4])), min_size=1, max_size=4))
    return pools(*[dict(ids, dev_type=dev_type, numa_node=numa, count=count)
                   for (ids, dev_type), numa, count in chosen])


@st.composite
def topologies(draw):
    """Host topologies (mostly busy ones, where the cell a guest gets
    turns on the ratios) with sockets on their cells, or none."""
    kind = draw(st.sampled_from(["busy", "any", "busy"]))
    topology = draw(busy_hosts() if kind == "busy" else nb.hosts())
    sockets = draw(st.sampled_from(["none", "one", "per-cell"]))
    for cell in topology.cells:
        cell.socket = {"none": None, "one": 0, "per-cell": cell.id}[sockets]
    return topology


@st.composite
def requests(draw):
    spec = draw(st.sampled_from([VF, VF, GPU, dict(VF, dev_type="type-PF")]))
    return pci_request(draw(st.integers(1, 2)), spec,
                       draw(st.sampled_from(POLICIES)))


@st.composite
def pci_scenarios(draw):
    pool_choices = draw(st.lists(pool_lists(), min_size=1, max_size=3))
    pool_choices.append(None)
    topology_choices = draw(st.lists(st.one_of(st.none(), topologies()),
                                     min_size=1, max_size=3))
    nodes = [dict(host="host%d" % i,
                  pci_device_pools=draw(st.sampled_from(pool_choices)),
                  numa_topology=draw(st.sampled_from(topology_choices)),
                  cpu_allocation_ratio=draw(st.sampled_from([1.0, 4.0])),
                  ram_allocation_ratio=draw(st.sampled_from([1.0, 2.0])))
             for i in range(draw(st.integers(2, 10)))]
    wanted = draw(st.sampled_from([True] * 9 + [False]))
    pci = draw(st.lists(requests(), min_size=1, max_size=2)) if wanted \
        else []
    guest = draw(st.sampled_from(["small", None, "any", "small"]))
    if guest == "small":
        # one floating vCPU: fits most cells, so the cell chosen matters
        guest = nb.guest(nb.guest_cell(0, cpuset={0}, memory=512))
    elif guest == "any":
        guest = draw(nb.guests(max_cells=2))
    return nodes, pci, guest


def _node_stats(node):
    pools = pci_obj.PciDevicePoolList.from_json(
        node["pci_device_pools"].to_json()) \
        if node["pci_device_pools"] is not None else None
    return hw_pci.PciDeviceStats.from_pools(pools)


def _node_topology(node):
    text = node["numa_topology"] and node["numa_topology"].to_json()
    return numa_obj.NUMATopology.from_json(text) if text else None


def _node_limits(node):
    return numa_obj.NUMATopologyLimits(
        cpu_allocation_ratio=node["cpu_allocation_ratio"],
        ram_allocation_ratio=node["ram_allocation_ratio"])


def reference(node, pci):
    """Nova's PciPassthroughFilter for one host: the devices, no cells."""
    if not pci:
        return True
    if node["pci_device_pools"] is None:
        return False
    return _node_stats(node).support_requests(pci)


def brute_force_claim(node, pci, guest):
    """Whether a claim can take the guest's NUMA cells and devices: some
    ordered choice of distinct host cells takes every guest cell and
    serves every request on those cells (or, without a NUMA request, the
    devices serve without cells)."""
    stats = _node_stats(node)
    if guest is None:
        return stats.support_requests(pci)
    topology = _node_topology(node)
    if topology is None:
        return False
    isolated = guest.emulator_threads_isolated
    for cells in itertools.permutations(topology.cells, len(guest.cells)):
        if all(hw_numa.fit_cell(host_cell, guest_cell, _node_limits(node),
                                1 if isolated and i == 0 else 0)[0]
               is not None
               for i, (host_cell, guest_cell) in enumerate(
                   zip(cells, guest.cells))) and stats.support_requests(
                       pci, [cell.id for cell in cells], topology):
            return True
    return False


def claim_takes(node, pci, guest):
    """The claims' own answer (``consumption.fit_devices``)."""
    topology = _node_topology(node)
    if guest is not None and topology is None:
        return False
    devices = cons.fit_devices(
        topology, guest, _node_limits(node),
        pci_obj.InstancePCIRequests(requests=list(pci)),
        node["pci_device_pools"])
    return not devices.numa_reasons and not devices.pci_refused


@hypothesis.settings(max_examples=50, deadline=None)
@hypothesis.given(scenario=pci_scenarios())
def test_mask_equals_per_host_reference(scenario):
    nodes, pci, guest = scenario
    table = make_table(nodes)
    rows = all_rows(table)
    req = request(*pci, numa=guest)
    expected = [reference(node, pci) for node in nodes]
    assert FILTER.filter_mask(table, rows, req).tolist() == expected
    subset = rows[1::2]
    assert FILTER.filter_mask(table, subset, req).tolist() == expected[1::2]
    if pci and not any(expected):
        assert explain(table, req)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(scenario=pci_scenarios())
def test_the_two_filters_pass_what_the_claim_takes(scenario):
    """Case 6 of issue 13, as a property: NUMATopologyFilter and
    PciPassthroughFilter together pass exactly the hosts where some
    placement of the guest's cells serves its devices (brute force over
    every ordered choice of host cells), which is what the claims'
    fit_devices takes."""
    nodes, pci, guest = scenario
    table = make_table(nodes)
    rows = all_rows(table)
    req = request(*pci, numa=guest)
    both = FILTER.filter_mask(table, rows, req) & \
        NUMA_FILTER.filter_mask(table, rows, req)
    expected = [brute_force_claim(node, pci, guest) for node in nodes]
    assert both.tolist() == expected
    assert [claim_takes(node, pci, guest) for node in nodes] == expected
