"""Scheduler.select_destinations over an in-memory table.

Nova conformance 9 (one host: no weigher runs), 30 (run-once filters, a
filter answering None), 34 (host_subset_size and the shuffle of tied top
hosts), 35 (alternates), consumption between the instances of one request,
NoValidHost reasons, and the fields of each Selection.

No database: a HostManager without a cell context whose table is built by
``make_table``, and a Scheduler that consumes in the table instead of
claiming (``claim_in_database=False``) and does not refresh.
"""
import uuid as uuid_lib

import numpy as np
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.scheduler import filters as filters_mod
from hoststate.scheduler import manager
from hoststate.scheduler import plugins
from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import FilterOutcome
from hoststate.scheduler.host_manager import HostManager
from support.host_tables import make_table

from ..hardware import numa_builders as nb

INSTANCE = "11111111-1111-1111-1111-111111111111"
#: a request booted from an image (without one the root disk is a volume)
IMAGE = {"id": "22222222-2222-2222-2222-222222222222"}
CELL1 = "00000000-0000-0000-0000-000000000001"
CELL_A = "aaaaaaaa-0000-0000-0000-000000000001"
CELL_B = "bbbbbbbb-0000-0000-0000-000000000002"


# --- set-up -------------------------------------------------------------------

def load_conf(max_attempts=None, weighers=("RAMWeigher",),
              **filter_scheduler):
    """A fresh ConfigOpts: only the RAM weigher unless told otherwise, so
    the expected orders below follow free RAM alone."""
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    conf.set_override("weight_classes", list(weighers),
                      group="filter_scheduler")
    for name, value in filter_scheduler.items():
        conf.set_override(name, value, group="filter_scheduler")
    if max_attempts is not None:
        conf.set_override("max_attempts", max_attempts, group="scheduler")
    return conf


def uuid_of(number):
    return str(uuid_lib.UUID(int=number))


def make_spec(memory_mb=512, vcpus=1, root_gb=1, ephemeral_gb=0, swap=0,
              **components):
    flavor = flavor_obj.Flavor(flavorid="m1", name="m1", vcpus=vcpus,
                               memory_mb=memory_mb, root_gb=root_gb,
                               ephemeral_gb=ephemeral_gb, swap=swap)
    return request_spec.RequestSpec.from_components(INSTANCE, flavor,
                                                    **components)


def make_scheduler(nodes, conf=None, aggregates=(), seed=0,
                   default_zone="nova"):
    conf = conf if conf is not None else load_conf()
    hm = HostManager(context=None, conf=conf)
    hm.table = make_table(nodes, aggregates=aggregates,
                          default_zone=default_zone,
                          ratio_defaults=hm.ratio_defaults())
    return manager.Scheduler(hm, conf=conf, seed=seed,
                             claim_in_database=False, refresh=False)


def select(scheduler, spec, count=1, **kwargs):
    """select_destinations for ``count`` instances (uuids 1..count)."""
    return scheduler.select_destinations(
        spec, instance_uuids=[uuid_of(i) for i in range(1, count + 1)],
        **kwargs)


def hosts_of(selections):
    """[[chosen host, alternate hosts...] per instance]."""
    return [[s.service_host for s in per_instance]
            for per_instance in selections]


def chosen_hosts(selections):
    return [per_instance[0].service_host for per_instance in selections]


def row_of(table, host):
    [row] = table.rows_of_host[host]
    return row


def ranked_hosts(scheduler, spec):
    """The host order ``rank`` gives every candidate (one draw of the
    scheduler's generator)."""
    request = scheduler.request_vector(spec)
    rows, _ = scheduler.candidates(request)
    ranked = scheduler.rank(scheduler.claimable(rows, request), request)
    return [scheduler.table.host_of(r) for r in ranked]


@pytest.fixture
def register_filter():
    """Register test filter classes; they are unregistered afterwards."""
    names = []

    def register(cls):
        plugins.filters.register(cls)
        names.append(cls.__name__)
        return cls.__name__

    yield register
    for name in names:
        plugins.filters.unregister(name)


# --- consumption between instances -------------------------------------------------

def _equal_hosts(count=3):
    return [dict(host=f"host{i}", memory_mb=8192, vcpus=8, local_gb=100)
            for i in range(1, count + 1)]


def test_ram_spreading_puts_three_instances_on_three_hosts():
    """Three equal hosts, a 2 vCPU / 1024 MiB / 10 GiB flavor.

    1st: every host has 8192 MiB free, the weights tie at 0 and the stable
         order picks host1 (now 7168 free);
    2nd: host2 and host3 (8192) outweigh host1 (7168): host2;
    3rd: host3 alone has 8192: host3.
    """
    scheduler = make_scheduler(_equal_hosts())
    spec = make_spec(memory_mb=1024, vcpus=2, root_gb=10)
    selections = select(scheduler, spec, count=3)
    assert chosen_hosts(selections) == ["host1", "host2", "host3"]

    table = scheduler.table
    rows = [row_of(table, h) for h in ("host1", "host2", "host3")]
    # 8192 - 1024; 0 + 2 vCPUs; 100 GiB - 10 GiB in MiB; one instance and
    # one I/O operation each (Nova's consume_from_request).
    assert table.free_ram_mb[rows].tolist() == [7168.0] * 3
    assert table.vcpus_used[rows].tolist() == [2.0] * 3
    assert table.free_disk_mb[rows].tolist() == [92160.0] * 3
    assert table.num_instances[rows].tolist() == [1.0] * 3
    assert table.num_io_ops[rows].tolist() == [1.0] * 3


