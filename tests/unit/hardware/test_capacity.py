"""The capacity rule (hoststate.hardware.capacity): the rule on numbers,
its vector face over HostTable rows, its scalar face over one node, and
the Shortfall a "does not fit" answer is made of. Results worked out by
hand in the comments."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons
from hoststate.objects import compute_node as cn_obj
from support.host_tables import all_rows, make_table, node_record

Shortfall = capacity.Shortfall


def own_conf(**options):
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    for name, value in options.items():
        conf.set_override(name, value)
    return conf


# --- the rule on numbers -------------------------------------------------------

@pytest.mark.parametrize("requested, total, ratio, used, fits", [
    (4, 8, 1.0, 4, True),        # 8 - 4 = 4: exactly fits
    (5, 8, 1.0, 4, False),       # 4 free
    (4, 8, 1.5, 8, True),        # 12 - 8 = 4
    (9, 8, 16.0, 0, False),      # 128 free, but larger than the node
    (8, 8, 16.0, 120, True),     # 128 - 120 = 8, and 8 <= 8
    (1, 8, 1.0, 9, False),       # over-committed: -1 free
    (0, 8, 1.0, 9, False),       # even nothing does not fit there
    (0, 8, 1.0, 8, True),        # nothing fits a full node
    (0, 0, 1.0, 0, True),        # nothing fits an empty node of nothing
    (1, 0, 16.0, 0, False),      # a node of 0 holds nothing
    (1, 0, np.inf, 0, False),    # inf * 0 is NaN: fits nothing
])
def test_fits(requested, total, ratio, used, fits):
    assert bool(capacity.fits(requested, total, ratio, used)) is fits


@pytest.mark.parametrize("requested, total, ratio, used, fits", [
    (100, 0, 16.0, 0, True),     # no vCPUs reported: passes
    (5, 4, 16.0, 0, False),      # more than the physical count
    (4, 4, 16.0, 60, True),      # 64 - 60 = 4
    (4, 4, 16.0, 61, False),
    (4, 4, np.nan, 0, True),     # an unknown count passes...
    (5, 4, np.nan, 0, True),     # ...larger or not: no positive limit
])
def test_fits_without_trusting_counts_is_nova_core_filter(
        requested, total, ratio, used, fits):
    assert bool(capacity.fits(requested, total, ratio, used,
                              trust_counts=False)) is fits


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(requested=st.integers(0, 20), total=st.integers(0, 10),
       ratio=st.sampled_from([0.5, 1.0, 1.5, 3.0, 16.0]),
       used=st.integers(0, 40), trust=st.booleans())
def test_room_is_the_largest_request_that_fits(requested, total, ratio,
                                                used, trust):
    room = capacity.room(np.array([total], dtype=float), ratio,
                         np.array([used], dtype=float), trust_counts=trust)
    assert bool(capacity.fits(requested, total, ratio, used,
                              trust_counts=trust)) is \
        bool(requested <= room[0])


@pytest.mark.parametrize("requested, total, ratio, used, count", [
    (3, 8, 1.0, 0, 2),           # 8 free: 2 of 3
    (2, 8, 16.0, 0, 64),         # 128 free, 2 each: over-commit counts
    (9, 8, 16.0, 0, 0),          # larger than the node
    (0, 8, 1.0, 8, math.inf),    # takes nothing: limits nothing,
    (0, 8, 1.0, 9, math.inf),    # over-committed already or not
    (1, 8, 1.0, 10, 0),          # over-committed: never negative
])
def test_count_that_fit(requested, total, ratio, used, count):
    found = capacity.count_that_fit(requested, np.array([float(total)]),
                                    ratio, np.array([float(used)]))
    assert found.tolist() == [count]


def test_wanted_disk_rounds_up_to_whole_gib():
    # 10 GiB root + 5 ephemeral + 512 MiB swap = 15872 MiB -> 16 GiB
    assert capacity.Wanted.from_disk_mb(2, 1024, 15872) == \
        capacity.Wanted(2, 1024, 16)
    assert capacity.Wanted.from_disk_mb(1, 1, 0).disk_gb == 0
    assert capacity.Wanted.from_disk_mb(1, 1, 1).disk_gb == 1
    assert capacity.Wanted.from_disk_mb(1, 1, 2048).disk_gb == 2


# --- shortfalls --------------------------------------------------------------

@pytest.mark.parametrize("shortfall, text", [
    (Shortfall("memory_mb", 2048, free=1024.0, capacity=6144.0,
               node="n1", total=4096),
     "memory_mb: requested 2048 MiB, free 1024 MiB of 6144 MiB"),
    (Shortfall("vcpus", 5, free=16.0, capacity=16.0, node="n1", total=4),
     "vcpus: requested 5, more than the node's 4 in all"),
    (Shortfall("disk_gb", 11, free=-2.5, capacity=22.5, node="n1",
               total=15),
     "disk_gb: requested 11 GiB, free -2.5 GiB of 22.5 GiB"),
    # summed up over several nodes: the most any could give
    (Shortfall("memory_mb", 9000.0, free=8192.0),
     "memory_mb: requested 9000 MiB, at most 8192 MiB free"),
    (Shortfall("disk_gb", 15.5, free=10.25),
     "disk_gb: requested 15.5 GiB, at most 10.25 GiB free"),
    (Shortfall("numa", node="n1", detail="no cell has 4 free CPUs"),
     "NUMA: no cell has 4 free CPUs"),
    (Shortfall("pci", detail="no free devices match 2 x [...]"),
     "PCI: no free devices match 2 x [...]"),
])
def test_a_shortfall_reads_as_a_sentence(shortfall, text):
    assert str(shortfall) == text


def test_a_shortfall_is_frozen_and_compares_by_value():
    short = Shortfall("vcpus", 2, free=1.0, capacity=4.0, node="n1", total=4)
    assert short == Shortfall("vcpus", 2, 1.0, 4.0, "n1", 4)
    with pytest.raises(AttributeError):
        short.free = 2.0


def test_errors_carry_shortfalls_beside_their_text():
    short = Shortfall("vcpus", 5, free=16.0, capacity=16.0, node="n1",
                      total=4)
    for error in (exception.ClaimRejected, exception.ComputeResourcesUnavailable):
        raised = error(node="n1", reasons=[short, "the node was deleted"])
        assert isinstance(raised, exception.DoesNotFit)
        assert raised.shortfalls == [short]
        assert raised.reasons == [
            "vcpus: requested 5, more than the node's 4 in all",
            "the node was deleted"]
        assert raised.node == "n1"
        assert "vcpus: requested 5, more than the node's 4 in all; the " \
               "node was deleted" in str(raised)


# --- the vector face ----------------------------------------------------------

def _table():
    return make_table([
        # 8 vCPUs x 2.0 - 14 = 2; 8192 x 1.0 - 4096 = 4096; 100 - 90 = 10
        dict(host="host1", vcpus=8, vcpus_used=14, cpu_allocation_ratio=2.0,
             memory_mb=8192, memory_mb_used=4096, ram_allocation_ratio=1.0,
             local_gb=100, local_gb_used=90, disk_allocation_ratio=1.0),
        # 4 x 16.0 - 0 = 64 (at most 4 each); 2048 x 1.5 - 0 = 3072 (at
        # most 2048 each); 20 x 1.0 - 0 = 20, disk_available_least 1 (the
        # filters' free disk, never the claim's)
        dict(host="host2", vcpus=4, vcpus_used=0, cpu_allocation_ratio=16.0,
             memory_mb=2048, memory_mb_used=0, ram_allocation_ratio=1.5,
             local_gb=20, local_gb_used=0, disk_available_least=1,
             disk_allocation_ratio=1.0)])


def test_table_view_reads_the_claim_units():
    table = _table()
    view = capacity.table_view(table, all_rows(table))
    assert {r: [list(map(float, c)) for c in v] for r, v in view.items()} \
        == {"vcpus": [[8, 4], [2, 16], [14, 0]],
            "memory_mb": [[8192, 2048], [1, 1.5], [4096, 0]],
            "disk_gb": [[100, 20], [1, 1], [90, 0]]}


@pytest.mark.parametrize("wanted, fits", [
    ((2, 2048, 10), [True, True]),
    ((3, 2048, 10), [False, True]),       # host1: 2 vCPUs free
    ((5, 1024, 1), [False, False]),       # host2: larger than its 4
    ((1, 3072, 1), [True, False]),        # host2: 3072 free, 2048 in all
    ((1, 1024, 11), [False, True]),       # host1: 10 GiB free
    ((1, 4097, 1), [False, False]),
])
def test_fits_on_rows(wanted, fits):
    table = _table()
    mask = capacity.fits_on_rows(table, all_rows(table),
                                 capacity.Wanted(*wanted))
    assert mask.tolist() == fits


@pytest.mark.parametrize("wanted, fits", [
    ((2, 2048, 10), [True, True]),
    ((3, 2048, 10), [False, True]),
    ((5, 1024, 1), [False, False]),
    ((1, 3072, 1), [True, False]),
    ((1, 1024, 11), [False, True]),
])
def test_fits_on_row_is_fits_on_rows_for_one_row(wanted, fits):
    table = _table()
    assert [capacity.fits_on_row(table, int(row), capacity.Wanted(*wanted))
            for row in all_rows(table)] == fits


@settings(max_examples=200, deadline=None)
@given(node=st.fixed_dictionaries({
    "vcpus": st.integers(0, 16), "vcpus_used": st.integers(0, 40),
    "cpu_allocation_ratio": st.sampled_from([0.0, 0.5, 1.0, 16.0,
                                             math.inf]),
    "memory_mb": st.integers(0, 8192), "memory_mb_used": st.integers(0, 9000),
    "ram_allocation_ratio": st.sampled_from([0.0, 1.0, 1.5]),
    "local_gb": st.integers(0, 100), "local_gb_used": st.integers(0, 120),
    "disk_allocation_ratio": st.sampled_from([0.0, 1.0, 2.0])}),
    wanted=st.tuples(st.integers(0, 20), st.integers(0, 9000),
                     st.integers(0, 150)))
def test_fits_on_row_agrees_with_the_vector_face(node, wanted):
    table = make_table([dict(host="host1", **node)])
    [row] = all_rows(table)
    wanted = capacity.Wanted(*wanted)
    assert capacity.fits_on_row(table, int(row), wanted) == \
        bool(capacity.fits_on_rows(table, np.array([row]), wanted)[0])


def test_instances_that_fit_per_row_and_in_all():
    table = _table()
    rows = all_rows(table)
    # host1: min(2 // 1, 4096 // 1024, 10 // 5) = 2;
    # host2: min(64 // 1, 3072 // 1024, 20 // 5) = 3
    wanted = capacity.Wanted(1, 1024, 5)
    assert capacity.instances_that_fit(table, rows, wanted,
                                       per_row=True).tolist() == [2.0, 3.0]
    assert capacity.instances_that_fit(table, rows, wanted) == 5.0
    # an instance that takes nothing fits without end
    assert capacity.instances_that_fit(
        table, rows, capacity.Wanted(0, 0, 0)) == math.inf


def test_shortfalls_on_rows_name_what_no_row_has_room_for():
    table = _table()
    rows = all_rows(table)
    # vcpus: the most one instance gets is min(8, 2) = 2 and min(4, 64) =
    # 4; memory: min(8192, 4096), min(2048, 3072); disk: 10 and 20
    assert capacity.shortfalls_on_rows(
        table, rows, capacity.Wanted(5, 4096, 21)) == [
        Shortfall("vcpus", 5.0, 4.0), Shortfall("disk_gb", 21.0, 20.0)]
    assert capacity.shortfalls_on_rows(
        table, rows, capacity.Wanted(4, 4096, 20)) == []
    assert capacity.shortfalls_on_rows(
        table, rows[:0], capacity.Wanted(1, 1, 0)) == [
        Shortfall("vcpus", 1.0, 0.0), Shortfall("memory_mb", 1.0, 0.0)]


def test_largest_vcpus_of_the_candidates():
    table = _table()
    assert capacity.largest_vcpus(table) == 8
    assert capacity.largest_vcpus(make_table([])) == 0


# --- the scalar face ------------------------------------------------------------

def _row(**values):
    record = node_record(host="host1", vcpus=4, vcpus_used=3,
                         memory_mb=4096, memory_mb_used=3072, local_gb=20,
                         local_gb_used=0, cpu_allocation_ratio=1.0,
                         ram_allocation_ratio=None, disk_allocation_ratio=0.0)
    record.update(values)
    return record


def test_node_shortfalls_of_a_row_resolve_unset_ratios_from_conf():
    # ram ratio unset -> the configured 2.0: 8192 - 3072 = 5120 free;
    # disk 0.0 -> initial 1.0: 20 free; cpu 4 x 1.0 - 3 = 1 free
    conf = own_conf(ram_allocation_ratio=2.0)
    wanted = capacity.Wanted(2, 4096, 21)
    assert capacity.node_shortfalls(_row(), wanted, conf) == [
        Shortfall("vcpus", 2, free=1.0, capacity=4.0, node="node1",
                  total=4),
        Shortfall("disk_gb", 21, free=20.0, capacity=20.0, node="node1",
                  total=20)]
    # under the defaults (ram 1.0) memory is short too: 4096 - 3072
    assert [str(s) for s in capacity.node_shortfalls(
        _row(), wanted, own_conf())] == [
        "vcpus: requested 2, free 1 of 4",
        "memory_mb: requested 4096 MiB, free 1024 MiB of 4096 MiB",
        "disk_gb: requested 21 GiB, more than the node's 20 GiB in all"]


def test_an_unset_ratio_without_conf_is_refused_by_name():
    with pytest.raises(exception.InvalidArgument) as raised:
        capacity.node_shortfalls(_row(), capacity.Wanted(1, 1, 1))
    assert str(raised.value) == ("node ram_allocation_ratio cannot be None: "
                                 "an unset ratio needs the configuration to "
                                 "resolve it")


def test_a_node_object_and_its_row_give_the_same_shortfalls():
    row = _row(ram_allocation_ratio=1.5, disk_allocation_ratio=2.0)
    node = cn_obj.ComputeNode(**{k: row[k] for k in (
        "vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
        "local_gb_used", "cpu_allocation_ratio", "ram_allocation_ratio",
        "disk_allocation_ratio", "hypervisor_hostname")})
    wanted = capacity.Wanted(2, 4096, 41)
    assert capacity.node_shortfalls(node, wanted) == \
        capacity.node_shortfalls(row, wanted) == [
        Shortfall("vcpus", 2, free=1.0, capacity=4.0, node="node1",
                  total=4),
        # 4096 x 1.5 - 3072 = 3072 < 4096
        Shortfall("memory_mb", 4096, free=3072.0, capacity=6144.0,
                  node="node1", total=4096),
        Shortfall("disk_gb", 41, free=40.0, capacity=40.0, node="node1",
                  total=20)]


def test_counters_after_on_a_row_and_on_a_node_object():
    row = _row()
    node = cn_obj.ComputeNode(**{k: row[k] for k in (
        "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
        "local_gb_used")})
    expected = {"vcpus_used": 5, "memory_mb_used": 4096, "local_gb_used": 3,
                "free_ram_mb": 0, "free_disk_gb": 17}
    assert cons.counters_after(row, 2, 1024, 3) == expected
    cons.add_scalars(node, 2, 1024, 3)
    assert {name: getattr(node, name) for name in expected} == expected
    # giving back never goes below zero
    assert cons.counters_after(row, -9, -9999, -1)["vcpus_used"] == 0


@pytest.mark.parametrize("requested, used, legacy, claim", [
    # 8 total, ratio 1.0: 9 used is over-committed (free -1)
    (0, 9, False, True),    # asks none: a claim does not check it
    (0, 8, True, True),
    (1, 8, False, False),
    (1, 7, True, True),
])
def test_a_claim_checks_only_what_is_asked(requested, used, legacy, claim):
    """Placement leaves a resource the request does not ask for out of
    its query (found by the differential test, issue 13); the legacy
    filters' rule (``fits``) still wants free >= 0."""
    assert bool(capacity.fits(requested, 8, 1.0, used)) is legacy
    assert bool(capacity.claim_fits(requested, 8, 1.0, used)) is claim
