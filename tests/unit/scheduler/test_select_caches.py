"""The caches a select reads between table changes give the exact answer
of the changed table: the changed rows since a version, the candidate
check of a usage change, the limits of a row, a column known not to be
constant, the ranking pool of the kept weight totals, and Selections made
``trusted``."""
import uuid as uuid_lib

import numpy as np
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.objects import selection as selection_obj
from hoststate.scheduler import derived
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler import ranking
from hoststate.scheduler import selections
from hoststate.scheduler import weight_totals
from hoststate.scheduler import weights as weights_mod
from support import cloud_mix
from support import host_tables
from support import specs

FILTERS = ["ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter"]


def _table(count=3, **values):
    return host_tables.make_table([dict(host=f"host{i}", **values)
                                   for i in range(count)])


def _scheduler(table):
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("enabled_filters", FILTERS,
                         group="filter_scheduler")
    manager = host_manager.HostManager(None, conf=options)
    manager.table = table
    return manager_mod.Scheduler(manager, conf=options, seed=1,
                                 claim_in_database=False, refresh=False)


def test_changed_rows_are_the_distinct_rows_since_the_version_asked():
    table = _table()
    store = derived.of(table)
    store.candidates()
    start = table.version
    for row in (2, 0, 2):
        table.consume(row, 1, 512, 0)
    assert store.changed_rows(start) == [0, 2]
    table.consume(1, 1, 512, 0)             # the kept answer moves on
    assert store.changed_rows(start) == [0, 1, 2]
    table.set_up({"host1": False})          # not a usage change
    assert store.changed_rows(start) is None


def test_a_usage_change_that_makes_a_row_no_candidate_rebuilds():
    table = _table()
    store = derived.of(table)
    column = store.column("probe", lambda rows: table.free_ram_mb[rows],
                          dtype=np.float64, fill=-1.0)
    assert column.tolist() == [8192.0, 8192.0, 8192.0]
    table.consume(1, 1, 1024, 0)
    assert store.column("probe", lambda rows: table.free_ram_mb[rows],
                        dtype=np.float64, fill=-1.0) is column
    assert column.tolist() == [8192.0, 7168.0, 8192.0]
    # a claim's row without free_disk_gb: no longer ready (usage only)
    table.columns["ready"][2] = False
    table._usage_changed(2)
    again = store.column("probe", lambda rows: table.free_ram_mb[rows],
                         dtype=np.float64, fill=-1.0)
    assert store.candidates()[1].tolist() == [0, 1]
    assert again.tolist() == [8192.0, 7168.0, -1.0]


def test_limits_of_a_row_follow_its_ratios_not_its_usage():
    table = _table(vcpus=8, memory_mb=8192, local_gb=100)
    # 8 x 16.0, 8192 x 1.5, 100 x 1.0
    assert selections.limit_values(table, 1) == \
        {"vcpu": 128, "memory_mb": 12288, "disk_gb": 100}
    table.consume(1, 4, 4096, 10240)
    assert selections.limit_values(table, 1) == \
        {"vcpu": 128, "memory_mb": 12288, "disk_gb": 100}
    record = host_tables.node_record(
        host="host1", uuid=table.uuid[1], id=int(table.id[1]), vcpus=8,
        memory_mb=8192, local_gb=100, cpu_allocation_ratio=2.0,
        ram_allocation_ratio=0.5, disk_allocation_ratio=3.0)
    table.write_nodes([record], cell=table.cell_of(1))
    assert selections.limit_values(table, 1) == \
        {"vcpu": 16, "memory_mb": 4096, "disk_gb": 300}
    # the answer is a copy: changing it changes nothing kept
    selections.limit_values(table, 1)["vcpu"] = 0
    assert selections.limit_values(table, 1)["vcpu"] == 16


def test_a_column_not_constant_is_asked_again_after_a_rebuild():
    table = _table()
    store = derived.of(table)
    table.consume(0, 1, 512, 0)
    assert not store.constant("free_ram_mb")
    table.consume(1, 1, 512, 0)
    table.consume(2, 1, 512, 0)             # equal again: not known yet
    assert not store.constant("free_ram_mb")
    table.set_up({"host0": False})          # any other change: rebuilt
    assert store.constant("free_ram_mb")


def test_the_kept_pool_ranks_as_the_whole_array_while_usage_changes():
    nodes = cloud_mix.table_nodes(1500)
    scheduler = _scheduler(host_tables.make_table(nodes))
    table = scheduler.table
    spec = specs.plain_spec(vcpus=2, memory_mb=4096, root_gb=40)
    request = scheduler.request_vector(spec).for_instance(0, "x")
    pooled = 0
    for step in range(60):
        rows, _, store = scheduler._candidates(request)
        weights = weights_mod.weigh(scheduler.weighers, table, rows,
                                    request, store)
        pool = weight_totals.pool(store, weights)
        pooled += pool is not None
        for keep_ties in (False, True):
            assert ranking.Ranking(rows, weights, keep_ties=keep_ties,
                                   pool=pool).head == \
                ranking.Ranking(rows, weights, keep_ties=keep_ties).head
        best = int(rows[int(np.argmax(weights))])
        scheduler.host_manager.consume(best, request)
    assert pooled > 50


def test_a_trusted_selection_has_what_the_checked_constructor_gives():
    values = dict(service_host="host1", nodename="node1",
                  compute_node_uuid=str(uuid_lib.UUID(int=1)),
                  cell_uuid=str(uuid_lib.UUID(int=2)), limits=None,
                  allocation_request=None, allocation_request_version=None,
                  availability_zone="az1")
    fast = selection_obj.Selection.trusted(**values)
    checked = selection_obj.Selection(**values)
    assert type(fast) is selection_obj.Selection
    assert vars(fast) == vars(checked)
    assert fast.obj_to_primitive() == checked.obj_to_primitive()
    assert fast.obj_what_changed() == set(values)
