"""CrossCellWeigher: Nova conformance item 17 and the vectorized weights
against Nova's host-by-host weighing."""
import hypothesis
import hypothesis.strategies as st
import pytest

from hoststate.objects import cell_mapping
from hoststate.objects import request_spec
from hoststate.scheduler.weights import cross_cell

from .weigher_support import (CELL1, CELL2, add_cell, make_conf,
                              make_request, nova_multiplier, nova_weigh,
                              table_of, weights_by_host)


def two_cells(aggregates=()):
    """host1, host2 in CELL1; host3 in CELL2."""
    table = table_of([dict(host="host1"), dict(host="host2")], aggregates)
    return add_cell(table, [dict(host="host3")], CELL2)


def destination(allow, cell=None):
    mapping = None
    if cell is not None:
        mapping = cell_mapping.CellMapping(uuid=cell, name="c")
    return request_spec.Destination(allow_cross_cell_move=allow,
                                    cell=mapping)


def cross_cell_weights(request, table=None, **options):
    weigher = cross_cell.CrossCellWeigher(make_conf(**options))
    return weights_by_host([weigher], table or two_cells(), request)


def test_cross_cell_move_prefers_the_source_cell():
    # +1 in CELL2, -1 elsewhere -> 1 and 0, times 1e6
    request = make_request(destination=destination(True), source_cell=CELL2)
    assert cross_cell_weights(request) == {
        "host1": 0.0, "host2": 0.0, "host3": 1000000.0}


def test_negative_multiplier_prefers_other_cells():
    request = make_request(destination=destination(True), source_cell=CELL1)
    assert cross_cell_weights(
        request, cross_cell_move_weight_multiplier=-1.0) == {
            "host1": -1.0, "host2": -1.0, "host3": 0.0}


def test_no_cross_cell_move_weighs_zero():
    request = make_request(destination=destination(False), source_cell=CELL2)
    assert set(cross_cell_weights(request).values()) == {0.0}


def test_no_destination_weighs_zero():
    request = make_request(source_cell=CELL2)
    assert set(cross_cell_weights(request).values()) == {0.0}


def test_destination_cell_is_preferred_when_the_source_is_unknown():
    request = make_request(destination=destination(True, cell=CELL1))
    assert cross_cell_weights(request) == {
        "host1": 1000000.0, "host2": 1000000.0, "host3": 0.0}


def test_source_cell_wins_over_the_destination_cell():
    request = make_request(destination=destination(True, cell=CELL1),
                           source_cell=CELL2)
    assert max(cross_cell_weights(request).items(),
               key=lambda item: item[1])[0] == "host3"


def test_no_preferred_cell_weighs_zero():
    request = make_request(destination=destination(True))
    assert set(cross_cell_weights(request).values()) == {0.0}


def test_preferred_cell_without_hosts_makes_every_host_equal():
    request = make_request(destination=destination(True),
                           source_cell="00000000-0000-0000-0000-0000000000ff")
    raw = cross_cell.CrossCellWeigher(make_conf()).raw_weights(
        two_cells(), [0, 1, 2], request)
    assert raw.tolist() == [-1.0, -1.0, -1.0]


def test_aggregate_overrides_the_multiplier():
    table = two_cells([("agg", {"host3"},
                        {"cross_cell_move_weight_multiplier": "10"})])
    request = make_request(destination=destination(True), source_cell=CELL2)
    assert cross_cell_weights(request, table)["host3"] == 10.0


# --- vectorized == Nova host by host -----------------------------------------

@st.composite
def cell_scenarios(draw):
    # table_of puts the first host in CELL1; the others go anywhere
    cells = [CELL1] + [draw(st.sampled_from([CELL1, CELL2]))
                       for _ in range(draw(st.integers(1, 5)))]
    names = [f"host{i}" for i in range(len(cells))]
    aggregates = [(f"agg{i}", draw(st.sets(st.sampled_from(names))),
                   {"cross_cell_move_weight_multiplier": draw(
                       st.sampled_from(["1", "0", "-5", "nope"]))})
                  for i in range(draw(st.integers(0, 2)))]
    return names, cells, aggregates


def nova_raw(cell, allow, preferred):
    """Nova: +1/-1 against the preferred cell for cross-cell moves, else 0."""
    if not allow or preferred is None:
        return 0
    return 1.0 if cell == preferred else -1.0


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(scenario=cell_scenarios(), allow=st.booleans(),
                  preferred=st.sampled_from([CELL1, CELL2, None]),
                  multiplier=st.sampled_from([1000000.0, 1.0, 0.0]))
def test_cross_cell_matches_nova(scenario, allow, preferred, multiplier):
    names, cells, aggregates = scenario
    table = table_of([dict(host=names[0])], aggregates)
    for index in range(1, len(names)):
        add_cell(table, [dict(host=names[index])], cells[index])
    request = make_request(destination=destination(allow, cell=preferred))
    expected = nova_weigh(
        [nova_raw(c, allow, preferred) for c in cells],
        [nova_multiplier(aggregates, n, "cross_cell_move_weight_multiplier",
                         multiplier) for n in names])
    got = cross_cell_weights(
        request, table, cross_cell_move_weight_multiplier=multiplier)
    assert list(got) == names
    assert list(got.values()) == pytest.approx(expected)
