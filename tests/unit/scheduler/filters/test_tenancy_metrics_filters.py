"""Tenant, flavor and image isolation filters and the metrics filter, with
results worked out by hand, and the run-once / rebuild flags of every
basic filter."""
import pytest

from hoststate.scheduler.filters import metrics
from support.host_tables import make_table

from .basic_support import load_conf, make_filter, make_request, passing

HOSTS = ["host1", "host2", "host3"]
ISOLATED_IMAGE = "22222222-2222-2222-2222-222222222222"
OTHER_IMAGE = "33333333-3333-3333-3333-333333333333"


@pytest.fixture(scope="module")
def conf():
    return load_conf()


def _table(aggregates=(), **per_host):
    return make_table([dict(host=h, **per_host.get(h, {})) for h in HOSTS],
                      aggregates)


# --- AggregateMultiTenancyIsolation ------------------------------------------

TENANT_AGGREGATES = [
    ("a", ["host1"], {"filter_tenant_id": "p1, p2"}),
    ("b", ["host2"], {"filter_tenant_id2": "p3"}),
    ("c", ["host2"], {"filter_tenant_id": "p4"}),
    ("d", ["host3"], {"other": "p1"}),
]


@pytest.mark.parametrize("project, expected", [
    ("p1", ["host1", "host3"]),
    ("p2", ["host1", "host3"]),     # comma list, stripped
    ("p3", ["host2", "host3"]),     # any key with the prefix
    ("p4", ["host2", "host3"]),     # keys of every aggregate add up
    ("p5", ["host3"]),
    (None, ["host3"]),
])
def test_multi_tenancy_isolation(conf, project, expected):
    table = _table(TENANT_AGGREGATES)
    assert passing(make_filter("AggregateMultiTenancyIsolation", conf),
                   table, make_request(project_id=project)) == expected


# --- AggregateTypeAffinityFilter ---------------------------------------------

TYPE_AGGREGATES = [
    ("a", ["host1"], {"instance_type": "m1.small, m1.medium"}),
    ("b", ["host2"], {"instance_type": "m1.large"}),
    ("c", ["host2"], {"instance_type": "m1.tiny"}),
]


@pytest.mark.parametrize("flavor, expected", [
    ("m1.small", ["host1", "host3"]),
    ("m1.medium", ["host1", "host3"]),
    ("m1.tiny", ["host2", "host3"]),    # one aggregate naming it is enough
    ("m1.xlarge", ["host3"]),
])
def test_aggregate_type_affinity(conf, flavor, expected):
    table = _table(TYPE_AGGREGATES)
    assert passing(make_filter("AggregateTypeAffinityFilter", conf), table,
                   make_request(flavor_name=flavor)) == expected


# --- IsolatedHostsFilter (Nova conformance 28) -------------------------------

@pytest.mark.parametrize("images, hosts, restrict, image, host, passes", [
    # Restrictive (the default): isolation must match on both sides.
    ([ISOLATED_IMAGE], ["host1"], True, ISOLATED_IMAGE, "host2", False),
    ([ISOLATED_IMAGE], ["host1"], True, OTHER_IMAGE, "host1", False),
    ([ISOLATED_IMAGE], ["host1"], True, ISOLATED_IMAGE, "host1", True),
    ([ISOLATED_IMAGE], ["host1"], True, OTHER_IMAGE, "host2", True),
    # No configuration at all: everything passes.
    ([], [], True, OTHER_IMAGE, "host1", True),
    # Images but no hosts: an isolated image has nowhere to go.
    ([ISOLATED_IMAGE], [], True, ISOLATED_IMAGE, "host1", False),
    ([ISOLATED_IMAGE], [], True, OTHER_IMAGE, "host1", True),
    # Hosts but no images: isolated hosts are closed when restrictive...
    ([], ["host1"], True, OTHER_IMAGE, "host1", False),
    ([], ["host1"], True, OTHER_IMAGE, "host2", True),
    # ... and open when not.
    ([], ["host1"], False, OTHER_IMAGE, "host1", True),
    # Less restrictive: isolated hosts also take other images...
    ([ISOLATED_IMAGE], ["host1"], False, OTHER_IMAGE, "host1", True),
    ([ISOLATED_IMAGE], ["host1"], False, ISOLATED_IMAGE, "host1", True),
    ([ISOLATED_IMAGE], ["host1"], False, OTHER_IMAGE, "host2", True),
    # ... but isolated images still only go to isolated hosts.
    ([ISOLATED_IMAGE], ["host1"], False, ISOLATED_IMAGE, "host2", False),
    # A volume-backed instance has no image, so it is not isolated.
    ([ISOLATED_IMAGE], ["host1"], True, None, "host1", False),
    ([ISOLATED_IMAGE], ["host1"], True, None, "host2", True),
])
def test_isolated_hosts_matrix(images, hosts, restrict, image, host, passes):
    conf = load_conf(filter_scheduler={
        "isolated_images": images, "isolated_hosts": hosts,
        "restrict_isolated_hosts_to_isolated_images": restrict})
    table = make_table([dict(host=host)])
    assert passing(make_filter("IsolatedHostsFilter", conf), table,
                   make_request(image_id=image)) == ([host] if passes else [])


