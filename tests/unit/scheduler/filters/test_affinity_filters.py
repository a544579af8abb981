"""Server-group, same/different host and CIDR affinity filters, with
results worked out by hand."""
import pytest

from support.host_tables import all_rows, make_table

from .basic_support import (INSTANCE, load_conf, make_filter, make_request,
                            passing, uuid_of)

HOSTS = ["host1", "host2", "host3"]
M1, M2, M3 = uuid_of(1), uuid_of(2), uuid_of(3)


@pytest.fixture(scope="module")
def conf():
    return load_conf()


@pytest.fixture
def table():
    return make_table([dict(host=h) for h in HOSTS])


def _anti(**group):
    return make_request(group_policy="anti-affinity", **group)


# --- ServerGroupAntiAffinityFilter -------------------------------------------

@pytest.mark.parametrize("rules, on_host1, expected", [
    # Nova conformance 20: max_server_per_host 1 with a member there fails.
    ({"max_server_per_host": "1"}, [M1], ["host2", "host3"]),
    # ... and 2 with one member there passes.
    ({"max_server_per_host": "2"}, [M1], HOSTS),
    ({"max_server_per_host": "2"}, [M1, M2], ["host2", "host3"]),
    ({}, [M1], ["host2", "host3"]),            # default 1
    ({}, [], HOSTS),
])
def test_anti_affinity_max_server_per_host(conf, table, rules, on_host1,
                                           expected):
    request = _anti(group_rules=rules, group_members=[M1, M2, M3],
                    instance_hosts={u: "host1" for u in on_host1})
    assert passing(make_filter("ServerGroupAntiAffinityFilter", conf),
                   table, request) == expected


def test_anti_affinity_allows_the_instance_to_stay_on_its_host(conf, table):
    """Nova conformance 20: a move may land where the instance already is."""
    request = _anti(group_members=[M1, INSTANCE],
                    instance_hosts={M1: "host1", INSTANCE: "host1"})
    assert passing(make_filter("ServerGroupAntiAffinityFilter", conf),
                   table, request) == HOSTS


def test_anti_affinity_counts_only_group_members(conf, table):
    request = _anti(group_members=[M1], instance_hosts={M2: "host2",
                                                        M1: "host3"})
    assert passing(make_filter("ServerGroupAntiAffinityFilter", conf),
                   table, request) == ["host1", "host2"]


def test_anti_affinity_sees_placements_of_the_same_request(conf, table):
    request = _anti(group_members=[])
    anti = make_filter("ServerGroupAntiAffinityFilter", conf)
    request = request.for_instance(1, uuid_of(8), [(uuid_of(7), "host2")])
    assert passing(anti, table, request) == ["host1", "host3"]


def test_anti_affinity_ignores_other_policies(conf, table):
    request = make_request(group_policy="affinity", group_members=[M1],
                           instance_hosts={M1: "host1"})
    assert passing(make_filter("ServerGroupAntiAffinityFilter", conf),
                   table, request) == HOSTS
    assert passing(make_filter("ServerGroupAntiAffinityFilter", conf),
                   table, make_request()) == HOSTS


def test_anti_affinity_applies_to_every_node_of_a_host(conf):
    table = make_table([dict(host="host1", nodename="n1"),
                        dict(host="host1", nodename="n2"),
                        dict(host="host2", nodename="n3")])
    request = _anti(group_members=[M1], instance_hosts={M1: "host1"})
    assert passing(make_filter("ServerGroupAntiAffinityFilter", conf),
                   table, request) == ["host2"]


# --- ServerGroupAffinityFilter -----------------------------------------------

@pytest.mark.parametrize("policy, group_hosts, expected", [
    ("affinity", ["host2"], ["host2"]),
    ("affinity", ["host2", "host3", "elsewhere"], ["host2", "host3"]),
    ("affinity", [], HOSTS),                   # nothing placed yet
    ("affinity", ["elsewhere"], []),
    ("anti-affinity", ["host2"], HOSTS),       # not this filter's policy
    ("soft-affinity", ["host2"], HOSTS),
])
def test_affinity_filter(conf, table, policy, group_hosts, expected):
    request = make_request(group_policy=policy, group_hosts=group_hosts)
    assert passing(make_filter("ServerGroupAffinityFilter", conf), table,
                   request) == expected


def test_affinity_filter_follows_placements_of_the_same_request(conf,
                                                               table):
    request = make_request(group_policy="affinity")
    request = request.for_instance(1, uuid_of(8), [(uuid_of(7), "host3")])
    assert passing(make_filter("ServerGroupAffinityFilter", conf), table,
                   request) == ["host3"]


# --- SameHostFilter / DifferentHostFilter ------------------------------------

LOCATIONS = {M1: "host1", M2: "host3"}


def _hinted(name, uuids):
    return make_request(hints={} if uuids is None else {name: uuids},
                        instance_hosts=LOCATIONS)


@pytest.mark.parametrize("hint, same, different", [
    (None, HOSTS, HOSTS),
    ([M1], ["host1"], ["host2", "host3"]),
    ([M1, M2], ["host1", "host3"], ["host2"]),
    ([M3], [], HOSTS),                          # location unknown
])
def test_same_and_different_host(conf, table, hint, same, different):
    assert passing(make_filter("SameHostFilter", conf), table,
                   _hinted("same_host", hint)) == same
    assert passing(make_filter("DifferentHostFilter", conf), table,
                   _hinted("different_host", hint)) == different


def test_same_host_hint_with_a_single_uuid(conf, table):
    request = make_request(hints={"same_host": M2}, instance_hosts=LOCATIONS)
    assert passing(make_filter("SameHostFilter", conf), table,
                   request) == ["host3"]


# --- SimpleCIDRAffinityFilter ------------------------------------------------

@pytest.fixture
def addressed():
    return make_table([dict(host="host1", host_ip="10.0.0.5"),
                       dict(host="host2", host_ip="10.0.1.5"),
                       dict(host="host3", host_ip=None),
                       dict(host="host4", host_ip="2001:db8::1"),
                       dict(host="host5", host_ip="10.0.0.255")])


@pytest.mark.parametrize("near, cidr, expected", [
    (None, None, ["host1", "host2", "host3", "host4", "host5"]),
    ("10.0.0.200", None, ["host1", "host5"]),            # default /24
    ("10.0.0.200", "/16", ["host1", "host2", "host5"]),
    ("10.0.0.5", "/32", ["host1"]),
    ("10.0.0.1", "/0", ["host1", "host2", "host5"]),      # IPv4 only
    ("2001:db8::ff", "/64", ["host4"]),
    ("2001:db8::ff", "/128", []),
    ("2001:db9::1", "/32", []),
    ("not-an-ip", None, []),                              # fails everywhere
    ("10.0.0.1", "/33", []),
])
def test_simple_cidr_affinity(conf, addressed, near, cidr, expected):
    hints = {}
    if near is not None:
        hints["build_near_host_ip"] = near
    if cidr is not None:
        hints["cidr"] = cidr
    request = make_request(hints=hints)
    assert passing(make_filter("SimpleCIDRAffinityFilter", conf), addressed,
                   request) == expected


def test_simple_cidr_affinity_explains(conf, addressed):
    cidr = make_filter("SimpleCIDRAffinityFilter", conf)
    rows = all_rows(addressed)
    assert cidr.explain(addressed, rows, make_request(hints={
        "build_near_host_ip": "192.168.3.4"})) == \
        "no candidate host has its host_ip in 192.168.3.0/24"
    assert "is not a network" in cidr.explain(addressed, rows, make_request(
        hints={"build_near_host_ip": "nowhere"}))
