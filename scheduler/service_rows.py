"""The compute services the HostManager holds, as their rows change.

What a refresh does with the service rows it read again, and the form
in which a servicegroup driver without a columnar answer is asked about
them.
"""
import operator

#: What a heartbeat never changes in a service row (of one host): the
#: fields the table's columns are made from, and the rest of what a
#: ServiceRecord holds.
_NOT_HEARTBEAT = operator.attrgetter(
    "id", "disabled", "forced_down", "disabled_reason", "uuid", "created_at",
    "version")


def restamp_heartbeats(known, services):
    """The records of ``services`` (read again) that the table must take:
    a service whose row differs from the held record only in its
    heartbeat stamps (``last_seen_up``, ``updated_at``) gets them written
    into the held record in place, and is left out.

    Heartbeats stamp ``updated_at``, so after a heartbeat round a refresh
    reads every service again (100,000 rows); re-attaching each to its
    rows and moving the table's version (which rebuilds what is derived
    from it) cost more than the read. Leaving them out is race-free: the
    decision is taken on the row as this very read returned it, every
    column of it compared, not on how it was written (no filter in SQL,
    no guess from counters): a row whose ``disabled`` changed and was then
    heartbeated is read with its new ``disabled`` and taken whole. The
    stamps decide nothing in the table (liveness is the servicegroup's
    answer), so writing them in place changes no column."""
    taken = []
    for service in services:
        held = known.get(service.host)
        if held is None or _NOT_HEARTBEAT(held) != _NOT_HEARTBEAT(service):
            taken.append(service)
        else:
            held.last_seen_up = service.last_seen_up
            held.updated_at = service.updated_at
    return taken


def as_dict(service):
    """A ServiceRecord as the dict a servicegroup driver's ``services_up``
    takes."""
    return {"id": service.id, "host": service.host, "topic": "compute",
            "binary": "nova-compute", "forced_down": service.forced_down,
            "created_at": service.created_at,
            "last_seen_up": service.last_seen_up,
            "updated_at": service.updated_at}
