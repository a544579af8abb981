"""usage_from_instance: a placed guest's usage added to / removed from a
host topology (Nova's numa_usage_from_instance_numa), its typed pinning
errors and clamping, and the fit -> add -> remove round-trip property."""
import hypothesis
import pytest

from hoststate.hardware import numa as hw
from hoststate.objects import numa

from .numa_builders import (GiB_KB, ISOLATE, any_guests, dedicated_cell,
                            guest, guest_cell, host, host_cell, hosts,
                            ht_cell, limit_choices, pages, snapshot)


def two_cells():
    # Cell 0: shared {0,1}, dedicated {2,3}, 1024 MiB = 131072 x 4 KiB
    # + 256 x 2 MiB. Cell 1: shared {4,5}, dedicated {6,7}, same memory.
    return host(*[host_cell(i, cpuset={4 * i, 4 * i + 1},
                            pcpuset={4 * i + 2, 4 * i + 3}, memory=1024,
                            mempages=[pages(4, 131072), pages(2048, 256)])
                  for i in range(2)])


def placed_shared(cell_id=1, vcpus=2, memory=512, pagesize=None):
    return guest(guest_cell(cell_id, cpuset=set(range(vcpus)),
                            memory=memory, pagesize=pagesize))


@pytest.mark.parametrize("placed,expected_cell_1", [
    # 2 shared vCPUs, 512 MiB on cell 1: cpu_usage 2, memory_usage 512,
    # nothing pinned; no page size: pages of the smallest size, 512 MiB /
    # 4 KiB = 131072 (Nova 34, found by the differential test).
    (placed_shared(), (1, 2, 512, [], [(4, 131072), (2048, 0)])),
    # the same with 2 MiB pages: 512 MiB / 2 MiB = 256 pages used; memory
    # usage counts them too (as Nova does).
    (placed_shared(pagesize=2048), (1, 2, 512, [], [(4, 0), (2048, 256)])),
    # explicit small pages: 512 MiB / 4 KiB = 131072 pages.
    (placed_shared(pagesize=4), (1, 2, 512, [], [(4, 131072), (2048, 0)])),
    # dedicated vCPUs 0,1 pinned to 7,6: cpu_usage stays 0; 256 MiB of
    # small pages.
    (guest(dedicated_cell(1, pcpuset={0, 1}, memory=256,
                          cpu_pinning={0: 7, 1: 6})),
     (1, 0, 256, [6, 7], [(4, 65536), (2048, 0)])),
    # mixed: 1 shared vCPU counted, 1 pinned, plus the emulator CPU.
    (guest(guest_cell(1, cpuset={0}, pcpuset={1}, memory=128,
                      cpu_policy="mixed", cpu_pinning={1: 6},
                      cpuset_reserved={7})),
     (1, 1, 128, [6, 7], [(4, 32768), (2048, 0)])),
])
def test_add_then_remove(placed, expected_cell_1):
    start = two_cells()
    used = hw.usage_from_instance(start, placed)
    assert snapshot(used) == [snapshot(start)[0], expected_cell_1]
    assert snapshot(hw.usage_from_instance(used, placed, free=True)) == \
        snapshot(start)


def test_isolate_pins_and_unpins_whole_cores():
    start = host(ht_cell())     # siblings {0,4} {1,5} {2,6} {3,7}
    placed = guest(dedicated_cell(0, pcpuset={0, 1}, thread=ISOLATE,
                                  cpu_pinning={0: 0, 1: 1}))
    used = hw.usage_from_instance(start, placed)
    assert used.cells[0].pinned_cpus == {0, 1, 4, 5}
    back = hw.usage_from_instance(used, placed, free=True)
    assert back.cells[0].pinned_cpus == set()


def test_pinning_a_pinned_cpu_raises():
    start = two_cells()
    placed = guest(dedicated_cell(0, pcpuset={0}, cpu_pinning={0: 2}))
    used = hw.usage_from_instance(start, placed)
    with pytest.raises(numa.CPUPinningInvalid):
        hw.usage_from_instance(used, placed)


def test_unpinning_a_free_cpu_raises():
    placed = guest(dedicated_cell(0, pcpuset={0}, cpu_pinning={0: 2}))
    with pytest.raises(numa.CPUUnpinningInvalid):
        hw.usage_from_instance(two_cells(), placed, free=True)


def test_pinning_a_shared_cpu_raises():
    placed = guest(dedicated_cell(0, pcpuset={0}, cpu_pinning={0: 0}))
    with pytest.raises(numa.CPUPinningUnknown):
        hw.usage_from_instance(two_cells(), placed)


