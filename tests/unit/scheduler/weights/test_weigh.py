"""The weighing framework: Nova's normalisation, the handler (weigh), the
aggregate multiplier override and loading weighers by name."""
import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

from hoststate.scheduler import weights
from hoststate.scheduler.weights import affinity
from hoststate.scheduler.weights import counters
from hoststate.scheduler.weights import cross_cell
from hoststate.scheduler.weights import metrics
from hoststate.scheduler.weights import pci
from hoststate.scheduler.weights import resources
from support.host_tables import all_rows

from .weigher_support import (make_conf, make_request, nova_normalize,
                              nova_weigh, table_of, weigher, weights_by_host)


# --- normalize (Nova conformance item 8) -------------------------------------

@pytest.mark.parametrize("values,minval,maxval,expected", [
    # observed range 20..50: 20 -> 0, 50 -> 1
    ((20, 50), None, None, (0.0, 1.0)),
    # range 20..100: (50-20)/80 = 0.375
    ((20, 50), None, 100, (0.0, 0.375)),
    # range 0..50: 20/50 = 0.4
    ((20, 50), 0, None, (0.4, 1.0)),
    # range 0..100: 0.2 and 0.5
    ((20, 50), 0, 100, (0.2, 0.5)),
    # no spread: every value weighs 0
    ((20, 20), None, None, (0.0, 0.0)),
    ((7,), None, None, (0.0,)),
    ((), None, None, ()),
])
def test_normalize_table(values, minval, maxval, expected):
    got = weights.normalize(list(values), minval, maxval)
    assert tuple(got.tolist()) == pytest.approx(expected)
    assert tuple(nova_normalize(list(values), minval, maxval)) == \
        pytest.approx(expected)


@pytest.mark.parametrize("values,minval,maxval,expected", [
    # raw weights clamped into minval..maxval, then the range is
    # minval..maxval where set, else what the clamped weights span
    ([20, 50], None, None, (20, 50)),
    ([20, 50], 0, None, (0, 50)),
    ([20, 50], 30, 40, (30, 40)),
    ([-5, 50], 0, 100, (0, 100)),
    ([-5, -50], 0, None, (0, 0)),
])
def test_bounds_of_clamped_weights_are_nova_34s(values, minval, maxval,
                                                expected):
    clamped = weights.clamped(np.array(values, dtype=float), minval, maxval)
    assert weights.bounds(clamped, minval, maxval) == expected


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(
    raws=st.lists(st.integers(-1000, 1000), min_size=0, max_size=8),
    minval=st.none() | st.integers(-10, 10),
    maxval=st.none() | st.integers(-10, 10))
def test_clamp_then_normalize_is_nova_34(raws, minval, maxval):
    # Nova 34 clamps each raw weight into the weigher's bounds, then
    # normalises over them
    multipliers = [1.0] * len(raws)
    expected = nova_weigh(raws, multipliers, minval, maxval)
    if len(raws) <= 1:
        assert expected == [0.0] * len(raws)
        return
    array = weights.clamped(np.array(raws, dtype=float), minval, maxval)
    got = weights.normalize(array, *weights.bounds(array, minval, maxval))
    assert got.tolist() == pytest.approx(expected)


def test_an_over_committed_host_does_not_change_the_others_weights():
    """Issue 13, case 1: free RAM 200000, 100000, -50000 (ratio 1.5) and
    20000 MiB; free vCPUs 2, 100, 200 and 172. Clamped at 0, RAM weighs
    1, 0.5, 0 and 0.1; vCPUs 0.01, 0.5, 1 and 0.86: the first host wins
    (1.01 against 1.0, 1.0 and 0.96), as Nova 34 picks it. Normalising
    over -50000..200000 instead gave the fourth."""
    conf = make_conf()
    table = table_of([dict(host, cpu_allocation_ratio=1.0) for host in (
        dict(host="host1", free_ram_mb=200000, vcpus=2),
        dict(host="host2", free_ram_mb=100000, vcpus=100),
        dict(host="host3", free_ram_mb=-50000, memory_mb=100000,
             ram_allocation_ratio=1.5, vcpus=200),
        dict(host="host4", free_ram_mb=20000, vcpus=172))])
    got = weights_by_host([resources.RAMWeigher(conf),
                           resources.CPUWeigher(conf)], table, make_request())
    assert got == pytest.approx({"host1": 1.0 + 0.01, "host2": 0.5 + 0.5,
                                 "host3": 0.0 + 1.0, "host4": 0.1 + 0.86})
    assert max(got, key=got.get) == "host1"