def test_num_instances_without_uuids_places_num_instances():
    """No instance_uuids: spec.num_instances instances; six on three
    equal hosts go round: host1, host2, host3, then host1 (7168 ties with
    all, table order), host2, host3 — two each."""
    scheduler = make_scheduler(_equal_hosts())
    spec = make_spec(memory_mb=1024, vcpus=2, root_gb=10, num_instances=6)
    selections = scheduler.select_destinations(spec)
    assert chosen_hosts(selections) == ["host1", "host2", "host3"] * 2
    table = scheduler.table
    rows = [row_of(table, h) for h in ("host1", "host2", "host3")]
    assert table.free_ram_mb[rows].tolist() == [6144.0] * 3     # 8192 - 2048
    assert table.vcpus_used[rows].tolist() == [4.0] * 3
    assert table.free_disk_mb[rows].tolist() == [81920.0] * 3  # 102400-20480
    assert table.num_instances[rows].tolist() == [2.0] * 3
    assert table.num_io_ops[rows].tolist() == [2.0] * 3


def test_negative_ram_multiplier_stacks():
    """ram_weight_multiplier -1: after the first instance host1 has the
    least free RAM (7168/8192 = 0.875 against 1.0), so -0.875 is the best
    weight and every instance lands there."""
    conf = load_conf(ram_weight_multiplier=-1.0)
    scheduler = make_scheduler(_equal_hosts(), conf=conf)
    selections = select(scheduler, make_spec(memory_mb=1024, vcpus=2,
                                             root_gb=10), count=3)
    assert chosen_hosts(selections) == ["host1"] * 3
    table = scheduler.table
    row = row_of(table, "host1")
    assert (table.free_ram_mb[row], table.vcpus_used[row],
            table.num_instances[row], table.num_io_ops[row]) == \
        (5120.0, 6.0, 3.0, 3.0)
    assert table.free_ram_mb[row_of(table, "host2")] == 8192.0


def test_consumption_counts_swap_and_ephemeral_disk():
    """Disk consumed is 1024 * (root + ephemeral) + swap MiB:
    1024 * (10 + 5) + 512 = 15872; 102400 - 15872 = 86528."""
    scheduler = make_scheduler(_equal_hosts(1))
    select(scheduler, make_spec(root_gb=10, ephemeral_gb=5, swap=512))
    assert scheduler.table.free_disk_mb[0] == 86528.0


def test_one_host_is_not_weighed(monkeypatch):
    """Nova conformance 9: with one candidate no weigher runs."""
    scheduler = make_scheduler(_equal_hosts(1))
    [weigher] = scheduler.weighers

    def fail(*args):
        raise AssertionError("a weigher ran for a single host")

    monkeypatch.setattr(weigher, "raw_weights", fail)
    assert chosen_hosts(select(scheduler, make_spec())) == ["host1"]


def test_capacity_runs_out_between_instances():
    """host1 4096 MiB at ratio 1.0 takes exactly four 1024 MiB instances;
    host2 2048 MiB two. Spreading: host1 (4096), host1 (3072 > 2048),
    then ties and table order: host1 (2048 = 2048), host2, host1, host2."""
    nodes = [dict(host="host1", memory_mb=4096, ram_allocation_ratio=1.0),
             dict(host="host2", memory_mb=2048, ram_allocation_ratio=1.0)]
    scheduler = make_scheduler(nodes)
    selections = select(scheduler, make_spec(memory_mb=1024), count=6)
    assert chosen_hosts(selections) == [
        "host1", "host1", "host1", "host2", "host1", "host2"]
    assert scheduler.table.free_ram_mb[:2].tolist() == [0.0, 0.0]


#: A host with room that ComputeFilter removes: the cloud as a whole then
#: holds a request that fails part-way, so the request gets past the
#: up-front room check and fails on a later instance.
SPARE_DISABLED_HOST = dict(host="spare", memory_mb=65536, disabled=True)


def test_failed_request_gives_back_what_it_consumed():
    """Five 1024 MiB instances on one 4096 MiB host (ratio 1.0): the fifth
    does not fit; the request fails and the table holds what it held
    before (the in-memory counterpart of releasing the claims)."""
    nodes = [dict(host="host1", memory_mb=4096, ram_allocation_ratio=1.0),
             SPARE_DISABLED_HOST]
    scheduler = make_scheduler(nodes)
    table = scheduler.table
    before = {name: table.columns[name][0] for name in (
        "free_ram_mb", "free_disk_mb", "vcpus_used", "num_instances",
        "num_io_ops")}
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, make_spec(memory_mb=1024), count=5)
    # the fifth instance failed, after four were consumed
    assert str(caught.value.reasons[-1]).startswith(
        "capacity (claim check) removed 1 of 1 hosts")
    after = {name: table.columns[name][0] for name in before}
    assert after == before
    # And the four that fit still do.
    assert len(select(scheduler, make_spec(memory_mb=1024), count=4)) == 4


