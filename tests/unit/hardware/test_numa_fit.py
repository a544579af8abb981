"""fit_instance_to_host: Nova's conformance cases, overcommit limits, CPU
pinning under each thread policy, page sizes, multi-cell placement, and a
property test over random sequences of fits on one host."""
import hypothesis
import pytest
from hypothesis import strategies as st

from hoststate.hardware import numa as hw
from hoststate.objects import fields

from .numa_builders import (DEDICATED, GiB_KB, ISOLATE, MIXED, PREFER,
                            REQUIRE, any_guests, dedicated_cell, guest,
                            guest_cell, host, host_cell, hosts, ht_cell,
                            limit_choices, limits, nova_numa_topology,
                            nova_numa_topology_w_ht, pages, snapshot,
                            taken_cpus)

EMU_ISOLATE = fields.CPUEmulatorThreadsPolicy.ISOLATE


def placement(fit):
    """(host cell id, pinning, reserved, pagesize) per placed guest cell."""
    assert fit.fits, fit.reasons
    return [(c.id, c.cpu_pinning, c.cpuset_reserved, c.pagesize)
            for c in fit.topology.cells]


def only_reason(fit):
    assert not fit.fits and fit.topology is None
    assert len(fit.reasons) == 1, fit.reasons
    return fit.reasons[0]


# --- Fit ---------------------------------------------------------------------

def test_fit_unpacks_and_is_true_when_it_fits():
    fit = hw.fit_instance_to_host(nova_numa_topology(),
                                  guest(guest_cell(cpuset={0})))
    topology, reasons = fit
    assert fit and fit.fits and reasons == [] and topology is fit.topology
    bad = hw.Fit(None, ["no"])
    assert not bad and not bad.fits


# --- Nova conformance (reference section 7.3, items 23-25) -------------------

def test_numa_instance_on_host_without_numa_does_not_fit():
    # The function takes the host topology; None (or no cells) is a
    # reason, not an exception.
    for no_numa in (None, host()):
        fit = hw.fit_instance_to_host(no_numa, guest(guest_cell(cpuset={0})))
        assert "no NUMA topology" in only_reason(fit)


def test_no_numa_instance_fits_anything_with_nothing_to_place():
    for topology in (None, nova_numa_topology()):
        assert hw.fit_instance_to_host(topology, None) == hw.Fit(None, [])
        assert hw.fit_instance_to_host(topology, guest()) == hw.Fit(None, [])


def test_three_shared_vcpus_on_two_cpu_cells_fail_at_ratio_1():
    # Nova test_numa_topology_filter_fail_cpu: guest cell 1 has 3 shared
    # vCPUs; every host cell has 2 shared CPUs.
    topo = guest(guest_cell(0, cpuset={1}, memory=256),
                 guest_cell(1, cpuset={2, 3, 4}, memory=256))
    fit = hw.fit_instance_to_host(nova_numa_topology(), topo,
                                  limits(cpu=1.0, ram=1.5))
    assert not fit
    assert ("guest cell 1 on host cell 0: 3 shared vCPUs exceed the cell's "
            "2 shared CPUs") in fit.reasons


def test_a_guest_cell_never_overcommits_against_itself():
    # Nova test_fit_instance_cell_self_overcommit: 3 vCPUs in one guest
    # cell on a 2-CPU cell fail at ratio 2.0 too (the limit 2 x 2 = 4 would
    # allow them, but a guest cell may not exceed the cell's CPUs).
    one_cell = host(host_cell(0, cpuset={0, 1}, memory=1024))
    topo = guest(guest_cell(cpuset={0, 1, 2}, memory=256))
    for ratio in (1.0, 2.0, 16.0):
        fit = hw.fit_instance_to_host(one_cell, topo, limits(cpu=ratio))
        assert only_reason(fit) == ("guest cell 0 on host cell 0: 3 shared "
                                    "vCPUs exceed the cell's 2 shared CPUs")


