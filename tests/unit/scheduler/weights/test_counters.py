"""IoOpsWeigher, NumInstancesWeigher, BuildFailureWeigher and
HypervisorVersionWeigher: Nova conformance item 13 and the vectorized
weights against Nova's host-by-host weighing."""
import hypothesis
import hypothesis.strategies as st
import pytest

from hoststate.scheduler.weights import counters

from .weigher_support import (assert_matches_nova, hosts_and_aggregates,
                              make_conf, make_request, table_of,
                              weights_by_host)


def weigh_one(cls, hosts, aggregates=(), **options):
    return weights_by_host([cls(make_conf(**options))],
                           table_of(hosts, aggregates), make_request())


# --- BuildFailureWeigher (item 13) -------------------------------------------

def failing_hosts(*failures):
    return [dict(host=f"host{i}", stats={"failed_builds": str(count)})
            for i, count in enumerate(failures, 1)]


def test_build_failures_scaled_by_the_multiplier():
    # normalised 0, 0.01, 0.1, 1 (no minval), times -1000
    got = weigh_one(counters.BuildFailureWeigher, failing_hosts(0, 1, 10, 100),
                    build_failure_weight_multiplier=1000.0)
    assert list(got.values()) == pytest.approx([0, -10, -100, -1000])


def test_build_failures_default_multiplier_dwarfs_the_others():
    # 1 of 2 failures -> 0.5 * -1e6
    got = weigh_one(counters.BuildFailureWeigher, failing_hosts(0, 1, 2))
    assert got == {"host1": 0.0, "host2": -500000.0, "host3": -1000000.0}


def test_build_failures_are_negated_after_the_aggregate_override():
    got = weigh_one(counters.BuildFailureWeigher, failing_hosts(0, 4),
                    [("agg", {"host2"},
                      {"build_failure_weight_multiplier": "10"})])
    assert got == {"host1": 0.0, "host2": -10.0}


def test_build_failure_multiplier_zero_ignores_failures():
    got = weigh_one(counters.BuildFailureWeigher, failing_hosts(0, 4),
                    build_failure_weight_multiplier=0.0)
    assert set(got.values()) == {0.0}


# --- IoOpsWeigher ------------------------------------------------------------

def io_hosts(*workloads):
    return [dict(host=f"host{i}", stats={"io_workload": str(count)})
            for i, count in enumerate(workloads, 1)]


def test_io_ops_default_prefers_the_least_busy_host():
    # minval 0: 2/8 and 8/8, times -1; the idle host keeps 0
    got = weigh_one(counters.IoOpsWeigher, io_hosts(0, 2, 8))
    assert got == {"host1": 0.0, "host2": -0.25, "host3": -1.0}
    assert max(got, key=got.get) == "host1"


def test_io_ops_minval_zero_keeps_the_least_busy_apart_from_idle():
    # with minval 0, 4 of 8 is 0.5 (not 0 as the least busy candidate)
    got = weigh_one(counters.IoOpsWeigher, io_hosts(4, 8),
                    io_ops_weight_multiplier=1.0)
    assert got == {"host1": 0.5, "host2": 1.0}


# --- NumInstancesWeigher -----------------------------------------------------

def instance_hosts(*counts):
    return [dict(host=f"host{i}", stats={"num_instances": str(count)})
            for i, count in enumerate(counts, 1)]


def test_num_instances_is_off_by_default():
    got = weigh_one(counters.NumInstancesWeigher, instance_hosts(1, 5, 10))
    assert set(got.values()) == {0.0}


@pytest.mark.parametrize("multiplier,expected", [
    # 0..10: 5/10 and 10/10
    (-1.0, {"host1": 0.0, "host2": -0.5, "host3": -1.0}),
    (2.0, {"host1": 0.0, "host2": 1.0, "host3": 2.0}),
])
def test_num_instances_spreads_or_packs(multiplier, expected):
    got = weigh_one(counters.NumInstancesWeigher, instance_hosts(0, 5, 10),
                    num_instances_weight_multiplier=multiplier)
    assert got == expected


def test_num_instances_normalises_over_the_counts_it_sees():
    """Nova 34's NumInstancesWeigher has no minval: 5 and 10 instances
    span 5..10 (0 and 1), not 0..10 (0.5 and 1)."""
    got = weigh_one(counters.NumInstancesWeigher, instance_hosts(5, 10),
                    num_instances_weight_multiplier=1.0)
    assert got == {"host1": 0.0, "host2": 1.0}


# --- HypervisorVersionWeigher ------------------------------------------------

def test_hypervisor_version_prefers_newer_hosts():
    # no minval: 6000000..8002000 -> 0, 0.5, 1
    hosts = [dict(host="host1", hypervisor_version=6000000),
             dict(host="host2", hypervisor_version=7001000),
             dict(host="host3", hypervisor_version=8002000)]
    assert weigh_one(counters.HypervisorVersionWeigher, hosts) == \
        pytest.approx({"host1": 0.0, "host2": 0.5, "host3": 1.0})


def test_hypervisor_version_unknown_counts_as_zero():
    hosts = [dict(host="host1", hypervisor_version=None),
             dict(host="host2", hypervisor_version=2000)]
    got = weigh_one(counters.HypervisorVersionWeigher, hosts,
                    hypervisor_version_weight_multiplier=-1.0)
    assert got == {"host1": 0.0, "host2": -1.0}


# --- vectorized == Nova host by host -----------------------------------------

MULTIPLIERS = st.sampled_from([1.0, 0.0, -1.0, 3.0])
STATS_HOST = st.fixed_dictionaries({"stats": st.fixed_dictionaries({
    "io_workload": st.integers(0, 50),
    "num_instances": st.integers(0, 200),
    "failed_builds": st.integers(0, 20)})})
VERSION_HOST = st.fixed_dictionaries({
    "hypervisor_version": st.none() | st.integers(0, 10_000_000)})


def stat(name):
    return lambda host: int(host["stats"][name])


@pytest.mark.parametrize("cls,key,stat_name,minval,sign", [
    (counters.IoOpsWeigher, "io_ops_weight_multiplier", "io_workload", 0,
     1.0),
    (counters.NumInstancesWeigher, "num_instances_weight_multiplier",
     "num_instances", None, 1.0),
    # Nova negates the build failure multiplier; no minval
    (counters.BuildFailureWeigher, "build_failure_weight_multiplier",
     "failed_builds", None, -1.0),
])
def test_stats_counters_match_nova(cls, key, stat_name, minval, sign):
    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(drawn=hosts_and_aggregates(STATS_HOST, key),
                      multiplier=MULTIPLIERS)
    def check(drawn, multiplier):
        hosts, aggregates, subset = drawn
        assert_matches_nova(cls(make_conf(**{key: multiplier})), hosts,
                            aggregates, make_request(), stat(stat_name),
                            multiplier, minval=minval, sign=sign,
                            subset=subset)
    check()


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(drawn=hosts_and_aggregates(
    VERSION_HOST, "hypervisor_version_weight_multiplier"),
    multiplier=MULTIPLIERS)
def test_hypervisor_version_matches_nova(drawn, multiplier):
    hosts, aggregates, subset = drawn
    assert_matches_nova(
        counters.HypervisorVersionWeigher(make_conf(
            hypervisor_version_weight_multiplier=multiplier)),
        hosts, aggregates, make_request(),
        lambda h: h["hypervisor_version"] or 0, multiplier, subset=subset)
