"""A node written whole whose usage alone changed is logged as a usage
change, so derived columns catch up its row instead of being rebuilt
(issue 14); anything else still moves the table as any change does."""
import json

import numpy as np

from hoststate.scheduler import derived
from hoststate.scheduler import usage_rewrites
from support import host_tables


def _table():
    nodes = [dict(host=f"host{i}", vcpus=8 + i, memory_mb=8192 * (i + 1))
             for i in range(6)]
    return host_tables.make_table(nodes)


def _record(table, row, **changes):
    """Node ``row`` as a compute_nodes row read again, with ``changes``."""
    host = table.host_of(row)
    number = int(host[len("host"):])
    record = host_tables.node_record(
        host=host, id=int(table.id[row]), uuid=table.uuid[row],
        vcpus=8 + number, memory_mb=8192 * (number + 1))
    record.update(changes)
    return record


def test_a_usage_only_rewrite_is_logged_as_the_row_it_changed():
    table = _table()
    before = table.version
    table.write_nodes([_record(table, 2, vcpus_used=3, memory_mb_used=512,
                               free_ram_mb=8192 * 3 - 512, generation=2,
                               stats=json.dumps({"num_instances": "1"}))],
                      cell=table.cell_of(2))
    assert table.rows_changed_since(before) == [2]
    assert table.columns["vcpus_used"][2] == 3


def test_any_other_change_moves_the_whole_table():
    for changes in ({"vcpus": 64}, {"host": "host9"},
                    {"cpu_allocation_ratio": 2.0},
                    {"hypervisor_version": 7000000}):
        table = _table()
        before = table.version
        table.write_nodes([_record(table, 1, **changes)],
                          cell=table.cell_of(1))
        assert table.rows_changed_since(before) is None, changes


def test_a_new_node_or_many_rows_move_the_whole_table():
    table = _table()
    before = table.version
    table.write_nodes([host_tables.node_record(host="host7")])
    assert table.rows_changed_since(before) is None
    assert usage_rewrites.outside_usage(
        table, np.arange(usage_rewrites.MOST_ROWS + 1)) is None


def test_derived_columns_after_rewrites_are_a_fresh_computation():
    table = _table()
    store = derived.of(table)

    def free_ram(rows):
        return table.columns["free_ram_mb"][rows] * 2

    store.column("free ram", free_ram, dtype=np.float64)
    for step, row in enumerate([0, 3, 3, 5]):
        used = 256 * (step + 1)
        table.write_nodes([_record(table, row, memory_mb_used=used,
                                   free_ram_mb=8192 * (row + 1) - used,
                                   generation=step + 2)],
                          cell=table.cell_of(row))
        kept = store.column("free ram", free_ram, dtype=np.float64)
        fresh = derived.Derived(table).column("free ram", free_ram,
                                              dtype=np.float64)
        assert np.array_equal(kept, fresh)