def test_failed_request_gives_back_numa_usage():
    """One-NUMA-node 256 MiB guests on Nova's two-cell fake host (node RAM
    1024 MiB at ratio 1.0): four fit, the fifth fails the claim check, and
    the NUMA usage the four added to the row's topology is given back."""
    nodes = [dict(host="host1", memory_mb=1024, ram_allocation_ratio=1.0,
                  numa_topology=nb.nova_numa_topology()),
             SPARE_DISABLED_HOST]
    flavor = nb.flavor(vcpus=1, memory_mb=256, **{"hw:numa_nodes": "1"})
    scheduler = make_scheduler(nodes)
    table = scheduler.table
    original = table.interned["numa_topology"].keys[
        table.codes("numa_topology")[0]]

    def used_memory():
        return [cell.memory_usage
                for cell in table.value("numa_topology", 0).cells]

    def spec():
        return request_spec.RequestSpec.from_components(INSTANCE, flavor)

    assert used_memory() == [0, 0]
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, spec(), count=5)
    assert str(caught.value.reasons[-1]).startswith(
        "capacity (claim check) removed 1 of 1 hosts")
    assert used_memory() == [0, 0]
    assert table.interned["numa_topology"].keys[
        table.codes("numa_topology")[0]] == original
    assert table.free_ram_mb[0] == 1024.0
    # The same four succeed, and their usage stays.
    select(scheduler, spec(), count=4)
    assert sum(used_memory()) == 1024
    assert table.free_ram_mb[0] == 0.0


# --- NoValidHost reasons ------------------------------------------------------------

def test_reason_names_the_filter_that_removed_the_last_hosts():
    """The disabled host1 never reaches the filters (Nova 34's
    compute_status_filter); ComputeFilter removes the last 2 of 2: host2
    forced down, host3 down."""
    nodes = [dict(host="host1", disabled=True),
             dict(host="host2", forced_down=True),
             dict(host="host3", up=False)]
    scheduler = make_scheduler(nodes)
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, make_spec())
    disabled, outcome = caught.value.reasons
    assert str(disabled) == \
        "disabled computes (request filter) removed 1 of 3 hosts"
    assert isinstance(outcome, FilterOutcome)
    assert (outcome.name, outcome.before, outcome.removed, outcome.detail,
            outcome.shortfalls) == (
        "ComputeFilter", 2, 2,
        "compute service disabled on 0 host(s), down on 2", ())
    assert caught.value.shortfalls == []


def test_reasons_list_every_filter_that_removed_hosts():
    """host1 (down) goes to ComputeFilter, without an explanation since
    hosts were left; RamFilter removes the last two: a 9000 MiB flavor is
    more than host2's 8192 MiB total (an instance may not overcommit
    against itself) and host3's 4096; the most any host could give is
    min(8192, 8192 * 1.5) = 8192."""
    conf = load_conf(enabled_filters=["ComputeFilter", "RamFilter"])
    nodes = [dict(host="host1", memory_mb=16384, up=False),
             dict(host="host2", memory_mb=8192),
             dict(host="host3", memory_mb=4096)]
    scheduler = make_scheduler(nodes, conf=conf)
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, make_spec(memory_mb=9000))
    assert [str(r) for r in caught.value.reasons] == [
        "ComputeFilter removed 1 of 3 hosts",
        "RamFilter removed 2 of 2 hosts (memory_mb: requested 9000 MiB, "
        "at most 8192 MiB free)"]
    assert "memory_mb: requested 9000 MiB, at most 8192 MiB free" in \
        str(caught.value)


@pytest.mark.parametrize("flavor, nodes, detail", [
    # ram ratio 1.0: 8192 * 1.0 - 0 < 9000.
    ({"memory_mb": 9000},
     [dict(host="host1", memory_mb=8192, ram_allocation_ratio=1.0),
      dict(host="host2", memory_mb=4096, ram_allocation_ratio=1.0)],
     "memory_mb: requested 9000 MiB, at most 8192 MiB free"),
    # cpu: 2 vCPUs x 1.0 = 2 free at most.
    ({"vcpus": 3},
     [dict(host="host1", vcpus=2, cpu_allocation_ratio=1.0)],
     "vcpus: requested 3, at most 2 free"),
    # disk: 100 GiB x 1.0 - 0 used < 101 GiB (booted from an image: a
    # request without one has its root disk on a volume, see below).
    ({"root_gb": 101, "image": IMAGE}, [dict(host="host1")],
     "disk_gb: requested 101 GiB, at most 100 GiB free"),
    # memory and disk both short; memory: 8192 x 1.5 = 12288 over-committed,
    # but no instance larger than the node's 8192 fits.
    ({"memory_mb": 20000, "root_gb": 200, "image": IMAGE},
     [dict(host="host1")],
     "memory_mb: requested 20000 MiB, at most 8192 MiB free; "
     "disk_gb: requested 200 GiB, at most 100 GiB free"),
])
def test_claim_check_explains_what_was_short(flavor, nodes, detail):
    """Without capacity filters the claim check (Placement's arithmetic)
    removes the hosts and says which resource was short, in words and as
    Shortfalls (the same numbers)."""
    scheduler = make_scheduler(nodes)
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, make_spec(**flavor))
    outcome = caught.value.reasons[-1]
    assert (outcome.name, outcome.before, outcome.removed, outcome.detail) \
        == ("capacity (claim check)", len(nodes), len(nodes), detail)
    assert "; ".join(str(s) for s in caught.value.shortfalls) == detail
    assert all(s.node is None and s.capacity is None
               for s in caught.value.shortfalls)


