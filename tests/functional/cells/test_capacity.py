"""A cell's capacity report, from a real scheduler host table.

The small cloud below, worked out by hand (capacity = total × ratio,
free = capacity − used; only enabled, up nodes with a service count):

    node   vcpus        memory MiB              disk GiB     counts
    host1  8×2.0−2=14   16384×1.0−4096=12288    200−50=150   yes
    host2  4×1.0−1=3    8192×1.5−1024=11264     100−10=90    yes
    host3  (64 ...)                                          disabled
    host4  (64 ...)                                          down
    host5  (64 ...)                                          no service
    host6  2×1.0−4=−2   4096                    40           yes, 0 vcpus
    host7  (64 ...)                                          forced down

    free: 14+3+0=17 vcpus, 12288+11264+4096=27648 MiB, 150+90+40=280 GiB

    small (1 vcpu, 2048 MiB, 20 GiB): host1 min(14, 6, 7)=6,
        host2 min(3, 5, 4)=3, host6 0 (no vcpu free): 9
    big4 (4 vcpus, 1024 MiB, 10 GiB): host1 min(3, 12, 15)=3,
        host2 0 (3 free), host6 0 (2 in all): 3
"""
import json

import pytest

from hoststate import exception
from hoststate.cells import capabilities
from hoststate.cells import capacity
from support import cloud_mix
from support import host_tables

RATIOS_1 = dict(cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0,
                disk_allocation_ratio=1.0)
BIG = dict(vcpus=64, memory_mb=262144, local_gb=2000)
FLAVORS = ["small:1:2048:20", "big4:4:1024:10"]


def small_cloud():
    return host_tables.make_table([
        dict(host="host1", vcpus=8, vcpus_used=2, memory_mb=16384,
             memory_mb_used=4096, local_gb=200, local_gb_used=50,
             **dict(RATIOS_1, cpu_allocation_ratio=2.0)),
        dict(host="host2", vcpus=4, vcpus_used=1, memory_mb=8192,
             memory_mb_used=1024, local_gb=100, local_gb_used=10,
             **dict(RATIOS_1, ram_allocation_ratio=1.5)),
        dict(host="host3", disabled=True, **BIG, **RATIOS_1),
        dict(host="host4", up=False, **BIG, **RATIOS_1),
        dict(host="host5", has_service=False, **BIG, **RATIOS_1),
        dict(host="host6", vcpus=2, vcpus_used=4, memory_mb=4096,
             local_gb=40, **RATIOS_1),
        dict(host="host7", forced_down=True, **BIG, **RATIOS_1),
    ])


def test_report_of_a_small_cloud():
    report = capacity.report(small_cloud(),
                             capabilities.parse_flavors(FLAVORS))
    assert report == capacity.CapacityReport(
        nodes=3, free_vcpus=17.0, free_memory_mb=27648.0,
        free_disk_gb=280.0, units={"small": 9, "big4": 3})


def test_units_are_counted_per_node_not_from_sums():
    # 6 vCPUs free in sum, 3 on each node: no 4-vCPU instance fits
    table = host_tables.make_table([
        dict(host=f"host{i}", vcpus=4, vcpus_used=1, memory_mb=65536,
             local_gb=1000, **RATIOS_1) for i in (1, 2)])
    report = capacity.report(table, capabilities.parse_flavors(
        ["four:4:1024:10", "three:3:1024:10"]))
    assert report.free_vcpus == 6.0
    assert report.units == {"four": 0, "three": 2}


def test_reserve_percent_holds_back_memory_and_disk_from_the_units():
    # 25 %: host1 holds back 4096 MiB and 50 GiB (8192 and 100 left),
    # host2 3072 MiB of its 12288 and 25 GiB (8192 and 65 left):
    # small: host1 min(14, 4, 5)=4, host2 min(3, 4, 3)=3; vCPUs are not
    # held back (Nova's reserve): big4 stays 3; free totals are unchanged
    report = capacity.report(small_cloud(), capabilities.parse_flavors(FLAVORS),
                             reserve_percent=25.0)
    assert report == capacity.CapacityReport(
        nodes=3, free_vcpus=17.0, free_memory_mb=27648.0,
        free_disk_gb=280.0, units={"small": 7, "big4": 3})


def test_reserving_everything_leaves_no_unit():
    report = capacity.report(small_cloud(), capabilities.parse_flavors(FLAVORS),
                             reserve_percent=100.0)
    assert report.units == {"small": 0, "big4": 0}
    assert report.free_memory_mb == 27648.0


def test_report_from_conf_reads_flavors_and_reserve(tmp_path):
    from oslo_config import cfg
    from hoststate import conf as hconf
    path = tmp_path / "hoststate.conf"
    path.write_text("[cells]\nreserve_percent = 25\n"
                    "capacity_flavors = small:1:2048:20, big4:4:1024:10\n")
    conf = hconf.load(config_files=[str(path)], conf=cfg.ConfigOpts(),
                      use_env=False)
    assert capacity.report_from_conf(small_cloud(), conf).units == {
        "small": 7, "big4": 3}


