"""Node rows as columns (``nodes.NodeColumns``), interning a whole column
(``Interned.codes_of``), and the table written a column at a time against
the same nodes written one by one."""
import math

import numpy as np
import pytest

from hoststate.scheduler import host_table
from hoststate.scheduler import interned
from hoststate.scheduler import nodes
from hoststate.scheduler.records import ServiceRecord
from support import table_snapshot
from support.host_tables import node_record

NAMES = ("id", "uuid", "free_disk_gb", "disk_available_least",
         "cpu_allocation_ratio")


def test_from_rows_transposes_the_cursor_tuples():
    columns = nodes.NodeColumns.from_rows(
        NAMES, [(1, "a", 10, None, 2.0), (2, "b", None, 5, None)])
    assert len(columns) == 2
    assert [columns[name] for name in NAMES] == [
        (1, 2), ("a", "b"), (10, None), (None, 5), (2.0, None)]


def test_no_rows_give_empty_columns():
    columns = nodes.NodeColumns.from_rows(NAMES, [])
    assert (len(columns), list(columns["uuid"]),
            columns.number("id").tolist()) == (0, [], [])


def test_from_records_reads_a_missing_deleted_as_live():
    columns = nodes.NodeColumns.from_records(
        [node_record("host1"), dict(node_record("host2"), deleted=7)])
    assert list(columns["deleted"]) == [0, 7]
    assert list(columns["host"]) == ["host1", "host2"]


def test_number_reads_none_as_its_default():
    columns = nodes.NodeColumns.from_rows(
        NAMES, [(1, "a", 10, None, 2.0), (2, "b", None, 5, None)])
    assert columns.number("free_disk_gb").tolist() == [10.0, 0.0]
    assert columns.number("free_disk_gb", 3.5).tolist() == [10.0, 3.5]
    nan = columns.number("cpu_allocation_ratio", np.nan)
    assert nan[0] == 2.0 and math.isnan(nan[1])
    assert columns.number("id").dtype == np.float64


def test_take_keeps_the_positions_given_in_their_order():
    columns = nodes.NodeColumns.from_rows(
        NAMES, [(1, "a", 10, None, 2.0), (2, "b", None, 5, None),
                (3, "c", 1, 1, 1.0)])
    taken = columns.take([2, 0])
    assert (len(taken), taken["uuid"], taken["id"]) == (2, ["c", "a"], [3, 1])
    assert taken.record(1) == {"id": 1, "uuid": "a", "free_disk_gb": 10,
                               "disk_available_least": None,
                               "cpu_allocation_ratio": 2.0}


def test_scalar_columns_of_many_nodes_are_those_of_each_alone():
    records = [
        node_record("host1", free_disk_gb=90, disk_available_least=50),
        node_record("host2", free_disk_gb=None),
        node_record("host3", cpu_allocation_ratio=None,
                    ram_allocation_ratio=0.0, disk_available_least=500),
        node_record("host4", local_gb_used=7, vcpus_used=3, generation=9),
    ]
    defaults = {"cpu_allocation_ratio": 4.0, "ram_allocation_ratio": 1.5}
    together = nodes.scalar_columns(
        nodes.NodeColumns.from_records(records), defaults)
    for position, record in enumerate(records):
        alone = nodes.scalar_columns(
            nodes.NodeColumns.from_records([record]), defaults)
        assert {k: v[position].item() for k, v in together.items()} == \
            {k: v[0].item() for k, v in alone.items()}
    # worked by hand: min(50, 90) * 1024; not ready; min(500, 100) * 1024;
    # free_disk_gb = local_gb 100 - 7 used
    assert together["free_disk_mb"].tolist() == [51200.0, 0.0, 102400.0,
                                                 93 * 1024.0]
    assert together["ready"].tolist() == [True, False, True, True]
    assert (together["cpu_allocation_ratio"][2],
            together["ram_allocation_ratio"][2],
            together["disk_allocation_ratio"][2]) == (4.0, 1.5, 1.0)
    assert (together["disk_mb_used"][3], together["generation"][3]) == \
        (7 * 1024, 9)


