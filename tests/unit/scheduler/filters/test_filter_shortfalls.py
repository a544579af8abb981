"""A filter that removed every host says which resource was short, as
structured Shortfalls beside its text (FilterOutcome.shortfalls, and
NoValidHost.shortfalls over its reasons)."""
import pytest

from hoststate import exception
from hoststate.hardware import capacity
from hoststate.objects import pci as pci_obj
from hoststate.scheduler.filters import run_filters
from hoststate.scheduler.filters import numa as numa_filter
from support.host_tables import all_rows, make_table

from ...hardware import numa_builders as nb
from .basic_support import load_conf, make_filter, make_request
from .test_numa_filter import request as numa_request
from .test_numa_filter import two_cell_guest

Shortfall = capacity.Shortfall


@pytest.fixture(scope="module")
def conf():
    return load_conf()


def _outcomes(filters, table, request):
    outcomes = []
    run_filters(filters, table, all_rows(table), request, outcomes)
    return outcomes


@pytest.mark.parametrize("name, request_sizes, node, detail, shortfall", [
    # 4096 x 1.0 - 3072 = 1024 < 2048
    ("RamFilter", dict(memory_mb=2048),
     dict(memory_mb=4096, free_ram_mb=1024, ram_allocation_ratio=1.0),
     "memory_mb: requested 2048 MiB, at most 1024 MiB free",
     Shortfall("memory_mb", 2048.0, 1024.0)),
    # 4 x 2.0 - 6 = 2 < 3
    ("CoreFilter", dict(vcpus=3),
     dict(vcpus=4, vcpus_used=6, cpu_allocation_ratio=2.0),
     "vcpus: requested 3, at most 2 free", Shortfall("vcpus", 3.0, 2.0)),
    # Nova's MiB in the text: 1024 x 15 + 512 = 15872 > 10240; the
    # shortfall in GiB: 15872 / 1024 = 15.5 and 10240 / 1024 = 10
    ("DiskFilter", dict(root_gb=10, ephemeral_gb=5, swap=512),
     dict(local_gb=20, free_disk_gb=10),
     "disk_mb: requested 15872 MiB, at most 10240 MiB free",
     Shortfall("disk_gb", 15.5, 10.0)),
    ("AggregateDiskFilter", dict(root_gb=10, ephemeral_gb=5, swap=512),
     dict(local_gb=20, free_disk_gb=10),
     "disk_mb: requested 15872 MiB, at most 10240 MiB free",
     Shortfall("disk_gb", 15.5, 10.0)),
])
def test_a_capacity_filter_that_removed_every_host_gives_its_shortfall(
        conf, name, request_sizes, node, detail, shortfall):
    table = make_table([dict(host="host1", **node)])
    [outcome] = _outcomes([make_filter(name, conf)], table,
                          make_request(**request_sizes))
    assert (outcome.name, outcome.removed, outcome.detail,
            outcome.shortfalls) == (name, 1, detail, (shortfall,))
    raised = exception.NoValidHost(reasons=[outcome])
    assert raised.shortfalls == [shortfall]


def test_a_filter_that_left_hosts_gives_no_shortfall(conf):
    table = make_table([dict(host="host1", memory_mb=1024),
                        dict(host="host2", memory_mb=8192)])
    [outcome] = _outcomes([make_filter("RamFilter", conf)], table,
                          make_request(memory_mb=2048))
    assert (outcome.removed, outcome.detail, outcome.shortfalls) == \
        (1, None, ())


def test_a_numa_filter_names_its_resource_without_numbers():
    table = make_table([dict(host="host1")])
    [outcome] = _outcomes([numa_filter.NUMATopologyFilter(None)], table,
                          numa_request(two_cell_guest({0}, 512, {1}, 512)))
    assert outcome.shortfalls == (Shortfall(
        "numa", detail="1 hosts have no NUMA topology"),)
    assert str(outcome.shortfalls[0]) == "NUMA: 1 hosts have no NUMA topology"


def test_a_pci_filter_names_its_resource_without_numbers(conf):
    table = make_table([dict(host="host1",
                             numa_topology=nb.nova_numa_topology())])
    request = make_request()
    request.pci_requests = _gpu_request()
    [outcome] = _outcomes([make_filter("PciPassthroughFilter", conf)], table,
                          request)
    [short] = outcome.shortfalls
    assert (short.resource, short.requested, short.free, short.detail) == \
        ("pci", None, None, outcome.detail)


def _gpu_request():
    """One GPU: the host has no PCI devices at all."""
    return pci_obj.InstancePCIRequests(requests=[pci_obj.InstancePCIRequest(
        count=1, spec=[{"vendor_id": "10de", "product_id": "20b5"}],
        request_id="5d3c0c1e-8f43-4f0e-9c87-3b8a7c1f1f10")])