@pytest.mark.parametrize("ratio,fits", [
    # 1 vCPU in use + 2 new = 3 against 2 CPUs x ratio:
    (1.0, False),    # limit 2: 3 > 2
    (1.5, True),     # limit 3: 3 <= 3
    (2.0, True),     # limit 4
])
def test_shared_cpus_overcommit_by_ratio(ratio, fits):
    busy = host(host_cell(0, cpuset={0, 1}, memory=1024, cpu_usage=1))
    fit = hw.fit_instance_to_host(busy, guest(guest_cell(cpuset={0, 1})),
                                  limits(cpu=ratio))
    assert fit.fits is fits
    if not fits:
        assert only_reason(fit) == (
            "guest cell 0 on host cell 0: 2 shared vCPUs on top of 1 in use "
            "exceed the limit of 2 (2 CPUs x ratio 1)")


def test_1024_mib_on_512_mib_cells_fails_at_ratio_1():
    # Nova test_numa_topology_filter_fail_memory: 1024 MiB guest cell,
    # 512 MiB host cells.
    topo = guest(guest_cell(0, cpuset={1}, memory=1024),
                 guest_cell(1, cpuset={2, 3}, memory=512))
    fit = hw.fit_instance_to_host(nova_numa_topology(), topo,
                                  limits(cpu=16.0, ram=1.0))
    assert ("guest cell 0 on host cell 0: needs 1024 MiB of 4 KiB pages, "
            "the cell has 512 MiB") in fit.reasons
    assert not fit


@pytest.mark.parametrize("ratio,fits", [
    # 256 MiB in use + 512 new = 768 against 512 MiB x ratio:
    (1.0, False),    # limit 512
    (1.5, True),     # limit 768: 768 <= 768
])
def test_memory_overcommit_by_ratio(ratio, fits):
    busy = host(host_cell(0, cpuset={0, 1}, memory=512, memory_usage=256))
    fit = hw.fit_instance_to_host(
        busy, guest(guest_cell(cpuset={0}, memory=512)), limits(ram=ratio))
    assert fit.fits is fits
    if not fits:
        assert only_reason(fit) == (
            "guest cell 0 on host cell 0: 512 MiB on top of 256 MiB in use "
            "exceed the limit of 512 MiB (512 MiB x ratio 1)")


def test_nova_pass_set_limit_case():
    # Nova test_numa_topology_filter_pass_set_limit: cells of 1 and 2 shared
    # vCPUs, 512 MiB each, ratios 21 / 1.3, on the 2-cell host. Equal cell
    # counts: no reordering, guest cell i on host cell i.
    topo = guest(guest_cell(0, cpuset={1}, memory=512),
                 guest_cell(1, cpuset={2, 3}, memory=512))
    fit = hw.fit_instance_to_host(nova_numa_topology(), topo,
                                  limits(cpu=21, ram=1.3))
    assert placement(fit) == [(0, None, None, None), (1, None, None, None)]


def test_dedicated_require_needs_smt():
    # Nova test_numa_topology_filter_fail/pass_cpu_thread_policy_require.
    topo = guest(dedicated_cell(0, pcpuset={0, 1}, thread=REQUIRE))
    no_ht = nova_numa_topology()
    assert not hw.host_has_threads(no_ht)
    fit = hw.fit_instance_to_host(no_ht, topo, limits())
    assert fit.reasons == [
        "guest cell 0 on host cell %d: thread policy require: the cell has "
        "no SMT sibling threads" % cell for cell in (0, 1)]

    ht = nova_numa_topology_w_ht()
    assert hw.host_has_threads(ht)
    # Both cells have 4 free dedicated CPUs: no reordering preference, cell
    # 0 first. Cores {1,5} and {2,6} both offer 2 free threads; 2 vCPUs take
    # the 2 threads of the first core: 0 -> 1, 1 -> 5 (siblings).
    fit = hw.fit_instance_to_host(ht, topo, limits())
    assert placement(fit) == [(0, {0: 1, 1: 5}, None, None)]