def test_usage_columns_of_one_record_follow_the_same_rule():
    record = node_record("host1", free_disk_gb=90, disk_available_least=50,
                         generation=4)
    usage = nodes.usage_columns(record)
    columns = nodes.scalar_columns(nodes.NodeColumns.from_records([record]),
                                   {})
    assert {k: float(v) for k, v in usage.items()} == \
        {k: float(columns[k][0]) for k in usage}


def test_codes_of_interns_a_column_in_one_pass():
    column = interned.Interned("x")
    column.code("a")
    codes = column.codes_of(["b", "a", "c", "b", None, "c"])
    assert codes.tolist() == [1, 0, 2, 1, 3, 2]
    assert codes.dtype == np.int32
    assert column.keys == ["a", "b", "c", None]
    assert [column.find(k) for k in ("a", "b", "c", None, "d")] == \
        [0, 1, 2, 3, None]
    assert column.codes_of(()).tolist() == []
    assert column.codes_of(("d", "a")).tolist() == [4, 0]
    assert column.keys == ["a", "b", "c", None, "d"]


def test_codes_of_after_compaction_continues_from_the_kept_keys():
    column = interned.Interned("x", capacity=3)
    column.codes[:3] = column.codes_of(["a", "b", "c"])
    column.codes[1] = column.code("d")
    column.compact(np.array([0, 1, 2]))
    assert column.keys == ["a", "c", "d"]
    assert column.codes_of(["e", "d", "a"]).tolist() == [3, 2, 0]
    assert column.keys == ["a", "c", "d", "e"]


def _records():
    return [node_record(f"host{i}", nodename=f"node{i}",
                        stats={"num_instances": str(i)},
                        free_disk_gb=None if i == 3 else 50,
                        driver_traits=["HW_CPU_X86_AVX2"] if i % 2 else None)
            for i in range(6)]


def _table(write):
    table = host_table.HostTable()
    table.set_services([ServiceRecord(id=i + 1, host=f"host{i}",
                                      disabled=i == 1, forced_down=i == 2)
                        for i in range(5)])          # host5: no service
    write(table)
    table.set_up({f"host{i}": i != 4 for i in range(5)})
    return table


def test_write_columns_is_write_nodes_one_by_one():
    records = _records()
    together = _table(lambda t: t.write_columns(
        nodes.NodeColumns.from_records(records), cell="c1"))
    alone = _table(lambda t: [t.write_nodes([r], cell="c1") for r in records])
    assert table_snapshot.differences(table_snapshot.snapshot(together),
                                      table_snapshot.snapshot(alone)) == []
    row = together.row_of_host_node[("host4", "node4")]
    assert (together.up[row], together.has_service[row]) == (False, True)
    row = together.row_of_host_node[("host5", "node5")]
    assert (together.has_service[row], together.service_id[row]) == (False, -1)


def test_a_node_moving_host_moves_in_the_host_index():
    table = host_table.HostTable()
    [record] = _records()[:1]
    table.write_nodes([record])
    moved = dict(record, host="host9", hypervisor_hostname="node9")
    [row] = table.write_columns(nodes.NodeColumns.from_records([moved]))
    assert table.row_of_host_node == {("host9", "node9"): row}
    assert table.rows_of_host == {"host9": {row}}


@pytest.mark.parametrize("hosts", [3, 200])
def test_set_up_one_by_one_or_the_whole_column(hosts):
    """Few changed hosts are written row by row, many as a whole column:
    both leave every live row with its host's answer."""
    table = host_table.HostTable()
    table.write_nodes([node_record(f"host{i}", nodename=f"node{i}")
                       for i in range(hosts)])
    table.remove_node(table.uuid[0])
    table.set_up({f"host{i}": i % 3 == 0 for i in range(hosts)})
    live = table.live_rows()
    assert [bool(table.up[r]) for r in live] == \
        [int(table.host_of(r)[4:]) % 3 == 0 for r in live]
    assert not table.up[0]
