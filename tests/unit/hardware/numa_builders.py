"""Builders, Nova-shaped fixtures and hypothesis strategies for the NUMA
fitting tests (test_numa_*.py)."""
from hypothesis import strategies as st

from hoststate.hardware import numa as hw
from hoststate.objects import fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import numa

DEDICATED = fields.CPUAllocationPolicy.DEDICATED
SHARED = fields.CPUAllocationPolicy.SHARED
MIXED = fields.CPUAllocationPolicy.MIXED
PREFER = fields.CPUThreadAllocationPolicy.PREFER
ISOLATE = fields.CPUThreadAllocationPolicy.ISOLATE
REQUIRE = fields.CPUThreadAllocationPolicy.REQUIRE
GiB_KB = 1024 * 1024


def pages(size_kb, total, used=0, reserved=0):
    return numa.NUMAPagesTopology(size_kb=size_kb, total=total, used=used,
                                  reserved=reserved)


def host_cell(id=0, cpuset=(), pcpuset=(), memory=1024, siblings=None,
              mempages=None, **kw):
    """A host cell; by default one thread per core and only 4 KiB pages
    covering all its memory."""
    cpuset, pcpuset = set(cpuset), set(pcpuset)
    if siblings is None:
        siblings = [{cpu} for cpu in sorted(cpuset | pcpuset)]
    if mempages is None:
        mempages = [pages(4, memory * 256)]
    return numa.NUMACell(id=id, cpuset=cpuset, pcpuset=pcpuset,
                         memory=memory, siblings=siblings,
                         mempages=mempages, **kw)


def host(*cells):
    return numa.NUMATopology(cells=list(cells))


def guest_cell(id=0, cpuset=(), pcpuset=(), memory=256, **kw):
    return numa.InstanceNUMACell(id=id, cpuset=set(cpuset),
                                 pcpuset=set(pcpuset), memory=memory, **kw)


def guest(*cells, **kw):
    return numa.InstanceNUMATopology(cells=list(cells), **kw)


def dedicated_cell(id=0, pcpuset=(0,), memory=256, thread=None, **kw):
    return guest_cell(id=id, pcpuset=pcpuset, memory=memory,
                      cpu_policy=DEDICATED, cpu_thread_policy=thread, **kw)


def limits(cpu=1.0, ram=1.0):
    return numa.NUMATopologyLimits(cpu_allocation_ratio=cpu,
                                   ram_allocation_ratio=ram)


def flavor(vcpus=4, memory_mb=2048, **extra_specs):
    return flavor_obj.Flavor(flavorid="f", name="f", vcpus=vcpus,
                             memory_mb=memory_mb, extra_specs=extra_specs)


# Nova's scheduler fakes (nova/tests/unit/scheduler/fakes.py), rebuilt:
# two cells, shared {0,1} / {4,5}, dedicated {2,3} / {6,7}, 512 MiB each,
# one thread per core.
def nova_numa_topology():
    return host(
        host_cell(0, cpuset={0, 1}, pcpuset={2, 3}, memory=512,
                  mempages=[pages(4, 131072), pages(2048, 512)]),
        host_cell(1, cpuset={4, 5}, pcpuset={6, 7}, memory=512,
                  mempages=[pages(4, 131072), pages(2048, 512)]))


# ... and the HT one: dedicated only, two cores of two threads per cell.
def nova_numa_topology_w_ht():
    return host(
        host_cell(0, pcpuset={1, 2, 5, 6}, memory=512, mempages=[],
                  siblings=[{1, 5}, {2, 6}]),
        host_cell(1, pcpuset={3, 4, 7, 8}, memory=512, mempages=[],
                  siblings=[{3, 4}, {7, 8}]))


def ht_cell(id=0, cores=4, first=0, memory=4096, pinned=(), legacy=False,
            **kw):
    """A dedicated-only cell of ``cores`` 2-thread cores numbered as Linux
    does: core k has threads first+k and first+cores+k. ``legacy``: as a
    host configured with ``vcpu_pin_set`` reports it (the same CPUs in
    cpuset and pcpuset), the only configuration where Nova 34 emulates
    the isolate thread policy on SMT."""
    cpus = set(range(first, first + 2 * cores))
    siblings = [{first + k, first + cores + k} for k in range(cores)]
    return host_cell(id, cpuset=cpus if legacy else (), pcpuset=cpus,
                     memory=memory, siblings=siblings,
                     pinned_cpus=set(pinned), **kw)


def snapshot(topology):
    """What usage changes, per cell, for exact comparisons."""
    return [(c.id, c.cpu_usage, c.memory_usage, sorted(c.pinned_cpus),
             [(p.size_kb, p.used) for p in c.mempages])
            for c in topology.cells]