def test_host_has_threads():
    assert hw.host_has_threads(None) is False
    assert hw.host_has_threads(host(host_cell(0, pcpuset={0, 1}))) is False
    assert hw.host_has_threads(host(ht_cell())) is True


# --- pinning under each thread policy ----------------------------------------
# ht_cell(): 4 cores of 2 threads, siblings {0,4} {1,5} {2,6} {3,7}.

@pytest.mark.parametrize("pinned,vcpus,thread,expected", [
    # prefer: the most free threads per core first. All free: 2 per core
    # over cores in order: 0,4 then 1,...
    ((), 3, PREFER, {0: 0, 1: 4, 2: 1}),
    ((), 3, None, {0: 0, 1: 4, 2: 1}),
    # 0 taken: core {0,4} offers only 4; cores with 2 free are {1,5}...
    ((0,), 2, PREFER, {0: 1, 1: 5}),
    # 0,1,2 taken: free per core [4] [5] [6] [3,7]. 4 vCPUs: 2 per core
    # gives only 3,7; 1 per core gives 4,5,6,3.
    ((0, 1, 2), 4, PREFER, {0: 4, 1: 5, 2: 6, 3: 3}),
    # 5 vCPUs: 1 per core gives 4 threads < 5; any free thread in core
    # order: 4,5,6,3,7.
    ((0, 1, 2), 5, PREFER, {0: 4, 1: 5, 2: 6, 3: 3, 4: 7}),
    # require: only cores with 2+ free threads.
    ((0, 1, 2), 2, REQUIRE, {0: 3, 1: 7}),
    ((), 3, REQUIRE, {0: 0, 1: 4, 2: 1}),
    # isolate: one thread per wholly free core.
    ((), 2, ISOLATE, {0: 0, 1: 1}),
    ((0, 5), 2, ISOLATE, {0: 2, 1: 3}),
])
def test_pinning(pinned, vcpus, thread, expected):
    topo = guest(dedicated_cell(pcpuset=set(range(vcpus)), thread=thread))
    cell = ht_cell(pinned=pinned, legacy=thread == ISOLATE)
    fit = hw.fit_instance_to_host(host(cell), topo)
    assert placement(fit) == [(0, expected, None, None)]


@pytest.mark.parametrize("pinned,vcpus,thread,reason", [
    # 0,1,2 taken: only core {3,7} has 2 free threads: 2 < 3.
    ((0, 1, 2), 3, REQUIRE,
     "thread policy require: 3 vCPUs need free sibling threads, cores with "
     "2 or more free threads offer 2"),
    # 0 and 5 taken: wholly free cores {2,6} {3,7}: 2 < 3.
    ((0, 5), 3, ISOLATE,
     "thread policy isolate: 3 vCPUs need 3 cores with all threads "
     "dedicated and free, 2 have"),
    # 8 - 6 = 2 free, 3 wanted, whatever the policy.
    ((0, 1, 2, 4, 5, 6), 3, PREFER,
     "3 dedicated vCPUs need 3 free dedicated CPUs, 2 free"),
    # 9 vCPUs on 8 dedicated CPUs: capacity, not just what is free.
    ((), 9, PREFER, "9 dedicated vCPUs exceed the cell's 8 dedicated CPUs"),
])
def test_pinning_failures(pinned, vcpus, thread, reason):
    topo = guest(dedicated_cell(pcpuset=set(range(vcpus)), thread=thread))
    cell = ht_cell(pinned=pinned, legacy=thread == ISOLATE)
    fit = hw.fit_instance_to_host(host(cell), topo)
    assert only_reason(fit) == "guest cell 0 on host cell 0: " + reason


