"""HostTable.write_usage: a claim's usage columns (``nodes.UsageRow``)
leave the table exactly as writing the whole node row would, and only
when the claim wrote on the generation the table holds."""
import datetime
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoststate.scheduler import host_table
from hoststate.scheduler import nodes
from support.host_tables import node_record

CELL = "00000000-0000-0000-0000-000000000001"


def make_table(records):
    table = host_table.HostTable()
    table.write_nodes(records, cell=CELL)
    return table


def _table_state(table, row):
    """Every column of ``row`` as comparable values."""
    state = {name: table.columns[name][row].item()
             for name in table.columns}
    state["updated_at"] = table.updated_at[row]
    state.update({name: column.keys[column.codes[row]]
                  for name, column in table.interned.items()})
    return state


def _claimed(record, vcpus, memory_mb, disk_gb, instances):
    """``record`` after a claim, as the claim's UPDATE computes it."""
    after = dict(record)
    after["vcpus_used"] += vcpus
    after["memory_mb_used"] += memory_mb
    after["free_ram_mb"] = after["memory_mb"] - after["memory_mb_used"]
    after["local_gb_used"] += disk_gb
    after["free_disk_gb"] = after["local_gb"] - after["local_gb_used"]
    after["stats"] = json.dumps({"num_instances": str(instances),
                                 "io_workload": "1"})
    after["generation"] += 1
    after["updated_at"] = datetime.datetime(2026, 12, 3, 8, 0, 0)
    return after


@settings(max_examples=100, deadline=None)
@given(least=st.one_of(st.none(), st.integers(-5, 200)),
       vcpus=st.integers(0, 8), memory_mb=st.integers(0, 4096),
       disk_gb=st.integers(0, 80), instances=st.integers(1, 5))
def test_usage_write_equals_the_whole_row_write(least, vcpus, memory_mb,
                                                disk_gb, instances):
    record = node_record(host="host1", disk_available_least=least,
                         stats={"num_instances": 0, "io_workload": 0})
    whole, usage = make_table([record]), make_table([record])
    after = _claimed(record, vcpus, memory_mb, disk_gb, instances)
    whole.write_nodes([after], cell=CELL)
    assert usage.write_usage(nodes.UsageRow(
        {name: after[name] for name in nodes.USAGE_COLUMNS}))
    assert _table_state(usage, 0) == _table_state(whole, 0)
    assert usage.version == whole.version


@pytest.mark.parametrize("generation", [2, 4])
def test_a_claim_on_another_generation_writes_nothing(generation):
    """The table holds generation 2: only a claim that wrote on 2 (and
    stored 3) applies; one that wrote on 1 or 3 leaves the row as it
    is."""
    record = node_record(host="host1", generation=2)
    table = make_table([record])
    before = _table_state(table, 0)
    after = _claimed(record, 1, 512, 1, 1)
    after["generation"] = generation
    assert not table.write_usage(nodes.UsageRow(
        {name: after[name] for name in nodes.USAGE_COLUMNS}))
    assert _table_state(table, 0) == before


def test_a_node_the_table_does_not_hold_writes_nothing():
    table = make_table([node_record(host="host1")])
    other = _claimed(node_record(host="host2"), 1, 512, 1, 1)
    assert not table.write_usage(nodes.UsageRow(
        {name: other[name] for name in nodes.USAGE_COLUMNS}))
    assert np.array_equal(table.vcpus_used[:1], [0.0])