# --- weigh (item 9, sums over weighers) --------------------------------------

class ExplodingWeigher(weights.BaseHostWeigher):
    """Fails the test if it is ever asked for weights."""

    multiplier_option = "ram_weight_multiplier"

    def raw_weights(self, table, rows, request):
        raise AssertionError("a weigher ran for a single host")


def test_a_single_host_weighs_zero_without_running_weighers():
    table = table_of([dict(host="host1", free_ram_mb=512)])
    weighers = [ExplodingWeigher(make_conf()),
                weigher(resources.RAMWeigher)]
    assert weights_by_host(weighers, table, make_request()) == {
        "host1": 0.0}


def test_no_candidates_weigh_nothing():
    table = table_of([dict(host="host1", free_ram_mb=512)])
    got = weights.weigh([ExplodingWeigher(make_conf())], table,
                        np.zeros(0, dtype=np.intp), make_request())
    assert got.shape == (0,)


def test_no_weighers_weigh_zero():
    table = table_of([dict(host="host1"), dict(host="host2")])
    assert weights_by_host([], table, make_request()) == {
        "host1": 0.0, "host2": 0.0}


def test_weights_sum_over_weighers_each_with_its_multiplier():
    # RAM (minval 0): 1024/4096 = 0.25 and 1.0, times 2.0 -> 0.5, 2.0
    # disk (minval 0): free 100 GB and 25 GB -> 1.0 and 0.25, times 1.0
    # io ops (minval 0): 4 and 0 -> 1.0 and 0.0, times -1.0 (default)
    conf = make_conf(ram_weight_multiplier=2.0)
    table = table_of([
        dict(host="host1", free_ram_mb=1024, local_gb=100,
             stats={"io_workload": "4"}),
        dict(host="host2", free_ram_mb=4096, local_gb=25),
    ])
    weighers = [resources.RAMWeigher(conf), resources.DiskWeigher(conf),
                counters.IoOpsWeigher(conf)]
    assert weights_by_host(weighers, table, make_request()) == \
        pytest.approx({"host1": 0.5 + 1.0 - 1.0, "host2": 2.0 + 0.25 - 0.0})


def test_weigh_follows_the_order_of_rows():
    table = table_of([dict(host="host1", free_ram_mb=1024),
                      dict(host="host2", free_ram_mb=4096),
                      dict(host="host3", free_ram_mb=2048)])
    rows = all_rows(table)[[2, 0]]
    got = weights.weigh([weigher(resources.RAMWeigher)], table, rows,
                        make_request())
    # only host3 (2048) and host1 (1024) are weighed: 1.0 and 0.5
    assert got.tolist() == [1.0, 0.5]


# --- aggregate multipliers (item 12's rules, for the framework) --------------

@pytest.mark.parametrize("metadata,expected", [
    ([], 1.0),                                  # no override: config
    ([{"ram_weight_multiplier": "2.0"}], 2.0),
    # several aggregates: the minimum wins
    ([{"ram_weight_multiplier": "2.0"},
      {"ram_weight_multiplier": "1.5"}], 1.5),
    # a value that is not a number: the config, even beside a good one
    ([{"ram_weight_multiplier": "XXX"}], 1.0),
    ([{"ram_weight_multiplier": "0.5"},
      {"ram_weight_multiplier": "XXX"}], 1.0),
    # other keys do not count
    ([{"cpu_weight_multiplier": "0.5"}], 1.0),
    ([{"ram_weight_multiplier": "-3"}, {}], -3.0),
])
def test_aggregate_multiplier_rules(metadata, expected):
    aggregates = [(f"agg{i}", {"host1"}, m) for i, m in enumerate(metadata)]
    table = table_of([dict(host="host1"), dict(host="host2")], aggregates)
    got = weights.aggregate_multipliers(table, all_rows(table),
                                        "ram_weight_multiplier", 1.0)
    assert got.tolist() == [expected, 1.0]


