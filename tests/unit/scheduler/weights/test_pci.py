"""PCIWeigher: Nova conformance item 14 and the vectorized weights against
Nova's host-by-host weighing."""
import hypothesis
import hypothesis.strategies as st
import pytest

from hoststate.objects import pci as pci_obj
from hoststate.scheduler.weights import pci

from .weigher_support import (INSTANCE, assert_matches_nova,
                              hosts_and_aggregates, make_conf, make_request,
                              table_of, weights_by_host)


def pools(*counts):
    """One pool of ``count`` devices per count (distinct product ids)."""
    return pci_obj.PciDevicePoolList.from_dicts([
        {"vendor_id": "8086", "product_id": f"{i:04x}", "count": count,
         "numa_node": 0}
        for i, count in enumerate(counts)])


def pci_request(count=4):
    return pci_obj.InstancePCIRequests(
        instance_uuid=INSTANCE, requests=[pci_obj.InstancePCIRequest(
            count=count, spec=[{"vendor_id": "8086"}])])


def hosts_with(*device_counts):
    """host1, host2...: each with pools of the given counts (None: no
    pci_stats document at all)."""
    return [dict(host=f"host{i}", pci_device_pools=None if counts is None
                 else pools(*counts))
            for i, counts in enumerate(device_counts, 1)]


def pci_weights(hosts, requested, **options):
    request = make_request(pci_requests=pci_request() if requested else None)
    return weights_by_host([pci.PCIWeigher(make_conf(**options))],
                           table_of(hosts), request)


def test_no_pci_request_prefers_the_host_without_devices():
    # raw: 100 - 5 = 95 and 100 - 0 = 100 -> 0 and 1
    got = pci_weights(hosts_with([4, 1], []), requested=False)
    assert got == {"host1": 0.0, "host2": 1.0}


def test_a_host_without_a_pci_document_has_no_devices():
    got = pci_weights(hosts_with([2], None), requested=False)
    assert got == {"host1": 0.0, "host2": 1.0}


def test_hosts_with_as_many_free_devices_weigh_the_same():
    # one count for every document: no gather, every raw weight 97 -> 0
    got = pci_weights(hosts_with([3], [1, 2], [3]), requested=True)
    assert got == {"host1": 0.0, "host2": 0.0, "host3": 0.0}
    assert pci_weights(hosts_with(None, None), requested=False) == \
        {"host1": 0.0, "host2": 0.0}


def test_pci_request_stacks_on_the_fewest_free_devices():
    # free 5, 10, 4 -> raw 95, 90, 96 over 90..96: 5/6, 0, 1
    got = pci_weights(hosts_with([4, 1], [10], [1, 1, 1, 1]), requested=True)
    assert got == pytest.approx({"host1": 5 / 6, "host2": 0.0,
                                 "host3": 1.0})


def test_hosts_beyond_max_devs_tie_at_zero():
    # 500 and 2000 free both give 100 - 99 = 1: no spread
    got = pci_weights(hosts_with([500], [2000]), requested=True)
    assert got == {"host1": 0.0, "host2": 0.0}


def test_99_free_devices_tie_with_more():
    got = pci_weights(hosts_with([99], [150], [98]), requested=True)
    # raw 1, 1, 2 -> 0, 0, 1
    assert got == {"host1": 0.0, "host2": 0.0, "host3": 1.0}


def test_pci_multiplier_scales_and_zero_disables():
    hosts = hosts_with([4, 1], [])
    assert pci_weights(hosts, False, pci_weight_multiplier=3.0) == \
        {"host1": 0.0, "host2": 3.0}
    assert set(pci_weights(hosts, True,
                           pci_weight_multiplier=0.0).values()) == {0.0}


def test_free_devices_of_a_document():
    assert pci.free_devices(None) == 0
    assert pci.free_devices(pools()) == 0
    assert pci.free_devices(pools(3, 0, 4)) == 7


# --- vectorized == Nova host by host -----------------------------------------

PCI_HOST = st.fixed_dictionaries({"pci_device_pools": st.none() | st.lists(
    st.integers(0, 120), max_size=3).map(lambda counts: pools(*counts))})


def nova_raw(host):
    """Nova: 100 - min(sum of pool counts, 99)."""
    documents = host["pci_device_pools"]
    free = sum(p.count for p in documents.objects) if documents else 0
    return 100 - min(free, 99)


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(drawn=hosts_and_aggregates(PCI_HOST,
                                             "pci_weight_multiplier"),
                  multiplier=st.sampled_from([1.0, 0.0, 2.0]),
                  requested=st.booleans())
def test_pci_matches_nova(drawn, multiplier, requested):
    hosts, aggregates, subset = drawn
    request = make_request(pci_requests=pci_request() if requested else None)
    assert_matches_nova(
        pci.PCIWeigher(make_conf(pci_weight_multiplier=multiplier)),
        hosts, aggregates, request, nova_raw, multiplier, subset=subset)
