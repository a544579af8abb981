"""I/O-ops and instance-count filters and the availability-zone filter,
with results worked out by hand."""
import pytest

from hoststate.scheduler.records import AggregateRecord
from support.host_tables import all_rows, make_table

from .basic_support import load_conf, make_filter, make_request, passing


@pytest.fixture(scope="module")
def conf():
    return load_conf()


def _io_host(name, io_ops):
    return dict(host=name, stats={"io_workload": io_ops})


def _instances_host(name, count):
    return dict(host=name, stats={"num_instances": count})


# --- IoOpsFilter -------------------------------------------------------------

def test_io_ops_filter_is_strict(conf):
    """Nova conformance 21: 8 operations with the default maximum 8 fail."""
    table = make_table([_io_host("host1", 7), _io_host("host2", 8),
                        _io_host("host3", 9)])
    io_ops = make_filter("IoOpsFilter", conf)
    assert conf.filter_scheduler.max_io_ops_per_host == 8
    assert passing(io_ops, table, make_request()) == ["host1"]


def test_io_ops_filter_follows_the_option():
    table = make_table([_io_host("host1", 0), _io_host("host2", 1)])
    conf = load_conf(filter_scheduler={"max_io_ops_per_host": 1})
    assert passing(make_filter("IoOpsFilter", conf), table,
                   make_request()) == ["host1"]
    conf = load_conf(filter_scheduler={"max_io_ops_per_host": 0})
    assert passing(make_filter("IoOpsFilter", conf), table,
                   make_request()) == []


def test_io_ops_filter_explains(conf):
    table = make_table([_io_host("host1", 8), _io_host("host2", 11)])
    io_ops = make_filter("IoOpsFilter", conf)
    assert io_ops.explain(table, all_rows(table), make_request()) == (
        "num_io_ops: every host has reached its limit of I/O operations "
        "(max_io_ops_per_host 8; fewest on a host: 8)")


@pytest.mark.parametrize("values, passes", [
    ([], False),                # config 8, host has 9
    (["10"], True),
    (["10", "9"], False),       # smallest wins
    (["2.5"], False),           # not an integer: config
    (["XXX", "20"], False),     # one bad value: config (Nova)
    ([" 12 "], True),           # int() strips blanks
])
def test_aggregate_io_ops_filter(conf, values, passes):
    aggregates = [(f"agg{i}", ["host1"], {"max_io_ops_per_host": value})
                  for i, value in enumerate(values)]
    table = make_table([_io_host("host1", 9)], aggregates)
    assert passing(make_filter("AggregateIoOpsFilter", conf), table,
                   make_request()) == (["host1"] if passes else [])


# --- NumInstancesFilter ------------------------------------------------------

def test_num_instances_filter(conf):
    table = make_table([_instances_host("host1", 49),
                        _instances_host("host2", 50)])
    assert passing(make_filter("NumInstancesFilter", conf), table,
                   make_request()) == ["host1"]
    small = load_conf(filter_scheduler={"max_instances_per_host": 4})
    table = make_table([_instances_host("host1", 3),
                        _instances_host("host2", 4)])
    assert passing(make_filter("NumInstancesFilter", small), table,
                   make_request()) == ["host1"]


def test_aggregate_num_instances_filter_value():
    """Nova conformance 22: an aggregate value 6 overrides the config 4."""
    conf = load_conf(filter_scheduler={"max_instances_per_host": 4})
    aggregates = [("agg", ["host1"], {"max_instances_per_host": "6"})]
    table = make_table([_instances_host("host1", 5),
                        _instances_host("host2", 5)], aggregates)
    assert passing(make_filter("AggregateNumInstancesFilter", conf), table,
                   make_request()) == ["host1"]


def test_aggregate_num_instances_filter_value_error():
    """Nova conformance 22: a value that is not a number ("XXX") falls back
    to the config."""
    conf = load_conf(filter_scheduler={"max_instances_per_host": 4})
    aggregates = [("agg", ["host1", "host2"],
                   {"max_instances_per_host": "XXX"})]
    table = make_table([_instances_host("host1", 3),
                        _instances_host("host2", 4)], aggregates)
    assert passing(make_filter("AggregateNumInstancesFilter", conf), table,
                   make_request()) == ["host1"]


def test_aggregate_num_instances_filter_takes_the_smallest(conf):
    aggregates = [("a", ["host1"], {"max_instances_per_host": "6"}),
                  ("b", ["host1"], {"max_instances_per_host": "5"})]
    table = make_table([_instances_host("host1", 5)], aggregates)
    assert passing(make_filter("AggregateNumInstancesFilter", conf), table,
                   make_request()) == []


# --- AvailabilityZoneFilter --------------------------------------------------

ZONED = [("az1-agg", ["host1"], {"availability_zone": "az1"}),
         ("both", ["host3"], {"availability_zone": "az1, az2"}),
         ("plain", ["host4"], {"ram_allocation_ratio": "2.0"})]


@pytest.mark.parametrize("zone, expected", [
    (None, ["host1", "host2", "host3", "host4"]),   # no zone asked
    ("az1", ["host1", "host3"]),
    ("az2", ["host3"]),                             # comma list, stripped
    ("nova", ["host2", "host4"]),                   # the default zone
    ("az3", []),
])
def test_availability_zone_filter(conf, zone, expected):
    table = make_table([dict(host=h) for h in
                        ("host1", "host2", "host3", "host4")], ZONED)
    assert passing(make_filter("AvailabilityZoneFilter", conf), table,
                   make_request(availability_zone=zone)) == expected


def test_availability_zone_filter_default_zone_comes_from_config():
    conf = load_conf(DEFAULT={"default_availability_zone": "zoneX"})
    table = make_table([dict(host="host1"), dict(host="host2")], ZONED)
    zones = make_filter("AvailabilityZoneFilter", conf)
    assert passing(zones, table, make_request(
        availability_zone="zoneX")) == ["host2"]
    assert passing(zones, table, make_request(
        availability_zone="nova")) == []


def test_availability_zone_filter_empty_zone_metadata_is_not_default(conf):
    """An aggregate whose availability_zone is "" still names the host's
    zone (""), so the host is not in the default zone (Nova's rule)."""
    table = make_table([dict(host="host1"), dict(host="host2")],
                       [("blank", ["host1"], {"availability_zone": ""})])
    assert passing(make_filter("AvailabilityZoneFilter", conf), table,
                   make_request(availability_zone="nova")) == ["host2"]


def test_availability_zone_filter_sees_aggregate_changes(conf):
    table = make_table([dict(host="host1"), dict(host="host2")])
    zones = make_filter("AvailabilityZoneFilter", conf)
    request = make_request(availability_zone="az1")
    assert passing(zones, table, request) == []
    table.set_aggregates([_record(1, "az1", ["host2"],
                                  {"availability_zone": "az1"})])
    assert passing(zones, table, request) == ["host2"]


def _record(number, name, hosts, metadata):
    return AggregateRecord(number, f"uuid-{number}", name, hosts, metadata)
