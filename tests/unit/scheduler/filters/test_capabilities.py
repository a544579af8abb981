"""ComputeCapabilitiesFilter and AggregateInstanceExtraSpecsFilter: cases
worked out by hand, then property tests against a per-host reference.

The reference (``NovaHostState`` and the ``nova_*`` functions) reads a host
the way Nova's HostState does, straight from the compute_nodes row, and
checks it one host at a time the way Nova's ``host_passes`` does; the
filters under test read the columnar table instead.
"""
import json

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.scheduler import plugins
from hoststate.scheduler.filters import capabilities
from hoststate.scheduler.filters.extra_specs_ops import match
from hoststate.scheduler.request import RequestVector
from support.host_tables import all_rows, hosts_at, make_table, node_record

INSTANCE = "11111111-1111-1111-1111-111111111111"
CONF = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
CAPABILITIES = capabilities.ComputeCapabilitiesFilter(CONF)
AGGREGATE_SPECS = capabilities.AggregateInstanceExtraSpecsFilter(CONF)


def make_request(extra_specs=None, image=None, hints=None, conf=CONF):
    """A RequestVector for one instance of a flavor with ``extra_specs``."""
    flavor = flavor_obj.Flavor(flavorid="f1", name="f1", vcpus=1,
                               memory_mb=512, extra_specs=extra_specs or {})
    spec = request_spec.RequestSpec.from_components(
        INSTANCE, flavor, image=image, scheduler_hints=hints)
    return RequestVector(spec, conf)


def passing(host_filter, table, request):
    """Host names the filter keeps, in row order."""
    rows = all_rows(table)
    mask = host_filter.filter_mask(table, rows, request)
    assert mask.dtype == bool and mask.shape == rows.shape
    return hosts_at(table, rows[mask])


def capable(table, **extra_specs):
    return passing(CAPABILITIES, table, make_request(extra_specs))


# --- the per-host reference --------------------------------------------------

class NovaHostState:
    """A compute node as Nova's HostState holds it, built from the
    compute_nodes row: ints where Nova has ints, ``cpu_info`` as the JSON
    text, ``stats`` a dict, ``supported_instances`` a list of lists."""

    def __init__(self, record, aggregates=()):
        self.host = record["host"]
        self.nodename = self.hypervisor_hostname = \
            record["hypervisor_hostname"]
        self.uuid = record["uuid"]
        self.total_usable_ram_mb = record["memory_mb"]
        self.free_ram_mb = record["free_ram_mb"]
        free_gb = record["free_disk_gb"]
        if record["disk_available_least"] is not None:
            free_gb = min(record["disk_available_least"], free_gb)
        self.free_disk_mb = free_gb * 1024
        self.total_usable_disk_gb = record["local_gb"]
        self.disk_mb_used = record["local_gb_used"] * 1024
        self.vcpus_total = record["vcpus"]
        self.vcpus_used = record["vcpus_used"]
        self.stats = json.loads(record["stats"]) if record["stats"] else {}
        self.num_instances = int(self.stats.get("num_instances", 0))
        self.num_io_ops = int(self.stats.get("io_workload", 0))
        self.failed_builds = int(self.stats.get("failed_builds", 0))
        self.hypervisor_type = record["hypervisor_type"]
        self.hypervisor_version = record["hypervisor_version"]
        self.host_ip = record["host_ip"]
        self.cpu_info = record["cpu_info"]
        self.supported_instances = json.loads(
            record["supported_instances"] or "[]")
        self.cpu_allocation_ratio = record["cpu_allocation_ratio"]
        self.ram_allocation_ratio = record["ram_allocation_ratio"]
        self.disk_allocation_ratio = record["disk_allocation_ratio"]
        self.aggregates = list(aggregates)


def nova_hosts(descriptions, aggregates=()):
    """{host name: NovaHostState} for node descriptions and (name, hosts,
    metadata) aggregates."""
    hosts = {}
    for description in descriptions:
        record = node_record(**description)
        mine = [AggregateStub(metadata) for _, members, metadata in aggregates
                if record["host"] in members]
        hosts[record["host"]] = NovaHostState(record, mine)
    return hosts


class AggregateStub:
    def __init__(self, metadata):
        self.metadata = metadata


