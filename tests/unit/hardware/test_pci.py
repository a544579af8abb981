"""Tests of PCI pools and fitting PCI requests (hoststate.hardware.pci).

The host used throughout (``devices()``), 11 devices in 6 pools:

    pool                                   numa  devices                count
    8086:154c type-VF physnet1             0     0000:81:00.1, .2       2
    8086:154c type-VF physnet1             1     0000:82:00.1, .2       2
    8086:154c type-VF physnet1             2     0000:83:00.1, .2       2
    8086:154c type-VF physnet1             None  0000:84:00.1           1
    10de:1db4 type-PCI                     0     0000:05:00.0           1
    8086:1572 type-PF                      0     0000:81:00.0           1
    15b3:101e vdpa                         1     0000:90:00.1, .2       2

Host NUMA cells 0 and 1 are on socket 0, cells 2 and 3 on socket 1.
So VFs: 7 in all, 2 on cell 0, 4 on socket 0, 1 of unknown NUMA node.
"""
import copy

import hypothesis
import pytest
from hypothesis import strategies as st
from oslo_serialization import jsonutils

from hoststate.hardware import pci as hw_pci
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj

UUID = "0b6f3c4e-5a8e-4d55-9d36-1f2bbd1c1e70"
VF = {"vendor_id": "8086", "product_id": "154c"}
LEGACY, REQUIRED, PREFERRED, SOCKET = "legacy", "required", "preferred", \
    "socket"


def _vf(address, numa, parent):
    return dict(VF, address=address, numa_node=numa, dev_type="type-VF",
                physical_network="physnet1", parent_addr=parent,
                dev_id="pci_" + address.replace(":", "_"),
                label="label_8086_154c")


def devices():
    return [
        _vf("0000:81:00.2", 0, "0000:81:00.0"),
        _vf("0000:81:00.1", 0, "0000:81:00.0"),
        _vf("0000:82:00.1", 1, "0000:82:00.0"),
        _vf("0000:82:00.2", 1, "0000:82:00.0"),
        _vf("0000:83:00.1", 2, "0000:83:00.0"),
        _vf("0000:83:00.2", 2, "0000:83:00.0"),
        _vf("0000:84:00.1", None, "0000:84:00.0"),
        {"address": "0000:05:00.0", "vendor_id": "10DE",
         "product_id": "1DB4", "numa_node": 0, "dev_type": "type-PCI"},
        {"address": "0000:81:00.0", "vendor_id": "8086",
         "product_id": "1572", "numa_node": 0, "dev_type": "type-PF"},
        {"address": "0000:90:00.1", "vendor_id": "15b3",
         "product_id": "101e", "numa_node": 1, "dev_type": "vdpa"},
        {"address": "0000:90:00.2", "vendor_id": "15b3",
         "product_id": "101e", "numa_node": 1, "dev_type": "vdpa"},
    ]


def stats():
    return hw_pci.PciDeviceStats.from_devices(devices())


def topology(sockets=(0, 0, 1, 1)):
    return numa_obj.NUMATopology(cells=[
        numa_obj.NUMACell(id=i, cpuset={2 * i, 2 * i + 1}, memory=1024,
                          socket=socket)
        for i, socket in enumerate(sockets)])


def req(count, *specs, policy=None, alias=None):
    return pci_obj.InstancePCIRequest(
        count=count, spec=list(specs) or [VF], numa_policy=policy,
        alias_name=alias)


def taken(allocation):
    """{numa_node: devices taken} over the whole allocation."""
    result = {}
    for request in allocation.requests:
        for take in request.takes:
            numa = dict(take.pool)["numa_node"]
            result[numa] = result.get(numa, 0) + take.count
    return result


# --- pools -------------------------------------------------------------------

