"""RAMWeigher, CPUWeigher and DiskWeigher: Nova conformance items 10-12
and the vectorized weights against Nova's host-by-host weighing."""
import hypothesis
import hypothesis.strategies as st
import pytest

from hoststate.scheduler.weights import resources

from .weigher_support import (assert_matches_nova, hosts_and_aggregates,
                              make_conf, make_request, table_of,
                              weights_by_host)

#: Nova's RAM weigher fixture: free RAM 512, 1024, 3072 and 8192 MB.
NOVA_RAM_HOSTS = [dict(host="host1", free_ram_mb=512),
                  dict(host="host2", free_ram_mb=1024),
                  dict(host="host3", free_ram_mb=3072),
                  dict(host="host4", free_ram_mb=8192)]


def ram_weights(hosts=NOVA_RAM_HOSTS, aggregates=(), **options):
    conf = make_conf(**options)
    return weights_by_host([resources.RAMWeigher(conf)],
                           table_of(hosts, aggregates), make_request())


def best(weighed):
    host = max(weighed, key=weighed.get)
    return host, weighed[host]


# --- RAMWeigher (items 10-12) ------------------------------------------------

def test_ram_spreads_by_default():
    # minval 0: each host weighs free/8192, host4 the most with 1.0
    assert ram_weights() == pytest.approx({
        "host1": 0.0625, "host2": 0.125, "host3": 0.375, "host4": 1.0})


def test_ram_multiplier_zero_weighs_every_host_zero():
    assert set(ram_weights(ram_weight_multiplier=0.0).values()) == {0.0}


def test_ram_multiplier_two_doubles_the_best_weight():
    assert best(ram_weights(ram_weight_multiplier=2.0)) == ("host4", 2.0)


def test_ram_negative_multiplier_stacks():
    # -1 * free/8192: host1 loses least, so it wins
    assert best(ram_weights(ram_weight_multiplier=-1.0)) == \
        ("host1", -0.0625)


def test_ram_negative_free_ram_weighs_as_none():
    # Nova 34 clamps -512 to minval 0: the range stays 0..8192, host4
    # 1.0, host1 512/8192, the overcommitted host 0 (as a full one)
    got = ram_weights(NOVA_RAM_HOSTS + [dict(host="negative",
                                             free_ram_mb=-512)])
    assert best(got) == ("host4", 1.0)
    assert got["negative"] == 0.0
    assert min(got, key=got.get) == "negative"
    assert got["host1"] == 512 / 8192


def test_ram_aggregate_multiplier_overrides_the_config():
    got = ram_weights(aggregates=[("agg1", {"host4"},
                                   {"ram_weight_multiplier": "1.5"})],
                      ram_weight_multiplier=2.0)
    # host4: 1.0 * 1.5 (aggregate); host3: 0.375 * 2.0 (config)
    assert got["host4"] == 1.5
    assert got["host3"] == 0.75


def test_ram_smallest_aggregate_multiplier_wins():
    got = ram_weights(aggregates=[
        ("agg1", {"host4"}, {"ram_weight_multiplier": "2.0"}),
        ("agg2", {"host4"}, {"ram_weight_multiplier": "1.5"})])
    assert best(got) == ("host4", 1.5)


def test_ram_bad_aggregate_multiplier_falls_back_to_the_config():
    got = ram_weights(aggregates=[
        ("agg1", {"host4"}, {"ram_weight_multiplier": "XXX"})],
        ram_weight_multiplier=3.0)
    assert best(got) == ("host4", 3.0)


# --- CPUWeigher --------------------------------------------------------------

def test_cpu_weighs_free_vcpus_after_overcommit():
    # free: 4*16-0 = 64, 8*2-4 = 12, 16*1-0 = 16; minval 0, max 64
    hosts = [dict(host="host1", vcpus=4, cpu_allocation_ratio=16.0),
             dict(host="host2", vcpus=8, vcpus_used=4,
                  cpu_allocation_ratio=2.0),
             dict(host="host3", vcpus=16, cpu_allocation_ratio=1.0)]
    got = weights_by_host([resources.CPUWeigher(make_conf())],
                          table_of(hosts), make_request())
    assert got == pytest.approx({"host1": 1.0, "host2": 12 / 64,
                                 "host3": 16 / 64})


