"""AllHostsFilter, ComputeFilter and the RAM/vCPU/disk capacity filters,
with results worked out by hand."""
import warnings

import pytest

from hoststate.scheduler.filters import run_filters
from support.host_tables import all_rows, make_table

from .basic_support import load_conf, make_filter, make_request, passing


@pytest.fixture(scope="module")
def conf():
    return load_conf()


# --- AllHostsFilter / ComputeFilter ------------------------------------------

def test_all_hosts_filter_keeps_even_disabled_and_down_hosts(conf):
    table = make_table([dict(host="host1"),
                        dict(host="host2", disabled=True, up=False)])
    assert passing(make_filter("AllHostsFilter", conf), table,
                   make_request()) == ["host1", "host2"]


@pytest.mark.parametrize("service, passes", [
    (dict(), True),
    # Nova conformance 1: disabled fails whatever the servicegroup says.
    (dict(disabled=True), False),
    (dict(disabled=True, up=False), False),
    # Nova conformance 2: an enabled service passes exactly when it is up.
    (dict(up=False), False),
    # A forced-down service is never up, even if a stale up says so.
    (dict(forced_down=True), False),
])
def test_compute_filter(conf, service, passes):
    table = make_table([dict(host="host1", **service), dict(host="host2")])
    expected = ["host1", "host2"] if passes else ["host2"]
    assert passing(make_filter("ComputeFilter", conf), table,
                   make_request()) == expected


def test_compute_filter_reads_liveness_from_the_up_column(conf):
    """The HostManager stores servicegroup answers with set_up; the filter
    follows them without asking anything else."""
    table = make_table([dict(host="host1"), dict(host="host2")])
    compute = make_filter("ComputeFilter", conf)
    table.set_up({"host1": False})
    assert passing(compute, table, make_request()) == ["host2"]
    table.set_up({"host1": True})
    assert passing(compute, table, make_request()) == ["host1", "host2"]


def test_compute_filter_applies_to_every_node_of_a_host(conf):
    table = make_table([dict(host="host1", nodename="n1", disabled=True),
                        dict(host="host1", nodename="n2", disabled=True),
                        dict(host="host2", nodename="n3")])
    assert passing(make_filter("ComputeFilter", conf), table,
                   make_request()) == ["host2"]


def test_compute_filter_runs_once_per_request_and_explains(conf):
    table = make_table([dict(host="host1", disabled=True),
                        dict(host="host2", up=False),
                        dict(host="host3", up=False)])
    compute = make_filter("ComputeFilter", conf)
    request = make_request()
    outcomes = []
    assert len(run_filters([compute], table, all_rows(table), request,
                           outcomes)) == 0
    assert outcomes[0].detail == ("compute service disabled on 1 host(s), "
                                  "down on 2")
    assert len(run_filters([compute], table, all_rows(table),
                           request.for_instance(1, "second"))) == 3


# --- RamFilter -------------------------------------------------------------

@pytest.mark.parametrize("total, free, ratio, requested, passes", [
    (1024, 1024, 1.0, 1024, True),     # exactly fits
    (1024, 1023, 1.0, 1024, False),
    (1024, 512, 1.5, 1024, True),      # 1536 - 512 used = 1024
    (1024, 511, 1.5, 1024, False),     # 1536 - 513 used = 1023
    (1024, 1024, 10.0, 2048, False),   # may not overcommit against itself
    (1024, -512, 2.0, 512, True),      # 2048 - 1536 used = 512
    (1024, -512, 2.0, 513, False),
])
def test_ram_filter(conf, total, free, ratio, requested, passes):
    table = make_table([dict(host="host1", memory_mb=total, free_ram_mb=free,
                             ram_allocation_ratio=ratio)])
    request = make_request(memory_mb=requested)
    assert passing(make_filter("RamFilter", conf), table, request) == \
        (["host1"] if passes else [])


def test_ram_filter_explains_the_best_host(conf):
    table = make_table([
        dict(host="host1", memory_mb=2048, free_ram_mb=1024,
             ram_allocation_ratio=1.0),
        dict(host="host2", memory_mb=4096, free_ram_mb=2048,
             ram_allocation_ratio=1.0),
        # plenty overcommitted, but only 1024 MiB in total
        dict(host="host3", memory_mb=1024, free_ram_mb=1024,
             ram_allocation_ratio=8.0)])
    ram = make_filter("RamFilter", conf)
    assert ram.explain(table, all_rows(table), make_request(
        memory_mb=4096)) == "memory_mb: requested 4096 MiB, at most 2048 " \
                            "MiB free"


@pytest.mark.parametrize("metadata, requested, passes", [
    ({}, 512, False),                                   # node ratio 1.0
    ({"a1": "1.5"}, 512, True),                         # 1536 - 1024
    ({"a1": "1.5"}, 513, False),
    ({"a1": "1.5", "a2": "2.0"}, 513, False),           # smallest wins
    ({"a1": "2.0", "a2": "2.0"}, 1024, True),
    ({"a1": "abc"}, 512, False),                        # node ratio
    # One bad value makes Nova fall back to the node ratio altogether.
    ({"a1": "abc", "a2": "2.0"}, 512, False),
])
def test_aggregate_ram_filter(conf, metadata, requested, passes):
    aggregates = [(name, ["host1"], {"ram_allocation_ratio": value})
                  for name, value in metadata.items()]
    aggregates.append(("unrelated", ["host9"],
                       {"ram_allocation_ratio": "9.0"}))
    table = make_table([dict(host="host1", memory_mb=1024, free_ram_mb=0,
                             ram_allocation_ratio=1.0)], aggregates)
    request = make_request(memory_mb=requested)
    assert passing(make_filter("AggregateRamFilter", conf), table,
                   request) == (["host1"] if passes else [])