def test_isolated_hosts_compares_host_names_exactly():
    conf = load_conf(filter_scheduler={"isolated_images": [ISOLATED_IMAGE],
                                       "isolated_hosts": ["HOST1"]})
    table = _table()
    assert passing(make_filter("IsolatedHostsFilter", conf), table,
                   make_request(image_id=ISOLATED_IMAGE)) == []


# --- MetricsFilter -----------------------------------------------------------

def test_parse_weight_setting_keeps_valid_pairs_only():
    assert metrics.parse_weight_setting(
        ["cpu.percent=1", " mem.free = -2.5", "bad", "=3", "x=abc",
         "y="]) == [("cpu.percent", 1.0), ("mem.free", -2.5)]


def test_metrics_filter_requires_every_weighed_metric():
    conf = load_conf(metrics={"weight_setting": ["foo=1", "bar=-2.0"]})
    table = _table(host1={"metrics": {"foo": 1.0, "bar": 2.0, "baz": 3.0}},
                   host2={"metrics": {"foo": 1.0}})
    assert passing(make_filter("MetricsFilter", conf), table,
                   make_request()) == ["host1"]


def test_metrics_filter_without_setting_keeps_everything(conf):
    table = _table(host2={"metrics": {"foo": 1.0}})
    assert passing(make_filter("MetricsFilter", conf), table,
                   make_request()) == HOSTS


# --- flags -------------------------------------------------------------------

#: name -> (run_filter_once_per_request, RUN_ON_REBUILD), as in Nova.
FLAGS = {
    "AllHostsFilter": (True, False),
    "ComputeFilter": (True, False),
    "RamFilter": (False, False),
    "CoreFilter": (False, False),
    "DiskFilter": (False, False),
    "AggregateRamFilter": (False, False),
    "AggregateCoreFilter": (False, False),
    "AggregateDiskFilter": (False, False),
    "IoOpsFilter": (False, False),
    "AggregateIoOpsFilter": (False, False),
    "NumInstancesFilter": (False, False),
    "AggregateNumInstancesFilter": (False, False),
    "AvailabilityZoneFilter": (True, False),
    "ServerGroupAffinityFilter": (False, False),
    "ServerGroupAntiAffinityFilter": (False, False),
    "SameHostFilter": (True, False),
    "DifferentHostFilter": (True, False),
    "SimpleCIDRAffinityFilter": (True, False),
    "AggregateMultiTenancyIsolation": (True, False),
    "AggregateTypeAffinityFilter": (True, False),
    "IsolatedHostsFilter": (True, True),
    "MetricsFilter": (False, False),
}


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_flags_match_nova(conf, name):
    host_filter = make_filter(name, conf)
    assert host_filter.name == name
    once, rebuild = FLAGS[name]
    assert (host_filter.run_filter_once_per_request,
            host_filter.RUN_ON_REBUILD) == (once, rebuild)
    second = make_request()
    second.index = 1
    assert host_filter.run_for(second) is not once
    rebuilding = make_request(hints={"_nova_check_type": ["rebuild"]})
    assert host_filter.run_for(rebuilding) is rebuild