def test_cpu_negative_host_weighs_as_none():
    # free: 4, 8, 16 and 4-6 = -2, clamped to 0 -> range 0..16
    hosts = [dict(host="host1", vcpus=4), dict(host="host2", vcpus=8),
             dict(host="host3", vcpus=16),
             dict(host="negative", vcpus=4, vcpus_used=6)]
    hosts = [dict(h, cpu_allocation_ratio=1.0) for h in hosts]
    got = weights_by_host([resources.CPUWeigher(make_conf())],
                          table_of(hosts), make_request())
    assert got == {"host1": 4 / 16, "host2": 8 / 16, "host3": 1.0,
                   "negative": 0.0}


def test_cpu_multiplier_from_config_and_aggregate():
    hosts = [dict(host="host1", vcpus=4, cpu_allocation_ratio=1.0),
             dict(host="host2", vcpus=8, cpu_allocation_ratio=1.0)]
    got = weights_by_host(
        [resources.CPUWeigher(make_conf(cpu_weight_multiplier=-2.0))],
        table_of(hosts, [("agg", {"host2"}, {"cpu_weight_multiplier": "3"})]),
        make_request())
    # 4/8 = 0.5 * -2.0 (config); 1.0 * 3 (aggregate)
    assert got == {"host1": -1.0, "host2": 3.0}


# --- DiskWeigher -------------------------------------------------------------

def test_disk_weighs_free_disk_including_disk_available_least():
    # free MB: 100 GB; min(80, 30) = 30 GB; 10 GB -> minval 0, max 100 GB
    hosts = [dict(host="host1", local_gb=100),
             dict(host="host2", local_gb=80, disk_available_least=30),
             dict(host="host3", local_gb=10)]
    got = weights_by_host([resources.DiskWeigher(make_conf())],
                          table_of(hosts), make_request())
    assert got == pytest.approx({"host1": 1.0, "host2": 0.3, "host3": 0.1})


def test_disk_negative_free_disk_ranks_last_with_zero():
    hosts = [dict(host="host1", local_gb=100),
             dict(host="negative", local_gb=10, local_gb_used=20)]
    got = weights_by_host(
        [resources.DiskWeigher(make_conf(disk_weight_multiplier=2.0))],
        table_of(hosts), make_request())
    assert got == {"host1": 2.0, "negative": 0.0}


# --- vectorized == Nova host by host -----------------------------------------

RAM_HOST = st.fixed_dictionaries({"free_ram_mb": st.integers(-4096, 65536)})
CPU_HOST = st.fixed_dictionaries({
    "vcpus": st.integers(0, 64), "vcpus_used": st.integers(0, 128),
    "cpu_allocation_ratio": st.sampled_from([0.5, 1.0, 1.5, 4.0, 16.0])})
DISK_HOST = st.fixed_dictionaries({
    "local_gb": st.integers(0, 2000), "local_gb_used": st.integers(0, 2500),
    "disk_available_least": st.none() | st.integers(-100, 2000)})
MULTIPLIERS = st.sampled_from([1.0, 0.0, -1.0, 2.5])


def free_disk_mb(host):
    """Nova's HostState: min(free_disk_gb, disk_available_least) * 1024."""
    free_gb = host["local_gb"] - host["local_gb_used"]
    least = host["disk_available_least"]
    return (free_gb if least is None else min(free_gb, least)) * 1024


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(drawn=hosts_and_aggregates(RAM_HOST,
                                             "ram_weight_multiplier"),
                  multiplier=MULTIPLIERS)
def test_ram_matches_nova(drawn, multiplier):
    hosts, aggregates, subset = drawn
    assert_matches_nova(
        resources.RAMWeigher(make_conf(ram_weight_multiplier=multiplier)),
        hosts, aggregates, make_request(), lambda h: h["free_ram_mb"],
        multiplier, minval=0, subset=subset)


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(drawn=hosts_and_aggregates(CPU_HOST,
                                             "cpu_weight_multiplier"),
                  multiplier=MULTIPLIERS)
def test_cpu_matches_nova(drawn, multiplier):
    hosts, aggregates, subset = drawn
    assert_matches_nova(
        resources.CPUWeigher(make_conf(cpu_weight_multiplier=multiplier)),
        hosts, aggregates, make_request(),
        lambda h: h["vcpus"] * h["cpu_allocation_ratio"] - h["vcpus_used"],
        multiplier, minval=0, subset=subset)


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(drawn=hosts_and_aggregates(DISK_HOST,
                                             "disk_weight_multiplier"),
                  multiplier=MULTIPLIERS)
def test_disk_matches_nova(drawn, multiplier):
    hosts, aggregates, subset = drawn
    assert_matches_nova(
        resources.DiskWeigher(make_conf(disk_weight_multiplier=multiplier)),
        hosts, aggregates, make_request(), free_disk_mb, multiplier,
        minval=0, subset=subset)
