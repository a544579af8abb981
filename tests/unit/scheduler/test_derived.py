"""Derived columns (``scheduler.derived``) never answer from a stale table.

Every cached answer of a select (candidate rows, request filters, filter
masks, multipliers, raw weights, constant columns, limits) is checked
against the same answer computed without any cache, after each kind of
table change: usage (consume, a claim's row), ratios (a node rewritten),
liveness, disabled services, aggregates, removed nodes, and enough
consumes to run past the table's usage log. A whole select sequence is
also checked against a scheduler whose caches are dropped before every
select.
"""
import uuid as uuid_lib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.scheduler import derived
from hoststate.scheduler import filters as filters_mod
from hoststate.scheduler import host_manager
from hoststate.scheduler import host_table
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler import nodes
from hoststate.scheduler import request_filters
from hoststate.scheduler import selections
from hoststate.scheduler import weights as weights_mod
from hoststate.scheduler.records import AggregateRecord, ServiceRecord
from support import cloud_mix
from support import host_tables

#: Every filter reads a derived column: the whole run is kept
#: (``filter_chain``).
CHAIN = ["ComputeFilter", "AvailabilityZoneFilter", "RamFilter",
         "CoreFilter", "DiskFilter", "ComputeCapabilitiesFilter",
         "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
         "ServerGroupAffinityFilter", "AggregateRamFilter"]
#: Some filters computed per request between derived ones.
MIXED = CHAIN[:6] + ["NumInstancesFilter"] + CHAIN[6:] + ["IoOpsFilter"]
HOSTS = 60


def _conf(filters=CHAIN):
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("enabled_filters", filters,
                         group="filter_scheduler")
    return options


def _table(seed=0):
    nodes_ = cloud_mix.table_nodes(HOSTS, seed=seed)
    return host_tables.make_table(
        nodes_, aggregates=cloud_mix.aggregates([n["host"] for n in nodes_],
                                                seed=seed))


def _scheduler(table, conf):
    manager = host_manager.HostManager(None, conf=conf)
    manager.table = table
    return manager_mod.Scheduler(manager, conf=conf, seed=1,
                                 claim_in_database=False, refresh=False)


def _spec(vcpus=2, memory_mb=4096, root_gb=40, zone="az2", specs=None):
    flavor = flavor_obj.Flavor(id=1, flavorid="m1", name="m1", vcpus=vcpus,
                               memory_mb=memory_mb, root_gb=root_gb,
                               ephemeral_gb=0, swap=0,
                               extra_specs=dict(specs or {}))
    return request_spec.RequestSpec.from_components(
        str(uuid_lib.uuid4()), flavor,
        image={"id": "22222222-2222-2222-2222-222222222222",
               "properties": {"hw_architecture": "x86_64"}},
        availability_zone=zone, project_id="p1")


SPECS = [_spec(), _spec(zone=None), _spec(vcpus=64, memory_mb=2 ** 19),
         _spec(zone="az1", specs={"capabilities:cpu_info:arch": "x86_64"}),
         _spec(zone=None, specs={"num_instances": "<= 10"}),
         _spec(zone="az3", root_gb=3000)]


# --- the cached answers against fresh ones ------------------------------------

def _fresh(scheduler, request):
    """(rows, reasons, weights) of ``request`` computed with no cache."""
    table = scheduler.table
    reasons = []
    rows = np.flatnonzero(table.candidates())
    rows = request_filters.apply(table, rows, request, reasons)
    if len(rows):
        rows, _ = scheduler.host_manager.narrow(rows, request.spec)
        rows = filters_mod.run_filters(scheduler.filters, table, rows,
                                       request, reasons)
    weights = weights_mod.weigh(scheduler.weighers, table, rows, request)
    return rows, reasons, weights


def _cached(scheduler, request):
    rows, reasons, store = scheduler._candidates(request)
    assert store is not None
    weights = weights_mod.weigh(scheduler.weighers, scheduler.table, rows,
                                request, store)
    return rows, reasons, weights


def _check_every_spec(scheduler):
    for spec in SPECS:
        request = scheduler.request_vector(spec).for_instance(
            0, spec.instance_uuid)
        rows, reasons, weights = _cached(scheduler, request)
        want_rows, want_reasons, want_weights = _fresh(scheduler, request)
        assert np.asarray(rows).tolist() == np.asarray(want_rows).tolist()
        assert [str(r) for r in reasons] == [str(r) for r in want_reasons]
        # bit for bit: the ranking compares them
        assert weights.tobytes() == want_weights.tobytes()
        for row in np.asarray(rows)[:5].tolist():
            assert _limits(selections.limits(scheduler.table, row)) == \
                _limits(_fresh_limits(scheduler.table, row))