def test_a_volume_backed_request_asks_for_no_root_disk():
    """No image: the root disk is a volume, and the capacity check asks
    for what the claim takes (ephemeral and swap only), as Nova's
    Placement request for a volume-backed server does."""
    scheduler = make_scheduler([dict(host="host1")])
    assert hosts_of(select(scheduler, make_spec(root_gb=500,
                                                ephemeral_gb=10))) == \
        [["host1"]]
    with pytest.raises(exception.NoValidHost):
        select(scheduler, make_spec(root_gb=500, ephemeral_gb=101))


def test_claim_check_failure_of_a_later_instance():
    """host1 2048 MiB at ratio 1.0 takes two 1024 MiB instances; the third
    finds host1 (the only host that passed for the second) full. (host2,
    disabled, has room: the cloud as a whole holds three, so the request
    gets as far as its third instance.)"""
    nodes = [dict(host="host1", memory_mb=2048, ram_allocation_ratio=1.0),
             dict(host="host2", memory_mb=2048, ram_allocation_ratio=1.0,
                  disabled=True)]
    scheduler = make_scheduler(nodes)
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, make_spec(memory_mb=1024), count=3)
    assert [str(r) for r in caught.value.reasons] == [
        "capacity (claim check) removed 1 of 1 hosts (memory_mb: requested "
        "1024 MiB, at most 0 MiB free)"]


def test_more_instances_than_the_cloud_holds_fail_before_any_is_placed():
    """2 hosts x 2048 MiB hold four 1024 MiB instances; five is refused at
    once, and the largest count a spec holds (1000) costs no more than
    five (no uuid list, no placement is made)."""
    nodes = [dict(host="host1", memory_mb=2048, ram_allocation_ratio=1.0),
             dict(host="host2", memory_mb=2048, ram_allocation_ratio=1.0)]
    scheduler = make_scheduler(nodes)
    before = scheduler.table.free_ram_mb.copy()
    for count in (5, 1000):
        spec = make_spec(memory_mb=1024)
        spec.num_instances = count
        with pytest.raises(exception.NoValidHost) as caught:
            scheduler.select_destinations(spec)
        assert [str(r) for r in caught.value.reasons] == [
            f"{count} instances requested, but the free capacity of all 2 "
            f"candidate nodes holds at most 4"]
    assert (scheduler.table.free_ram_mb == before).all()


def test_repeated_instance_uuids_are_refused_before_anything_happens():
    scheduler = make_scheduler([dict(host="host1")])
    with pytest.raises(exception.InvalidSchedulerRequest) as caught:
        scheduler.select_destinations(make_spec(), instance_uuids=[
            uuid_of(1), uuid_of(2), uuid_of(1)])
    assert str(caught.value) == (
        "Invalid scheduling request: instance_uuids="
        "['00000000-0000-0000-0000-000000000001']: each instance needs a "
        "uuid of its own")


# --- run-once filters and a filter answering None (conformance 30) -------------------

class CountingOnceFilter(BaseHostFilter):
    """Passes every host; counts its runs; run once per request."""

    run_filter_once_per_request = True
    calls = []

    def filter_mask(self, table, rows, request):
        type(self).calls.append(request.index)
        return filters_mod.all_rows_pass(rows)


class CountingEveryFilter(BaseHostFilter):
    """Passes every host; counts its runs; runs for every instance."""

    calls = []

    def filter_mask(self, table, rows, request):
        type(self).calls.append(request.index)
        return filters_mod.all_rows_pass(rows)


class AnswersNoneFilter(BaseHostFilter):
    """Answers None: filtering stops with no host."""

    def filter_mask(self, table, rows, request):
        return None


class RejectAllFilter(BaseHostFilter):
    """Removes every host, for every instance."""

    def filter_mask(self, table, rows, request):
        return np.zeros(len(rows), dtype=bool)


def test_run_once_filters_run_for_the_first_instance_only(register_filter):
    once = register_filter(CountingOnceFilter)
    every = register_filter(CountingEveryFilter)
    CountingOnceFilter.calls.clear()
    CountingEveryFilter.calls.clear()
    scheduler = make_scheduler(_equal_hosts(), conf=load_conf(
        enabled_filters=[once, every]))
    select(scheduler, make_spec(), count=3)
    assert CountingOnceFilter.calls == [0]
    assert CountingEveryFilter.calls == [0, 1, 2]