def test_isolate_consumes_sibling_threads():
    one = host(ht_cell(legacy=True))
    topo = guest(dedicated_cell(pcpuset={0, 1}, thread=ISOLATE))
    fit = hw.fit_instance_to_host(one, topo)
    assert placement(fit) == [(0, {0: 0, 1: 1}, None, None)]
    used = hw.usage_from_instance(one, fit.topology)
    # 2 vCPUs pinned to 0 and 1 make their siblings 4 and 5 unusable.
    assert used.cells[0].pinned_cpus == {0, 1, 4, 5}
    # Wholly free cores left: {2,6} {3,7}: 3 isolated vCPUs do not fit...
    three = guest(dedicated_cell(pcpuset={0, 1, 2}, thread=ISOLATE))
    assert not hw.fit_instance_to_host(used, three)
    # ... and 4 prefer vCPUs take the 4 threads left: 2,6,3,7.
    four = guest(dedicated_cell(pcpuset={0, 1, 2, 3}, thread=PREFER))
    assert placement(hw.fit_instance_to_host(used, four)) == [
        (0, {0: 2, 1: 6, 2: 3, 3: 7}, None, None)]


def test_isolate_on_a_host_without_smt_is_plain_pinning():
    no_ht = host(host_cell(0, pcpuset={0, 1, 2}))
    topo = guest(dedicated_cell(pcpuset={0, 1, 2}, thread=ISOLATE))
    assert placement(hw.fit_instance_to_host(no_ht, topo)) == [
        (0, {0: 0, 1: 1, 2: 2}, None, None)]


@pytest.mark.parametrize("cell", [
    ht_cell(),                                      # dedicated CPUs only
    host_cell(0, cpuset={0}, pcpuset={1, 4, 5},     # some shared
              siblings=[{0, 4}, {1, 5}]),
])
def test_isolate_is_refused_on_smt_with_separate_cpu_sets(cell):
    """Issue 13, case 5: a cell with SMT whose dedicated and shared sets
    differ (cpu_dedicated_set / cpu_shared_set) refuses isolate, as Nova
    34 does; only a legacy vcpu_pin_set cell emulates it."""
    topo = guest(dedicated_cell(pcpuset={0}, thread=ISOLATE))
    assert only_reason(hw.fit_instance_to_host(host(cell), topo)) == (
        "guest cell 0 on host cell 0: thread policy isolate: the cell has "
        "SMT sibling threads and separate dedicated and shared CPU sets, "
        "where Nova refuses isolate")
    assert hw.fit_instance_to_host(host(ht_cell(legacy=True)), topo)


def test_emulator_threads_isolate_reserves_one_more_cpu_on_guest_cell_0():
    two = host(host_cell(0, pcpuset={0, 1, 2, 3}),
               host_cell(1, pcpuset={4, 5, 6, 7}))
    topo = guest(dedicated_cell(0, pcpuset={0, 1}),
                 dedicated_cell(1, pcpuset={2, 3}),
                 emulator_threads_policy=EMU_ISOLATE)
    # Guest cell 0 pins 0,1 and reserves the next free CPU 2; cell 1 none.
    assert placement(hw.fit_instance_to_host(two, topo)) == [
        (0, {0: 0, 1: 1}, {2}, None), (1, {2: 4, 3: 5}, None, None)]
    # 4 vCPUs + 1 on 4 dedicated CPUs.
    full = guest(dedicated_cell(0, pcpuset={0, 1, 2, 3}),
                 emulator_threads_policy=EMU_ISOLATE)
    fit = hw.fit_instance_to_host(host(host_cell(0, pcpuset={0, 1, 2, 3})),
                                  full)
    assert only_reason(fit) == (
        "guest cell 0 on host cell 0: 4 dedicated vCPUs (+1 for emulator "
        "threads) exceed the cell's 4 dedicated CPUs")


def test_emulator_cpu_under_isolate_takes_a_whole_core():
    topo = guest(dedicated_cell(pcpuset={0}, thread=ISOLATE),
                 emulator_threads_policy=EMU_ISOLATE)
    cell = ht_cell(pinned=(5,), legacy=True)
    fit = hw.fit_instance_to_host(host(cell), topo)
    # Wholly free cores {0,4} {2,6} {3,7} ({1,5} has 5 pinned): the vCPU
    # takes 0, the emulator thread core {2,6}'s first thread 2.
    assert placement(fit) == [(0, {0: 0}, {2}, None)]
    used = hw.usage_from_instance(host(cell), fit.topology)
    assert used.cells[0].pinned_cpus == {0, 4, 5, 2, 6}