def nova_get_capability(host, scope):
    """Nova's walk: the attribute (or, unset, the stat) of that name, then
    keys of dicts, JSON text parsed on the way."""
    value = host
    for name in scope:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if value is host:
            value = getattr(host, name, None)
            if value is None:
                value = host.stats.get(name)
        elif isinstance(value, dict):
            value = value.get(name)
        else:
            return None
        if value is None:
            return None
    return value


def nova_capabilities_pass(host, extra_specs):
    specs = dict(extra_specs)
    if "hw:maxphysaddr_bits" in specs:
        specs["capabilities:cpu_info:maxphysaddr:bits"] = \
            ">= " + specs["hw:maxphysaddr_bits"]
    for key, requirement in specs.items():
        scope = key.split(":")
        if len(scope) == 1:
            if not (hasattr(host, key) or key in host.stats):
                continue
        elif scope[0] != "capabilities":
            continue
        else:
            scope = scope[1:]
        value = nova_get_capability(host, scope)
        if value is None or not match(str(value), requirement):
            return False
    return True


def nova_metadata(host):
    """Nova's aggregate_metadata_get_by_host: key -> set of values."""
    metadata = {}
    for aggregate in host.aggregates:
        for key, value in aggregate.metadata.items():
            metadata.setdefault(key, set()).update(
                item.strip() for item in value.split(","))
    return metadata


def nova_aggregate_specs_pass(host, extra_specs):
    if not extra_specs:
        return True
    metadata = nova_metadata(host)
    for key, requirement in extra_specs.items():
        scope = key.split(":", 1)
        if len(scope) > 1:
            if scope[0] != "aggregate_instance_extra_specs":
                continue
            scope = scope[1:]
        values = metadata.get(scope[0])
        if not values:
            return False
        if not any(match(value, requirement) for value in values):
            return False
    return True


# --- ComputeCapabilitiesFilter, by hand --------------------------------------

HOSTS = [
    dict(host="host1", free_ram_mb=1024, vcpus=4, hypervisor_type="QEMU",
         stats={"foo": "bar", "num_instances": "3"},
         cpu_info={"arch": "x86_64", "features": ["aes", "vmx"],
                   "maxphysaddr": {"mode": "emulate", "bits": 42}},
         host_ip="10.0.0.1"),
    dict(host="host2", free_ram_mb=4096, vcpus=8, hypervisor_type="KVM",
         stats={"foo": "baz", "host_ip": "192.168.0.2",
                "nested": json.dumps({"a": "1"})},
         cpu_info={"arch": "aarch64",
                   "maxphysaddr": {"mode": "passthrough", "bits": 46}},
         cpu_allocation_ratio=4.0),
    dict(host="host3", free_ram_mb=512, vcpus=8, hypervisor_type="QEMU",
         stats={}, cpu_info="not json"),
]


@pytest.fixture(scope="module")
def table():
    return make_table(HOSTS)


CAPABILITY_CASES = [
    # unscoped attribute, compared as Nova's int
    ({"free_ram_mb": "= 1024"}, ["host1", "host2"]),
    ({"free_ram_mb": "1024"}, ["host1"]),           # "1024", not "1024.0"
    ({"free_ram_mb": "<= 1024"}, ["host1", "host3"]),
    ({"vcpus_total": "== 8"}, ["host2", "host3"]),
    ({"cpu_allocation_ratio": "16.0"}, ["host1", "host3"]),   # a float
    ({"hypervisor_type": "s== QEMU"}, ["host1", "host3"]),
    ({"num_instances": "= 1"}, ["host1"]),
    # unscoped stat: checked where the host has it, ignored elsewhere
    ({"foo": "bar"}, ["host1", "host3"]),
    ({"foo": "<or> bar <or> baz"}, ["host1", "host2", "host3"]),
    # unscoped key that is neither: ignored
    ({"not_a_capability": "x"}, ["host1", "host2", "host3"]),
    # other scopes: ignored
    ({"hw:cpu_policy": "dedicated", "trait:HW_CPU_X86_AVX": "required"},
     ["host1", "host2", "host3"]),
    # capabilities scope: attribute, then stat; missing fails
    ({"capabilities:free_ram_mb": ">= 4096"}, ["host2"]),
    ({"capabilities:foo": "bar"}, ["host1"]),
    ({"capabilities:not_a_capability": "x"}, []),
    ({"capabilities:stats:foo": "baz"}, ["host2"]),
    # unset attribute: Nova reads the stat of the same name
    ({"capabilities:host_ip": "192.168.0.2"}, ["host2"]),
    ({"host_ip": "<in> 10.0"}, ["host1"]),
    # nested documents; text that is not JSON finds nothing
    ({"capabilities:cpu_info:arch": "x86_64"}, ["host1"]),
    ({"capabilities:cpu_info:features": "<all-in> aes vmx"}, ["host1"]),
    ({"capabilities:cpu_info:maxphysaddr:bits": ">= 44"}, ["host2"]),
    ({"capabilities:nested:a": "1"}, ["host2"]),       # JSON in a stat
    ({"capabilities:free_ram_mb:x": "1"}, []),         # a number has no keys
    # hw:maxphysaddr_bits: N means cpu_info:maxphysaddr:bits >= N
    ({"hw:maxphysaddr_bits": "42"}, ["host1", "host2"]),
    ({"hw:maxphysaddr_bits": "43"}, ["host2"]),
    # every spec must hold
    ({"foo": "bar", "free_ram_mb": ">= 1024"}, ["host1"]),
    ({}, ["host1", "host2", "host3"]),
]