#: host1 is down and has the most RAM: the RAM weigher would pick it (a
#: disabled host would not reach the filters: the request filter, Nova
#: 34's compute_status_filter, removes it first).
DISABLED_FIRST = [dict(host="host1", memory_mb=16384, up=False),
                  dict(host="host2", memory_mb=8192),
                  dict(host="host3", memory_mb=8192)]


def test_skipped_compute_filter_never_lets_a_down_host_in():
    """ComputeFilter (run once) removes host1 for the first instance; it is
    skipped for the second, which starts from the hosts that passed for
    the first (host2, host3), so host1 is never chosen.

    1st: host2 and host3 tie at 8192: host2 (now 7168);
    2nd: host3 (8192) before host2 (7168).
    Each instance's only other candidate is the other's selected host, so
    neither has an alternate.
    """
    scheduler = make_scheduler(DISABLED_FIRST)
    selections = select(scheduler, make_spec(memory_mb=1024), count=2)
    assert hosts_of(selections) == [["host2"], ["host3"]]


def test_compute_filter_is_skipped_for_index_above_zero():
    """What makes starting from the previous hosts necessary: for index 1
    the filters alone would keep the down host1."""
    scheduler = make_scheduler(DISABLED_FIRST)
    request = scheduler.request_vector(make_spec())
    table = scheduler.table
    rows, _ = scheduler.candidates(request)
    assert [table.host_of(r) for r in rows] == ["host2", "host3"]
    rows, _ = scheduler.candidates(request.for_instance(1, "second"))
    assert [table.host_of(r) for r in rows] == ["host1", "host2", "host3"]
    # ... and from the rows that passed before, host1 stays out.
    rows, _ = scheduler.candidates(request, previous=np.asarray([1, 2]))
    assert [table.host_of(r) for r in rows] == ["host2", "host3"]


def test_filter_answering_none_stops_filtering(register_filter):
    none = register_filter(AnswersNoneFilter)
    every = register_filter(CountingEveryFilter)
    CountingEveryFilter.calls.clear()
    conf = load_conf(enabled_filters=[none, every])
    scheduler = make_scheduler(_equal_hosts(), conf=conf)
    with pytest.raises(exception.NoValidHost):
        select(scheduler, make_spec())
    assert CountingEveryFilter.calls == []
    # run_filters itself: no rows, and the filter after is not run.
    table = scheduler.table
    rows = np.flatnonzero(table.candidates())
    request = scheduler.request_vector(make_spec())
    kept = filters_mod.run_filters(scheduler.filters, table, rows, request)
    assert kept.tolist() == [] and kept.dtype == rows.dtype
    assert CountingEveryFilter.calls == []


def test_filter_answering_none_after_a_filter_that_ran(register_filter):
    every = register_filter(CountingEveryFilter)
    none = register_filter(AnswersNoneFilter)
    CountingEveryFilter.calls.clear()
    conf = load_conf(enabled_filters=[every, none])
    scheduler = make_scheduler(_equal_hosts(), conf=conf)
    with pytest.raises(exception.NoValidHost):
        select(scheduler, make_spec())
    assert CountingEveryFilter.calls == [0]


def test_forced_host_skips_filters_for_every_instance(register_filter):
    """Forcing skips the filters for each instance of the request (Nova
    narrows and skips per instance), not just the first: a filter that
    rejects everything never runs."""
    reject = register_filter(RejectAllFilter)
    conf = load_conf(enabled_filters=[reject])
    scheduler = make_scheduler(_equal_hosts(), conf=conf)
    selections = select(scheduler, make_spec(force_hosts=["HOST2"]),
                        count=3)
    assert hosts_of(selections) == [["host2"]] * 3
    # Without forcing, the filter removes everything.
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, make_spec())
    assert caught.value.reasons[-1].name == "RejectAllFilter"
    # With the check-type hint the filters run, for the first instance on.
    with pytest.raises(exception.NoValidHost):
        select(scheduler, make_spec(
            force_hosts=["host2"],
            scheduler_hints={"_nova_check_type": "evacuate"}), count=2)


def test_forced_nodes_skip_filters_for_every_instance(register_filter):
    reject = register_filter(RejectAllFilter)
    conf = load_conf(enabled_filters=[reject])
    scheduler = make_scheduler(_equal_hosts(), conf=conf)
    selections = select(scheduler, make_spec(force_nodes=["node3"]),
                        count=2)
    assert [[s.nodename for s in per] for per in selections] == \
        [["node3"], ["node3"]]


# --- host_subset_size and the shuffle of tied hosts (conformance 34) ---------------

#: Free RAM 8192 > 6144 > 4096 > 2048: the RAM weigher ranks them in order.
FOUR = [dict(host="host1", memory_mb=8192), dict(host="host2", memory_mb=6144),
        dict(host="host3", memory_mb=4096), dict(host="host4", memory_mb=2048)]


def _first_choices(nodes, seeds, **filter_scheduler):
    """{host chosen first} over schedulers seeded with ``seeds``."""
    conf = load_conf(**filter_scheduler)
    return {chosen_hosts(select(make_scheduler(nodes, conf=conf, seed=s),
                                make_spec()))[0] for s in seeds}


