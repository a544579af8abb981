"""The cheap one-row faces of a select give the answers of the vector ones.

``hardware.capacity.fits`` and ``free`` answer on numbers (one node, one
table row) in Python floats and on arrays in numpy: one rule, written
once, so both must agree on every value, NaN, infinite ratios, zero
totals and over-committed nodes included. A derived column computes the
few rows a usage change touched with its one-row face
(``derived.Derived.column(one_row=...)``): after each consume the
capacity filters' masks and the raw weights must equal a fresh
computation over every row.
"""
import itertools
import math

import numpy as np
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.hardware import capacity
from hoststate.scheduler import derived
from hoststate.scheduler import filter_chain
from hoststate.scheduler import filters as filters_mod
from hoststate.scheduler import weights as weights_mod
from hoststate.scheduler.filters import capacity as capacity_filters
from support import cloud_mix
from support import host_tables

NAN, INF = math.nan, math.inf
REQUESTED = [0.0, 1.0, 2.0, 4.0, 8.0, 2.5, NAN]
TOTALS = [0.0, 1.0, 4.0, 8.0, -1.0, NAN, INF]
RATIOS = [0.0, 0.5, 1.0, 1.5, 16.0, NAN, INF]
USED = [0.0, 1.0, 3.0, 4.0, 12.0, -2.0, NAN, INF]


def _grid():
    """Every combination, as four float64 columns."""
    rows = np.array(list(itertools.product(REQUESTED, TOTALS, RATIOS, USED)))
    return rows.T.copy()


@pytest.mark.parametrize("trust_counts", [True, False])
def test_fits_on_numbers_agrees_with_fits_on_arrays(trust_counts):
    requested, total, ratio, used = _grid()
    on_arrays = capacity.fits(requested, total, ratio, used,
                              trust_counts=trust_counts)
    assert on_arrays.dtype == bool
    for index in range(len(total)):
        values = (requested[index], total[index], ratio[index], used[index])
        # numpy scalars (a table row) and Python floats (a node) alike
        for numbers in (values, tuple(float(v) for v in values)):
            answer = capacity.fits(*numbers, trust_counts=trust_counts)
            assert type(answer) is bool
            assert answer == bool(on_arrays[index]), (numbers, trust_counts)


def test_fits_on_numbers_is_the_rule_at_the_boundaries():
    # free = 4 x 1.5 - 3 = 3: 3 fits, 3.5 does not; 5 is more than the
    # node's 4 in all (an instance never over-commits against itself)
    assert capacity.fits(3.0, 4.0, 1.5, 3.0) is True
    assert capacity.fits(3.5, 4.0, 1.5, 3.0) is False
    assert capacity.fits(5.0, 4.0, 16.0, 0.0) is False
    # an infinite ratio on a zero total is NaN: fits nothing, no warning
    with np.errstate(all="raise"):
        assert capacity.fits(np.float64(1.0), np.float64(0.0),
                             np.float64(INF), np.float64(0.0)) is False
        # CoreFilter's leniency: a node reporting 0 vCPUs passes
        assert capacity.fits(np.float64(2.0), np.float64(0.0),
                             np.float64(INF), np.float64(0.0),
                             trust_counts=False) is True
    # a node's Python ints: Python's arithmetic, as before
    assert capacity.fits(2, 4, 1, 2) is True
    assert capacity.fits(3, 4, 1, 2) is False


def test_free_on_numbers_is_free_on_arrays_bit_for_bit():
    _, total, ratio, used = _grid()
    on_arrays = capacity.free(total, ratio, used)
    for index in range(len(total)):
        one = capacity.free(total[index], ratio[index], used[index])
        assert type(one) is float
        assert np.float64(one).tobytes() == on_arrays[index].tobytes()


def test_anything_but_numbers_takes_the_vector_face():
    # a numpy integer or float32 scalar, a 0-d array: numpy's answer
    assert capacity.fits(np.int64(2), np.int64(4), 1.0, 1.0) == \
        np.True_
    assert isinstance(capacity.fits(2.0, np.array(4.0), 1.0, 1.0),
                      (np.ndarray, np.bool_))
    assert isinstance(capacity.free(np.float32(4.0), 1.0, 1.0), np.floating)


# --- derived columns computed again one row at a time ------------------------

FILTERS = ["ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter",
           "AggregateRamFilter"]


def _conf():
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("enabled_filters", FILTERS,
                         group="filter_scheduler")
    options.set_override("weight_classes", ["RAMWeigher", "CPUWeigher",
                                            "DiskWeigher", "IoOpsWeigher"],
                         group="filter_scheduler")
    return options


class _Request:
    vcpus = 2.0
    memory_mb = 3000.0
    disk_mb = 20.0 * 1024


def _masks_and_weights(store, table, conf, request):
    """{key: derived column} of every filter mask and raw weight."""
    found = {}
    for host_filter in filters_mod.load(conf):
        key = host_filter.mask_key(request)
        found[host_filter.name] = filter_chain.mask_column(
            store, table, host_filter, key, request).copy()
    for weigher in weights_mod.load(conf):
        found[weigher.name] = weights_mod.raw_column(
            store, table, weigher, request).copy()
    return found


def test_one_row_faces_keep_derived_columns_as_a_fresh_computation(
        monkeypatch):
    one_rows = []
    ram_mask = capacity_filters.RamFilter.filter_mask

    def counted(self, table, rows, request):
        if isinstance(rows, int):
            one_rows.append(rows)
        return ram_mask(self, table, rows, request)

    monkeypatch.setattr(capacity_filters.RamFilter, "filter_mask", counted)
    conf = _conf()
    nodes = cloud_mix.table_nodes(40, seed=3)
    table = host_tables.make_table(
        nodes, aggregates=cloud_mix.aggregates([n["host"] for n in nodes],
                                               seed=3))
    request = _Request()
    store = derived.of(table)
    one_row_filters = [f.name for f in filters_mod.load(conf)
                       if f.MASK_OF_ONE_ROW]
    assert one_row_filters == ["RamFilter", "CoreFilter", "DiskFilter"]
    _masks_and_weights(store, table, conf, request)
    rows = np.flatnonzero(table.candidates())
    # fill rows to and past their limits, a few at a time and one by one
    for step in range(60):
        row = int(rows[(step * 7) % len(rows)])
        table.consume(row, vcpus=3, memory_mb=2500, disk_mb=15 * 1024)
        if step % 9 == 0:
            for other in rows[step % 5::11][:derived.FEW_ROWS + 2]:
                table.consume(int(other), vcpus=1, memory_mb=512,
                              disk_mb=1024)
        kept = _masks_and_weights(store, table, conf, request)
        fresh = _masks_and_weights(derived.Derived(table), table, conf,
                                   request)
        for name, column in fresh.items():
            assert np.array_equal(kept[name], column, equal_nan=True), \
                (name, step)
    # the one-row face did the catching up (a row at a time)
    assert len(one_rows) >= 60