@pytest.mark.parametrize("extra_specs, expected", CAPABILITY_CASES,
                         ids=[str(c[0]) for c in CAPABILITY_CASES])
def test_compute_capabilities(table, extra_specs, expected):
    assert capable(table, **extra_specs) == expected


def test_capabilities_match_the_per_host_reference_on_the_cases(table):
    hosts = nova_hosts(HOSTS)
    for extra_specs, expected in CAPABILITY_CASES:
        assert [name for name, host in hosts.items()
                if nova_capabilities_pass(host, extra_specs)] == expected


def test_capabilities_flags():
    assert capabilities.ComputeCapabilitiesFilter.run_filter_once_per_request
    assert not capabilities.ComputeCapabilitiesFilter.RUN_ON_REBUILD
    assert capabilities.AggregateInstanceExtraSpecsFilter \
        .run_filter_once_per_request
    assert not capabilities.AggregateInstanceExtraSpecsFilter.RUN_ON_REBUILD


def test_filters_load_by_entry_point_name():
    for name in ("ComputeCapabilitiesFilter",
                 "AggregateInstanceExtraSpecsFilter"):
        assert plugins.filters.get(name) is getattr(capabilities, name)


def test_a_later_request_is_not_answered_from_an_earlier_ones_cache(table):
    assert capable(table, foo="bar") == ["host1", "host3"]
    assert capable(table, foo="baz") == ["host2", "host3"]
    assert capable(table, **{"capabilities:cpu_info:arch": "x86_64"}) == \
        ["host1"]
    assert capable(table, **{"capabilities:cpu_info:arch": "aarch64"}) == \
        ["host2"]


def test_a_node_update_is_seen():
    table = make_table([dict(host="host1", uuid=INSTANCE,
                             stats={"foo": "bar"})])
    assert capable(table, foo="bar") == ["host1"]
    table.write_nodes([node_record("host1", uuid=INSTANCE,
                                   stats={"foo": "qux"})])
    assert capable(table, foo="bar") == []
    assert capable(table, foo="qux") == ["host1"]


def test_explain_names_the_failing_specs(table):
    request = make_request({"foo": "bar", "capabilities:cpu_info:arch":
                            "ppc64"})
    text = CAPABILITIES.explain(table, all_rows(table), request)
    assert text == ("cpu_info:arch 'ppc64' excludes 3 hosts; foo 'bar' "
                    "excludes 1 hosts")


# --- AggregateInstanceExtraSpecsFilter, by hand ------------------------------

AGGREGATES = [
    ("fast", ["host1", "host2"], {"ssd": "true", "speed": "10, 40"}),
    ("gpu", ["host2"], {"gpu": "v100", "speed": "100"}),
    ("slow", ["host3"], {"ssd": "false"}),
]
AGGREGATE_CASES = [
    ({}, ["host1", "host2", "host3", "host4"]),
    ({"hw:cpu_policy": "dedicated"}, ["host1", "host2", "host3", "host4"]),
    ({"capabilities:ssd": "true"}, ["host1", "host2", "host3", "host4"]),
    ({"ssd": "true"}, ["host1", "host2"]),      # unscoped keys count
    ({"aggregate_instance_extra_specs:ssd": "true"}, ["host1", "host2"]),
    ({"aggregate_instance_extra_specs:ssd": "<or> true <or> false"},
     ["host1", "host2", "host3"]),
    # comma lists split and stripped; values of several aggregates pooled
    ({"aggregate_instance_extra_specs:speed": "40"}, ["host1", "host2"]),
    ({"aggregate_instance_extra_specs:speed": "= 50"}, ["host2"]),
    ({"aggregate_instance_extra_specs:gpu": "v100"}, ["host2"]),
    # a key no aggregate of the host has fails
    ({"aggregate_instance_extra_specs:nothing": "x"}, []),
    ({"ssd": "true", "gpu": "v100"}, ["host2"]),
    ({"aggregate_instance_extra_specs:ssd": "s!= true"}, ["host3"]),
]