def test_mixed_cell_pins_only_its_dedicated_vcpus():
    cell = host_cell(0, cpuset={0, 1}, pcpuset={2, 3})
    topo = guest(guest_cell(cpuset={0, 1}, pcpuset={2}, cpu_policy=MIXED))
    fit = hw.fit_instance_to_host(host(cell), topo, limits())
    assert placement(fit) == [(0, {2: 2}, None, None)]
    assert fit.topology.cells[0].cpuset == {0, 1}


def test_legacy_dedicated_cell_with_vcpus_in_cpuset_is_pinned():
    topo = guest(guest_cell(cpuset={0, 1}, cpu_policy=DEDICATED))
    fit = hw.fit_instance_to_host(host(host_cell(0, pcpuset={5, 6})), topo)
    assert placement(fit) == [(0, {0: 5, 1: 6}, None, None)]
    cell = fit.topology.cells[0]
    assert (cell.cpuset, cell.pcpuset) == (set(), {0, 1})


# --- page sizes --------------------------------------------------------------

def paged_cell(used_1g=0, **kw):
    # 8192 MiB: 4096 MiB of 4 KiB pages (1048576), 2048 MiB of 2 MiB pages
    # (1024) and 2048 MiB of 1 GiB pages (2).
    return host_cell(0, cpuset={0, 1}, memory=8192, mempages=[
        pages(4, 1048576), pages(2048, 1024), pages(GiB_KB, 2, used=used_1g)],
        **kw)


@pytest.mark.parametrize("request_,memory,used_1g,expected", [
    # large: the largest size that fits, trying 1 GiB then 2 MiB
    (hw.PAGESIZE_LARGE, 1024, 0, GiB_KB),      # 1 page of 1 GiB
    (hw.PAGESIZE_LARGE, 2048, 0, GiB_KB),      # 2 pages, both free
    (hw.PAGESIZE_LARGE, 1536, 0, 2048),        # 1.5 GiB: not whole 1 GiB
    (hw.PAGESIZE_LARGE, 1024, 2, 2048),        # 1 GiB pages all used
    (hw.PAGESIZE_ANY, 4096, 0, 4),             # only 4 KiB pages reach
    (hw.PAGESIZE_ANY, 1024, 0, GiB_KB),        # any also prefers large
    (hw.PAGESIZE_SMALL, 1024, 0, 4),           # the smallest size
    (2048, 1024, 0, 2048),                     # explicit
    (4, 4096, 0, 4),                           # 4096 MiB = all 4 KiB pages
])
def test_page_size_choice(request_, memory, used_1g, expected):
    topo = guest(guest_cell(cpuset={0}, memory=memory, pagesize=request_))
    fit = hw.fit_instance_to_host(host(paged_cell(used_1g)), topo)
    assert placement(fit) == [(0, None, None, expected)]


@pytest.mark.parametrize("request_,memory,used_1g,reason", [
    # 4096 MiB: 1 GiB needs 4 pages (2 free), 2 MiB needs 2048 (1024 free)
    (hw.PAGESIZE_LARGE, 4096, 0,
     "4096 MiB in large pages: 1048576 KiB: needs 4 pages, 2 free; "
     "2048 KiB: needs 2048 pages, 1024 free"),
    (GiB_KB, 1024, 2,
     "1024 MiB in 1048576 KiB pages: 1048576 KiB: needs 1 pages, 0 free"),
    (GiB_KB, 1536, 0,
     "1536 MiB in 1048576 KiB pages: not a whole number of 1048576 KiB "
     "pages"),
    (16384, 1024, 0,
     "1024 MiB in 16384 KiB pages: the cell has no such pages (sizes 4, "
     "2048, 1048576 KiB)"),
    # 4096 + 1 MiB of 4 KiB pages: 1048832 > 1048576
    (hw.PAGESIZE_SMALL, 4097, 0,
     "4097 MiB in small pages: 4 KiB: needs 1048832 pages, 1048576 free"),
])
def test_page_size_failures(request_, memory, used_1g, reason):
    topo = guest(guest_cell(cpuset={0}, memory=memory, pagesize=request_))
    fit = hw.fit_instance_to_host(host(paged_cell(used_1g)), topo)
    assert only_reason(fit) == "guest cell 0 on host cell 0: " + reason