def _limits(limits):
    numa = limits.numa_topology
    return (limits.vcpu, limits.memory_mb, limits.disk_gb,
            None if numa is None else (numa.cpu_allocation_ratio,
                                       numa.ram_allocation_ratio))


def _fresh_limits(table, row):
    store = table.__dict__.pop("_derived", None)
    try:
        return selections.limits(table, row)
    finally:
        table.__dict__["_derived"] = store


# --- table changes ------------------------------------------------------------

def _consume(table, row, scheduler):
    request = scheduler.request_vector(SPECS[0]).for_instance(0, "x")
    scheduler.host_manager.consume(row, request)


def _claim_row(table, row, scheduler):
    """A claim's stored row: usage and stats changed, one generation on."""
    record = nodes.UsageRow(
        id=int(table.id[row]), uuid=table.uuid[row],
        host=table.host_of(row), hypervisor_hostname=table.nodename_of(row),
        vcpus_used=float(table.vcpus_used[row]) + 3,
        free_ram_mb=float(table.free_ram_mb[row]) - 8192,
        local_gb_used=float(table.disk_mb_used[row]) / 1024 + 7,
        free_disk_gb=float(table.free_disk_mb[row]) / 1024 - 7,
        disk_available_least=None,
        stats='{"num_instances": "40", "io_workload": "9", '
              '"failed_builds": "2"}',
        generation=float(table.generation[row]) + 1, updated_at=None)
    assert table.write_usage(record)


def _not_ready(table, row, scheduler):
    record = nodes.UsageRow(
        id=int(table.id[row]), uuid=table.uuid[row],
        host=table.host_of(row), hypervisor_hostname=table.nodename_of(row),
        vcpus_used=0, free_ram_mb=1024, local_gb_used=0, free_disk_gb=None,
        disk_available_least=None, stats=None,
        generation=float(table.generation[row]) + 1, updated_at=None)
    assert table.write_usage(record)


def _ratios(table, row, scheduler):
    record = host_tables.node_record(
        host=table.host_of(row), nodename=table.nodename_of(row),
        uuid=table.uuid[row], id=int(table.id[row]), vcpus=32,
        memory_mb=131072, local_gb=900, cpu_allocation_ratio=1.0,
        ram_allocation_ratio=0.5, disk_allocation_ratio=0.25,
        hypervisor_version=7000000)
    table.write_nodes([record], cell=table.cell_of(row))


def _down(table, row, scheduler):
    table.set_up({table.host_of(row): False})


def _disabled(table, row, scheduler):
    host = table.host_of(row)
    old = table.services[host]
    table.set_services([ServiceRecord(id=old.id, host=host, disabled=True)])


def _aggregates(table, row, scheduler):
    records = list(table.aggregates.values())
    host = table.host_of(row)
    table.set_aggregates(records + [AggregateRecord(
        id=max(a.id for a in records) + 1, uuid=str(uuid_lib.uuid4()),
        name="moved", hosts=[host],
        metadata={"availability_zone": "az1", "ram_weight_multiplier": "-3",
                  "ram_allocation_ratio": "0.1"})])


def _removed(table, row, scheduler):
    table.remove_node(table.uuid[row])


def _many_consumes(table, row, scheduler):
    for _ in range(host_table.USAGE_LOG + 5):
        _consume(table, row, scheduler)


CHANGES = {f.__name__: f for f in (
    _consume, _claim_row, _not_ready, _ratios, _down, _disabled,
    _aggregates, _removed, _many_consumes)}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([CHAIN, MIXED]),
       st.lists(st.tuples(st.sampled_from(sorted(CHANGES)),
                          st.integers(0, HOSTS - 1)),
                min_size=1, max_size=6))
def test_cached_answers_equal_fresh_ones_after_every_change(filters,
                                                            changes):
    scheduler = _scheduler(_table(), _conf(filters))
    _check_every_spec(scheduler)
    for name, row in changes:
        table = scheduler.table
        if table.uuid[row] is None:
            continue                        # removed earlier
        CHANGES[name](table, row, scheduler)
        _check_every_spec(scheduler)


# --- whole selects ---------------------------------------------------------------

def _placed(result):
    return [[(s.service_host, s.nodename, s.availability_zone,
              _limits(s.limits)) for s in alternatives]
            for alternatives in result]


