"""What a parent knows of its children: broadcasts heard, up and down by
a clock the test moves (down after down_after_broadcasts ×
broadcast_interval seconds of silence, 3 × 10 = 30 s by default)."""
import datetime

import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate.cells import capacity
from hoststate.cells import neighbours
from hoststate.cells import tree


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def cell(name, role=tree.CHILD, offset=0.0):
    return tree.Cell(id=1, name=name, role=role,
                     transport_url=f"rabbit://u:p@h/{name}",
                     weight_offset=offset, weight_scale=1.0,
                     created_at=datetime.datetime(2026, 1, 1))


REPORT = capacity.CapacityReport(nodes=2, free_vcpus=16.0,
                                 free_memory_mb=32768.0, free_disk_gb=400.0,
                                 units={"m1.tiny": 32})


@pytest.fixture
def known():
    conf = hconf.load([], conf=cfg.ConfigOpts())
    clock = Clock()
    found = neighbours.Neighbours(conf, clock)
    found.set_tree([cell("api", tree.PARENT), cell("c1"), cell("c2", offset=2.5)])
    return found, clock, conf


def test_the_down_bound_is_the_interval_times_the_multiple(known):
    _, _, conf = known
    assert neighbours.down_after_s(conf) == 30.0
    conf.set_override("broadcast_interval", 4, group="cells")
    conf.set_override("down_after_broadcasts", 2.5, group="cells")
    assert neighbours.down_after_s(conf) == 10.0


def test_a_child_never_heard_is_down_and_named_by_its_path(known):
    found, _, _ = known
    [c1, c2] = found.candidates("api")
    assert (c1.path, c1.up, c1.capacity.nodes) == ("api!c1", False, 0)
    assert (c2.path, c2.weight_offset) == ("api!c2", 2.5)
    assert found.up_reports() == []


def test_a_child_is_up_until_its_silence_passes_the_bound(known):
    found, clock, _ = known
    assert found.heard("c1", "api!c1", {"os": ["linux"]},
                       REPORT.to_primitive()) is True
    [c1, _] = found.candidates("api")
    assert c1.up and c1.capacity == REPORT
    assert c1.capabilities == {"os": frozenset({"linux"})}
    clock.now += 30.0
    assert found.candidates("api")[0].up        # at the bound: still up
    clock.now += 0.001
    assert not found.candidates("api")[0].up
    assert found.up_reports() == []


def test_a_broadcast_of_a_cell_not_in_the_tree_is_not_kept(known):
    found, _, _ = known
    assert found.heard("api", "api", {}, REPORT.to_primitive()) is False
    assert found.heard("c9", "api!c9", {}, REPORT.to_primitive()) is False
    assert [c.cell.name for c in found.children()] == ["c1", "c2"]


def test_a_tree_reread_keeps_what_a_child_said_and_drops_removed_ones(known):
    found, _, _ = known
    found.heard("c1", "api!c1", {}, REPORT.to_primitive())
    found.set_tree([cell("c1", offset=7.0)])
    [c1] = found.children()
    assert (c1.cell.weight_offset, c1.capacity) == (7.0, REPORT)
    assert found.child("c2") is None


def test_a_build_sent_to_a_child_is_taken_from_its_report_until_the_next(
        known):
    """m1.tiny is 1 vCPU, 512 MiB, 1 GiB: two instances of 2 vCPUs,
    1024 MiB, 10 GiB each take 2 × max(2/1, 1024/512, 10/1) = 20 tiny
    slots; the totals lose 4 vCPUs, 2048 MiB, 20 GiB."""
    from hoststate.cells import capabilities
    from hoststate.hardware import capacity as hw_capacity
    found, _, _ = known
    found.heard("c1", "api!c1", {}, REPORT.to_primitive())

    class Request:
        wanted = hw_capacity.Wanted(vcpus=2, memory_mb=1024, disk_gb=10)
        flavors = [capabilities.Flavor("m1.tiny", 1, 512, 1)]

    found.consume("c1", Request, 2)
    assert found.child("c1").capacity == capacity.CapacityReport(
        nodes=2, free_vcpus=12.0, free_memory_mb=30720.0,
        free_disk_gb=380.0, units={"m1.tiny": 12})
    found.consume("c1", Request, 5)             # never below nothing
    assert found.child("c1").capacity.units == {"m1.tiny": 0}
    assert found.child("c1").capacity.free_vcpus == 2.0
    found.heard("c1", "api!c1", {}, REPORT.to_primitive())
    assert found.child("c1").capacity == REPORT


@pytest.mark.parametrize("options, budget_s, waits_s", [
    ({}, None, 30.0),                          # 3 × 10 s, not 0.9 × 60 s
    ({"call_timeout": 10}, None, 9.0),         # 0.9 × 10 s
    ({}, 20.0, 18.0),                          # a parent's budget of 20 s
    ({"broadcast_interval": 1}, None, 3.0),
])
def test_a_listing_waits_for_a_child_no_longer_than_its_down_mark(
        options, budget_s, waits_s):
    from hoststate.cells import routing
    conf = hconf.load([], conf=cfg.ConfigOpts())
    for name, value in options.items():
        conf.set_override(name, value, group="cells")
    assert routing.view_budget(conf, budget_s) == pytest.approx(waits_s)


def test_a_childs_state_and_the_age_of_its_report(known):
    found, clock, _ = known
    [c1] = [c for c in found.children() if c.cell.name == "c1"]
    assert found.state_of(c1) == ("unheard", None)
    found.heard("c1", "api!c1", {}, REPORT.to_primitive())
    clock.now += 30.0
    [c1] = [c for c in found.children() if c.cell.name == "c1"]
    assert found.state_of(c1) == ("up", 30.0)
    clock.now += 0.5
    assert found.state_of(c1) == ("down", 30.5)