def test_large_pages_on_a_cell_with_only_small_pages():
    topo = guest(guest_cell(cpuset={0}, memory=256,
                            pagesize=hw.PAGESIZE_LARGE))
    fit = hw.fit_instance_to_host(host(host_cell(0, cpuset={0})), topo)
    assert only_reason(fit) == (
        "guest cell 0 on host cell 0: 256 MiB in large pages: the cell has "
        "no such pages (sizes 4 KiB)")


def test_a_shared_guest_with_huge_pages_is_held_by_the_ram_limit_too():
    """Issue 13, case 4: Nova 34 applies the cell's memory limit to every
    guest cell with floating CPUs, page size requested or not. 8000 MiB
    in use + 1024 > 8192 x 1.0: refused with limits, though a 1 GiB page
    is free; without limits the page is all that counts."""
    busy = paged_cell(memory_usage=8000)
    topo = guest(guest_cell(cpuset={0}, memory=1024, pagesize=GiB_KB))
    assert hw.fit_instance_to_host(host(busy), topo)
    fit = hw.fit_instance_to_host(host(busy), topo, limits())
    assert only_reason(fit) == (
        "guest cell 0 on host cell 0: 1024 MiB on top of 8000 MiB in use "
        "exceed the limit of 8192 MiB (8192 MiB x ratio 1)")


# --- limits ------------------------------------------------------------------

def test_without_limits_shared_usage_is_not_counted():
    # 2 of 2 CPUs and all 512 MiB in use: Nova checks usage only with
    # limits; without them only the guest cell against the cell's size.
    full = host(host_cell(0, cpuset={0, 1}, memory=512, cpu_usage=2,
                          memory_usage=512))
    topo = guest(guest_cell(cpuset={0, 1}, memory=512))
    assert hw.fit_instance_to_host(full, topo)
    assert not hw.fit_instance_to_host(full, topo, limits())
    assert not hw.fit_instance_to_host(full, topo, {
        "cpu_allocation_ratio": 1.0, "ram_allocation_ratio": 1.0})


def test_pinned_guests_are_held_by_free_pages_not_by_the_ram_ratio():
    """Issue 13, case 3: a guest with pinned CPUs and no page size fits
    against the free pages of the cell's smallest size, and no memory
    ratio applies (Nova 34). memory_usage 256 of 512 would refuse 512 MiB
    at ratio 1, but all 512 MiB of 4 KiB pages are free: it fits."""
    busy = host(host_cell(0, pcpuset={0, 1}, memory=512, memory_usage=256))
    topo = guest(dedicated_cell(pcpuset={0}, memory=512))
    assert hw.fit_instance_to_host(busy, topo, limits())
    # the pages are what counts: 384 MiB of them used, 128 free
    paged = host(host_cell(0, pcpuset={0, 1}, memory=512,
                           mempages=[pages(4, 512 * 256, used=384 * 256)]))
    fit = hw.fit_instance_to_host(paged, topo, limits(ram=16.0))
    assert only_reason(fit) == (
        "guest cell 0 on host cell 0: needs 512 MiB of free 4 KiB pages "
        "(pinned CPUs never overcommit), the cell has 128 MiB free")