@pytest.mark.parametrize("filters", [CHAIN, MIXED], ids=["chain", "mixed"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_selects_equal_a_scheduler_without_caches(change, filters):
    conf = _conf(filters)
    cached, fresh = _scheduler(_table(), conf), _scheduler(_table(), conf)
    for step in range(12):
        spec = SPECS[step % len(SPECS)]
        # one or three instances a request (later ones filter what the
        # first left)
        uuids = [str(uuid_lib.UUID(int=100 * step + i + 1))
                 for i in range(1 + 2 * (step % 2))]
        if step in (4, 8):
            row = (step * 7) % HOSTS
            for scheduler in (cached, fresh):
                if scheduler.table.uuid[row] is not None:
                    CHANGES[change](scheduler.table, row, scheduler)
        fresh.table.__dict__.pop("_derived", None)
        answers = []
        for scheduler in (cached, fresh):
            try:
                answers.append(_placed(scheduler.select_destinations(
                    spec, uuids)))
            except Exception as exc:        # NoValidHost, compared too
                answers.append(str(exc))
        assert answers[0] == answers[1]


def test_the_run_of_derived_filters_is_kept_and_moved():
    """With every filter derived, a select reads the kept run; after a
    consume it is moved, not rebuilt, and still equals a fresh run."""
    scheduler = _scheduler(_table(), _conf(CHAIN))
    request = scheduler.request_vector(SPECS[1]).for_instance(0, "x")
    rows, _, store = scheduler._candidates(request)
    chains = [v for k, v in store.values.items() if k[0] == "filter chain"]
    assert len(chains) == 1
    entry = chains[0]["entry"]
    assert not rows.flags.writeable
    _consume(scheduler.table, int(rows[0]), scheduler)
    again, reasons, _ = scheduler._candidates(request)
    assert chains[0]["entry"] is entry
    want, want_reasons, _ = _fresh(scheduler, request)
    assert np.asarray(again).tolist() == np.asarray(want).tolist()
    assert [str(r) for r in reasons] == [str(r) for r in want_reasons]


def test_kept_totals_follow_usage_changes_bit_for_bit():
    """Between selects the totals are moved on the changed rows only, or
    a weigher's part is computed again when a bound moved: either way
    they equal the totals computed afresh."""
    scheduler = _scheduler(_table(), _conf(CHAIN))
    table = scheduler.table
    request = scheduler.request_vector(SPECS[1]).for_instance(0, "x")
    for step in range(30):
        rows, _, store = scheduler._candidates(request)
        kept = weights_mod.weigh(scheduler.weighers, table, rows, request,
                                 store)
        fresh = weights_mod.weigh(scheduler.weighers, table, rows, request)
        assert kept.tobytes() == fresh.tobytes()
        assert not kept.flags.writeable
        # the best row (it often holds a bound), then another one
        row = int(rows[int(np.argmax(kept))]) if step % 2 else \
            int(rows[step % len(rows)])
        _consume(table, row, scheduler)


# --- the store itself --------------------------------------------------------------

def test_a_usage_change_recomputes_only_its_row():
    table = _table()
    store = derived.of(table)
    computed = []

    def compute(rows):
        computed.append(np.asarray(rows).tolist())
        return table.free_ram_mb[rows] > 0

    store.column("probe", compute)
    row = int(store.rows[3])
    table.consume(row, 1, 512, 0)
    table.consume(row, 1, 512, 0)
    values = store.column("probe", compute)
    assert computed[1:] == [[row]]
    assert values[row] == (table.free_ram_mb[row] > 0)


def test_any_other_change_rebuilds():
    table = _table()
    store = derived.of(table)
    calls = []
    store.column("probe", lambda rows: calls.append(1) or
                 np.ones(len(rows), dtype=bool))
    table.set_up({table.host_of(0): False})
    store.column("probe", lambda rows: calls.append(2) or
                 np.ones(len(rows), dtype=bool))
    assert calls == [1, 2]


def test_usage_log_says_what_changed_and_when_it_cannot():
    table = _table()
    start = table.version
    table.consume(4, 1, 1, 1)
    table.consume(9, 1, 1, 1)
    assert table.rows_changed_since(start) == [4, 9]
    assert table.rows_changed_since(table.version) == []
    table.set_up({table.host_of(1): False})
    assert table.rows_changed_since(start) is None
    after = table.version
    for _ in range(host_table.USAGE_LOG + 1):
        table.consume(4, 1, 1, 1)
    assert table.rows_changed_since(after) is None


def test_usage_changes_write_only_what_derived_says():
    """``derived.USAGE_WRITTEN`` lists every column a consume or a claim's
    row may change: a derived column reading none of them is kept."""
    table = _table()
    scheduler = _scheduler(table, _conf())
    before = {name: column.copy() for name, column in table.columns.items()}
    codes = {name: column.codes.copy()
             for name, column in table.interned.items()}
    _consume(table, 5, scheduler)
    _claim_row(table, 6, scheduler)
    _not_ready(table, 7, scheduler)
    changed = {name for name, column in table.columns.items()
               if not np.array_equal(column, before[name], equal_nan=True)}
    assert changed <= derived.USAGE_WRITTEN
    changed = {name for name, column in table.interned.items()
               if not np.array_equal(column.codes, codes[name])}
    assert changed <= derived.USAGE_WRITTEN_DOCUMENTS
