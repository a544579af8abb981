"""Choosing host CPUs for a guest cell's pinned vCPUs (thread policies).

Nova's ``_pack_instance_onto_cores``, over a host cell's cores as given
by ``siblings``; see :func:`pin_cell`.
"""
from hoststate.objects import fields

_ISOLATE = fields.CPUThreadAllocationPolicy.ISOLATE
_REQUIRE = fields.CPUThreadAllocationPolicy.REQUIRE


def _cores(host_cell):
    """[(all threads, free dedicated threads)] per core, as sorted lists.

    Cores come in ``siblings`` order; dedicated CPUs missing from
    ``siblings`` (or every one, when the host gave none) count as cores
    of one thread.
    """
    free = host_cell.free_pcpus
    cores, seen = [], set()
    for sibling in host_cell.siblings:
        cores.append((sorted(sibling), sorted(sibling & free)))
        seen |= sibling
    for cpu in sorted(host_cell.pcpuset - seen):
        cores.append(([cpu], [cpu] if cpu in free else []))
    return cores


def _has_separate_sets_and_threads(host_cell):
    """Whether the cell has cores of several threads and dedicated CPUs
    other than its shared ones (Nova's test, on the cell's siblings)."""
    threads_per_core = max((len(s) for s in host_cell.siblings), default=1)
    return threads_per_core > 1 and host_cell.pcpuset != host_cell.cpuset


def _spread(vcpus, groups, per_group):
    """Pin sorted ``vcpus`` to the first ``per_group`` threads of each group
    in turn; None when they do not reach."""
    threads = [cpu for group in groups for cpu in group[:per_group]]
    if len(threads) < len(vcpus):
        return None
    return dict(zip(sorted(vcpus), threads))


def pin_cell(host_cell, vcpus, thread_policy, reserve=0):
    """Choose host CPUs for guest CPUs ``vcpus`` on ``host_cell``.

    Returns ``(pinning {guest cpu: host cpu}, reserved host cpus, None)``
    or ``(None, None, reason)``. ``reserve`` more host CPUs are set aside
    for the emulator threads.

    * ``isolate``: each guest CPU takes one thread of a core whose every
      thread is dedicated and free; the other threads of the core become
      unusable (usage pins them too). An emulator CPU takes a further such
      core. On a host without SMT this is plain pinning. A cell with SMT
      whose dedicated and shared CPU sets differ (``cpu_dedicated_set`` /
      ``cpu_shared_set`` rather than the legacy ``vcpu_pin_set``, where
      the two are the same) refuses it, as Nova 34 does (its Placement
      query already leaves such hosts out through the forbidden trait
      HW_CPU_HYPERTHREADING).
    * ``require``: only cores offering at least two free threads are used,
      the most free threads per core first (so guest CPUs sit on sibling
      threads); fails on a host cell without SMT.
    * ``prefer`` (and no policy): as require, trying the most free threads
      per core first down to one, and if no even spread reaches, any free
      dedicated threads in order.
    """
    count = len(vcpus)
    cores = _cores(host_cell)
    if thread_policy == _ISOLATE:
        if _has_separate_sets_and_threads(host_cell):
            return None, None, (
                "thread policy isolate: the cell has SMT sibling threads "
                "and separate dedicated and shared CPU sets, where Nova "
                "refuses isolate")
        whole = [threads for threads, free in cores
                 if threads and threads == free]
        if len(whole) < count + reserve:
            extra = " (+%d for emulator threads)" % reserve if reserve else ""
            return None, None, (
                "thread policy isolate: %d vCPUs%s need %d cores with all "
                "threads dedicated and free, %d have"
                % (count, extra, count + reserve, len(whole)))
        pinning = _spread(vcpus, whole, 1)
        reserved = {whole[count + i][0] for i in range(reserve)}
        return pinning, reserved or None, None

    free_groups = [free for _, free in cores if free]
    most = max((len(group) for group in free_groups), default=0)
    if thread_policy == _REQUIRE and \
            not any(len(threads) > 1 for threads, _ in cores):
        return None, None, ("thread policy require: the cell has no SMT "
                            "sibling threads")
    lowest = 2 if thread_policy == _REQUIRE else 1
    for per_core in range(most, lowest - 1, -1):
        groups = [group for group in free_groups if len(group) >= per_core]
        pinning = _spread(vcpus, groups, per_core)
        if pinning is None:
            continue
        reserved = _spare(free_groups, pinning, reserve)
        if reserve and reserved is None:
            continue
        return pinning, reserved, None
    if thread_policy != _REQUIRE:
        # Any free threads, core after core.
        pinning = _spread(vcpus, [[cpu] for g in free_groups for cpu in g], 1)
        reserved = _spare(free_groups, pinning, reserve) if pinning else None
        if pinning is not None and (reserved is not None or not reserve):
            return pinning, reserved, None
        # Unreachable after fit_cell's count of free CPUs; kept for callers
        # of pin_cell alone.
        total = sum(len(g) for g in free_groups)
        extra = " (+%d for emulator threads)" % reserve if reserve else ""
        return None, None, ("%d vCPUs%s need %d free dedicated CPUs, %d free"
                            % (count, extra, count + reserve, total))
    offer = max((per_core * sum(1 for g in free_groups if len(g) >= per_core)
                 for per_core in range(2, most + 1)), default=0)
    extra = " (+%d for emulator threads)" % reserve if reserve else ""
    return None, None, (
        "thread policy require: %d vCPUs%s need free sibling threads, cores "
        "with 2 or more free threads offer %d" % (count, extra, offer))


def _spare(free_groups, pinning, reserve):
    """The first ``reserve`` free threads ``pinning`` left, or None."""
    if not reserve:
        return None
    used = set(pinning.values())
    left = [cpu for group in free_groups for cpu in group if cpu not in used]
    if len(left) < reserve:
        return None
    return set(left[:reserve])