def test_floating_guests_fit_against_every_small_page():
    """Without a page size a floating guest may overcommit the pages
    (Nova's use_free=False): all 512 MiB count, used or not."""
    paged = host(host_cell(0, cpuset={0, 1}, memory=512,
                           mempages=[pages(4, 512 * 256, used=512 * 256)]))
    assert hw.fit_instance_to_host(paged, guest(guest_cell(cpuset={0},
                                                           memory=512)))
    fit = hw.fit_instance_to_host(paged, guest(guest_cell(cpuset={0},
                                                          memory=1024)))
    assert only_reason(fit) == ("guest cell 0 on host cell 0: needs 1024 MiB"
                                " of 4 KiB pages, the cell has 512 MiB")


def test_a_cell_without_pages_holds_pinned_guests_by_free_memory():
    """A cell that reports no pages: pinned CPUs need the memory free,
    floating ones no more than the cell has."""
    busy = host(host_cell(0, cpuset={2}, pcpuset={0, 1}, memory=512,
                          memory_usage=256, mempages=[]))
    fit = hw.fit_instance_to_host(busy, guest(dedicated_cell(
        pcpuset={0}, memory=512)))
    assert only_reason(fit) == (
        "guest cell 0 on host cell 0: needs 512 MiB free (pinned CPUs never"
        " overcommit), the cell has 256 MiB free")
    assert hw.fit_instance_to_host(busy, guest(guest_cell(cpuset={0},
                                                          memory=512)))


def test_dedicated_cpus_are_never_overcommitted_even_without_limits():
    busy = host(host_cell(0, pcpuset={0, 1}, pinned_cpus={0, 1}))
    fit = hw.fit_instance_to_host(busy, guest(dedicated_cell(pcpuset={0})))
    assert "need 1 free dedicated CPUs, 0 free" in only_reason(fit)


# --- several cells -----------------------------------------------------------

def test_more_guest_cells_than_host_cells():
    topo = guest(guest_cell(0, cpuset={0}), guest_cell(1, cpuset={1}))
    fit = hw.fit_instance_to_host(host(host_cell(0, cpuset={0, 1})), topo)
    assert only_reason(fit) == ("the guest asks for 2 NUMA cells and the "
                                "host has 1")


def test_guest_cells_may_swap_host_cells():
    # Host cell 0 has 1024 MiB, host cell 1 2048. Guest cell 0 (2048 MiB)
    # fits only on host cell 1, guest cell 1 (1024 MiB) then takes 0.
    two = host(host_cell(0, cpuset={0, 1}, memory=1024),
               host_cell(1, cpuset={2, 3}, memory=2048))
    topo = guest(guest_cell(0, cpuset={0}, memory=2048),
                 guest_cell(1, cpuset={1}, memory=1024))
    assert [c.id for c in hw.fit_instance_to_host(two, topo).topology.cells] \
        == [1, 0]


def test_guest_cells_need_distinct_host_cells():
    # Both guest cells fit on host cell 1 only.
    two = host(host_cell(0, cpuset={0, 1}, memory=512),
               host_cell(1, cpuset={2, 3}, memory=2048))
    topo = guest(guest_cell(0, cpuset={0}, memory=1024),
                 guest_cell(1, cpuset={1}, memory=1024))
    fit = hw.fit_instance_to_host(two, topo)
    assert fit.reasons == [
        "guest cell 0 on host cell 0: needs 1024 MiB of 4 KiB pages, the "
        "cell has 512 MiB",
        "guest cell 1 on host cell 0: needs 1024 MiB of 4 KiB pages, the "
        "cell has 512 MiB",
        "no assignment of the 2 guest cells to distinct host cells fits "
        "(guest cell 0 fits on host cells [1]; guest cell 1 fits on host "
        "cells [1])"]


@pytest.mark.parametrize("pack,expected", [
    (False, 1),   # spread: the cell with less in use (cpu_usage 0) first
    (True, 0),    # pack: the busier cell (cpu_usage 1) first
])
def test_shared_guest_spreads_by_default(pack, expected):
    two = host(host_cell(0, cpuset={0, 1}, cpu_usage=1),
               host_cell(1, cpuset={2, 3}))
    fit = hw.fit_instance_to_host(two, guest(guest_cell(cpuset={0})),
                                  pack=pack)
    assert placement(fit)[0][0] == expected