@pytest.mark.parametrize("subset, reachable", [
    (1, {"host1"}),                     # always the top
    (2, {"host1", "host2"}),            # one of the top two
    (3, {"host1", "host2", "host3"}),
    (4, {"host1", "host2", "host3", "host4"}),
    # Larger than the list: the whole list.
    (10, {"host1", "host2", "host3", "host4"}),
    (1000, {"host1", "host2", "host3", "host4"}),
])
def test_host_subset_size(subset, reachable):
    assert _first_choices(FOUR, range(200), host_subset_size=subset) == \
        reachable


@pytest.mark.parametrize("subset", [2, 3, 10])
def test_subset_choice_moves_one_host_to_the_front(subset):
    """The others keep their weighed order behind the chosen one."""
    conf = load_conf(host_subset_size=subset)
    weighed = ["host1", "host2", "host3", "host4"]
    for seed in range(30):
        ranked = ranked_hosts(make_scheduler(FOUR, conf=conf, seed=seed),
                              make_spec())
        assert ranked[0] in weighed[:subset]
        assert ranked[1:] == [h for h in weighed if h != ranked[0]]


#: host2, host3 and host4 tie for the top weight (8192 free).
TIED = [dict(host="host1", memory_mb=4096), dict(host="host2", memory_mb=8192),
        dict(host="host3", memory_mb=8192), dict(host="host4", memory_mb=8192),
        dict(host="host5", memory_mb=2048)]


def test_without_shuffle_tied_hosts_keep_table_order():
    conf = load_conf(shuffle_best_same_weighed_hosts=False)
    for seed in range(20):
        assert ranked_hosts(make_scheduler(TIED, conf=conf, seed=seed),
                            make_spec()) == \
            ["host2", "host3", "host4", "host1", "host5"]


def test_shuffle_only_moves_the_hosts_tied_for_the_top():
    conf = load_conf(shuffle_best_same_weighed_hosts=True)
    firsts = set()
    orders = set()
    for seed in range(200):
        ranked = ranked_hosts(make_scheduler(TIED, conf=conf, seed=seed),
                              make_spec())
        assert sorted(ranked[:3]) == ["host2", "host3", "host4"]
        assert ranked[3:] == ["host1", "host5"]
        firsts.add(ranked[0])
        orders.add(tuple(ranked[:3]))
    assert firsts == {"host2", "host3", "host4"}
    assert len(orders) == 6             # every permutation of the three


def test_shuffle_with_a_single_top_host_changes_nothing():
    conf = load_conf(shuffle_best_same_weighed_hosts=True)
    for seed in range(20):
        assert ranked_hosts(make_scheduler(FOUR, conf=conf, seed=seed),
                            make_spec()) == ["host1", "host2", "host3",
                                             "host4"]


def test_shuffle_then_subset():
    """Shuffled ties and a subset of 4: the first four after the shuffle are
    the three tied hosts and host1; host5 is never first."""
    assert _first_choices(TIED, range(200), host_subset_size=4,
                          shuffle_best_same_weighed_hosts=True) == \
        {"host1", "host2", "host3", "host4"}


def _many_hosts():
    """40 hosts: free RAM 1000 + 100 * (i % 7) for i = 0..34 (ties in
    groups of five), and host35..host39 tied at the top with 9000."""
    nodes = [dict(host=f"host{i}", memory_mb=1000 + 100 * (i % 7))
             for i in range(35)]
    nodes += [dict(host=f"host{i}", memory_mb=9000) for i in range(35, 40)]
    return nodes


def test_rank_over_more_hosts_than_the_sorted_top():
    """More candidates than the exactly sorted top (32): the order is
    still a stable sort by weight (ties in table order)."""
    scheduler = make_scheduler(_many_hosts())
    ram = {f"host{i}": 1000 + 100 * (i % 7) for i in range(35)}
    ram.update({f"host{i}": 9000 for i in range(35, 40)})
    expected = sorted(ram, key=lambda h: (-ram[h], int(h[4:])))
    assert ranked_hosts(scheduler, make_spec()) == expected


def test_shuffle_over_more_hosts_than_the_sorted_top():
    conf = load_conf(shuffle_best_same_weighed_hosts=True)
    top = {f"host{i}" for i in range(35, 40)}
    firsts = set()
    for seed in range(100):
        ranked = ranked_hosts(make_scheduler(_many_hosts(), conf=conf,
                                             seed=seed), make_spec())
        assert set(ranked[:5]) == top
        assert not top & set(ranked[5:])
        firsts.add(ranked[0])
    assert firsts == top


def _placements(seed, count=6):
    conf = load_conf(host_subset_size=3, shuffle_best_same_weighed_hosts=True)
    scheduler = make_scheduler(TIED, conf=conf, seed=seed)
    first = hosts_of(select(scheduler, make_spec(memory_mb=1024),
                            count=count))
    second = hosts_of(select(scheduler, make_spec(memory_mb=1024),
                             count=count))
    return first, second


def test_same_seed_replays_the_same_placements():
    for seed in (0, 1, 42):
        assert _placements(seed) == _placements(seed)


def test_different_seeds_place_differently():
    assert len({repr(_placements(seed)) for seed in range(10)}) > 1


# --- alternates (conformance 35) -----------------------------------------------------