def test_from_devices_pools_identical_devices():
    s = stats()
    pools = {(p["product_id"], p["numa_node"]): p["count"] for p in s.pools()}
    assert pools == {("154c", 0): 2, ("154c", 1): 2, ("154c", 2): 2,
                     ("154c", None): 1, ("1db4", 0): 1, ("1572", 0): 1,
                     ("101e", 1): 2}
    assert s.free_count() == 11


def test_device_only_keys_are_not_tags():
    vf_pool = next(p for p in stats().pools() if p["numa_node"] == 0
                   and p["product_id"] == "154c")
    # address, parent_addr, dev_id and label describe one device: they
    # would split every pool into single devices.
    assert vf_pool == {"vendor_id": "8086", "product_id": "154c",
                       "numa_node": 0, "dev_type": "type-VF",
                       "physical_network": "physnet1", "count": 2}


def test_hex_ids_are_lowercased_in_pools():
    pools = stats().pools()
    assert {"vendor_id": "10de", "product_id": "1db4", "numa_node": 0,
            "dev_type": "type-PCI", "count": 1} in pools


@pytest.mark.parametrize("bad", [
    [{"vendor_id": "8086", "product_id": "154c"}],            # no address
    [dict(VF, address="a"), dict(VF, address="a")],           # twice
    [{"address": "a", "vendor_id": "8086"}],                  # no product
])
def test_from_devices_refuses_bad_devices(bad):
    with pytest.raises(ValueError):
        hw_pci.PciDeviceStats.from_devices(bad)


def test_to_pool_list_round_trips_through_from_pools():
    pool_list = stats().to_pool_list()
    assert isinstance(pool_list, pci_obj.PciDevicePoolList)
    again = hw_pci.PciDeviceStats.from_pools(pool_list)
    assert again.pools() == stats().pools()
    assert again.free_count() == 11
    # and from flat dicts, and from a list of PciDevicePool
    assert hw_pci.PciDeviceStats.from_pools(
        pool_list.to_dicts()).pools() == stats().pools()
    assert hw_pci.PciDeviceStats.from_pools(
        list(pool_list.objects)).free_count() == 11


def test_from_pools_sums_pools_with_one_key_and_none_is_empty():
    flat = {"vendor_id": "8086", "product_id": "154C", "count": 2}
    s = hw_pci.PciDeviceStats.from_pools([flat, dict(flat, count=3)])
    assert s.pools() == [{"vendor_id": "8086", "product_id": "154c",
                          "numa_node": None, "count": 5}]
    assert hw_pci.PciDeviceStats.from_pools(None).free_count() == 0


def test_to_pool_list_leaves_out_empty_pools():
    s = stats()
    s.apply_requests([req(1, {"product_id": "1db4"})])
    # 10de:1db4 had one device: Nova drops the emptied pool from the report
    assert "1db4" not in [p.product_id for p in s.to_pool_list().objects]
    assert s.free_count() == 10


def test_copy_is_independent():
    s = stats()
    clone = s.copy()
    clone.apply_requests([req(2)])
    assert (s.free_count(), clone.free_count()) == (11, 9)
    assert s == stats()


# --- spec matching -----------------------------------------------------------

@pytest.mark.parametrize("spec, count, ok", [
    # case-insensitive hex: 7 VFs
    ([{"vendor_id": "8086", "product_id": "154C"}], 7, True),
    ([{"vendor_id": "8086", "product_id": "154C"}], 8, False),
    # vendor 8086 alone: 7 VFs + 1 PF, but a PF is only used when asked for
    ([{"vendor_id": "8086"}], 8, False),
    ([{"dev_type": "type-PF"}], 1, True),
    # vdpa devices too are only used when asked for
    ([{"vendor_id": "15b3"}], 1, False),
    ([{"vendor_id": "15b3", "dev_type": "vdpa"}], 2, True),
    # tags match as strings; a tag nobody has never matches
    ([{"physical_network": "physnet1"}], 7, True),
    ([{"physical_network": "physnet2"}], 1, False),
    # numa_node compares as a string: cell 0 holds 2 VFs + PCI (+ PF)
    ([{"numa_node": "0"}], 3, True),
    ([{"numa_node": "0"}], 4, False),
    # ANY spec dict may match: the second finds the 1db4
    ([{"product_id": "dead"}, {"product_id": "1db4"}], 1, True),
    # an empty dict matches every pool (but PF and vdpa): 7 VF + 1 PCI
    ([{}], 8, True),
    ([{}], 9, False),
    # no spec dict at all matches nothing
    ([], 1, False),
])
def test_spec_matching(spec, count, ok):
    request = pci_obj.InstancePCIRequest(count=count, spec=spec)
    assert stats().support_requests([request]) is ok