def test_merge_sums_every_number_and_units_per_flavor():
    parent = capacity.CapacityReport(
        nodes=3, free_vcpus=17.0, free_memory_mb=27648.0, free_disk_gb=280.0,
        units={"small": 9, "big4": 3})
    child = capacity.CapacityReport(
        nodes=2, free_vcpus=6.5, free_memory_mb=1024.0, free_disk_gb=20.0,
        units={"small": 1, "gpu": 4})
    assert capacity.merge([parent, child]) == capacity.CapacityReport(
        nodes=5, free_vcpus=23.5, free_memory_mb=28672.0,
        free_disk_gb=300.0, units={"small": 10, "big4": 3, "gpu": 4})
    assert capacity.merge([]) == capacity.CapacityReport()


def test_primitive_is_fixed_width_json_and_round_trips():
    report = capacity.report(small_cloud(), capabilities.parse_flavors(FLAVORS))
    primitive = report.to_primitive()
    assert primitive == {
        "nodes": "3.0000000000000000e+00",
        "free": ["1.7000000000000000e+01", "2.7648000000000000e+04",
                 "2.8000000000000000e+02"],
        "units": {"big4": "3.0000000000000000e+00",
                  "small": "9.0000000000000000e+00"}}
    text = json.dumps(primitive)
    assert capacity.CapacityReport.from_primitive(json.loads(text)) == report


def test_message_size_does_not_depend_on_the_number_of_nodes():
    flavors = capabilities.parse_flavors(FLAVORS)
    sizes = {len(json.dumps(capacity.report(
        host_tables.make_table(cloud_mix.table_nodes(n)),
        flavors).to_primitive())) for n in (10, 200)}
    assert len(sizes) == 1


@pytest.mark.parametrize("entry,reason", [
    ("tiny:1:512", "not NAME:VCPUS:MEMORY_MB:DISK_GB (3 field(s))"),
    ("tiny:1:512:1:1", "not NAME:VCPUS:MEMORY_MB:DISK_GB (5 field(s))"),
    ("tiny", "not NAME:VCPUS:MEMORY_MB:DISK_GB (1 field(s))"),
    (" :1:512:1", "the name is empty"),
    ("tiny:one:512:1", "VCPUS 'one' is not a whole number"),
    ("tiny:1:1.5:1", "MEMORY_MB '1.5' is not a whole number"),
    ("tiny:1:512:1_0", "DISK_GB '1_0' is not a whole number"),
    ("tiny:1:512:", "DISK_GB '' is not a whole number"),
    ("tiny:0:512:1", "VCPUS 0 is not in 1..2147483647"),
    ("tiny:1:0:1", "MEMORY_MB 0 is not in 1..2147483647"),
    ("tiny:1:512:-1", "DISK_GB -1 is not in 0..2147483647"),
    ("tiny:1:2147483648:1", "MEMORY_MB 2147483648 is not in 1..2147483647"),
])
def test_malformed_flavor_is_refused_naming_it(entry, reason):
    with pytest.raises(exception.InvalidCapacityFlavor) as info:
        capabilities.parse_flavors(["ok:1:1:0", entry])
    assert str(info.value) == f"invalid capacity flavor {entry!r}: {reason}"
    assert isinstance(info.value, exception.CellInputInvalid)


def test_a_flavor_name_twice_is_refused():
    with pytest.raises(exception.InvalidCapacityFlavor) as info:
        capabilities.parse_flavors(["a:1:512:1", "b:1:512:1", " a :2:1024:2"])
    assert str(info.value) == (
        "invalid capacity flavor ' a :2:1024:2': name 'a' is given twice")


def test_more_flavors_than_the_bound_are_refused():
    entries = [f"f{i}:1:512:1" for i in range(101)]
    assert len(capabilities.parse_flavors(entries[:100])) == 100
    with pytest.raises(exception.InvalidCapacityFlavor) as info:
        capabilities.parse_flavors(entries)
    assert str(info.value) == (
        "invalid capacity flavor 'f100:1:512:1': more than 100 flavors "
        "are listed")


def test_zero_disk_flavor_is_limited_by_the_other_resources():
    flavors = capabilities.parse_flavors(["nodisk:1:2048:0"])
    assert flavors[0].disk_gb == 0
    # host1 min(14, 6), host2 min(3, 5), host6 0
    assert capacity.report(small_cloud(), flavors).units == {"nodisk": 9}


def test_reserve_is_a_share_of_capacity_after_the_ratio():
    # 8192 MiB × 2.0 = 16384 MiB of capacity, nothing used; 50 % held
    # back is 8192 MiB (of the 16384, not of the 8192 total): 4 units of
    # 2048 MiB left, where a share of the total would leave 6
    table = host_tables.make_table([dict(
        host="host1", vcpus=64, memory_mb=8192, local_gb=1000,
        **dict(RATIOS_1, ram_allocation_ratio=2.0))])
    report = capacity.report(table, capabilities.parse_flavors(
        ["mem:1:2048:1"]), reserve_percent=50.0)
    assert report.units == {"mem": 4}
    assert report.free_memory_mb == 16384.0
