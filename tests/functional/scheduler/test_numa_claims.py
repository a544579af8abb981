"""Issue 13, cases 3-5, through the claims: the NUMA filter, the
scheduler's database claim and the tracker's claim give one answer on
the same node (SQLite, PostgreSQL, MariaDB). The hardware and filter
tests of the same cases are in tests/unit/hardware/test_numa_fit.py and
tests/unit/scheduler/filters/test_numa_filter.py.
"""
import pytest

from hoststate.resource_tracker import fake_driver
from support.numa_claims import Placed, Refused, flavor, place, \
    start_agent, three_answers

DEDICATED = {"hw:cpu_policy": "dedicated"}
SHARED_CELL = {"hw:numa_nodes": "1"}
PAGES_2M = {"hw:mem_page_size": "2048"}


@pytest.fixture
def full_cell(ctx):
    """One cell: shared CPUs {0,1}, dedicated {2,3}, no SMT, 8192 MiB of
    which 5120 in 4 KiB pages and 3072 in 2 MiB pages; RAM ratio 1 (the
    initial ratio). Two floating guests already hold 5120 + 3072 = 8192
    MiB of memory_usage: the cell is full by its RAM limit, and every 2
    MiB page is free (guests without a page size take 4 KiB pages)."""
    agent = start_agent(ctx, fake_driver.numa_host(
        cells=1, cores_per_cell=4, threads_per_core=1,
        memory_mb_per_cell=8192, dedicated_per_cell=2,
        hugepages_2m_per_cell=1536))
    place(ctx, agent, flavor(memory_mb=5120, **SHARED_CELL))
    place(ctx, agent, flavor(memory_mb=3072, **SHARED_CELL))
    return agent


@pytest.fixture
def half_used_cell(ctx):
    """The same cell with one floating guest of 4096 MiB and no page size:
    it takes 4096 MiB of the 5120 MiB of 4 KiB pages (Nova 34 counts a
    guest without a page size in pages of the smallest size), leaving
    1024 MiB of them free, and 4096 of the 8192 MiB RAM limit."""
    agent = start_agent(ctx, fake_driver.numa_host(
        cells=1, cores_per_cell=4, threads_per_core=1,
        memory_mb_per_cell=8192, dedicated_per_cell=2,
        hugepages_2m_per_cell=1536))
    place(ctx, agent, flavor(memory_mb=4096, **SHARED_CELL))
    return agent


def test_case_3_a_pinned_guest_fits_by_free_pages_not_by_the_ram_ratio(
        ctx, half_used_cell):
    """Case 3: a guest with pinned CPUs and no page size is held to the
    free 4 KiB pages (1024 MiB), not to the RAM limit (4096 MiB left):
    2048 MiB is refused, 1024 fits; a floating guest of 2048 MiB is held
    by the limit and the cell's 4 KiB pages in all, and fits - by the
    filter and both claims alike."""
    assert three_answers(ctx, half_used_cell, flavor(memory_mb=2048,
                                                     **DEDICATED)) == \
        (False, Refused(("numa",)), Refused(("numa",)))
    assert three_answers(ctx, half_used_cell, flavor(memory_mb=1024,
                                                     **DEDICATED)) == \
        (True, Placed((0,)), Placed((0,)))
    assert three_answers(ctx, half_used_cell, flavor(memory_mb=2048,
                                                     **SHARED_CELL)) == \
        (True, Placed((0,)), Placed((0,)))


def test_case_4_a_floating_guest_in_huge_pages_meets_the_ram_ratio(
        ctx, full_cell):
    """Case 4: a floating guest asking for 1024 MiB of 2 MiB pages is
    refused by the cell's RAM limit (8192 + 1024 > 8192 x 1) though 1536
    of those pages are free; with pinned CPUs the same pages fit."""
    assert three_answers(ctx, full_cell, flavor(memory_mb=1024,
                                                **PAGES_2M)) == \
        (False, Refused(("numa",)), Refused(("numa",)))
    assert three_answers(ctx, full_cell, flavor(
        memory_mb=1024, **PAGES_2M, **DEDICATED)) == \
        (True, Placed((0,)), Placed((0,)))


def test_case_5_isolate_is_refused_on_smt_with_separate_cpu_sets(ctx):
    """Case 5: one cell of four 2-thread cores (siblings {0,1} {2,3}
    {4,5} {6,7}), shared CPUs 0-3 and dedicated 4-7 (separate sets, as
    cpu_shared_set / cpu_dedicated_set give): Nova 34 refuses the isolate
    thread policy there; prefer pins the two vCPUs on one core."""
    agent = start_agent(ctx, fake_driver.numa_host(
        cells=1, cores_per_cell=4, threads_per_core=2,
        memory_mb_per_cell=4096, dedicated_per_cell=4))
    isolate = flavor(vcpus=2, memory_mb=512, **DEDICATED,
                     **{"hw:cpu_thread_policy": "isolate"})
    assert three_answers(ctx, agent, isolate) == \
        (False, Refused(("numa",)), Refused(("numa",)))
    prefer = flavor(vcpus=2, memory_mb=512, **DEDICATED,
                    **{"hw:cpu_thread_policy": "prefer"})
    assert three_answers(ctx, agent, prefer) == \
        (True, Placed((0,)), Placed((0,)))