# --- NUMA affinity -----------------------------------------------------------

@pytest.mark.parametrize("policy, count, cells, expected", [
    # instance on cell 0, which holds 2 VFs
    (REQUIRED, 2, [0], {0: 2}),
    (REQUIRED, 3, [0], None),              # cell 0 has only 2
    (LEGACY, 2, [0], {0: 2}),
    (LEGACY, 3, [0], {0: 2, None: 1}),     # + the VF of unknown node
    (LEGACY, 4, [0], None),                # 2 + 1 < 4
    (None, 3, [0], {0: 2, None: 1}),       # no policy is legacy
    (PREFERRED, 2, [0], {0: 2}),
    (PREFERRED, 3, [0], {0: 2, None: 1}),  # legacy's pools suffice
    (PREFERRED, 4, [0], {0: 2, 1: 2}),     # then any, affine first
    (PREFERRED, 7, [0], {0: 2, 1: 2, 2: 2, None: 1}),
    (PREFERRED, 8, [0], None),             # only 7 VFs exist
    (SOCKET, 2, [0], {0: 2}),              # the cell alone suffices
    (SOCKET, 4, [0], {0: 2, 1: 2}),        # cells 0+1 share socket 0
    (SOCKET, 5, [0], None),                # unknown node never qualifies
    (SOCKET, 2, [2], {2: 2}),
    (SOCKET, 3, [2], None),                # socket 1: cells 2, 3 hold 2
    # instance on cells 0 and 1: both count as affine
    (REQUIRED, 4, [0, 1], {0: 2, 1: 2}),
    (REQUIRED, 5, [0, 1], None),
    # no NUMA topology: any pool, whatever the policy
    (REQUIRED, 7, None, {0: 2, 1: 2, 2: 2, None: 1}),
    (SOCKET, 7, [], {0: 2, 1: 2, 2: 2, None: 1}),
])
def test_numa_policies(policy, count, cells, expected):
    s = stats()
    request = [req(count, policy=policy)]
    assert s.support_requests(request, cells, topology()) is \
        (expected is not None)
    if expected is None:
        with pytest.raises(hw_pci.PciDeviceRequestFailed):
            s.apply_requests(request, cells, topology())
        assert s == stats()
    else:
        allocation = s.apply_requests(request, cells, topology())
        assert taken(allocation) == expected
        assert s.free_count() == 11 - count


@pytest.mark.parametrize("host_topology", [
    None,                                  # no host topology to map sockets
    topology(sockets=(0, None, 1, 1)),     # a cell of unknown socket
])
def test_socket_policy_without_socket_facts_takes_only_the_cells(
        host_topology):
    s = stats()
    assert s.support_requests([req(2, policy=SOCKET)], [0], host_topology)
    assert not s.support_requests([req(3, policy=SOCKET)], [0],
                                  host_topology)


@pytest.mark.parametrize("cells", [
    [0],
    [numa_obj.InstanceNUMACell(id=0, memory=512)],
    numa_obj.InstanceNUMATopology(
        cells=[numa_obj.InstanceNUMACell(id=0, memory=512)]),
    [topology().cells[0]],
])
def test_numa_cells_as_ids_cells_or_topology(cells):
    # 3 VFs required on cell 0 fail, 2 pass, whatever form the cells take
    assert stats().support_requests([req(2, policy=REQUIRED)], cells)
    assert not stats().support_requests([req(3, policy=REQUIRED)], cells)