def test_removal_clamps_at_zero():
    # Nothing in use; removing 2 vCPUs, 512 MiB and 256 x 2 MiB pages
    # would go negative: every count stops at 0.
    placed = placed_shared(pagesize=2048)
    back = hw.usage_from_instance(two_cells(), placed, free=True)
    assert snapshot(back) == snapshot(two_cells())
    # Partly: 1 vCPU and 100 MiB in use, 10 pages used: all go to 0.
    start = two_cells()
    start.cells[1].cpu_usage = 1
    start.cells[1].memory_usage = 100
    start.cells[1].mempages[1].used = 10
    back = hw.usage_from_instance(start, placed, free=True)
    assert snapshot(back)[1] == (1, 0, 0, [], [(4, 0), (2048, 0)])


def test_a_pinned_guest_finds_the_small_pages_of_a_floating_one_used():
    """Nova 34: a floating guest without a page size uses small pages;
    a pinned guest without one fits against the free small pages. Cell
    0 has 512 MiB of 4 KiB pages: after a 256 MiB floating guest, 256
    MiB are free, and a 512 MiB pinned guest no longer fits."""
    start = host(two_cells().cells[0])
    floating = hw.usage_from_instance(start, guest(guest_cell(
        0, cpuset={0}, memory=256)))
    assert floating.cells[0].mempages[0].used == 65536
    pinned = guest(dedicated_cell(0, pcpuset={0}, memory=512))
    assert not hw.fit_instance_to_host(floating, pinned)
    assert hw.fit_instance_to_host(start, pinned)
    small = guest(dedicated_cell(0, pcpuset={0}, memory=256))
    assert hw.fit_instance_to_host(floating, small)


def test_page_count_rounds_up():
    # 3 MiB on 2 MiB pages is 1.5 pages: counted as 2.
    placed = guest(guest_cell(0, cpuset={0}, memory=3, pagesize=2048))
    used = hw.usage_from_instance(two_cells(), placed)
    assert used.cells[0].mempages[1].used == 2


def test_usage_returns_a_new_topology_and_changes_no_input():
    start = two_cells()
    placed = guest(dedicated_cell(0, pcpuset={0}, cpu_pinning={0: 3},
                                  pagesize=GiB_KB))
    before = (start.obj_to_primitive(), placed.obj_to_primitive())
    used = hw.usage_from_instance(start, placed)
    assert used is not start
    assert (start.obj_to_primitive(), placed.obj_to_primitive()) == before
    assert used.cells[0].pinned_cpus == {3}


def test_none_inputs():
    assert hw.usage_from_instance(None, placed_shared()) is None
    copy = hw.usage_from_instance(two_cells(), None)
    assert snapshot(copy) == snapshot(two_cells())


def test_guest_cell_on_a_missing_host_cell_is_ignored():
    # As Nova: a host that lost cell 5 still counts the rest.
    placed = guest(guest_cell(5, cpuset={0}, memory=512),
                   guest_cell(0, cpuset={1}, memory=256))
    used = hw.usage_from_instance(two_cells(), placed)
    assert [(c.cpu_usage, c.memory_usage) for c in used.cells] == \
        [(1, 256), (0, 0)]


@pytest.mark.parametrize("cell", [
    guest_cell(0, cpuset={0}, pagesize=hw.PAGESIZE_LARGE),
    dedicated_cell(0, pcpuset={0}),          # never given a pinning
])
def test_unplaced_guest_cells_are_refused(cell):
    with pytest.raises(hw.NUMACellNotPlaced):
        hw.usage_from_instance(two_cells(), guest(cell))


# --- property: fit, add, remove is the identity ------------------------------

@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(start=hosts(), request=any_guests(),
                  limits_=limit_choices())
def test_fit_add_remove_round_trip(start, request, limits_):
    before = (start.obj_to_primitive(), request.obj_to_primitive())
    fit = hw.fit_instance_to_host(start, request, limits_)
    assert (start.obj_to_primitive(), request.obj_to_primitive()) == before
    if not fit:
        assert fit.reasons and fit.topology is None
        return
    used = hw.usage_from_instance(start, fit.topology)
    back = hw.usage_from_instance(used, fit.topology, free=True)
    assert snapshot(back) == snapshot(start)
    assert snapshot(start) == snapshot(hosts_copy(start, before[0]))


def hosts_copy(start, primitive):
    """The host as it was before any call (to prove nothing mutated it)."""
    return numa.NUMATopology.obj_from_primitive(primitive)