@pytest.fixture(scope="module")
def aggregate_table():
    return make_table([dict(host=f"host{i}") for i in range(1, 5)],
                      AGGREGATES)


@pytest.mark.parametrize("extra_specs, expected", AGGREGATE_CASES,
                         ids=[str(c[0]) for c in AGGREGATE_CASES])
def test_aggregate_instance_extra_specs(aggregate_table, extra_specs,
                                        expected):
    assert passing(AGGREGATE_SPECS, aggregate_table,
                   make_request(extra_specs)) == expected


def test_aggregate_specs_match_the_per_host_reference_on_the_cases():
    hosts = nova_hosts([dict(host=f"host{i}") for i in range(1, 5)],
                       AGGREGATES)
    for extra_specs, expected in AGGREGATE_CASES:
        assert [name for name, host in hosts.items()
                if nova_aggregate_specs_pass(host, extra_specs)] == expected


def test_aggregate_specs_see_changed_aggregates():
    table = make_table([dict(host="host1")], [("a", ["host1"], {"k": "1"})])
    assert passing(AGGREGATE_SPECS, table, make_request({"k": "1"})) == \
        ["host1"]
    table.set_aggregates([])
    assert passing(AGGREGATE_SPECS, table, make_request({"k": "1"})) == []


# --- property tests: the table filters against the reference -----------------

CPU_INFOS = st.sampled_from([
    {}, {"arch": "x86_64", "features": ["aes", "vmx"]},
    {"arch": "aarch64", "features": ["aes"]},
    {"arch": "x86_64", "maxphysaddr": {"bits": 42}},
    {"maxphysaddr": {"bits": 46, "mode": "passthrough"}}])
STATS = st.fixed_dictionaries({}, optional={
    "foo": st.sampled_from(["bar", "1", "2", "abc"]),
    "bar": st.sampled_from(["bar", "1"]),
    "host_ip": st.sampled_from(["192.168.0.2", "10.0.0.1"]),
    "nested": st.sampled_from([json.dumps({"a": "1"}),
                               json.dumps({"a": "2"}), "not json"]),
})
HOST_VALUES = st.fixed_dictionaries({
    "free_ram_mb": st.sampled_from([512, 1024, 2048]),
    "vcpus": st.sampled_from([4, 8]),
    "hypervisor_type": st.sampled_from(["QEMU", "KVM"]),
    "hypervisor_version": st.sampled_from([6000000, 6002000]),
    "host_ip": st.sampled_from([None, "10.0.0.1"]),
    "cpu_allocation_ratio": st.sampled_from([2.0, 16.0]),
    "stats": STATS,
    "cpu_info": CPU_INFOS,
})
_STAT_SPECS = ["bar", "1", "= 2", "<in> a", "s< b"]
_IP_SPECS = ["10.0.0.1", "192.168.0.2", "<in> 10.0"]
#: extra spec key -> values that split the generated hosts
CAPABILITY_SPECS = {
    "free_ram_mb": ["1024", "= 1024", ">= 2048", "<= 512", "s== 1024"],
    "vcpus_total": ["8", "== 4"],
    "hypervisor_type": ["QEMU", "s!= QEMU", "<or> KVM <or> XEN"],
    "hypervisor_version": ["6000000", ">= 6001000"],
    "cpu_allocation_ratio": ["16.0", "16", "= 4"],
    "host": ["host0", "s< host2"],
    "host_ip": _IP_SPECS, "capabilities:host_ip": _IP_SPECS,
    "foo": _STAT_SPECS, "bar": _STAT_SPECS, "capabilities:foo": _STAT_SPECS,
    "capabilities:stats:foo": _STAT_SPECS,
    "nothing": ["x"], "capabilities:nothing": ["x"],
    "capabilities:nested:a": ["1", "= 2"],
    "capabilities:cpu_info:arch": ["x86_64", "<or> aarch64 <or> ppc64"],
    "capabilities:cpu_info:features": ["<in> vmx", "<all-in> aes vmx"],
    "capabilities:cpu_info:maxphysaddr:bits": [">= 44", "42"],
    "hw:maxphysaddr_bits": ["42", "44"],
    "capabilities:free_ram_mb:x": ["1"],
    "quota:cpu_shares": ["1"], "trait:CUSTOM_X": ["required"],
}