def taken_cpus(host_cell_obj, guest_cell_obj):
    """Host CPUs a placed guest cell makes unusable (isolate: whole cores)."""
    taken = set((guest_cell_obj.cpu_pinning or {}).values())
    taken |= set(guest_cell_obj.cpuset_reserved or ())
    if guest_cell_obj.cpu_thread_policy == ISOLATE:
        for sibling in host_cell_obj.siblings:
            if sibling & taken:
                taken |= sibling
    return taken


# --- hypothesis strategies ---------------------------------------------------

@st.composite
def hosts(draw, used=True):
    """1-3 cells of 1-5 cores of 1 or 2 threads, each CPU shared or
    dedicated at random; 4 KiB, 2 MiB and 1 GiB pages; with ``used``,
    random existing usage that is itself consistent."""
    threads = draw(st.sampled_from([1, 2]))
    cells, next_cpu = [], 0
    for cell_id in range(draw(st.integers(1, 3))):
        cores = draw(st.integers(1, 5))
        cpus = list(range(next_cpu, next_cpu + cores * threads))
        next_cpu += len(cpus)
        siblings = [set(cpus[i:i + threads])
                    for i in range(0, len(cpus), threads)]
        # Mostly all-dedicated cells, so pinned guests often find room.
        kind = draw(st.sampled_from(["all", "all", "none", "some"]))
        if kind == "some":
            pcpuset = draw(st.sets(st.sampled_from(cpus)))
        else:
            pcpuset = set(cpus) if kind == "all" else set()
        memory = draw(st.sampled_from([512, 1024, 2048, 4096]))
        huge_1g = draw(st.integers(0, memory // 2048))
        huge_2m = draw(st.integers(0, (memory - huge_1g * 1024) // 4))
        small = (memory - huge_1g * 1024 - huge_2m * 2) * 256
        reserved_2m = draw(st.integers(0, huge_2m // 4))
        mempages = [pages(4, small), pages(2048, huge_2m,
                                           reserved=reserved_2m),
                    pages(1048576, huge_1g)]
        cell = host_cell(cell_id, cpuset=set(cpus) - pcpuset,
                         pcpuset=pcpuset, memory=memory, siblings=siblings,
                         mempages=mempages)
        if used:
            cell.cpu_usage = draw(st.integers(0, 2 * len(cell.cpuset)))
            cell.memory_usage = draw(st.integers(0, memory))
            cell.pinned_cpus = draw(st.sets(
                st.sampled_from(sorted(pcpuset)) if pcpuset else st.nothing(),
                max_size=len(pcpuset) // 2))
            for p in mempages:
                p.used = draw(st.integers(0, p.total - p.reserved))
        cells.append(cell)
    topology = host(*cells)
    topology.obj_reset_changes(recursive=True)
    return topology


@st.composite
def guests(draw, max_cells=2, pinned=False):
    """1-``max_cells`` cells of 1-3 vCPUs, with any CPU policy (with
    ``pinned``, dedicated or mixed), thread policy, emulator threads policy
    and page size request."""
    policy = draw(st.sampled_from(
        [DEDICATED, DEDICATED, MIXED] if pinned else
        [None, SHARED, DEDICATED, DEDICATED, MIXED]))
    pinned = policy in (DEDICATED, MIXED)
    thread = draw(st.sampled_from([None, PREFER, ISOLATE, REQUIRE])) \
        if pinned else None
    emulator = draw(st.sampled_from([None, fields.CPUEmulatorThreadsPolicy
                                     .ISOLATE])) if pinned else None
    pagesize = draw(st.sampled_from(
        [None] * 4 + [hw.PAGESIZE_SMALL, hw.PAGESIZE_LARGE, hw.PAGESIZE_ANY,
                      4, 2048, GiB_KB]))
    cells, next_vcpu = [], 0
    for index in range(draw(st.integers(1, max_cells))):
        count = draw(st.integers(1, 3))
        vcpus = set(range(next_vcpu, next_vcpu + count))
        next_vcpu += count
        if policy == DEDICATED:
            dedicated = vcpus
        elif policy == MIXED:
            dedicated = set(sorted(vcpus)[:draw(st.integers(0, count))])
        else:
            dedicated = set()
        cells.append(guest_cell(
            index, cpuset=vcpus - dedicated, pcpuset=dedicated,
            memory=draw(st.sampled_from([128, 256, 512, 1024])),
            pagesize=pagesize, cpu_policy=policy, cpu_thread_policy=thread))
    return guest(*cells, emulator_threads_policy=emulator)


def any_guests():
    return st.one_of(guests(), guests(pinned=True))


def limit_choices():
    ratio = st.sampled_from([1.0, 1.5, 2.0, 4.0])
    return st.one_of(st.none(), st.builds(limits, ratio, ratio))