def test_aggregate_ram_filter_with_an_infinite_ratio(conf):
    """"1e400" parses as an infinite ratio: any host big enough for the
    request passes; on a host of 0 MiB inf * 0 is NaN, which fails (as
    Nova's float arithmetic does), without a numpy warning."""
    aggregates = [("inf", ["host1", "host2"],
                   {"ram_allocation_ratio": "1e400"})]
    table = make_table([dict(host="host1", memory_mb=1024, free_ram_mb=-4096),
                        dict(host="host2", memory_mb=0, free_ram_mb=0)],
                       aggregates)
    ram = make_filter("AggregateRamFilter", conf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert passing(ram, table, make_request(memory_mb=1024)) == ["host1"]
        assert passing(ram, table, make_request(memory_mb=1)) == ["host1"]


# --- CoreFilter ------------------------------------------------------------

@pytest.mark.parametrize("total, used, ratio, requested, passes", [
    (0, 0, 16.0, 100, True),     # no vCPUs reported: fail-safe pass
    (4, 0, 16.0, 5, False),      # more than the physical count
    (4, 60, 16.0, 4, True),      # 64 - 60 = 4
    (4, 61, 16.0, 4, False),
    (4, 4, 1.0, 1, False),
    (4, 3, 1.0, 1, True),
    # (a request of 0 vCPUs cannot be made: a Flavor, like Nova's API,
    # takes 1 to 2**31 - 1)
])
def test_core_filter(conf, total, used, ratio, requested, passes):
    table = make_table([dict(host="host1", vcpus=total, vcpus_used=used,
                             cpu_allocation_ratio=ratio)])
    request = make_request(vcpus=requested)
    assert passing(make_filter("CoreFilter", conf), table, request) == \
        (["host1"] if passes else [])


def test_core_filter_explains(conf):
    table = make_table([dict(host="host1", vcpus=4, vcpus_used=6,
                             cpu_allocation_ratio=2.0),
                        dict(host="host2", vcpus=2, vcpus_used=0,
                             cpu_allocation_ratio=16.0)])
    core = make_filter("CoreFilter", conf)
    assert core.explain(table, all_rows(table), make_request(vcpus=3)) == \
        "vcpus: requested 3, at most 2 free"


@pytest.mark.parametrize("metadata, requested, passes", [
    ({}, 1, False),                     # 4 * 2.0 - 8 = 0
    ({"a1": "3.0"}, 4, True),           # 4 * 3.0 - 8 = 4
    ({"a1": "3.0", "a2": "2.5"}, 3, False),  # 4 * 2.5 - 8 = 2
    ({"a1": "three"}, 1, False),
])
def test_aggregate_core_filter(conf, metadata, requested, passes):
    aggregates = [(name, ["host1"], {"cpu_allocation_ratio": value})
                  for name, value in metadata.items()]
    table = make_table([dict(host="host1", vcpus=4, vcpus_used=8,
                             cpu_allocation_ratio=2.0)], aggregates)
    assert passing(make_filter("AggregateCoreFilter", conf), table,
                   make_request(vcpus=requested)) == \
        (["host1"] if passes else [])


# --- DiskFilter ------------------------------------------------------------

# root 10 GiB + ephemeral 5 GiB + 512 MiB swap = 15872 MiB
DISK_REQUEST = dict(root_gb=10, ephemeral_gb=5, swap=512)


@pytest.mark.parametrize("local_gb, free_gb, least, ratio, passes", [
    (20, 20, None, 1.0, True),
    (20, 15, None, 1.0, False),      # 15360 MiB free
    (20, 20, 15, 1.0, False),        # disk_available_least wins: 15360
    (20, 10, None, 2.0, True),       # 40960 - 10240 used = 30720
    (15, 15, None, 10.0, False),     # 15360 MiB in total
    (16, 0, None, 2.0, True),        # 32768 - 16384 used = 16384
    (16, -1, None, 2.0, False),      # 32768 - 17408 used = 15360
])
def test_disk_filter(conf, local_gb, free_gb, least, ratio, passes):
    table = make_table([dict(host="host1", local_gb=local_gb,
                             free_disk_gb=free_gb, disk_available_least=least,
                             disk_allocation_ratio=ratio)])
    request = make_request(**DISK_REQUEST)
    assert request.disk_mb == 15872
    assert passing(make_filter("DiskFilter", conf), table, request) == \
        (["host1"] if passes else [])


def test_disk_filter_explains(conf):
    table = make_table([dict(host="host1", local_gb=20, free_disk_gb=10)])
    disk = make_filter("DiskFilter", conf)
    assert disk.explain(table, all_rows(table), make_request(
        **DISK_REQUEST)) == "disk_mb: requested 15872 MiB, at most 10240 " \
                            "MiB free"


def test_aggregate_disk_filter(conf):
    aggregates = [("big", ["host1"], {"disk_allocation_ratio": "2.0"})]
    table = make_table([dict(host="host1", local_gb=10, free_disk_gb=0),
                        dict(host="host2", local_gb=10, free_disk_gb=0)],
                       aggregates)
    # host1: 20480 - 10240 used = 10240 MiB; host2: 0.
    request = make_request(root_gb=10)
    assert passing(make_filter("AggregateDiskFilter", conf), table,
                   request) == ["host1"]
    assert passing(make_filter("DiskFilter", conf), table, request) == []