def extra_specs(specs):
    """Extra specs drawn from ``specs`` (key -> candidate values)."""
    pairs = st.sampled_from(sorted(specs)).flatmap(
        lambda key: st.tuples(st.just(key), st.sampled_from(specs[key])))
    return st.lists(pairs, max_size=3).map(dict)


def hosts_with(values):
    return [dict(host=f"host{i}", **v) for i, v in enumerate(values)]


def reference_mask(table, hosts, passes, *args):
    rows = all_rows(table)
    return np.array([passes(hosts[name], *args)
                     for name in hosts_at(table, rows)], dtype=bool)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(st.lists(HOST_VALUES, min_size=1, max_size=6),
                  st.lists(extra_specs(CAPABILITY_SPECS), min_size=1,
                           max_size=4))
# rare by chance: an unset attribute read from the stat of that name, an
# int attribute compared as text, address bits just enough
@hypothesis.example(
    values=[dict(free_ram_mb=1024, host_ip=None,
                 stats={"host_ip": "192.168.0.2"},
                 cpu_info={"maxphysaddr": {"bits": 42}}),
            dict(free_ram_mb=512, host_ip="10.0.0.1", stats={},
                 cpu_info={"maxphysaddr": {"bits": 46}})],
    requests=[{"capabilities:host_ip": "192.168.0.2"},
              {"free_ram_mb": "1024"}, {"hw:maxphysaddr_bits": "42"}])
def test_capabilities_filter_equals_per_host_reference(values, requests):
    descriptions = hosts_with(values)
    table = make_table(descriptions)
    hosts = nova_hosts(descriptions)
    rows = all_rows(table)
    # several requests on one table: a cached answer must not leak
    for specs in requests:
        mask = CAPABILITIES.filter_mask(table, rows, make_request(specs))
        assert mask.tolist() == reference_mask(
            table, hosts, nova_capabilities_pass, specs).tolist()


METADATA = st.fixed_dictionaries({}, optional={
    "ssd": st.sampled_from(["true", "false"]),
    "speed": st.sampled_from(["10, 40", "100", "40"]),
    "gpu": st.sampled_from(["v100,a100", "v100"]),
    "a:b": st.just("1"),
})
_SSD = ["true", "<or> true <or> false", "s!= true"]
_SPEED = ["40", "= 50", "100"]
_GPU = ["v100", "a100", "<in> 100"]
AGGREGATE_SPECS_BY_KEY = {
    "ssd": _SSD, "aggregate_instance_extra_specs:ssd": _SSD,
    "speed": _SPEED, "aggregate_instance_extra_specs:speed": _SPEED,
    "aggregate_instance_extra_specs:gpu": _GPU,
    "aggregate_instance_extra_specs:a:b": ["1"],
    "quota:cpu_shares": ["1"], "capabilities:ssd": ["true"],
}


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(
    st.integers(min_value=1, max_value=6),
    st.lists(st.tuples(st.sets(st.integers(0, 5)), METADATA), max_size=4),
    st.lists(extra_specs(AGGREGATE_SPECS_BY_KEY), min_size=1, max_size=4))
def test_aggregate_specs_filter_equals_per_host_reference(
        count, aggregates, requests):
    descriptions = [dict(host=f"host{i}") for i in range(count)]
    aggregates = [(f"agg{n}", [f"host{i}" for i in members], metadata)
                  for n, (members, metadata) in enumerate(aggregates)]
    table = make_table(descriptions, aggregates)
    hosts = nova_hosts(descriptions, aggregates)
    rows = all_rows(table)
    for specs in requests:
        mask = AGGREGATE_SPECS.filter_mask(table, rows, make_request(specs))
        assert mask.tolist() == reference_mask(
            table, hosts, nova_aggregate_specs_pass, specs).tolist()
