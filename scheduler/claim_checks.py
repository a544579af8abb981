"""The claim check at scheduling time, and the rebuild check.

Placement answers Nova's scheduler with the hosts that have room for one
instance of the request; hoststate has no Placement, so the scheduler
asks the capacity rule the claim itself enforces
(``hardware.capacity.fits_on_rows``). A rebuild asks nothing of it: the
instance already holds its resources on the node it is rebuilt on.
These are the steps of ``Scheduler._place_one`` that do not weigh or
claim.
"""
from hoststate import exception
from hoststate.hardware import capacity
from hoststate.objects.attrs import set_value
from hoststate.scheduler import claim_port
from hoststate.scheduler import filters as filters_mod

#: The FilterOutcome name of the claim check (see ``claimable``).
CLAIM_CHECK = "capacity (claim check)"


def forced(spec):
    """Whether ``spec`` forces hosts or nodes (see HostManager.narrow)."""
    return bool(set_value(spec, "force_hosts") or set_value(spec, "force_nodes"))


def claimable(table, rows, request):
    """The rows whose cpu, memory and disk can take the request, by the
    rule the claim checks (``hardware.capacity``: total x ratio - used
    >= requested, and no request larger than the node).

    Placement does this for Nova whatever filters are enabled; here it
    is one vector expression, and it keeps a scheduler from trying
    claims that are bound to fail.
    """
    return rows[capacity.fits_on_rows(table, rows, request.wanted())]


def placement_candidates(table, rows, request, reasons, capacity_filtered):
    """The ``rows`` with room for one instance (Placement's answer for
    the request), the claim check's outcome added to ``reasons``. The
    legacy capacity filters check the same when they ran
    (``capacity_filtered``) on the rows (not forced past) on the flavor's
    sizes (no ``resources:`` overrides)."""
    if capacity_filtered and not request.overrides_resources \
            and not forced(request.spec):
        return rows
    fitting = claimable(table, rows, request)
    if len(fitting) < len(rows):
        reasons.append(capacity_outcome(table, rows, fitting, request))
    return fitting


def capacity_outcome(table, rows, fitting, request):
    """The claim check's FilterOutcome; when it removed every row, with
    each resource no row had room for (requested, and the most any row
    could give) as text and as Shortfalls."""
    removed = len(rows) - len(fitting)
    if len(fitting):
        return filters_mod.FilterOutcome(CLAIM_CHECK, len(rows), removed)
    shortfalls = capacity.shortfalls_on_rows(table, rows, request.wanted())
    detail = "; ".join(str(s) for s in shortfalls) or \
        "no single host has every resource free"
    return filters_mod.FilterOutcome(CLAIM_CHECK, len(rows), removed,
                                     detail, shortfalls)


def rebuild_check(scheduler, request, instance_uuid, rows, reasons,
                  placement):
    """The best of ``rows`` for a rebuild (a ``placement`` made with
    ``placement(instance_uuid, row, ranked, reservation, rows)``), with
    nothing claimed or consumed: the instance already holds its resources
    on the node it is rebuilt on, so Nova 34 asks neither its request
    filters nor Placement then, and claims nothing (a claim would count
    the instance twice)."""
    if len(rows) == 0:
        raise exception.NoValidHost(reasons=reasons)
    ranked = scheduler.rank(rows, request)
    row = int(ranked.head[0])
    return placement(instance_uuid, row, ranked,
                     claim_port.Reservation(row, instance_uuid), rows)