# --- several requests: all or nothing ----------------------------------------

def test_requests_are_counted_together():
    s = stats()
    # 3 + 4 = 7 VFs exist; 6 + 2 = 8 do not, though each alone fits
    assert s.support_requests([req(3), req(4)])
    assert s.support_requests([req(6)]) and s.support_requests([req(2)])
    assert not s.support_requests([req(6), req(2)])
    requests = pci_obj.InstancePCIRequests(requests=[req(6), req(2)])
    assert not s.support_requests(requests)


def test_failed_apply_changes_nothing_and_names_the_request():
    s = stats()
    before = s.copy()
    with pytest.raises(hw_pci.PciDeviceRequestFailed) as info:
        s.apply_requests([req(1, {"product_id": "1db4"}),
                          req(6, alias="fast-nic"), req(2, alias="more")])
    assert s == before
    exc = info.value
    # the first request took 1db4, the second 6 VFs: the third fails
    # with 1 VF left
    assert "#2 more" in exc.request and exc.requested == 2
    assert "1 matching devices free, 2 requested" in str(exc)
    assert "8086:154c" in exc.free
    # what was free is what the earlier requests left: 11 - 1 - 6
    assert sum(p["count"] for p in exc.pools) == 4


def test_support_requests_changes_nothing():
    s = stats()
    assert s.support_requests([req(7, policy=PREFERRED)], [0], topology())
    assert s == stats()


def test_no_requests_are_trivially_met():
    s = stats()
    for requests in (None, [], pci_obj.InstancePCIRequests()):
        assert s.support_requests(requests)
        assert s.apply_requests(requests) == hw_pci.Allocation()
    assert s == stats()


def test_rejection_explains_and_is_none_on_success():
    s = stats()
    assert s.rejection([req(2)]) is None
    reason = s.rejection([req(3, policy=REQUIRED)], [0])
    assert "on or near NUMA cells [0]" in reason.reason


# --- allocations and free ----------------------------------------------------

def test_allocation_names_the_lowest_free_addresses():
    allocation = stats().apply_requests([req(2, policy=REQUIRED)], [0])
    assert allocation.addresses == ["0000:81:00.1", "0000:81:00.2"]
    assert allocation.count == 2


def test_free_returns_exactly_what_was_taken():
    s = stats()
    first = s.apply_requests([req(3, alias="a")], [0])
    second = s.apply_requests([req(1, {"dev_type": "type-PF"})])
    assert s.free_count() == 11 - 3 - 1
    s.free(first)
    assert s.free_count() == 11 - 1
    s.free(second)
    assert s == stats()


def test_free_twice_raises_and_changes_nothing():
    s = stats()
    allocation = s.apply_requests([req(2)])
    s.free(allocation)
    with pytest.raises(hw_pci.PciDeviceFreeInvalid):
        s.free(allocation)
    assert s == stats()


def test_free_of_an_allocation_from_elsewhere_raises():
    s = stats()
    foreign = stats().apply_requests([req(2)])
    with pytest.raises(hw_pci.PciDeviceFreeInvalid):
        s.free(foreign)
    assert s == stats()


def test_free_of_an_empty_allocation_is_nothing():
    s = stats()
    s.free(hw_pci.Allocation())
    s.free(hw_pci.Allocation())
    assert s == stats()


def test_allocation_serialises_to_plain_data():
    allocation = stats().apply_requests(
        [req(3, alias="a"), pci_obj.InstancePCIRequest(
            count=1, spec=[{"dev_type": "type-PF"}], request_id=UUID)],
        [0], topology())
    text = jsonutils.dumps(allocation.to_dict())
    again = hw_pci.Allocation.from_dict(jsonutils.loads(text))
    assert again == allocation
    assert [r.alias_name for r in again.requests] == ["a", None]
    assert again.requests[1].request_id == UUID
    assert hw_pci.Allocation.from_dict(None) == hw_pci.Allocation()