#: Free RAM by host (both cells): a1 16384, b1 15000, b2 14000, a2 12000,
#: a3 10000, b3 9000 — rows in that order.
TWO_CELLS = [
    dict(host="a1", nodename="a1", memory_mb=16384, cell=CELL_A),
    dict(host="b1", nodename="b1", memory_mb=15000, cell=CELL_B),
    dict(host="b2", nodename="b2", memory_mb=14000, cell=CELL_B),
    dict(host="a2", nodename="a2", memory_mb=12000, cell=CELL_A),
    dict(host="a3", nodename="a3", memory_mb=10000, cell=CELL_A),
    dict(host="b3", nodename="b3", memory_mb=9000, cell=CELL_B),
]


def test_two_cell_table_keeps_row_order_and_cells():
    table = make_scheduler(TWO_CELLS).table
    assert [(table.host_of(r), table.cell_of(r)) for r in range(6)] == [
        ("a1", CELL_A), ("b1", CELL_B), ("b2", CELL_B), ("a2", CELL_A),
        ("a3", CELL_A), ("b3", CELL_B)]


@pytest.mark.parametrize("max_attempts, count, expected", [
    # One instance: a1 first; the ranking goes a1 b1 b2 a2 a3 b3 and the
    # alternates are the next hosts of a1's cell: a2, a3.
    (3, 1, [["a1", "a2", "a3"]]),
    (2, 1, [["a1", "a2"]]),
    (1, 1, [["a1"]]),
    # Cell A has only two more hosts: fewer alternates than asked.
    (4, 1, [["a1", "a2", "a3"]]),
    (10, 1, [["a1", "a2", "a3"]]),
    # Two 4096 MiB instances: the first takes a1 (16384 -> 12288), the
    # second ranks b1 15000, b2 14000, a1 12288, a2 12000, a3, b3 and takes
    # b1; each instance's alternates stay in its own cell.
    (3, 2, [["a1", "a2", "a3"], ["b1", "b2", "b3"]]),
    (10, 2, [["a1", "a2", "a3"], ["b1", "b2", "b3"]]),
    (2, 2, [["a1", "a2"], ["b1", "b2"]]),
])
def test_alternates_stay_in_the_chosen_cell(max_attempts, count, expected):
    conf = load_conf(max_attempts=max_attempts)
    scheduler = make_scheduler(TWO_CELLS, conf=conf)
    selections = select(scheduler, make_spec(memory_mb=4096), count=count)
    assert hosts_of(selections) == expected
    for per_instance in selections:
        cells = {s.cell_uuid for s in per_instance}
        assert len(cells) == 1
        assert len({s.compute_node_uuid for s in per_instance}) == \
            len(per_instance)


#: One cell, free RAM 16384 > 15000 > 14000 > 12000 > 10000.
FIVE = [dict(host="h1", memory_mb=16384), dict(host="h2", memory_mb=15000),
        dict(host="h3", memory_mb=14000), dict(host="h4", memory_mb=12000),
        dict(host="h5", memory_mb=10000)]


def test_alternates_never_name_another_instances_host():
    """Two 4096 MiB instances. The first ranks h1 h2 h3 h4 h5 and takes h1
    (12288 left); the second ranks h2 15000, h3 14000, h1 12288, h4 12000,
    h5 and takes h2. Alternates skip every selected host: the first's are
    h3, h4 (not h2), the second's h3, h4 (not h1)."""
    scheduler = make_scheduler(FIVE)
    selections = select(scheduler, make_spec(memory_mb=4096), count=2)
    assert hosts_of(selections) == [["h1", "h3", "h4"], ["h2", "h3", "h4"]]


@pytest.mark.parametrize("nodes, expected", [
    (FIVE[:2], [["h1", "h2"]]),           # one alternate is all there is
    (FIVE[:1], [["h1"]]),                 # none
])
def test_not_enough_alternates(nodes, expected):
    scheduler = make_scheduler(nodes)
    assert hosts_of(select(scheduler, make_spec())) == expected


def test_no_alternates_when_not_asked_for():
    """h1 takes the first 4096 MiB (12288 left), h2 (15000) the second."""
    scheduler = make_scheduler(FIVE)
    assert hosts_of(select(scheduler, make_spec(memory_mb=4096), count=2,
                           return_alternates=False)) == [["h1"], ["h2"]]


def test_alternates_come_from_hosts_that_passed_the_filters():
    """host1 is down: never chosen and never an alternate."""
    scheduler = make_scheduler(DISABLED_FIRST)
    assert hosts_of(select(scheduler, make_spec())) == [["host2", "host3"]]


def test_alternates_come_from_hosts_with_room():
    """At ratio 1.0, 13000 MiB fit on h1 (16384), h2 (15000) and h3
    (14000) but not on h4 (12000) or h5 (10000): the claim check leaves
    three hosts, so there are two alternates even when four are asked
    for."""
    nodes = [dict(h, ram_allocation_ratio=1.0) for h in FIVE]
    scheduler = make_scheduler(nodes)
    assert hosts_of(select(scheduler, make_spec(memory_mb=13000),
                           )) == [["h1", "h2", "h3"]]
    scheduler = make_scheduler(nodes, conf=load_conf(max_attempts=5))
    assert hosts_of(select(scheduler, make_spec(memory_mb=13000),
                           )) == [["h1", "h2", "h3"]]