@pytest.mark.parametrize("pack,expected", [
    (False, 1),   # spread: 2 free dedicated CPUs beat 1
    (True, 0),
])
def test_pinned_guest_orders_by_free_dedicated_cpus(pack, expected):
    two = host(host_cell(0, pcpuset={0, 1}, pinned_cpus={0}),
               host_cell(1, pcpuset={2, 3}))
    fit = hw.fit_instance_to_host(two, guest(dedicated_cell(pcpuset={0})),
                                  pack=pack)
    assert placement(fit)[0][0] == expected


def test_fit_changes_neither_input():
    h = host(ht_cell(0, legacy=True), ht_cell(1, first=8, legacy=True))
    topo = guest(dedicated_cell(0, pcpuset={0, 1}, thread=ISOLATE),
                 dedicated_cell(1, pcpuset={2, 3}, pagesize=hw.PAGESIZE_ANY),
                 emulator_threads_policy=EMU_ISOLATE,
                 instance_uuid="2b0bd4d1-9b5e-4a8b-8c1a-6a3e5b0e7a11")
    before = (h.obj_to_primitive(), topo.obj_to_primitive())
    fit = hw.fit_instance_to_host(h, topo)
    assert fit
    assert (h.obj_to_primitive(), topo.obj_to_primitive()) == before
    assert fit.topology is not topo
    assert fit.topology.instance_uuid == topo.instance_uuid
    assert fit.topology.emulator_threads_policy == EMU_ISOLATE
    assert [c.pagesize for c in topo.cells] == [None, hw.PAGESIZE_ANY]
    assert [c.pagesize for c in fit.topology.cells] == [None, 4]


# --- property: a sequence of fits on one host --------------------------------

def _floating_without_pages(placed, cell_id):
    """Whether a guest with floating CPUs only and no page size sits on
    host cell ``cell_id`` in any of the ``placed`` topologies."""
    return any(c.id == cell_id and not c.pcpuset and not c.pagesize
               for topology in placed for c in topology.cells)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(start=hosts(used=False),
                  requests=st.lists(any_guests(), min_size=1, max_size=8),
                  limits_=limit_choices())
def test_sequence_of_fits_never_pins_a_cpu_twice(start, requests, limits_):
    current, placed = start, []
    for request in requests:
        fit = hw.fit_instance_to_host(current, request, limits_)
        assert bool(fit.reasons) is (fit.topology is None)
        if not fit:
            continue
        expected_pins = {c.id: set(c.pinned_cpus) for c in current.cells}
        for cell in fit.topology.cells:
            host_c = current.cell(cell.id)
            taken = taken_cpus(host_c, cell)
            assert taken <= host_c.pcpuset
            assert not taken & host_c.pinned_cpus
            assert set(cell.cpu_pinning or {}) == cell.pcpuset
            expected_pins[cell.id] |= taken
        assert len({c.id for c in fit.topology.cells}) == len(request.cells)
        current = hw.usage_from_instance(current, fit.topology)
        placed.append(fit.topology)
        for cell in current.cells:
            assert cell.pinned_cpus == expected_pins[cell.id]
            assert cell.pinned_cpus <= cell.pcpuset
            smallest = min((p.size_kb for p in cell.mempages), default=None)
            for p in cell.mempages:
                # pages are never overcommitted, but a floating guest
                # without a page size counts against all small pages, not
                # the free ones (Nova 34), so those may be
                if p.size_kb == smallest and \
                        _floating_without_pages(placed, cell.id):
                    continue
                assert p.used + p.reserved <= p.total
            if limits_ is not None:      # from zero use, within the limit
                assert cell.cpu_usage <= \
                    len(cell.cpuset) * limits_.cpu_allocation_ratio
    for topology in reversed(placed):
        current = hw.usage_from_instance(current, topology, free=True)
    assert snapshot(current) == snapshot(start)