def test_a_serialised_allocation_frees_the_same_devices():
    s = stats()
    allocation = s.apply_requests([req(4, policy=PREFERRED)], [1])
    loaded = hw_pci.Allocation.from_dict(copy.deepcopy(allocation.to_dict()))
    s.free(loaded)
    assert s == stats()


def test_take_again_takes_exactly_those_devices():
    # the tracker rebuilds a node's stats and takes each instance's stored
    # allocation again, rather than fitting its requests afresh
    allocation = stats().apply_requests([req(3)], [1])
    s = stats()
    s.take(allocation)
    assert s.free_count() == 8
    with pytest.raises(hw_pci.PciDeviceRequestFailed):
        s.take(allocation)          # those devices are taken now
    s.free(allocation)
    assert s == stats()


def test_from_pools_with_held_allocations_can_free_them():
    s = stats()
    held = s.apply_requests([req(1, {"product_id": "1db4"}), req(2)])
    # the reported pools lack the emptied 1db4 pool; the held allocation
    # brings it back, and freeing gives the original pools again
    rebuilt = hw_pci.PciDeviceStats.from_pools(s.to_pool_list(), [held])
    assert rebuilt.free_count() == 8
    rebuilt.free(held)
    assert rebuilt.to_pool_list().to_dicts() == \
        stats().to_pool_list().to_dicts()
    with pytest.raises(hw_pci.PciDeviceFreeInvalid):
        rebuilt.free(held)


def test_count_only_pools_allocate_counts():
    s = hw_pci.PciDeviceStats.from_pools(stats().to_pool_list())
    allocation = s.apply_requests([req(2)], [0])
    assert allocation.addresses == [] and allocation.count == 2
    assert s.free_count() == 9
    s.free(allocation)
    assert s.free_count() == 11


# --- property: free_count tracks the live allocations ------------------------

_OPS = st.lists(st.tuples(
    st.sampled_from(["apply", "free", "free-again"]),
    st.integers(min_value=1, max_value=4),                    # count
    st.sampled_from([None, REQUIRED, LEGACY, PREFERRED, SOCKET]),
    st.sampled_from([None, [0], [1], [2], [0, 1]]),           # cells
    st.integers(min_value=0, max_value=20),                   # which one
), max_size=30)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(ops=_OPS, from_pools=st.booleans())
def test_any_apply_free_sequence_keeps_counts(ops, from_pools):
    s = stats()
    if from_pools:
        s = hw_pci.PciDeviceStats.from_pools(s.to_pool_list())
    initial = s.free_count()
    live, freed = [], []
    for op, count, policy, cells, which in ops:
        before = s.copy()
        if op == "apply":
            spec = [VF] if which % 2 else [{}]
            try:
                live.append(s.apply_requests(
                    [req(count, *spec, policy=policy)], cells, topology()))
            except hw_pci.PciDeviceRequestFailed:
                assert s == before
        elif op == "free" and live:
            allocation = live.pop(which % len(live))
            s.free(allocation)
            freed.append(allocation)
        elif op == "free-again" and freed:
            allocation = freed[which % len(freed)]
            if allocation not in live:
                with pytest.raises(hw_pci.PciDeviceFreeInvalid):
                    s.free(allocation)
                assert s == before
        assert s.free_count() == initial - sum(a.count for a in live)
        assert all(pool["count"] >= 0 for pool in s.pools())
    addresses = [a for allocation in live for a in allocation.addresses]
    assert len(addresses) == len(set(addresses))   # no device given twice
    for allocation in live:
        s.free(allocation)
    assert s.free_count() == initial