# --- Selection fields ------------------------------------------------------------------

SELECTION_NODES = [
    # host1: in an aggregate with an availability zone.
    dict(host="host1", nodename="node1", memory_mb=4096, vcpus=10,
         local_gb=50, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0,
         disk_allocation_ratio=2.0),
    # host2: in an aggregate without one; Nova's default node ratios.
    dict(host="host2", nodename="node2", memory_mb=8192),
    # host3: in no aggregate; ratios unset (None or 0.0) read as the
    # initial ones (cpu 4.0, ram 1.0, disk 1.0).
    dict(host="host3", nodename="node3", memory_mb=2048, vcpus=4,
         cpu_allocation_ratio=0.0, ram_allocation_ratio=None,
         disk_allocation_ratio=None),
]
SELECTION_AGGREGATES = [("agg-az", {"host1"}, {"availability_zone": "az1"}),
                        ("agg-plain", {"host2"}, {"foo": "bar"})]


def test_selection_fields():
    """host2 (8192 free) first, then host1 (4096) and host3 (2048)."""
    scheduler = make_scheduler(SELECTION_NODES,
                               aggregates=SELECTION_AGGREGATES)
    table = scheduler.table
    [selections] = select(scheduler, make_spec())
    got = [(s.service_host, s.nodename, s.compute_node_uuid, s.cell_uuid,
            s.availability_zone, s.limits.to_dict(), s.allocation_request,
            s.allocation_request_version) for s in selections]

    def uuid(host):
        return table.uuid[row_of(table, host)]

    assert got == [
        # 8 vCPUs x 16.0; 8192 MiB x 1.5; 100 GiB x 1.0.
        ("host2", "node2", uuid("host2"), CELL1, "nova",
         {"vcpu": 128, "memory_mb": 12288, "disk_gb": 100}, None, None),
        # 10 x 4.0; 4096 x 1.0; 50 x 2.0.
        ("host1", "node1", uuid("host1"), CELL1, "az1",
         {"vcpu": 40, "memory_mb": 4096, "disk_gb": 100}, None, None),
        # 4 x 4.0; 2048 x 1.0; 100 x 1.0.
        ("host3", "node3", uuid("host3"), CELL1, "nova",
         {"vcpu": 16, "memory_mb": 2048, "disk_gb": 100}, None, None),
    ]
    assert all(s.limits.numa_topology is None for s in selections)
    assert selections[0].to_dict() == {
        "host": "host2", "nodename": "node2",
        "limits": {"vcpu": 128, "memory_mb": 12288, "disk_gb": 100}}


def test_selection_zone_follows_the_default_zone():
    scheduler = make_scheduler(SELECTION_NODES,
                               aggregates=SELECTION_AGGREGATES,
                               default_zone="zoneX")
    [selections] = select(scheduler, make_spec())
    assert [s.availability_zone for s in selections] == \
        ["zoneX", "az1", "zoneX"]


def test_selection_cell_is_the_nodes_cell():
    scheduler = make_scheduler(TWO_CELLS)
    selections = select(scheduler, make_spec(memory_mb=4096), count=2)
    assert [[s.cell_uuid for s in per] for per in selections] == \
        [[CELL_A] * 3, [CELL_B] * 3]


def test_limits_of_the_chosen_host_after_consumption_are_unchanged():
    """Limits are totals x ratios: consuming does not move them."""
    scheduler = make_scheduler(_equal_hosts(1))
    selections = select(scheduler, make_spec(memory_mb=1024), count=3)
    assert {repr(per[0].limits.to_dict()) for per in selections} == {
        repr({"vcpu": 128, "memory_mb": 12288, "disk_gb": 100})}


# --- a request's numbers never size the scheduler's work -----------------------

HUGE = 2 ** 31 - 1            # Nova's API accepts flavors up to this


def test_a_huge_flavor_is_no_valid_host_without_building_anything():
    nodes = [dict(host="host1"), dict(host="host2")]
    scheduler = make_scheduler(nodes)
    with pytest.raises(exception.NoValidHost):
        select(scheduler, make_spec(vcpus=HUGE, memory_mb=HUGE))


def test_a_huge_pinned_flavor_is_refused_before_its_cpu_sets_exist():
    """hw:cpu_policy=dedicated used to build set(range(vcpus)) for the
    request: 2**31 ints. The largest node bounds it now."""
    nodes = [dict(host="host1", vcpus=16, numa_topology=nb.nova_numa_topology()),
             dict(host="host2", vcpus=64)]
    scheduler = make_scheduler(nodes)
    flavor = nb.flavor(vcpus=HUGE, memory_mb=1024,
                       **{"hw:cpu_policy": "dedicated"})
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler, request_spec.RequestSpec.from_components(
            INSTANCE, flavor))
    assert caught.value.reasons == [
        f"vcpus: a NUMA guest of {HUGE} vCPUs is larger than the largest "
        f"node (64 CPUs)"]