# --- item 12 for every weigher (aggregate override) --------------------------

#: (weigher, aggregate key, config multiplier read from conf, sign)
EVERY_WEIGHER = [
    (resources.RAMWeigher, "ram_weight_multiplier", 1.0, 1),
    (resources.CPUWeigher, "cpu_weight_multiplier", 1.0, 1),
    (resources.DiskWeigher, "disk_weight_multiplier", 1.0, 1),
    (counters.IoOpsWeigher, "io_ops_weight_multiplier", -1.0, 1),
    (counters.NumInstancesWeigher, "num_instances_weight_multiplier", 0.0,
     1),
    (counters.HypervisorVersionWeigher,
     "hypervisor_version_weight_multiplier", 1.0, 1),
    (counters.BuildFailureWeigher, "build_failure_weight_multiplier",
     1000000.0, -1),
    (pci.PCIWeigher, "pci_weight_multiplier", 1.0, 1),
    (affinity.ServerGroupSoftAffinityWeigher,
     "soft_affinity_weight_multiplier", 1.0, 1),
    (affinity.ServerGroupSoftAntiAffinityWeigher,
     "soft_anti_affinity_weight_multiplier", 1.0, 1),
    (cross_cell.CrossCellWeigher, "cross_cell_move_weight_multiplier",
     1000000.0, 1),
    (metrics.MetricsWeigher, "metrics_weight_multiplier", 1.0, 1),
]


@pytest.mark.parametrize("cls,key,default,sign", EVERY_WEIGHER,
                         ids=[c[0].__name__ for c in EVERY_WEIGHER])
def test_every_weigher_takes_the_smallest_aggregate_multiplier(
        cls, key, default, sign):
    # host1: aggregates 2 and 1.5 -> 1.5; host2: none -> Nova's default;
    # host3: a bad value -> default
    table = table_of(
        [dict(host="host1"), dict(host="host2"), dict(host="host3")],
        [("agg1", {"host1"}, {key: "2"}),
         ("agg2", {"host1", "host3"}, {key: "1.5"}),
         ("agg3", {"host3"}, {key: "many"})])
    got = cls(make_conf()).multipliers(table, all_rows(table),
                                       make_request())
    assert got.tolist() == [sign * 1.5, sign * default, sign * default]


# --- load --------------------------------------------------------------------

ALL = ["BuildFailureWeigher", "CPUWeigher", "CrossCellWeigher",
       "DiskWeigher", "HypervisorVersionWeigher", "IoOpsWeigher",
       "MetricsWeigher", "NumInstancesWeigher", "PCIWeigher", "RAMWeigher",
       "ServerGroupSoftAffinityWeigher", "ServerGroupSoftAntiAffinityWeigher"]


def test_load_all_gives_every_weigher():
    loaded = weights.load(make_conf())
    assert sorted(w.name for w in loaded) == ALL
    assert all(isinstance(w, weights.BaseHostWeigher) for w in loaded)


def test_load_named_weighers_in_the_configured_order():
    conf = make_conf(weight_classes=["RAMWeigher", "PCIWeigher"])
    assert [w.name for w in weights.load(conf)] == ["RAMWeigher",
                                                    "PCIWeigher"]


def test_every_weigher_reads_a_registered_multiplier():
    conf = make_conf()
    for loaded in weights.load(conf):
        assert isinstance(loaded.config_multiplier(), float), loaded.name
